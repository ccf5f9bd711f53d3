//! Host choice and compliance on a region of realistic size: 10,000 hosts in 250 racks of 40,
//! 100,000 placed instances and 10,000 groups of a few members each.
//!
//! The fleet is built once, deterministically (a seeded LCG, no `rand`), and validated with
//! `check()` before anything is timed.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use placement::{
    FailureDomain, Fleet, GroupId, GroupKind, GroupSpec, HostId, HostState, InstanceId, PlacementRequest, Policy,
    Resources,
};

mod common;

use common::{GIB, HOSTS, INSTANCES, Lcg, Placed, RACKS, host_rack, hosts_and_instances};

const GROUPS: usize = 10_000;

/// The fleet and the groups each benchmark works on.
#[derive(Debug)]
struct Region {
    fleet: Fleet,
    strict_anti_affinity_host: GroupId,
    flexible_anti_affinity_rack: GroupId,
    strict_affinity_rack: GroupId,
}

fn region_build() -> Region {
    let mut random = Lcg(0x5eed_f1ee_7b00_0001);
    let state = |draw| match draw {
        0 | 1 => HostState::Draining,
        2 => HostState::Maintenance,
        3 => HostState::Failed,
        _ => HostState::Active,
    };
    let Placed { mut fleet, capacities, mut used, instance_host, instance_sizes } =
        hosts_and_instances(&mut random, true, state);

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
