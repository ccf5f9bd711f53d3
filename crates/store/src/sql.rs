//! One way to run a statement on either backend: the queries of `db/` are written once, in the
//! SQL both share, and built with [`query`] and [`query_as`]; what runs them differs.
//!
//! On SQLite a statement runs at once, on the connection the caller holds, through `rusqlite`
//! with a cache of prepared statements: no thread hop and no channel per statement (through
//! sqlx's SQLite driver each statement crossed to the connection's worker thread and back,
//! which cost ten times the statement). Each `$n` placeholder, a named parameter to SQLite, is
//! bound by reading its name back, never by searching for it. On PostgreSQL the statement goes
//! through sqlx's driver, as before.
//!
//! Rows are decoded by [`FromRow`]: a row type names the columns it reads ([`from_row!`]); a
//! statement that selects them in field order is read by position, any other has its columns
//! looked up once, not once per row.

use std::borrow::Cow;

use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Column as _, Row as _};

use crate::StoreError;

type Result<T> = std::result::Result<T, StoreError>;

/// The connection a statement runs on.
#[derive(Debug)]
pub(crate) enum Link<'c> {
    Sqlite(&'c mut rusqlite::Connection),
    Any(&'c mut AnyConnection),
}

/// A value bound to a statement: the types both backends carry (64-bit integers and text,
/// either of which may be null).
#[derive(Clone, Debug)]
pub(crate) enum Param<'q> {
    Int(Option<i64>),
    Text(Option<Cow<'q, str>>),
}

impl From<i64> for Param<'_> {
    fn from(value: i64) -> Self {
        Param::Int(Some(value))
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(value: Option<i64>) -> Self {
        Param::Int(value)
    }
}

impl<'q> From<&'q str> for Param<'q> {
    fn from(value: &'q str) -> Self {
        Param::Text(Some(Cow::Borrowed(value)))
    }
}

impl<'q> From<&'q String> for Param<'q> {
    fn from(value: &'q String) -> Self {
        Param::Text(Some(Cow::Borrowed(value)))
    }
}

impl From<String> for Param<'_> {
    fn from(value: String) -> Self {
        Param::Text(Some(Cow::Owned(value)))
    }
}

impl<'q> From<Option<&'q str>> for Param<'q> {
    fn from(value: Option<&'q str>) -> Self {
        Param::Text(value.map(Cow::Borrowed))
    }
}

impl<'q> From<&'q Option<String>> for Param<'q> {
    fn from(value: &'q Option<String>) -> Self {
        Param::Text(value.as_deref().map(Cow::Borrowed))
    }
}

impl From<Option<String>> for Param<'_> {
    fn from(value: Option<String>) -> Self {
        Param::Text(value.map(Cow::Owned))
    }
}

/// A column's value as a row type's field holds it: the types both backends decode.
pub(crate) trait Decode:
    Sized + rusqlite::types::FromSql + for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>
{
}

impl<T> Decode for T where T: rusqlite::types::FromSql + for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any> {}

/// The columns of one row, as a [`FromRow`] reads them: its `index`th named column (or, for a
/// type that names none, the `index`th column of the statement).
pub(crate) trait Values {
    fn get<T: Decode>(&self, index: usize) -> Result<T>;
}

/// A row type: the columns it reads, by name, and how it is built from them.
pub(crate) trait FromRow: Sized {
    /// The columns, by name, in the order `from_row` reads them; empty for a type that reads
    /// columns by position (tuples, [`Row`]).
    const COLUMNS: &'static [&'static str];

    fn from_row(row: &impl Values) -> Result<Self>;
}

/// Makes a struct of named fields a [`FromRow`] that reads the columns of the same names.
macro_rules! from_row {
    ($($row:ident { $($field:ident),+ $(,)? })+) => {
        $(impl $crate::sql::FromRow for $row {
            const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),+];

            fn from_row(row: &impl $crate::sql::Values) -> ::std::result::Result<Self, $crate::StoreError> {
                let mut index = 0..;
                Ok($row { $($field: row.get(index.next().unwrap_or_default())?),+ })
            }
        })+
    };
}
pub(crate) use from_row;

impl<A: Decode> FromRow for (A,) {
    const COLUMNS: &'static [&'static str] = &[];

    fn from_row(row: &impl Values) -> Result<Self> {
        Ok((row.get(0)?,))
    }
}

impl<A: Decode, B: Decode> FromRow for (A, B) {
    const COLUMNS: &'static [&'static str] = &[];

    fn from_row(row: &impl Values) -> Result<Self> {
        Ok((row.get(0)?, row.get(1)?))
    }
}

/// A row read by position, for the queries of a few columns that no row type describes: each
/// column read as it is needed (`row.get::<i64>(0)`).
#[derive(Debug)]
pub(crate) struct Row {
    values: Vec<Value>,
}

#[derive(Debug)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl Row {
    /// The `index`th column, as a `T` (an integer, text, or an `Option` of either); a column
    /// of another type, or a null read as other than an `Option`, is an error.
    pub(crate) fn get<T: FromValue>(&self, index: usize) -> Result<T> {
        T::from_value(self.values.get(index).unwrap_or(&Value::Null)).ok_or(StoreError::ColumnType(index))
    }
}

/// What a column of a [`Row`] can be read as; `None` when the value is not one.
pub(crate) trait FromValue: Sized {
    fn from_value(value: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Int(value) => Some(*value),
            _ => None,
        }
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Text(value) => Some(value.clone()),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// A statement and its parameters, built like sqlx's: `query(sql).bind(a).bind(b)`.
#[derive(Debug)]
pub(crate) struct Query<'q, R = Row> {
    sql: Cow<'q, str>,
    params: Vec<Param<'q>>,
    row: std::marker::PhantomData<fn() -> R>,
}

/// A statement whose rows, if any, are read by position.
pub(crate) fn query<'q>(sql: impl Into<Cow<'q, str>>) -> Query<'q, Row> {
    Query { sql: sql.into(), params: Vec::new(), row: std::marker::PhantomData }
}

/// A statement whose rows are `R`s.
pub(crate) fn query_as<'q, R: FromRow>(sql: impl Into<Cow<'q, str>>) -> Query<'q, R> {
    Query { sql: sql.into(), params: Vec::new(), row: std::marker::PhantomData }
}

impl<'q, R: ReadRow> Query<'q, R> {
    pub(crate) fn bind(mut self, value: impl Into<Param<'q>>) -> Self {
        self.params.push(value.into());
        self
    }

    /// Runs a statement that returns no rows; returns how many rows it changed.
    pub(crate) async fn execute(self, link: &mut Link<'_>) -> Result<u64> {
        match link {
            Link::Sqlite(conn) => sqlite_execute(conn, &self.sql, &self.params),
            Link::Any(conn) => Ok(any_query(&self.sql, &self.params).execute(&mut **conn).await?.rows_affected()),
        }
    }

    pub(crate) async fn fetch_all(self, link: &mut Link<'_>) -> Result<Vec<R>> {
        match link {
            Link::Sqlite(conn) => sqlite_rows(conn, &self.sql, &self.params, usize::MAX),
            Link::Any(conn) => {
                let rows = any_query(&self.sql, &self.params).fetch_all(&mut **conn).await?;
                any_rows(&rows)
            }
        }
    }

    pub(crate) async fn fetch_optional(self, link: &mut Link<'_>) -> Result<Option<R>> {
        match link {
            Link::Sqlite(conn) => Ok(sqlite_rows(conn, &self.sql, &self.params, 1)?.pop()),
            Link::Any(conn) => {
                let row = any_query(&self.sql, &self.params).fetch_optional(&mut **conn).await?;
                Ok(any_rows(row.as_slice())?.pop())
            }
        }
    }

    pub(crate) async fn fetch_one(self, link: &mut Link<'_>) -> Result<R> {
        self.fetch_optional(link).await?.ok_or(StoreError::RowNotFound)
    }
}

impl Query<'_, Row> {
    /// Runs an `INSERT … RETURNING id` and returns the new row's id. On SQLite the statement
    /// runs without its `RETURNING`, which SQLite serves by building a temporary table, and
    /// the id is the connection's last inserted rowid (the insert's own, as the connection
    /// runs one statement at a time).
    pub(crate) async fn fetch_id(self, link: &mut Link<'_>) -> Result<i64> {
        match link {
            Link::Sqlite(conn) => {
                let sql = self.sql.strip_suffix(" RETURNING id").ok_or(StoreError::ReturningId)?;
                sqlite_execute(conn, sql, &self.params)?;
                Ok(conn.last_insert_rowid())
            }
            Link::Any(_) => self.fetch_one(link).await?.get::<i64>(0),
        }
    }
}

/// How the rows of a query are read: by [`FromRow`], or whole by position ([`Row`]).
pub(crate) trait ReadRow: Sized {
    fn read_sqlite(row: &rusqlite::Row<'_>, columns: &[usize]) -> Result<Self>;
    fn read_any(row: &AnyRow, columns: &[usize]) -> Result<Self>;
    /// The statement's index of each column the type reads by name, given the name of each of
    /// the statement's `count` columns.
    fn columns<'n>(name: &dyn Fn(usize) -> Option<&'n str>, count: usize) -> Result<Vec<usize>>;
}

impl<R: FromRow> ReadRow for R {
    fn read_sqlite(row: &rusqlite::Row<'_>, columns: &[usize]) -> Result<Self> {
        R::from_row(&SqliteValues { row, columns })
    }

    fn read_any(row: &AnyRow, columns: &[usize]) -> Result<Self> {
        R::from_row(&AnyValues { row, columns })
    }

    fn columns<'n>(name: &dyn Fn(usize) -> Option<&'n str>, count: usize) -> Result<Vec<usize>> {
        // The queries select a row's columns in its fields' order (the `*_COLUMNS` lists of
        // `db/`), so a statement of as many columns is read by position; the names are held
        // against the fields in debug builds, that is in every test, which run every query.
        // Reading the names on every statement cost more than the row itself (4.8k
        // instructions a statement in a profile of GETs).
        if count == R::COLUMNS.len() {
            if cfg!(debug_assertions)
                && let Some(wanted) =
                    R::COLUMNS.iter().enumerate().find(|(field, wanted)| name(*field) != Some(**wanted))
            {
                return Err(StoreError::ColumnOrder(wanted.1));
            }
            return Ok(Vec::new());
        }
        R::COLUMNS
            .iter()
            .enumerate()
            .map(|(field, wanted)| {
                if name(field) == Some(*wanted) {
                    return Ok(field);
                }
                (0..count).find(|&index| name(index) == Some(*wanted)).ok_or(StoreError::MissingColumn(wanted))
            })
            .collect()
    }
}

struct SqliteValues<'a, 'r> {
    row: &'a rusqlite::Row<'r>,
    columns: &'a [usize],
}

impl Values for SqliteValues<'_, '_> {
    fn get<T: Decode>(&self, index: usize) -> Result<T> {
        let column = self.columns.get(index).copied().unwrap_or(index);
        Ok(self.row.get(column)?)
    }
}

struct AnyValues<'a> {
    row: &'a AnyRow,
    columns: &'a [usize],
}

impl Values for AnyValues<'_> {
    fn get<T: Decode>(&self, index: usize) -> Result<T> {
        let column = self.columns.get(index).copied().unwrap_or(index);
        Ok(self.row.try_get(column)?)
    }
}

impl ReadRow for Row {
    fn read_sqlite(row: &rusqlite::Row<'_>, _columns: &[usize]) -> Result<Self> {
        use rusqlite::types::ValueRef;
        let count = row.as_ref().column_count();
        let mut values = Vec::with_capacity(count);
        for index in 0..count {
            values.push(match row.get_ref(index)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(value) => Value::Int(value),
                ValueRef::Text(text) => Value::Text(String::from_utf8_lossy(text).into_owned()),
                ValueRef::Real(value) => Value::Int(value as i64),
                ValueRef::Blob(bytes) => Value::Text(String::from_utf8_lossy(bytes).into_owned()),
            });
        }
        Ok(Row { values })
    }

    fn read_any(row: &AnyRow, _columns: &[usize]) -> Result<Self> {
        let mut values = Vec::with_capacity(row.len());
        for index in 0..row.len() {
            // A column is an integer, text, or null: try each in turn, as `Any` tells no type
            // of a null.
            values.push(if let Ok(value) = row.try_get::<Option<i64>, _>(index) {
                value.map_or(Value::Null, Value::Int)
            } else {
                row.try_get::<Option<String>, _>(index)?.map_or(Value::Null, Value::Text)
            });
        }
        Ok(Row { values })
    }

    fn columns<'n>(_name: &dyn Fn(usize) -> Option<&'n str>, _count: usize) -> Result<Vec<usize>> {
        Ok(Vec::new())
    }
}

/// The statement of `sql`, from the connection's cache, with `params` bound. The queries
/// number their placeholders `$n`, which SQLite takes as named parameters; each is bound to
/// the `n`th of `params` by reading its name back, so no name is ever searched for (sqlx's
/// SQLite driver searched every parameter's name among all of a statement's) and the SQL
/// needs no rewriting.
fn sqlite_statement<'c>(
    conn: &'c rusqlite::Connection,
    sql: &str,
    params: &[Param<'_>],
) -> Result<rusqlite::CachedStatement<'c>> {
    let mut statement = conn.prepare_cached(sql)?;
    for index in 1..=statement.parameter_count() {
        let number = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|digits| digits.parse::<usize>().ok())
            .ok_or(StoreError::Parameter(index))?;
        match params.get(number.wrapping_sub(1)).ok_or(StoreError::Parameter(number))? {
            Param::Int(value) => statement.raw_bind_parameter(index, value)?,
            Param::Text(value) => statement.raw_bind_parameter(index, value.as_deref())?,
        }
    }
    Ok(statement)
}

fn sqlite_execute(conn: &rusqlite::Connection, sql: &str, params: &[Param<'_>]) -> Result<u64> {
    let mut statement = sqlite_statement(conn, sql, params)?;
    // A statement that returns rows (`RETURNING`, a `SELECT` run for its effect) is stepped
    // to its end; the change count is SQLite's for the statement.
    let mut rows = statement.raw_query();
    while rows.next()?.is_some() {}
    drop(rows);
    Ok(conn.changes())
}

/// At most `limit` rows of a statement, read as `R`s.
fn sqlite_rows<R: ReadRow>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Param<'_>],
    limit: usize,
) -> Result<Vec<R>> {
    let mut statement = sqlite_statement(conn, sql, params)?;
    let columns = R::columns(&|index| statement.column_name(index).ok(), statement.column_count())?;
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while out.len() < limit {
        match rows.next()? {
            Some(row) => out.push(R::read_sqlite(row, &columns)?),
            None => break,
        }
    }
    Ok(out)
}

fn any_query<'q>(sql: &'q str, params: &'q [Param<'q>]) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    let mut query = sqlx::query(sql);
    for param in params {
        query = match param {
            Param::Int(value) => query.bind(*value),
            Param::Text(value) => query.bind(value.as_deref()),
        };
    }
    query
}

fn any_rows<R: ReadRow>(rows: &[AnyRow]) -> Result<Vec<R>> {
    let Some(first) = rows.first() else { return Ok(Vec::new()) };
    let names = first.columns();
    let columns = R::columns(&|index| names.get(index).map(|column| column.name()), names.len())?;
    rows.iter().map(|row| R::read_any(row, &columns)).collect()
}

#[cfg(test)]
mod tests {
    use super::{Row, Value};
    use crate::StoreError;

    #[test]
    fn a_column_read_as_another_type_is_an_error_not_a_default() {
        let row = Row { values: vec![Value::Int(7), Value::Text("seven".into()), Value::Null] };
        assert_eq!(row.get::<i64>(0).ok(), Some(7));
        assert_eq!(row.get::<String>(1).ok(), Some("seven".to_string()));
        assert_eq!(row.get::<Option<i64>>(2).ok(), Some(None));
        assert!(matches!(row.get::<String>(0), Err(StoreError::ColumnType(0))));
        assert!(matches!(row.get::<i64>(1), Err(StoreError::ColumnType(1))));
        assert!(matches!(row.get::<i64>(2), Err(StoreError::ColumnType(2))), "a null is no integer");
        assert!(matches!(row.get::<Option<i64>>(1), Err(StoreError::ColumnType(1))));
    }
}
