//! Row locks: what a change re-validates, it first locks.

use super::{Db, Result, rows_in};
use crate::Backend;
use crate::sql::query;

impl Db<'_> {
    // Row locks: what a change re-validates, it first locks, so that no other change (in this
    // process or another) can alter it before the commit. Each lock is taken in id order, and
    // changes lock in one order (a label, account, groups, instances, migrations, hosts), so
    // that two changes never deadlock. On SQLite these do nothing: its one writer already runs
    // changes one at a time.

    /// Locks an account, for changes that check something across the whole account (a label
    /// no other group has, how many groups it holds in a region).
    pub async fn account_lock(&mut self, id: i64) -> Result<()> {
        self.lock_rows("accounts", "id", &[id]).await
    }

    /// Locks one label of one kind of resource in an account, for a change that checks that no
    /// other resource of the account bears it: two changes that want the same label wait for
    /// each other, and nothing else does (where locking the account would make every create of
    /// the account wait). On PostgreSQL a transaction-scoped advisory lock, keyed by a 64-bit
    /// hash of the three (a collision of hashes only makes two changes wait needlessly).
    pub async fn label_lock(&mut self, kind: &str, account_id: i64, label: &str) -> Result<()> {
        if self.backend == Backend::Sqlite {
            return Ok(());
        }
        query("SELECT 1 FROM (SELECT pg_advisory_xact_lock($1)) AS locked")
            .bind(label_key(kind, account_id, label))
            .fetch_all(&mut self.conn)
            .await?;
        Ok(())
    }

    /// Locks placement groups, for changes that re-validate their members.
    pub async fn groups_lock(&mut self, ids: &[i64]) -> Result<()> {
        self.lock_rows("placement_groups", "id", ids).await
    }

    /// Locks instances, for changes that check where they stand before moving them.
    pub async fn instances_lock(&mut self, ids: &[i64]) -> Result<()> {
        self.lock_rows("instances", "id", ids).await
    }

    /// Locks a migration, for changes that check its state before ending or starting it.
    pub async fn migration_lock(&mut self, id: i64) -> Result<()> {
        self.lock_rows("migrations", "id", &[id]).await
    }

    /// Locks hosts, for changes that check what stands on them.
    pub async fn hosts_lock(&mut self, ids: &[i64]) -> Result<()> {
        self.lock_rows("hosts", "id", ids).await
    }

    /// Locks every host of a region: no capacity in it can change until the commit.
    pub async fn region_hosts_lock(&mut self, region_id: &str) -> Result<()> {
        if self.backend == Backend::Sqlite {
            return Ok(());
        }
        query("SELECT id FROM hosts WHERE region_id = $1 ORDER BY id FOR UPDATE")
            .bind(region_id)
            .fetch_all(&mut self.conn)
            .await?;
        Ok(())
    }

    async fn lock_rows(&mut self, table: &str, key: &str, ids: &[i64]) -> Result<()> {
        if self.backend == Backend::Sqlite || ids.is_empty() {
            return Ok(());
        }
        // In chunks of increasing ids, so that the rows are locked in the lock order.
        let sql = |list: &str| format!("SELECT {key} FROM {table} WHERE {key} IN ({list}) ORDER BY {key} FOR UPDATE");
        rows_in(&mut self.conn, ids, sql, |row: &(i64,)| row.0).await?;
        Ok(())
    }
}

/// The advisory lock key of a label: FNV-1a over the kind, the account and the label, each
/// ended by a byte no UTF-8 text holds, so that no two triples run together alike.
fn label_key(kind: &str, account_id: i64, label: &str) -> i64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let account = account_id.to_le_bytes();
    let parts: [&[u8]; 3] = [kind.as_bytes(), &account, label.as_bytes()];
    let mut hash = OFFSET;
    for part in parts {
        for byte in part.iter().chain(std::iter::once(&0xff)) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}
