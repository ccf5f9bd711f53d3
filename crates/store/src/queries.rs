//! Every query berth runs, as methods of [`Db`], shared by reads and transactions.

use sqlx::{AnyConnection, Row};

use crate::rows::*;
use crate::{Backend, StoreError};

/// One connection (pooled or inside a transaction) and the queries that run on it.
#[derive(Debug)]
pub struct Db<'c> {
    conn: &'c mut AnyConnection,
    backend: Backend,
}

type Result<T> = std::result::Result<T, StoreError>;

const HOST_COLUMNS: &str = "id, uuid, name, region_id, rack, state, vcpus, memory_mib, disk_mib, gpus, \
     used_vcpus, used_memory_mib, used_disk_mib, used_gpus, created_at, labels, updated_at";
const GROUP_COLUMNS: &str = "id, uuid, account_id, label, description, region_id, kind, policy, domain, \
     max_per_domain, max_members, created_at, updated_at";
const INSTANCE_COLUMNS: &str = "id, uuid, account_id, label, region_id, type_id, vcpus, memory_mib, disk_mib, \
     gpus, host_id, target_host_id, state, image, tags, firewall_id, created_at, updated_at, labels, offline_reason";
const MIGRATION_COLUMNS: &str = "id, account_id, instance_id, source_host_id, target_host_id, source_region_id, \
     target_region_id, source_group_id, target_group_id, reason, state, created_at, due_at, finished_at, plan_id, \
     started_at, claimed_by, lease_expires_at, failure";
const API_KEY_COLUMNS: &str = "id, account_id, user_id, key, secret, name, created_at, revoked_at";
const OPERATION_COLUMNS: &str = "id, account_id, state, reason, message, reference_id, reference_link, \
     reference_command, created_at";
const FIREWALL_COLUMNS: &str = "id, account_id, label, status, rules, tags, created_at, updated_at";

/// `$first, $first+1, …` for `count` values, for `IN (…)` lists.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

impl<'c> Db<'c> {
    pub(crate) fn new(conn: &'c mut AnyConnection, backend: Backend) -> Db<'c> {
        Db { conn, backend }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    // Meta: facts about the database itself.

    pub async fn meta_get(&mut self, key: &str) -> Result<Option<String>> {
        let row =
            sqlx::query("SELECT value FROM meta WHERE key = $1").bind(key).fetch_optional(&mut *self.conn).await?;
        Ok(row.map(|row| row.get::<String, _>(0)))
    }

    /// Sets a meta key only if it is not set yet; returns whether this call set it. A second
    /// process that claims the same key at the same time waits for the first to commit or
    /// roll back, then finds it claimed (or claims it).
    pub async fn meta_claim(&mut self, key: &str, value: &str) -> Result<bool> {
        let result = sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&mut *self.conn)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn meta_set(&mut self, key: &str, value: &str) -> Result<()> {
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2")
            .bind(key)
            .bind(value)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

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
        sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock($1)) AS locked")
            .bind(label_key(kind, account_id, label))
            .fetch_all(&mut *self.conn)
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
        sqlx::query("SELECT id FROM hosts WHERE region_id = $1 ORDER BY id FOR UPDATE")
            .bind(region_id)
            .fetch_all(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn lock_rows(&mut self, table: &str, key: &str, ids: &[i64]) -> Result<()> {
        if self.backend == Backend::Sqlite || ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "SELECT {key} FROM {table} WHERE {key} IN ({}) ORDER BY {key} FOR UPDATE",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(*id);
        }
        query.fetch_all(&mut *self.conn).await?;
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
        let row = sqlx::query(&format!("SELECT {}", self.clock_sql())).fetch_one(&mut *self.conn).await?;
        Ok(row.get::<i64, _>(0))
    }

    /// Takes the lease `name` for `holder` for `ttl_ms` from now, by the database's clock, if
    /// no one else holds it (or the holder let it run out); renews it if `holder` holds it.
    /// Returns the lease as it stands after the call, when `holder` holds it.
    pub async fn lease_acquire(&mut self, name: &str, holder: &str, ttl_ms: i64) -> Result<Option<LeaseRow>> {
        let clock = self.clock_sql();
        Ok(sqlx::query_as(&format!(
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
        .fetch_optional(&mut *self.conn)
        .await?)
    }

    /// Gives a lease up, if `holder` holds it, so that another process takes over at once.
    pub async fn lease_release(&mut self, name: &str, holder: &str) -> Result<bool> {
        let result = sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&mut *self.conn)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// The lease `name` as stored, whether or not it has run out.
    pub async fn lease_get(&mut self, name: &str) -> Result<Option<LeaseRow>> {
        Ok(sqlx::query_as("SELECT name, holder, acquired_at, expires_at FROM leases WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *self.conn)
            .await?)
    }

    // Accounts, users and tokens.

    pub async fn account_insert(&mut self, name: &str, now: i64) -> Result<AccountRow> {
        Ok(sqlx::query_as("INSERT INTO accounts (name, created_at) VALUES ($1, $2) RETURNING id, name, created_at")
            .bind(name)
            .bind(now)
            .fetch_one(&mut *self.conn)
            .await?)
    }

    pub async fn account_get(&mut self, id: i64) -> Result<Option<AccountRow>> {
        Ok(sqlx::query_as("SELECT id, name, created_at FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.conn)
            .await?)
    }

    pub async fn user_insert(
        &mut self,
        account_id: i64,
        username: &str,
        email: &str,
        restricted: bool,
        now: i64,
    ) -> Result<UserRow> {
        Ok(sqlx::query_as(
            "INSERT INTO users (account_id, username, email, restricted, created_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING id, account_id, username, email, restricted, created_at",
        )
        .bind(account_id)
        .bind(username)
        .bind(email)
        .bind(i64::from(restricted))
        .bind(now)
        .fetch_one(&mut *self.conn)
        .await?)
    }

    pub async fn accounts(&mut self) -> Result<Vec<AccountRow>> {
        Ok(sqlx::query_as("SELECT id, name, created_at FROM accounts ORDER BY id").fetch_all(&mut *self.conn).await?)
    }

    pub async fn account_by_name(&mut self, name: &str) -> Result<Option<AccountRow>> {
        Ok(sqlx::query_as("SELECT id, name, created_at FROM accounts WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *self.conn)
            .await?)
    }

    pub async fn users_of_account(&mut self, account_id: i64) -> Result<Vec<UserRow>> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, username, email, restricted, created_at FROM users WHERE account_id = $1 ORDER BY id",
        )
        .bind(account_id)
        .fetch_all(&mut *self.conn)
        .await?)
    }

    pub async fn user_by_username(&mut self, username: &str) -> Result<Option<UserRow>> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, username, email, restricted, created_at FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&mut *self.conn)
        .await?)
    }

    pub async fn user_get(&mut self, account_id: i64, id: i64) -> Result<Option<UserRow>> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, username, email, restricted, created_at FROM users WHERE id = $1 AND account_id = $2",
        )
        .bind(id)
        .bind(account_id)
        .fetch_optional(&mut *self.conn)
        .await?)
    }

    #[allow(clippy::too_many_arguments)] // One argument per column of the row it inserts.
    pub async fn token_insert(
        &mut self,
        account_id: i64,
        user_id: i64,
        label: &str,
        secret_hash: &str,
        scopes: &str,
        now: i64,
        expires_at: Option<i64>,
    ) -> Result<TokenRow> {
        Ok(sqlx::query_as(
            "INSERT INTO tokens (account_id, user_id, label, secret_hash, scopes, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             RETURNING id, account_id, user_id, label, scopes, created_at, expires_at, revoked_at",
        )
        .bind(account_id)
        .bind(user_id)
        .bind(label)
        .bind(secret_hash)
        .bind(scopes)
        .bind(now)
        .bind(expires_at)
        .fetch_one(&mut *self.conn)
        .await?)
    }

    pub async fn token_by_hash(&mut self, secret_hash: &str) -> Result<Option<TokenRow>> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, user_id, label, scopes, created_at, expires_at, revoked_at FROM tokens \
             WHERE secret_hash = $1",
        )
        .bind(secret_hash)
        .fetch_optional(&mut *self.conn)
        .await?)
    }

    pub async fn tokens_of_user(&mut self, account_id: i64, user_id: i64) -> Result<Vec<TokenRow>> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, user_id, label, scopes, created_at, expires_at, revoked_at FROM tokens \
             WHERE account_id = $1 AND user_id = $2 ORDER BY id",
        )
        .bind(account_id)
        .bind(user_id)
        .fetch_all(&mut *self.conn)
        .await?)
    }

    /// Revokes a token; returns whether it existed and was not revoked already.
    pub async fn token_revoke(&mut self, account_id: i64, id: i64, now: i64) -> Result<bool> {
        let result =
            sqlx::query("UPDATE tokens SET revoked_at = $3 WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL")
                .bind(id)
                .bind(account_id)
                .bind(now)
                .execute(&mut *self.conn)
                .await?;
        Ok(result.rows_affected() == 1)
    }

    // Grants of restricted users.

    pub async fn global_grants_of_user(&mut self, user_id: i64) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT grant_name FROM global_grants WHERE user_id = $1 ORDER BY grant_name")
            .bind(user_id)
            .fetch_all(&mut *self.conn)
            .await?;
        Ok(rows.iter().map(|row| row.get::<String, _>(0)).collect())
    }

    pub async fn entity_grants_of_user(&mut self, user_id: i64) -> Result<Vec<EntityGrantRow>> {
        Ok(sqlx::query_as(
            "SELECT entity_type, entity_id, permission FROM entity_grants WHERE user_id = $1 \
             ORDER BY entity_type, entity_id",
        )
        .bind(user_id)
        .fetch_all(&mut *self.conn)
        .await?)
    }

    /// Replaces every grant of a user.
    pub async fn grants_replace(
        &mut self,
        account_id: i64,
        user_id: i64,
        global: &[String],
        entities: &[EntityGrantRow],
    ) -> Result<()> {
        sqlx::query("DELETE FROM global_grants WHERE user_id = $1 AND account_id = $2")
            .bind(user_id)
            .bind(account_id)
            .execute(&mut *self.conn)
            .await?;
        sqlx::query("DELETE FROM entity_grants WHERE user_id = $1 AND account_id = $2")
            .bind(user_id)
            .bind(account_id)
            .execute(&mut *self.conn)
            .await?;
        for name in global {
            sqlx::query("INSERT INTO global_grants (account_id, user_id, grant_name) VALUES ($1, $2, $3)")
                .bind(account_id)
                .bind(user_id)
                .bind(name)
                .execute(&mut *self.conn)
                .await?;
        }
        for grant in entities {
            self.entity_grant_set(account_id, user_id, grant).await?;
        }
        Ok(())
    }

    /// Gives a user a permission on one entity, replacing the one it had.
    pub async fn entity_grant_set(&mut self, account_id: i64, user_id: i64, grant: &EntityGrantRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO entity_grants (account_id, user_id, entity_type, entity_id, permission) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_id, entity_type, entity_id) DO UPDATE SET permission = $5 \
             WHERE entity_grants.account_id = $1",
        )
        .bind(account_id)
        .bind(user_id)
        .bind(&grant.entity_type)
        .bind(grant.entity_id)
        .bind(&grant.permission)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Forgets every grant on an entity that no longer exists.
    pub async fn entity_grants_delete(&mut self, account_id: i64, entity_type: &str, entity_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM entity_grants WHERE account_id = $1 AND entity_type = $2 AND entity_id = $3")
            .bind(account_id)
            .bind(entity_type)
            .bind(entity_id)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    // Events.

    pub async fn event_insert(&mut self, event: &NewEvent, now: i64) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO events (account_id, username, action, status, entity_type, entity_id, entity_uuid, \
             entity_label, secondary_type, secondary_id, secondary_label, message, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        )
        .bind(event.account_id)
        .bind(&event.username)
        .bind(&event.action)
        .bind(&event.status)
        .bind(&event.entity_type)
        .bind(event.entity_id)
        .bind(&event.entity_uuid)
        .bind(&event.entity_label)
        .bind(&event.secondary_type)
        .bind(event.secondary_id)
        .bind(&event.secondary_label)
        .bind(&event.message)
        .bind(now)
        .fetch_one(&mut *self.conn)
        .await?;
        Ok(row.get::<i64, _>(0))
    }

    /// An account's events, newest first.
    pub async fn events_of_account(&mut self, account_id: i64) -> Result<Vec<EventRow>> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, username, action, status, entity_type, entity_id, entity_uuid, entity_label, \
             secondary_type, secondary_id, secondary_label, message, created_at FROM events \
             WHERE account_id = $1 ORDER BY id DESC",
        )
        .bind(account_id)
        .fetch_all(&mut *self.conn)
        .await?)
    }

    // Regions and hosts: the operator's fleet.

    pub async fn region_insert(&mut self, region: &RegionRow) -> Result<()> {
        sqlx::query(
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
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    pub async fn regions(&mut self) -> Result<Vec<RegionRow>> {
        Ok(sqlx::query_as(
            "SELECT id, label, country, site_type, status, max_members_per_group, max_groups_per_account, created_at \
             FROM regions ORDER BY id",
        )
        .fetch_all(&mut *self.conn)
        .await?)
    }

    pub async fn region_get(&mut self, id: &str) -> Result<Option<RegionRow>> {
        Ok(sqlx::query_as(
            "SELECT id, label, country, site_type, status, max_members_per_group, max_groups_per_account, created_at \
             FROM regions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *self.conn)
        .await?)
    }

    pub async fn host_insert(&mut self, host: &NewHost, now: i64) -> Result<HostRow> {
        Ok(sqlx::query_as(&format!(
            "INSERT INTO hosts (uuid, name, region_id, rack, state, vcpus, memory_mib, disk_mib, gpus, created_at, \
             labels, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10) RETURNING {HOST_COLUMNS}"
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
        .fetch_one(&mut *self.conn)
        .await?)
    }

    pub async fn hosts_in_region(&mut self, region_id: &str) -> Result<Vec<HostRow>> {
        Ok(sqlx::query_as(&format!("SELECT {HOST_COLUMNS} FROM hosts WHERE region_id = $1 ORDER BY id"))
            .bind(region_id)
            .fetch_all(&mut *self.conn)
            .await?)
    }

    pub async fn hosts_by_id(&mut self, ids: &[i64]) -> Result<Vec<HostRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("SELECT {HOST_COLUMNS} FROM hosts WHERE id IN ({}) ORDER BY id", placeholders(1, ids.len()));
        let mut query = sqlx::query_as(&sql);
        for id in ids {
            query = query.bind(*id);
        }
        Ok(query.fetch_all(&mut *self.conn).await?)
    }

    /// Every host of the fleet, by id.
    pub async fn hosts_all(&mut self) -> Result<Vec<HostRow>> {
        Ok(sqlx::query_as(&format!("SELECT {HOST_COLUMNS} FROM hosts ORDER BY id")).fetch_all(&mut *self.conn).await?)
    }

    pub async fn host_by_name(&mut self, name: &str) -> Result<Option<HostRow>> {
        Ok(sqlx::query_as(&format!("SELECT {HOST_COLUMNS} FROM hosts WHERE name = $1"))
            .bind(name)
            .fetch_optional(&mut *self.conn)
            .await?)
    }

    pub async fn host_set_state(&mut self, id: i64, state: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE hosts SET state = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(state)
            .bind(now)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    /// Changes a host's rack, labels and capacity; the schema refuses a capacity below what is
    /// in use.
    pub async fn host_update(&mut self, id: i64, rack: &str, labels: &str, capacity: Size, now: i64) -> Result<()> {
        sqlx::query(
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
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    pub async fn host_get(&mut self, id: i64) -> Result<Option<HostRow>> {
        Ok(sqlx::query_as(&format!("SELECT {HOST_COLUMNS} FROM hosts WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *self.conn)
            .await?)
    }

    /// Takes `size` out of an active host's free capacity, if it is there: the conditional
    /// update is the check, so two changes can never both take the last of a host. Returns
    /// whether the host had room.
    pub async fn host_reserve(&mut self, id: i64, size: Size) -> Result<bool> {
        let result = sqlx::query(
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
        .execute(&mut *self.conn)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Gives `size` back to a host.
    pub async fn host_release(&mut self, id: i64, size: Size) -> Result<()> {
        sqlx::query(
            "UPDATE hosts SET used_vcpus = used_vcpus - $2, used_memory_mib = used_memory_mib - $3, \
             used_disk_mib = used_disk_mib - $4, used_gpus = used_gpus - $5 WHERE id = $1",
        )
        .bind(id)
        .bind(size.vcpus)
        .bind(size.memory_mib)
        .bind(size.disk_mib)
        .bind(size.gpus)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    // Placement groups and their members.

    pub async fn group_insert(&mut self, group: &NewGroup, now: i64) -> Result<GroupRow> {
        Ok(sqlx::query_as(&format!(
            "INSERT INTO placement_groups (uuid, account_id, label, description, region_id, kind, policy, domain, \
             max_per_domain, max_members, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
             RETURNING {GROUP_COLUMNS}"
        ))
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
        .fetch_one(&mut *self.conn)
        .await?)
    }

    pub async fn group_get(&mut self, account_id: i64, id: i64) -> Result<Option<GroupRow>> {
        Ok(sqlx::query_as(&format!("SELECT {GROUP_COLUMNS} FROM placement_groups WHERE id = $1 AND account_id = $2"))
            .bind(id)
            .bind(account_id)
            .fetch_optional(&mut *self.conn)
            .await?)
    }

    pub async fn group_get_by_uuid(&mut self, account_id: i64, uuid: &str) -> Result<Option<GroupRow>> {
        Ok(sqlx::query_as(&format!("SELECT {GROUP_COLUMNS} FROM placement_groups WHERE uuid = $1 AND account_id = $2"))
            .bind(uuid)
            .bind(account_id)
            .fetch_optional(&mut *self.conn)
            .await?)
    }

    pub async fn groups_of_account(&mut self, account_id: i64) -> Result<Vec<GroupRow>> {
        Ok(sqlx::query_as(&format!("SELECT {GROUP_COLUMNS} FROM placement_groups WHERE account_id = $1 ORDER BY id"))
            .bind(account_id)
            .fetch_all(&mut *self.conn)
            .await?)
    }

    /// Every group of every account, for the operator.
    pub async fn groups_all(&mut self) -> Result<Vec<GroupRow>> {
        Ok(sqlx::query_as(&format!("SELECT {GROUP_COLUMNS} FROM placement_groups ORDER BY id"))
            .fetch_all(&mut *self.conn)
            .await?)
    }

    pub async fn groups_by_id(&mut self, ids: &[i64]) -> Result<Vec<GroupRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {GROUP_COLUMNS} FROM placement_groups WHERE id IN ({}) ORDER BY id",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query_as(&sql);
        for id in ids {
            query = query.bind(*id);
        }
        Ok(query.fetch_all(&mut *self.conn).await?)
    }

    pub async fn group_count(&mut self, account_id: i64, region_id: &str) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM placement_groups WHERE account_id = $1 AND region_id = $2")
            .bind(account_id)
            .bind(region_id)
            .fetch_one(&mut *self.conn)
            .await?;
        Ok(row.get::<i64, _>(0))
    }

    /// Whether another regional group of the account already has this label.
    pub async fn group_label_taken(&mut self, account_id: i64, label: &str, except: Option<i64>) -> Result<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM placement_groups WHERE account_id = $1 AND label = $2 AND region_id IS NOT NULL \
             AND id <> $3",
        )
        .bind(account_id)
        .bind(label)
        .bind(except.unwrap_or(-1))
        .fetch_one(&mut *self.conn)
        .await?;
        Ok(row.get::<i64, _>(0) > 0)
    }

    pub async fn group_update_label(&mut self, account_id: i64, id: i64, label: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE placement_groups SET label = $3, updated_at = $4 WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .bind(label)
            .bind(now)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    pub async fn group_delete(&mut self, account_id: i64, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM repair_notes WHERE group_id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&mut *self.conn)
            .await?;
        sqlx::query("DELETE FROM placement_groups WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    /// The members of these groups with where each stands, in join order.
    pub async fn members_of_groups(&mut self, group_ids: &[i64]) -> Result<Vec<MemberRow>> {
        if group_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT m.seq, m.group_id, m.instance_id, i.uuid AS instance_uuid, i.host_id, i.target_host_id \
             FROM group_members m JOIN instances i ON i.id = m.instance_id \
             WHERE m.group_id IN ({}) ORDER BY m.seq",
            placeholders(1, group_ids.len())
        );
        let mut query = sqlx::query_as(&sql);
        for id in group_ids {
            query = query.bind(*id);
        }
        Ok(query.fetch_all(&mut *self.conn).await?)
    }

    /// The memberships of these instances, in join order.
    pub async fn memberships_of_instances(&mut self, instance_ids: &[i64]) -> Result<Vec<MemberRow>> {
        if instance_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT m.seq, m.group_id, m.instance_id, i.uuid AS instance_uuid, i.host_id, i.target_host_id \
             FROM group_members m JOIN instances i ON i.id = m.instance_id \
             WHERE m.instance_id IN ({}) ORDER BY m.seq",
            placeholders(1, instance_ids.len())
        );
        let mut query = sqlx::query_as(&sql);
        for id in instance_ids {
            query = query.bind(*id);
        }
        Ok(query.fetch_all(&mut *self.conn).await?)
    }

    /// Every membership of an instance that runs on, or migrates to, a host of the region.
    pub async fn memberships_in_region(&mut self, region_id: &str) -> Result<Vec<MemberRow>> {
        Ok(sqlx::query_as(
            "SELECT m.seq, m.group_id, m.instance_id, i.uuid AS instance_uuid, i.host_id, i.target_host_id \
             FROM group_members m JOIN instances i ON i.id = m.instance_id \
             WHERE i.host_id IN (SELECT id FROM hosts WHERE region_id = $1) \
             OR i.target_host_id IN (SELECT id FROM hosts WHERE region_id = $1) ORDER BY m.seq",
        )
        .bind(region_id)
        .fetch_all(&mut *self.conn)
        .await?)
    }

    /// Records that an instance joined a group, after every earlier membership.
    pub async fn member_insert(&mut self, account_id: i64, group_id: i64, instance_id: i64) -> Result<()> {
        sqlx::query("INSERT INTO group_members (group_id, instance_id, account_id) VALUES ($1, $2, $3)")
            .bind(group_id)
            .bind(instance_id)
            .bind(account_id)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    pub async fn member_delete(&mut self, account_id: i64, group_id: i64, instance_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND instance_id = $2 AND account_id = $3")
            .bind(group_id)
            .bind(instance_id)
            .bind(account_id)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    // Instances.

    pub async fn instance_insert(&mut self, instance: &NewInstance, now: i64) -> Result<InstanceRow> {
        Ok(sqlx::query_as(&format!(
            "INSERT INTO instances (uuid, account_id, label, region_id, type_id, vcpus, memory_mib, disk_mib, gpus, \
             host_id, state, image, tags, firewall_id, created_at, updated_at, labels) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16) \
             RETURNING {INSTANCE_COLUMNS}"
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
        .fetch_one(&mut *self.conn)
        .await?)
    }

    pub async fn instance_get(&mut self, account_id: i64, id: i64) -> Result<Option<InstanceRow>> {
        Ok(sqlx::query_as(&format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = $1 AND account_id = $2"))
            .bind(id)
            .bind(account_id)
            .fetch_optional(&mut *self.conn)
            .await?)
    }

    pub async fn instance_get_by_uuid(&mut self, account_id: i64, uuid: &str) -> Result<Option<InstanceRow>> {
        Ok(sqlx::query_as(&format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE uuid = $1 AND account_id = $2"))
            .bind(uuid)
            .bind(account_id)
            .fetch_optional(&mut *self.conn)
            .await?)
    }

    /// Any account's instance, for the operator.
    pub async fn instance_find(&mut self, id: Option<i64>, uuid: Option<&str>) -> Result<Option<InstanceRow>> {
        Ok(sqlx::query_as(&format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = $1 OR uuid = $2"))
            .bind(id.unwrap_or(-1))
            .bind(uuid.unwrap_or(""))
            .fetch_optional(&mut *self.conn)
            .await?)
    }

    pub async fn instances_of_account(&mut self, account_id: i64) -> Result<Vec<InstanceRow>> {
        Ok(sqlx::query_as(&format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE account_id = $1 ORDER BY id"))
            .bind(account_id)
            .fetch_all(&mut *self.conn)
            .await?)
    }

    pub async fn instances_by_id(&mut self, ids: &[i64]) -> Result<Vec<InstanceRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {INSTANCE_COLUMNS} FROM instances WHERE id IN ({}) ORDER BY id",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query_as(&sql);
        for id in ids {
            query = query.bind(*id);
        }
        Ok(query.fetch_all(&mut *self.conn).await?)
    }

    /// Every instance that runs on, or migrates to, a host.
    pub async fn instances_on_host(&mut self, host_id: i64) -> Result<Vec<InstanceRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {INSTANCE_COLUMNS} FROM instances WHERE host_id = $1 OR target_host_id = $1 ORDER BY id"
        ))
        .bind(host_id)
        .fetch_all(&mut *self.conn)
        .await?)
    }

    /// Every instance, of every account, that is offline because no host could take it.
    pub async fn instances_offline(&mut self) -> Result<Vec<InstanceRow>> {
        Ok(sqlx::query_as(&format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE host_id IS NULL ORDER BY id"))
            .fetch_all(&mut *self.conn)
            .await?)
    }

    /// Every instance of every account, for the operator.
    pub async fn instances_all(&mut self) -> Result<Vec<InstanceRow>> {
        Ok(sqlx::query_as(&format!("SELECT {INSTANCE_COLUMNS} FROM instances ORDER BY id"))
            .fetch_all(&mut *self.conn)
            .await?)
    }

    /// Takes an instance off its host: it waits, offline, for one to take it.
    pub async fn instance_set_offline(&mut self, id: i64, reason: &str, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE instances SET host_id = NULL, target_host_id = NULL, offline_reason = $2, updated_at = $3 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(reason)
        .bind(now)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Every instance that runs on, or migrates to, a host of the region, of every account.
    pub async fn instances_in_region(&mut self, region_id: &str) -> Result<Vec<InstanceRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {INSTANCE_COLUMNS} FROM instances \
             WHERE host_id IN (SELECT id FROM hosts WHERE region_id = $1) \
             OR target_host_id IN (SELECT id FROM hosts WHERE region_id = $1) ORDER BY id"
        ))
        .bind(region_id)
        .fetch_all(&mut *self.conn)
        .await?)
    }

    pub async fn instance_label_taken(&mut self, account_id: i64, label: &str, except: Option<i64>) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) FROM instances WHERE account_id = $1 AND label = $2 AND id <> $3")
            .bind(account_id)
            .bind(label)
            .bind(except.unwrap_or(-1))
            .fetch_one(&mut *self.conn)
            .await?;
        Ok(row.get::<i64, _>(0) > 0)
    }

    #[allow(clippy::too_many_arguments)] // One argument per column it changes.
    pub async fn instance_update(
        &mut self,
        account_id: i64,
        id: i64,
        label: &str,
        tags: &str,
        labels: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE instances SET label = $3, tags = $4, labels = $5, updated_at = $6 WHERE id = $1 AND account_id = $2",
        )
        .bind(id)
        .bind(account_id)
        .bind(label)
        .bind(tags)
        .bind(labels)
        .bind(now)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
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
        sqlx::query(
            "UPDATE instances SET host_id = $2, target_host_id = $3, region_id = $4, state = $5, updated_at = $6, \
             offline_reason = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(host_id)
        .bind(target_host_id)
        .bind(region_id)
        .bind(state)
        .bind(now)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Deletes an instance, its memberships and its failed-migration record.
    pub async fn instance_delete(&mut self, account_id: i64, id: i64) -> Result<()> {
        sqlx::query(
            "DELETE FROM migration_failures WHERE instance_id = $1 \
             AND EXISTS (SELECT 1 FROM instances WHERE id = $1 AND account_id = $2)",
        )
        .bind(id)
        .bind(account_id)
        .execute(&mut *self.conn)
        .await?;
        sqlx::query("DELETE FROM group_members WHERE instance_id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&mut *self.conn)
            .await?;
        sqlx::query("DELETE FROM instances WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    // Migrations.

    pub async fn migration_insert(&mut self, migration: &NewMigration, now: i64) -> Result<MigrationRow> {
        Ok(sqlx::query_as(&format!(
            "INSERT INTO migrations (account_id, instance_id, source_host_id, target_host_id, source_region_id, \
             target_region_id, source_group_id, target_group_id, reason, state, created_at, due_at, plan_id, \
             started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $12, $10, $11, $13, \
             CASE WHEN $12 = 'running' THEN $10 ELSE NULL END) RETURNING {MIGRATION_COLUMNS}"
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
        .fetch_one(&mut *self.conn)
        .await?)
    }

    /// The running migrations of these instances.
    pub async fn migrations_running_for_instances(&mut self, instance_ids: &[i64]) -> Result<Vec<MigrationRow>> {
        if instance_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {MIGRATION_COLUMNS} FROM migrations WHERE state = 'running' AND instance_id IN ({}) ORDER BY id",
            placeholders(1, instance_ids.len())
        );
        let mut query = sqlx::query_as(&sql);
        for id in instance_ids {
            query = query.bind(*id);
        }
        Ok(query.fetch_all(&mut *self.conn).await?)
    }

    /// The running migrations into or out of these groups.
    pub async fn migrations_running_for_groups(&mut self, group_ids: &[i64]) -> Result<Vec<MigrationRow>> {
        if group_ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = placeholders(1, group_ids.len());
        let sql = format!(
            "SELECT {MIGRATION_COLUMNS} FROM migrations WHERE state = 'running' \
             AND (source_group_id IN ({list}) OR target_group_id IN ({list})) ORDER BY id"
        );
        let mut query = sqlx::query_as(&sql);
        for id in group_ids {
            query = query.bind(*id);
        }
        Ok(query.fetch_all(&mut *self.conn).await?)
    }

    /// Running migrations whose time has come, oldest first.
    pub async fn migrations_due(&mut self, now: i64, limit: i64) -> Result<Vec<MigrationRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {MIGRATION_COLUMNS} FROM migrations WHERE state = 'running' AND due_at <= $1 \
             ORDER BY due_at, id LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *self.conn)
        .await?)
    }

    /// The earliest time a running migration falls due, if any runs.
    pub async fn migration_next_due(&mut self) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT MIN(due_at) FROM migrations WHERE state = 'running'")
            .fetch_one(&mut *self.conn)
            .await?;
        Ok(row.get::<Option<i64>, _>(0))
    }

    pub async fn migration_get(&mut self, id: i64) -> Result<Option<MigrationRow>> {
        Ok(sqlx::query_as(&format!("SELECT {MIGRATION_COLUMNS} FROM migrations WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *self.conn)
            .await?)
    }

    pub async fn migration_finish(&mut self, id: i64, state: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE migrations SET state = $2, finished_at = $3 WHERE id = $1")
            .bind(id)
            .bind(state)
            .bind(now)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    /// Records why a migration failed, and ends it.
    pub async fn migration_fail(&mut self, id: i64, failure: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE migrations SET state = 'failed', failure = $2, finished_at = $3 WHERE id = $1")
            .bind(id)
            .bind(failure)
            .bind(now)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    /// Starts a queued migration: it runs from now and falls due at `due_at`.
    pub async fn migration_start(&mut self, id: i64, due_at: i64, now: i64) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE migrations SET state = 'running', started_at = $3, due_at = $2 WHERE id = $1 AND state = 'queued'",
        )
        .bind(id)
        .bind(due_at)
        .bind(now)
        .execute(&mut *self.conn)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Migrations in a state, oldest first (queued ones in the order their plans made them).
    pub async fn migrations_in_state(&mut self, state: &str) -> Result<Vec<MigrationRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {MIGRATION_COLUMNS} FROM migrations WHERE state = $1 ORDER BY COALESCE(plan_id, 0), id"
        ))
        .bind(state)
        .fetch_all(&mut *self.conn)
        .await?)
    }

    /// The most recent migrations of every account, newest first.
    pub async fn migrations_recent(&mut self, limit: i64) -> Result<Vec<MigrationRow>> {
        Ok(sqlx::query_as(&format!("SELECT {MIGRATION_COLUMNS} FROM migrations ORDER BY id DESC LIMIT $1"))
            .bind(limit)
            .fetch_all(&mut *self.conn)
            .await?)
    }

    /// Gives a running migration to an agent until `lease_until`, if no agent has claimed it:
    /// one whose lease ran out is rolled back, never handed to another agent.
    pub async fn migration_claim(&mut self, id: i64, agent: &str, lease_until: i64) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE migrations SET claimed_by = $2, lease_expires_at = $3 WHERE id = $1 AND state = 'running' \
             AND claimed_by IS NULL",
        )
        .bind(id)
        .bind(agent)
        .bind(lease_until)
        .execute(&mut *self.conn)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Extends the lease of the agent that holds a running migration.
    pub async fn migration_heartbeat(&mut self, id: i64, agent: &str, lease_until: i64, now: i64) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE migrations SET lease_expires_at = $3 WHERE id = $1 AND state = 'running' AND claimed_by = $2 \
             AND lease_expires_at >= $4",
        )
        .bind(id)
        .bind(agent)
        .bind(lease_until)
        .bind(now)
        .execute(&mut *self.conn)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Running migrations whose agent's lease ran out.
    pub async fn migrations_lease_expired(&mut self, now: i64) -> Result<Vec<MigrationRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {MIGRATION_COLUMNS} FROM migrations WHERE state = 'running' AND claimed_by IS NOT NULL \
             AND lease_expires_at < $1 ORDER BY id"
        ))
        .bind(now)
        .fetch_all(&mut *self.conn)
        .await?)
    }

    pub async fn migration_failure_insert(&mut self, instance_id: i64, host_id: i64, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO migration_failures (instance_id, host_id, failed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (instance_id, host_id) DO UPDATE SET failed_at = $3",
        )
        .bind(instance_id)
        .bind(host_id)
        .bind(now)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// (instance, host) pairs where a migration failed.
    pub async fn migration_failures(&mut self) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query("SELECT instance_id, host_id FROM migration_failures ORDER BY instance_id, host_id")
            .fetch_all(&mut *self.conn)
            .await?;
        Ok(rows.iter().map(|row| (row.get::<i64, _>(0), row.get::<i64, _>(1))).collect())
    }

    // Repair.

    pub async fn repair_note_set(&mut self, account_id: i64, group_id: i64, reason: &str, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO repair_notes (group_id, account_id, reason, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (group_id) DO UPDATE SET reason = $3, updated_at = $4",
        )
        .bind(group_id)
        .bind(account_id)
        .bind(reason)
        .bind(now)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    pub async fn repair_note_clear(&mut self, group_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM repair_notes WHERE group_id = $1").bind(group_id).execute(&mut *self.conn).await?;
        Ok(())
    }

    pub async fn repair_notes(&mut self) -> Result<Vec<RepairNoteRow>> {
        Ok(sqlx::query_as("SELECT group_id, account_id, reason, updated_at FROM repair_notes ORDER BY group_id")
            .fetch_all(&mut *self.conn)
            .await?)
    }

    /// The next value of a named counter, starting at 1.
    pub async fn counter_next(&mut self, name: &str) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO counters (name, value) VALUES ($1, 1) ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 \
             RETURNING value",
        )
        .bind(name)
        .fetch_one(&mut *self.conn)
        .await?;
        Ok(row.get::<i64, _>(0))
    }

    // Firewalls.

    pub async fn firewall_insert(
        &mut self,
        account_id: i64,
        label: &str,
        status: &str,
        rules: &str,
        tags: &str,
        now: i64,
    ) -> Result<FirewallRow> {
        Ok(sqlx::query_as(&format!(
            "INSERT INTO firewalls (account_id, label, status, rules, tags, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {FIREWALL_COLUMNS}"
        ))
        .bind(account_id)
        .bind(label)
        .bind(status)
        .bind(rules)
        .bind(tags)
        .bind(now)
        .fetch_one(&mut *self.conn)
        .await?)
    }

    pub async fn firewall_get(&mut self, account_id: i64, id: i64) -> Result<Option<FirewallRow>> {
        Ok(sqlx::query_as(&format!("SELECT {FIREWALL_COLUMNS} FROM firewalls WHERE id = $1 AND account_id = $2"))
            .bind(id)
            .bind(account_id)
            .fetch_optional(&mut *self.conn)
            .await?)
    }

    pub async fn firewalls_of_account(&mut self, account_id: i64) -> Result<Vec<FirewallRow>> {
        Ok(sqlx::query_as(&format!("SELECT {FIREWALL_COLUMNS} FROM firewalls WHERE account_id = $1 ORDER BY id"))
            .bind(account_id)
            .fetch_all(&mut *self.conn)
            .await?)
    }

    pub async fn firewall_label_taken(&mut self, account_id: i64, label: &str) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) FROM firewalls WHERE account_id = $1 AND label = $2")
            .bind(account_id)
            .bind(label)
            .fetch_one(&mut *self.conn)
            .await?;
        Ok(row.get::<i64, _>(0) > 0)
    }

    /// Deletes a firewall; the instances it protected keep running without it.
    pub async fn firewall_delete(&mut self, account_id: i64, id: i64) -> Result<()> {
        sqlx::query("UPDATE instances SET firewall_id = NULL WHERE firewall_id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&mut *self.conn)
            .await?;
        sqlx::query("DELETE FROM firewalls WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    // API keys.

    pub async fn api_key_insert(
        &mut self,
        account_id: i64,
        user_id: i64,
        key: &str,
        sealed_secret: &str,
        name: &str,
        now: i64,
    ) -> Result<ApiKeyRow> {
        Ok(sqlx::query_as(&format!(
            "INSERT INTO api_keys (account_id, user_id, key, secret, name, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING {API_KEY_COLUMNS}"
        ))
        .bind(account_id)
        .bind(user_id)
        .bind(key)
        .bind(sealed_secret)
        .bind(name)
        .bind(now)
        .fetch_one(&mut *self.conn)
        .await?)
    }

    pub async fn api_keys_of_account(&mut self, account_id: i64) -> Result<Vec<ApiKeyRow>> {
        Ok(sqlx::query_as(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE account_id = $1 ORDER BY id"))
            .bind(account_id)
            .fetch_all(&mut *self.conn)
            .await?)
    }

    /// Revokes an API key; returns whether it existed and was not revoked already.
    pub async fn api_key_revoke(&mut self, account_id: i64, key: &str, now: i64) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE api_keys SET revoked_at = $3 WHERE key = $1 AND account_id = $2 AND revoked_at IS NULL",
        )
        .bind(key)
        .bind(account_id)
        .bind(now)
        .execute(&mut *self.conn)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn api_key_count(&mut self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM api_keys").fetch_one(&mut *self.conn).await?;
        Ok(row.get::<i64, _>(0))
    }

    pub async fn api_key_by_key(&mut self, key: &str) -> Result<Option<ApiKeyRow>> {
        Ok(sqlx::query_as(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key = $1"))
            .bind(key)
            .fetch_optional(&mut *self.conn)
            .await?)
    }

    // Operations.

    pub async fn operation_insert(&mut self, operation: &OperationRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO operations (id, account_id, state, reason, message, reference_id, reference_link, \
             reference_command, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&operation.id)
        .bind(operation.account_id)
        .bind(&operation.state)
        .bind(&operation.reason)
        .bind(&operation.message)
        .bind(&operation.reference_id)
        .bind(&operation.reference_link)
        .bind(&operation.reference_command)
        .bind(operation.created_at)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    pub async fn operation_get(&mut self, account_id: i64, id: &str) -> Result<Option<OperationRow>> {
        Ok(sqlx::query_as(&format!("SELECT {OPERATION_COLUMNS} FROM operations WHERE id = $1 AND account_id = $2"))
            .bind(id)
            .bind(account_id)
            .fetch_optional(&mut *self.conn)
            .await?)
    }

    /// Forgets the operations created before `before`; returns how many.
    pub async fn operations_purge(&mut self, before: i64) -> Result<u64> {
        let result =
            sqlx::query("DELETE FROM operations WHERE created_at < $1").bind(before).execute(&mut *self.conn).await?;
        Ok(result.rows_affected())
    }

    // The operator's credentials.

    pub async fn operator_token_insert(&mut self, label: &str, secret_hash: &str, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO operator_tokens (label, secret_hash, created_at) VALUES ($1, $2, $3)")
            .bind(label)
            .bind(secret_hash)
            .bind(now)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    /// Whether an operator token with this hash exists.
    pub async fn operator_token_exists(&mut self, secret_hash: &str) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) FROM operator_tokens WHERE secret_hash = $1")
            .bind(secret_hash)
            .fetch_one(&mut *self.conn)
            .await?;
        Ok(row.get::<i64, _>(0) > 0)
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
