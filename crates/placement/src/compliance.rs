//! Compliance: whether each member of a group stands where the group's constraint wants it,
//! and whether an instance may join a group where it stands.

use std::collections::HashMap;
use std::fmt;

use crate::fleet::{DomainSet, Fleet, FleetError};
use crate::model::{Domain, FailureDomain, GroupId, GroupKind, InstanceId, Policy};

/// The compliance of a group and of each of its members, in join order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupCompliance {
    pub group: GroupId,
    pub members: Vec<MemberCompliance>,
}

impl GroupCompliance {
    /// A group is compliant when every member is.
    pub fn is_compliant(&self) -> bool {
        self.members.iter().all(|m| m.breach.is_none())
    }

    pub fn member(&self, instance: InstanceId) -> Option<&MemberCompliance> {
        self.members.iter().find(|m| m.instance == instance)
    }
}

/// One member's compliance: `breach` says why it is not compliant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberCompliance {
    pub instance: InstanceId,
    pub breach: Option<Breach>,
}

/// Why a member is not compliant. The member is always the later joiner of the collision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Breach {
    /// Anti-affinity: the member shares `domain` with `earlier` members that joined before it,
    /// and at most `max_per_domain` members may share a domain.
    Crowded { domain: Domain, earlier: Vec<InstanceId>, max_per_domain: u32 },
    /// Affinity: the member is not in the failure domain of `anchor`, the group's first placed
    /// member.
    Apart { anchor: InstanceId, anchor_domain: Domain },
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Breach::Crowded { domain, earlier, max_per_domain } => {
                let kind = match domain {
                    Domain::Host(_) => "host",
                    Domain::Rack(_) => "rack",
                };
                let earlier: Vec<String> = earlier.iter().map(|i| i.to_string()).collect();
                let noun = if earlier.len() == 1 { "member" } else { "members" };
                write!(
                    f,
                    "shares {domain} with {noun} {} that joined earlier (at most {max_per_domain} per {kind})",
                    earlier.join(", ")
                )
            }
            Breach::Apart { anchor, anchor_domain } => {
                write!(f, "is not on {anchor_domain} with member {anchor}, the group's first member")
            }
        }
    }
}

/// What happens if an instance joins a group where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinAssessment {
    /// It joins and is compliant: the group's compliance does not change.
    Compliant,
    /// It may join (the group is flexible) but becomes non-compliant for this reason.
    NonCompliant(Breach),
    /// It may not join: the group is strict (or the caller asked for compliance only) and the
    /// instance would be non-compliant for this reason.
    Refused(Breach),
}

impl Fleet {
    /// The compliance of a group and of each of its members.
    pub fn group_compliance(&self, group: GroupId) -> Result<GroupCompliance, FleetError> {
        let entry = self.groups.get(&group).ok_or(FleetError::UnknownGroup(group))?;
        let mut tracker = Tracker::new(entry.spec.kind, entry.spec.max_per_domain);
        let mut members = Vec::with_capacity(entry.members.len());
        for &instance in &entry.members {
            let domains = self.member_domains(instance, entry.spec.domain)?;
            let breach = tracker.admit(instance, domains).map(|b| self.breach_view(b, entry.spec.domain));
            members.push(MemberCompliance { instance, breach });
        }
        Ok(GroupCompliance { group, members })
    }

    /// Whether `instance` may join `group` without moving. A strict group (or any group when
    /// `compliant_only` is set) refuses an instance that would be non-compliant; a flexible one
    /// accepts it and reports the breach. Under the later-joiner rule, the joiner is the only
    /// member whose compliance can change.
    pub fn assess_join(
        &self,
        group: GroupId,
        instance: InstanceId,
        compliant_only: bool,
    ) -> Result<JoinAssessment, FleetError> {
        let entry = self.groups.get(&group).ok_or(FleetError::UnknownGroup(group))?;
        if entry.members.contains(&instance) {
            return Err(FleetError::AlreadyMember { group, instance });
        }
        let spec = &entry.spec;
        let mut tracker = Tracker::new(spec.kind, spec.max_per_domain);
        for &member in &entry.members {
            let domains = self.member_domains(member, spec.domain)?;
            tracker.admit(member, domains);
        }
        let domains = self.member_domains(instance, spec.domain)?;
        Ok(match tracker.admit(instance, domains) {
            None => JoinAssessment::Compliant,
            Some(breach) => {
                let breach = self.breach_view(breach, spec.domain);
                if spec.policy == Policy::Strict || compliant_only {
                    JoinAssessment::Refused(breach)
                } else {
                    JoinAssessment::NonCompliant(breach)
                }
            }
        })
    }

    fn member_domains(&self, instance: InstanceId, domain: FailureDomain) -> Result<DomainSet, FleetError> {
        let entry = self.instances.get(&instance).ok_or(FleetError::UnknownInstance(instance))?;
        Ok(self.instance_domains(entry, domain))
    }

    pub(crate) fn breach_view(&self, breach: RawBreach, domain: FailureDomain) -> Breach {
        match breach {
            RawBreach::Crowded { key, earlier, max_per_domain } => {
                Breach::Crowded { domain: self.domain_from_key(key, domain), earlier, max_per_domain }
            }
            RawBreach::Apart { anchor, anchor_key } => {
                Breach::Apart { anchor, anchor_domain: self.domain_from_key(anchor_key, domain) }
            }
        }
    }
}

/// A breach in terms of domain keys, before it is turned into names for a report.
#[derive(Clone, Debug)]
pub(crate) enum RawBreach {
    Crowded { key: usize, earlier: Vec<InstanceId>, max_per_domain: u32 },
    Apart { anchor: InstanceId, anchor_key: usize },
}

/// Walks a group's members in join order and decides each one's compliance from those that
/// joined before it. This is the single definition of compliance in the engine.
pub(crate) struct Tracker {
    kind: GroupKind,
    max_per_domain: u32,
    /// Anti-affinity: the members seen so far in each domain, in join order.
    occupants: HashMap<usize, Vec<InstanceId>>,
    /// Affinity: the first placed member and its domains.
    anchor: Option<(InstanceId, DomainSet)>,
}

impl Tracker {
    pub(crate) fn new(kind: GroupKind, max_per_domain: u32) -> Tracker {
        Tracker { kind, max_per_domain: max_per_domain.max(1), occupants: HashMap::new(), anchor: None }
    }

    /// The breach a new member standing in the single domain `key` would have, without
    /// admitting it.
    pub(crate) fn breach_at(&self, key: usize) -> Option<RawBreach> {
        match self.kind {
            GroupKind::AntiAffinity => {
                let earlier = self.occupants.get(&key)?;
                (earlier.len() >= self.max_per_domain as usize).then(|| RawBreach::Crowded {
                    key,
                    earlier: earlier.clone(),
                    max_per_domain: self.max_per_domain,
                })
            }
            GroupKind::Affinity => {
                let (anchor, anchor_domains) = self.anchor.as_ref()?;
                (!anchor_domains.contains(key))
                    .then(|| RawBreach::Apart { anchor: *anchor, anchor_key: anchor_domains.as_slice()[0] })
            }
        }
    }

    /// Whether a new member standing in the single domain `key` would be non-compliant: the
    /// allocation-free form of [`Tracker::breach_at`], for the hot path of host choice.
    pub(crate) fn breached_at(&self, key: usize) -> bool {
        match self.kind {
            GroupKind::AntiAffinity => {
                self.occupants.get(&key).is_some_and(|earlier| earlier.len() >= self.max_per_domain as usize)
            }
            GroupKind::Affinity => self.anchor.as_ref().is_some_and(|(_, domains)| !domains.contains(key)),
        }
    }

    /// Affinity: the domain keys of the group's anchor, if it has one.
    pub(crate) fn anchor_domains(&self) -> Option<&DomainSet> {
        self.anchor.as_ref().map(|(_, domains)| domains)
    }

    /// Admits the next member, standing in `domains`, and returns its breach if any.
    pub(crate) fn admit(&mut self, instance: InstanceId, domains: DomainSet) -> Option<RawBreach> {
        match self.kind {
            GroupKind::AntiAffinity => {
                let mut breach = None;
                for &key in domains.as_slice() {
                    let earlier = self.occupants.get(&key).map(Vec::as_slice).unwrap_or_default();
                    if breach.is_none() && earlier.len() >= self.max_per_domain as usize {
                        breach = Some(RawBreach::Crowded {
                            key,
                            earlier: earlier.to_vec(),
                            max_per_domain: self.max_per_domain,
                        });
                    }
                }
                for &key in domains.as_slice() {
                    self.occupants.entry(key).or_default().push(instance);
                }
                breach
            }
            GroupKind::Affinity => {
                if domains.is_empty() {
                    return None;
                }
                match &self.anchor {
                    None => {
                        self.anchor = Some((instance, domains));
                        None
                    }
                    Some((anchor, anchor_domains)) => {
                        if domains.is_subset_of(anchor_domains) {
                            None
                        } else {
                            Some(RawBreach::Apart { anchor: *anchor, anchor_key: anchor_domains.as_slice()[0] })
                        }
                    }
                }
            }
        }
    }
}
