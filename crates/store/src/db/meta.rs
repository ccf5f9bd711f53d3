//! Facts about the database itself, its clock, named counters, and the leases that say which process runs the background work.

use super::{Db, Result};
use crate::Backend;
use crate::rows::*;
use crate::sql::{query, query_as};

impl Db<'_> {
    // Meta: facts about the database itself.

    pub async fn meta_get(&mut self, key: &str) -> Result<Option<String>> {
        let row = query("SELECT value FROM meta WHERE key = $1").bind(key).fetch_optional(&mut self.conn).await?;
        row.map(|row| row.get::<String>(0)).transpose()
    }

    /// Sets a meta key only if it is not set yet; returns whether this call set it. A second
    /// process that claims the same key at the same time waits for the first to commit or
    /// roll back, then finds it claimed (or claims it).
    pub async fn meta_claim(&mut self, key: &str, value: &str) -> Result<bool> {
        let result = query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&mut self.conn)
            .await?;
        Ok(result == 1)
    }

    pub async fn meta_set(&mut self, key: &str, value: &str) -> Result<()> {
        query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2")
            .bind(key)
            .bind(value)
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }

    // Leases: which process runs the background work.

    /// The database's clock, in milliseconds since the UNIX epoch: the one clock every process
    /// agrees on.
    fn clock_sql(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        }
    }

    /// The database's clock, in milliseconds since the UNIX epoch.
    pub async fn clock(&mut self) -> Result<i64> {
        let row = query(format!("SELECT {}", self.clock_sql())).fetch_one(&mut self.conn).await?;
        row.get::<i64>(0)
    }

    /// Takes the lease `name` for `holder` for `ttl_ms` from now, by the database's clock, if
    /// no one else holds it (or the holder let it run out); renews it if `holder` holds it.
    /// Returns the lease as it stands after the call, when `holder` holds it.
    pub async fn lease_acquire(&mut self, name: &str, holder: &str, ttl_ms: i64) -> Result<Option<LeaseRow>> {
        let clock = self.clock_sql();
        query_as(format!(
            "INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES ($1, $2, {clock}, {clock} + $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at \
             ELSE excluded.acquired_at END, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at < excluded.acquired_at \
             RETURNING name, holder, acquired_at, expires_at"
        ))
        .bind(name)
        .bind(holder)
        .bind(ttl_ms)
        .fetch_optional(&mut self.conn)
        .await
    }

    /// Gives a lease up, if `holder` holds it, so that another process takes over at once.
    pub async fn lease_release(&mut self, name: &str, holder: &str) -> Result<bool> {
        let result = query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&mut self.conn)
            .await?;
        Ok(result == 1)
    }

    /// The lease `name` as stored, whether or not it has run out.
    pub async fn lease_get(&mut self, name: &str) -> Result<Option<LeaseRow>> {
        query_as("SELECT name, holder, acquired_at, expires_at FROM leases WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut self.conn)
            .await
    }
}
