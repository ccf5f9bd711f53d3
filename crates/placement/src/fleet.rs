//! The fleet snapshot: hosts, instances and groups with the indexes that make choices fast.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use crate::model::{
    Domain, FailureDomain, GroupId, GroupSpec, HostId, HostSpec, HostState, InstanceId, InstanceSpec, Resources,
};

/// A snapshot of one region of a fleet: its hosts, the instances on them and the placement
/// groups they belong to.
///
/// Mutations record facts (an instance was placed, a member joined); they never refuse a fact
/// for breaking a constraint, because a snapshot must be able to represent any stored state,
/// including a broken one, so that [`Fleet::check`] can report it. Choosing what to do is the
/// job of [`Fleet::choose_host`] and [`Fleet::assess_join`].
#[derive(Clone, Debug, Default)]
pub struct Fleet {
    pub(crate) hosts: Vec<HostEntry>,
    host_index: HashMap<HostId, usize>,
    pub(crate) racks: Vec<String>,
    rack_index: HashMap<String, usize>,
    pub(crate) rack_hosts: Vec<Vec<usize>>,
    pub(crate) instances: HashMap<InstanceId, InstanceEntry>,
    pub(crate) groups: HashMap<GroupId, GroupEntry>,
    /// Active hosts in preference order (see the crate docs): the first feasible host of this
    /// order that breaks no flexible group is the engine's choice.
    pub(crate) order: BTreeSet<OrderKey>,
}

/// Why a mutation of a [`Fleet`] could not be applied: the fact refers to something the
/// snapshot does not hold, or contradicts the snapshot's structure.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FleetError {
    #[error("host {0} is already in the fleet")]
    DuplicateHost(HostId),
    #[error("host {0} is not in the fleet")]
    UnknownHost(HostId),
    #[error("instance {0} is already in the fleet")]
    DuplicateInstance(InstanceId),
    #[error("instance {0} is not in the fleet")]
    UnknownInstance(InstanceId),
    #[error("group {0} is already in the fleet")]
    DuplicateGroup(GroupId),
    #[error("group {0} is not in the fleet")]
    UnknownGroup(GroupId),
    #[error("instance {instance} is already a member of group {group}")]
    AlreadyMember { group: GroupId, instance: InstanceId },
    #[error("instance {instance} is not a member of group {group}")]
    NotMember { group: GroupId, instance: InstanceId },
    #[error("instance {0} has no migration in flight")]
    NoMigration(InstanceId),
    #[error("instance {0} already has a migration in flight")]
    MigrationInFlight(InstanceId),
    #[error("instance {0} cannot migrate to the host it runs on")]
    TargetIsHost(InstanceId),
    #[error("instance {0} is offline and cannot migrate")]
    Offline(InstanceId),
}

/// A read-only view of one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostView<'a> {
    pub id: HostId,
    pub rack: &'a str,
    pub capacity: Resources,
    pub used: Resources,
    pub state: HostState,
}

impl HostView<'_> {
    pub fn free(&self) -> Resources {
        self.capacity.saturating_sub(&self.used)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct HostEntry {
    pub(crate) id: HostId,
    pub(crate) index: usize,
    pub(crate) rack: usize,
    pub(crate) capacity: Resources,
    pub(crate) used: Resources,
    pub(crate) state: HostState,
}

impl HostEntry {
    pub(crate) fn free(&self) -> Resources {
        self.capacity.saturating_sub(&self.used)
    }

    pub(crate) fn order_key(&self) -> OrderKey {
        let free = self.free();
        OrderKey {
            free_memory: Reverse(free.memory_mib),
            free_vcpus: Reverse(free.vcpus),
            host: self.id,
            index: self.index,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct InstanceEntry {
    pub(crate) size: Resources,
    pub(crate) host: Option<usize>,
    pub(crate) target: Option<usize>,
    /// The groups this instance is a member of, in the order it joined them.
    pub(crate) groups: Vec<GroupId>,
}

#[derive(Clone, Debug)]
pub(crate) struct GroupEntry {
    pub(crate) spec: GroupSpec,
    /// Members in join order: the earlier joiner wins a collision.
    pub(crate) members: Vec<InstanceId>,
}

/// The preference order of hosts: most free memory first, then most free vCPUs, then the
/// lowest host id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct OrderKey {
    pub(crate) free_memory: Reverse<u64>,
    pub(crate) free_vcpus: Reverse<u32>,
    pub(crate) host: HostId,
    /// The host's position in the fleet; host ids are unique, so it never decides the order.
    pub(crate) index: usize,
}

impl Fleet {
    pub fn new() -> Fleet {
        Fleet::default()
    }

    pub fn host_add(&mut self, spec: HostSpec) -> Result<(), FleetError> {
        if self.host_index.contains_key(&spec.id) {
            return Err(FleetError::DuplicateHost(spec.id));
        }
        let rack = match self.rack_index.get(&spec.rack) {
            Some(&rack) => rack,
            None => {
                self.racks.push(spec.rack.clone());
                self.rack_hosts.push(Vec::new());
                self.rack_index.insert(spec.rack, self.racks.len() - 1);
                self.racks.len() - 1
            }
        };
        let index = self.hosts.len();
        let entry =
            HostEntry { id: spec.id, index, rack, capacity: spec.capacity, used: Resources::ZERO, state: spec.state };
        if entry.state == HostState::Active {
            self.order.insert(entry.order_key());
        }
        self.hosts.push(entry);
        self.host_index.insert(spec.id, index);
        self.rack_hosts[rack].push(index);
        Ok(())
    }

    pub fn host_set_state(&mut self, id: HostId, state: HostState) -> Result<(), FleetError> {
        let index = self.host_position(id)?;
        let host = &mut self.hosts[index];
        if host.state == HostState::Active {
            self.order.remove(&host.order_key());
        }
        host.state = state;
        if state == HostState::Active {
            self.order.insert(host.order_key());
        }
        Ok(())
    }

    pub fn group_add(&mut self, spec: GroupSpec) -> Result<(), FleetError> {
        if self.groups.contains_key(&spec.id) {
            return Err(FleetError::DuplicateGroup(spec.id));
        }
        self.groups.insert(spec.id, GroupEntry { spec, members: Vec::new() });
        Ok(())
    }

    /// Removes a group; its members stay in the fleet and simply leave it.
    pub fn group_remove(&mut self, id: GroupId) -> Result<(), FleetError> {
        let group = self.groups.remove(&id).ok_or(FleetError::UnknownGroup(id))?;
        for member in group.members {
            if let Some(instance) = self.instances.get_mut(&member) {
                instance.groups.retain(|g| *g != id);
            }
        }
        Ok(())
    }

    /// Adds an instance where it stands: on its host (and its migration target), holding their
    /// capacity. It joins no group; see [`Fleet::member_add`].
    pub fn instance_add(&mut self, spec: InstanceSpec) -> Result<(), FleetError> {
        if self.instances.contains_key(&spec.id) {
            return Err(FleetError::DuplicateInstance(spec.id));
        }
        let host = spec.host.map(|h| self.host_position(h)).transpose()?;
        let target = spec.target.map(|h| self.host_position(h)).transpose()?;
        if target.is_some() && target == host {
            return Err(FleetError::TargetIsHost(spec.id));
        }
        if target.is_some() && host.is_none() {
            return Err(FleetError::Offline(spec.id));
        }
        for index in host.into_iter().chain(target) {
            self.usage_add(index, &spec.size);
        }
        self.instances.insert(spec.id, InstanceEntry { size: spec.size, host, target, groups: Vec::new() });
        Ok(())
    }

    /// Removes an instance: it releases its hosts' capacity and leaves every group.
    pub fn instance_remove(&mut self, id: InstanceId) -> Result<(), FleetError> {
        let instance = self.instances.remove(&id).ok_or(FleetError::UnknownInstance(id))?;
        for index in instance.host.into_iter().chain(instance.target) {
            self.usage_release(index, &instance.size);
        }
        for group in instance.groups {
            if let Some(group) = self.groups.get_mut(&group) {
                group.members.retain(|m| *m != id);
            }
        }
        Ok(())
    }

    /// Puts an instance on a host at once (or takes it offline with `None`), cancelling any
    /// migration in flight.
    pub fn instance_move(&mut self, id: InstanceId, host: Option<HostId>) -> Result<(), FleetError> {
        let new_host = host.map(|h| self.host_position(h)).transpose()?;
        let instance = self.instances.get_mut(&id).ok_or(FleetError::UnknownInstance(id))?;
        let size = instance.size;
        let released: Vec<usize> = instance.host.take().into_iter().chain(instance.target.take()).collect();
        instance.host = new_host;
        for index in released {
            self.usage_release(index, &size);
        }
        if let Some(index) = new_host {
            self.usage_add(index, &size);
        }
        Ok(())
    }

    /// Starts a migration: the target's capacity is held until the migration finishes or is
    /// cancelled.
    pub fn migration_start(&mut self, id: InstanceId, target: HostId) -> Result<(), FleetError> {
        let target = self.host_position(target)?;
        let instance = self.instances.get_mut(&id).ok_or(FleetError::UnknownInstance(id))?;
        if instance.target.is_some() {
            return Err(FleetError::MigrationInFlight(id));
        }
        match instance.host {
            None => return Err(FleetError::Offline(id)),
            Some(host) if host == target => return Err(FleetError::TargetIsHost(id)),
            Some(_) => {}
        }
        instance.target = Some(target);
        let size = instance.size;
        self.usage_add(target, &size);
        Ok(())
    }

    /// Finishes a migration: the instance now runs on the target and the source is released.
    pub fn migration_finish(&mut self, id: InstanceId) -> Result<(), FleetError> {
        let instance = self.instances.get_mut(&id).ok_or(FleetError::UnknownInstance(id))?;
        let target = instance.target.take().ok_or(FleetError::NoMigration(id))?;
        let source = instance.host.replace(target);
        let size = instance.size;
        if let Some(source) = source {
            self.usage_release(source, &size);
        }
        Ok(())
    }

    /// Cancels a migration: the target's capacity is released and the instance stays put.
    pub fn migration_cancel(&mut self, id: InstanceId) -> Result<(), FleetError> {
        let instance = self.instances.get_mut(&id).ok_or(FleetError::UnknownInstance(id))?;
        let target = instance.target.take().ok_or(FleetError::NoMigration(id))?;
        let size = instance.size;
        self.usage_release(target, &size);
        Ok(())
    }

    /// Records that an instance joined a group, after every member already there.
    pub fn member_add(&mut self, group: GroupId, instance: InstanceId) -> Result<(), FleetError> {
        let entry = self.instances.get_mut(&instance).ok_or(FleetError::UnknownInstance(instance))?;
        let group_entry = self.groups.get_mut(&group).ok_or(FleetError::UnknownGroup(group))?;
        if entry.groups.contains(&group) {
            return Err(FleetError::AlreadyMember { group, instance });
        }
        entry.groups.push(group);
        group_entry.members.push(instance);
        Ok(())
    }

    pub fn member_remove(&mut self, group: GroupId, instance: InstanceId) -> Result<(), FleetError> {
        let entry = self.instances.get_mut(&instance).ok_or(FleetError::UnknownInstance(instance))?;
        let group_entry = self.groups.get_mut(&group).ok_or(FleetError::UnknownGroup(group))?;
        if !entry.groups.contains(&group) {
            return Err(FleetError::NotMember { group, instance });
        }
        entry.groups.retain(|g| *g != group);
        group_entry.members.retain(|m| *m != instance);
        Ok(())
    }

    pub fn host(&self, id: HostId) -> Option<HostView<'_>> {
        self.host_index.get(&id).map(|&index| self.host_view(index))
    }

    /// Every host, in the order they were added.
    pub fn hosts(&self) -> impl Iterator<Item = HostView<'_>> + '_ {
        (0..self.hosts.len()).map(|index| self.host_view(index))
    }

    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    pub fn instance(&self, id: InstanceId) -> Option<InstanceSpec> {
        self.instances.get(&id).map(|entry| InstanceSpec {
            id,
            size: entry.size,
            host: entry.host.map(|index| self.hosts[index].id),
            target: entry.target.map(|index| self.hosts[index].id),
        })
    }

    pub fn instance_count(&self) -> usize {
        self.instances.len()
    }

    /// The groups an instance belongs to, in the order it joined them.
    pub fn instance_groups(&self, id: InstanceId) -> &[GroupId] {
        self.instances.get(&id).map(|entry| entry.groups.as_slice()).unwrap_or_default()
    }

    pub fn group(&self, id: GroupId) -> Option<&GroupSpec> {
        self.groups.get(&id).map(|entry| &entry.spec)
    }

    /// A group's members in join order.
    pub fn group_members(&self, id: GroupId) -> &[InstanceId] {
        self.groups.get(&id).map(|entry| entry.members.as_slice()).unwrap_or_default()
    }

    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// The failure domain of `host` for a group evaluated over `domain`.
    pub fn domain_of(&self, host: HostId, domain: FailureDomain) -> Option<Domain> {
        let index = *self.host_index.get(&host)?;
        Some(self.domain_at(index, domain))
    }

    pub(crate) fn host_position(&self, id: HostId) -> Result<usize, FleetError> {
        self.host_index.get(&id).copied().ok_or(FleetError::UnknownHost(id))
    }

    pub(crate) fn host_view(&self, index: usize) -> HostView<'_> {
        let host = &self.hosts[index];
        HostView {
            id: host.id,
            rack: &self.racks[host.rack],
            capacity: host.capacity,
            used: host.used,
            state: host.state,
        }
    }

    /// The key of `index`'s failure domain: the host index for host domains, the rack index
    /// for rack domains.
    pub(crate) fn domain_key(&self, index: usize, domain: FailureDomain) -> usize {
        match domain {
            FailureDomain::Host => index,
            FailureDomain::Rack => self.hosts[index].rack,
        }
    }

    pub(crate) fn domain_from_key(&self, key: usize, domain: FailureDomain) -> Domain {
        match domain {
            FailureDomain::Host => Domain::Host(self.hosts[key].id),
            FailureDomain::Rack => Domain::Rack(self.racks[key].clone()),
        }
    }

    pub(crate) fn domain_at(&self, index: usize, domain: FailureDomain) -> Domain {
        self.domain_from_key(self.domain_key(index, domain), domain)
    }

    /// The failure-domain keys an instance occupies: those of its host and of its migration
    /// target, without repeats.
    pub(crate) fn instance_domains(&self, entry: &InstanceEntry, domain: FailureDomain) -> DomainSet {
        let mut set = DomainSet::default();
        for index in entry.host.into_iter().chain(entry.target) {
            set.insert(self.domain_key(index, domain));
        }
        set
    }

    fn usage_add(&mut self, index: usize, size: &Resources) {
        self.usage_update(index, |used| *used = used.saturating_add(size));
    }

    fn usage_release(&mut self, index: usize, size: &Resources) {
        self.usage_update(index, |used| *used = used.saturating_sub(size));
    }

    fn usage_update(&mut self, index: usize, change: impl FnOnce(&mut Resources)) {
        let host = &mut self.hosts[index];
        let active = host.state == HostState::Active;
        if active {
            self.order.remove(&host.order_key());
        }
        change(&mut host.used);
        if active {
            self.order.insert(host.order_key());
        }
    }
}

/// At most two failure-domain keys: an instance occupies its host's domain and, while it
/// migrates, its target's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DomainSet {
    keys: [usize; 2],
    len: u8,
}

impl DomainSet {
    pub(crate) fn insert(&mut self, key: usize) {
        if !self.contains(key) {
            self.keys[usize::from(self.len)] = key;
            self.len += 1;
        }
    }

    pub(crate) fn contains(&self, key: usize) -> bool {
        self.as_slice().contains(&key)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn as_slice(&self) -> &[usize] {
        &self.keys[..usize::from(self.len)]
    }

    pub(crate) fn is_subset_of(&self, other: &DomainSet) -> bool {
        self.as_slice().iter().all(|key| other.contains(*key))
    }
}
