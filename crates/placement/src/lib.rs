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

mod check;
mod choose;
mod compliance;
mod fleet;
mod model;

pub use check::Violation;
pub use choose::{ChooseError, Exclusion, Explanation, NoHost, Placement, PlacementRequest};
pub use compliance::{Breach, GroupCompliance, JoinAssessment, MemberCompliance};
pub use fleet::{Fleet, FleetError, HostView};
pub use model::{
    Dimension, Domain, FailureDomain, GroupId, GroupKind, GroupSpec, HostId, HostSpec, HostState, InstanceId,
    InstanceSpec, Policy, Resources,
};
