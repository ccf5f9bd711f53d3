//! `/operation/{id}`: the outcome of a change, kept for a day.

use axum::Json;
use axum::extract::State;

use super::{ExoId, Result, Signed, wire};
use crate::AppState;

pub(crate) async fn view(
    State(state): State<AppState>,
    id: ExoId,
    request: Signed,
) -> Result<Json<wire::OperationBody>> {
    let id = id.uuid("operation")?;
    let operation = state.berth.operation_get(&request.principal, &id).await?;
    Ok(Json(wire::operation(&operation)))
}
