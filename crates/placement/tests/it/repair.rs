//! Repair planning: readable cases, and properties against a brute-force oracle.
//!
//! The oracle replays the contract literally on plain vectors: from the generated state it
//! tries every move of every instance that runs on a host and is not migrating to every other
//! active host with room (and not avoided for it), keeps the states in which every member that
//! was compliant before the plan still is, and searches breadth first for the shortest sequence
//! that makes the target groups compliant. It shares no code with the planner.

use std::collections::{HashSet, VecDeque};

use placement::{
    FailureDomain, Fleet, GroupId, GroupKind, GroupSpec, HostId, HostSpec, HostState, InstanceId, InstanceSpec, Move,
    Policy, RepairOptions, RepairPlan, Resources,
};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::common::{Positions, Shape, World};

const GIB: u64 = 1024;

/// The deepest plan the oracle looks for.
const ORACLE_DEPTH: usize = 4;

// Readable cases.

fn host_add(fleet: &mut Fleet, id: i64, rack: &str, memory_gib: u64) {
    let capacity = Resources { vcpus: 64, memory_mib: memory_gib * GIB, disk_mib: 1024 * GIB, gpus: 0 };
    let spec = HostSpec { id: HostId(id), rack: rack.to_string(), capacity, state: HostState::Active };
    fleet.host_add(spec).expect("a new host");
}

fn group_add(fleet: &mut Fleet, id: i64, kind: GroupKind, policy: Policy, domain: FailureDomain) {
    let spec = GroupSpec { id: GroupId(id), kind, policy, domain, max_per_domain: 1 };
    fleet.group_add(spec).expect("a new group");
}

fn instance_add(fleet: &mut Fleet, id: i64, memory_gib: u64, host: i64) {
    let size = Resources { vcpus: 2, memory_mib: memory_gib * GIB, disk_mib: 10 * GIB, gpus: 0 };
    let spec = InstanceSpec { id: InstanceId(id), size, host: Some(HostId(host)), target: None };
    fleet.instance_add(spec).expect("a new instance");
}

fn member_add(fleet: &mut Fleet, group: i64, instance: i64) {
    fleet.member_add(GroupId(group), InstanceId(instance)).expect("a new member");
}

fn step(instance: i64, from: i64, to: i64) -> Move {
    Move { instance: InstanceId(instance), from: HostId(from), to: HostId(to) }
}

#[test]
fn a_late_joiner_on_a_crowded_host_moves_to_the_freest_host() {
    let mut fleet = Fleet::new();
    host_add(&mut fleet, 1, "a", 64);
    host_add(&mut fleet, 2, "a", 64);
    host_add(&mut fleet, 3, "a", 128);
    group_add(&mut fleet, 7, GroupKind::AntiAffinity, Policy::Flexible, FailureDomain::Host);
    instance_add(&mut fleet, 101, 8, 1);
    instance_add(&mut fleet, 102, 8, 2);
    instance_add(&mut fleet, 103, 8, 1);
    for member in [101, 102, 103] {
        member_add(&mut fleet, 7, member);
    }

    let plan = fleet.plan_repair(&RepairOptions::default());

    assert_eq!(plan.moves, vec![step(103, 1, 3)]);
    assert_eq!(plan.repaired, vec![GroupId(7)]);
    assert!(plan.unresolved.is_empty());
    assert!(plan.optimal);
}

#[test]
fn one_move_repairs_a_member_crowded_in_two_groups() {
    let mut fleet = Fleet::new();
    host_add(&mut fleet, 1, "a", 64);
    host_add(&mut fleet, 2, "b", 64);
    host_add(&mut fleet, 3, "c", 64);
    group_add(&mut fleet, 1, GroupKind::AntiAffinity, Policy::Flexible, FailureDomain::Host);
    group_add(&mut fleet, 2, GroupKind::AntiAffinity, Policy::Strict, FailureDomain::Rack);
    instance_add(&mut fleet, 101, 8, 1);
    instance_add(&mut fleet, 102, 8, 2);
    instance_add(&mut fleet, 103, 8, 1);
    member_add(&mut fleet, 1, 101);
    member_add(&mut fleet, 2, 101);
    member_add(&mut fleet, 1, 102);
    member_add(&mut fleet, 2, 102);
    member_add(&mut fleet, 1, 103);
    member_add(&mut fleet, 2, 103);

    let plan = fleet.plan_repair(&RepairOptions::default());

    // Host 3 is the only host (and rack) where 103 meets neither 101 nor 102.
    assert_eq!(plan.moves, vec![step(103, 1, 3)]);
    assert_eq!(plan.repaired, vec![GroupId(1), GroupId(2)]);
    assert!(plan.optimal);
}

#[test]
fn making_room_for_a_member_takes_a_second_move_first() {
    let mut fleet = Fleet::new();
    host_add(&mut fleet, 1, "a", 32);
    host_add(&mut fleet, 2, "a", 24);
    host_add(&mut fleet, 3, "a", 8);
    group_add(&mut fleet, 5, GroupKind::AntiAffinity, Policy::Flexible, FailureDomain::Host);
    instance_add(&mut fleet, 101, 16, 1);
    instance_add(&mut fleet, 102, 16, 1);
    // Hosts 1 and 2 are full; a member fits on host 2 once one of its small instances has
    // moved to host 3, which is too small for a member.
    instance_add(&mut fleet, 201, 8, 2);
    instance_add(&mut fleet, 202, 8, 2);
    member_add(&mut fleet, 5, 101);
    member_add(&mut fleet, 5, 102);

    let plan = fleet.plan_repair(&RepairOptions::default());

    assert_eq!(plan.moves.len(), 2, "{plan:?}");
    assert!(matches!(plan.moves[0], Move { instance: InstanceId(201 | 202), from: HostId(2), to: HostId(3) }));
    assert_eq!(plan.moves[1].to, HostId(2));
    assert_eq!(plan.repaired, vec![GroupId(5)]);
    assert!(plan.optimal);
}

#[test]
fn an_anchor_standing_alone_joins_the_others() {
    let mut fleet = Fleet::new();
    host_add(&mut fleet, 1, "a", 64);
    host_add(&mut fleet, 2, "b", 64);
    group_add(&mut fleet, 3, GroupKind::Affinity, Policy::Flexible, FailureDomain::Rack);
    instance_add(&mut fleet, 101, 8, 1);
    instance_add(&mut fleet, 102, 8, 2);
    instance_add(&mut fleet, 103, 8, 2);
    for member in [101, 102, 103] {
        member_add(&mut fleet, 3, member);
    }
    assert!(!fleet.group_compliance(GroupId(3)).expect("a known group").is_compliant());

    let plan = fleet.plan_repair(&RepairOptions::default());

    assert_eq!(plan.moves, vec![step(101, 1, 2)]);
    assert_eq!(plan.repaired, vec![GroupId(3)]);
    assert!(plan.optimal);
}

#[test]
fn an_anchor_joins_the_others_once_an_instance_has_made_room_for_it() {
    let mut fleet = Fleet::new();
    for id in 1..=4 {
        host_add(&mut fleet, id, "a", 32);
    }
    group_add(&mut fleet, 1, GroupKind::Affinity, Policy::Strict, FailureDomain::Host);
    // Host 1: members 102 and 103 and an unrelated 104 (28 of 32 GiB). Host 2: the anchor 105
    // and two unrelated instances (16 of 32 GiB), too little for both members.
    for (instance, memory, host) in [(102, 8, 1), (103, 12, 1), (104, 8, 1), (100, 4, 2), (101, 4, 2), (105, 8, 2)] {
        instance_add(&mut fleet, instance, memory, host);
    }
    for member in [105, 102, 103] {
        member_add(&mut fleet, 1, member);
    }

    let plan = fleet.plan_repair(&RepairOptions::default());

    // 104 makes room on host 1 (it fits on host 2, the first host by id), then the anchor
    // joins the members; moving the members to the anchor would take more.
    assert_eq!(plan.moves, vec![step(104, 1, 2), step(105, 2, 1)]);
    assert_eq!(plan.repaired, vec![GroupId(1)]);
    assert!(plan.optimal);
}

#[test]
fn a_compliant_fleet_needs_no_plan() {
    let mut fleet = Fleet::new();
    host_add(&mut fleet, 1, "a", 64);
    host_add(&mut fleet, 2, "a", 64);
    group_add(&mut fleet, 1, GroupKind::AntiAffinity, Policy::Strict, FailureDomain::Host);
    instance_add(&mut fleet, 101, 8, 1);
    instance_add(&mut fleet, 102, 8, 2);
    member_add(&mut fleet, 1, 101);
    member_add(&mut fleet, 1, 102);

    let plan = fleet.plan_repair(&RepairOptions::default());

    assert_eq!(plan, RepairPlan { moves: vec![], repaired: vec![], unresolved: vec![], optimal: true });
}

#[test]
fn a_member_no_host_can_take_is_reported_with_every_hosts_reason() {
    let mut fleet = Fleet::new();
    host_add(&mut fleet, 1, "a", 64);
    host_add(&mut fleet, 2, "a", 4);
    host_add(&mut fleet, 3, "a", 64);
    group_add(&mut fleet, 9, GroupKind::AntiAffinity, Policy::Flexible, FailureDomain::Host);
    instance_add(&mut fleet, 101, 8, 1);
    instance_add(&mut fleet, 102, 8, 1);
    member_add(&mut fleet, 9, 101);
    member_add(&mut fleet, 9, 102);
    // Host 3 would do, but a failed migration there rules it out for both members.
    let avoid = vec![(InstanceId(101), HostId(3)), (InstanceId(102), HostId(3))];

    let plan = fleet.plan_repair(&RepairOptions { avoid, ..RepairOptions::default() });

    assert!(plan.moves.is_empty());
    assert!(plan.repaired.is_empty());
    assert_eq!(plan.unresolved.len(), 1);
    assert_eq!(plan.unresolved[0].group, GroupId(9));
    assert_eq!(
        plan.unresolved[0].reason,
        "member 102 shares host 1 with member 101 that joined earlier (at most 1 per host); no host can take \
         member 102: 0 of 3 hosts: 2 were excluded by the request, 1 lacks memory"
    );
    assert!(plan.optimal, "no moves is the fewest for repairing nothing");
}

#[test]
fn members_that_cannot_move_while_they_migrate_make_a_group_unrepairable() {
    let mut fleet = Fleet::new();
    host_add(&mut fleet, 1, "a", 64);
    host_add(&mut fleet, 2, "a", 64);
    host_add(&mut fleet, 3, "a", 64);
    group_add(&mut fleet, 4, GroupKind::AntiAffinity, Policy::Flexible, FailureDomain::Host);
    instance_add(&mut fleet, 101, 8, 1);
    instance_add(&mut fleet, 102, 8, 2);
    member_add(&mut fleet, 4, 101);
    member_add(&mut fleet, 4, 102);
    fleet.migration_start(InstanceId(101), HostId(3)).expect("a migration");
    fleet.migration_start(InstanceId(102), HostId(3)).expect("a migration");

    let plan = fleet.plan_repair(&RepairOptions::default());

    assert!(plan.moves.is_empty());
    assert_eq!(plan.unresolved.len(), 1);
    assert_eq!(
        plan.unresolved[0].reason,
        "host 3 holds 2 members that cannot move while they migrate (101, 102), and at most 1 may share it"
    );
}

#[test]
fn only_the_groups_asked_for_are_repaired() {
    let mut fleet = Fleet::new();
    host_add(&mut fleet, 1, "a", 64);
    host_add(&mut fleet, 2, "a", 64);
    host_add(&mut fleet, 3, "a", 64);
    group_add(&mut fleet, 1, GroupKind::AntiAffinity, Policy::Flexible, FailureDomain::Host);
    group_add(&mut fleet, 2, GroupKind::AntiAffinity, Policy::Flexible, FailureDomain::Host);
    for (instance, host) in [(101, 1), (102, 1), (201, 2), (202, 2)] {
        instance_add(&mut fleet, instance, 8, host);
    }
    for (group, instance) in [(1, 101), (1, 102), (2, 201), (2, 202)] {
        member_add(&mut fleet, group, instance);
    }

    let options = RepairOptions { groups: Some(vec![GroupId(2), GroupId(8)]), ..RepairOptions::default() };
    let plan = fleet.plan_repair(&options);

    assert_eq!(plan.moves, vec![step(202, 2, 3)]);
    assert_eq!(plan.repaired, vec![GroupId(2)]);
    assert_eq!(plan.unresolved.len(), 1);
    assert_eq!(plan.unresolved[0].group, GroupId(8));
    assert_eq!(plan.unresolved[0].reason, "group 8 is not in the fleet");
}

// Properties.

/// Small worlds where collisions are common.
fn region() -> impl Strategy<Value = World> {
    crate::common::world(Shape {
        hosts: 2..=5,
        racks: 1..=3,
        instances: 2..=7,
        groups: 1..=3,
        offline: 0.05,
        migrating: 0.1,
        inactive: 1,
    })
}

#[derive(Clone, Debug)]
struct OptionsInput {
    groups: Option<Vec<Index>>,
    avoid: Vec<(Index, Index)>,
}

fn options_input() -> impl Strategy<Value = OptionsInput> {
    (
        prop::option::weighted(0.25, prop::collection::vec(any::<Index>(), 1..=2)),
        prop_oneof![3 => Just(Vec::new()), 1 => prop::collection::vec((any::<Index>(), any::<Index>()), 1..=2)],
    )
        .prop_map(|(groups, avoid)| OptionsInput { groups, avoid })
}

impl OptionsInput {
    fn resolve(&self, world: &World) -> RepairOptions {
        let groups = self.groups.as_ref().map(|picks| {
            picks.iter().map(|pick| world.groups[pick.index(world.groups.len())].id).collect::<Vec<GroupId>>()
        });
        let avoid = self
            .avoid
            .iter()
            .map(|(instance, host)| {
                (
                    world.instances[instance.index(world.instances.len())].id,
                    world.hosts[host.index(world.hosts.len())].id,
                )
            })
            .collect();
        RepairOptions { groups, avoid, ..RepairOptions::default() }
    }
}

/// The groups (indexes) the planner must look at: asked for and non-compliant at the start.
fn targets(world: &World, options: &RepairOptions) -> Vec<usize> {
    let start = world.positions();
    (0..world.groups.len())
        .filter(|&g| options.groups.as_ref().is_none_or(|asked| asked.contains(&world.groups[g].id)))
        .filter(|&g| !world.compliant(&start, &world.groups[g]))
        .collect()
}

/// The oracle: the fewest moves (at most `depth`) after which every group of `goal` is
/// compliant, every step following the contract, or `None`.
fn shortest(world: &World, options: &RepairOptions, goal: &[usize], depth: usize) -> Option<usize> {
    let start = world.positions();
    let baseline: Vec<Vec<bool>> = world.groups.iter().map(|group| world.flags(&start, group)).collect();
    let done = |positions: &Positions| goal.iter().all(|&g| world.compliant(positions, &world.groups[g]));
    if done(&start) {
        return Some(0);
    }
    let mut seen: HashSet<Positions> = HashSet::from([start.clone()]);
    let mut queue: VecDeque<(Positions, usize)> = VecDeque::from([(start, 0)]);
    while let Some((positions, moves)) = queue.pop_front() {
        if moves == depth {
            continue;
        }
        for (instance, spec) in world.instances.iter().enumerate() {
            let (Some(from), None) = positions[instance] else { continue };
            for to in 0..world.hosts.len() {
                let host = &world.hosts[to];
                if to == from
                    || host.state != HostState::Active
                    || options.avoid.contains(&(spec.id, host.id))
                    || !World::fits(spec.size, world.free(&positions, to))
                {
                    continue;
                }
                let mut next = positions.clone();
                next[instance].0 = Some(to);
                if seen.contains(&next) {
                    continue;
                }
                seen.insert(next.clone());
                let keeps = world.groups.iter().zip(&baseline).all(|(group, before)| {
                    let after = world.flags(&next, group);
                    before.iter().zip(&after).all(|(before, after)| !before || *after)
                });
                if !keeps {
                    continue;
                }
                if done(&next) {
                    return Some(moves + 1);
                }
                queue.push_back((next, moves + 1));
            }
        }
    }
    None
}

/// Replays a plan on the engine's own fleet, checking every rule of the contract at every
/// step, and its claims about the groups at the end.
fn assert_plan_is_valid(
    world: &World,
    options: &RepairOptions,
    plan: &RepairPlan,
    targets: &[usize],
) -> Result<(), TestCaseError> {
    let mut fleet = crate::common::fleet_of(world);
    let flags = |fleet: &Fleet, group: GroupId| -> Vec<bool> {
        let compliance = fleet.group_compliance(group).expect("a known group");
        compliance.members.iter().map(|member| member.breach.is_none()).collect()
    };
    let baseline: Vec<Vec<bool>> = world.groups.iter().map(|group| flags(&fleet, group.id)).collect();
    for (number, step) in plan.moves.iter().enumerate() {
        let instance = fleet.instance(step.instance).expect("a known instance");
        prop_assert_eq!(instance.host, Some(step.from), "move {} does not start where the instance is", number);
        prop_assert_eq!(instance.target, None, "move {} moves a migrating instance", number);
        prop_assert_ne!(step.from, step.to);
        prop_assert!(!options.avoid.contains(&(step.instance, step.to)), "move {} goes to an avoided host", number);
        let host = fleet.host(step.to).expect("a known host");
        prop_assert_eq!(host.state, HostState::Active, "move {} goes to an inactive host", number);
        prop_assert!(instance.size.fits_in(&host.free()), "move {} goes to a host without room", number);
        fleet.instance_move(step.instance, Some(step.to)).expect("a valid move");
        for (group, before) in world.groups.iter().zip(&baseline) {
            let after = flags(&fleet, group.id);
            let broken = before.iter().zip(&after).any(|(before, after)| *before && !*after);
            prop_assert!(!broken, "move {} makes a compliant member of group {} non-compliant", number, group.id);
        }
    }
    let mut expected: Vec<GroupId> = targets.iter().map(|&g| world.groups[g].id).collect();
    expected.sort();
    let mut partition: Vec<GroupId> =
        plan.repaired.iter().chain(plan.unresolved.iter().map(|u| &u.group)).copied().collect();
    partition.sort();
    prop_assert_eq!(partition, expected, "repaired and unresolved do not partition the targets");
    for group in &plan.repaired {
        prop_assert!(
            fleet.group_compliance(*group).expect("a known group").is_compliant(),
            "{} is not repaired",
            group
        );
    }
    for unresolved in &plan.unresolved {
        let compliant = fleet.group_compliance(unresolved.group).expect("a known group").is_compliant();
        prop_assert!(!compliant, "{} is compliant but reported unresolved", unresolved.group);
        prop_assert!(!unresolved.reason.is_empty());
    }
    Ok(())
}

proptest! {
    #![proptest_config(crate::common::config("repair", 256))]

    #[test]
    fn every_plan_follows_the_contract_step_by_step(world in region(), input in options_input()) {
        let options = input.resolve(&world);
        let plan = crate::common::fleet_of(&world).plan_repair(&options);
        assert_plan_is_valid(&world, &options, &plan, &targets(&world, &options))?;
    }

    #[test]
    fn a_full_repair_is_found_with_the_fewest_moves(world in region(), input in options_input()) {
        let options = input.resolve(&world);
        let fleet = crate::common::fleet_of(&world);
        let plan = fleet.plan_repair(&options);
        let targets = targets(&world, &options);
        assert_plan_is_valid(&world, &options, &plan, &targets)?;
        prop_assert_eq!(&fleet.plan_repair(&options), &plan, "the same question got another plan");
        match shortest(&world, &options, &targets, ORACLE_DEPTH) {
            Some(moves) => {
                prop_assert_eq!(plan.repaired.len(), targets.len(), "the oracle repairs everything in {} moves", moves);
                prop_assert_eq!(plan.moves.len(), moves, "the oracle repairs everything in {} moves", moves);
                prop_assert!(plan.optimal);
            }
            None => {
                let all = plan.repaired.len() == targets.len();
                prop_assert!(!(all && plan.moves.len() <= ORACLE_DEPTH), "the oracle finds no full repair in 4 moves");
            }
        }
    }

    /// Whenever the planner claims a plan is minimal for what it repairs, nothing shorter
    /// repairs the same groups.
    #[test]
    fn a_plan_claimed_optimal_is_the_shortest_for_what_it_repairs(world in region(), input in options_input()) {
        let options = input.resolve(&world);
        let plan = crate::common::fleet_of(&world).plan_repair(&options);
        if plan.optimal && plan.moves.len() <= ORACLE_DEPTH {
            let goal: Vec<usize> = plan.repaired.iter().map(|&id| world.group_index(id)).collect();
            prop_assert_eq!(shortest(&world, &options, &goal, plan.moves.len()), Some(plan.moves.len()));
        }
    }
}
