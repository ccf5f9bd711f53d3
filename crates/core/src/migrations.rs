//! Migrations: begun at once for a user's request, queued by repair and drains, started within
//! the concurrency limit, completed by the embedded executor or by an external agent, and
//! rolled back when they fail.

use std::time::Duration;

use placement::{NoHost, Placement};
use store::{Db, NewMigration, Tx};

use crate::convert;
use crate::error::{Conflict, Error, Field, Form, GroupRef, Problem, Result};
use crate::events;
use crate::fleets::{GroupsSnapshot, group_spec};
use crate::groups::region_get;
use crate::instances::{chosen_group, instance_get, instance_views};
use crate::model::*;
use crate::placing::{Attempt, Locks, PlacementChange, Want, check_room, refusal, reserve};
use crate::{Berth, now};

/// Who carries migrations out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Executor {
    /// berth simulates the hypervisor: a migration completes `Settings::migration_duration`
    /// after it starts.
    Embedded,
    /// Agents claim running migrations through `/v1`, hold them with a lease they renew, and
    /// complete or fail them; a lease that runs out fails the migration.
    External { lease: Duration },
}

/// A migration to begin at once: where the instance stands and where it should go.
#[derive(Clone, Debug)]
pub(crate) struct Begin {
    pub(crate) account: AccountId,
    pub(crate) instance: InstanceId,
    pub(crate) size: Resources,
    pub(crate) state: InstanceState,
    pub(crate) source_host: HostId,
    pub(crate) source_region: RegionId,
    pub(crate) target_region: RegionId,
    /// The regional group the instance leaves, if it has one.
    pub(crate) source_group: Option<Group>,
    /// The regional group the instance will be in.
    pub(crate) target_group: Option<Group>,
    /// The global groups it keeps wherever it goes.
    pub(crate) kept_groups: Vec<Group>,
    pub(crate) compliant_only: bool,
    pub(crate) reason: MigrationReason,
    /// Hosts not to move to (where a migration of this instance already failed).
    pub(crate) avoid: Vec<HostId>,
}

/// What the operator may filter migrations by.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrationFilter {
    pub state: Option<MigrationState>,
    pub instance: Option<InstanceId>,
    pub group: Option<GroupId>,
    pub reason: Option<MigrationReason>,
}

/// A migration handed to an external agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationJob {
    pub migration: Migration,
    pub lease_expires_at: Timestamp,
}

/// How many recent migrations the operator's list looks through.
const RECENT: i64 = 10_000;

impl Berth {
    /// Starts moving an instance to another host: in another region, into another group, or
    /// within its group. The move shows at once and completes after the configured time.
    pub async fn instance_migrate(
        &self,
        principal: &Principal,
        id: InstanceId,
        migrate: InstanceMigrate,
    ) -> Result<InstanceView> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let view = {
            let instance = instance_get(&mut db, principal, id).await?;
            instance_views(&mut db, vec![instance]).await?.remove(0)
        };
        principal.require_change(EntityKind::Instance, id.0, Thing::Instance)?;
        if view.is_migrating() {
            return Err(Error::conflict(Conflict::Busy(id)));
        }
        let Some(source_host) = view.instance.host else {
            return Err(Error::conflict(Conflict::Offline(id)));
        };
        let source_region = view.instance.region.clone();
        let target_region = match &migrate.region {
            Some(region) => region_get(&mut db, region).await?.id,
            None => source_region.clone(),
        };
        let source_group = view.groups.iter().find(|g| matches!(g.scope, Scope::Region(_))).cloned();
        let target_group = match &migrate.group {
            Some(choice) => {
                let group = chosen_group(&mut db, principal, choice).await?;
                if group.scope != Scope::Region(target_region.clone()) {
                    let group_region = match &group.scope {
                        Scope::Region(region) => region.clone(),
                        Scope::Global => target_region.clone(),
                    };
                    return Err(Error::invalid(
                        Field::Group,
                        Problem::GroupElsewhere { group: GroupRef::of(&group), group_region, region: target_region },
                    ));
                }
                Some(group)
            }
            None if target_region == source_region => source_group.clone(),
            None => None,
        };
        drop(conn);
        let begin = Begin {
            account: principal.account,
            instance: id,
            size: view.instance.size,
            state: view.instance.state,
            source_host,
            source_region,
            target_region,
            source_group,
            target_group,
            kept_groups: view.groups.iter().filter(|g| g.scope == Scope::Global).cloned().collect(),
            compliant_only: migrate.group.as_ref().is_some_and(|c| c.compliant_only),
            reason: MigrationReason::UserRequest,
            avoid: Vec::new(),
        };
        self.migration_begin(&begin, Some(principal)).await?;
        let mut conn = self.store.snapshot().await?;
        let instance = instance_get(&mut conn.db(), principal, id).await?;
        Ok(instance_views(&mut conn.db(), vec![instance]).await?.remove(0))
    }

    /// Begins a migration at once: chooses the target, holds its capacity, and shows the move.
    pub(crate) async fn migration_begin(&self, begin: &Begin, by: Option<&Principal>) -> Result<Migration> {
        let mut groups = begin.kept_groups.clone();
        groups.extend(begin.target_group.clone());
        let same_region = begin.target_region == begin.source_region;
        let mut avoid = begin.avoid.clone();
        if same_region {
            avoid.push(begin.source_host);
        }
        let want = Want {
            region: &begin.target_region,
            size: begin.size,
            groups: &groups,
            moving: same_region.then_some(begin.instance),
            avoid: &avoid,
            compliant_only: begin.compliant_only,
        };
        let joins =
            begin.target_group.as_ref().filter(|t| begin.source_group.as_ref().is_none_or(|s| s.id != t.id)).cloned();
        let also: Vec<&Group> = begin.source_group.iter().collect();
        let locks = Locks { groups: &also, instances: &[begin.instance], ..Locks::default() };
        let regions = [&begin.source_region, &begin.target_region];
        let change = BeginMigration { begin, by, want: &want, joins: joins.as_ref() };
        self.place(&want, locks, &regions, change).await
    }

    /// The writes of a migration that begins, its target chosen and reserved.
    async fn migration_begin_write(
        &self,
        tx: &mut Tx,
        begin: &Begin,
        by: Option<&Principal>,
        placement: &Placement,
        joins: Option<&Group>,
    ) -> Result<Migration> {
        let same_region = begin.target_region == begin.source_region;
        let mut db = tx.db();
        let Some(row) = db.tenant(begin.account.0).instance_get(begin.instance.0).await? else {
            return Err(Error::not_found(Thing::Instance));
        };
        if row.target_host_id.is_some() || row.host_id != Some(begin.source_host.0) {
            return Err(Error::conflict(Conflict::Busy(begin.instance)));
        }
        if let Some(group) = joins {
            check_room(&mut db, group, 1).await?;
        }
        let touched: Vec<Group> = begin.source_group.iter().chain(joins).cloned().collect();
        let before = events::compliance(&mut db, &touched).await?;
        let now = now();
        db.system()
            .instance_set_placement(
                begin.instance.0,
                Some(begin.source_host.0),
                Some(placement.host.0),
                begin.source_region.as_str(),
                begin.state.as_str(),
                now.0,
            )
            .await?;
        if let Some(group) = joins {
            db.tenant(begin.account.0).member_insert(group.id.0, begin.instance.0).await?;
        }
        let row = db
            .migration_insert(
                &NewMigration {
                    account_id: begin.account.0,
                    instance_id: begin.instance.0,
                    source_host_id: begin.source_host.0,
                    target_host_id: placement.host.0,
                    source_region_id: begin.source_region.as_str().to_string(),
                    target_region_id: begin.target_region.as_str().to_string(),
                    source_group_id: begin.source_group.as_ref().map(|g| g.id.0),
                    target_group_id: begin.target_group.as_ref().map(|g| g.id.0),
                    reason: begin.reason.as_str().to_string(),
                    due_at: self.due_at(now),
                    state: MigrationState::Running.as_str().to_string(),
                    plan_id: None,
                },
                now.0,
            )
            .await?;
        let instance = convert::instance(row_of(&mut db, begin.account, begin.instance).await?)?;
        let subject = events::instance_entity(&instance);
        let action = if same_region { Action::InstanceMigrate } else { Action::InstanceMigrateRegion };
        events::record(&mut db, begin.account, by, action, EventStatus::Started, &subject, None).await?;
        if let Some(group) = joins {
            let entity = events::group_entity(group);
            events::record(
                &mut db,
                begin.account,
                by,
                Action::GroupAssign,
                EventStatus::Finished,
                &entity,
                Some(&subject),
            )
            .await?;
        }
        events::compliance_changes(&mut db, by, &touched, &before, Some(&subject)).await?;
        let migration = convert::migration(row)?;
        let (id, target) = (begin.instance, placement.host);
        if same_region {
            self.fleets.apply(&begin.source_region, |fleet| {
                fleet.migration_start(id, target)?;
                match joins {
                    Some(group) => {
                        if fleet.group(group.id).is_none() {
                            fleet.group_add(group_spec(group))?;
                        }
                        fleet.member_add(group.id, id)
                    }
                    None => Ok(()),
                }
            });
        } else {
            // The target region learns of the instance when its cache is next loaded.
            self.fleets.invalidate(&begin.target_region);
        }
        Ok(migration)
    }

    /// When a migration that starts at `now` falls due: never, for an external executor, whose
    /// agents complete migrations themselves.
    pub(crate) fn due_at(&self, now: Timestamp) -> i64 {
        match self.settings.executor {
            Executor::Embedded => {
                now.0.saturating_add(i64::try_from(self.settings.migration_duration.as_millis()).unwrap_or(i64::MAX))
            }
            Executor::External { .. } => i64::MAX,
        }
    }

    /// Completes every running migration whose time has come (the embedded executor). Returns
    /// how many completed.
    pub async fn migrations_complete_due(&self) -> Result<usize> {
        let due = self.store.read().await?.db().system().migrations_due(now().0, 100).await?;
        let mut completed = 0;
        for row in due {
            if self.migration_complete_one(row.id, None).await? {
                completed += 1;
            }
        }
        Ok(completed)
    }

    /// Completes one running migration (held by `agent`, when an external agent completes
    /// it); returns whether it completed.
    async fn migration_complete_one(&self, id: i64, agent: Option<&str>) -> Result<bool> {
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        // Re-read inside the transaction, under lock: the instance may have been deleted
        // meanwhile, which cancels the migration, or another process may have ended it.
        let Some(current) = migration_locked(&mut db, id).await? else { return Ok(false) };
        if current.state != MigrationState::Running.as_str() {
            return Ok(false);
        }
        if let Some(agent) = agent
            && current.claimed_by.as_deref() != Some(agent)
        {
            return Err(Error::conflict(Conflict::MigrationNotHeld {
                migration: MigrationId(id),
                agent: agent.to_string(),
            }));
        }
        let migration = convert::migration(current)?;
        let Some(instance) = db.tenant(migration.account.0).instance_get(migration.instance.0).await? else {
            db.system().migration_finish(migration.id.0, MigrationState::Cancelled.as_str(), now().0).await?;
            tx.commit().await?;
            return Ok(false);
        };
        let touched = touched_groups(&mut db, &migration).await?;
        let before = events::compliance(&mut db, &touched).await?;
        db.host_release(migration.source_host.0, instance.size()).await?;
        db.system()
            .instance_set_placement(
                instance.id,
                Some(migration.target_host.0),
                None,
                migration.target_region.as_str(),
                &instance.state,
                now().0,
            )
            .await?;
        let leaves = migration.source_group.filter(|source| Some(*source) != migration.target_group);
        if let Some(group) = leaves {
            db.tenant(migration.account.0).member_delete(group.0, instance.id).await?;
        }
        db.system().migration_finish(migration.id.0, MigrationState::Succeeded.as_str(), now().0).await?;
        let moved = convert::instance(row_of(&mut db, migration.account, migration.instance).await?)?;
        let subject = events::instance_entity(&moved);
        let action = if migration.source_region == migration.target_region {
            Action::InstanceMigrate
        } else {
            Action::InstanceMigrateRegion
        };
        events::record(&mut db, migration.account, None, action, EventStatus::Finished, &subject, None).await?;
        if let Some(group) = touched.iter().find(|g| Some(g.id) == leaves) {
            let entity = events::group_entity(group);
            events::record(
                &mut db,
                migration.account,
                None,
                Action::GroupUnassign,
                EventStatus::Finished,
                &entity,
                Some(&subject),
            )
            .await?;
        }
        events::compliance_changes(&mut db, None, &touched, &before, Some(&subject)).await?;
        let id = migration.instance;
        if migration.source_region == migration.target_region {
            self.fleets.apply(&migration.source_region, |fleet| {
                fleet.migration_finish(id)?;
                match leaves {
                    Some(group) => fleet.member_remove(group, id),
                    None => Ok(()),
                }
            });
        } else {
            self.fleets.apply(&migration.source_region, |fleet| fleet.instance_remove(id));
            self.fleets.invalidate(&migration.target_region);
        }
        self.commit(tx, &[&migration.source_region, &migration.target_region]).await?;
        Ok(true)
    }

    /// Rolls a running migration back: the target's capacity is released and the instance
    /// stays where it was. The target is remembered so that a retry goes elsewhere; a user's
    /// migration is retried at once, repair and drains plan again on their next pass.
    async fn migration_roll_back(&self, id: i64, failure: &str) -> Result<()> {
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        let Some(current) = migration_locked(&mut db, id).await? else { return Ok(()) };
        if current.state != MigrationState::Running.as_str() {
            return Ok(());
        }
        let migration = convert::migration(current)?;
        let Some(instance) = db.tenant(migration.account.0).instance_get(migration.instance.0).await? else {
            db.system().migration_finish(migration.id.0, MigrationState::Cancelled.as_str(), now().0).await?;
            tx.commit().await?;
            return Ok(());
        };
        undo_running(&mut db, &migration, &instance).await?;
        db.system().migration_fail(migration.id.0, failure, now().0).await?;
        db.system().migration_failure_insert(instance.id, migration.target_host.0, now().0).await?;
        let moved = convert::instance(instance)?;
        let subject = events::instance_entity(&moved);
        events::record(&mut db, migration.account, None, Action::InstanceMigrate, EventStatus::Failed, &subject, None)
            .await?;
        self.fleets.invalidate(&migration.source_region);
        self.fleets.invalidate(&migration.target_region);
        self.commit(tx, &[&migration.source_region, &migration.target_region]).await?;
        tracing::info!(migration = migration.id.0, instance = %moved.id, %failure, "migration rolled back");
        if migration.reason == MigrationReason::UserRequest {
            self.migration_retry(&migration, &moved).await;
        }
        Ok(())
    }

    /// Begins a failed user migration again, away from every host where it failed.
    async fn migration_retry(&self, failed: &Migration, instance: &Instance) {
        let outcome = async {
            let mut conn = self.store.snapshot().await?;
            let mut db = conn.db();
            let view = instance_views(&mut db, vec![instance.clone()]).await?.remove(0);
            let avoid: Vec<HostId> = db
                .system()
                .migration_failures()
                .await?
                .into_iter()
                .filter(|(i, _)| *i == instance.id.0)
                .map(|(_, host)| HostId(host))
                .collect();
            let groups = |id: Option<GroupId>| view.groups.iter().find(|g| Some(g.id) == id).cloned();
            let Some(source_host) = instance.host else { return Ok(()) };
            let begin = Begin {
                account: instance.account,
                instance: instance.id,
                size: instance.size,
                state: instance.state,
                source_host,
                source_region: instance.region.clone(),
                target_region: failed.target_region.clone(),
                source_group: groups(failed.source_group),
                target_group: match failed.target_group {
                    None => None,
                    Some(id) => match groups(Some(id)) {
                        Some(group) => Some(group),
                        None => db
                            .system()
                            .groups_by_id(&[id.0])
                            .await?
                            .into_iter()
                            .next()
                            .map(convert::group)
                            .transpose()?,
                    },
                },
                kept_groups: view.groups.iter().filter(|g| g.scope == Scope::Global).cloned().collect(),
                compliant_only: false,
                reason: MigrationReason::UserRequest,
                avoid,
            };
            drop(conn);
            self.migration_begin(&begin, None).await.map(|_| ())
        }
        .await;
        if let Err(error) = outcome {
            tracing::warn!(instance = %instance.id, error = %error, "retrying a failed migration found no host");
        }
    }

    /// Gives the oldest running migration no agent holds to an external agent. One whose
    /// lease ran out is not handed on: it is rolled back and retried elsewhere.
    pub async fn migration_claim(&self, agent: &str) -> Result<Option<MigrationJob>> {
        let Executor::External { lease } = self.settings.executor else {
            return Err(Error::conflict(Conflict::BuiltInExecutor));
        };
        validate_agent(agent)?;
        let now = now();
        let until = now.0 + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        let running = db.system().migrations_in_state(MigrationState::Running.as_str()).await?;
        for row in running {
            if row.claimed_by.is_none() && db.system().migration_claim(row.id, agent, until).await? {
                let claimed =
                    db.system().migration_get(row.id).await?.ok_or_else(|| Error::not_found(Thing::Migration))?;
                tx.commit().await?;
                return Ok(Some(MigrationJob {
                    migration: convert::migration(claimed)?,
                    lease_expires_at: Timestamp(until),
                }));
            }
        }
        Ok(None)
    }

    /// Renews an agent's lease on a migration it holds.
    pub async fn migration_heartbeat(&self, id: MigrationId, agent: &str) -> Result<MigrationJob> {
        let Executor::External { lease } = self.settings.executor else {
            return Err(Error::conflict(Conflict::BuiltInExecutor));
        };
        validate_agent(agent)?;
        let now = now();
        let until = now.0 + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        if !db.system().migration_heartbeat(id.0, agent, until, now.0).await? {
            return Err(lease_lost(&mut db, id, agent).await?);
        }
        let row = db.system().migration_get(id.0).await?.ok_or_else(|| Error::not_found(Thing::Migration))?;
        tx.commit().await?;
        Ok(MigrationJob { migration: convert::migration(row)?, lease_expires_at: Timestamp(until) })
    }

    /// An agent reports a migration it holds done.
    pub async fn migration_job_complete(&self, id: MigrationId, agent: &str) -> Result<Migration> {
        validate_agent(agent)?;
        {
            let mut conn = self.store.snapshot().await?;
            let mut db = conn.db();
            let row = db.system().migration_get(id.0).await?.ok_or_else(|| Error::not_found(Thing::Migration))?;
            let live = row.lease_expires_at.is_some_and(|at| at >= now().0);
            if row.state != MigrationState::Running.as_str() || row.claimed_by.as_deref() != Some(agent) || !live {
                return Err(lease_lost(&mut db, id, agent).await?);
            }
        }
        self.migration_complete_one(id.0, Some(agent)).await?;
        self.migration(id).await
    }

    /// An agent reports a migration it holds failed: it is rolled back and retried elsewhere.
    pub async fn migration_job_fail(&self, id: MigrationId, agent: &str, reason: &str) -> Result<Migration> {
        validate_agent(agent)?;
        if reason.chars().count() > 500 || reason.chars().any(char::is_control) {
            return Err(Error::invalid(Field::Reason, Problem::Length { min: 0, max: 500 }));
        }
        {
            let mut conn = self.store.snapshot().await?;
            let mut db = conn.db();
            let row = db.system().migration_get(id.0).await?.ok_or_else(|| Error::not_found(Thing::Migration))?;
            if row.state != MigrationState::Running.as_str() || row.claimed_by.as_deref() != Some(agent) {
                return Err(lease_lost(&mut db, id, agent).await?);
            }
        }
        let failure = if reason.is_empty() { format!("agent {agent} failed it") } else { reason.to_string() };
        self.migration_roll_back(id.0, &failure).await?;
        self.migration(id).await
    }

    /// Fails every running migration whose agent's lease ran out; returns how many.
    pub async fn migrations_expire_leases(&self) -> Result<usize> {
        let expired = self.store.read().await?.db().system().migrations_lease_expired(now().0).await?;
        for row in &expired {
            let agent = row.claimed_by.clone().unwrap_or_default();
            self.migration_roll_back(row.id, &format!("the lease of agent {agent} expired")).await?;
        }
        Ok(expired.len())
    }

    /// Starts queued migrations in plan order while fewer than the limit of background
    /// migrations run. A queued migration that no longer fits waits while others of its plan
    /// run; otherwise its plan is dropped, and planned again on the next pass.
    pub async fn migrations_start_queued(&self) -> Result<usize> {
        let mut started = 0;
        loop {
            let (queued, running) = {
                let mut conn = self.store.snapshot().await?;
                let mut db = conn.db();
                (
                    db.system().migrations_in_state(MigrationState::Queued.as_str()).await?,
                    db.system().migrations_in_state(MigrationState::Running.as_str()).await?,
                )
            };
            let background = running.iter().filter(|m| m.reason != MigrationReason::UserRequest.as_str()).count();
            if background >= self.settings.max_concurrent_migrations {
                return Ok(started);
            }
            let mut progressed = false;
            for row in &queued {
                let plan_running = running.iter().any(|m| m.plan_id.is_some() && m.plan_id == row.plan_id);
                match self.migration_start_one(row.id, plan_running).await? {
                    Start::Started => {
                        started += 1;
                        progressed = true;
                        break;
                    }
                    Start::Waiting => continue,
                    Start::Dropped => {
                        progressed = true;
                        break;
                    }
                }
            }
            if !progressed {
                return Ok(started);
            }
        }
    }

    async fn migration_start_one(&self, id: i64, plan_running: bool) -> Result<Start> {
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        // Lock the groups the move re-validates, then the instance and the migration, in the
        // order every change locks; a membership that changed before the locks were taken
        // leaves the migration for the next pass.
        let Some(row) = db.system().migration_get(id).await? else { return Ok(Start::Waiting) };
        let mut locked_groups: Vec<i64> =
            db.system().memberships_of_instances(&[row.instance_id]).await?.iter().map(|m| m.group_id).collect();
        locked_groups.sort_unstable();
        db.groups_lock(&locked_groups).await?;
        let Some(row) = migration_locked(&mut db, id).await? else { return Ok(Start::Waiting) };
        if row.state != MigrationState::Queued.as_str() {
            return Ok(Start::Waiting);
        }
        let migration = convert::migration(row)?;
        let Some(instance_row) = db.tenant(migration.account.0).instance_get(migration.instance.0).await? else {
            db.system().migration_finish(migration.id.0, MigrationState::Cancelled.as_str(), now().0).await?;
            tx.commit().await?;
            return Ok(Start::Dropped);
        };
        let instance = convert::instance(instance_row)?;
        let in_place = instance.host == Some(migration.source_host) && instance.target_host.is_none();
        let groups = instance_views(&mut db, vec![instance.clone()]).await?.remove(0).groups;
        if groups.iter().any(|g| locked_groups.binary_search(&g.id.0).is_err()) {
            return Ok(Start::Waiting);
        }
        let want = Want {
            region: &migration.target_region,
            size: instance.size,
            groups: &groups,
            moving: Some(instance.id),
            avoid: &[],
            compliant_only: migration.reason == MigrationReason::Repair,
        };
        let fits = in_place && reserve(&mut db, &want, migration.target_host).await?;
        if !fits {
            if plan_running && in_place {
                return Ok(Start::Waiting);
            }
            drop(tx);
            self.migration_drop_plan(&migration, "the target no longer fits").await?;
            return Ok(Start::Dropped);
        }
        let now = now();
        db.system()
            .instance_set_placement(
                instance.id.0,
                Some(migration.source_host.0),
                Some(migration.target_host.0),
                migration.source_region.as_str(),
                instance.state.as_str(),
                now.0,
            )
            .await?;
        db.system().migration_start(migration.id.0, self.due_at(now), now.0).await?;
        let subject = events::instance_entity(&instance);
        events::record(&mut db, migration.account, None, Action::InstanceMigrate, EventStatus::Started, &subject, None)
            .await?;
        let (moving, target) = (instance.id, migration.target_host);
        self.fleets.apply(&migration.source_region, |fleet| fleet.migration_start(moving, target));
        self.commit(tx, &[&migration.source_region]).await?;
        Ok(Start::Started)
    }

    /// Fails a queued migration that cannot start, and cancels the rest of its plan.
    async fn migration_drop_plan(&self, migration: &Migration, failure: &str) -> Result<()> {
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        db.system().migration_fail(migration.id.0, failure, now().0).await?;
        db.system().migration_failure_insert(migration.instance.0, migration.target_host.0, now().0).await?;
        if let Some(plan) = migration.plan {
            for row in db.system().migrations_in_state(MigrationState::Queued.as_str()).await? {
                if row.plan_id == Some(plan) {
                    db.system().migration_finish(row.id, MigrationState::Cancelled.as_str(), now().0).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn migration(&self, id: MigrationId) -> Result<Migration> {
        match self.store.read().await?.db().system().migration_get(id.0).await? {
            Some(row) => convert::migration(row),
            None => Err(Error::not_found(Thing::Migration)),
        }
    }

    /// Migrations of every account, newest first (among the most recent ten thousand).
    pub async fn migrations(&self, filter: &MigrationFilter) -> Result<Vec<Migration>> {
        let rows = self.store.read().await?.db().system().migrations_recent(RECENT).await?;
        let mut migrations = Vec::with_capacity(rows.len());
        for row in rows {
            let migration = convert::migration(row)?;
            let keep = filter.state.is_none_or(|s| s == migration.state)
                && filter.instance.is_none_or(|i| i == migration.instance)
                && filter.reason.is_none_or(|r| r == migration.reason)
                && filter.group.is_none_or(|g| migration.source_group == Some(g) || migration.target_group == Some(g));
            if keep {
                migrations.push(migration);
            }
        }
        Ok(migrations)
    }

    /// The migrations queued to run, in the order they will start.
    pub async fn migration_plan(&self) -> Result<Vec<Migration>> {
        let rows = self.store.read().await?.db().system().migrations_in_state(MigrationState::Queued.as_str()).await?;
        rows.into_iter().map(convert::migration).collect()
    }

    /// When the next migration falls due, if one is running.
    pub async fn migration_next_due(&self) -> Result<Option<Timestamp>> {
        Ok(self.store.read().await?.db().system().migration_next_due().await?.map(Timestamp))
    }

    /// Queues one move of a repair or drain plan.
    pub(crate) async fn migration_queue(
        &self,
        tx: &mut Tx,
        instance: &Instance,
        groups: &[Group],
        to: HostId,
        reason: MigrationReason,
        plan: i64,
    ) -> Result<()> {
        let Some(from) = instance.host else { return Ok(()) };
        // The group an instance shows is its regional one; an instance without one shows its
        // first group.
        let group = groups.iter().find(|g| matches!(g.scope, Scope::Region(_))).or(groups.first()).map(|g| g.id.0);
        tx.db()
            .migration_insert(
                &NewMigration {
                    account_id: instance.account.0,
                    instance_id: instance.id.0,
                    source_host_id: from.0,
                    target_host_id: to.0,
                    source_region_id: instance.region.as_str().to_string(),
                    target_region_id: instance.region.as_str().to_string(),
                    source_group_id: group,
                    target_group_id: group,
                    reason: reason.as_str().to_string(),
                    due_at: i64::MAX,
                    state: MigrationState::Queued.as_str().to_string(),
                    plan_id: Some(plan),
                },
                now().0,
            )
            .await?;
        Ok(())
    }
}

/// What became of a queued migration asked to start.
enum Start {
    Started,
    /// It cannot start yet: an earlier move of its plan still runs.
    Waiting,
    /// It was dropped (with the rest of its plan), or its instance is gone.
    Dropped,
}

/// Undoes what starting a running migration did: the target's capacity, the instance's target,
/// and the membership of the group it was joining.
pub(crate) async fn undo_running(db: &mut Db<'_>, migration: &Migration, instance: &store::InstanceRow) -> Result<()> {
    db.host_release(migration.target_host.0, instance.size()).await?;
    db.system()
        .instance_set_placement(
            instance.id,
            Some(migration.source_host.0),
            None,
            migration.source_region.as_str(),
            &instance.state,
            now().0,
        )
        .await?;
    if let Some(target) = migration.target_group
        && migration.source_group != Some(target)
    {
        db.tenant(migration.account.0).member_delete(target.0, instance.id).await?;
    }
    Ok(())
}

/// A migration as it stands once locked, with its instance locked first: the order every
/// change locks in.
async fn migration_locked(db: &mut Db<'_>, id: i64) -> Result<Option<store::MigrationRow>> {
    let Some(row) = db.system().migration_get(id).await? else { return Ok(None) };
    db.instances_lock(&[row.instance_id]).await?;
    db.migration_lock(id).await?;
    Ok(db.system().migration_get(id).await?)
}

async fn touched_groups(db: &mut Db<'_>, migration: &Migration) -> Result<Vec<Group>> {
    let mut ids: Vec<i64> = migration.source_group.iter().chain(migration.target_group.iter()).map(|g| g.0).collect();
    ids.sort_unstable();
    ids.dedup();
    db.system().groups_by_id(&ids).await?.into_iter().map(convert::group).collect()
}

async fn row_of(db: &mut Db<'_>, account: AccountId, id: InstanceId) -> Result<store::InstanceRow> {
    db.tenant(account.0)
        .instance_get(id.0)
        .await?
        .ok_or_else(|| Error::Internal(format!("instance {id} vanished inside its own transaction")))
}

fn validate_agent(agent: &str) -> Result<()> {
    let valid = !agent.is_empty()
        && agent.len() <= 64
        && agent.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(())
    } else {
        Err(Error::invalid(Field::Agent, Problem::Malformed { form: Form::PlainName, value: None }))
    }
}

/// Why an agent cannot act on a migration: it is unknown, finished, or held by someone else.
async fn lease_lost(db: &mut Db<'_>, id: MigrationId, agent: &str) -> Result<Error> {
    let Some(row) = db.system().migration_get(id.0).await? else { return Ok(Error::not_found(Thing::Migration)) };
    Ok(Error::conflict(if row.state != MigrationState::Running.as_str() {
        Conflict::MigrationNotRunning { migration: id, state: row.state }
    } else {
        Conflict::MigrationNotHeld { migration: id, agent: agent.to_string() }
    }))
}

/// The writes of a migration that begins, once its target is chosen and reserved.
struct BeginMigration<'a> {
    begin: &'a Begin,
    by: Option<&'a Principal>,
    want: &'a Want<'a>,
    /// The group the instance joins, when it moves into one it is not in.
    joins: Option<&'a Group>,
}

impl PlacementChange for BeginMigration<'_> {
    type Output = Migration;

    async fn write(
        &mut self,
        berth: &Berth,
        tx: &mut Tx,
        chosen: std::result::Result<(Placement, GroupsSnapshot), NoHost>,
    ) -> Result<Attempt<Migration>> {
        let (placement, _) = chosen.map_err(|no_host| refusal(self.want, no_host))?;
        berth.migration_begin_write(tx, self.begin, self.by, &placement, self.joins).await.map(Attempt::Done)
    }
}
