//! The vocabulary of the engine: typed ids, resources, hosts, instances and groups.

use std::fmt;

/// A host, by the id the store gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostId(pub i64);

/// An instance, by the id the store gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(pub i64);

/// A placement group, by the id the store gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub i64);

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An amount of every resource a host offers and an instance consumes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Resources {
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_mib: u64,
    pub gpus: u32,
}

/// One dimension of [`Resources`], used to say which one ran short.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    Vcpus,
    Memory,
    Disk,
    Gpus,
}

impl Resources {
    pub const ZERO: Resources = Resources { vcpus: 0, memory_mib: 0, disk_mib: 0, gpus: 0 };

    /// The first dimension, in the order vCPUs, memory, disk, GPUs, in which `self` does not fit
    /// into `free`; `None` when it fits.
    pub fn shortage(&self, free: &Resources) -> Option<Dimension> {
        if self.vcpus > free.vcpus {
            Some(Dimension::Vcpus)
        } else if self.memory_mib > free.memory_mib {
            Some(Dimension::Memory)
        } else if self.disk_mib > free.disk_mib {
            Some(Dimension::Disk)
        } else if self.gpus > free.gpus {
            Some(Dimension::Gpus)
        } else {
            None
        }
    }

    /// Whether `self` fits into `other` in every dimension.
    pub fn fits_in(&self, other: &Resources) -> bool {
        self.shortage(other).is_none()
    }

    pub fn saturating_sub(&self, other: &Resources) -> Resources {
        Resources {
            vcpus: self.vcpus.saturating_sub(other.vcpus),
            memory_mib: self.memory_mib.saturating_sub(other.memory_mib),
            disk_mib: self.disk_mib.saturating_sub(other.disk_mib),
            gpus: self.gpus.saturating_sub(other.gpus),
        }
    }

    pub fn saturating_add(&self, other: &Resources) -> Resources {
        Resources {
            vcpus: self.vcpus.saturating_add(other.vcpus),
            memory_mib: self.memory_mib.saturating_add(other.memory_mib),
            disk_mib: self.disk_mib.saturating_add(other.disk_mib),
            gpus: self.gpus.saturating_add(other.gpus),
        }
    }
}

/// The lifecycle state of a host. Only an active host takes new placements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostState {
    Active,
    Draining,
    Maintenance,
    Failed,
}

impl HostState {
    pub fn as_str(&self) -> &'static str {
        match self {
            HostState::Active => "active",
            HostState::Draining => "draining",
            HostState::Maintenance => "maintenance",
            HostState::Failed => "failed",
        }
    }
}

/// Whether a group keeps its members apart or together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupKind {
    AntiAffinity,
    Affinity,
}

/// Whether a group's constraint is a hard rule or a preference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Placements that would break the group are refused.
    Strict,
    /// Placements that would break the group are allowed, minimised, and reported.
    Flexible,
}

/// The failure domain a group's constraint is evaluated over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureDomain {
    Host,
    Rack,
}

impl FailureDomain {
    pub fn as_str(&self) -> &'static str {
        match self {
            FailureDomain::Host => "host",
            FailureDomain::Rack => "rack",
        }
    }
}

/// A host as the caller describes it to the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSpec {
    pub id: HostId,
    /// The rack label: hosts with the same label share a rack failure domain.
    pub rack: String,
    pub capacity: Resources,
    pub state: HostState,
}

/// An instance as the caller describes it to the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSpec {
    pub id: InstanceId,
    pub size: Resources,
    /// The host it runs on; `None` while it is offline.
    pub host: Option<HostId>,
    /// The host an in-flight migration is moving it to. Capacity is held on both hosts, and the
    /// instance counts in the failure domains of both, until the migration finishes.
    pub target: Option<HostId>,
}

/// A placement group as the caller describes it to the engine. Members are added separately,
/// in join order, with [`crate::Fleet::member_add`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSpec {
    pub id: GroupId,
    pub kind: GroupKind,
    pub policy: Policy,
    pub domain: FailureDomain,
    /// For anti-affinity: at most this many members in one failure domain (at least 1).
    /// Ignored for affinity.
    pub max_per_domain: u32,
}

/// A failure domain of the fleet, as reported in explanations.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Domain {
    Host(HostId),
    Rack(String),
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Domain::Host(host) => write!(f, "host {host}"),
            Domain::Rack(rack) => write!(f, "rack {rack}"),
        }
    }
}
