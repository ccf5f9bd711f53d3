//! Migrations, their failures, and the notes repair keeps on groups it cannot mend.

use super::{Db, MIGRATION_COLUMNS, Result, System, Tenant, rows_in};
use crate::rows::*;
use crate::sql::{query, query_as};

impl Db<'_> {
    // Migrations.

    pub async fn migration_insert(&mut self, migration: &NewMigration, now: i64) -> Result<MigrationRow> {
        query_as(concat!(
            "INSERT INTO migrations (account_id, instance_id, source_host_id, target_host_id, source_region_id, \
             target_region_id, source_group_id, target_group_id, reason, state, created_at, due_at, plan_id, \
             started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $12, $10, $11, $13, \
             CASE WHEN $12 = 'running' THEN $10 ELSE NULL END) RETURNING ",
            migration_columns!()
        ))
        .bind(migration.account_id)
        .bind(migration.instance_id)
        .bind(migration.source_host_id)
        .bind(migration.target_host_id)
        .bind(&migration.source_region_id)
        .bind(&migration.target_region_id)
        .bind(migration.source_group_id)
        .bind(migration.target_group_id)
        .bind(&migration.reason)
        .bind(now)
        .bind(migration.due_at)
        .bind(&migration.state)
        .bind(migration.plan_id)
        .fetch_one(&mut self.conn)
        .await
    }

    /// The next value of a named counter, starting at 1.
    pub async fn counter_next(&mut self, name: &str) -> Result<i64> {
        let row = query(
            "INSERT INTO counters (name, value) VALUES ($1, 1) ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 \
             RETURNING value",
        )
        .bind(name)
        .fetch_one(&mut self.conn)
        .await?;
        row.get::<i64>(0)
    }
}

impl Tenant<'_, '_> {
    // Repair.

    pub async fn repair_note_set(&mut self, group_id: i64, reason: &str, now: i64) -> Result<()> {
        let account_id = self.account;
        query(
            "INSERT INTO repair_notes (group_id, account_id, reason, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (group_id) DO UPDATE SET reason = $3, updated_at = $4",
        )
        .bind(group_id)
        .bind(account_id)
        .bind(reason)
        .bind(now)
        .execute(&mut self.db.conn)
        .await?;
        Ok(())
    }
}

impl System<'_, '_> {
    /// The running migrations of these instances.
    pub async fn migrations_running_for_instances(&mut self, instance_ids: &[i64]) -> Result<Vec<MigrationRow>> {
        if instance_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = |list: &str| {
            format!(
                "SELECT {MIGRATION_COLUMNS} FROM migrations WHERE state = 'running' AND instance_id IN ({list}) \
                 ORDER BY id"
            )
        };
        rows_in(&mut self.db.conn, instance_ids, sql, |row: &MigrationRow| row.id).await
    }

    /// The running migrations into or out of these groups.
    pub async fn migrations_running_for_groups(&mut self, group_ids: &[i64]) -> Result<Vec<MigrationRow>> {
        if group_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = |list: &str| {
            format!(
                "SELECT {MIGRATION_COLUMNS} FROM migrations WHERE state = 'running' \
                 AND (source_group_id IN ({list}) OR target_group_id IN ({list})) ORDER BY id"
            )
        };
        rows_in(&mut self.db.conn, group_ids, sql, |row: &MigrationRow| row.id).await
    }

    /// Running migrations whose time has come, oldest first.
    pub async fn migrations_due(&mut self, now: i64, limit: i64) -> Result<Vec<MigrationRow>> {
        query_as(concat!(
            "SELECT ",
            migration_columns!(),
            " FROM migrations WHERE state = 'running' AND due_at <= $1 \
             ORDER BY due_at, id LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut self.db.conn)
        .await
    }

    /// The earliest time a running migration falls due, if any runs.
    pub async fn migration_next_due(&mut self) -> Result<Option<i64>> {
        let row =
            query("SELECT MIN(due_at) FROM migrations WHERE state = 'running'").fetch_one(&mut self.db.conn).await?;
        row.get::<Option<i64>>(0)
    }

    pub async fn migration_get(&mut self, id: i64) -> Result<Option<MigrationRow>> {
        query_as(concat!("SELECT ", migration_columns!(), " FROM migrations WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut self.db.conn)
            .await
    }

    pub async fn migration_finish(&mut self, id: i64, state: &str, now: i64) -> Result<()> {
        query("UPDATE migrations SET state = $2, finished_at = $3 WHERE id = $1")
            .bind(id)
            .bind(state)
            .bind(now)
            .execute(&mut self.db.conn)
            .await?;
        Ok(())
    }

    /// Records why a migration failed, and ends it.
    pub async fn migration_fail(&mut self, id: i64, failure: &str, now: i64) -> Result<()> {
        query("UPDATE migrations SET state = 'failed', failure = $2, finished_at = $3 WHERE id = $1")
            .bind(id)
            .bind(failure)
            .bind(now)
            .execute(&mut self.db.conn)
            .await?;
        Ok(())
    }

    /// Starts a queued migration: it runs from now and falls due at `due_at`.
    pub async fn migration_start(&mut self, id: i64, due_at: i64, now: i64) -> Result<bool> {
        let result = query(
            "UPDATE migrations SET state = 'running', started_at = $3, due_at = $2 WHERE id = $1 AND state = 'queued'",
        )
        .bind(id)
        .bind(due_at)
        .bind(now)
        .execute(&mut self.db.conn)
        .await?;
        Ok(result == 1)
    }

    /// Migrations in a state, oldest first (queued ones in the order their plans made them).
    pub async fn migrations_in_state(&mut self, state: &str) -> Result<Vec<MigrationRow>> {
        query_as(concat!(
            "SELECT ",
            migration_columns!(),
            " FROM migrations WHERE state = $1 ORDER BY COALESCE(plan_id, 0), id"
        ))
        .bind(state)
        .fetch_all(&mut self.db.conn)
        .await
    }

    /// The most recent migrations of every account, newest first.
    pub async fn migrations_recent(&mut self, limit: i64) -> Result<Vec<MigrationRow>> {
        query_as(concat!("SELECT ", migration_columns!(), " FROM migrations ORDER BY id DESC LIMIT $1"))
            .bind(limit)
            .fetch_all(&mut self.db.conn)
            .await
    }

    /// Gives a running migration to an agent until `lease_until`, if no agent has claimed it:
    /// one whose lease ran out is rolled back, never handed to another agent.
    pub async fn migration_claim(&mut self, id: i64, agent: &str, lease_until: i64) -> Result<bool> {
        let result = query(
            "UPDATE migrations SET claimed_by = $2, lease_expires_at = $3 WHERE id = $1 AND state = 'running' \
             AND claimed_by IS NULL",
        )
        .bind(id)
        .bind(agent)
        .bind(lease_until)
        .execute(&mut self.db.conn)
        .await?;
        Ok(result == 1)
    }

    /// Extends the lease of the agent that holds a running migration.
    pub async fn migration_heartbeat(&mut self, id: i64, agent: &str, lease_until: i64, now: i64) -> Result<bool> {
        let result = query(
            "UPDATE migrations SET lease_expires_at = $3 WHERE id = $1 AND state = 'running' AND claimed_by = $2 \
             AND lease_expires_at >= $4",
        )
        .bind(id)
        .bind(agent)
        .bind(lease_until)
        .bind(now)
        .execute(&mut self.db.conn)
        .await?;
        Ok(result == 1)
    }

    /// Running migrations whose agent's lease ran out.
    pub async fn migrations_lease_expired(&mut self, now: i64) -> Result<Vec<MigrationRow>> {
        query_as(concat!(
            "SELECT ",
            migration_columns!(),
            " FROM migrations WHERE state = 'running' AND claimed_by IS NOT NULL \
             AND lease_expires_at < $1 ORDER BY id"
        ))
        .bind(now)
        .fetch_all(&mut self.db.conn)
        .await
    }

    pub async fn migration_failure_insert(&mut self, instance_id: i64, host_id: i64, now: i64) -> Result<()> {
        query(
            "INSERT INTO migration_failures (instance_id, host_id, failed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (instance_id, host_id) DO UPDATE SET failed_at = $3",
        )
        .bind(instance_id)
        .bind(host_id)
        .bind(now)
        .execute(&mut self.db.conn)
        .await?;
        Ok(())
    }

    /// (instance, host) pairs where a migration failed.
    pub async fn migration_failures(&mut self) -> Result<Vec<(i64, i64)>> {
        let rows = query("SELECT instance_id, host_id FROM migration_failures ORDER BY instance_id, host_id")
            .fetch_all(&mut self.db.conn)
            .await?;
        rows.iter().map(|row| Ok((row.get::<i64>(0)?, row.get::<i64>(1)?))).collect()
    }

    pub async fn repair_note_clear(&mut self, group_id: i64) -> Result<()> {
        query("DELETE FROM repair_notes WHERE group_id = $1").bind(group_id).execute(&mut self.db.conn).await?;
        Ok(())
    }

    pub async fn repair_notes(&mut self) -> Result<Vec<RepairNoteRow>> {
        query_as("SELECT group_id, account_id, reason, updated_at FROM repair_notes ORDER BY group_id")
            .fetch_all(&mut self.db.conn)
            .await
    }
}
