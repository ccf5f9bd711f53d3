//! Headroom: how many more members of a given size a group can take, now and after the loss of
//! its worst host or rack.

use crate::choose::{ChooseError, PlacementRequest};
use crate::fleet::{DomainSet, Fleet, FleetError};
use crate::model::{FailureDomain, GroupId, GroupKind, HostId, HostState, InstanceId, Resources};

/// How many more members of one size a group can take. See [`Fleet::headroom`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Headroom {
    /// How many more members of `size` fit now.
    pub now: u32,
    /// How many fit once the worst host is lost and the group's members on it are re-placed.
    pub after_worst_host: u32,
    /// The host whose loss leaves the least headroom (ties: lowest host id); `None` when the
    /// fleet has no host.
    pub worst_host: Option<HostId>,
    /// How many fit once the worst rack is lost and the group's members in it are re-placed.
    pub after_worst_rack: u32,
    /// The rack whose loss leaves the least headroom (ties: lowest label); `None` when the
    /// fleet has no rack.
    pub worst_rack: Option<String>,
}

/// A count of members that stands for "more than `u32` can say": what one host takes of an
/// instance that needs nothing. Counts are kept in `u128` so that sums of these stay exact.
const UNBOUNDED: u128 = 1 << 64;

impl Fleet {
    /// How many more members of `size` the group can take while it stays compliant, now and
    /// after the loss of its worst host and of its worst rack.
    ///
    /// - `now`: members of `size` are added one at a time, each where [`Fleet::choose_host`]
    ///   puts it with `compliant_only` (so the group never becomes non-compliant), until none
    ///   fits or the group holds `limit` members (current members included); the answer is how
    ///   many were added.
    /// - After losing a host (a rack: each of its hosts): on a copy where it has failed, the
    ///   group's members standing on it lose any migration in flight to or from it; then those
    ///   whose host it was are re-placed, in join order, each where `choose_host` puts it
    ///   (`compliant_only`, `moving` set to it, the group as the only group); if one cannot be
    ///   re-placed the answer is 0; otherwise members are counted as for `now`. The worst host
    ///   (rack) is the one that leaves the fewest; ties go to the lowest host id (rack label).
    ///
    /// Only the group's own members are re-placed: other instances on a lost host are not
    /// modelled (their capacity simply disappears with it). Counts saturate at `u32::MAX`,
    /// which a member that needs no resources at all can reach.
    pub fn headroom(&self, group: GroupId, size: Resources, limit: Option<u32>) -> Result<Headroom, FleetError> {
        let entry = self.groups.get(&group).ok_or(FleetError::UnknownGroup(group))?;
        if let Some(missing) = entry.members.iter().find(|member| !self.instances.contains_key(member)) {
            return Err(FleetError::UnknownInstance(*missing));
        }
        let members = u32::try_from(entry.members.len()).unwrap_or(u32::MAX);
        let room = limit.map_or(u128::from(u32::MAX), |limit| u128::from(limit.saturating_sub(members)));
        let cap = |count: u128| u32::try_from(count.min(room)).unwrap_or(u32::MAX);

        // Host choice for this group depends only on the hosts and the group's members, so the
        // working copy keeps just those.
        let mut work = self.restricted(&[group], &[]);
        let base = Tally::of(&work, group, &size);
        let now = cap(base.total);

        // A host that no member stands on, and that is not where the first new member of an
        // empty affinity group would go, changes the count only through its own share: the
        // placements the count is made of never look at a host's neighbours, except through
        // the group's members (none here) and the domain's quota. `Tally::without_host` takes
        // that share away; every other host is failed on the working copy and counted again.
        let occupied = base.occupied_hosts(&work, group);
        let mut worst_host: Option<(u32, HostId)> = None;
        for (index, &member_there) in occupied.iter().enumerate() {
            let count = if member_there || base.first == Some(index) {
                cap(after_loss(&mut work, group, &size, &[index]))
            } else {
                cap(base.without_host(&work, index))
            };
            let candidate = (count, work.hosts[index].id);
            if worst_host.is_none_or(|worst| candidate < worst) {
                worst_host = Some(candidate);
            }
        }

        let mut worst_rack: Option<(u32, String)> = None;
        for rack in 0..work.racks.len() {
            let hosts = work.rack_hosts[rack].clone();
            let touched = hosts.iter().any(|&index| occupied[index] || base.first == Some(index));
            let count = if touched {
                cap(after_loss(&mut work, group, &size, &hosts))
            } else {
                cap(base.without_rack(&work, rack))
            };
            let label = &work.racks[rack];
            if worst_rack.as_ref().is_none_or(|(worst, worst_label)| (count, label) < (*worst, worst_label)) {
                worst_rack = Some((count, label.clone()));
            }
        }

        Ok(Headroom {
            now,
            after_worst_host: worst_host.map_or(now, |(count, _)| count),
            worst_host: worst_host.map(|(_, host)| host),
            after_worst_rack: worst_rack.as_ref().map_or(now, |(count, _)| *count),
            worst_rack: worst_rack.map(|(_, label)| label),
        })
    }
}

/// How many members of one size a group takes if they are added one at a time where
/// `choose_host` puts them (with `compliant_only`), counted in closed form, with what each host
/// and domain contributes to the count.
///
/// The closed form is exact because of how such placements use a host. A host takes a member
/// when it is active, has room for `size` and the member would be compliant there. Placing one
/// member lowers by exactly one the number of members of `size` that still fit on its host
/// (`fits`) and, for anti-affinity, the number its domain may still take (`quota`); it changes
/// nothing elsewhere. So the order of placements does not change how many there are:
///
/// - anti-affinity: each domain takes `min(quota, Σ fits of its hosts)`;
/// - affinity with a placed member: the anchor's domain takes `Σ fits of its hosts`, no other
///   host takes any;
/// - affinity without one: the first member goes where `choose_host` puts it, and its domain
///   then takes `Σ fits of its hosts` (that first member included).
struct Tally {
    total: u128,
    /// Per host: how many members of `size` fit on it (0 when it is not active).
    fits: Vec<u128>,
    shape: Shape,
    /// Affinity without a placed member: the host the first new member goes to.
    first: Option<usize>,
}

enum Shape {
    /// Per host: how many more members its domain may hold.
    AntiAffinityHost { quota: Vec<u128> },
    /// Per rack: how many more members it may hold, and how many of `size` fit on its hosts.
    AntiAffinityRack { quota: Vec<u128>, rack_fits: Vec<u128> },
    /// Per host: whether it is in the domain every new member must join.
    Affinity { zone: Vec<bool> },
}

impl Tally {
    fn of(fleet: &Fleet, group: GroupId, size: &Resources) -> Tally {
        let entry = &fleet.groups[&group];
        let spec = &entry.spec;
        let fits: Vec<u128> = fleet
            .hosts
            .iter()
            .map(|host| if host.state == HostState::Active { fits_in(size, &host.free()) } else { 0 })
            .collect();
        let member_domains: Vec<DomainSet> = entry
            .members
            .iter()
            .map(|member| {
                fleet.instances.get(member).map(|i| fleet.instance_domains(i, spec.domain)).unwrap_or_default()
            })
            .collect();
        match spec.kind {
            GroupKind::AntiAffinity => {
                let max = u128::from(spec.max_per_domain.max(1));
                let domains = match spec.domain {
                    FailureDomain::Host => fleet.hosts.len(),
                    FailureDomain::Rack => fleet.racks.len(),
                };
                let mut held = vec![0u128; domains];
                for domains in &member_domains {
                    for &key in domains.as_slice() {
                        held[key] += 1;
                    }
                }
                let quota: Vec<u128> = held.iter().map(|&held| max.saturating_sub(held)).collect();
                match spec.domain {
                    FailureDomain::Host => {
                        let total = quota.iter().zip(&fits).map(|(quota, fits)| *quota.min(fits)).sum();
                        Tally { total, fits, shape: Shape::AntiAffinityHost { quota }, first: None }
                    }
                    FailureDomain::Rack => {
                        let rack_fits: Vec<u128> =
                            fleet.rack_hosts.iter().map(|hosts| hosts.iter().map(|&index| fits[index]).sum()).collect();
                        let total = quota.iter().zip(&rack_fits).map(|(quota, fits)| *quota.min(fits)).sum();
                        Tally { total, fits, shape: Shape::AntiAffinityRack { quota, rack_fits }, first: None }
                    }
                }
            }
            GroupKind::Affinity => {
                let anchor = member_domains.iter().find(|domains| !domains.is_empty()).copied();
                let (anchor, first) = match anchor {
                    Some(domains) => (Some(domains), None),
                    None => {
                        let groups = [group];
                        let request =
                            PlacementRequest { compliant_only: true, ..PlacementRequest::new(*size, &groups) };
                        match fleet.choose_host(&request) {
                            Ok(placement) => {
                                let index = fleet.host_position(placement.host).expect("a chosen host is known");
                                let mut domains = DomainSet::default();
                                domains.insert(fleet.domain_key(index, spec.domain));
                                (Some(domains), Some(index))
                            }
                            Err(ChooseError::NoHost(_) | ChooseError::Fleet(_)) => (None, None),
                        }
                    }
                };
                let mut zone = vec![false; fleet.hosts.len()];
                if let Some(domains) = anchor {
                    for (index, in_zone) in zone.iter_mut().enumerate() {
                        *in_zone = domains.contains(fleet.domain_key(index, spec.domain));
                    }
                }
                let total = zone.iter().zip(&fits).filter(|(in_zone, _)| **in_zone).map(|(_, fits)| fits).sum();
                Tally { total, fits, shape: Shape::Affinity { zone }, first }
            }
        }
    }

    /// The hosts a member of the group stands on (as its host or its migration target).
    fn occupied_hosts(&self, fleet: &Fleet, group: GroupId) -> Vec<bool> {
        let mut occupied = vec![false; fleet.hosts.len()];
        for member in &fleet.groups[&group].members {
            let instance = &fleet.instances[member];
            for index in instance.host.into_iter().chain(instance.target) {
                occupied[index] = true;
            }
        }
        occupied
    }

    /// The count once host `index` is lost, for a host no member stands on and that is not
    /// `first`: its own share goes, and for rack anti-affinity its rack's share is recomputed.
    fn without_host(&self, fleet: &Fleet, index: usize) -> u128 {
        let fits = self.fits[index];
        match &self.shape {
            Shape::AntiAffinityHost { quota } => self.total - quota[index].min(fits),
            Shape::AntiAffinityRack { quota, rack_fits } => {
                let rack = fleet.hosts[index].rack;
                self.total - quota[rack].min(rack_fits[rack]) + quota[rack].min(rack_fits[rack] - fits)
            }
            Shape::Affinity { zone } => {
                if zone[index] {
                    self.total - fits
                } else {
                    self.total
                }
            }
        }
    }

    /// The count once rack `rack` is lost, for a rack no member stands in and that does not
    /// hold `first`: the shares of its hosts go.
    fn without_rack(&self, fleet: &Fleet, rack: usize) -> u128 {
        let hosts = &fleet.rack_hosts[rack];
        match &self.shape {
            Shape::AntiAffinityHost { quota } => {
                self.total - hosts.iter().map(|&index| quota[index].min(self.fits[index])).sum::<u128>()
            }
            Shape::AntiAffinityRack { quota, rack_fits } => self.total - quota[rack].min(rack_fits[rack]),
            Shape::Affinity { zone } => {
                self.total - hosts.iter().filter(|&&index| zone[index]).map(|&index| self.fits[index]).sum::<u128>()
            }
        }
    }
}

/// How many members of `size` fit into `free`: the fewest over the dimensions `size` needs;
/// [`UNBOUNDED`] when it needs none.
fn fits_in(size: &Resources, free: &Resources) -> u128 {
    let dimensions = [
        (u64::from(size.vcpus), u64::from(free.vcpus)),
        (size.memory_mib, free.memory_mib),
        (size.disk_mib, free.disk_mib),
        (u64::from(size.gpus), u64::from(free.gpus)),
    ];
    dimensions
        .iter()
        .filter(|(need, _)| *need > 0)
        .map(|(need, free)| u128::from(free / need))
        .min()
        .unwrap_or(UNBOUNDED)
}

/// The count after losing the hosts `lost`, computed on the working copy, which is left as it
/// was found.
fn after_loss(work: &mut Fleet, group: GroupId, size: &Resources, lost: &[usize]) -> u128 {
    let states: Vec<(HostId, HostState)> =
        lost.iter().map(|&index| (work.hosts[index].id, work.hosts[index].state)).collect();
    for (host, _) in &states {
        work.host_set_state(*host, HostState::Failed).expect("a known host");
    }
    let members = work.groups[&group].members.clone();
    // Every member as it stood, to put back afterwards.
    let mut changed: Vec<(InstanceId, Option<HostId>, Option<HostId>)> = Vec::new();
    for &member in &members {
        let instance = &work.instances[&member];
        let involved = instance.host.into_iter().chain(instance.target).any(|index| lost.contains(&index));
        if involved && instance.target.is_some() {
            let spec = work.instance(member).expect("a member is in the fleet");
            changed.push((member, spec.host, spec.target));
            work.migration_cancel(member).expect("a migration in flight");
        }
    }
    let mut placed_all = true;
    for &member in &members {
        let instance = &work.instances[&member];
        if !instance.host.is_some_and(|index| lost.contains(&index)) {
            continue;
        }
        let spec = work.instance(member).expect("a member is in the fleet");
        let groups = [group];
        let request = PlacementRequest {
            moving: Some(member),
            compliant_only: true,
            ..PlacementRequest::new(spec.size, &groups)
        };
        match work.choose_host(&request) {
            Ok(placement) => {
                if !changed.iter().any(|(id, _, _)| *id == member) {
                    changed.push((member, spec.host, spec.target));
                }
                work.instance_move(member, Some(placement.host)).expect("a known instance and host");
            }
            Err(ChooseError::NoHost(_) | ChooseError::Fleet(_)) => {
                placed_all = false;
                break;
            }
        }
    }
    let count = if placed_all { Tally::of(work, group, size).total } else { 0 };

    for (member, host, target) in changed {
        work.instance_move(member, host).expect("a known instance and host");
        if let Some(target) = target {
            work.migration_start(member, target).expect("the migration it had");
        }
    }
    for (host, state) in states {
        work.host_set_state(host, state).expect("a known host");
    }
    count
}
