//! berth's store: the only crate that speaks SQL.
//!
//! One [`Store`] serves every backend: queries are written once (`db/`, through the builder of
//! `sql.rs`), in the SQL that SQLite and PostgreSQL share (`$n` placeholders, `RETURNING`),
//! and each backend has its own schema migrations under `migrations/`. Values cross the
//! boundary as the types both carry: 64-bit integers (booleans are 0/1, times are
//! milliseconds since the UNIX epoch), text (ids, JSON documents) and nothing else.
//!
//! SQLite (`sqlite.rs`) runs in process through `rusqlite`: statements run on the task that
//! holds the connection, one writer runs changes one at a time, and changes that arrive
//! together commit together (group commit: one transaction, one fsync, each change in its own
//! savepoint, each acknowledged once the group is durable). PostgreSQL goes through sqlx and
//! serves any number of processes, whose changes run side by side: a change locks the rows it
//! re-validates (the `*_lock` queries) before it reads them, so that what it checked still
//! holds when it commits. On SQLite those locks do nothing.
//!
//! A read of one statement goes through [`Store::read`]; reads whose results are compared or
//! joined as if taken at one instant (a view of a group with its members' hosts, a consistency
//! check) go through one [`Snapshot`] from [`Store::snapshot`]; every change goes through one
//! [`Tx`] from [`Store::write`], which `core` fills with the reads that re-validate its
//! decision and the writes that carry it out, then commits. Dropping a `Tx` rolls it back.

mod db;
mod rows;
mod schema;
mod sql;
mod sqlite;
pub mod testing;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, ConnectOptions, Connection, Transaction};

pub use db::{Db, System, Tenant};
pub use rows::*;
pub use schema::{Column, ForeignKey, Index, Schema, Table};
pub use sqlite::GroupError;

use sql::Link;

/// The database behind a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// One file, one writer at a time: changes are serialized by the single write connection
    /// (and by SQLite's file lock across processes), and commit in groups.
    Sqlite,
    /// A server shared by any number of berth processes: changes run side by side, and each
    /// takes row locks (the `*_lock` queries of [`Db`]) on what it re-validates.
    Postgres,
}

impl Backend {
    /// Whether other processes may change the database behind this one's back: caches of
    /// what is stored must then expire, not only follow this process's own changes.
    pub fn shared(self) -> bool {
        matches!(self, Backend::Postgres)
    }
}

/// What went wrong in the store. Messages never repeat their source; log the whole chain.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("SQLite error")]
    Sqlite(#[from] rusqlite::Error),
    #[error("schema migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The transaction that held a change, with the changes committed beside it, did not
    /// commit: none of them was kept.
    #[error("the change was not kept")]
    Group(#[source] GroupError),
    #[error("the store is closed")]
    Closed,
    #[error("no row was found")]
    RowNotFound,
    #[error("the statement returned no column {0:?}")]
    MissingColumn(&'static str),
    #[error("column {0} holds a value of another type than the one read")]
    ColumnType(usize),
    #[error("the statement selects column {0:?} out of its row's field order")]
    ColumnOrder(&'static str),
    #[error("an insert that returns its id ends with \" RETURNING id\"")]
    ReturningId,
    #[error("the statement's parameter {0} is not bound")]
    Parameter(usize),
    #[error(
        "unsupported database URL {0:?}: use a file path, sqlite://PATH, or postgres://USER@HOST/NAME \
         (in-memory databases are not supported)"
    )]
    UnsupportedUrl(String),
}

/// How a store error should be met by whoever called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The database cannot be reached (or is shutting down, or has no connection to spare):
    /// nothing was changed; the same request may succeed once it is back.
    Unavailable,
    /// The change collided with another one (a deadlock, a serialization failure, a busy
    /// SQLite file) and was rolled back whole: running it again is safe.
    Contention,
    /// A row with the same unique key exists: another change created it first, after this
    /// one checked. Nothing was changed.
    Duplicate,
    /// Anything else: a bug, or a constraint of the schema that the code should have checked.
    Other,
}

/// Which rule of the schema refused a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    Unique,
    Check,
    ForeignKey,
}

impl StoreError {
    pub fn failure(&self) -> Failure {
        let error = match self {
            StoreError::Database(error) => error,
            StoreError::Migrate(sqlx::migrate::MigrateError::Execute(error)) => error,
            StoreError::Sqlite(error) => return sqlite_failure(error),
            StoreError::Group(error) => return error.failure(),
            StoreError::Closed => return Failure::Unavailable,
            _ => return Failure::Other,
        };
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => Failure::Unavailable,
            sqlx::Error::Database(error) if error.is_unique_violation() => Failure::Duplicate,
            sqlx::Error::Database(error) => match error.code().as_deref() {
                // PostgreSQL: serialization_failure, deadlock_detected, lock_not_available.
                Some("40001" | "40P01" | "55P03") => Failure::Contention,
                // SQLite: SQLITE_BUSY, SQLITE_LOCKED and their extended codes.
                Some("5" | "6" | "261" | "517" | "262") => Failure::Contention,
                // PostgreSQL: connection_exception (class 08), admin_shutdown, crash_shutdown,
                // cannot_connect_now, too_many_connections, read_only_sql_transaction (a
                // standby that has not been promoted yet).
                Some(code) if code.starts_with("08") => Failure::Unavailable,
                Some("57P01" | "57P02" | "57P03" | "53300" | "25006") => Failure::Unavailable,
                _ => Failure::Other,
            },
            _ => Failure::Other,
        }
    }

    /// The rule of the schema that refused the write, if one did.
    pub fn violation(&self) -> Option<Violation> {
        match self {
            StoreError::Database(sqlx::Error::Database(error)) => {
                if error.is_unique_violation() {
                    Some(Violation::Unique)
                } else if error.is_check_violation() {
                    Some(Violation::Check)
                } else if error.is_foreign_key_violation() {
                    Some(Violation::ForeignKey)
                } else {
                    None
                }
            }
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(error, _)) => match error.extended_code {
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    Some(Violation::Unique)
                }
                rusqlite::ffi::SQLITE_CONSTRAINT_CHECK => Some(Violation::Check),
                rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Some(Violation::ForeignKey),
                _ => None,
            },
            _ => None,
        }
    }

    /// The error with every source after it, for a log line.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(error) = source {
            text.push_str(": ");
            text.push_str(&error.to_string());
            source = error.source();
        }
        text
    }
}

fn sqlite_failure(error: &rusqlite::Error) -> Failure {
    use rusqlite::ErrorCode;
    match error {
        rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Failure::Contention,
            ErrorCode::ConstraintViolation
                if matches!(
                    failure.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
            {
                Failure::Duplicate
            }
            // The file cannot be reached or written (a full disk, an I/O error): nothing was
            // kept, and the same change may succeed once the operator has made room.
            ErrorCode::CannotOpen | ErrorCode::NotADatabase | ErrorCode::DiskFull | ErrorCode::SystemIoFailure => {
                Failure::Unavailable
            }
            _ => Failure::Other,
        },
        _ => Failure::Other,
    }
}

/// A handle on the database: cheap to clone, shared by every request.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
enum Inner {
    Sqlite(sqlite::Sqlite),
    Postgres { read: AnyPool, write: AnyPool },
}

/// A connection for reads.
#[derive(Debug)]
pub struct Conn {
    inner: ConnInner,
}

#[derive(Debug)]
enum ConnInner {
    Sqlite(sqlite::Reader),
    Postgres(PoolConnection<Any>),
}

/// A read-only transaction whose reads all see the database as it was at one instant: on
/// PostgreSQL `REPEATABLE READ READ ONLY` (the snapshot is taken at its first statement), on
/// SQLite a deferred transaction on a reader, which in WAL mode keeps the snapshot of its first
/// read until it ends. Dropping it ends it.
#[derive(Debug)]
pub struct Snapshot {
    inner: SnapshotInner,
}

#[derive(Debug)]
enum SnapshotInner {
    Sqlite(sqlite::Reader),
    Postgres(Transaction<'static, Any>),
}

/// A transaction for a change: commit it, or drop it to roll back. On SQLite its commit
/// returns once the group of changes it was committed with is durable.
#[derive(Debug)]
pub struct Tx {
    inner: TxInner,
}

#[derive(Debug)]
enum TxInner {
    Sqlite(sqlite::Change),
    Postgres(Transaction<'static, Any>),
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// How long a request waits for a PostgreSQL connection before it is told the database is
/// unavailable: long enough to ride out a burst, short enough that a client hears back.
const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// Opens the database at `url` and brings its schema up to date.
    ///
    /// `url` is a file path or a `sqlite://PATH` URL (the file is created if needed), or a
    /// `postgres://` (or `postgresql://`) URL of an existing database. SQLite runs in WAL mode
    /// with one writer whose changes commit in groups: readers never wait for it. PostgreSQL
    /// runs changes side by side, from this process and any other.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Store::open_postgres(url).await;
        }
        let path = sqlite_path(url).ok_or_else(|| StoreError::UnsupportedUrl(url.to_string()))?;
        let sqlite = sqlite::Sqlite::open(path).await?;
        Ok(Store { inner: Arc::new(Inner::Sqlite(sqlite)) })
    }

    async fn open_postgres(url: &str) -> Result<Store, StoreError> {
        let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        // Reads and changes draw on separate pools, so that a burst of changes waiting on row
        // locks never leaves a read without a connection.
        let pool = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
                .idle_timeout(Some(Duration::from_secs(300)))
        };
        let write = pool(16).connect_with(options.clone()).await?;
        // Two processes starting on a new database would both migrate it; the migrator's own
        // advisory lock makes the second wait and then find nothing to do.
        POSTGRES_MIGRATIONS.run(&write).await?;
        // Readers refuse writes, as SQLite's do: every change goes through a `Tx`.
        let read = pool(16)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("SET default_transaction_read_only = on").execute(&mut *conn).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Store { inner: Arc::new(Inner::Postgres { read, write }) })
    }

    pub fn backend(&self) -> Backend {
        match &*self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres { .. } => Backend::Postgres,
        }
    }

    /// A connection for reads outside any change. Each statement on it sees the database as
    /// of its own start: for reads that must agree with each other, take a [`Snapshot`].
    pub async fn read(&self) -> Result<Conn, StoreError> {
        let inner = match &*self.inner {
            Inner::Sqlite(sqlite) => ConnInner::Sqlite(sqlite.read().await?),
            Inner::Postgres { read, .. } => ConnInner::Postgres(read.acquire().await?),
        };
        Ok(Conn { inner })
    }

    /// A read-only transaction whose statements all see one instant of the database: for
    /// reads that are compared or joined with each other, such as a consistency check or a
    /// view built from several tables. A change that commits while it is open is not seen.
    pub async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let inner = match &*self.inner {
            Inner::Sqlite(sqlite) => SnapshotInner::Sqlite(sqlite.snapshot().await?),
            Inner::Postgres { read, .. } => {
                SnapshotInner::Postgres(read.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?)
            }
        };
        Ok(Snapshot { inner })
    }

    /// Begins a change.
    ///
    /// On SQLite the change waits for the one writer, and runs in a savepoint of the
    /// transaction of its group (see [`Tx::commit`]); the transaction takes the file's write
    /// lock at once (`BEGIN IMMEDIATE`), so another process writing the same file makes it
    /// wait (up to the busy timeout), where a deferred transaction would fail when it first
    /// writes after reading.
    pub async fn write(&self) -> Result<Tx, StoreError> {
        let inner = match &*self.inner {
            Inner::Sqlite(sqlite) => TxInner::Sqlite(sqlite.write().await?),
            Inner::Postgres { write, .. } => TxInner::Postgres(write.begin().await?),
        };
        Ok(Tx { inner })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &*self.inner {
            Inner::Sqlite(sqlite) => sqlite.ping().await,
            Inner::Postgres { read, .. } => {
                let mut conn = read.acquire().await?;
                conn.ping().await?;
                Ok(())
            }
        }
    }

    /// Closes every connection, waiting for those in use (on SQLite, committing the changes
    /// that wait for their group's commit).
    pub async fn close(&self) {
        match &*self.inner {
            Inner::Sqlite(sqlite) => sqlite.close().await,
            Inner::Postgres { read, write } => {
                write.close().await;
                read.close().await;
            }
        }
    }
}

impl Conn {
    pub fn db(&mut self) -> Db<'_> {
        match &mut self.inner {
            ConnInner::Sqlite(reader) => Db::new(reader.link(), Backend::Sqlite),
            ConnInner::Postgres(conn) => Db::new(Link::Any(conn), Backend::Postgres),
        }
    }
}

impl Snapshot {
    pub fn db(&mut self) -> Db<'_> {
        match &mut self.inner {
            SnapshotInner::Sqlite(reader) => Db::new(reader.link(), Backend::Sqlite),
            SnapshotInner::Postgres(tx) => Db::new(Link::Any(tx), Backend::Postgres),
        }
    }
}

impl Tx {
    pub fn db(&mut self) -> Db<'_> {
        match &mut self.inner {
            TxInner::Sqlite(change) => Db::new(change.link(), Backend::Sqlite),
            TxInner::Postgres(tx) => Db::new(Link::Any(tx), Backend::Postgres),
        }
    }

    /// Commits the change. On SQLite it returns once the change is durable: with the other
    /// changes of its group, in one transaction and one fsync.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Sqlite(change) => change.commit().await,
            TxInner::Postgres(tx) => Ok(tx.commit().await?),
        }
    }
}

/// The file of a SQLite database URL (a path, or `sqlite://PATH`); `None` for any other URL.
pub fn sqlite_path(url: &str) -> Option<&str> {
    if let Some(rest) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
        let path = rest.split('?').next().unwrap_or(rest);
        // An in-memory database would be a different, empty one on every pooled connection.
        return (!path.is_empty() && path != ":memory:").then_some(path);
    }
    if url.contains("://") || url.is_empty() {
        return None;
    }
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::{Failure, StoreError, sqlite_path};

    fn sqlite_error(code: std::os::raw::c_int) -> StoreError {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None))
    }

    #[test]
    fn sqlite_errors_say_whether_to_retry() {
        assert_eq!(sqlite_error(rusqlite::ffi::SQLITE_BUSY).failure(), Failure::Contention);
        assert_eq!(sqlite_error(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE).failure(), Failure::Duplicate);
        assert_eq!(sqlite_error(rusqlite::ffi::SQLITE_CONSTRAINT_CHECK).failure(), Failure::Other);
        // A full disk or an I/O error kept nothing: the client may retry once there is room.
        assert_eq!(sqlite_error(rusqlite::ffi::SQLITE_FULL).failure(), Failure::Unavailable);
        assert_eq!(sqlite_error(rusqlite::ffi::SQLITE_IOERR_WRITE).failure(), Failure::Unavailable);
    }

    #[test]
    fn database_urls_name_a_sqlite_file() {
        assert_eq!(sqlite_path("berth.db"), Some("berth.db"));
        assert_eq!(sqlite_path("./data/berth.db"), Some("./data/berth.db"));
        assert_eq!(sqlite_path("sqlite://berth.db"), Some("berth.db"));
        assert_eq!(sqlite_path("sqlite:///tmp/berth.db?mode=rwc"), Some("/tmp/berth.db"));
        assert_eq!(sqlite_path("postgres://localhost/berth"), None);
        assert_eq!(sqlite_path(""), None);
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }
}
