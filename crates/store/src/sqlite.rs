//! SQLite through an in-process binding (`rusqlite`): one writer connection with group commit,
//! and a pool of read-only connections.
//!
//! Statements run on the task that holds the connection, at once: a statement costs what
//! SQLite costs (microseconds), not a hop to another thread and back.
//!
//! **Group commit.** Changes take the one writer in turn (a fair queue, `tokio`'s `Mutex`).
//! The first change of a group opens a transaction (`BEGIN IMMEDIATE`); each change runs in a
//! savepoint of it, and when it commits, its savepoint is released into the transaction and the
//! change waits. A committer, started by the first change that waits, takes its turn at the
//! writer behind the changes already queued, so that they join the group, then commits the
//! transaction (one fsync, `synchronous = FULL`) on a blocking thread and tells every change
//! of the group how it went. A change is acknowledged only once the transaction that holds it
//! is durable; if that commit fails, every change of the group is told so, and none of them
//! was kept. A change that rolls back is undone to its savepoint and leaves the others alone.
//!
//! Readers never see a change of a group before its commit (they read the last committed
//! state, as WAL gives them), so nothing is visible that could still be lost.

use std::path::Path;
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use sqlx::ConnectOptions;
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore, oneshot};

use crate::sql::Link;
use crate::{Failure, StoreError};

type Result<T> = std::result::Result<T, StoreError>;

/// How many read connections a store keeps: reads hold one across awaits (a snapshot spans
/// several statements), so more than the two cores of a small machine.
const READERS: usize = 8;

/// Prepared statements kept per connection: every query berth runs, with room for the
/// chunked `IN (…)` lists.
const STATEMENT_CACHE: usize = 256;

/// How long a statement waits for the file's lock when another connection (a checkpoint, a
/// test's second store, a tool) holds it.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The SQLite side of a [`crate::Store`].
#[derive(Debug)]
pub(crate) struct Sqlite {
    writer: Arc<tokio::sync::Mutex<Writer>>,
    readers: Arc<Readers>,
}

/// The one write connection and the group of changes waiting for its commit.
#[derive(Debug)]
struct Writer {
    /// `None` once the store is closed (or if a commit could not give it back).
    conn: Option<rusqlite::Connection>,
    /// The changes released into the open transaction, waiting for its commit.
    waiting: Vec<oneshot::Sender<std::result::Result<(), GroupError>>>,
    /// Whether a committer is on its way: the first change that waits starts one.
    committer: bool,
}

/// Why a group's commit failed, told to each of its changes.
#[derive(Clone, Debug, thiserror::Error)]
#[error("the group commit failed: {message}")]
pub struct GroupError {
    failure: Failure,
    message: Arc<str>,
}

impl GroupError {
    fn new(failure: Failure, message: impl std::fmt::Display) -> GroupError {
        GroupError { failure, message: message.to_string().into() }
    }

    pub(crate) fn failure(&self) -> Failure {
        self.failure
    }
}

#[derive(Debug)]
struct Readers {
    /// The database file, to open a reader in place of one that could not be given back.
    path: String,
    idle: SyncMutex<Vec<rusqlite::Connection>>,
    permits: Arc<Semaphore>,
}

impl Sqlite {
    /// Opens (or creates) the database file at `path`, brings its schema up to date, and opens
    /// the writer and the readers.
    pub(crate) async fn open(path: &str) -> Result<Sqlite> {
        migrate(path).await?;
        let writer = connect(path, false)?;
        let mut idle = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            idle.push(connect(path, true)?);
        }
        Ok(Sqlite {
            writer: Arc::new(tokio::sync::Mutex::new(Writer {
                conn: Some(writer),
                waiting: Vec::new(),
                committer: false,
            })),
            readers: Arc::new(Readers {
                path: path.to_string(),
                idle: SyncMutex::new(idle),
                permits: Arc::new(Semaphore::new(READERS)),
            }),
        })
    }

    /// A read connection, waiting for one if every one is in use.
    pub(crate) async fn read(&self) -> Result<Reader> {
        let permit = self.readers.permits.clone().acquire_owned().await.map_err(|_| StoreError::Closed)?;
        let conn = self.readers.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        // A permit without an idle connection: one was not given back (its snapshot could not
        // end), and a new one takes its place.
        let conn = match conn {
            Some(conn) => conn,
            None => connect(&self.readers.path, true)?,
        };
        Ok(Reader { conn: Some(conn), readers: self.readers.clone(), _permit: permit, in_transaction: false })
    }

    /// A read connection in a transaction whose reads all see one instant (WAL keeps the
    /// snapshot of its first read until it ends).
    pub(crate) async fn snapshot(&self) -> Result<Reader> {
        let mut reader = self.read().await?;
        run(reader.conn_mut()?, "BEGIN DEFERRED")?;
        reader.in_transaction = true;
        Ok(reader)
    }

    /// The writer's turn, in a savepoint of the group's transaction.
    pub(crate) async fn write(&self) -> Result<Change> {
        let mut writer = self.writer.clone().lock_owned().await;
        let state = &mut *writer;
        let conn = state.conn.as_mut().ok_or(StoreError::Closed)?;
        if conn.is_autocommit() {
            // No transaction is open: this change opens the group's. If changes were waiting
            // on one, SQLite rolled it back behind them (a failed statement can end the whole
            // transaction): they were lost, and are told so.
            fail_waiting(&mut state.waiting, "the transaction was rolled back by the database");
            run(conn, "BEGIN IMMEDIATE")?;
        }
        if let Err(error) = run(conn, "SAVEPOINT change") {
            end_group_if_idle(state);
            return Err(error.into());
        }
        Ok(Change { writer: Some(writer), sqlite: self.writer.clone() })
    }

    pub(crate) async fn ping(&self) -> Result<()> {
        let mut reader = self.read().await?;
        reader.conn_mut()?.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    /// Commits what waits, then closes every connection: the store refuses work afterwards.
    pub(crate) async fn close(&self) {
        commit_group(self.writer.clone()).await;
        self.writer.lock().await.conn = None;
        self.readers.permits.close();
        self.readers.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
    }
}

/// A read connection of the pool, given back when dropped (ending its snapshot, if any).
#[derive(Debug)]
pub(crate) struct Reader {
    conn: Option<rusqlite::Connection>,
    readers: Arc<Readers>,
    _permit: OwnedSemaphorePermit,
    in_transaction: bool,
}

impl Reader {
    fn conn_mut(&mut self) -> Result<&mut rusqlite::Connection> {
        self.conn.as_mut().ok_or(StoreError::Closed)
    }

    pub(crate) fn link(&mut self) -> Link<'_> {
        Link::Sqlite(self.conn.as_mut().expect("a reader holds its connection until dropped"))
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.in_transaction && !conn.is_autocommit() && run(&conn, "ROLLBACK").is_err() {
            // A connection whose snapshot cannot end is not given back.
            return;
        }
        if self.readers.permits.is_closed() {
            return;
        }
        self.readers.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(conn);
    }
}

/// One change: the writer's turn, inside a savepoint of the group's transaction. Dropped
/// without [`Change::commit`], it is undone.
#[derive(Debug)]
pub(crate) struct Change {
    writer: Option<OwnedMutexGuard<Writer>>,
    sqlite: Arc<tokio::sync::Mutex<Writer>>,
}

impl Change {
    pub(crate) fn link(&mut self) -> Link<'_> {
        let writer = self.writer.as_mut().expect("a change holds the writer until it ends");
        Link::Sqlite(writer.conn.as_mut().expect("a change's writer keeps its connection"))
    }

    /// Releases the change into the group's transaction and waits until that transaction is
    /// durable (or has failed, and the change with it).
    pub(crate) async fn commit(mut self) -> Result<()> {
        let mut writer = self.writer.take().expect("a change is committed once");
        let state = &mut *writer;
        let conn = state.conn.as_mut().ok_or(StoreError::Closed)?;
        if let Err(error) = run(conn, "RELEASE change") {
            undo(state);
            return Err(error.into());
        }
        let (told, outcome) = oneshot::channel();
        state.waiting.push(told);
        let start_committer = !std::mem::replace(&mut state.committer, true);
        drop(writer);
        if start_committer {
            // A task of its own, so that a request that goes away (its future dropped) never
            // leaves a group without its commit.
            tokio::spawn(commit_group(self.sqlite.clone()));
        }
        match outcome.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(StoreError::Group(error)),
            Err(_) => Err(StoreError::Closed),
        }
    }
}

impl Drop for Change {
    fn drop(&mut self) {
        if let Some(mut writer) = self.writer.take() {
            undo(&mut writer);
        }
    }
}

/// Undoes the change in its savepoint. The group's transaction ends with it when no other
/// change waits on it, so the file's write lock is not held for nothing.
fn undo(state: &mut Writer) {
    let Some(conn) = state.conn.as_mut() else { return };
    if conn.is_autocommit() {
        // SQLite already rolled the whole transaction back (some errors do): the changes that
        // waited on it are lost.
        fail_waiting(&mut state.waiting, "the transaction was rolled back by the database");
        return;
    }
    if run(conn, "ROLLBACK TO change").is_err() || run(conn, "RELEASE change").is_err() {
        let _ = run(conn, "ROLLBACK");
        fail_waiting(&mut state.waiting, "a change could not be undone alone, so its group was rolled back");
        return;
    }
    end_group_if_idle(state);
}

/// Ends the group's transaction when no change waits on it.
fn end_group_if_idle(state: &mut Writer) {
    let Some(conn) = state.conn.as_mut() else { return };
    if state.waiting.is_empty() && !conn.is_autocommit() {
        let _ = run(conn, "ROLLBACK");
    }
}

fn fail_waiting(waiting: &mut Vec<oneshot::Sender<std::result::Result<(), GroupError>>>, why: &str) {
    for told in waiting.drain(..) {
        let _ = told.send(Err(GroupError::new(Failure::Contention, why)));
    }
}

/// Commits the group that waits: takes the writer's turn behind the changes already queued
/// (they join the group), commits on a blocking thread (the fsync), and tells each change.
async fn commit_group(writer: Arc<tokio::sync::Mutex<Writer>>) {
    let mut state = writer.lock_owned().await;
    state.committer = false;
    let waiting = std::mem::take(&mut state.waiting);
    let Some(conn) = state.conn.take() else {
        drop(waiting);
        return;
    };
    if conn.is_autocommit() {
        state.conn = Some(conn);
        let mut waiting = waiting;
        fail_waiting(&mut waiting, "the transaction was rolled back by the database");
        return;
    }
    let committed = tokio::task::spawn_blocking(move || {
        let outcome = run(&conn, "COMMIT");
        if outcome.is_err() && !conn.is_autocommit() {
            let _ = run(&conn, "ROLLBACK");
        }
        (conn, outcome)
    })
    .await;
    let outcome = match committed {
        Ok((conn, outcome)) => {
            state.conn = Some(conn);
            outcome.map_err(|error| {
                let error = StoreError::from(error);
                GroupError::new(error.failure(), error.chain())
            })
        }
        // The blocking thread panicked: the connection is gone, and the store with it.
        Err(error) => Err(GroupError::new(Failure::Unavailable, error)),
    };
    for told in waiting {
        let _ = told.send(outcome.clone());
    }
}

/// Runs a statement of transaction control from the connection's cache of prepared
/// statements: a change runs several, and parsing each anew cost more than running it.
fn run(conn: &rusqlite::Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Brings the schema up to date through sqlx's migrator, whose bookkeeping
/// (`_sqlx_migrations`) every berth database already has.
async fn migrate(path: &str) -> Result<()> {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{path}?mode=rwc");
    let options: sqlx::any::AnyConnectOptions = url.parse()?;
    // A pool of one: the migrator takes a pool (over a bare connection its future is not
    // `Send` for every lifetime, which a server's task needs).
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .after_connect(|conn, _| {
            Box::pin(async move {
                for pragma in ["PRAGMA journal_mode = WAL", "PRAGMA foreign_keys = ON", "PRAGMA busy_timeout = 10000"] {
                    sqlx::query(pragma).execute(&mut *conn).await?;
                }
                Ok(())
            })
        })
        .connect_with(options.disable_statement_logging())
        .await?;
    crate::SQLITE_MIGRATIONS.run(&pool).await?;
    pool.close().await;
    Ok(())
}

/// A connection to the file at `path`: WAL lets readers run beside the writer; FULL makes
/// every commit durable before it is acknowledged; readers refuse writes, so that every change
/// goes through the one writer. The writer keeps its temporary files in memory: every change
/// runs in a savepoint, whose sub-journal (the pages as they were before the change) would
/// otherwise be written to a temporary file.
fn connect(path: &str, read_only: bool) -> Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(Path::new(path))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch(if read_only {
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA query_only = ON;"
    } else {
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA query_only = OFF; \
         PRAGMA temp_store = MEMORY;"
    })?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(change: &mut Change, sql: &str) {
        let Link::Sqlite(conn) = change.link() else { unreachable!("a SQLite change") };
        conn.execute_batch(sql).expect("the statement runs");
    }

    /// A fresh store whose first change (meta key `first`) has committed into its group and
    /// waits for the group's commit: the next change to take the writer joins that group.
    async fn a_group_begun() -> (tempfile::TempDir, std::path::PathBuf, Sqlite, tokio::task::JoinHandle<Result<()>>) {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("berth.db");
        let sqlite = Sqlite::open(path.to_str().expect("a UTF-8 path")).await.expect("open");
        let mut first = sqlite.write().await.expect("the writer");
        exec(&mut first, "INSERT INTO meta (key, value) VALUES ('first', 'x')");
        // Spawned, the first change's commit runs once this task waits for the writer: it
        // releases the change into the group and starts the committer, which queues behind
        // the change that waits.
        let first_committed = tokio::spawn(first.commit());
        (dir, path, sqlite, first_committed)
    }

    fn meta_keys(path: &Path) -> Vec<String> {
        let conn = rusqlite::Connection::open(path).expect("open");
        let mut statement = conn.prepare("SELECT key FROM meta ORDER BY key").expect("prepare");
        statement.query_map([], |row| row.get(0)).expect("query").collect::<rusqlite::Result<_>>().expect("rows")
    }

    /// Two changes share a group; the second leaves a deferred foreign key broken, which only
    /// the commit finds. The group's commit fails, and both changes hear so: neither is kept,
    /// though the first did nothing wrong, since it was never acknowledged.
    #[tokio::test]
    async fn a_group_whose_commit_fails_fails_every_change_in_it() {
        let (_dir, path, sqlite, first_committed) = a_group_begun().await;
        let mut second = sqlite.write().await.expect("the writer");
        exec(&mut second, "PRAGMA defer_foreign_keys = ON");
        exec(&mut second, "INSERT INTO meta (key, value) VALUES ('second', 'x')");
        exec(
            &mut second,
            "INSERT INTO users (account_id, username, email, restricted, created_at) VALUES (999, 'u', 'e', 0, 0)",
        );
        let second_committed = second.commit().await;

        let first_committed = first_committed.await.expect("the first change runs to its end");
        assert!(matches!(first_committed, Err(StoreError::Group(_))), "{first_committed:?}");
        assert!(matches!(second_committed, Err(StoreError::Group(_))), "{second_committed:?}");
        assert!(meta_keys(&path).iter().all(|key| key != "first" && key != "second"), "{:?}", meta_keys(&path));

        // The writer goes on: the next change commits alone.
        let mut third = sqlite.write().await.expect("the writer");
        exec(&mut third, "INSERT INTO meta (key, value) VALUES ('third', 'x')");
        third.commit().await.expect("a change after a failed group commits");
        assert!(meta_keys(&path).contains(&"third".to_string()));
        sqlite.close().await;
    }

    /// A change dropped while others of its group wait is undone alone.
    #[tokio::test]
    async fn a_change_dropped_in_a_group_is_undone_alone() {
        let (_dir, path, sqlite, first_committed) = a_group_begun().await;
        let mut dropped = sqlite.write().await.expect("the writer");
        exec(&mut dropped, "INSERT INTO meta (key, value) VALUES ('dropped', 'x')");
        drop(dropped);
        let mut last = sqlite.write().await.expect("the writer");
        exec(&mut last, "INSERT INTO meta (key, value) VALUES ('last', 'x')");
        last.commit().await.expect("the last change commits");
        first_committed.await.expect("runs").expect("the first change commits");

        let keys = meta_keys(&path);
        assert!(keys.contains(&"first".to_string()) && keys.contains(&"last".to_string()), "{keys:?}");
        assert!(!keys.contains(&"dropped".to_string()), "{keys:?}");
        sqlite.close().await;
    }
}
