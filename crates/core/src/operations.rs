//! Operations: the Exoscale dialect's handle on a change, kept so that a client can poll it.

use std::time::Duration;

use store::OperationRow;

use crate::convert;
use crate::error::{Error, Result};
use crate::model::*;
use crate::{Berth, now};

/// How long an operation stays readable after it was created.
pub const OPERATION_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

impl Berth {
    /// Records the outcome of a change as an operation of the caller's account.
    pub async fn operation_record(
        &self,
        principal: &Principal,
        state: OperationState,
        reason: Option<&str>,
        message: &str,
        reference: OperationReference,
    ) -> Result<Operation> {
        let row = OperationRow {
            id: uuid::Uuid::now_v7().to_string(),
            account_id: principal.account.0,
            state: state.as_str().to_string(),
            reason: reason.map(str::to_string),
            message: message.to_string(),
            reference_id: reference.id,
            reference_link: reference.link,
            reference_command: reference.command,
            created_at: now().0,
        };
        let mut tx = self.store.write().await?;
        tx.db().operation_insert(&row).await?;
        tx.commit().await?;
        convert::operation(row)
    }

    pub async fn operation_get(&self, principal: &Principal, id: &str) -> Result<Operation> {
        match self.store.read().await?.db().operation_get(principal.account.0, id).await? {
            Some(row) => convert::operation(row),
            None => Err(Error::not_found("operation")),
        }
    }

    /// Forgets operations older than [`OPERATION_RETENTION`]; returns how many.
    pub async fn operations_purge(&self) -> Result<u64> {
        let before = now().0 - i64::try_from(OPERATION_RETENTION.as_millis()).unwrap_or(i64::MAX);
        let mut tx = self.store.write().await?;
        let purged = tx.db().operations_purge(before).await?;
        tx.commit().await?;
        Ok(purged)
    }
}
