//! `/placement/groups`: placement groups.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use berth_core::{FailureDomain, GroupCreate, GroupId, GroupKey, InstanceId, RegionId, Scope};
use serde_json::Value;

use super::wire::{self, AssignBody, GroupCreateBody, GroupUpdateBody, required};
use super::{Auth, Body, Id, LinodeError, Result, envelope, page, unfiltered_page, window};
use crate::AppState;

pub(crate) async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    if let Some(request) = unfiltered_page(query.as_deref(), &headers)? {
        let paged = state.berth.regional_group_page(&principal, window(request)).await?;
        let items = paged.items.iter().map(|g| wire::to_value(wire::placement_group(g))).collect();
        return Ok(Json(envelope(items, request, paged.total)?));
    }
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
    let view = state.berth.group_get(&principal, &key(id)).await?;
    Ok(Json(wire::to_value(wire::placement_group(&view))))
}

pub(crate) async fn update(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Id(id): Id,
    Body(body): Body<GroupUpdateBody>,
) -> Result<Json<Value>> {
    let label = wire::group_label(&required(body.label, "label")?)?;
    let view = state.berth.group_update_label(&principal, &key(id), label).await?;
    Ok(Json(wire::to_value(wire::placement_group(&view))))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Id(id): Id,
) -> Result<Json<wire::Empty>> {
    state.berth.group_delete(&principal, &key(id)).await?;
    Ok(Json(wire::Empty {}))
}

pub(crate) async fn assign(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Id(id): Id,
    Body(body): Body<AssignBody>,
) -> Result<Json<Value>> {
    let linodes = linodes(body.linodes)?;
    let compliant_only = body.compliant_only.unwrap_or(false);
    let view = state.berth.group_assign(&principal, &key(id), &linodes, compliant_only).await?;
    Ok(Json(wire::to_value(wire::placement_group(&view))))
}

pub(crate) async fn unassign(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Id(id): Id,
    Body(body): Body<AssignBody>,
) -> Result<Json<Value>> {
    let linodes = linodes(body.linodes)?;
    let view = state.berth.group_unassign(&principal, &key(id), &linodes).await?;
    Ok(Json(wire::to_value(wire::placement_group(&view))))
}

fn linodes(linodes: Option<Vec<i64>>) -> Result<Vec<InstanceId>> {
    let linodes = required(linodes, "linodes")?;
    if linodes.is_empty() {
        return Err(LinodeError::bad_request("linodes must list at least one Linode", "linodes"));
    }
    Ok(linodes.into_iter().map(InstanceId).collect())
}

/// A group as the Linode dialect names it: the integer id of a regional group. A global
/// group does not exist for this dialect.
fn key(id: i64) -> GroupKey {
    GroupKey::Regional(GroupId(id))
}
