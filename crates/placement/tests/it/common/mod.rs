//! A small generated world on plain vectors, shared by the repair, evacuation and headroom
//! suites: generation, the same world as a `Fleet`, and the documented compliance and host
//! choice re-implemented as naively as possible (no engine code).

// Each suite uses a different part of this module; what one suite leaves unused is not dead.
#![allow(dead_code)]

use std::cmp::Reverse;

use placement::{
    Dimension, Exclusion, FailureDomain, Fleet, GroupId, GroupKind, GroupSpec, HostId, HostSpec, HostState, InstanceId,
    InstanceSpec, Policy, Resources,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;

pub const DIMENSIONS: [Dimension; 4] = [Dimension::Vcpus, Dimension::Memory, Dimension::Disk, Dimension::Gpus];
pub const STATES: [HostState; 4] = [HostState::Active, HostState::Draining, HostState::Maintenance, HostState::Failed];

#[derive(Clone, Debug)]
pub struct World {
    pub hosts: Vec<Host>,
    pub instances: Vec<Instance>,
    pub groups: Vec<Group>,
    /// Every membership as (group index, instance index), in join order.
    pub joins: Vec<(usize, usize)>,
}

#[derive(Clone, Debug)]
pub struct Host {
    pub id: HostId,
    pub rack: usize,
    pub capacity: [u64; 4],
    pub state: HostState,
}

#[derive(Clone, Debug)]
pub struct Instance {
    pub id: InstanceId,
    pub size: [u64; 4],
    /// Indexes into `World::hosts`.
    pub host: Option<usize>,
    pub target: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub id: GroupId,
    pub kind: GroupKind,
    pub policy: Policy,
    pub domain: FailureDomain,
    pub max_per_domain: u32,
    /// Indexes into `World::instances`, in join order.
    pub members: Vec<usize>,
}

/// A failure domain: a host index or a rack index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Host(usize),
    Rack(usize),
}

/// Where every instance stands: (host, migration target) by instance index.
pub type Positions = Vec<(Option<usize>, Option<usize>)>;

/// The shape of the worlds a suite wants.
#[derive(Clone, Debug)]
pub struct Shape {
    pub hosts: std::ops::RangeInclusive<usize>,
    pub racks: std::ops::RangeInclusive<usize>,
    pub instances: std::ops::RangeInclusive<usize>,
    pub groups: std::ops::RangeInclusive<usize>,
    /// The chance that an instance is offline, and that a placed one is migrating.
    pub offline: f64,
    pub migrating: f64,
    /// The chance that a host is not active.
    pub inactive: u32,
}

pub fn persistence(suite: &str) -> Option<Box<dyn proptest::test_runner::FailurePersistence>> {
    let path: &'static str =
        Box::leak(format!("{}/proptest-regressions/{suite}.txt", env!("CARGO_MANIFEST_DIR")).into_boxed_str());
    Some(Box::new(FileFailurePersistence::Direct(path)))
}

/// `cases` cases, unless `PROPTEST_CASES` asks for another number (for a long run).
pub fn config(suite: &str, cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, failure_persistence: persistence(suite), ..ProptestConfig::default() }
}

/// Sizes in small units, so that hosts run full and ties are common.
pub fn size_input() -> impl Strategy<Value = [u64; 4]> {
    (1u64..=2, 1u64..=3, 0u64..=2).prop_map(|(vcpus, memory, disk)| [vcpus, memory * 4, disk * 8, 0])
}

/// Room for two to four instances, so that moves are often possible and sometimes need room
/// made first.
pub fn capacity_input() -> impl Strategy<Value = [u64; 4]> {
    let any_capacity =
        (2u64..=8, 2u64..=8, 4u64..=8).prop_map(|(vcpus, memory, disk)| [vcpus, memory * 4, disk * 8, 0]);
    prop_oneof![2 => Just([8, 32, 64, 0]), 1 => Just([8, 24, 64, 1]), 2 => any_capacity]
}

#[derive(Clone, Debug)]
struct GroupInput {
    kind: GroupKind,
    policy: Policy,
    domain: FailureDomain,
    max_per_domain: u32,
}

fn group_input() -> impl Strategy<Value = GroupInput> {
    let kind = prop_oneof![3 => Just(GroupKind::AntiAffinity), 2 => Just(GroupKind::Affinity)];
    let policy = prop_oneof![Just(Policy::Strict), Just(Policy::Flexible)];
    let domain = prop_oneof![3 => Just(FailureDomain::Host), 1 => Just(FailureDomain::Rack)];
    (kind, policy, domain, 1u32..=2).prop_map(|(kind, policy, domain, max_per_domain)| GroupInput {
        kind,
        policy,
        domain,
        max_per_domain,
    })
}

pub fn world(shape: Shape) -> impl Strategy<Value = World> {
    let Shape { hosts, racks, instances, groups, offline, migrating, inactive } = shape;
    let host_state = prop_oneof![
        20 => Just(HostState::Active),
        inactive => Just(HostState::Draining),
        inactive => Just(HostState::Failed),
    ];
    (
        prop::collection::vec((any::<Index>(), capacity_input(), host_state), hosts),
        racks,
        Just((1..=9).collect::<Vec<i64>>()).prop_shuffle(),
        prop::collection::vec(
            (
                size_input(),
                prop::bool::weighted(offline),
                (any::<Index>(), prop::bool::weighted(0.6)),
                prop::bool::weighted(migrating),
                any::<Index>(),
            ),
            instances,
        ),
        prop::collection::vec(group_input(), groups),
        prop::collection::vec((any::<Index>(), any::<Index>()), 4..=14),
    )
        .prop_map(|(host_inputs, racks, host_ids, instance_inputs, group_inputs, join_inputs)| {
            let hosts: Vec<Host> = host_inputs
                .iter()
                .zip(host_ids)
                .map(|((rack, capacity, state), id)| Host {
                    id: HostId(id),
                    rack: rack.index(racks),
                    capacity: *capacity,
                    state: *state,
                })
                .collect();
            let instances: Vec<Instance> = instance_inputs
                .iter()
                .enumerate()
                .map(|(position, (size, offline, (host, crowded), migrating, target))| {
                    // Half the instances crowd onto the first two hosts, so that groups collide.
                    let choices = if *crowded { hosts.len().min(2) } else { hosts.len() };
                    let host = (!offline).then(|| host.index(choices));
                    let target = target.index(hosts.len());
                    let target = (*migrating && host.is_some() && host != Some(target)).then_some(target);
                    Instance { id: InstanceId(100 + position as i64), size: *size, host, target }
                })
                .collect();
            let mut groups: Vec<Group> = group_inputs
                .iter()
                .enumerate()
                .map(|(position, input)| Group {
                    id: GroupId(position as i64 + 1),
                    kind: input.kind,
                    policy: input.policy,
                    domain: input.domain,
                    max_per_domain: input.max_per_domain,
                    members: Vec::new(),
                })
                .collect();
            let mut joins = Vec::new();
            for (group, instance) in join_inputs.into_iter().filter(|_| !instances.is_empty()) {
                let join = (group.index(groups.len()), instance.index(instances.len()));
                if !joins.contains(&join) {
                    joins.push(join);
                    groups[join.0].members.push(join.1);
                }
            }
            World { hosts, instances, groups, joins }
        })
}

pub fn resources(amounts: [u64; 4]) -> Resources {
    Resources {
        vcpus: u32::try_from(amounts[0]).expect("small"),
        memory_mib: amounts[1],
        disk_mib: amounts[2],
        gpus: u32::try_from(amounts[3]).expect("small"),
    }
}

pub fn rack_label(rack: usize) -> String {
    format!("r{rack}")
}

pub fn fleet_of(world: &World) -> Fleet {
    let mut fleet = Fleet::new();
    for host in &world.hosts {
        let spec = HostSpec {
            id: host.id,
            rack: rack_label(host.rack),
            capacity: resources(host.capacity),
            state: host.state,
        };
        fleet.host_add(spec).expect("distinct hosts");
    }
    for group in &world.groups {
        let spec = GroupSpec {
            id: group.id,
            kind: group.kind,
            policy: group.policy,
            domain: group.domain,
            max_per_domain: group.max_per_domain,
        };
        fleet.group_add(spec).expect("distinct groups");
    }
    for instance in &world.instances {
        let spec = InstanceSpec {
            id: instance.id,
            size: resources(instance.size),
            host: instance.host.map(|index| world.hosts[index].id),
            target: instance.target.map(|index| world.hosts[index].id),
        };
        fleet.instance_add(spec).expect("valid instances");
    }
    for &(group, instance) in &world.joins {
        fleet.member_add(world.groups[group].id, world.instances[instance].id).expect("distinct joins");
    }
    fleet
}

impl World {
    pub fn positions(&self) -> Positions {
        self.instances.iter().map(|instance| (instance.host, instance.target)).collect()
    }

    pub fn host_index(&self, id: HostId) -> usize {
        self.hosts.iter().position(|host| host.id == id).expect("a host of the world")
    }

    pub fn instance_index(&self, id: InstanceId) -> usize {
        self.instances.iter().position(|instance| instance.id == id).expect("an instance of the world")
    }

    pub fn group_index(&self, id: GroupId) -> usize {
        self.groups.iter().position(|group| group.id == id).expect("a group of the world")
    }

    pub fn used(&self, positions: &Positions, host: usize) -> [u64; 4] {
        let mut used = [0; 4];
        for (instance, (on, target)) in self.instances.iter().zip(positions) {
            if *on == Some(host) || *target == Some(host) {
                for (total, amount) in used.iter_mut().zip(instance.size) {
                    *total += amount;
                }
            }
        }
        used
    }

    pub fn free(&self, positions: &Positions, host: usize) -> [u64; 4] {
        let used = self.used(positions, host);
        let mut free = [0; 4];
        for dimension in 0..4 {
            free[dimension] = self.hosts[host].capacity[dimension].saturating_sub(used[dimension]);
        }
        free
    }

    pub fn fits(size: [u64; 4], free: [u64; 4]) -> bool {
        (0..4).all(|dimension| size[dimension] <= free[dimension])
    }

    pub fn shortage(size: [u64; 4], free: [u64; 4]) -> Option<Dimension> {
        (0..4).find(|&dimension| size[dimension] > free[dimension]).map(|dimension| DIMENSIONS[dimension])
    }

    pub fn key(&self, host: usize, domain: FailureDomain) -> Key {
        match domain {
            FailureDomain::Host => Key::Host(host),
            FailureDomain::Rack => Key::Rack(self.hosts[host].rack),
        }
    }

    pub fn domains(&self, positions: &Positions, instance: usize, domain: FailureDomain) -> Vec<Key> {
        let (on, target) = positions[instance];
        let mut keys = Vec::new();
        for host in [on, target].into_iter().flatten() {
            let key = self.key(host, domain);
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        keys
    }

    /// Whether a member standing in `joiner` is compliant, judged against `earlier`, the
    /// members that joined before it, as the crate documentation says.
    pub fn compliant_against(&self, positions: &Positions, group: &Group, earlier: &[usize], joiner: &[Key]) -> bool {
        match group.kind {
            GroupKind::AntiAffinity => joiner.iter().all(|key| {
                let holders =
                    earlier.iter().filter(|&&m| self.domains(positions, m, group.domain).contains(key)).count();
                holders < group.max_per_domain.max(1) as usize
            }),
            GroupKind::Affinity => {
                if joiner.is_empty() {
                    return true;
                }
                let anchor = earlier.iter().find(|&&m| !self.domains(positions, m, group.domain).is_empty());
                match anchor {
                    None => true,
                    Some(&anchor) => {
                        let anchor_domains = self.domains(positions, anchor, group.domain);
                        joiner.iter().all(|key| anchor_domains.contains(key))
                    }
                }
            }
        }
    }

    /// Every member's compliance, in join order.
    pub fn flags(&self, positions: &Positions, group: &Group) -> Vec<bool> {
        (0..group.members.len())
            .map(|position| {
                let member = group.members[position];
                let joiner = self.domains(positions, member, group.domain);
                self.compliant_against(positions, group, &group.members[..position], &joiner)
            })
            .collect()
    }

    pub fn compliant(&self, positions: &Positions, group: &Group) -> bool {
        self.flags(positions, group).iter().all(|flag| *flag)
    }

    /// One host's verdict for placing an instance of `size` in `groups` (indexes), `moving`
    /// not counting against itself: the number of flexible groups broken, or the first reason
    /// the host is excluded, in the documented order.
    pub fn verdict(&self, positions: &Positions, request: &Request, host: usize) -> Result<u32, Exclusion> {
        let spec = &self.hosts[host];
        if request.avoid.contains(&spec.id) {
            return Err(Exclusion::Avoided);
        }
        if spec.state != HostState::Active {
            return Err(Exclusion::NotActive(spec.state));
        }
        if let Some(dimension) = World::shortage(request.size, self.free(positions, host)) {
            return Err(Exclusion::Lacks(dimension));
        }
        let mut cost = 0;
        for &index in &request.groups {
            let group = &self.groups[index];
            let earlier: Vec<usize> =
                group.members.iter().copied().filter(|&member| Some(member) != request.moving).collect();
            if self.compliant_against(positions, group, &earlier, &[self.key(host, group.domain)]) {
                continue;
            }
            if group.policy == Policy::Strict || request.compliant_only {
                return Err(match group.kind {
                    GroupKind::AntiAffinity => Exclusion::AntiAffinity {
                        group: group.id,
                        domain: group.domain,
                        max_per_domain: group.max_per_domain,
                    },
                    GroupKind::Affinity => Exclusion::Affinity { group: group.id, domain: group.domain },
                });
            }
            cost += 1;
        }
        Ok(cost)
    }

    /// The documented preference among equally good hosts.
    pub fn preference(&self, positions: &Positions, host: usize) -> (Reverse<u64>, Reverse<u64>, HostId) {
        let free = self.free(positions, host);
        (Reverse(free[1]), Reverse(free[0]), self.hosts[host].id)
    }

    /// The best host by brute force, or every reason with its count when there is none.
    pub fn choose(&self, positions: &Positions, request: &Request) -> Result<usize, Vec<(Exclusion, usize)>> {
        let best = (0..self.hosts.len())
            .filter_map(|host| self.verdict(positions, request, host).ok().map(|cost| (host, cost)))
            .min_by_key(|(host, cost)| (*cost, self.preference(positions, *host)));
        if let Some((host, _)) = best {
            return Ok(host);
        }
        let mut counts: Vec<(Exclusion, usize)> = Vec::new();
        for host in 0..self.hosts.len() {
            if let Err(exclusion) = self.verdict(positions, request, host) {
                match counts.iter_mut().find(|(seen, _)| *seen == exclusion) {
                    Some((_, count)) => *count += 1,
                    None => counts.push((exclusion, 1)),
                }
            }
        }
        counts.sort_by_key(|(exclusion, _)| self.reason_rank(exclusion, request));
        Err(counts)
    }

    fn reason_rank(&self, exclusion: &Exclusion, request: &Request) -> (u8, usize) {
        match exclusion {
            Exclusion::Avoided => (0, 0),
            Exclusion::NotActive(state) => (1, STATES.iter().position(|s| s == state).expect("a state")),
            Exclusion::Lacks(dimension) => (2, DIMENSIONS.iter().position(|d| d == dimension).expect("a dimension")),
            Exclusion::AntiAffinity { group, .. } | Exclusion::Affinity { group, .. } => {
                (3, request.groups.iter().position(|&g| self.groups[g].id == *group).expect("a request group"))
            }
        }
    }

    /// The groups (indexes) an instance belongs to, in the order it joined them.
    pub fn groups_of(&self, instance: usize) -> Vec<usize> {
        self.joins.iter().filter(|(_, member)| *member == instance).map(|(group, _)| *group).collect()
    }
}

/// A placement request on plain vectors.
#[derive(Clone, Debug)]
pub struct Request {
    pub size: [u64; 4],
    pub groups: Vec<usize>,
    pub moving: Option<usize>,
    pub avoid: Vec<HostId>,
    pub compliant_only: bool,
}
