//! Host choice: where a new (or moving) instance should run, and why every other host was not
//! chosen.

use std::fmt;

use crate::compliance::{Breach, Tracker};
use crate::fleet::{DomainSet, Fleet, FleetError};
use crate::model::{Dimension, FailureDomain, GroupId, GroupKind, HostId, HostState, InstanceId, Policy, Resources};

/// What to place: an instance of `size` that belongs (or will belong) to `groups`.
#[derive(Clone, Copy, Debug)]
pub struct PlacementRequest<'a> {
    pub size: Resources,
    /// Every group the instance will be a member of once placed.
    pub groups: &'a [GroupId],
    /// When an existing instance is being re-placed: it does not count against itself in its
    /// groups. Its current hosts are not avoided unless listed in `avoid`.
    pub moving: Option<InstanceId>,
    /// Hosts the caller rules out (for example the host a migration leaves).
    pub avoid: &'a [HostId],
    /// Treat flexible groups as strict: refuse rather than break any group.
    pub compliant_only: bool,
}

impl<'a> PlacementRequest<'a> {
    /// A request for a new instance of `size` into `groups`.
    pub fn new(size: Resources, groups: &'a [GroupId]) -> PlacementRequest<'a> {
        PlacementRequest { size, groups, moving: None, avoid: &[], compliant_only: false }
    }
}

/// The engine's choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub host: HostId,
    /// The flexible groups in which the instance will be non-compliant on this host, and why.
    /// Empty unless every feasible host breaks some flexible group.
    pub breaches: Vec<(GroupId, Breach)>,
}

/// Why one host cannot take the instance. A host is counted under the first reason that
/// applies, in the order of this enum's variants (and of the request's groups).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Exclusion {
    /// The request ruled it out.
    Avoided,
    /// The host does not take new placements in this state.
    NotActive(HostState),
    /// The host lacks free capacity in this dimension.
    Lacks(Dimension),
    /// The host's failure domain already holds as many members of the group as it may.
    AntiAffinity { group: GroupId, domain: FailureDomain, max_per_domain: u32 },
    /// The host is outside the failure domain of the group's members.
    Affinity { group: GroupId, domain: FailureDomain },
}

impl Exclusion {
    /// A phrase for `count` hosts excluded for this reason, e.g. "12 lack memory".
    pub fn describe(&self, count: usize) -> String {
        self.describe_with(count, &|group| format!("group {group}"))
    }

    /// Like [`Exclusion::describe`], naming groups with `name` (for example by label).
    pub fn describe_with(&self, count: usize, name: &dyn Fn(GroupId) -> String) -> String {
        let one = count == 1;
        let verb = |singular: &'static str, plural: &'static str| if one { singular } else { plural };
        let tail = match self {
            Exclusion::Avoided => format!("{} excluded by the request", verb("was", "were")),
            Exclusion::NotActive(HostState::Draining) => format!("{} draining", verb("is", "are")),
            Exclusion::NotActive(HostState::Maintenance) => format!("{} in maintenance", verb("is", "are")),
            Exclusion::NotActive(HostState::Failed) => format!("{} failed", verb("has", "have")),
            Exclusion::NotActive(HostState::Active) => format!("{} active", verb("is", "are")),
            Exclusion::Lacks(dimension) => {
                let what = match dimension {
                    Dimension::Vcpus => "vCPUs",
                    Dimension::Memory => "memory",
                    Dimension::Disk => "disk",
                    Dimension::Gpus => "GPUs",
                };
                format!("{} {what}", verb("lacks", "lack"))
            }
            Exclusion::AntiAffinity { group, domain, max_per_domain } => {
                let members = if *max_per_domain == 1 {
                    format!("a member of {}", name(*group))
                } else {
                    format!("{max_per_domain} members of {}", name(*group))
                };
                match domain {
                    FailureDomain::Host => format!("{} {members}", verb("holds", "hold")),
                    FailureDomain::Rack => format!("{} in a rack holding {members}", verb("is", "are")),
                }
            }
            Exclusion::Affinity { group, domain } => match domain {
                FailureDomain::Host => format!("{} not the host of the members of {}", verb("is", "are"), name(*group)),
                FailureDomain::Rack => {
                    format!("{} not in the rack of the members of {}", verb("is", "are"), name(*group))
                }
            },
        };
        format!("{count} {tail}")
    }

    fn rank(&self, groups: &[GroupId]) -> (u8, usize) {
        match self {
            Exclusion::Avoided => (0, 0),
            Exclusion::NotActive(state) => (1, *state as usize),
            Exclusion::Lacks(dimension) => (2, *dimension as usize),
            Exclusion::AntiAffinity { group, .. } | Exclusion::Affinity { group, .. } => {
                (3, groups.iter().position(|g| g == group).unwrap_or(usize::MAX))
            }
        }
    }
}

/// No host can take the instance: how many hosts were considered and how many were excluded
/// for each reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoHost {
    pub hosts: usize,
    /// Counts per reason, in the order of [`Exclusion`]'s variants and of the request's groups.
    pub exclusions: Vec<(Exclusion, usize)>,
}

impl NoHost {
    /// The summary, naming groups with `name`: `0 of 40 hosts: 12 lack memory, 28 hold a
    /// member of group 7`.
    pub fn render(&self, name: &dyn Fn(GroupId) -> String) -> String {
        if self.hosts == 0 {
            return "0 of 0 hosts: the region has no hosts".to_string();
        }
        let reasons: Vec<String> = self.exclusions.iter().map(|(e, n)| e.describe_with(*n, name)).collect();
        format!("0 of {} hosts: {}", self.hosts, reasons.join(", "))
    }
}

impl fmt::Display for NoHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&|group| format!("group {group}")))
    }
}

/// Why [`Fleet::choose_host`] gave no host.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChooseError {
    #[error(transparent)]
    Fleet(#[from] FleetError),
    #[error("{0}")]
    NoHost(NoHost),
}

/// Every host's verdict for one request, for explanations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The host the engine would choose, as [`Fleet::choose_host`] does.
    pub chosen: Option<Placement>,
    /// Every host in preference order: the number of flexible groups it breaks, or why it is
    /// excluded.
    pub hosts: Vec<(HostId, Result<u32, Exclusion>)>,
}

/// The request's groups, prepared: each one's members as they stand, without the moving
/// instance.
struct Context<'r> {
    request: &'r PlacementRequest<'r>,
    groups: Vec<GroupContext>,
}

struct GroupContext {
    id: GroupId,
    kind: GroupKind,
    domain: FailureDomain,
    max_per_domain: u32,
    hard: bool,
    tracker: Tracker,
}

impl Fleet {
    /// Chooses a host for an instance.
    ///
    /// Capacity first, then every group's constraint: strict groups exclude hosts, flexible
    /// groups are minimised. See the crate documentation for the order of preference.
    pub fn choose_host(&self, request: &PlacementRequest<'_>) -> Result<Placement, ChooseError> {
        let context = self.context(request)?;
        let best = match self.candidates(&context) {
            Candidates::Only(hosts) => self.best_of(&context, hosts.into_iter()),
            Candidates::Ordered { zero_cost_subset } => {
                let early = zero_cost_subset
                    .and_then(|subset| self.best_of(&context, subset.into_iter()).filter(|(_, cost)| *cost == 0));
                match early {
                    Some(found) => Some(found),
                    None => {
                        let ordered = self.order.iter().map(|key| key.index);
                        self.best_of(&context, ordered)
                    }
                }
            }
        };
        match best {
            Some((index, _)) => Ok(self.placement_at(&context, index)),
            None => Err(ChooseError::NoHost(self.no_host(&context))),
        }
    }

    /// Judges one host for a request: the number of flexible groups the instance would break
    /// there, or why the host is excluded. The committing transaction uses it to re-validate a
    /// choice made on a snapshot that may have aged.
    pub fn judge_host(
        &self,
        request: &PlacementRequest<'_>,
        host: HostId,
    ) -> Result<Result<u32, Exclusion>, FleetError> {
        let context = self.context(request)?;
        let index = self.host_position(host)?;
        Ok(self.evaluate(&context, index))
    }

    /// Every host's verdict for a request, and the choice.
    pub fn explain(&self, request: &PlacementRequest<'_>) -> Result<Explanation, FleetError> {
        let context = self.context(request)?;
        let mut hosts: Vec<(usize, Result<u32, Exclusion>)> =
            (0..self.hosts.len()).map(|index| (index, self.evaluate(&context, index))).collect();
        hosts.sort_by_key(|(index, _)| self.hosts[*index].order_key());
        let chosen = match self.choose_host(request) {
            Ok(placement) => Some(placement),
            Err(ChooseError::NoHost(_)) => None,
            Err(ChooseError::Fleet(error)) => return Err(error),
        };
        Ok(Explanation { chosen, hosts: hosts.into_iter().map(|(index, v)| (self.hosts[index].id, v)).collect() })
    }

    fn context<'r>(&self, request: &'r PlacementRequest<'r>) -> Result<Context<'r>, FleetError> {
        let mut groups = Vec::with_capacity(request.groups.len());
        for &id in request.groups {
            let entry = self.groups.get(&id).ok_or(FleetError::UnknownGroup(id))?;
            let spec = &entry.spec;
            let mut tracker = Tracker::new(spec.kind, spec.max_per_domain);
            for &member in &entry.members {
                if Some(member) == request.moving {
                    continue;
                }
                let instance = self.instances.get(&member).ok_or(FleetError::UnknownInstance(member))?;
                tracker.admit(member, self.instance_domains(instance, spec.domain));
            }
            groups.push(GroupContext {
                id,
                kind: spec.kind,
                domain: spec.domain,
                max_per_domain: spec.max_per_domain,
                hard: spec.policy == Policy::Strict || request.compliant_only,
                tracker,
            });
        }
        Ok(Context { request, groups })
    }

    /// Judges one host: the number of flexible groups the instance would be non-compliant in
    /// there, or the first reason the host is excluded.
    fn evaluate(&self, context: &Context<'_>, index: usize) -> Result<u32, Exclusion> {
        let host = &self.hosts[index];
        if context.request.avoid.contains(&host.id) {
            return Err(Exclusion::Avoided);
        }
        if host.state != HostState::Active {
            return Err(Exclusion::NotActive(host.state));
        }
        if let Some(dimension) = context.request.size.shortage(&host.free()) {
            return Err(Exclusion::Lacks(dimension));
        }
        let mut cost = 0;
        for group in &context.groups {
            if group.tracker.breached_at(self.domain_key(index, group.domain)) {
                if group.hard {
                    return Err(match group.kind {
                        GroupKind::AntiAffinity => Exclusion::AntiAffinity {
                            group: group.id,
                            domain: group.domain,
                            max_per_domain: group.max_per_domain.max(1),
                        },
                        GroupKind::Affinity => Exclusion::Affinity { group: group.id, domain: group.domain },
                    });
                }
                cost += 1;
            }
        }
        Ok(cost)
    }

    /// The hosts worth looking at. Affinity narrows the search: a hard affinity group with
    /// placed members allows only the hosts of its members' domain; a flexible one is satisfied
    /// only there, so those hosts are searched first for a host that breaks nothing.
    fn candidates(&self, context: &Context<'_>) -> Candidates {
        let mut hard: Option<Vec<usize>> = None;
        let mut soft: Option<Vec<usize>> = None;
        for group in &context.groups {
            let Some(anchor) = group.tracker.anchor_domains() else { continue };
            let hosts = self.hosts_in(anchor, group.domain);
            let slot = if group.hard { &mut hard } else { &mut soft };
            *slot = Some(match slot.take() {
                None => hosts,
                Some(previous) => previous.into_iter().filter(|h| hosts.contains(h)).collect(),
            });
        }
        let by_preference = |mut hosts: Vec<usize>| {
            hosts.sort_by_key(|&index| self.hosts[index].order_key());
            hosts
        };
        match hard {
            Some(hosts) => Candidates::Only(by_preference(hosts)),
            None => Candidates::Ordered { zero_cost_subset: soft.map(by_preference) },
        }
    }

    fn hosts_in(&self, domains: &DomainSet, domain: FailureDomain) -> Vec<usize> {
        let mut hosts = Vec::new();
        for &key in domains.as_slice() {
            match domain {
                FailureDomain::Host => hosts.push(key),
                FailureDomain::Rack => hosts.extend_from_slice(&self.rack_hosts[key]),
            }
        }
        hosts
    }

    /// The best of `hosts`, which come in preference order: the first host of lowest cost.
    /// Stops at the first host that breaks nothing.
    fn best_of(&self, context: &Context<'_>, hosts: impl Iterator<Item = usize>) -> Option<(usize, u32)> {
        let mut best: Option<(usize, u32)> = None;
        for index in hosts {
            if let Ok(cost) = self.evaluate(context, index) {
                if cost == 0 {
                    return Some((index, 0));
                }
                if best.is_none_or(|(_, best_cost)| cost < best_cost) {
                    best = Some((index, cost));
                }
            }
        }
        best
    }

    fn placement_at(&self, context: &Context<'_>, index: usize) -> Placement {
        let breaches = context
            .groups
            .iter()
            .filter_map(|group| {
                let raw = group.tracker.breach_at(self.domain_key(index, group.domain))?;
                Some((group.id, self.breach_view(raw, group.domain)))
            })
            .collect();
        Placement { host: self.hosts[index].id, breaches }
    }

    fn no_host(&self, context: &Context<'_>) -> NoHost {
        let mut exclusions: Vec<(Exclusion, usize)> = Vec::new();
        for index in 0..self.hosts.len() {
            if let Err(exclusion) = self.evaluate(context, index) {
                match exclusions.iter_mut().find(|(e, _)| *e == exclusion) {
                    Some((_, count)) => *count += 1,
                    None => exclusions.push((exclusion, 1)),
                }
            }
        }
        exclusions.sort_by_key(|(exclusion, _)| exclusion.rank(context.request.groups));
        NoHost { hosts: self.hosts.len(), exclusions }
    }
}

enum Candidates {
    /// Only these hosts may take the instance, in preference order.
    Only(Vec<usize>),
    /// Any active host, in preference order; `zero_cost_subset` holds every host that could
    /// break no group, when affinity narrows it down.
    Ordered { zero_cost_subset: Option<Vec<usize>> },
}
