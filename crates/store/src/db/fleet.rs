//! Regions and hosts: the operator's fleet.

use super::{Db, HOST_COLUMNS, Result, rows_in};
use crate::rows::*;
use crate::sql::{query, query_as};

impl Db<'_> {
    // Regions and hosts: the operator's fleet.

    pub async fn region_insert(&mut self, region: &RegionRow) -> Result<()> {
        query(
            "INSERT INTO regions (id, label, country, site_type, status, max_members_per_group, \
             max_groups_per_account, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&region.id)
        .bind(&region.label)
        .bind(&region.country)
        .bind(&region.site_type)
        .bind(&region.status)
        .bind(region.max_members_per_group)
        .bind(region.max_groups_per_account)
        .bind(region.created_at)
        .execute(&mut self.conn)
        .await?;
        Ok(())
    }

    pub async fn regions(&mut self) -> Result<Vec<RegionRow>> {
        query_as(
            "SELECT id, label, country, site_type, status, max_members_per_group, max_groups_per_account, created_at \
             FROM regions ORDER BY id",
        )
        .fetch_all(&mut self.conn)
        .await
    }

    pub async fn region_get(&mut self, id: &str) -> Result<Option<RegionRow>> {
        query_as(
            "SELECT id, label, country, site_type, status, max_members_per_group, max_groups_per_account, created_at \
             FROM regions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut self.conn)
        .await
    }

    pub async fn host_insert(&mut self, host: &NewHost, now: i64) -> Result<HostRow> {
        query_as(concat!(
            "INSERT INTO hosts (uuid, name, region_id, rack, state, vcpus, memory_mib, disk_mib, gpus, created_at, \
             labels, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10) RETURNING ",
            host_columns!()
        ))
        .bind(&host.uuid)
        .bind(&host.name)
        .bind(&host.region_id)
        .bind(&host.rack)
        .bind(&host.state)
        .bind(host.size.vcpus)
        .bind(host.size.memory_mib)
        .bind(host.size.disk_mib)
        .bind(host.size.gpus)
        .bind(now)
        .bind(&host.labels)
        .fetch_one(&mut self.conn)
        .await
    }

    pub async fn hosts_in_region(&mut self, region_id: &str) -> Result<Vec<HostRow>> {
        query_as(concat!("SELECT ", host_columns!(), " FROM hosts WHERE region_id = $1 ORDER BY id"))
            .bind(region_id)
            .fetch_all(&mut self.conn)
            .await
    }

    pub async fn hosts_by_id(&mut self, ids: &[i64]) -> Result<Vec<HostRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = |list: &str| format!("SELECT {HOST_COLUMNS} FROM hosts WHERE id IN ({list}) ORDER BY id");
        rows_in(&mut self.conn, ids, sql, |row: &HostRow| row.id).await
    }

    /// Every host of the fleet, by id.
    pub async fn hosts_all(&mut self) -> Result<Vec<HostRow>> {
        query_as(concat!("SELECT ", host_columns!(), " FROM hosts ORDER BY id")).fetch_all(&mut self.conn).await
    }

    pub async fn host_by_name(&mut self, name: &str) -> Result<Option<HostRow>> {
        query_as(concat!("SELECT ", host_columns!(), " FROM hosts WHERE name = $1"))
            .bind(name)
            .fetch_optional(&mut self.conn)
            .await
    }

    pub async fn host_set_state(&mut self, id: i64, state: &str, now: i64) -> Result<()> {
        query("UPDATE hosts SET state = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(state)
            .bind(now)
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }

    /// Changes a host's rack, labels and capacity; the schema refuses a capacity below what is
    /// in use.
    pub async fn host_update(&mut self, id: i64, rack: &str, labels: &str, capacity: Size, now: i64) -> Result<()> {
        query(
            "UPDATE hosts SET rack = $2, labels = $3, vcpus = $4, memory_mib = $5, disk_mib = $6, gpus = $7, \
             updated_at = $8 WHERE id = $1",
        )
        .bind(id)
        .bind(rack)
        .bind(labels)
        .bind(capacity.vcpus)
        .bind(capacity.memory_mib)
        .bind(capacity.disk_mib)
        .bind(capacity.gpus)
        .bind(now)
        .execute(&mut self.conn)
        .await?;
        Ok(())
    }

    pub async fn host_get(&mut self, id: i64) -> Result<Option<HostRow>> {
        query_as(concat!("SELECT ", host_columns!(), " FROM hosts WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut self.conn)
            .await
    }

    /// Takes `size` out of an active host's free capacity, if it is there: the conditional
    /// update is the check, so two changes can never both take the last of a host. Returns
    /// whether the host had room.
    pub async fn host_reserve(&mut self, id: i64, size: Size) -> Result<bool> {
        let result = query(
            "UPDATE hosts SET used_vcpus = used_vcpus + $2, used_memory_mib = used_memory_mib + $3, \
             used_disk_mib = used_disk_mib + $4, used_gpus = used_gpus + $5 \
             WHERE id = $1 AND state = 'active' AND used_vcpus + $2 <= vcpus AND used_memory_mib + $3 <= memory_mib \
             AND used_disk_mib + $4 <= disk_mib AND used_gpus + $5 <= gpus",
        )
        .bind(id)
        .bind(size.vcpus)
        .bind(size.memory_mib)
        .bind(size.disk_mib)
        .bind(size.gpus)
        .execute(&mut self.conn)
        .await?;
        Ok(result == 1)
    }

    /// Gives `size` back to a host.
    pub async fn host_release(&mut self, id: i64, size: Size) -> Result<()> {
        query(
            "UPDATE hosts SET used_vcpus = used_vcpus - $2, used_memory_mib = used_memory_mib - $3, \
             used_disk_mib = used_disk_mib - $4, used_gpus = used_gpus - $5 WHERE id = $1",
        )
        .bind(id)
        .bind(size.vcpus)
        .bind(size.memory_mib)
        .bind(size.disk_mib)
        .bind(size.gpus)
        .execute(&mut self.conn)
        .await?;
        Ok(())
    }
}
