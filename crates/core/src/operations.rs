//! Operations: a dialect's handle on a change, kept so that a client can poll it.

use std::time::Duration;

use store::{Db, OperationRow};

use crate::convert;
use crate::error::{Error, Result};
use crate::model::*;
use crate::{Berth, now};

/// How long an operation stays readable after it was created.
pub const OPERATION_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// An operation to record with a change, in the change's own transaction, so that a client
/// never sees the change without its operation or the operation without its change. The
/// dialect says how to name the changed resource.
#[derive(Clone, Copy, Debug)]
pub struct OperationRequest {
    /// The reference of the changed resource, given its UUID.
    pub reference: fn(&str) -> OperationReference,
}

impl Berth {
    /// Records the outcome of a request that changed nothing (a refused change), as an
    /// operation of the caller's account. An operation about a change is recorded by the
    /// change itself, given an [`OperationRequest`].
    pub async fn operation_record(
        &self,
        principal: &Principal,
        state: OperationState,
        reason: Option<&str>,
        message: &str,
        reference: OperationReference,
    ) -> Result<Operation> {
        let mut tx = self.store.write().await?;
        let operation = operation_write(&mut tx.db(), principal.account, state, reason, message, reference).await?;
        tx.commit().await?;
        Ok(operation)
    }

    pub async fn operation_get(&self, principal: &Principal, id: &str) -> Result<Operation> {
        match self.store.read().await?.db().tenant(principal.account.0).operation_get(id).await? {
            Some(row) => convert::operation(row),
            None => Err(Error::not_found(Thing::Operation)),
        }
    }

    /// Forgets operations older than [`OPERATION_RETENTION`]; returns how many.
    pub async fn operations_purge(&self) -> Result<u64> {
        let before = now().0 - i64::try_from(OPERATION_RETENTION.as_millis()).unwrap_or(i64::MAX);
        let mut tx = self.store.write().await?;
        let purged = tx.db().system().operations_purge(before).await?;
        tx.commit().await?;
        Ok(purged)
    }
}

/// Writes an operation inside the transaction of the change it is about.
pub(crate) async fn operation_write(
    db: &mut Db<'_>,
    account: AccountId,
    state: OperationState,
    reason: Option<&str>,
    message: &str,
    reference: OperationReference,
) -> Result<Operation> {
    let row = OperationRow {
        id: uuid::Uuid::now_v7().to_string(),
        account_id: account.0,
        state: state.as_str().to_string(),
        reason: reason.map(str::to_string),
        message: message.to_string(),
        reference_id: reference.id,
        reference_link: reference.link,
        reference_command: reference.command,
        created_at: now().0,
    };
    db.operation_insert(&row).await?;
    convert::operation(row)
}

/// The successful operation a change records when its caller asked for one.
pub(crate) async fn operation_of_change(
    db: &mut Db<'_>,
    account: AccountId,
    request: Option<OperationRequest>,
    uuid: &str,
) -> Result<Option<Operation>> {
    match request {
        Some(request) => {
            Ok(Some(operation_write(db, account, OperationState::Success, None, "", (request.reference)(uuid)).await?))
        }
        None => Ok(None),
    }
}

/// The operation of a change made for an [`OperationRequest`], which always records one.
pub(crate) fn requested(operation: Option<Operation>) -> Result<Operation> {
    operation.ok_or_else(|| Error::Internal("a change asked for an operation recorded none".to_string()))
}
