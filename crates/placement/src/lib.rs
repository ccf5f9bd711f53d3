//! berth's placement engine: a pure, deterministic model of one region of a fleet, its
//! placement groups, and the decisions made over them.
//!
//! The engine does no IO, reads no clock and draws no random numbers: the same [`Fleet`] and the
//! same request always give the same answer. The caller (berth's `core` crate) builds a
//! snapshot from the store, asks the engine, and re-validates the answer inside the transaction
//! that commits it.
//!
//! # The model
//!
//! - A host has a capacity ([`Resources`]: vCPUs, memory, disk, GPUs), a rack label and a
//!   [`HostState`]. Its failure domains are itself and its rack.
//! - An instance has a size and runs on a host (or is offline). While it migrates it also holds
//!   capacity on its target host and counts in the target's failure domains, so that nothing
//!   lands in a place the migration is about to take.
//! - A group has a [`GroupKind`] (anti-affinity or affinity), a [`Policy`] (strict or
//!   flexible), a [`FailureDomain`] (host or rack) and, for anti-affinity, at most
//!   `max_per_domain` members per domain. Its members are kept in join order.
//!
//! # Compliance
//!
//! Members are judged in join order; when two members collide, the later joiner is the
//! non-compliant one.
//!
//! - Anti-affinity: a member is non-compliant when one of its domains already holds
//!   `max_per_domain` members that joined before it.
//! - Affinity: the first member with a host is the anchor; a later member is non-compliant
//!   when it stands outside the anchor's domain.
//! - A member without a host (offline) is compliant and constrains no one.
//!
//! A group is compliant when every member is. [`Fleet::group_compliance`] gives the verdict
//! with a [`Breach`] for each non-compliant member, [`Fleet::assess_join`] says whether an
//! already-placed instance may join a group where it stands, and [`Fleet::check`] validates
//! every invariant of a state.
//!
//! # Choosing a host
//!
//! [`Fleet::choose_host`] judges each host in three steps:
//!
//! 1. The host must not be ruled out by the request, must be `active`, and must have free
//!    vCPUs, memory, disk and GPUs for the instance (checked in that order).
//! 2. Every strict group of the request (and every flexible one when the request asks for
//!    compliance only) excludes the hosts where the instance would be non-compliant.
//! 3. Every other (flexible) group where the instance would be non-compliant adds one to the
//!    host's cost.
//!
//! Among the hosts left, the winner is the one with, in this order of precedence:
//!
//! 1. the lowest cost (fewest flexible groups broken; zero whenever possible);
//! 2. the most free memory (spreading load, which also spreads groups);
//! 3. the most free vCPUs;
//! 4. the lowest host id.
//!
//! Active hosts are kept in an index sorted by keys 2–4, so a choice walks hosts from the best
//! and stops at the first that breaks nothing: a placement costs a few host evaluations, not a
//! scan of the fleet. Affinity narrows the walk to the hosts of the anchor's domain.
//!
//! When no host qualifies, [`NoHost`] counts, per reason, how many hosts were excluded; each
//! host is counted under the first reason that applies, in the order above:
//! `0 of 40 hosts: 12 lack memory, 28 hold a member of group 7`.
//!
//! # Repair planning
//!
//! [`Fleet::plan_repair`] plans the migrations ([`Move`]s) that make non-compliant groups
//! compliant again: the groups of [`RepairOptions::groups`], or every group that is not
//! compliant. Every plan follows these rules:
//!
//! - A move relocates one instance that runs on a host and has no migration in flight (offline
//!   and migrating instances never move) to another host that is `active`, is not ruled out
//!   for that instance by [`RepairOptions::avoid`], and has free capacity for the whole
//!   instance at that point of the plan. Moves apply in sequence: a move frees its source and
//!   takes its target when it completes.
//! - After every move, every member of every group that was compliant before the plan is
//!   still compliant. So a group compliant before the plan stays compliant (no collateral
//!   damage, strict or flexible), no group being repaired gets a member non-compliant that was
//!   compliant before, and execution never passes through a worse state. This also holds for
//!   non-compliant groups that were not asked for (possible only when `groups` is given).
//! - After the whole plan, every group of [`RepairPlan::repaired`] is compliant. `repaired`
//!   and the groups of [`RepairPlan::unresolved`] are exactly the groups asked for that were
//!   not compliant at the start (groups already compliant are in neither), except that a
//!   group asked for that is not in the fleet is reported `unresolved` too.
//!
//! The plan is as short as the planner can prove, in three stages:
//!
//! 1. A lower bound: per anti-affinity group, the members beyond `max_per_domain` summed over
//!    domains; per affinity group, the members that must join the anchor (the first placed
//!    member), or one move of the anchor plus the members outside the domain it would join.
//!    A move fixes at most one unit in each group the moved instance belongs to, so the bound
//!    for several groups is the largest of theirs or their sum divided by the most of these
//!    groups one instance belongs to, whichever is larger.
//! 2. A greedy pass repairs the groups in increasing id order. Each move keeps every member
//!    that is compliant compliant and makes the group being repaired strictly better, verified
//!    against full group compliance on a working copy (an affinity anchor that moves is judged
//!    where it stands in join order, not as a last joiner). If the greedy plan meets the bound
//!    it is optimal.
//! 3. Otherwise an exact best-first search (A*) over move sequences, whose successors are
//!    every move of every movable instance to every host (so chains that make room, or that
//!    move a member of another group out of the way, are found), guided by the bound, which
//!    no move lowers by more than one. It either finds a shorter plan (then proven shortest),
//!    proves there is none, or runs out of [`RepairOptions::search_budget`], counted in
//!    candidate moves examined.
//!
//! Groups that can never be repaired under the rules are reported at once: members that
//! cannot move (they are migrating) standing where no compliant state can have them, or more
//! placed anti-affinity members than the domains that can hold them (the domains with an
//! active host or a member now) allow. When the greedy pass cannot repair every other group,
//! the search first looks for a plan that repairs them all (with at most half the budget); if
//! it finds none, the plan repairs the groups the greedy pass repaired, or more when the search
//! saw a state that repairs all of those and others, and is then shortened for that set. Each
//! group left over comes with its reason, typically the member no host can take and the
//! [`NoHost`] summary of that attempt. [`RepairPlan::optimal`] says whether the number of
//! moves is proven minimal for repairing `repaired`.
//!
//! Ties are broken deterministically:
//!
//! - Anti-affinity: the greedy pass works on the domain of the latest non-compliant member and
//!   moves its later joiners first (the latest first), falling back to its earlier members
//!   (the latest first).
//! - Affinity: when no other member stands with the anchor and at least two others share one
//!   domain, the anchor joins the domain holding most of them (ties: the domain whose member
//!   joined first); otherwise, and afterwards, the members outside the anchor's domain join it,
//!   in join order.
//! - A member goes where [`Fleet::choose_host`] puts it (its groups, `moving` set to it, its
//!   host and its avoided hosts in `avoid`, with `compliant_only`, then without), or else to
//!   the first of 32 feasible hosts in preference order that passes verification.
//! - The search expands the state with the lowest moves-plus-bound first, then the one with
//!   most moves, then the first generated; it generates moves of the members of the groups
//!   being repaired before other instances, each by instance id, and hosts by id. Among plans
//!   of the same length, the first found in that order wins.
//!
//! # Evacuation
//!
//! [`Fleet::plan_evacuation`] re-places every instance of a host (running there and not
//! migrating), whatever the host's state, one after another on a working copy: largest first
//! (most memory, then lowest instance id), each where [`Fleet::choose_host`] puts it with all
//! its groups, `moving` set to it and the host avoided. An instance no host can take is
//! reported stuck with that attempt's [`NoHost`].
//!
//! # Headroom
//!
//! [`Fleet::headroom`] counts how many more members of a size a group can take while staying
//! compliant (members added one at a time where `choose_host` puts them with
//! `compliant_only`, up to an optional limit on the group's size), now and after losing its
//! worst host or rack, where the group's members on the lost hosts are re-placed first. Only
//! the group's members are re-placed: other workloads on a lost host are not modelled. The
//! count is computed in closed form (placements of one size in one group never compete except
//! through each host's room and each domain's quota). Only the hosts and racks that hold a
//! member (or, for an affinity group without a placed member, the host its first new member
//! would take) are failed on a working copy; losing any other one only takes its own share
//! away, which is subtracted directly.

mod check;
mod choose;
mod compliance;
mod evacuate;
mod fleet;
mod headroom;
mod model;
mod repair;
mod restrict;

pub use check::Violation;
pub use choose::{ChooseError, Exclusion, Explanation, NoHost, Placement, PlacementRequest};
pub use compliance::{Breach, GroupCompliance, JoinAssessment, MemberCompliance};
pub use evacuate::Evacuation;
pub use fleet::{Fleet, FleetError, HostView};
pub use headroom::Headroom;
pub use model::{
    Dimension, Domain, FailureDomain, GroupId, GroupKind, GroupSpec, HostId, HostSpec, HostState, InstanceId,
    InstanceSpec, Policy, Resources,
};
pub use repair::{Move, RepairOptions, RepairPlan, Unrepairable};
