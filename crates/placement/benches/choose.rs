//! Host choice and compliance on a region of realistic size: 10,000 hosts in 250 racks of 40,
//! 100,000 placed instances and 10,000 groups of a few members each.
//!
//! The fleet is built once, deterministically (a seeded LCG, no `rand`), and validated with
//! `check()` before anything is timed.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use placement::{
    FailureDomain, Fleet, GroupId, GroupKind, GroupSpec, HostId, HostSpec, HostState, InstanceId, InstanceSpec,
    PlacementRequest, Policy, Resources,
};

const RACKS: usize = 250;
const HOSTS_PER_RACK: usize = 40;
const HOSTS: usize = RACKS * HOSTS_PER_RACK;
const INSTANCES: usize = 100_000;
const GROUPS: usize = 10_000;
const GIB: u64 = 1024;

/// A 64-bit linear congruential generator (Knuth's MMIX constants), returning its high bits.
#[derive(Debug)]
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

/// The fleet and the groups each benchmark works on.
#[derive(Debug)]
struct Region {
    fleet: Fleet,
    strict_anti_affinity_host: GroupId,
    flexible_anti_affinity_rack: GroupId,
    strict_affinity_rack: GroupId,
}

fn host_capacity(random: &mut Lcg) -> Resources {
    // Mostly the standard model, some larger and some older, smaller hosts; a few with GPUs.
    let (vcpus, memory_gib, disk_gib) = match random.below(10) {
        0 => (32, 128, 2_048),
        1 | 2 => (96, 384, 8_192),
        _ => (64, 256, 4_096),
    };
    let gpus = if random.below(20) == 0 { 4 } else { 0 };
    Resources { vcpus, memory_mib: memory_gib * GIB, disk_mib: disk_gib * GIB, gpus }
}

fn instance_size(random: &mut Lcg) -> Resources {
    let vcpus = [1, 2, 4, 8][random.below(4)];
    let memory_gib = (u64::from(vcpus) * [1, 2, 4][random.below(3)]).min(32);
    let disk_gib = [10, 20, 50, 100][random.below(4)];
    Resources { vcpus, memory_mib: memory_gib * GIB, disk_mib: disk_gib * GIB, gpus: 0 }
}

fn host_rack(host: usize) -> usize {
    host / HOSTS_PER_RACK
}

fn region_build() -> Region {
    let mut random = Lcg(0x5eed_f1ee_7b00_0001);
    let mut fleet = Fleet::new();

    let mut capacities = Vec::with_capacity(HOSTS);
    for host in 0..HOSTS {
        let capacity = host_capacity(&mut random);
        let state = match random.below(200) {
            0 | 1 => HostState::Draining,
            2 => HostState::Maintenance,
            3 => HostState::Failed,
            _ => HostState::Active,
        };
        let spec =
            HostSpec { id: HostId(host as i64 + 1), rack: format!("rack-{:03}", host_rack(host)), capacity, state };
        fleet.host_add(spec).expect("a new host");
        capacities.push(capacity);
    }

    // Place every instance on a random host, or the next one with room, so no host is
    // overcommitted.
    let mut used = vec![Resources::ZERO; HOSTS];
    let mut instance_host = Vec::with_capacity(INSTANCES);
    let mut instance_sizes = Vec::with_capacity(INSTANCES);
    for instance in 0..INSTANCES {
        let size = instance_size(&mut random);
        let start = random.below(HOSTS);
        let host = (0..HOSTS)
            .map(|offset| (start + offset) % HOSTS)
            .find(|&host| size.fits_in(&capacities[host].saturating_sub(&used[host])))
            .expect("the fleet has room for every instance");
        used[host] = used[host].saturating_add(&size);
        let spec = InstanceSpec {
            id: InstanceId(instance as i64 + 1),
            size,
            host: Some(HostId(host as i64 + 1)),
            target: None,
        };
        fleet.instance_add(spec).expect("a new instance");
        instance_host.push(host);
        instance_sizes.push(size);
    }

    // Groups of 3 to 7 members; each instance joins at most one group, and members are picked
    // so that every group (strict or flexible) is compliant.
    let mut by_host: Vec<Vec<usize>> = vec![Vec::new(); HOSTS];
    let mut by_rack: Vec<Vec<usize>> = vec![Vec::new(); RACKS];
    for (instance, &host) in instance_host.iter().enumerate() {
        by_host[host].push(instance);
        by_rack[host_rack(host)].push(instance);
    }
    let mut grouped = vec![false; INSTANCES];
    let mut strict_anti_affinity_host = None;
    let mut flexible_anti_affinity_rack = None;
    let mut strict_affinity_rack = None;
    for group in 0..GROUPS {
        let id = GroupId(group as i64 + 1);
        let kind = if random.below(10) < 6 { GroupKind::AntiAffinity } else { GroupKind::Affinity };
        let policy = if random.below(2) == 0 { Policy::Strict } else { Policy::Flexible };
        let domain = if random.below(2) == 0 { FailureDomain::Host } else { FailureDomain::Rack };
        let max_per_domain = if random.below(4) == 0 { 2 } else { 1 };
        let wanted = 3 + group % 5;
        let domain_of = |instance: usize| match domain {
            FailureDomain::Host => instance_host[instance],
            FailureDomain::Rack => host_rack(instance_host[instance]),
        };
        let mut members: Vec<usize> = Vec::with_capacity(wanted);
        match kind {
            GroupKind::AntiAffinity => {
                while members.len() < wanted {
                    let candidate = random.below(INSTANCES);
                    let crowd = members.iter().filter(|&&member| domain_of(member) == domain_of(candidate)).count();
                    if !grouped[candidate] && crowd < max_per_domain as usize {
                        grouped[candidate] = true;
                        members.push(candidate);
                    }
                }
            }
            GroupKind::Affinity => {
                let anchor = loop {
                    let candidate = random.below(INSTANCES);
                    if !grouped[candidate] {
                        break candidate;
                    }
                };
                let neighbours = match domain {
                    FailureDomain::Host => &by_host[instance_host[anchor]],
                    FailureDomain::Rack => &by_rack[host_rack(instance_host[anchor])],
                };
                members.push(anchor);
                grouped[anchor] = true;
                for &neighbour in neighbours {
                    if members.len() == wanted {
                        break;
                    }
                    if !grouped[neighbour] {
                        grouped[neighbour] = true;
                        members.push(neighbour);
                    }
                }
            }
        }
        fleet.group_add(GroupSpec { id, kind, policy, domain, max_per_domain }).expect("a new group");
        for &member in &members {
            fleet.member_add(id, InstanceId(member as i64 + 1)).expect("a new member");
        }
        let slot = match (kind, policy, domain) {
            (GroupKind::AntiAffinity, Policy::Strict, FailureDomain::Host) => &mut strict_anti_affinity_host,
            (GroupKind::AntiAffinity, Policy::Flexible, FailureDomain::Rack) => &mut flexible_anti_affinity_rack,
            (GroupKind::Affinity, Policy::Strict, FailureDomain::Rack) => &mut strict_affinity_rack,
            _ => continue,
        };
        if members.len() == 5 && slot.is_none() {
            *slot = Some(id);
        }
    }

    // A few ungrouped instances are migrating, holding capacity on a second host.
    for _ in 0..INSTANCES / 200 {
        let instance = random.below(INSTANCES);
        let target = random.below(HOSTS);
        let size = instance_sizes[instance];
        let source = instance_host[instance];
        let id = InstanceId(instance as i64 + 1);
        let migrating = fleet.instance(id).is_some_and(|spec| spec.target.is_some());
        if grouped[instance]
            || migrating
            || target == source
            || !size.fits_in(&capacities[target].saturating_sub(&used[target]))
        {
            continue;
        }
        fleet.migration_start(id, HostId(target as i64 + 1)).expect("a valid migration");
        used[target] = used[target].saturating_add(&size);
    }

    assert_eq!(fleet.check(), Ok(()), "the benchmark fleet must be valid");
    Region {
        fleet,
        strict_anti_affinity_host: strict_anti_affinity_host.expect("a strict host anti-affinity group of 5"),
        flexible_anti_affinity_rack: flexible_anti_affinity_rack.expect("a flexible rack anti-affinity group of 5"),
        strict_affinity_rack: strict_affinity_rack.expect("a strict rack affinity group of 5"),
    }
}

fn choose(criterion: &mut Criterion) {
    let region = region_build();
    let fleet = &region.fleet;
    let size = Resources { vcpus: 4, memory_mib: 16 * GIB, disk_mib: 100 * GIB, gpus: 0 };
    let mut group = criterion.benchmark_group("choose");

    for (name, id) in [
        ("choose_host_strict_anti_affinity_host", region.strict_anti_affinity_host),
        ("choose_host_flexible_anti_affinity_rack", region.flexible_anti_affinity_rack),
        ("choose_host_strict_affinity_rack", region.strict_affinity_rack),
    ] {
        let groups = [id];
        let request = PlacementRequest::new(size, &groups);
        fleet.choose_host(&request).expect("the benchmark request has a host");
        group.bench_function(name, |bencher| bencher.iter(|| fleet.choose_host(black_box(&request))));
    }

    let compliance_group = region.strict_anti_affinity_host;
    group.bench_function("group_compliance_5_members", |bencher| {
        bencher.iter(|| fleet.group_compliance(black_box(compliance_group)))
    });

    group.finish();
}

criterion_group!(benches, choose);
criterion_main!(benches);
