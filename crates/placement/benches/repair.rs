//! Repair, evacuation and headroom on a region of realistic size: 10,000 hosts in 250 racks of
//! 40 and 100,000 placed instances, with 9,700 compliant groups of a few members and 300
//! flexible host anti-affinity groups whose later joiners share hosts with earlier members:
//! 1,000 non-compliant members in all.
//!
//! The fleet is built once, deterministically (a seeded LCG, no `rand`), and the answers are
//! checked before anything is timed.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use placement::{
    FailureDomain, Fleet, GroupId, GroupKind, GroupSpec, HostId, HostState, InstanceId, Policy, RepairOptions,
    Resources,
};

mod common;

use common::{GIB, HOSTS, INSTANCES, Lcg, Placed, host_rack, hosts_and_instances};

const COMPLIANT_GROUPS: usize = 9_700;
const BROKEN_GROUPS: usize = 300;
const NON_COMPLIANT_MEMBERS: usize = 1_000;

#[derive(Debug)]
struct Region {
    fleet: Fleet,
    busy_host: HostId,
    five_member_group: GroupId,
}

fn region_build() -> Region {
    let mut random = Lcg(0x5eed_4e9a_12b0_0002);
    let state = |draw| if draw == 0 { HostState::Draining } else { HostState::Active };
    let Placed { mut fleet, instance_host, .. } = hosts_and_instances(&mut random, false, state);
    let mut by_host: Vec<Vec<usize>> = vec![Vec::new(); HOSTS];
    for (instance, &host) in instance_host.iter().enumerate() {
        by_host[host].push(instance);
    }

    // Compliant groups of 3 to 7 members on distinct domains (anti-affinity) or sharing the
    // anchor's host (affinity); each instance joins at most one group.
    let mut grouped = vec![false; INSTANCES];
    let mut five_member_group = None;
    for group in 0..COMPLIANT_GROUPS {
        let id = GroupId(group as i64 + 1);
        let affinity = random.below(10) < 3;
        let policy = if random.below(2) == 0 { Policy::Strict } else { Policy::Flexible };
        let wanted = 3 + group % 5;
        let mut members: Vec<usize> = Vec::with_capacity(wanted);
        let (kind, domain) = if affinity {
            let anchor = loop {
                let candidate = random.below(INSTANCES);
                if !grouped[candidate] {
                    break candidate;
                }
            };
            grouped[anchor] = true;
            members.push(anchor);
            for &neighbour in &by_host[instance_host[anchor]] {
                if members.len() < wanted && !grouped[neighbour] {
                    grouped[neighbour] = true;
                    members.push(neighbour);
                }
            }
            (GroupKind::Affinity, FailureDomain::Host)
        } else {
            let domain = if random.below(2) == 0 { FailureDomain::Host } else { FailureDomain::Rack };
            let domain_of = |instance: usize| match domain {
                FailureDomain::Host => instance_host[instance],
                FailureDomain::Rack => host_rack(instance_host[instance]),
            };
            while members.len() < wanted {
                let candidate = random.below(INSTANCES);
                if !grouped[candidate] && members.iter().all(|&m| domain_of(m) != domain_of(candidate)) {
                    grouped[candidate] = true;
                    members.push(candidate);
                }
            }
            (GroupKind::AntiAffinity, domain)
        };
        fleet.group_add(GroupSpec { id, kind, policy, domain, max_per_domain: 1 }).expect("a new group");
        for &member in &members {
            fleet.member_add(id, InstanceId(member as i64 + 1)).expect("a new member");
        }
        if five_member_group.is_none()
            && members.len() == 5
            && kind == GroupKind::AntiAffinity
            && domain == FailureDomain::Host
            && policy == Policy::Strict
        {
            five_member_group = Some(id);
        }
    }

    // Broken groups: five members on distinct hosts, then three or four later joiners that
    // stand on the host of an earlier member.
    let mut broken_members = 0;
    for group in 0..BROKEN_GROUPS {
        let id = GroupId((COMPLIANT_GROUPS + group) as i64 + 1);
        let spec = GroupSpec {
            id,
            kind: GroupKind::AntiAffinity,
            policy: Policy::Flexible,
            domain: FailureDomain::Host,
            max_per_domain: 1,
        };
        fleet.group_add(spec).expect("a new group");
        let mut members: Vec<usize> = Vec::new();
        while members.len() < 5 {
            let candidate = random.below(INSTANCES);
            if !grouped[candidate] && members.iter().all(|&m| instance_host[m] != instance_host[candidate]) {
                grouped[candidate] = true;
                members.push(candidate);
            }
        }
        let late = if group < NON_COMPLIANT_MEMBERS - 3 * BROKEN_GROUPS { 4 } else { 3 };
        let mut added = 0;
        while added < late {
            let earlier = members[random.below(5)];
            let host = instance_host[earlier];
            if let Some(&joiner) = by_host[host].iter().find(|&&i| !grouped[i]) {
                grouped[joiner] = true;
                members.push(joiner);
                added += 1;
            }
        }
        broken_members += late;
        for &member in &members {
            fleet.member_add(id, InstanceId(member as i64 + 1)).expect("a new member");
        }
    }
    assert_eq!(broken_members, NON_COMPLIANT_MEMBERS);

    let busy = (0..HOSTS).max_by_key(|&host| (by_host[host].len(), std::cmp::Reverse(host))).expect("hosts");
    Region {
        fleet,
        busy_host: HostId(busy as i64 + 1),
        five_member_group: five_member_group.expect("a strict host anti-affinity group of 5"),
    }
}

fn repair(criterion: &mut Criterion) {
    let region = region_build();
    let fleet = &region.fleet;
    let non_compliant: usize = (1..=(COMPLIANT_GROUPS + BROKEN_GROUPS) as i64)
        .map(|group| {
            let compliance = fleet.group_compliance(GroupId(group)).expect("a known group");
            compliance.members.iter().filter(|member| member.breach.is_some()).count()
        })
        .sum();
    assert_eq!(non_compliant, NON_COMPLIANT_MEMBERS, "the benchmark fleet has the non-compliance it says");

    let options = RepairOptions::default();
    let plan = fleet.plan_repair(&options);
    assert_eq!(plan.moves.len(), NON_COMPLIANT_MEMBERS);
    assert_eq!(plan.repaired.len(), BROKEN_GROUPS);
    assert!(plan.unresolved.is_empty() && plan.optimal, "{:?}", plan.unresolved);

    let mut group = criterion.benchmark_group("repair");
    group.sample_size(20);
    group.bench_function("plan_repair_1000_members_in_300_groups", |bencher| {
        bencher.iter(|| fleet.plan_repair(black_box(&options)))
    });

    let evacuation = fleet.plan_evacuation(region.busy_host).expect("a known host");
    assert!(evacuation.stuck.is_empty() && evacuation.moves.len() >= 15, "{evacuation:?}");
    group.bench_function(format!("plan_evacuation_{}_instances", evacuation.moves.len()), |bencher| {
        bencher.iter(|| fleet.plan_evacuation(black_box(region.busy_host)))
    });

    let size = Resources { vcpus: 4, memory_mib: 16 * GIB, disk_mib: 100 * GIB, gpus: 0 };
    let headroom = fleet.headroom(region.five_member_group, size, None).expect("a known group");
    assert!(headroom.now > 5_000 && headroom.worst_host.is_some(), "{headroom:?}");
    group.bench_function("headroom_5_member_group", |bencher| {
        bencher.iter(|| fleet.headroom(black_box(region.five_member_group), size, None))
    });

    group.finish();
}

criterion_group!(benches, repair);
criterion_main!(benches);
