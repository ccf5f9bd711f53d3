//! The audit trail.

use super::{Db, Result, Tenant, placeholders};
use crate::rows::*;
use crate::sql::{query, query_as};

impl Db<'_> {
    pub async fn event_insert(&mut self, event: &NewEvent, now: i64) -> Result<i64> {
        query(
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
        .fetch_id(&mut self.conn)
        .await
    }
}

macro_rules! event_columns {
    () => {
        "id, account_id, username, action, status, entity_type, entity_id, entity_uuid, \
     entity_label, secondary_type, secondary_id, secondary_label, message, created_at"
    };
}
const EVENT_COLUMNS: &str = event_columns!();

impl Tenant<'_, '_> {
    /// One page of an account's events about subjects of these `kinds`, newest first.
    pub async fn events_page(&mut self, kinds: &[&str], offset: i64, limit: i64) -> Result<Vec<EventRow>> {
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        let list = placeholders(4, kinds.len());
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE account_id = $1 AND entity_type IN ({list}) \
             ORDER BY id DESC LIMIT $2 OFFSET $3"
        );
        let mut query = query_as(&sql).bind(self.account).bind(limit).bind(offset);
        for kind in kinds {
            query = query.bind(*kind);
        }
        query.fetch_all(&mut self.db.conn).await
    }

    /// How many events of the account are about subjects of these `kinds`.
    pub async fn event_count(&mut self, kinds: &[&str]) -> Result<i64> {
        if kinds.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "SELECT COUNT(*) FROM events WHERE account_id = $1 AND entity_type IN ({})",
            placeholders(2, kinds.len())
        );
        let mut query = query(&sql).bind(self.account);
        for kind in kinds {
            query = query.bind(*kind);
        }
        query.fetch_one(&mut self.db.conn).await?.get::<i64>(0)
    }

    /// One event of the account.
    pub async fn event_get(&mut self, id: i64) -> Result<Option<EventRow>> {
        query_as(concat!("SELECT ", event_columns!(), " FROM events WHERE id = $1 AND account_id = $2"))
            .bind(id)
            .bind(self.account)
            .fetch_optional(&mut self.db.conn)
            .await
    }

    /// An account's events, newest first.
    pub async fn events_of_account(&mut self) -> Result<Vec<EventRow>> {
        let account_id = self.account;
        query_as(concat!("SELECT ", event_columns!(), " FROM events WHERE account_id = $1 ORDER BY id DESC"))
            .bind(account_id)
            .fetch_all(&mut self.db.conn)
            .await
    }
}
