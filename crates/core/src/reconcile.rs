//! The reconciler: the background work that keeps the fleet converging — placing offline
//! instances when room appears, moving instances off draining hosts, repairing non-compliant
//! groups, and running migrations within the concurrency limit.

use std::collections::{HashMap, HashSet};

use placement::{NoHost, Placement, RepairOptions};
use store::Tx;

use crate::convert;
use crate::error::{Error, Result};
use crate::events;
use crate::fleets::{GroupsSnapshot, engine};
use crate::instances::instance_views;
use crate::migrations::Executor;
use crate::model::*;
use crate::placing::{Attempt, Locks, PlacementChange, Want};
use crate::{Berth, now};

/// What one pass of the reconciler did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    pub expired: usize,
    pub completed: usize,
    pub placed: usize,
    pub queued_drain: usize,
    pub queued_repair: usize,
    pub started: usize,
}

impl Berth {
    /// One pass of the reconciler. `plan` also runs the planning steps (offline instances,
    /// drains, repair), which cost more than finishing and starting migrations.
    pub async fn reconcile(&self, plan: bool) -> Result<ReconcileReport> {
        let mut report = ReconcileReport::default();
        if matches!(self.settings.executor, Executor::External { .. }) {
            report.expired = self.migrations_expire_leases().await?;
        }
        report.completed = self.migrations_complete_due().await?;
        if plan {
            report.placed = self.place_offline().await?;
            report.queued_drain = self.queue_drains().await?;
            if self.settings.repair {
                report.queued_repair = self.queue_repairs().await?;
            }
        }
        report.started = self.migrations_start_queued().await?;
        Ok(report)
    }

    /// Starts offline instances on a host when one can take them; returns how many started.
    async fn place_offline(&self) -> Result<usize> {
        let offline: Vec<Instance> = {
            let mut conn = self.store.read().await?;
            conn.db().system().instances_offline().await?.into_iter().map(convert::instance).collect::<Result<_>>()?
        };
        let mut placed = 0;
        for instance in offline {
            let groups = {
                let mut conn = self.store.snapshot().await?;
                instance_views(&mut conn.db(), vec![instance.clone()]).await?.remove(0).groups
            };
            let want = Want {
                region: &instance.region,
                size: instance.size,
                groups: &groups,
                moving: None,
                avoid: &[],
                compliant_only: false,
            };
            let locks = Locks { instances: &[instance.id], ..Locks::default() };
            let outcome = self
                .place(&want, locks, &[&instance.region], PlaceOffline { instance: &instance, groups: &groups })
                .await;
            match outcome {
                Ok(true) => placed += 1,
                // Still colliding after every attempt: the next pass tries again.
                Ok(false) | Err(Error::Contended) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(placed)
    }

    /// Queues the moves that empty each draining host, for the instances that have none queued
    /// or running yet; returns how many it queued.
    async fn queue_drains(&self) -> Result<usize> {
        let (draining, busy) = {
            let mut conn = self.store.snapshot().await?;
            let mut db = conn.db();
            let hosts: Vec<Host> = db
                .hosts_all()
                .await?
                .iter()
                .map(convert::host)
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .filter(|h| h.state == HostState::Draining)
                .collect();
            (hosts, busy_instances(&mut db).await?)
        };
        let mut queued = 0;
        for host in draining {
            let fleet = self.region_snapshot(&host.region).await?;
            let evacuation = fleet.plan_evacuation(host.id).map_err(engine)?;
            let moves: Vec<_> = evacuation.moves.into_iter().filter(|m| !busy.contains(&m.instance)).collect();
            if moves.is_empty() {
                continue;
            }
            let mut tx = self.store.write().await?;
            let plan = tx.db().counter_next("migration_plan").await?;
            for step in &moves {
                let Some(row) = tx.db().system().instance_find(Some(step.instance.0), None).await? else { continue };
                let instance = convert::instance(row)?;
                if instance.host != Some(step.from) || instance.target_host.is_some() {
                    continue;
                }
                let groups = instance_views(&mut tx.db(), vec![instance.clone()]).await?.remove(0).groups;
                self.migration_queue(&mut tx, &instance, &groups, step.to, MigrationReason::Drain, plan).await?;
                queued += 1;
            }
            tx.commit().await?;
            tracing::info!(host = %host.name, queued = moves.len(), "drain planned");
        }
        Ok(queued)
    }

    /// Plans the repair of every non-compliant group, one region at a time, and queues the
    /// moves; a region with repair migrations queued or running waits for them. Groups no plan
    /// can repair keep a note saying why. Returns how many moves it queued.
    async fn queue_repairs(&self) -> Result<usize> {
        let (regions, active, failures, notes) = {
            let mut conn = self.store.snapshot().await?;
            let mut db = conn.db();
            let regions = db.regions().await?;
            let mut active: HashSet<String> = HashSet::new();
            for state in [MigrationState::Queued, MigrationState::Running] {
                for row in db.system().migrations_in_state(state.as_str()).await? {
                    if row.reason == MigrationReason::Repair.as_str() {
                        active.insert(row.source_region_id);
                    }
                }
            }
            let failures = db.system().migration_failures().await?;
            let notes: HashSet<i64> = db.system().repair_notes().await?.iter().map(|n| n.group_id).collect();
            (regions, active, failures, notes)
        };
        let mut queued = 0;
        for region in regions {
            if active.contains(&region.id) {
                continue;
            }
            let region_id = RegionId::parse(&region.id)?;
            let group_ids: Vec<i64> = {
                let mut conn = self.store.read().await?;
                let mut ids: Vec<i64> = conn
                    .db()
                    .system()
                    .memberships_in_region(region_id.as_str())
                    .await?
                    .iter()
                    .map(|m| m.group_id)
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                ids
            };
            if group_ids.is_empty() {
                continue;
            }
            let fleet = self.region_snapshot(&region_id).await?;
            let mut broken = Vec::new();
            for id in &group_ids {
                if let Ok(compliance) = fleet.group_compliance(GroupId(*id))
                    && !compliance.is_compliant()
                {
                    broken.push(GroupId(*id));
                }
            }
            let mut tx = self.store.write().await?;
            if broken.is_empty() {
                for id in group_ids.iter().filter(|id| notes.contains(id)) {
                    tx.db().system().repair_note_clear(*id).await?;
                }
                tx.commit().await?;
                continue;
            }
            let options = RepairOptions {
                groups: Some(broken.clone()),
                avoid: failures.iter().map(|(i, h)| (InstanceId(*i), HostId(*h))).collect(),
                ..RepairOptions::default()
            };
            let plan = fleet.plan_repair(&options);
            let groups_of: HashMap<i64, i64> = {
                let rows = tx.db().system().groups_by_id(&group_ids).await?;
                rows.iter().map(|g| (g.id, g.account_id)).collect()
            };
            for unresolved in &plan.unresolved {
                let account = groups_of.get(&unresolved.group.0).copied().unwrap_or_default();
                tx.db().tenant(account).repair_note_set(unresolved.group.0, &unresolved.reason, now().0).await?;
            }
            for repaired in &plan.repaired {
                tx.db().system().repair_note_clear(repaired.0).await?;
            }
            if !plan.moves.is_empty() {
                let plan_id = tx.db().counter_next("migration_plan").await?;
                for step in &plan.moves {
                    let Some(row) = tx.db().system().instance_find(Some(step.instance.0), None).await? else {
                        continue;
                    };
                    let instance = convert::instance(row)?;
                    let groups = instance_views(&mut tx.db(), vec![instance.clone()]).await?.remove(0).groups;
                    self.migration_queue(&mut tx, &instance, &groups, step.to, MigrationReason::Repair, plan_id)
                        .await?;
                    queued += 1;
                }
                tracing::info!(
                    region = %region_id,
                    moves = plan.moves.len(),
                    groups = plan.repaired.len(),
                    optimal = plan.optimal,
                    "repair planned"
                );
            }
            tx.commit().await?;
        }
        Ok(queued)
    }

    /// Why each group that repair cannot fix stays non-compliant.
    pub async fn repair_notes(&self) -> Result<HashMap<GroupId, String>> {
        let rows = self.store.read().await?.db().system().repair_notes().await?;
        Ok(rows.into_iter().map(|row| (GroupId(row.group_id), row.reason)).collect())
    }
}

/// Instances with a queued or running migration: a new plan leaves them alone.
async fn busy_instances(db: &mut store::Db<'_>) -> Result<HashSet<InstanceId>> {
    let mut busy = HashSet::new();
    for state in [MigrationState::Queued, MigrationState::Running] {
        for row in db.system().migrations_in_state(state.as_str()).await? {
            busy.insert(InstanceId(row.instance_id));
        }
    }
    Ok(busy)
}

/// The writes that put an offline instance on the host chosen for it, or record why none can
/// take it; the output says whether it was placed.
struct PlaceOffline<'a> {
    instance: &'a Instance,
    groups: &'a [Group],
}

impl PlacementChange for PlaceOffline<'_> {
    type Output = bool;

    /// Puts one offline instance on the host chosen for it, or records why none can take it.
    /// Returns whether it was placed.
    async fn write(
        &mut self,
        berth: &Berth,
        tx: &mut Tx,
        chosen: std::result::Result<(Placement, GroupsSnapshot), NoHost>,
    ) -> Result<Attempt<bool>> {
        let (instance, groups) = (self.instance, self.groups);
        // Under lock, the instance as it is now: deleted, or placed by an earlier pass.
        match tx.db().tenant(instance.account.0).instance_get(instance.id.0).await? {
            Some(row) if row.host_id.is_none() => {}
            _ => return Ok(Attempt::Abandoned(false)),
        }
        let host = match chosen {
            Ok((placement, _)) => placement.host,
            Err(reason) => {
                let reason = format!("no host can take it yet: {reason}");
                tx.db().system().instance_set_offline(instance.id.0, &reason, now().0).await?;
                return Ok(Attempt::Done(false));
            }
        };
        let mut db = tx.db();
        let before = events::compliance(&mut db, groups).await?;
        db.system()
            .instance_set_placement(
                instance.id.0,
                Some(host.0),
                None,
                instance.region.as_str(),
                instance.state.as_str(),
                now().0,
            )
            .await?;
        let subject = events::instance_entity(instance);
        events::record(&mut db, instance.account, None, Action::InstanceBoot, EventStatus::Finished, &subject, None)
            .await?;
        events::compliance_changes(&mut db, None, groups, &before, Some(&subject)).await?;
        berth.fleets.invalidate(&instance.region);
        tracing::info!(instance = %instance.id, host = %host, "offline instance placed");
        Ok(Attempt::Done(true))
    }
}
