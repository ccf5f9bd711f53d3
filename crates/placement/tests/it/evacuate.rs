//! Evacuation: readable cases, and a property against a brute-force oracle that re-places the
//! host's instances on plain vectors, judging every host from scratch for each of them.

use std::cmp::Reverse;

use placement::{
    Evacuation, FailureDomain, Fleet, FleetError, GroupId, GroupKind, GroupSpec, HostId, HostSpec, HostState,
    InstanceId, InstanceSpec, Move, NoHost, Policy, Resources,
};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::common::{Request, Shape, World};

const GIB: u64 = 1024;

fn host_add(fleet: &mut Fleet, id: i64, rack: &str, memory_gib: u64) {
    let capacity = Resources { vcpus: 64, memory_mib: memory_gib * GIB, disk_mib: 1024 * GIB, gpus: 0 };
    let spec = HostSpec { id: HostId(id), rack: rack.to_string(), capacity, state: HostState::Active };
    fleet.host_add(spec).expect("a new host");
}

fn instance_add(fleet: &mut Fleet, id: i64, memory_gib: u64, host: i64) {
    let size = Resources { vcpus: 2, memory_mib: memory_gib * GIB, disk_mib: 10 * GIB, gpus: 0 };
    let spec = InstanceSpec { id: InstanceId(id), size, host: Some(HostId(host)), target: None };
    fleet.instance_add(spec).expect("a new instance");
}

fn step(instance: i64, from: i64, to: i64) -> Move {
    Move { instance: InstanceId(instance), from: HostId(from), to: HostId(to) }
}

#[test]
fn the_largest_instance_goes_first_and_later_choices_see_earlier_moves() {
    let mut fleet = Fleet::new();
    host_add(&mut fleet, 1, "a", 64);
    host_add(&mut fleet, 2, "a", 40);
    host_add(&mut fleet, 3, "a", 32);
    instance_add(&mut fleet, 101, 8, 1);
    instance_add(&mut fleet, 102, 24, 1);
    instance_add(&mut fleet, 103, 8, 1);
    fleet.host_set_state(HostId(1), HostState::Draining).expect("a known host");

    let evacuation = fleet.plan_evacuation(HostId(1)).expect("a known host");

    // 102 (24 GiB) takes host 2 (40 free), which leaves it 16 free: 101 then goes to host 3
    // (32 free), and 103 to host 3 again (24 free beats 16).
    assert_eq!(evacuation.moves, vec![step(102, 1, 2), step(101, 1, 3), step(103, 1, 3)]);
    assert!(evacuation.stuck.is_empty());
}

#[test]
fn members_of_a_strict_group_land_apart_or_get_stuck() {
    let mut fleet = Fleet::new();
    host_add(&mut fleet, 1, "a", 64);
    host_add(&mut fleet, 2, "a", 64);
    host_add(&mut fleet, 3, "a", 64);
    let spec = GroupSpec {
        id: GroupId(4),
        kind: GroupKind::AntiAffinity,
        policy: Policy::Strict,
        domain: FailureDomain::Host,
        max_per_domain: 1,
    };
    fleet.group_add(spec).expect("a new group");
    // A broken state: three members of a strict group share host 1.
    for id in [101, 102, 103] {
        instance_add(&mut fleet, id, 8, 1);
        fleet.member_add(GroupId(4), InstanceId(id)).expect("a new member");
    }
    fleet.host_set_state(HostId(1), HostState::Failed).expect("a known host");

    let evacuation = fleet.plan_evacuation(HostId(1)).expect("a known host");

    assert_eq!(evacuation.moves, vec![step(101, 1, 2), step(102, 1, 3)]);
    assert_eq!(evacuation.stuck.len(), 1);
    let (instance, no_host) = &evacuation.stuck[0];
    assert_eq!(*instance, InstanceId(103));
    assert_eq!(no_host.to_string(), "0 of 3 hosts: 1 was excluded by the request, 2 hold a member of group 4");
}

#[test]
fn instances_already_migrating_are_left_to_their_migration() {
    let mut fleet = Fleet::new();
    host_add(&mut fleet, 1, "a", 64);
    host_add(&mut fleet, 2, "a", 64);
    instance_add(&mut fleet, 101, 8, 1);
    instance_add(&mut fleet, 102, 8, 2);
    fleet.migration_start(InstanceId(101), HostId(2)).expect("a migration");
    fleet.migration_start(InstanceId(102), HostId(1)).expect("a migration");

    let evacuation = fleet.plan_evacuation(HostId(1)).expect("a known host");

    assert_eq!(evacuation, Evacuation { moves: vec![], stuck: vec![] });
}

#[test]
fn an_unknown_host_is_an_error() {
    assert_eq!(Fleet::new().plan_evacuation(HostId(9)), Err(FleetError::UnknownHost(HostId(9))));
}

// The property.

fn region() -> impl Strategy<Value = World> {
    crate::common::world(Shape {
        hosts: 1..=6,
        racks: 1..=3,
        instances: 1..=8,
        groups: 1..=3,
        offline: 0.05,
        migrating: 0.1,
        inactive: 2,
    })
}

/// The evacuation by brute force: the instances of the host by size, each to the best host
/// judged from scratch on the state the earlier moves left.
fn oracle(world: &World, host: usize) -> Evacuation {
    let mut positions = world.positions();
    let mut leaving: Vec<usize> = (0..world.instances.len()).filter(|&i| positions[i] == (Some(host), None)).collect();
    leaving.sort_by_key(|&i| (Reverse(world.instances[i].size[1]), world.instances[i].id));
    let host_id = world.hosts[host].id;
    let mut evacuation = Evacuation { moves: Vec::new(), stuck: Vec::new() };
    for instance in leaving {
        let request = Request {
            size: world.instances[instance].size,
            groups: world.groups_of(instance),
            moving: Some(instance),
            avoid: vec![host_id],
            compliant_only: false,
        };
        let id = world.instances[instance].id;
        match world.choose(&positions, &request) {
            Ok(to) => {
                positions[instance].0 = Some(to);
                evacuation.moves.push(Move { instance: id, from: host_id, to: world.hosts[to].id });
            }
            Err(exclusions) => evacuation.stuck.push((id, NoHost { hosts: world.hosts.len(), exclusions })),
        }
    }
    evacuation
}

proptest! {
    #![proptest_config(crate::common::config("evacuate", 512))]

    #[test]
    fn evacuation_is_the_oracles_one_instance_at_a_time(world in region(), host in any::<Index>()) {
        let host = host.index(world.hosts.len());
        let evacuation = crate::common::fleet_of(&world).plan_evacuation(world.hosts[host].id).expect("a known host");
        prop_assert_eq!(evacuation, oracle(&world, host));
    }
}
