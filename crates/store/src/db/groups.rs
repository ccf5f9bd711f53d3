//! Placement groups and their members.

use super::{Db, GROUP_COLUMNS, Result, System, Tenant, rows_in};
use crate::rows::*;
use crate::sql::{query, query_as};

impl Db<'_> {
    // Placement groups and their members.

    pub async fn group_insert(&mut self, group: &NewGroup, now: i64) -> Result<GroupRow> {
        query_as(concat!("INSERT INTO placement_groups (uuid, account_id, label, description, region_id, kind, policy, domain, \
             max_per_domain, max_members, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
             RETURNING ", group_columns!()))
        .bind(&group.uuid)
        .bind(group.account_id)
        .bind(&group.label)
        .bind(&group.description)
        .bind(&group.region_id)
        .bind(&group.kind)
        .bind(&group.policy)
        .bind(&group.domain)
        .bind(group.max_per_domain)
        .bind(group.max_members)
        .bind(now)
        .fetch_one(&mut self.conn)
        .await
    }
}

impl Tenant<'_, '_> {
    pub async fn group_get(&mut self, id: i64) -> Result<Option<GroupRow>> {
        let account_id = self.account;
        query_as(concat!("SELECT ", group_columns!(), " FROM placement_groups WHERE id = $1 AND account_id = $2"))
            .bind(id)
            .bind(account_id)
            .fetch_optional(&mut self.db.conn)
            .await
    }

    pub async fn group_get_by_uuid(&mut self, uuid: &str) -> Result<Option<GroupRow>> {
        let account_id = self.account;
        query_as(concat!("SELECT ", group_columns!(), " FROM placement_groups WHERE uuid = $1 AND account_id = $2"))
            .bind(uuid)
            .bind(account_id)
            .fetch_optional(&mut self.db.conn)
            .await
    }

    pub async fn groups_of_account(&mut self) -> Result<Vec<GroupRow>> {
        let account_id = self.account;
        query_as(concat!("SELECT ", group_columns!(), " FROM placement_groups WHERE account_id = $1 ORDER BY id"))
            .bind(account_id)
            .fetch_all(&mut self.db.conn)
            .await
    }

    /// One page of the account's regional groups (those of one region), by id.
    pub async fn regional_groups_page(&mut self, offset: i64, limit: i64) -> Result<Vec<GroupRow>> {
        let account_id = self.account;
        query_as(concat!(
            "SELECT ",
            group_columns!(),
            " FROM placement_groups WHERE account_id = $1 AND region_id IS NOT NULL \
             ORDER BY id LIMIT $2 OFFSET $3"
        ))
        .bind(account_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut self.db.conn)
        .await
    }

    /// How many regional groups the account has.
    pub async fn regional_group_count(&mut self) -> Result<i64> {
        let account_id = self.account;
        let row = query("SELECT COUNT(*) FROM placement_groups WHERE account_id = $1 AND region_id IS NOT NULL")
            .bind(account_id)
            .fetch_one(&mut self.db.conn)
            .await?;
        row.get::<i64>(0)
    }

    pub async fn group_count(&mut self, region_id: &str) -> Result<i64> {
        let account_id = self.account;
        let row = query("SELECT COUNT(*) FROM placement_groups WHERE account_id = $1 AND region_id = $2")
            .bind(account_id)
            .bind(region_id)
            .fetch_one(&mut self.db.conn)
            .await?;
        row.get::<i64>(0)
    }

    /// Whether another regional group of the account already has this label.
    pub async fn group_label_taken(&mut self, label: &str, except: Option<i64>) -> Result<bool> {
        let account_id = self.account;
        let row = query(
            "SELECT COUNT(*) FROM placement_groups WHERE account_id = $1 AND label = $2 AND region_id IS NOT NULL \
             AND id <> $3",
        )
        .bind(account_id)
        .bind(label)
        .bind(except.unwrap_or(-1))
        .fetch_one(&mut self.db.conn)
        .await?;
        Ok(row.get::<i64>(0)? > 0)
    }

    pub async fn group_update_label(&mut self, id: i64, label: &str, now: i64) -> Result<()> {
        let account_id = self.account;
        query("UPDATE placement_groups SET label = $3, updated_at = $4 WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .bind(label)
            .bind(now)
            .execute(&mut self.db.conn)
            .await?;
        Ok(())
    }

    pub async fn group_delete(&mut self, id: i64) -> Result<()> {
        let account_id = self.account;
        query("DELETE FROM repair_notes WHERE group_id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&mut self.db.conn)
            .await?;
        query("DELETE FROM placement_groups WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&mut self.db.conn)
            .await?;
        Ok(())
    }

    /// Records that an instance joined a group, after every earlier membership.
    pub async fn member_insert(&mut self, group_id: i64, instance_id: i64) -> Result<()> {
        let account_id = self.account;
        query("INSERT INTO group_members (group_id, instance_id, account_id) VALUES ($1, $2, $3)")
            .bind(group_id)
            .bind(instance_id)
            .bind(account_id)
            .execute(&mut self.db.conn)
            .await?;
        Ok(())
    }

    pub async fn member_delete(&mut self, group_id: i64, instance_id: i64) -> Result<()> {
        let account_id = self.account;
        query("DELETE FROM group_members WHERE group_id = $1 AND instance_id = $2 AND account_id = $3")
            .bind(group_id)
            .bind(instance_id)
            .bind(account_id)
            .execute(&mut self.db.conn)
            .await?;
        Ok(())
    }
}

impl System<'_, '_> {
    /// Every group of every account, for the operator.
    pub async fn groups_all(&mut self) -> Result<Vec<GroupRow>> {
        query_as(concat!("SELECT ", group_columns!(), " FROM placement_groups ORDER BY id"))
            .fetch_all(&mut self.db.conn)
            .await
    }

    pub async fn groups_by_id(&mut self, ids: &[i64]) -> Result<Vec<GroupRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = |list: &str| format!("SELECT {GROUP_COLUMNS} FROM placement_groups WHERE id IN ({list}) ORDER BY id");
        rows_in(&mut self.db.conn, ids, sql, |row: &GroupRow| row.id).await
    }

    /// The members of these groups with where each stands, in join order.
    pub async fn members_of_groups(&mut self, group_ids: &[i64]) -> Result<Vec<MemberRow>> {
        if group_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = |list: &str| {
            format!(
                "SELECT m.seq, m.group_id, m.instance_id, i.uuid AS instance_uuid, i.host_id, i.target_host_id \
                 FROM group_members m JOIN instances i ON i.id = m.instance_id \
                 WHERE m.group_id IN ({list}) ORDER BY m.seq"
            )
        };
        rows_in(&mut self.db.conn, group_ids, sql, |row: &MemberRow| row.seq).await
    }

    /// The memberships of these instances, in join order.
    pub async fn memberships_of_instances(&mut self, instance_ids: &[i64]) -> Result<Vec<MemberRow>> {
        if instance_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = |list: &str| {
            format!(
                "SELECT m.seq, m.group_id, m.instance_id, i.uuid AS instance_uuid, i.host_id, i.target_host_id \
                 FROM group_members m JOIN instances i ON i.id = m.instance_id \
                 WHERE m.instance_id IN ({list}) ORDER BY m.seq"
            )
        };
        rows_in(&mut self.db.conn, instance_ids, sql, |row: &MemberRow| row.seq).await
    }

    /// Every membership of an instance that runs on, or migrates to, a host of the region.
    pub async fn memberships_in_region(&mut self, region_id: &str) -> Result<Vec<MemberRow>> {
        query_as(
            "SELECT m.seq, m.group_id, m.instance_id, i.uuid AS instance_uuid, i.host_id, i.target_host_id \
             FROM group_members m JOIN instances i ON i.id = m.instance_id \
             WHERE i.host_id IN (SELECT id FROM hosts WHERE region_id = $1) \
             OR i.target_host_id IN (SELECT id FROM hosts WHERE region_id = $1) ORDER BY m.seq",
        )
        .bind(region_id)
        .fetch_all(&mut self.db.conn)
        .await
    }
}
