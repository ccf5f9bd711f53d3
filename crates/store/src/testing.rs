//! Databases for tests: a fresh, empty database per test, on SQLite or on the PostgreSQL
//! server named by `BERTH_TEST_POSTGRES_URL`.
//!
//! The test suites of every crate (the store's conformance suite, the server's and the
//! binary's integration suites) take their databases from here, so that one environment
//! variable moves them all to PostgreSQL. `scripts/test` starts a throwaway server and runs
//! them once on each backend.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{AnyConnection, Connection};

use crate::StoreError;

/// The variable that names the PostgreSQL server of the tests: a URL of any database on it
/// that a superuser (or a role that may create databases) can connect to.
pub const POSTGRES_URL_VARIABLE: &str = "BERTH_TEST_POSTGRES_URL";

/// The PostgreSQL server the tests run on, when the environment names one.
pub fn postgres_server() -> Option<String> {
    std::env::var(POSTGRES_URL_VARIABLE).ok().filter(|url| !url.is_empty())
}

/// A URL of a new, empty database for one test: on the PostgreSQL server the environment
/// names, if it names one, else a SQLite file in `dir` (which the caller keeps for the test's
/// length).
pub async fn fresh_database(dir: &Path) -> Result<String, StoreError> {
    match postgres_server() {
        Some(server) => postgres_database(&server).await,
        None => Ok(dir.join("berth.db").to_string_lossy().into_owned()),
    }
}

/// Creates a new, empty database on the server at `server_url` and returns its URL. Its name
/// is unique to this process and call; the databases live as long as the server (the test
/// command's server lives in a temporary directory).
pub async fn postgres_database(server_url: &str) -> Result<String, StoreError> {
    static CREATED: AtomicU64 = AtomicU64::new(0);
    sqlx::any::install_default_drivers();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let name = format!("berth_test_{}_{}_{nanos}", std::process::id(), CREATED.fetch_add(1, Ordering::Relaxed));
    let mut conn = AnyConnection::connect(server_url).await?;
    sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await?;
    conn.close().await?;
    Ok(with_database(server_url, &name))
}

/// Makes every insert into `table` of the database at `url` fail from now on, with a
/// database error, until [`allow_inserts`]: a failure injected into the middle of whatever
/// change writes that table, to show that the change is kept whole or not at all. `table` is
/// a name of berth's schema (letters and underscores).
pub async fn refuse_inserts(url: &str, table: &str) -> Result<(), StoreError> {
    assert!(table.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "a table name: {table:?}");
    let mut conn = connect(url).await?;
    let statements = if postgres_url(url) {
        vec![
            format!(
                "CREATE FUNCTION berth_refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'inserts into {table} are refused by a test'; END $$"
            ),
            format!(
                "CREATE TRIGGER berth_refuse_{table} BEFORE INSERT ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION berth_refuse_{table}()"
            ),
        ]
    } else {
        vec![format!(
            "CREATE TRIGGER berth_refuse_{table} BEFORE INSERT ON {table} \
             BEGIN SELECT RAISE(ABORT, 'inserts into {table} are refused by a test'); END"
        )]
    };
    for statement in statements {
        sqlx::query(&statement).execute(&mut conn).await?;
    }
    conn.close().await?;
    Ok(())
}

/// Undoes [`refuse_inserts`].
pub async fn allow_inserts(url: &str, table: &str) -> Result<(), StoreError> {
    assert!(table.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "a table name: {table:?}");
    let mut conn = connect(url).await?;
    let mut statements = vec![if postgres_url(url) {
        format!("DROP TRIGGER berth_refuse_{table} ON {table}")
    } else {
        format!("DROP TRIGGER berth_refuse_{table}")
    }];
    if postgres_url(url) {
        statements.push(format!("DROP FUNCTION berth_refuse_{table}()"));
    }
    for statement in statements {
        sqlx::query(&statement).execute(&mut conn).await?;
    }
    conn.close().await?;
    Ok(())
}

fn postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// A connection of its own to the database at `url` (a path is a SQLite file).
async fn connect(url: &str) -> Result<AnyConnection, StoreError> {
    sqlx::any::install_default_drivers();
    if postgres_url(url) {
        return Ok(AnyConnection::connect(url).await?);
    }
    let path = crate::sqlite_path(url).ok_or_else(|| StoreError::UnsupportedUrl(url.to_string()))?;
    Ok(AnyConnection::connect(&format!("sqlite://{path}")).await?)
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_of_a_url_is_replaced() {
        assert_eq!(with_database("postgres://u@h:5/postgres", "x"), "postgres://u@h:5/x");
        assert_eq!(with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
        assert_eq!(with_database("postgres://u:p@h/db?sslmode=disable", "x"), "postgres://u:p@h/x?sslmode=disable");
    }
}
