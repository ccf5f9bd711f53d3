//! The operator's fleet: regions, hosts, and the host lifecycle — draining, maintenance,
//! activation, and failure, which re-places a host's instances at once.

use std::collections::BTreeMap;

use store::{Db, NewHost, NewMigration, RegionRow};

use crate::convert;
use crate::error::{Conflict, Error, Field, Form, Problem, Result};
use crate::events;
use crate::fleets::{engine, load_region};
use crate::groups::region_get;
use crate::instances::instance_views;
use crate::migrations::undo_running;
use crate::model::*;
use crate::validate::plain_name;
use crate::{Berth, now};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionCreate {
    pub id: RegionId,
    pub label: String,
    pub country: String,
    pub max_members_per_group: u32,
    pub max_groups_per_account: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostCreate {
    pub region: RegionId,
    /// A unique name; by default `{region}-{rack}-h{n}`.
    pub name: Option<String>,
    pub rack: String,
    pub capacity: Resources,
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostUpdate {
    pub rack: Option<String>,
    pub capacity: Option<Resources>,
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostFilter {
    pub region: Option<RegionId>,
    pub rack: Option<String>,
    pub state: Option<HostState>,
}

/// A host with the instances on it (running there or migrating to it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostDetail {
    pub host: Host,
    pub instances: Vec<Instance>,
    /// While the host drains: the instances no other host can take, and why.
    pub stuck: Vec<(InstanceId, String)>,
}

fn labels_valid(labels: &BTreeMap<String, String>) -> Result<()> {
    for (key, value) in labels {
        plain_name(Field::HostLabels, key)?;
        if value.chars().count() > 255 || value.chars().any(char::is_control) {
            return Err(Error::invalid(Field::HostLabels, Problem::Length { min: 0, max: 255 }));
        }
    }
    Ok(())
}

fn capacity_valid(capacity: &Resources) -> Result<()> {
    if capacity.vcpus == 0 || capacity.memory_mib == 0 || capacity.disk_mib == 0 {
        return Err(Error::invalid(Field::Capacity, Problem::NoCapacity));
    }
    if capacity.memory_mib > i64::MAX as u64 || capacity.disk_mib > i64::MAX as u64 {
        return Err(Error::invalid(Field::Capacity, Problem::TooLarge));
    }
    Ok(())
}

/// Why no other host can take an instance: the summary of an evacuation's `NoHost`, without
/// the host being left (which the request itself excluded).
pub(crate) fn elsewhere(no_host: &placement::NoHost) -> String {
    let others: Vec<String> = no_host
        .exclusions
        .iter()
        .filter(|(exclusion, _)| *exclusion != placement::Exclusion::Avoided)
        .map(|(exclusion, count)| exclusion.describe(*count))
        .collect();
    let avoided: usize = no_host
        .exclusions
        .iter()
        .filter(|(exclusion, _)| *exclusion == placement::Exclusion::Avoided)
        .map(|(_, count)| count)
        .sum();
    let hosts = no_host.hosts - avoided;
    if hosts == 0 {
        "the region has no other host".to_string()
    } else {
        format!("no other host can take it: 0 of {hosts} other hosts: {}", others.join(", "))
    }
}

/// A host by id (`12`) or name (`us-mia-r1-h01`).
pub(crate) async fn host_find(db: &mut Db<'_>, key: &str) -> Result<Host> {
    let row = match key.parse::<i64>() {
        Ok(id) => db.host_get(id).await?,
        Err(_) => db.host_by_name(key).await?,
    };
    row.as_ref().map(convert::host).transpose()?.ok_or_else(|| Error::not_found(Thing::Host))
}

impl Berth {
    pub async fn region_create(&self, create: RegionCreate) -> Result<Region> {
        if create.label.is_empty() || create.label.chars().count() > 100 || create.label.chars().any(char::is_control) {
            return Err(Error::invalid(Field::Label, Problem::Length { min: 1, max: 100 }));
        }
        let country = create.country.to_ascii_lowercase();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(Error::invalid(Field::Country, Problem::Malformed { form: Form::CountryCode, value: None }));
        }
        if create.max_members_per_group == 0 {
            return Err(Error::invalid(Field::MaxMembersPerGroup, Problem::TooSmall { min: 1 }));
        }
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        if db.region_get(create.id.as_str()).await?.is_some() {
            return Err(Error::conflict(Conflict::Exists { thing: Thing::Region, name: create.id.to_string() })
                .about(Field::Id));
        }
        let row = RegionRow {
            id: create.id.as_str().to_string(),
            label: create.label,
            country,
            site_type: "core".to_string(),
            status: "ok".to_string(),
            max_members_per_group: i64::from(create.max_members_per_group),
            max_groups_per_account: create.max_groups_per_account.map(i64::from),
            created_at: now().0,
        };
        db.region_insert(&row).await?;
        tx.commit().await?;
        convert::region(row)
    }

    /// Registers a host; it takes placements at once.
    pub async fn host_register(&self, create: HostCreate) -> Result<Host> {
        let rack = plain_name(Field::Rack, &create.rack)?;
        capacity_valid(&create.capacity)?;
        labels_valid(&create.labels)?;
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        let region = region_get(&mut db, &create.region).await?;
        // The name given to a host is counted from the region's hosts, which must not change
        // meanwhile.
        db.region_hosts_lock(region.id.as_str()).await?;
        let host_name = match create.name {
            Some(given) => plain_name(Field::Name, &given)?,
            None => {
                let count = db.hosts_in_region(region.id.as_str()).await?.len();
                format!("{}-{rack}-h{:02}", region.id, count + 1)
            }
        };
        if db.host_by_name(&host_name).await?.is_some() {
            return Err(Error::conflict(Conflict::Exists { thing: Thing::Host, name: host_name }).about(Field::Name));
        }
        let row = db
            .host_insert(
                &NewHost {
                    uuid: uuid::Uuid::new_v4().to_string(),
                    name: host_name,
                    region_id: region.id.as_str().to_string(),
                    rack,
                    state: HostState::Active.as_str().to_string(),
                    size: convert::size(create.capacity),
                    labels: convert::labels_to_store(&create.labels),
                },
                now().0,
            )
            .await?;
        let host = convert::host(&row)?;
        self.fleets.invalidate(&region.id);
        self.commit(tx, &[&region.id]).await?;
        Ok(host)
    }

    pub async fn hosts_filtered(&self, filter: &HostFilter) -> Result<Vec<Host>> {
        let rows = self.store.read().await?.db().hosts_all().await?;
        let mut hosts = Vec::with_capacity(rows.len());
        for row in &rows {
            let host = convert::host(row)?;
            let keep = filter.region.as_ref().is_none_or(|r| *r == host.region)
                && filter.rack.as_ref().is_none_or(|r| *r == host.rack)
                && filter.state.is_none_or(|s| s == host.state);
            if keep {
                hosts.push(host);
            }
        }
        Ok(hosts)
    }

    /// A host, by id or name, with its instances and, while it drains, those no host can take.
    pub async fn host_detail(&self, key: &str) -> Result<HostDetail> {
        let (host, instances) = {
            let mut conn = self.store.snapshot().await?;
            let mut db = conn.db();
            let host = host_find(&mut db, key).await?;
            let rows = db.system().instances_on_host(host.id.0).await?;
            (host, rows.into_iter().map(convert::instance).collect::<Result<Vec<_>>>()?)
        };
        let stuck = if host.state == HostState::Draining {
            let fleet = self.region_snapshot(&host.region).await?;
            let evacuation = fleet.plan_evacuation(host.id).map_err(engine)?;
            evacuation.stuck.iter().map(|(id, no_host)| (*id, elsewhere(no_host))).collect()
        } else {
            Vec::new()
        };
        Ok(HostDetail { host, instances, stuck })
    }

    /// Changes a host's rack, capacity or labels. Capacity cannot go below what is in use.
    pub async fn host_update(&self, key: &str, update: HostUpdate) -> Result<Host> {
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        let host = host_locked(&mut db, key).await?;
        let rack = match &update.rack {
            Some(rack) => plain_name(Field::Rack, rack)?,
            None => host.rack.clone(),
        };
        let capacity = update.capacity.unwrap_or(host.capacity);
        capacity_valid(&capacity)?;
        if !host.used.fits_in(&capacity) {
            return Err(
                Error::conflict(Conflict::CapacityBelowUse { host: host.name, used: host.used }).about(Field::Capacity)
            );
        }
        let labels = update.labels.unwrap_or(host.labels.clone());
        labels_valid(&labels)?;
        db.host_update(host.id.0, &rack, &convert::labels_to_store(&labels), convert::size(capacity), now().0).await?;
        let updated = host_find(&mut db, &host.id.0.to_string()).await?;
        self.fleets.invalidate(&host.region);
        self.commit(tx, &[&host.region]).await?;
        Ok(updated)
    }

    /// Drains a host: no new placement lands on it, and the reconciler moves its instances
    /// away under the same rules as any placement.
    pub async fn host_drain(&self, key: &str) -> Result<Host> {
        self.host_transition(key, HostState::Draining, &[HostState::Active]).await
    }

    /// Puts a drained host in maintenance; it must hold no instance.
    pub async fn host_maintenance(&self, key: &str) -> Result<Host> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let host = host_find(&mut db, key).await?;
        let held = db.system().instances_on_host(host.id.0).await?.len();
        if held > 0 && host.state == HostState::Draining {
            return Err(Error::conflict(Conflict::NotDrained { host: host.name, instances: held }));
        }
        drop(conn);
        self.host_transition(key, HostState::Maintenance, &[HostState::Draining]).await
    }

    /// Returns a host to service: from maintenance, from a drain (which stops; migrations
    /// already running finish, queued ones are cancelled), or after a failure.
    pub async fn host_activate(&self, key: &str) -> Result<Host> {
        let host = self
            .host_transition(key, HostState::Active, &[HostState::Maintenance, HostState::Draining, HostState::Failed])
            .await?;
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        for row in db.system().migrations_in_state(MigrationState::Queued.as_str()).await? {
            if row.source_host_id == host.id.0 && row.reason == MigrationReason::Drain.as_str() {
                db.system().migration_finish(row.id, MigrationState::Cancelled.as_str(), now().0).await?;
            }
        }
        tx.commit().await?;
        Ok(host)
    }

    async fn host_transition(&self, key: &str, to: HostState, from: &[HostState]) -> Result<Host> {
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        let host = host_locked(&mut db, key).await?;
        if host.state == to {
            return Ok(host);
        }
        if !from.contains(&host.state) {
            let conflict = Conflict::HostState { host: host.name, state: host.state, to, from: from.to_vec() };
            return Err(Error::conflict(conflict).about(Field::State));
        }
        db.host_set_state(host.id.0, to.as_str(), now().0).await?;
        let updated = host_find(&mut db, &host.id.0.to_string()).await?;
        let id = host.id;
        self.fleets.apply(&host.region, |fleet| fleet.host_set_state(id, to));
        self.commit(tx, &[&host.region]).await?;
        tracing::info!(host = %host.name, from = host.state.as_str(), to = to.as_str(), "host state changed");
        Ok(updated)
    }

    /// Fails a host: its migrations are rolled back, and each of its instances is started on
    /// another host chosen under the same rules as any placement, or, when none can take it
    /// without breaking a strict group or for lack of capacity, waits offline with the reason.
    pub async fn host_fail(&self, key: &str) -> Result<HostDetail> {
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        let host = host_find(&mut db, key).await?;
        if host.state == HostState::Failed {
            drop(tx);
            return self.host_detail(key).await;
        }
        // The evacuation is planned on the whole region and must hold until it commits: lock
        // every group with members there, the instances on the host, then every host of the
        // region, in the order every change locks.
        let mut group_ids: Vec<i64> =
            db.system().memberships_in_region(host.region.as_str()).await?.iter().map(|m| m.group_id).collect();
        group_ids.sort_unstable();
        group_ids.dedup();
        db.groups_lock(&group_ids).await?;
        let on_host_ids: Vec<i64> = db.system().instances_on_host(host.id.0).await?.iter().map(|i| i.id).collect();
        db.instances_lock(&on_host_ids).await?;
        db.region_hosts_lock(host.region.as_str()).await?;
        let host = host_find(&mut db, key).await?;
        if host.state == HostState::Failed {
            drop(tx);
            return self.host_detail(key).await;
        }
        let on_host: Vec<Instance> = db
            .system()
            .instances_on_host(host.id.0)
            .await?
            .into_iter()
            .map(convert::instance)
            .collect::<Result<_>>()?;
        let groups: Vec<Group> = {
            let views = instance_views(&mut db, on_host.clone()).await?;
            let mut groups: Vec<Group> = views.into_iter().flat_map(|v| v.groups).collect();
            groups.sort_by_key(|g| g.id);
            groups.dedup_by_key(|g| g.id);
            groups
        };
        let before = events::compliance(&mut db, &groups).await?;
        db.host_set_state(host.id.0, HostState::Failed.as_str(), now().0).await?;
        // Migrations into or out of the host stop: each instance is back where it started.
        for row in db.system().migrations_in_state(MigrationState::Running.as_str()).await? {
            if row.source_host_id != host.id.0 && row.target_host_id != host.id.0 {
                continue;
            }
            let migration = convert::migration(row)?;
            if let Some(instance) = db.tenant(migration.account.0).instance_get(migration.instance.0).await? {
                undo_running(&mut db, &migration, &instance).await?;
            }
            db.system().migration_fail(migration.id.0, &format!("host {} failed", host.name), now().0).await?;
        }
        for row in db.system().migrations_in_state(MigrationState::Queued.as_str()).await? {
            if row.source_host_id == host.id.0 || row.target_host_id == host.id.0 {
                db.system().migration_finish(row.id, MigrationState::Cancelled.as_str(), now().0).await?;
            }
        }
        // Choose on the region as it stands now, inside this transaction.
        let fleet = load_region(&mut db, &host.region).await?;
        let evacuation = fleet.plan_evacuation(host.id).map_err(engine)?;
        let mut stuck = Vec::new();
        for step in &evacuation.moves {
            let Some(row) = db.system().instance_find(Some(step.instance.0), None).await? else { continue };
            let instance = convert::instance(row.clone())?;
            if !db.host_reserve(step.to.0, row.size()).await? {
                return Err(Error::Internal(format!("host {} refused the evacuation of {}", step.to, step.instance)));
            }
            db.host_release(host.id.0, row.size()).await?;
            db.system()
                .instance_set_placement(row.id, Some(step.to.0), None, host.region.as_str(), &row.state, now().0)
                .await?;
            let migration = db
                .migration_insert(
                    &NewMigration {
                        account_id: row.account_id,
                        instance_id: row.id,
                        source_host_id: host.id.0,
                        target_host_id: step.to.0,
                        source_region_id: host.region.as_str().to_string(),
                        target_region_id: host.region.as_str().to_string(),
                        source_group_id: None,
                        target_group_id: None,
                        reason: MigrationReason::Failure.as_str().to_string(),
                        due_at: now().0,
                        state: MigrationState::Running.as_str().to_string(),
                        plan_id: None,
                    },
                    now().0,
                )
                .await?;
            db.system().migration_finish(migration.id, MigrationState::Succeeded.as_str(), now().0).await?;
            let subject = events::instance_entity(&instance);
            events::record(
                &mut db,
                instance.account,
                None,
                Action::InstanceBoot,
                EventStatus::Finished,
                &subject,
                None,
            )
            .await?;
        }
        for (id, no_host) in &evacuation.stuck {
            let Some(row) = db.system().instance_find(Some(id.0), None).await? else { continue };
            let reason = format!("host {} failed and {}", host.name, elsewhere(no_host));
            db.host_release(host.id.0, row.size()).await?;
            db.system().instance_set_offline(row.id, &reason, now().0).await?;
            let instance = convert::instance(row)?;
            events::record(
                &mut db,
                instance.account,
                None,
                Action::InstanceShutdown,
                EventStatus::Finished,
                &events::instance_entity(&instance),
                None,
            )
            .await?;
            stuck.push((*id, reason));
        }
        events::compliance_changes(&mut db, None, &groups, &before, None).await?;
        self.fleets.invalidate(&host.region);
        self.commit(tx, &[&host.region]).await?;
        tracing::warn!(host = %host.name, moved = evacuation.moves.len(), offline = stuck.len(), "host failed");
        let mut detail = self.host_detail(&host.id.0.to_string()).await?;
        detail.stuck = stuck;
        Ok(detail)
    }

    /// A copy of a region's cached fleet, to plan on without holding the writer.
    ///
    /// What is planned on it (repair, evacuation, explain, headroom) is advice: every move
    /// taken from such a plan is re-validated against locked rows in the transaction that
    /// makes it, so a copy that is behind the store, or that mixed two instants while loading
    /// on PostgreSQL (see [`crate::fleets::Fleets::region`]), costs a wasted plan step, never a
    /// broken group. Judging what is stored takes a snapshot instead (`region_check`).
    pub(crate) async fn region_snapshot(&self, region: &RegionId) -> Result<placement::Fleet> {
        let mut tx = self.store.write().await?;
        let fleet = self.fleets.region(&mut tx.db(), region).await?;
        let snapshot = crate::fleets::lock(&fleet).clone();
        drop(tx);
        Ok(snapshot)
    }
}

/// A host, by id or name, locked until the change commits, as it stands once locked.
async fn host_locked(db: &mut Db<'_>, key: &str) -> Result<Host> {
    let host = host_find(db, key).await?;
    db.hosts_lock(&[host.id.0]).await?;
    host_find(db, &host.id.0.to_string()).await
}
