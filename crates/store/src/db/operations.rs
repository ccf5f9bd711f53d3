//! Operations: the Exoscale dialect's handles on changes.

use super::{Db, Result, System, Tenant};
use crate::rows::*;
use crate::sql::{query, query_as};

impl Db<'_> {
    pub async fn operation_insert(&mut self, operation: &OperationRow) -> Result<()> {
        query(
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
        .execute(&mut self.conn)
        .await?;
        Ok(())
    }
}

impl Tenant<'_, '_> {
    pub async fn operation_get(&mut self, id: &str) -> Result<Option<OperationRow>> {
        let account_id = self.account;
        query_as(concat!("SELECT ", operation_columns!(), " FROM operations WHERE id = $1 AND account_id = $2"))
            .bind(id)
            .bind(account_id)
            .fetch_optional(&mut self.db.conn)
            .await
    }
}

impl System<'_, '_> {
    /// Forgets the operations created before `before`; returns how many.
    pub async fn operations_purge(&mut self, before: i64) -> Result<u64> {
        let result =
            query("DELETE FROM operations WHERE created_at < $1").bind(before).execute(&mut self.db.conn).await?;
        Ok(result)
    }
}
