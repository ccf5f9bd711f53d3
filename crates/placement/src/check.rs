//! `check()`: every invariant of a fleet state, validated from scratch.

use std::collections::HashMap;
use std::fmt;

use crate::compliance::Breach;
use crate::fleet::Fleet;
use crate::model::{Dimension, GroupId, HostId, InstanceId, Policy, Resources};

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// The instances on a host (and migrating to it) need more than it has.
    Overcommitted { host: HostId, dimension: Dimension, used: Resources, capacity: Resources },
    /// The usage the snapshot tracks differs from the sum of the instances' sizes.
    UsageDrift { host: HostId, tracked: Resources, actual: Resources },
    /// A member of a strict group is not compliant.
    StrictGroupBroken { group: GroupId, instance: InstanceId, breach: Breach },
    /// A group lists a member that is not in the fleet.
    UnknownMember { group: GroupId, instance: InstanceId },
    /// A group lists the same member twice.
    DuplicateMember { group: GroupId, instance: InstanceId },
    /// A group and an instance disagree about the instance's membership.
    MembershipMismatch { group: GroupId, instance: InstanceId },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Overcommitted { host, dimension, used, capacity } => {
                write!(f, "host {host} is overcommitted in {dimension:?}: uses {used:?} of {capacity:?}")
            }
            Violation::UsageDrift { host, tracked, actual } => {
                write!(f, "host {host} tracks usage {tracked:?} but its instances use {actual:?}")
            }
            Violation::StrictGroupBroken { group, instance, breach } => {
                write!(f, "strict group {group} is broken: member {instance} {breach}")
            }
            Violation::UnknownMember { group, instance } => {
                write!(f, "group {group} lists member {instance}, which is not in the fleet")
            }
            Violation::DuplicateMember { group, instance } => write!(f, "group {group} lists member {instance} twice"),
            Violation::MembershipMismatch { group, instance } => {
                write!(f, "group {group} and instance {instance} disagree about the membership")
            }
        }
    }
}

impl Fleet {
    /// Validates every invariant: no host's capacity is exceeded and its tracked usage is the
    /// sum of its instances; every strict group is compliant; memberships agree on both sides.
    pub fn check(&self) -> Result<(), Vec<Violation>> {
        let mut violations = Vec::new();

        let mut actual = vec![Resources::ZERO; self.hosts.len()];
        for instance in self.instances.values() {
            for index in instance.host.into_iter().chain(instance.target) {
                actual[index] = actual[index].saturating_add(&instance.size);
            }
        }
        for (host, actual) in self.hosts.iter().zip(actual) {
            if host.used != actual {
                violations.push(Violation::UsageDrift { host: host.id, tracked: host.used, actual });
            }
            if let Some(dimension) = actual.shortage(&host.capacity) {
                violations.push(Violation::Overcommitted {
                    host: host.id,
                    dimension,
                    used: actual,
                    capacity: host.capacity,
                });
            }
        }

        let mut group_ids: Vec<&GroupId> = self.groups.keys().collect();
        group_ids.sort();
        for id in group_ids {
            let group = &self.groups[id];
            let mut seen: HashMap<InstanceId, ()> = HashMap::new();
            let mut members_ok = true;
            for &member in &group.members {
                if seen.insert(member, ()).is_some() {
                    violations.push(Violation::DuplicateMember { group: *id, instance: member });
                    members_ok = false;
                }
                match self.instances.get(&member) {
                    None => {
                        violations.push(Violation::UnknownMember { group: *id, instance: member });
                        members_ok = false;
                    }
                    Some(instance) if !instance.groups.contains(id) => {
                        violations.push(Violation::MembershipMismatch { group: *id, instance: member });
                    }
                    Some(_) => {}
                }
            }
            if members_ok
                && group.spec.policy == Policy::Strict
                && let Ok(compliance) = self.group_compliance(*id)
            {
                for member in compliance.members {
                    if let Some(breach) = member.breach {
                        violations.push(Violation::StrictGroupBroken { group: *id, instance: member.instance, breach });
                    }
                }
            }
        }

        let mut instance_ids: Vec<&InstanceId> = self.instances.keys().collect();
        instance_ids.sort();
        for id in instance_ids {
            for group in &self.instances[id].groups {
                let listed = self.groups.get(group).is_some_and(|g| g.members.contains(id));
                if !listed {
                    violations.push(Violation::MembershipMismatch { group: *group, instance: *id });
                }
            }
        }

        if violations.is_empty() { Ok(()) } else { Err(violations) }
    }
}
