//! berth's store: the only crate that speaks SQL.
//!
//! One [`Store`] serves every backend through sqlx's `Any` driver: queries are written once, in
//! the SQL that SQLite and PostgreSQL share (`$n` placeholders, `RETURNING`), and each backend
//! has its own schema migrations under `migrations/`. Values cross the boundary as the types
//! `Any` carries everywhere: 64-bit integers (booleans are 0/1, times are milliseconds since
//! the UNIX epoch), text (ids, JSON documents) and nothing else.
//!
//! Reads go through [`Store::read`]; every change goes through one [`Tx`] from
//! [`Store::write`], which `core` fills with the reads that re-validate its decision and the
//! writes that carry it out, then commits. Dropping a `Tx` rolls it back.

mod queries;
mod rows;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, ConnectOptions, Connection, Transaction};

pub use queries::Db;
pub use rows::*;

/// The database behind a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
}

/// What went wrong in the store. Messages never repeat their source; log the whole chain.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("schema migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use a file path or sqlite://PATH (in-memory databases are not supported)")]
    UnsupportedUrl(String),
}

/// A handle on the database: cheap to clone, shared by every request.
#[derive(Clone, Debug)]
pub struct Store {
    read: AnyPool,
    write: AnyPool,
    backend: Backend,
}

/// A pooled connection for reads.
#[derive(Debug)]
pub struct Conn {
    inner: PoolConnection<Any>,
    backend: Backend,
}

/// A transaction for a change: commit it, or drop it to roll back.
#[derive(Debug)]
pub struct Tx {
    inner: Transaction<'static, Any>,
    backend: Backend,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

impl Store {
    /// Opens (creating if needed) the database at `url` and brings its schema up to date.
    ///
    /// `url` is a file path or a `sqlite://PATH` URL. SQLite runs in WAL mode with one writer:
    /// readers never wait for it, and changes are applied one at a time in this process.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let path = sqlite_path(url).ok_or_else(|| StoreError::UnsupportedUrl(url.to_string()))?;
        let url = format!("sqlite://{path}?mode=rwc");
        let options = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
        let pool = |max: u32| {
            AnyPoolOptions::new().max_connections(max).acquire_timeout(Duration::from_secs(30)).after_connect(
                |conn, _| {
                    Box::pin(async move {
                        // WAL lets readers run beside the writer; FULL makes every commit durable
                        // before it is acknowledged; the busy timeout covers checkpoints and any
                        // other process that opens the same file.
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = FULL",
                            "PRAGMA foreign_keys = ON",
                            "PRAGMA busy_timeout = 10000",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                        Ok(())
                    })
                },
            )
        };
        let write = pool(1).connect_with(options.clone()).await?;
        SQLITE_MIGRATIONS.run(&write).await?;
        let read = pool(8).connect_with(options).await?;
        Ok(Store { read, write, backend: Backend::Sqlite })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A connection for reads outside any change.
    pub async fn read(&self) -> Result<Conn, StoreError> {
        Ok(Conn { inner: self.read.acquire().await?, backend: self.backend })
    }

    /// Begins a change.
    pub async fn write(&self) -> Result<Tx, StoreError> {
        Ok(Tx { inner: self.write.begin().await?, backend: self.backend })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.read.acquire().await?;
        conn.ping().await?;
        Ok(())
    }

    /// Closes every connection, waiting for those in use.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

impl Conn {
    pub fn db(&mut self) -> Db<'_> {
        Db::new(&mut self.inner, self.backend)
    }
}

impl Tx {
    pub fn db(&mut self) -> Db<'_> {
        Db::new(&mut self.inner, self.backend)
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.inner.commit().await?;
        Ok(())
    }
}

fn sqlite_path(url: &str) -> Option<&str> {
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
    use super::sqlite_path;

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
