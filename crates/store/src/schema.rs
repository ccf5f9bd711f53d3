//! What the database's schema holds, read back from the database itself: tables, columns,
//! keys, foreign keys, checks and indexes, in terms both backends share, so that the SQLite and
//! PostgreSQL migrations can be held against each other.
//!
//! The description keeps what the code relies on and leaves out what each backend spells its
//! own way: integer columns are `integer` whether declared `INTEGER` or `BIGINT`; generated ids
//! (SQLite's rowid aliases, PostgreSQL's identity columns) are not told apart from given ones;
//! the indexes that back a primary key or a `UNIQUE` constraint are named by their columns, as
//! the backends name them differently; and a `CHECK` is described by the names and numbers it
//! mentions, since PostgreSQL rewrites `a BETWEEN 0 AND b` into `a >= 0 AND a <= b`; and a
//! primary key's columns are `NOT NULL` on both.

use std::collections::{BTreeMap, BTreeSet};

use crate::sql::{Link, query};
use crate::{Backend, Store, StoreError};

/// Every table of the schema but the migrator's own, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schema {
    pub tables: BTreeMap<String, Table>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// In declaration order.
    pub columns: Vec<Column>,
    /// The primary key's columns, in key order.
    pub primary_key: Vec<String>,
    /// Each `UNIQUE` constraint's columns (including unique indexes created apart).
    pub unique: BTreeSet<Vec<String>>,
    pub foreign_keys: BTreeSet<ForeignKey>,
    /// Each `CHECK`, as the sorted names and numbers it mentions.
    pub checks: BTreeSet<Vec<String>>,
    /// The indexes created with `CREATE INDEX`, by name.
    pub indexes: BTreeMap<String, Index>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// `integer`, `text`, or the declared type in lower case.
    pub kind: String,
    pub not_null: bool,
    /// The default, as an SQL literal without casts (`0`, `'{}'`).
    pub default: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub table: String,
    pub references: Vec<String>,
    /// `no action`, `cascade`, `set null`, `restrict` or `set default`.
    pub on_delete: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index {
    pub columns: Vec<String>,
    pub unique: bool,
    /// Whether it covers only the rows of a `WHERE`.
    pub partial: bool,
}

/// The migrator's bookkeeping, which is not part of berth's schema.
const MIGRATOR_TABLE: &str = "_sqlx_migrations";

impl Store {
    /// The schema as the database holds it now.
    pub async fn schema(&self) -> Result<Schema, StoreError> {
        let mut conn = self.read().await?;
        let mut db = conn.db();
        match db.backend() {
            Backend::Sqlite => sqlite_schema(&mut db.conn).await,
            Backend::Postgres => postgres_schema(&mut db.conn).await,
        }
    }
}

fn column_kind(declared: &str) -> String {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" | "int8" => "integer".to_string(),
        "text" => "text".to_string(),
        other => other.to_string(),
    }
}

/// `'{}'::text` → `'{}'`; `0` stays `0`.
fn plain_default(default: Option<String>) -> Option<String> {
    default.map(|text| match text.split_once("::") {
        Some((literal, _)) => literal.to_string(),
        None => text,
    })
}

/// The names and numbers a `CHECK` expression mentions, sorted and without repeats.
fn check_terms(expression: &str) -> Vec<String> {
    const KEYWORDS: [&str; 7] = ["check", "and", "or", "not", "between", "is", "null"];
    let terms: BTreeSet<String> = expression
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .filter(|word| !KEYWORDS.contains(&word.as_str()))
        .collect();
    terms.into_iter().collect()
}

/// Each `CHECK (…)` of a `CREATE TABLE` statement, as written.
fn sqlite_checks(create_table: &str) -> Vec<String> {
    let lower = create_table.to_ascii_lowercase();
    let mut checks = Vec::new();
    let mut rest = 0;
    while let Some(found) = lower[rest..].find("check") {
        let start = rest + found;
        // The keyword, not a name that holds it (`checked_at`): no identifier character before
        // it, and nothing but spaces between it and its parenthesis.
        let after = &lower[start + "check".len()..];
        let keyword = !lower[..start].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && after.trim_start().starts_with('(');
        if !keyword {
            rest = start + "check".len();
            continue;
        }
        let open = start + "check".len() + (after.len() - after.trim_start().len());
        let mut depth = 0;
        let mut end = open;
        for (offset, c) in lower[open..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                end = open + offset;
                break;
            }
        }
        checks.push(create_table[open + 1..end].to_string());
        rest = end + 1;
    }
    checks
}

async fn sqlite_schema(conn: &mut Link<'_>) -> Result<Schema, StoreError> {
    let tables = query(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> $1 \
         ORDER BY name",
    )
    .bind(MIGRATOR_TABLE)
    .fetch_all(&mut *conn)
    .await?;
    let mut schema = Schema::default();
    for row in tables {
        let name: String = row.get(0)?;
        let sql: String = row.get(1)?;
        let mut table = Table::default();
        let columns = query("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info($1) ORDER BY cid")
            .bind(&name)
            .fetch_all(&mut *conn)
            .await?;
        let mut key: Vec<(i64, String)> = Vec::new();
        for column in columns {
            let column_name: String = column.get(0)?;
            let position: i64 = column.get(4)?;
            if position > 0 {
                key.push((position, column_name.clone()));
            }
            table.columns.push(Column {
                name: column_name,
                kind: column_kind(&column.get::<String>(1)?),
                not_null: column.get::<i64>(2)? != 0,
                default: plain_default(column.get(3)?),
            });
        }
        key.sort();
        table.primary_key = key.into_iter().map(|(_, column)| column).collect();
        // SQLite lets a key column other than a rowid alias hold NULL unless it says NOT NULL
        // (a quirk it keeps for old files); berth never stores a NULL key, and PostgreSQL
        // refuses one, so key columns are described as NOT NULL on both.
        for column in &mut table.columns {
            if table.primary_key.contains(&column.name) {
                column.not_null = true;
            }
        }
        let foreign = query(
            "SELECT id, \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list($1) ORDER BY id, seq",
        )
        .bind(&name)
        .fetch_all(&mut *conn)
        .await?;
        let mut by_id: BTreeMap<i64, ForeignKey> = BTreeMap::new();
        for row in foreign {
            let (table, on_delete) = (row.get(1)?, row.get::<String>(4)?.to_ascii_lowercase());
            let entry = by_id.entry(row.get(0)?).or_insert_with(|| ForeignKey {
                columns: Vec::new(),
                table,
                references: Vec::new(),
                on_delete,
            });
            entry.columns.push(row.get(2)?);
            entry.references.push(row.get(3)?);
        }
        table.foreign_keys = by_id.into_values().collect();
        table.checks = sqlite_checks(&sql).iter().map(|check| check_terms(check)).collect();
        let indexes = query("SELECT name, \"unique\", origin, partial FROM pragma_index_list($1)")
            .bind(&name)
            .fetch_all(&mut *conn)
            .await?;
        for index in indexes {
            let index_name: String = index.get(0)?;
            let columns: Vec<String> = query("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                .bind(&index_name)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|row| row.get(0))
                .collect::<Result<_, StoreError>>()?;
            let unique = index.get::<i64>(1)? != 0;
            match index.get::<String>(2)?.as_str() {
                "pk" => {}
                "u" => {
                    table.unique.insert(columns);
                }
                _ => {
                    if unique {
                        table.unique.insert(columns.clone());
                    }
                    let partial = index.get::<i64>(3)? != 0;
                    table.indexes.insert(index_name, Index { columns, unique, partial });
                }
            }
        }
        schema.tables.insert(name, table);
    }
    Ok(schema)
}

async fn postgres_schema(conn: &mut Link<'_>) -> Result<Schema, StoreError> {
    let mut schema = Schema::default();
    let columns = query(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text, \
         CASE WHEN c.is_nullable = 'NO' THEN 1 ELSE 0 END::bigint, c.column_default::text \
         FROM information_schema.columns c JOIN information_schema.tables t \
         ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.table_name <> $1 \
         ORDER BY c.table_name, c.ordinal_position",
    )
    .bind(MIGRATOR_TABLE)
    .fetch_all(&mut *conn)
    .await?;
    for row in columns {
        let table: String = row.get(0)?;
        schema.tables.entry(table).or_default().columns.push(Column {
            name: row.get(1)?,
            kind: column_kind(&row.get::<String>(2)?),
            not_null: row.get::<i64>(3)? != 0,
            default: plain_default(row.get(4)?),
        });
    }
    // Each column list comes as names joined by commas, in key order.
    let constraints = query(
        "SELECT t.relname::text, c.contype::text, \
         (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord) \
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum), \
         r.relname::text, \
         (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(c.confkey) WITH ORDINALITY k(attnum, ord) \
          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum), \
         c.confdeltype::text, pg_get_constraintdef(c.oid) \
         FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace LEFT JOIN pg_class r ON r.oid = c.confrelid \
         WHERE n.nspname = current_schema() AND t.relname <> $1 ORDER BY t.relname, c.conname",
    )
    .bind(MIGRATOR_TABLE)
    .fetch_all(&mut *conn)
    .await?;
    let split = |list: Option<String>| -> Vec<String> {
        list.map(|text| text.split(',').map(str::to_string).collect()).unwrap_or_default()
    };
    for row in constraints {
        let Some(table) = schema.tables.get_mut(&row.get::<String>(0)?) else { continue };
        let columns = split(row.get(2)?);
        match row.get::<String>(1)?.as_str() {
            "p" => table.primary_key = columns,
            "u" => {
                table.unique.insert(columns);
            }
            "f" => {
                let on_delete = match row.get::<Option<String>>(5)?.as_deref() {
                    Some("c") => "cascade",
                    Some("n") => "set null",
                    Some("r") => "restrict",
                    Some("d") => "set default",
                    _ => "no action",
                };
                table.foreign_keys.insert(ForeignKey {
                    columns,
                    table: row.get::<Option<String>>(3)?.unwrap_or_default(),
                    references: split(row.get(4)?),
                    on_delete: on_delete.to_string(),
                });
            }
            "c" => {
                table.checks.insert(check_terms(&row.get::<String>(6)?));
            }
            _ => {}
        }
    }
    // Indexes that no constraint owns: those of `CREATE INDEX`.
    let indexes = query(
        "SELECT t.relname::text, i.relname::text, \
         (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(x.indkey) WITH ORDINALITY k(attnum, ord) \
          JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum), \
         CASE WHEN x.indisunique THEN 1 ELSE 0 END::bigint, \
         CASE WHEN x.indpred IS NULL THEN 0 ELSE 1 END::bigint \
         FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = current_schema() AND t.relname <> $1 \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) \
         ORDER BY t.relname, i.relname",
    )
    .bind(MIGRATOR_TABLE)
    .fetch_all(&mut *conn)
    .await?;
    for row in indexes {
        let Some(table) = schema.tables.get_mut(&row.get::<String>(0)?) else { continue };
        let columns = split(row.get(2)?);
        let unique = row.get::<i64>(3)? != 0;
        if unique {
            table.unique.insert(columns.clone());
        }
        table.indexes.insert(row.get(1)?, Index { columns, unique, partial: row.get::<i64>(4)? != 0 });
    }
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::{check_terms, plain_default, sqlite_checks};

    #[test]
    fn a_check_is_described_by_what_it_mentions_however_it_is_spelled() {
        let sqlite = "CREATE TABLE hosts (id INTEGER, checked_at INTEGER, CHECK (used_vcpus BETWEEN 0 AND vcpus), \
                      CHECK(gpus >= 0))";
        let checks: Vec<Vec<String>> = sqlite_checks(sqlite).iter().map(|c| check_terms(c)).collect();
        assert_eq!(checks, [vec!["0", "used_vcpus", "vcpus"], vec!["0", "gpus"]]);
        let postgres = "CHECK (((used_vcpus >= 0) AND (used_vcpus <= vcpus)))";
        assert_eq!(check_terms(postgres), checks[0]);
    }

    #[test]
    fn defaults_lose_their_casts() {
        assert_eq!(plain_default(Some("'{}'::text".into())), Some("'{}'".into()));
        assert_eq!(plain_default(Some("0".into())), Some("0".into()));
        assert_eq!(plain_default(None), None);
    }
}
