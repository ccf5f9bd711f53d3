//! Every query berth runs, as methods of [`Db`], shared by reads, snapshots and transactions:
//! one file per resource, each with its own `impl Db`.

use crate::sql::{FromRow, Link, query_as};
use crate::{Backend, StoreError};

/// One connection (pooled, in a snapshot or in a transaction) and the queries that run on it.
///
/// `Db` itself holds what belongs to no account or names its account in the row it writes:
/// meta, leases, locks, the fleet (regions and hosts), accounts, operator tokens, and the
/// inserts of groups, instances, migrations, events and operations. A tenant's rows are read
/// and changed through [`Db::tenant`], bound to that account, or, across every account,
/// through [`Db::system`], whose name says so at every call.
#[derive(Debug)]
pub struct Db<'c> {
    pub(crate) conn: Link<'c>,
    backend: Backend,
}

/// The rows of one account: every query binds the account, so no id reaches another
/// account's row.
#[derive(Debug)]
pub struct Tenant<'d, 'c> {
    db: &'d mut Db<'c>,
    account: i64,
}

/// Queries of tenants' rows across every account, by id alone or by the fleet: for the
/// operator's views, for background work, for authentication (a credential names its
/// account), and for the views that follow ids an account-bound read already found.
#[derive(Debug)]
pub struct System<'d, 'c> {
    db: &'d mut Db<'c>,
}

type Result<T> = std::result::Result<T, StoreError>;

macro_rules! host_columns {
    () => {
        "id, uuid, name, region_id, rack, state, vcpus, memory_mib, disk_mib, gpus, \
     used_vcpus, used_memory_mib, used_disk_mib, used_gpus, created_at, labels, updated_at"
    };
}
const HOST_COLUMNS: &str = host_columns!();
macro_rules! group_columns {
    () => {
        "id, uuid, account_id, label, description, region_id, kind, policy, domain, \
     max_per_domain, max_members, created_at, updated_at"
    };
}
const GROUP_COLUMNS: &str = group_columns!();
macro_rules! instance_columns {
    () => {
        "id, uuid, account_id, label, region_id, type_id, vcpus, memory_mib, disk_mib, \
     gpus, host_id, target_host_id, state, image, tags, firewall_id, created_at, updated_at, labels, offline_reason"
    };
}
const INSTANCE_COLUMNS: &str = instance_columns!();
macro_rules! migration_columns {
    () => {
        "id, account_id, instance_id, source_host_id, target_host_id, source_region_id, \
     target_region_id, source_group_id, target_group_id, reason, state, created_at, due_at, finished_at, plan_id, \
     started_at, claimed_by, lease_expires_at, failure"
    };
}
const MIGRATION_COLUMNS: &str = migration_columns!();
macro_rules! api_key_columns {
    () => {
        "id, account_id, user_id, key, secret, name, created_at, revoked_at"
    };
}
macro_rules! operation_columns {
    () => {
        "id, account_id, state, reason, message, reference_id, reference_link, \
     reference_command, created_at"
    };
}
macro_rules! firewall_columns {
    () => {
        "id, account_id, label, status, rules, tags, created_at, updated_at"
    };
}

/// `$first, $first+1, …` for `count` values, for `IN (…)` lists.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

/// The most ids one statement binds in an `IN (…)` list. A statement of thousands of
/// parameters is slow to prepare, is never found again in the cache of prepared statements,
/// and passes SQLite's limit on variables (32,766) for a large account; sqlx's SQLite driver,
/// which berth used before, also looked every bound parameter up by name, so `n` parameters
/// cost `n²` comparisons (27% of a region's load in a profile). In chunks of this size the
/// cost grows with `n`, and each chunk size's statement is prepared once.
const IN_LIST_CHUNK: usize = 500;

/// The rows of `sql` for every id of `ids`, as one statement would give them: `sql` is given
/// the placeholders of a chunk of ids (`$1, $2, …`, which it may use more than once) and runs
/// once per chunk; the rows are sorted by `key`, which is unique per row, and a row that two
/// chunks both found is kept once.
async fn rows_in<R, K>(
    conn: &mut Link<'_>,
    ids: &[i64],
    sql: impl Fn(&str) -> String,
    key: impl Fn(&R) -> K,
) -> Result<Vec<R>>
where
    R: FromRow,
    K: Ord,
{
    let mut rows = Vec::new();
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        let sql = sql(&placeholders(1, chunk.len()));
        let mut query = query_as::<R>(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        rows.extend(query.fetch_all(&mut *conn).await?);
    }
    if ids.len() > IN_LIST_CHUNK {
        rows.sort_by_key(|row| key(row));
        rows.dedup_by(|a, b| key(a) == key(b));
    }
    Ok(rows)
}

mod events;
mod firewalls;
mod fleet;
mod groups;
mod instances;
mod locks;
mod meta;
mod migrations;
mod operations;
mod tenancy;

impl<'c> Db<'c> {
    pub(crate) fn new(conn: Link<'c>, backend: Backend) -> Db<'c> {
        Db { conn, backend }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The rows of `account`.
    pub fn tenant(&mut self, account: i64) -> Tenant<'_, 'c> {
        Tenant { db: self, account }
    }

    /// The rows of every account.
    pub fn system(&mut self) -> System<'_, 'c> {
        System { db: self }
    }
}
