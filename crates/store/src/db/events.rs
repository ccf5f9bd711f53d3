//! The audit trail.

use sqlx::Row;

use super::{Db, Result, Tenant};
use crate::rows::*;

impl Db<'_> {
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
}

impl Tenant<'_, '_> {
    /// An account's events, newest first.
    pub async fn events_of_account(&mut self) -> Result<Vec<EventRow>> {
        let account_id = self.account;
        Ok(sqlx::query_as(
            "SELECT id, account_id, username, action, status, entity_type, entity_id, entity_uuid, entity_label, \
             secondary_type, secondary_id, secondary_label, message, created_at FROM events \
             WHERE account_id = $1 ORDER BY id DESC",
        )
        .bind(account_id)
        .fetch_all(&mut *self.db.conn)
        .await?)
    }
}
