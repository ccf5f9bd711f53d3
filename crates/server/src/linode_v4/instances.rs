//! `/linode/instances`: Linodes, placed by the engine onto the hosts of the fleet.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use berth_core::{
    Field, FirewallId, GroupChoice, GroupId, GroupKey, InstanceCreate, InstanceId, InstanceMigrate, InstanceSelection,
    InstanceState, InstanceUpdate, Label, RegionId,
};
use serde_json::Value;

use super::wire::{self, InstanceCreateBody, InstanceUpdateBody, MigrateBody, PlacementGroupInput, required};
use super::{Auth, Body, Id, LinodeError, Result, envelope, filter_of, page_with, unfiltered_page, window};
use crate::AppState;
use crate::catalog::{image, instance_type};

pub(crate) async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    if let Some(request) = unfiltered_page(query.as_deref(), &headers)? {
        let paged = state.berth.instance_page(&principal, window(request)).await?;
        let items = paged.items.iter().map(|i| wire::to_value(wire::linode(i))).collect();
        return Ok(Json(envelope(items, request, paged.total)?));
    }
    // A filter that names the id, label or region every item must have narrows the list in
    // the store first; the filter itself then runs on what is left, as on any list.
    let filter = filter_of(&headers, wire::INSTANCE_FILTER_FIELDS)?;
    let selection = InstanceSelection {
        id: filter.required("id").and_then(Value::as_i64).map(InstanceId),
        label: filter.required("label").and_then(Value::as_str).map(str::to_string),
        region: filter.required("region").and_then(Value::as_str).map(str::to_string),
    };
    let instances = if selection.narrows() {
        state.berth.instances_selected(&principal, &selection).await?
    } else {
        state.berth.instance_list(&principal).await?
    };
    let items = instances.iter().map(|i| wire::to_value(wire::linode(i))).collect();
    Ok(Json(page_with(items, query.as_deref(), &filter)?))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Body(body): Body<InstanceCreateBody>,
) -> Result<Json<Value>> {
    let type_id = required(body.type_id, "type")?;
    let plan = instance_type(&type_id)
        .ok_or_else(|| LinodeError::bad_request("A valid plan type by that ID was not found", "type"))?;
    let region = RegionId::parse(&required(body.region, "region")?)?;
    let label = match body.label.as_deref() {
        Some(label) => wire::linode_label(label)?,
        // 64 random bits: an account would need billions of Linodes before two defaults met
        // (and a meeting would be refused as a taken label).
        None => Label::parse(Field::Label, &format!("linode-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]))?,
    };
    if let Some(id) = &body.image
        && image(id).is_none()
    {
        return Err(LinodeError::bad_request(format!("Image {id} not found"), "image"));
    }
    if let Some(root_pass) = &body.root_pass
        && (root_pass.len() < 7 || root_pass.len() > 128)
    {
        return Err(LinodeError::bad_request("root_pass must be between 7 and 128 characters", "root_pass"));
    }
    let has_credentials = body.root_pass.is_some()
        || body.authorized_keys.as_ref().is_some_and(|k| !k.is_empty())
        || body.authorized_users.as_ref().is_some_and(|u| !u.is_empty());
    if body.image.is_some() && !has_credentials {
        return Err(LinodeError::bad_request("root_pass is required when deploying an image", "root_pass"));
    }
    let create = InstanceCreate {
        label,
        unique_label: true,
        region,
        type_id,
        size: plan.size,
        image: body.image,
        tags: wire::tags(body.tags)?,
        labels: Default::default(),
        firewall: body.firewall_id.map(FirewallId),
        groups: body.placement_group.map(group_choice).transpose()?.into_iter().collect(),
        state: if body.booted.unwrap_or(true) { InstanceState::Running } else { InstanceState::Stopped },
    };
    let view = state.berth.instance_create(&principal, create).await?;
    Ok(Json(wire::to_value(wire::linode(&view))))
}

pub(crate) async fn view(State(state): State<AppState>, Auth(principal): Auth, Id(id): Id) -> Result<Json<Value>> {
    let view = state.berth.instance_get(&principal, InstanceId(id)).await?;
    Ok(Json(wire::to_value(wire::linode(&view))))
}

pub(crate) async fn update(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Id(id): Id,
    Body(body): Body<InstanceUpdateBody>,
) -> Result<Json<Value>> {
    let update = InstanceUpdate {
        label: body.label.as_deref().map(wire::linode_label).transpose()?,
        unique_label: true,
        tags: body.tags.map(|tags| wire::tags(Some(tags))).transpose()?,
        labels: None,
    };
    let view = state.berth.instance_update(&principal, InstanceId(id), update).await?;
    Ok(Json(wire::to_value(wire::linode(&view))))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Id(id): Id,
) -> Result<Json<wire::Empty>> {
    state.berth.instance_delete(&principal, InstanceId(id)).await?;
    Ok(Json(wire::Empty {}))
}

pub(crate) async fn migrate(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Id(id): Id,
    Body(body): Body<MigrateBody>,
) -> Result<Json<wire::Empty>> {
    if let Some(kind) = &body.migration_type
        && kind != "cold"
        && kind != "warm"
    {
        return Err(LinodeError::bad_request("type must be cold or warm", "type"));
    }
    let migrate = InstanceMigrate {
        region: body.region.as_deref().map(RegionId::parse).transpose()?,
        group: body.placement_group.map(group_choice).transpose()?,
    };
    state.berth.instance_migrate(&principal, InstanceId(id), migrate).await?;
    Ok(Json(wire::Empty {}))
}

fn group_choice(input: PlacementGroupInput) -> Result<GroupChoice> {
    let id = required(input.id, "placement_group.id")?;
    Ok(GroupChoice { group: GroupKey::Regional(GroupId(id)), compliant_only: input.compliant_only.unwrap_or(false) })
}
