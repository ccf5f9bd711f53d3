//! Migrations in flight: completed by the background worker when their time comes.

use crate::convert;
use crate::error::Result;
use crate::events;
use crate::model::*;
use crate::{Berth, now};

impl Berth {
    /// Completes every migration whose time has come: the instance runs on its target, the
    /// source host is released, and it leaves the group it migrated out of. Returns how many
    /// completed.
    pub async fn migrations_complete_due(&self) -> Result<usize> {
        let due = self.store.read().await?.db().migrations_due(now().0, 100).await?;
        let mut completed = 0;
        for row in due {
            let mut tx = self.store.write().await?;
            let mut db = tx.db();
            // Re-read inside the transaction: the instance may have been deleted meanwhile,
            // which cancels the migration.
            let Some(current) = db.migration_get(row.id).await? else { continue };
            if current.state != MigrationState::Running.as_str() {
                continue;
            }
            let migration = convert::migration(current)?;
            let Some(instance) = db.instance_get(migration.account.0, migration.instance.0).await? else {
                db.migration_finish(migration.id.0, MigrationState::Cancelled.as_str(), now().0).await?;
                tx.commit().await?;
                continue;
            };
            let touched: Vec<Group> = {
                let ids: Vec<i64> =
                    migration.source_group.iter().chain(migration.target_group.iter()).map(|g| g.0).collect();
                db.groups_by_id(&ids).await?.into_iter().map(convert::group).collect::<Result<Vec<_>>>()?
            };
            let before = events::compliance(&mut db, &touched).await?;
            db.host_release(migration.source_host.0, instance.size()).await?;
            db.instance_set_placement(
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
                db.member_delete(migration.account.0, group.0, instance.id).await?;
            }
            db.migration_finish(migration.id.0, MigrationState::Succeeded.as_str(), now().0).await?;
            let moved = convert::instance(
                db.instance_get(migration.account.0, migration.instance.0).await?.ok_or_else(|| {
                    crate::error::Error::Internal(format!("instance {} vanished while migrating", migration.instance))
                })?,
            )?;
            let linode = events::instance_entity(&moved);
            let action = if migration.source_region == migration.target_region {
                "linode_migrate"
            } else {
                "linode_migrate_datacenter"
            };
            events::record(&mut db, migration.account, None, action, "finished", &linode, None).await?;
            if let Some(group) = touched.iter().find(|g| Some(g.id) == leaves) {
                let entity = events::group_entity(group);
                events::record(
                    &mut db,
                    migration.account,
                    None,
                    "placement_group_unassign",
                    "finished",
                    &entity,
                    Some(&linode),
                )
                .await?;
            }
            events::compliance_changes(&mut db, None, &touched, &before, Some(&linode)).await?;
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
            completed += 1;
        }
        Ok(completed)
    }

    /// When the next migration falls due, if one is running.
    pub async fn migration_next_due(&self) -> Result<Option<Timestamp>> {
        Ok(self.store.read().await?.db().migration_next_due().await?.map(Timestamp))
    }
}
