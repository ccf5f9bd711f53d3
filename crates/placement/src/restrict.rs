//! Restricted copies of a fleet: every host as it stands, but only the instances and groups a
//! question is about, so that a planner can change a working copy without cloning every
//! instance of the region.

use std::collections::HashSet;

use crate::fleet::Fleet;
use crate::model::{GroupId, HostSpec, HostState, InstanceId, InstanceSpec, Resources};

impl Fleet {
    /// A copy of the fleet that keeps every host (same ids, racks, capacities and states, added
    /// in the same order), the groups in `groups` with their members in join order, and the
    /// instances in `instances`. Each host also holds one background instance that uses what
    /// the instances left out use there, so every host's free capacity is the same as here.
    ///
    /// Architecture invariant: for any request whose groups are among `groups`,
    /// [`Fleet::choose_host`] on the copy gives the answer it gives here, and keeps doing so
    /// as the kept instances move on both: host choice depends only on the hosts, their free
    /// capacity and the members of the request's groups. Background instances have ids that
    /// are not in this fleet and belong to no group.
    pub(crate) fn restricted(&self, groups: &[GroupId], instances: &[InstanceId]) -> Fleet {
        let mut copy = Fleet::new();
        // Hosts join out of service and take their state once their usage is in: an active
        // host's usage is indexed, and indexing it once is cheaper than at every instance.
        for host in &self.hosts {
            let spec = HostSpec {
                id: host.id,
                rack: self.racks[host.rack].clone(),
                capacity: host.capacity,
                state: HostState::Maintenance,
            };
            copy.host_add(spec).expect("host ids of a fleet are distinct");
        }

        let mut kept_groups: Vec<GroupId> = Vec::new();
        for group in groups {
            if self.groups.contains_key(group) && !kept_groups.contains(group) {
                kept_groups.push(*group);
            }
        }
        let mut kept: Vec<InstanceId> = Vec::new();
        let mut seen: HashSet<InstanceId> = HashSet::new();
        let listed = kept_groups.iter().flat_map(|group| self.groups[group].members.iter()).chain(instances);
        for &id in listed {
            if self.instances.contains_key(&id) && seen.insert(id) {
                kept.push(id);
            }
        }

        let mut kept_usage = vec![Resources::ZERO; self.hosts.len()];
        for &id in &kept {
            let entry = &self.instances[&id];
            for index in entry.host.into_iter().chain(entry.target) {
                kept_usage[index] = kept_usage[index].saturating_add(&entry.size);
            }
            let spec = InstanceSpec {
                id,
                size: entry.size,
                host: entry.host.map(|index| self.hosts[index].id),
                target: entry.target.map(|index| self.hosts[index].id),
            };
            copy.instance_add(spec).expect("a kept instance is valid where it stands");
        }

        let mut next_id = i64::MIN;
        for (index, host) in self.hosts.iter().enumerate() {
            let background = host.used.saturating_sub(&kept_usage[index]);
            if background == Resources::ZERO {
                continue;
            }
            while self.instances.contains_key(&InstanceId(next_id)) {
                next_id += 1;
            }
            let spec = InstanceSpec { id: InstanceId(next_id), size: background, host: Some(host.id), target: None };
            copy.instance_add(spec).expect("a background instance has a fresh id");
            next_id += 1;
        }

        for host in &self.hosts {
            copy.host_set_state(host.id, host.state).expect("a host of the copy");
        }

        for group in kept_groups {
            let entry = &self.groups[&group];
            copy.group_add(entry.spec.clone()).expect("kept group ids are distinct");
            for member in &entry.members {
                // A member listed twice (a broken state that `check` reports) joins once.
                if seen.contains(member) && !copy.instance_groups(*member).contains(&group) {
                    copy.member_add(group, *member).expect("a kept member joins once");
                }
            }
        }
        copy
    }
}
