//! Readable cases of the placement engine's documented behaviour, one rule per test.

use placement::{
    Breach, ChooseError, Domain, FailureDomain, Fleet, GroupCompliance, GroupId, GroupKind, GroupSpec, HostId,
    HostSpec, HostState, InstanceId, InstanceSpec, JoinAssessment, Placement, PlacementRequest, Policy, Resources,
    Violation,
};

const GIB: u64 = 1024;

fn capacity(vcpus: u32, memory_gib: u64) -> Resources {
    Resources { vcpus, memory_mib: memory_gib * GIB, disk_mib: 1024 * GIB, gpus: 0 }
}

fn size(vcpus: u32, memory_gib: u64) -> Resources {
    Resources { vcpus, memory_mib: memory_gib * GIB, disk_mib: 10 * GIB, gpus: 0 }
}

fn host_add(fleet: &mut Fleet, id: i64, rack: &str, capacity: Resources) {
    let spec = HostSpec { id: HostId(id), rack: rack.to_string(), capacity, state: HostState::Active };
    fleet.host_add(spec).expect("a new host");
}

fn group_add(fleet: &mut Fleet, id: i64, kind: GroupKind, policy: Policy, domain: FailureDomain, max_per_domain: u32) {
    fleet.group_add(GroupSpec { id: GroupId(id), kind, policy, domain, max_per_domain }).expect("a new group");
}

fn instance_add(fleet: &mut Fleet, id: i64, size: Resources, host: i64) {
    let spec = InstanceSpec { id: InstanceId(id), size, host: Some(HostId(host)), target: None };
    fleet.instance_add(spec).expect("a new instance");
}

fn member_add(fleet: &mut Fleet, group: i64, instance: i64) {
    fleet.member_add(GroupId(group), InstanceId(instance)).expect("a new member");
}

fn choose(fleet: &Fleet, size: Resources, groups: &[GroupId]) -> Result<Placement, ChooseError> {
    fleet.choose_host(&PlacementRequest::new(size, groups))
}

fn chosen_host(fleet: &Fleet, size: Resources, groups: &[GroupId]) -> HostId {
    choose(fleet, size, groups).expect("a host").host
}

fn no_host_message(result: Result<Placement, ChooseError>) -> String {
    match result {
        Err(error @ ChooseError::NoHost(_)) => error.to_string(),
        other => panic!("expected no host, got {other:?}"),
    }
}

fn breach_of(compliance: &GroupCompliance, instance: i64) -> Option<Breach> {
    compliance.member(InstanceId(instance)).expect("a member").breach.clone()
}

#[test]
fn no_host_counts_each_host_under_its_first_reason() {
    let mut fleet = Fleet::new();
    group_add(&mut fleet, 7, GroupKind::AntiAffinity, Policy::Strict, FailureDomain::Host, 1);
    for id in 1..=12 {
        host_add(&mut fleet, id, "a", capacity(64, 2));
    }
    for id in 13..=40 {
        host_add(&mut fleet, id, "b", capacity(64, 256));
        instance_add(&mut fleet, 100 + id, size(2, 8), id);
        member_add(&mut fleet, 7, 100 + id);
    }

    let message = no_host_message(choose(&fleet, size(2, 8), &[GroupId(7)]));

    assert_eq!(message, "0 of 40 hosts: 12 lack memory, 28 hold a member of group 7");
}

#[test]
fn no_host_lists_reasons_in_order_with_singular_and_plural_phrases() {
    let mut fleet = Fleet::new();
    group_add(&mut fleet, 3, GroupKind::AntiAffinity, Policy::Strict, FailureDomain::Rack, 2);
    group_add(&mut fleet, 5, GroupKind::Affinity, Policy::Strict, FailureDomain::Host, 1);
    // Rack "a" holds two members of group 3; the first member of group 5 is on host 1. Each
    // other host is ruled out by the first reason that applies to it.
    host_add(&mut fleet, 1, "a", capacity(64, 256));
    host_add(&mut fleet, 2, "a", capacity(64, 256));
    instance_add(&mut fleet, 101, size(2, 8), 1);
    instance_add(&mut fleet, 102, size(2, 8), 2);
    member_add(&mut fleet, 3, 101);
    member_add(&mut fleet, 3, 102);
    member_add(&mut fleet, 5, 101);
    host_add(&mut fleet, 3, "b", capacity(64, 256));
    host_add(&mut fleet, 4, "b", capacity(64, 256));
    host_add(&mut fleet, 5, "b", capacity(64, 256));
    host_add(&mut fleet, 6, "b", capacity(1, 256));
    host_add(&mut fleet, 7, "b", capacity(64, 256));
    host_add(&mut fleet, 8, "b", capacity(64, 256));
    host_add(&mut fleet, 9, "c", capacity(64, 256));
    fleet.host_set_state(HostId(4), HostState::Draining).expect("a known host");
    fleet.host_set_state(HostId(5), HostState::Maintenance).expect("a known host");
    fleet.host_set_state(HostId(7), HostState::Failed).expect("a known host");
    fleet.host_set_state(HostId(8), HostState::Failed).expect("a known host");
    let groups = [GroupId(3), GroupId(5)];
    let request = PlacementRequest { avoid: &[HostId(3)], ..PlacementRequest::new(size(2, 8), &groups) };

    let message = no_host_message(fleet.choose_host(&request));

    assert_eq!(
        message,
        "0 of 9 hosts: 1 was excluded by the request, 1 is draining, 1 is in maintenance, 2 have failed, \
         1 lacks vCPUs, 2 are in a rack holding 2 members of group 3, 1 is not the host of the members of group 5"
    );
}

#[test]
fn a_region_without_hosts_says_so() {
    let fleet = Fleet::new();

    let message = no_host_message(choose(&fleet, size(1, 1), &[]));

    assert_eq!(message, "0 of 0 hosts: the region has no hosts");
}

#[test]
fn the_later_joiner_is_the_non_compliant_member() {
    let mut fleet = Fleet::new();
    host_add(&mut fleet, 1, "a", capacity(64, 256));
    group_add(&mut fleet, 9, GroupKind::AntiAffinity, Policy::Strict, FailureDomain::Host, 1);
    // Instance 101 was created first but joins the group second.
    instance_add(&mut fleet, 101, size(2, 8), 1);
    instance_add(&mut fleet, 102, size(2, 8), 1);
    member_add(&mut fleet, 9, 102);
    member_add(&mut fleet, 9, 101);

    let compliance = fleet.group_compliance(GroupId(9)).expect("a known group");

    assert!(!compliance.is_compliant());
    assert_eq!(breach_of(&compliance, 102), None);
    let breach = Breach::Crowded { domain: Domain::Host(HostId(1)), earlier: vec![InstanceId(102)], max_per_domain: 1 };
    assert_eq!(breach_of(&compliance, 101), Some(breach.clone()));
    assert_eq!(breach.to_string(), "shares host 1 with member 102 that joined earlier (at most 1 per host)");
    assert_eq!(
        fleet.check(),
        Err(vec![Violation::StrictGroupBroken { group: GroupId(9), instance: InstanceId(101), breach }])
    );
}

#[test]
fn a_join_is_judged_after_every_member_already_there() {
    let mut fleet = Fleet::new();
    host_add(&mut fleet, 1, "a", capacity(64, 256));
    host_add(&mut fleet, 2, "a", capacity(64, 256));
    group_add(&mut fleet, 4, GroupKind::AntiAffinity, Policy::Flexible, FailureDomain::Host, 2);
    for instance in [101, 102, 103] {
        instance_add(&mut fleet, instance, size(2, 8), 1);
    }
    instance_add(&mut fleet, 104, size(2, 8), 2);
    member_add(&mut fleet, 4, 101);
    member_add(&mut fleet, 4, 102);

    let crowded = Breach::Crowded {
        domain: Domain::Host(HostId(1)),
        earlier: vec![InstanceId(101), InstanceId(102)],
        max_per_domain: 2,
    };
    assert_eq!(
        fleet.assess_join(GroupId(4), InstanceId(103), false),
        Ok(JoinAssessment::NonCompliant(crowded.clone()))
    );
    assert_eq!(fleet.assess_join(GroupId(4), InstanceId(103), true), Ok(JoinAssessment::Refused(crowded)));
    assert_eq!(fleet.assess_join(GroupId(4), InstanceId(104), true), Ok(JoinAssessment::Compliant));
}

#[test]
fn affinity_keeps_members_together() {
    let mut fleet = Fleet::new();
    host_add(&mut fleet, 1, "a", capacity(64, 256));
    host_add(&mut fleet, 2, "a", capacity(16, 64));
    group_add(&mut fleet, 5, GroupKind::Affinity, Policy::Strict, FailureDomain::Host, 1);
    instance_add(&mut fleet, 101, size(8, 32), 2);
    member_add(&mut fleet, 5, 101);

    // Host 1 has far more free memory, but the group's first member is on host 2.
    assert_eq!(chosen_host(&fleet, size(4, 16), &[GroupId(5)]), HostId(2));
    assert_eq!(chosen_host(&fleet, size(4, 16), &[]), HostId(1));

    // Once host 2 is full, the strict group refuses every other host.
    let message = no_host_message(choose(&fleet, size(4, 64), &[GroupId(5)]));
    assert_eq!(message, "0 of 2 hosts: 1 lacks memory, 1 is not the host of the members of group 5");
}

#[test]
fn a_flexible_affinity_group_is_broken_only_when_its_domain_is_full() {
    let mut fleet = Fleet::new();
    host_add(&mut fleet, 1, "a", capacity(64, 256));
    host_add(&mut fleet, 2, "b", capacity(16, 64));
    host_add(&mut fleet, 3, "b", capacity(16, 48));
    group_add(&mut fleet, 6, GroupKind::Affinity, Policy::Flexible, FailureDomain::Rack, 1);
    instance_add(&mut fleet, 101, size(8, 32), 2);
    member_add(&mut fleet, 6, 101);

    // Rack b has room on host 3 (48 GiB free) and host 2 (32 GiB free): host 3 is preferred.
    let placement = choose(&fleet, size(4, 16), &[GroupId(6)]).expect("a host");
    assert_eq!(placement, Placement { host: HostId(3), breaches: vec![] });

    // Nothing in rack b fits 56 GiB: host 1 takes it and the group reports the breach.
    let placement = choose(&fleet, size(4, 56), &[GroupId(6)]).expect("a host");
    let apart = Breach::Apart { anchor: InstanceId(101), anchor_domain: Domain::Rack("b".to_string()) };
    assert_eq!(placement, Placement { host: HostId(1), breaches: vec![(GroupId(6), apart)] });

    // Unless the caller wants compliance only.
    let groups = [GroupId(6)];
    let request = PlacementRequest { compliant_only: true, ..PlacementRequest::new(size(4, 56), &groups) };
    let message = no_host_message(fleet.choose_host(&request));
    assert_eq!(message, "0 of 3 hosts: 2 lack memory, 1 is not in the rack of the members of group 6");
}

#[test]
fn rack_anti_affinity_spreads_members_over_racks() {
    let mut fleet = Fleet::new();
    host_add(&mut fleet, 1, "a", capacity(64, 256));
    host_add(&mut fleet, 2, "a", capacity(64, 256));
    host_add(&mut fleet, 3, "b", capacity(16, 64));
    group_add(&mut fleet, 8, GroupKind::AntiAffinity, Policy::Strict, FailureDomain::Rack, 1);
    group_add(&mut fleet, 9, GroupKind::AntiAffinity, Policy::Strict, FailureDomain::Rack, 2);
    instance_add(&mut fleet, 101, size(4, 16), 1);
    member_add(&mut fleet, 8, 101);
    member_add(&mut fleet, 9, 101);

    // Host 2 has the most free memory, but it shares rack a with the member on host 1.
    assert_eq!(chosen_host(&fleet, size(4, 16), &[GroupId(8)]), HostId(3));
    // Two members per rack are allowed in group 9.
    assert_eq!(chosen_host(&fleet, size(4, 16), &[GroupId(9)]), HostId(2));

    instance_add(&mut fleet, 102, size(4, 16), 3);
    member_add(&mut fleet, 8, 102);
    let message = no_host_message(choose(&fleet, size(4, 16), &[GroupId(8)]));
    assert_eq!(message, "0 of 3 hosts: 3 are in a rack holding a member of group 8");
}

#[test]
fn equally_free_hosts_are_chosen_by_lowest_id() {
    let mut fleet = Fleet::new();
    for id in [7, 3, 5] {
        host_add(&mut fleet, id, "a", capacity(64, 256));
    }
    assert_eq!(chosen_host(&fleet, size(2, 8), &[]), HostId(3));

    // More free vCPUs win among hosts with the same free memory.
    instance_add(&mut fleet, 101, Resources { vcpus: 4, ..Resources::ZERO }, 3);
    assert_eq!(chosen_host(&fleet, size(2, 8), &[]), HostId(5));
}

#[test]
fn a_migration_target_counts_in_domains_and_capacity() {
    let mut fleet = Fleet::new();
    host_add(&mut fleet, 1, "a", capacity(64, 256));
    host_add(&mut fleet, 2, "a", capacity(64, 256));
    host_add(&mut fleet, 3, "a", capacity(64, 128));
    group_add(&mut fleet, 2, GroupKind::AntiAffinity, Policy::Strict, FailureDomain::Host, 1);
    instance_add(&mut fleet, 101, size(8, 200), 1);
    member_add(&mut fleet, 2, 101);
    fleet.migration_start(InstanceId(101), HostId(2)).expect("a migration");

    // The target holds the instance's capacity until the migration finishes...
    let target = fleet.host(HostId(2)).expect("a known host");
    assert_eq!(target.free(), Resources { vcpus: 56, memory_mib: 56 * GIB, disk_mib: 1014 * GIB, gpus: 0 });
    assert_eq!(chosen_host(&fleet, size(2, 100), &[]), HostId(3));
    // ...and the instance counts in both hosts' domains, so a new member goes to host 3.
    assert_eq!(chosen_host(&fleet, size(2, 8), &[GroupId(2)]), HostId(3));
    assert_eq!(fleet.check(), Ok(()));

    fleet.migration_finish(InstanceId(101)).expect("a migration in flight");
    assert_eq!(fleet.host(HostId(1)).expect("a known host").used, Resources::ZERO);
    assert_eq!(chosen_host(&fleet, size(2, 8), &[GroupId(2)]), HostId(1));
    assert_eq!(fleet.check(), Ok(()));
}

#[test]
fn a_moving_instance_does_not_count_against_itself() {
    let mut fleet = Fleet::new();
    host_add(&mut fleet, 1, "a", capacity(64, 256));
    host_add(&mut fleet, 2, "a", capacity(64, 128));
    host_add(&mut fleet, 3, "a", capacity(64, 64));
    group_add(&mut fleet, 1, GroupKind::AntiAffinity, Policy::Strict, FailureDomain::Host, 1);
    instance_add(&mut fleet, 101, size(4, 16), 1);
    instance_add(&mut fleet, 102, size(4, 16), 2);
    member_add(&mut fleet, 1, 101);
    member_add(&mut fleet, 1, 102);
    let groups = [GroupId(1)];

    // As a new member, it could only go to host 3.
    assert_eq!(chosen_host(&fleet, size(4, 16), &groups), HostId(3));
    // Moving member 101 off host 1: its own host is no longer held against it...
    let moving = PlacementRequest { moving: Some(InstanceId(101)), ..PlacementRequest::new(size(4, 16), &groups) };
    assert_eq!(fleet.choose_host(&moving).expect("a host").host, HostId(1));
    // ...unless the caller avoids it; host 2 still holds member 102.
    let leaving = PlacementRequest { avoid: &[HostId(1)], ..moving };
    assert_eq!(fleet.choose_host(&leaving).expect("a host").host, HostId(3));
}

#[test]
fn a_flexible_group_is_broken_as_little_as_possible() {
    let mut fleet = Fleet::new();
    host_add(&mut fleet, 1, "a", capacity(64, 256));
    host_add(&mut fleet, 2, "b", capacity(64, 128));
    group_add(&mut fleet, 1, GroupKind::AntiAffinity, Policy::Flexible, FailureDomain::Host, 1);
    group_add(&mut fleet, 2, GroupKind::AntiAffinity, Policy::Flexible, FailureDomain::Host, 1);
    instance_add(&mut fleet, 101, size(4, 16), 1);
    instance_add(&mut fleet, 102, size(4, 16), 2);
    member_add(&mut fleet, 1, 101);
    member_add(&mut fleet, 2, 101);
    member_add(&mut fleet, 1, 102);

    // Host 1 breaks both groups, host 2 only group 1: host 2 wins despite less free memory.
    let placement = choose(&fleet, size(2, 8), &[GroupId(1), GroupId(2)]).expect("a host");
    let crowded =
        Breach::Crowded { domain: Domain::Host(HostId(2)), earlier: vec![InstanceId(102)], max_per_domain: 1 };
    assert_eq!(placement, Placement { host: HostId(2), breaches: vec![(GroupId(1), crowded)] });
}
