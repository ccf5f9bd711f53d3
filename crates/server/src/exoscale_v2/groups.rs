//! `/anti-affinity-group`: Exoscale's groups, global and strict, of at most eight instances.

use axum::Json;
use axum::extract::State;
use berth_core::{
    FailureDomain, GroupCreate, GroupKey, GroupKind, OperationReference, OperationRequest, Policy, Scope,
};

use super::wire::{self, GroupCreateBody};
use super::{ExoId, Result, Signed};
use crate::AppState;

/// The most instances an anti-affinity group holds, as on Exoscale.
pub(crate) const MAX_MEMBERS: u32 = 8;

pub(crate) async fn list(State(state): State<AppState>, request: Signed) -> Result<Json<wire::Groups>> {
    let groups = state.berth.group_list(&request.principal).await?;
    let anti_affinity_groups = groups.iter().filter(|g| wire::shows_group(g)).map(wire::group).collect();
    Ok(Json(wire::Groups { anti_affinity_groups }))
}

pub(crate) async fn create(State(state): State<AppState>, request: Signed) -> Result<Json<wire::OperationBody>> {
    let body: GroupCreateBody = request.json()?;
    let create = GroupCreate {
        label: wire::group_name(body.name)?,
        description: wire::group_description(body.description)?,
        scope: Scope::Global,
        kind: GroupKind::AntiAffinity,
        policy: Policy::Strict,
        domain: FailureDomain::Host,
        max_per_domain: 1,
        max_members: Some(MAX_MEMBERS),
    };
    let (_, operation) = state.berth.group_create_with_operation(&request.principal, create, OPERATION).await?;
    Ok(Json(wire::operation(&operation)))
}

pub(crate) async fn view(State(state): State<AppState>, id: ExoId, request: Signed) -> Result<Json<wire::Group>> {
    let view = state.berth.group_get(&request.principal, &GroupKey::Global(id.uuid("anti-affinity group")?)).await?;
    Ok(Json(wire::group(&view)))
}

/// Deletes a group; one with instances is refused (409), as its instances would lose it.
pub(crate) async fn delete(
    State(state): State<AppState>,
    id: ExoId,
    request: Signed,
) -> Result<Json<wire::OperationBody>> {
    let id = id.uuid("anti-affinity group")?;
    let key = GroupKey::Global(id);
    let operation = state.berth.group_delete_with_operation(&request.principal, &key, OPERATION).await?;
    Ok(Json(wire::operation(&operation)))
}

/// The operation every change of a group records, in the change's transaction.
const OPERATION: OperationRequest = OperationRequest { reference };

fn reference(id: &str) -> OperationReference {
    OperationReference {
        id: id.to_string(),
        link: format!("/v2/anti-affinity-group/{id}"),
        command: "get-anti-affinity-group".to_string(),
    }
}
