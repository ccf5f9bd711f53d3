//! `/placement/groups`: placement groups.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use berth_core::{FailureDomain, GroupCreate, GroupId, InstanceId, RegionId, Scope};
use serde_json::{Value, json};

use super::wire::{self, AssignBody, GroupCreateBody, GroupUpdateBody, required};
use super::{Auth, Body, Id, LinodeError, Result, page};
use crate::AppState;

pub(crate) async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let groups = state.berth.group_list(&principal).await?;
    let items =
        groups.iter().filter(|g| wire::shows_group(g)).map(|g| wire::to_value(wire::placement_group(g))).collect();
    Ok(Json(page(items, query.as_deref(), &headers, wire::GROUP_FILTER_FIELDS)?))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Body(body): Body<GroupCreateBody>,
) -> Result<Json<Value>> {
    let label = wire::group_label(&required(body.label, "label")?)?;
    let region = RegionId::parse(&required(body.region, "region")?)?;
    let kind = wire::group_type(&required(body.placement_group_type, "placement_group_type")?)?;
    let policy = wire::group_policy(&required(body.placement_group_policy, "placement_group_policy")?)?;
    let create = GroupCreate {
        label,
        description: String::new(),
        scope: Scope::Region(region),
        kind,
        policy,
        domain: FailureDomain::Host,
        max_per_domain: 1,
        max_members: None,
    };
    let view = state.berth.group_create(&principal, create).await?;
    Ok(Json(wire::to_value(wire::placement_group(&view))))
}

pub(crate) async fn view(State(state): State<AppState>, Auth(principal): Auth, Id(id): Id) -> Result<Json<Value>> {
    let view = state.berth.group_get(&principal, GroupId(id)).await?;
    if !wire::shows_group(&view) {
        return Err(LinodeError::not_found());
    }
    Ok(Json(wire::to_value(wire::placement_group(&view))))
}

pub(crate) async fn update(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Id(id): Id,
    Body(body): Body<GroupUpdateBody>,
) -> Result<Json<Value>> {
    let label = wire::group_label(&required(body.label, "label")?)?;
    visible(&state, &principal, id).await?;
    let view = state.berth.group_update_label(&principal, GroupId(id), label).await?;
    Ok(Json(wire::to_value(wire::placement_group(&view))))
}

pub(crate) async fn delete(State(state): State<AppState>, Auth(principal): Auth, Id(id): Id) -> Result<Json<Value>> {
    visible(&state, &principal, id).await?;
    state.berth.group_delete(&principal, GroupId(id)).await?;
    Ok(Json(json!({})))
}

pub(crate) async fn assign(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Id(id): Id,
    Body(body): Body<AssignBody>,
) -> Result<Json<Value>> {
    let linodes = linodes(body.linodes)?;
    visible(&state, &principal, id).await?;
    let compliant_only = body.compliant_only.unwrap_or(false);
    let view = state.berth.group_assign(&principal, GroupId(id), &linodes, compliant_only).await?;
    Ok(Json(wire::to_value(wire::placement_group(&view))))
}

pub(crate) async fn unassign(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Id(id): Id,
    Body(body): Body<AssignBody>,
) -> Result<Json<Value>> {
    let linodes = linodes(body.linodes)?;
    visible(&state, &principal, id).await?;
    let view = state.berth.group_unassign(&principal, GroupId(id), &linodes).await?;
    Ok(Json(wire::to_value(wire::placement_group(&view))))
}

fn linodes(linodes: Option<Vec<i64>>) -> Result<Vec<InstanceId>> {
    let linodes = required(linodes, "linodes")?;
    if linodes.is_empty() {
        return Err(LinodeError::bad_request("linodes must list at least one Linode", "linodes"));
    }
    Ok(linodes.into_iter().map(InstanceId).collect())
}

/// Groups the Linode dialect cannot show (global ones) do not exist for it.
async fn visible(state: &AppState, principal: &berth_core::Principal, id: i64) -> Result<()> {
    let view = state.berth.group_get(principal, GroupId(id)).await?;
    if wire::shows_group(&view) { Ok(()) } else { Err(LinodeError::not_found()) }
}
