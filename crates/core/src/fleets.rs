//! Engine fleets built from the store: the cached snapshot of each region that host choice
//! reads, and the small snapshots that judge compliance and re-validate a change inside its
//! transaction.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use placement::{ChooseError, Fleet, FleetError, GroupSpec, HostSpec, InstanceSpec, Placement, PlacementRequest};
use store::{Db, HostRow, MemberRow};

use crate::convert;
use crate::error::{Error, Result};
use crate::model::*;

/// Where an instance stands, as the store has it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Position {
    pub(crate) instance: InstanceId,
    pub(crate) size: Resources,
    pub(crate) host: Option<HostId>,
    pub(crate) target: Option<HostId>,
}

impl Position {
    pub(crate) fn of_member(member: &MemberRow) -> Position {
        // Sizes do not matter for compliance; capacity is checked by the store's conditional
        // update, not by these snapshots.
        Position {
            instance: InstanceId(member.instance_id),
            size: Resources::ZERO,
            host: member.host_id.map(HostId),
            target: member.target_host_id.map(HostId),
        }
    }
}

/// Builds an engine fleet from rows.
///
/// `hosts` are the hosts of the snapshot. An instance that stands on none of them (it lives in
/// another region) is left out, with its memberships; an instance migrating into the snapshot
/// from elsewhere stands on its target. Rack labels are qualified by region, so that racks of
/// the same name in two regions are two failure domains.
pub(crate) fn build_fleet(
    hosts: &[HostRow],
    positions: &[Position],
    groups: &[Group],
    members: &[MemberRow],
) -> Result<Fleet> {
    let mut fleet = Fleet::new();
    let mut present = HashSet::new();
    for row in hosts {
        let host = convert::host(row)?;
        fleet
            .host_add(HostSpec {
                id: host.id,
                rack: format!("{}/{}", host.region, host.rack),
                capacity: host.capacity,
                state: host.state,
            })
            .map_err(engine)?;
        present.insert(host.id);
    }
    let mut included = HashSet::new();
    for position in positions {
        if included.contains(&position.instance) {
            continue;
        }
        let host = position.host.filter(|h| present.contains(h));
        let target = position.target.filter(|h| present.contains(h));
        let (host, target) = match (host, target) {
            (Some(host), target) => (Some(host), target),
            (None, Some(target)) => (Some(target), None),
            (None, None) if position.host.is_none() && position.target.is_none() => (None, None),
            (None, None) => continue,
        };
        fleet
            .instance_add(InstanceSpec { id: position.instance, size: position.size, host, target })
            .map_err(engine)?;
        included.insert(position.instance);
    }
    for group in groups {
        fleet.group_add(group_spec(group)).map_err(engine)?;
    }
    for member in members {
        let instance = InstanceId(member.instance_id);
        if included.contains(&instance) && fleet.group(GroupId(member.group_id)).is_some() {
            fleet.member_add(GroupId(member.group_id), instance).map_err(engine)?;
        }
    }
    Ok(fleet)
}

pub(crate) fn group_spec(group: &Group) -> GroupSpec {
    GroupSpec {
        id: group.id,
        kind: group.kind,
        policy: group.policy,
        domain: group.domain,
        max_per_domain: group.max_per_domain,
    }
}

/// A fleet built from the store contradicts itself: a bug, reported without detail to callers.
pub(crate) fn engine(error: FleetError) -> Error {
    Error::Internal(format!("inconsistent fleet snapshot: {error}"))
}

/// The members of `groups` and the hosts they stand on, as a fleet: enough to judge the
/// groups' compliance, or whether one more member may join.
pub(crate) async fn groups_fleet(
    db: &mut Db<'_>,
    groups: &[Group],
    extra_hosts: &[HostId],
) -> Result<(Fleet, Vec<MemberRow>)> {
    let snapshot = groups_snapshot(db, groups, extra_hosts).await?;
    Ok((snapshot.fleet, snapshot.members))
}

/// [`groups_fleet`], with the rows it was built from.
pub(crate) struct GroupsSnapshot {
    pub(crate) fleet: Fleet,
    /// The groups' members, in join order per group.
    pub(crate) members: Vec<MemberRow>,
    /// The hosts the members stand on, and the extra hosts asked for.
    pub(crate) hosts: Vec<HostRow>,
}

impl GroupsSnapshot {
    /// How many members `group` has.
    pub(crate) fn member_count(&self, group: GroupId) -> usize {
        self.members.iter().filter(|m| m.group_id == group.0).count()
    }
}

/// [`groups_fleet`], keeping the rows.
pub(crate) async fn groups_snapshot(
    db: &mut Db<'_>,
    groups: &[Group],
    extra_hosts: &[HostId],
) -> Result<GroupsSnapshot> {
    let ids: Vec<i64> = groups.iter().map(|g| g.id.0).collect();
    let members = db.system().members_of_groups(&ids).await?;
    let mut host_ids: Vec<i64> = members.iter().flat_map(|m| m.host_id.into_iter().chain(m.target_host_id)).collect();
    host_ids.extend(extra_hosts.iter().map(|h| h.0));
    host_ids.sort_unstable();
    host_ids.dedup();
    let hosts = db.hosts_by_id(&host_ids).await?;
    let positions: Vec<Position> = members.iter().map(Position::of_member).collect();
    let fleet = build_fleet(&hosts, &positions, groups, &members)?;
    Ok(GroupsSnapshot { fleet, members, hosts })
}

/// The cached fleet of each region that host choice reads.
///
/// The cache is advisory: a choice made on it is re-validated in the transaction that commits
/// it, and a stale entry costs a retry, never a violation. Each change is applied to the cache
/// while its transaction still holds its locks, just before it commits; a change that does not
/// apply cleanly, or whose commit fails, drops the entry, and the next choice reloads it.
///
/// On a database other processes share (PostgreSQL), their changes do not reach this cache:
/// an entry expires after [`SHARED_TTL`], and every choice first compares the cached members
/// of the groups it is about with the stored ones (see [`Fleets::region_fresh_for`]).
#[derive(Debug, Default)]
pub(crate) struct Fleets {
    regions: Mutex<HashMap<RegionId, Cached>>,
    /// The hosts that changes of this process chose and have not yet committed or rolled
    /// back, per region, with how many changes hold each (see [`Fleets::choose_spread`]).
    chosen: Mutex<HashMap<RegionId, HashMap<HostId, usize>>>,
}

/// A host chosen by a change that has not ended: while it is held, concurrent choices in the
/// region prefer other hosts. Dropping it, when the change commits or rolls back, lets the
/// host go.
#[derive(Debug)]
pub(crate) struct Chosen<'a> {
    fleets: &'a Fleets,
    region: RegionId,
    host: HostId,
}

impl Drop for Chosen<'_> {
    fn drop(&mut self) {
        let mut chosen = lock(&self.fleets.chosen);
        if let Some(hosts) = chosen.get_mut(&self.region) {
            if let Some(count) = hosts.get_mut(&self.host) {
                *count -= 1;
                if *count == 0 {
                    hosts.remove(&self.host);
                }
            }
            if hosts.is_empty() {
                chosen.remove(&self.region);
            }
        }
    }
}

#[derive(Debug)]
struct Cached {
    fleet: Arc<Mutex<Fleet>>,
    loaded: Instant,
}

/// How long a cached fleet serves when other processes change the same database.
pub(crate) const SHARED_TTL: Duration = Duration::from_secs(5);

/// Locks a mutex even if a panic elsewhere poisoned it: the engine's operations leave a fleet
/// whole, and a poisoned cache entry is dropped by the next failed change anyway.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Fleets {
    /// The region's fleet, loaded through `db` when it is not cached (or, on a shared
    /// database, when the cached one is older than [`SHARED_TTL`]).
    ///
    /// Callers hold the write transaction of the change they are making, so that the fleet
    /// they choose from includes every change this process committed before theirs: each
    /// change is applied to the cache before its transaction commits.
    ///
    /// The load reads hosts, instances and memberships in several statements of the caller's
    /// transaction. On SQLite that transaction holds the only write lock, so nothing commits
    /// between them. On PostgreSQL (read committed) a change may commit between two of them,
    /// and the fleet may then mix two instants; it is not judged as a whole, though:
    /// [`build_fleet`] leaves out rows that refer to rows it did not read, and every choice made
    /// from the fleet is re-validated against locked rows before it commits, so such a fleet
    /// costs a retry at worst. Checks that judge stored state read one [`store::Snapshot`].
    pub(crate) async fn region(&self, db: &mut Db<'_>, region: &RegionId) -> Result<Arc<Mutex<Fleet>>> {
        let shared = db.backend().shared();
        if let Some(cached) = lock(&self.regions).get(region)
            && (!shared || cached.loaded.elapsed() < SHARED_TTL)
        {
            return Ok(cached.fleet.clone());
        }
        let fleet = Arc::new(Mutex::new(load_region(db, region).await?));
        lock(&self.regions).insert(region.clone(), Cached { fleet: fleet.clone(), loaded: Instant::now() });
        Ok(fleet)
    }

    /// The region's fleet, reloaded if what it holds of `groups` differs from the store: the
    /// members of each group that stand in the region, and where they stand. Callers have
    /// locked the groups, so what this compares cannot change before they commit. On a
    /// database no other process changes (SQLite), the cache holds every committed change and
    /// nothing is compared.
    pub(crate) async fn region_fresh_for(
        &self,
        db: &mut Db<'_>,
        region: &RegionId,
        groups: &[Group],
    ) -> Result<Arc<Mutex<Fleet>>> {
        let fleet = self.region(db, region).await?;
        if groups.is_empty() || !db.backend().shared() {
            return Ok(fleet);
        }
        let ids: Vec<i64> = groups.iter().map(|g| g.id.0).collect();
        let stored = db.system().members_of_groups(&ids).await?;
        let matches = {
            let fleet = lock(&fleet);
            let here = |host: Option<i64>| host.map(HostId).filter(|h| fleet.host(*h).is_some());
            let mut from_store: Vec<(GroupId, InstanceId, Option<HostId>, Option<HostId>)> = stored
                .iter()
                .filter_map(|m| {
                    let position = match (here(m.host_id), here(m.target_host_id)) {
                        (None, None) => return None,
                        (None, Some(target)) => (Some(target), None),
                        (host, target) => (host, target),
                    };
                    Some((GroupId(m.group_id), InstanceId(m.instance_id), position.0, position.1))
                })
                .collect();
            let mut from_cache: Vec<(GroupId, InstanceId, Option<HostId>, Option<HostId>)> = groups
                .iter()
                .flat_map(|group| {
                    fleet.group_members(group.id).iter().filter_map(|member| {
                        let spec = fleet.instance(*member)?;
                        spec.host.map(|host| (group.id, *member, Some(host), spec.target))
                    })
                })
                .collect();
            from_store.sort();
            from_cache.sort();
            from_store == from_cache
        };
        if matches {
            return Ok(fleet);
        }
        tracing::debug!(%region, "cached fleet behind the store for the groups of a change; reloading it");
        self.invalidate(region);
        self.region(db, region).await
    }

    /// Chooses a host for `request` in `fleet`, away from the hosts that concurrent changes of
    /// this process chose and have not yet committed, when another host can take the
    /// instance; only when none can does it choose among those. The choice is held (the
    /// returned [`Chosen`]) until the change ends.
    ///
    /// The engine ranks hosts deterministically, so concurrent changes would otherwise all
    /// choose the same best host and, on PostgreSQL, queue on its row's lock and conditional
    /// capacity update one after another; spread, they commit side by side. Only a shared
    /// database (PostgreSQL) runs changes side by side: on SQLite the caller takes the
    /// engine's best host without this.
    pub(crate) fn choose_spread<'a>(
        &'a self,
        region: &RegionId,
        fleet: &Fleet,
        request: &PlacementRequest<'_>,
    ) -> Result<(Placement, Chosen<'a>), ChooseError> {
        let mut chosen = lock(&self.chosen);
        let held: Vec<HostId> = chosen.get(region).map(|hosts| hosts.keys().copied().collect()).unwrap_or_default();
        let placement = if held.is_empty() {
            fleet.choose_host(request)?
        } else {
            let avoid: Vec<HostId> = request.avoid.iter().copied().chain(held).collect();
            match fleet.choose_host(&PlacementRequest { avoid: &avoid, ..*request }) {
                // A host elsewhere that would leave a flexible group non-compliant is no
                // better than waiting for a held one that would not.
                Ok(placement) if placement.breaches.is_empty() => placement,
                Ok(_) | Err(ChooseError::NoHost(_)) => fleet.choose_host(request)?,
                Err(other) => return Err(other),
            }
        };
        let host = placement.host;
        *chosen.entry(region.clone()).or_default().entry(host).or_default() += 1;
        Ok((placement, Chosen { fleets: self, region: region.clone(), host }))
    }

    pub(crate) fn invalidate(&self, region: &RegionId) {
        lock(&self.regions).remove(region);
    }

    /// Applies a committed change to the cached fleet of a region, if it is cached.
    pub(crate) fn apply(&self, region: &RegionId, change: impl FnOnce(&mut Fleet) -> Result<(), FleetError>) {
        let Some(fleet) = lock(&self.regions).get(region).map(|cached| cached.fleet.clone()) else { return };
        let outcome = change(&mut lock(&fleet));
        if let Err(error) = outcome {
            tracing::debug!(%region, %error, "cached fleet out of step; dropping it");
            self.invalidate(region);
        }
    }
}

/// Makes sure a fleet knows the groups of a request: a group with no member in the region is
/// not in the snapshot until it is asked about.
pub(crate) fn ensure_groups(fleet: &mut Fleet, groups: &[Group]) -> Result<()> {
    for group in groups {
        if fleet.group(group.id).is_none() {
            fleet.group_add(group_spec(group)).map_err(engine)?;
        }
    }
    Ok(())
}

pub(crate) async fn load_region(db: &mut Db<'_>, region: &RegionId) -> Result<Fleet> {
    let hosts = db.hosts_in_region(region.as_str()).await?;
    let instances = db.system().instances_in_region(region.as_str()).await?;
    let members = db.system().memberships_in_region(region.as_str()).await?;
    let mut group_ids: Vec<i64> = members.iter().map(|m| m.group_id).collect();
    group_ids.sort_unstable();
    group_ids.dedup();
    let groups =
        db.system().groups_by_id(&group_ids).await?.into_iter().map(convert::group).collect::<Result<Vec<_>>>()?;
    let positions = instances
        .iter()
        .map(|row| {
            Ok(Position {
                instance: InstanceId(row.id),
                size: convert::resources(row.size())?,
                host: row.host_id.map(HostId),
                target: row.target_host_id.map(HostId),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    build_fleet(&hosts, &positions, &groups, &members)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(hosts: i64) -> Fleet {
        let mut fleet = Fleet::new();
        for id in 1..=hosts {
            let capacity = Resources { vcpus: 64, memory_mib: 256 * 1024, disk_mib: 4096 * 1024, gpus: 0 };
            let host = HostSpec { id: HostId(id), rack: format!("r{id}"), capacity, state: HostState::Active };
            fleet.host_add(host).unwrap();
        }
        fleet
    }

    #[test]
    fn concurrent_choices_spread_over_hosts_and_fall_back_to_held_ones_when_none_is_left() {
        let fleets = Fleets::default();
        let region = RegionId("r".to_string());
        let fleet = fleet(3);
        let size = Resources { vcpus: 2, memory_mib: 4096, disk_mib: 81920, gpus: 0 };
        let request = PlacementRequest::new(size, &[]);
        let alone = fleet.choose_host(&request).unwrap().host;
        let (first, held_first) = fleets.choose_spread(&region, &fleet, &request).unwrap();
        assert_eq!(first.host, alone, "nothing held: the engine's best");
        let (second, held_second) = fleets.choose_spread(&region, &fleet, &request).unwrap();
        let (third, _held_third) = fleets.choose_spread(&region, &fleet, &request).unwrap();
        let mut hosts = vec![first.host, second.host, third.host];
        hosts.sort();
        hosts.dedup();
        assert_eq!(hosts.len(), 3, "three changes at once take three hosts");
        let (fourth, _held_fourth) = fleets.choose_spread(&region, &fleet, &request).unwrap();
        assert_eq!(fourth.host, alone, "every host held: the engine's best again");
        drop((held_first, held_second));
        let (fifth, _held_fifth) = fleets.choose_spread(&region, &fleet, &request).unwrap();
        assert!(fifth.host == first.host || fifth.host == second.host, "a released host is free again");
    }

    #[test]
    fn a_host_is_let_go_when_every_change_holding_it_ends() {
        let fleets = Fleets::default();
        let region = RegionId("r".to_string());
        let fleet = fleet(1);
        let request = PlacementRequest::new(Resources { vcpus: 1, memory_mib: 1, disk_mib: 1, gpus: 0 }, &[]);
        let (_, a) = fleets.choose_spread(&region, &fleet, &request).unwrap();
        let (_, b) = fleets.choose_spread(&region, &fleet, &request).unwrap();
        drop(a);
        assert_eq!(lock(&fleets.chosen).get(&region).map(|hosts| hosts[&HostId(1)]), Some(1));
        drop(b);
        assert!(lock(&fleets.chosen).is_empty());
    }
}
