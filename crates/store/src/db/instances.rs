//! Instances.

use super::{Db, INSTANCE_COLUMNS, Result, System, Tenant, rows_in};
use crate::rows::*;
use crate::sql::{query, query_as};

impl Db<'_> {
    pub async fn instance_insert(&mut self, instance: &NewInstance, now: i64) -> Result<InstanceRow> {
        query_as(concat!(
            "INSERT INTO instances (uuid, account_id, label, region_id, type_id, vcpus, memory_mib, disk_mib, gpus, \
             host_id, state, image, tags, firewall_id, created_at, updated_at, labels) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16) \
             RETURNING ",
            instance_columns!()
        ))
        .bind(&instance.uuid)
        .bind(instance.account_id)
        .bind(&instance.label)
        .bind(&instance.region_id)
        .bind(&instance.type_id)
        .bind(instance.size.vcpus)
        .bind(instance.size.memory_mib)
        .bind(instance.size.disk_mib)
        .bind(instance.size.gpus)
        .bind(instance.host_id)
        .bind(&instance.state)
        .bind(&instance.image)
        .bind(&instance.tags)
        .bind(instance.firewall_id)
        .bind(now)
        .bind(&instance.labels)
        .fetch_one(&mut self.conn)
        .await
    }
}

impl Tenant<'_, '_> {
    pub async fn instance_get(&mut self, id: i64) -> Result<Option<InstanceRow>> {
        let account_id = self.account;
        query_as(concat!("SELECT ", instance_columns!(), " FROM instances WHERE id = $1 AND account_id = $2"))
            .bind(id)
            .bind(account_id)
            .fetch_optional(&mut self.db.conn)
            .await
    }

    pub async fn instance_get_by_uuid(&mut self, uuid: &str) -> Result<Option<InstanceRow>> {
        let account_id = self.account;
        query_as(concat!("SELECT ", instance_columns!(), " FROM instances WHERE uuid = $1 AND account_id = $2"))
            .bind(uuid)
            .bind(account_id)
            .fetch_optional(&mut self.db.conn)
            .await
    }

    pub async fn instances_of_account(&mut self) -> Result<Vec<InstanceRow>> {
        let account_id = self.account;
        query_as(concat!("SELECT ", instance_columns!(), " FROM instances WHERE account_id = $1 ORDER BY id"))
            .bind(account_id)
            .fetch_all(&mut self.db.conn)
            .await
    }

    /// One page of the account's instances, by id: `limit` of them after the first `offset`.
    pub async fn instances_page(&mut self, offset: i64, limit: i64) -> Result<Vec<InstanceRow>> {
        let account_id = self.account;
        query_as(concat!(
            "SELECT ",
            instance_columns!(),
            " FROM instances WHERE account_id = $1 ORDER BY id LIMIT $2 OFFSET $3"
        ))
        .bind(account_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut self.db.conn)
        .await
    }

    /// The account's instances with this id, label and region, as far as each is given, by
    /// id: the narrowing of a filtered list.
    pub async fn instances_matching(
        &mut self,
        id: Option<i64>,
        label: Option<&str>,
        region_id: Option<&str>,
    ) -> Result<Vec<InstanceRow>> {
        let mut sql = format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE account_id = $1");
        let mut next = 2;
        for (column, given) in [("id", id.is_some()), ("label", label.is_some()), ("region_id", region_id.is_some())] {
            if given {
                sql.push_str(&format!(" AND {column} = ${next}"));
                next += 1;
            }
        }
        sql.push_str(" ORDER BY id");
        let mut query = query_as(&sql).bind(self.account);
        if let Some(id) = id {
            query = query.bind(id);
        }
        if let Some(label) = label {
            query = query.bind(label);
        }
        if let Some(region_id) = region_id {
            query = query.bind(region_id);
        }
        query.fetch_all(&mut self.db.conn).await
    }

    /// The account's instances that a firewall protects, by id.
    pub async fn instances_with_firewall(&mut self, firewall_id: i64) -> Result<Vec<InstanceRow>> {
        let account_id = self.account;
        query_as(concat!(
            "SELECT ",
            instance_columns!(),
            " FROM instances WHERE firewall_id = $1 AND account_id = $2 ORDER BY id"
        ))
        .bind(firewall_id)
        .bind(account_id)
        .fetch_all(&mut self.db.conn)
        .await
    }

    /// How many instances the account has.
    pub async fn instance_count(&mut self) -> Result<i64> {
        let account_id = self.account;
        let row = query("SELECT COUNT(*) FROM instances WHERE account_id = $1")
            .bind(account_id)
            .fetch_one(&mut self.db.conn)
            .await?;
        row.get::<i64>(0)
    }

    pub async fn instance_label_taken(&mut self, label: &str, except: Option<i64>) -> Result<bool> {
        let account_id = self.account;
        let row = query("SELECT COUNT(*) FROM instances WHERE account_id = $1 AND label = $2 AND id <> $3")
            .bind(account_id)
            .bind(label)
            .bind(except.unwrap_or(-1))
            .fetch_one(&mut self.db.conn)
            .await?;
        Ok(row.get::<i64>(0)? > 0)
    }

    #[allow(clippy::too_many_arguments)] // One argument per column it changes.
    pub async fn instance_update(&mut self, id: i64, label: &str, tags: &str, labels: &str, now: i64) -> Result<()> {
        let account_id = self.account;
        query(
            "UPDATE instances SET label = $3, tags = $4, labels = $5, updated_at = $6 WHERE id = $1 AND account_id = $2",
        )
        .bind(id)
        .bind(account_id)
        .bind(label)
        .bind(tags)
        .bind(labels)
        .bind(now)
            .execute(&mut self.db.conn)
            .await?;
        Ok(())
    }

    /// Deletes an instance, its memberships and its failed-migration record.
    pub async fn instance_delete(&mut self, id: i64) -> Result<()> {
        let account_id = self.account;
        query(
            "DELETE FROM migration_failures WHERE instance_id = $1 \
             AND EXISTS (SELECT 1 FROM instances WHERE id = $1 AND account_id = $2)",
        )
        .bind(id)
        .bind(account_id)
        .execute(&mut self.db.conn)
        .await?;
        query("DELETE FROM group_members WHERE instance_id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&mut self.db.conn)
            .await?;
        query("DELETE FROM instances WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&mut self.db.conn)
            .await?;
        Ok(())
    }
}

impl System<'_, '_> {
    /// Any account's instance, for the operator.
    pub async fn instance_find(&mut self, id: Option<i64>, uuid: Option<&str>) -> Result<Option<InstanceRow>> {
        query_as(concat!("SELECT ", instance_columns!(), " FROM instances WHERE id = $1 OR uuid = $2"))
            .bind(id.unwrap_or(-1))
            .bind(uuid.unwrap_or(""))
            .fetch_optional(&mut self.db.conn)
            .await
    }

    pub async fn instances_by_id(&mut self, ids: &[i64]) -> Result<Vec<InstanceRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = |list: &str| format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE id IN ({list}) ORDER BY id");
        rows_in(&mut self.db.conn, ids, sql, |row: &InstanceRow| row.id).await
    }

    /// Every instance that runs on, or migrates to, a host.
    pub async fn instances_on_host(&mut self, host_id: i64) -> Result<Vec<InstanceRow>> {
        query_as(concat!(
            "SELECT ",
            instance_columns!(),
            " FROM instances WHERE host_id = $1 OR target_host_id = $1 ORDER BY id"
        ))
        .bind(host_id)
        .fetch_all(&mut self.db.conn)
        .await
    }

    /// Every instance, of every account, that is offline because no host could take it.
    pub async fn instances_offline(&mut self) -> Result<Vec<InstanceRow>> {
        query_as(concat!("SELECT ", instance_columns!(), " FROM instances WHERE host_id IS NULL ORDER BY id"))
            .fetch_all(&mut self.db.conn)
            .await
    }

    /// Every instance of every account, for the operator.
    pub async fn instances_all(&mut self) -> Result<Vec<InstanceRow>> {
        query_as(concat!("SELECT ", instance_columns!(), " FROM instances ORDER BY id"))
            .fetch_all(&mut self.db.conn)
            .await
    }

    /// Takes an instance off its host: it waits, offline, for one to take it.
    pub async fn instance_set_offline(&mut self, id: i64, reason: &str, now: i64) -> Result<()> {
        query(
            "UPDATE instances SET host_id = NULL, target_host_id = NULL, offline_reason = $2, updated_at = $3 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(reason)
        .bind(now)
        .execute(&mut self.db.conn)
        .await?;
        Ok(())
    }

    /// Every instance that runs on, or migrates to, a host of the region, of every account.
    pub async fn instances_in_region(&mut self, region_id: &str) -> Result<Vec<InstanceRow>> {
        query_as(concat!(
            "SELECT ",
            instance_columns!(),
            " FROM instances \
             WHERE host_id IN (SELECT id FROM hosts WHERE region_id = $1) \
             OR target_host_id IN (SELECT id FROM hosts WHERE region_id = $1) ORDER BY id"
        ))
        .bind(region_id)
        .fetch_all(&mut self.db.conn)
        .await
    }

    /// Sets where an instance runs, where it is migrating to, and its region and state.
    pub async fn instance_set_placement(
        &mut self,
        id: i64,
        host_id: Option<i64>,
        target_host_id: Option<i64>,
        region_id: &str,
        state: &str,
        now: i64,
    ) -> Result<()> {
        query(
            "UPDATE instances SET host_id = $2, target_host_id = $3, region_id = $4, state = $5, updated_at = $6, \
             offline_reason = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(host_id)
        .bind(target_host_id)
        .bind(region_id)
        .bind(state)
        .bind(now)
        .execute(&mut self.db.conn)
        .await?;
        Ok(())
    }
}
