//! Headroom: readable cases, and a property against brute force that adds members one at a
//! time with `choose_host` on copies of the fleet, after losing literally every host and every
//! rack in turn.

use placement::{
    ChooseError, FailureDomain, Fleet, FleetError, GroupId, GroupKind, GroupSpec, Headroom, HostId, HostSpec,
    HostState, InstanceId, InstanceSpec, PlacementRequest, Policy, Resources,
};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::common::{Shape, World};

const GIB: u64 = 1024;

fn host_add(fleet: &mut Fleet, id: i64, rack: &str, memory_gib: u64) {
    let capacity = Resources { vcpus: 64, memory_mib: memory_gib * GIB, disk_mib: 1024 * GIB, gpus: 0 };
    let spec = HostSpec { id: HostId(id), rack: rack.to_string(), capacity, state: HostState::Active };
    fleet.host_add(spec).expect("a new host");
}

fn group_add(fleet: &mut Fleet, id: i64, kind: GroupKind, domain: FailureDomain, max_per_domain: u32) {
    let spec = GroupSpec { id: GroupId(id), kind, policy: Policy::Strict, domain, max_per_domain };
    fleet.group_add(spec).expect("a new group");
}

fn member_add(fleet: &mut Fleet, group: i64, id: i64, memory_gib: u64, host: i64) {
    let size = Resources { vcpus: 2, memory_mib: memory_gib * GIB, disk_mib: 10 * GIB, gpus: 0 };
    let spec = InstanceSpec { id: InstanceId(id), size, host: Some(HostId(host)), target: None };
    fleet.instance_add(spec).expect("a new instance");
    fleet.member_add(GroupId(group), InstanceId(id)).expect("a new member");
}

fn gib(memory_gib: u64) -> Resources {
    Resources { vcpus: 2, memory_mib: memory_gib * GIB, disk_mib: 10 * GIB, gpus: 0 }
}

#[test]
fn anti_affinity_headroom_counts_free_hosts_and_shrinks_when_a_member_host_is_lost() {
    let mut fleet = Fleet::new();
    for (id, rack) in [(1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "c")] {
        host_add(&mut fleet, id, rack, 64);
    }
    group_add(&mut fleet, 1, GroupKind::AntiAffinity, FailureDomain::Host, 1);
    member_add(&mut fleet, 1, 101, 8, 1);
    member_add(&mut fleet, 1, 102, 8, 3);

    let headroom = fleet.headroom(GroupId(1), gib(8), None).expect("a known group");

    assert_eq!(
        headroom,
        Headroom {
            // Hosts 2, 4 and 5 can each take one more member.
            now: 3,
            // Losing host 1 sends member 101 to one of the free hosts, which leaves two; host 1
            // is the lowest of the hosts whose loss does that (every free host and every
            // member's host).
            after_worst_host: 2,
            worst_host: Some(HostId(1)),
            // Losing rack a (hosts 1 and 2) re-places 101 on host 4 or 5 and leaves one host.
            after_worst_rack: 1,
            worst_rack: Some("a".to_string()),
        }
    );
}

#[test]
fn affinity_headroom_is_the_room_in_the_anchors_domain() {
    let mut fleet = Fleet::new();
    host_add(&mut fleet, 1, "a", 32);
    host_add(&mut fleet, 2, "a", 16);
    host_add(&mut fleet, 3, "b", 256);
    group_add(&mut fleet, 2, GroupKind::Affinity, FailureDomain::Rack, 1);
    member_add(&mut fleet, 2, 101, 8, 1);

    let headroom = fleet.headroom(GroupId(2), gib(8), None).expect("a known group");

    // Rack a has room for 3 more on host 1 and 2 on host 2; rack b does not count.
    assert_eq!(headroom.now, 5);
    // Losing host 2 leaves host 1's three. Losing host 1 re-places the anchor, which nothing
    // holds back, on the freest host (host 3), and rack b then takes 31 more.
    assert_eq!((headroom.after_worst_host, headroom.worst_host), (3, Some(HostId(2))));
    // Losing rack b changes nothing; losing rack a sends the anchor to rack b (31).
    assert_eq!((headroom.after_worst_rack, headroom.worst_rack.as_deref()), (5, Some("b")));
}

#[test]
fn a_limit_caps_the_count_including_current_members() {
    let mut fleet = Fleet::new();
    for id in 1..=6 {
        host_add(&mut fleet, id, "a", 64);
    }
    group_add(&mut fleet, 3, GroupKind::AntiAffinity, FailureDomain::Host, 1);
    member_add(&mut fleet, 3, 101, 8, 1);
    member_add(&mut fleet, 3, 102, 8, 2);

    let headroom = fleet.headroom(GroupId(3), gib(8), Some(5)).expect("a known group");

    assert_eq!(headroom.now, 3);
    assert_eq!(headroom.after_worst_host, 3);
}

#[test]
fn a_fleet_without_hosts_has_no_worst_host_or_rack() {
    let mut fleet = Fleet::new();
    group_add(&mut fleet, 1, GroupKind::AntiAffinity, FailureDomain::Host, 1);

    let headroom = fleet.headroom(GroupId(1), gib(8), None).expect("a known group");

    assert_eq!(
        headroom,
        Headroom { now: 0, after_worst_host: 0, worst_host: None, after_worst_rack: 0, worst_rack: None }
    );
    assert_eq!(fleet.headroom(GroupId(9), gib(8), None), Err(FleetError::UnknownGroup(GroupId(9))));
}

// The property.

fn region() -> impl Strategy<Value = World> {
    crate::common::world(Shape {
        hosts: 1..=6,
        racks: 1..=3,
        instances: 0..=7,
        groups: 1..=2,
        offline: 0.1,
        migrating: 0.15,
        inactive: 2,
    })
}

/// Members of `size` added one at a time where `choose_host` puts them, on a copy.
fn count(fleet: &Fleet, group: GroupId, size: Resources, limit: Option<u32>) -> u32 {
    let mut fleet = fleet.clone();
    let groups = [group];
    let request = PlacementRequest { compliant_only: true, ..PlacementRequest::new(size, &groups) };
    let mut added = 0;
    loop {
        if limit.is_some_and(|limit| fleet.group_members(group).len() >= limit as usize) {
            return added;
        }
        let Ok(placement) = fleet.choose_host(&request) else { return added };
        let id = InstanceId(10_000 + i64::from(added));
        fleet.instance_add(InstanceSpec { id, size, host: Some(placement.host), target: None }).expect("new");
        fleet.member_add(group, id).expect("a new member");
        added += 1;
    }
}

/// The count once `lost` have failed, replaying the documented steps literally.
fn count_after(fleet: &Fleet, group: GroupId, size: Resources, limit: Option<u32>, lost: &[HostId]) -> u32 {
    let mut fleet = fleet.clone();
    for &host in lost {
        fleet.host_set_state(host, HostState::Failed).expect("a known host");
    }
    let members = fleet.group_members(group).to_vec();
    for &member in &members {
        let spec = fleet.instance(member).expect("a member");
        let involved = spec.host.into_iter().chain(spec.target).any(|host| lost.contains(&host));
        if involved && spec.target.is_some() {
            fleet.migration_cancel(member).expect("a migration");
        }
    }
    for &member in &members {
        let spec = fleet.instance(member).expect("a member");
        if !spec.host.is_some_and(|host| lost.contains(&host)) {
            continue;
        }
        let groups = [group];
        let request = PlacementRequest {
            moving: Some(member),
            compliant_only: true,
            ..PlacementRequest::new(spec.size, &groups)
        };
        match fleet.choose_host(&request) {
            Ok(placement) => fleet.instance_move(member, Some(placement.host)).expect("a known host"),
            Err(ChooseError::NoHost(_)) => return 0,
            Err(error) => panic!("{error}"),
        }
    }
    count(&fleet, group, size, limit)
}

fn brute_force(world: &World, fleet: &Fleet, group: GroupId, size: Resources, limit: Option<u32>) -> Headroom {
    let now = count(fleet, group, size, limit);
    let worst_host = world.hosts.iter().map(|host| (count_after(fleet, group, size, limit, &[host.id]), host.id)).min();
    let mut racks: Vec<usize> = world.hosts.iter().map(|host| host.rack).collect();
    racks.sort();
    racks.dedup();
    let worst_rack = racks
        .into_iter()
        .map(|rack| {
            let lost: Vec<HostId> = world.hosts.iter().filter(|host| host.rack == rack).map(|host| host.id).collect();
            (count_after(fleet, group, size, limit, &lost), crate::common::rack_label(rack))
        })
        .min();
    Headroom {
        now,
        after_worst_host: worst_host.as_ref().map_or(now, |(count, _)| *count),
        worst_host: worst_host.map(|(_, host)| host),
        after_worst_rack: worst_rack.as_ref().map_or(now, |(count, _)| *count),
        worst_rack: worst_rack.map(|(_, rack)| rack),
    }
}

proptest! {
    #![proptest_config(crate::common::config("headroom", 512))]

    #[test]
    fn headroom_is_the_brute_force_over_every_host_and_rack(
        world in region(),
        group in any::<Index>(),
        size in crate::common::size_input(),
        limit in prop::option::weighted(0.3, 0u32..=8),
    ) {
        let fleet = crate::common::fleet_of(&world);
        let group = world.groups[group.index(world.groups.len())].id;
        let size = crate::common::resources(size);
        let headroom = fleet.headroom(group, size, limit).expect("a known group");
        prop_assert_eq!(headroom, brute_force(&world, &fleet, group, size, limit));
    }
}
