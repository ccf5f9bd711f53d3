//! `/account/events`: the audit trail, as Linode shows it.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use berth_core::{Action, Event, EventEntity, EventStatus, Thing};
use serde::Serialize;
use serde_json::Value;

use super::{Auth, Id, LinodeError, Result, envelope, page, unfiltered_page, window, wire};
use crate::{AppState, time_format};

/// Fields of an event that `X-Filter` may name.
const FILTER_FIELDS: &[&str] =
    &["id", "action", "created", "entity.id", "entity.type", "entity.label", "status", "username", "seen", "read"];

pub(crate) async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    if let Some(request) = unfiltered_page(query.as_deref(), &headers)? {
        let paged = state.berth.event_page(&principal, SHOWN, window(request)).await?;
        let items = paged.items.iter().map(|e| wire::to_value(event(e))).collect();
        return Ok(Json(envelope(items, request, paged.total)?));
    }
    let events = state.berth.events(&principal).await?;
    let items = events.iter().filter(|e| shows(e)).map(|e| wire::to_value(event(e))).collect();
    Ok(Json(page(items, query.as_deref(), &headers, FILTER_FIELDS)?))
}

/// The subjects of the events this dialect shows: not global groups, which it cannot show.
const SHOWN: &[Thing] = &[Thing::Instance, Thing::Group, Thing::Firewall];

pub(crate) async fn view(State(state): State<AppState>, Auth(principal): Auth, Id(id): Id) -> Result<Json<EventBody>> {
    let found = state.berth.event_get(&principal, id).await?;
    if !shows(&found) {
        return Err(LinodeError::not_found());
    }
    Ok(Json(event(&found)))
}

/// Events about global groups are left out: the Linode dialect cannot show those groups.
fn shows(event: &Event) -> bool {
    SHOWN.contains(&event.entity.kind)
}

/// An event as Linode shows it.
#[derive(Debug, Serialize)]
pub(crate) struct EventBody {
    id: i64,
    action: &'static str,
    created: String,
    entity: EntityBody,
    secondary_entity: Option<EntityBody>,
    status: &'static str,
    username: Option<String>,
    message: String,
    seen: bool,
    read: bool,
    percent_complete: u8,
    rate: Option<String>,
    time_remaining: Option<String>,
    duration: f64,
}

#[derive(Debug, Serialize)]
struct EntityBody {
    id: i64,
    label: String,
    #[serde(rename = "type")]
    kind: &'static str,
    url: String,
}

/// Linode's name for what an event records.
fn action_name(action: Action) -> &'static str {
    match action {
        Action::InstanceCreate => "linode_create",
        Action::InstanceUpdate => "linode_update",
        Action::InstanceDelete => "linode_delete",
        Action::InstanceBoot => "linode_boot",
        Action::InstanceShutdown => "linode_shutdown",
        Action::InstanceMigrate => "linode_migrate",
        Action::InstanceMigrateRegion => "linode_migrate_datacenter",
        Action::GroupCreate => "placement_group_create",
        Action::GroupUpdate => "placement_group_update",
        Action::GroupDelete => "placement_group_delete",
        Action::GroupAssign => "placement_group_assign",
        Action::GroupUnassign => "placement_group_unassign",
        Action::GroupBecameCompliant => "placement_group_became_compliant",
        Action::GroupBecameNonCompliant => "placement_group_became_non_compliant",
        Action::FirewallCreate => "firewall_create",
        Action::FirewallDelete => "firewall_delete",
    }
}

fn entity(entity: &EventEntity) -> EntityBody {
    let (kind, url) = match entity.kind {
        Thing::Group => ("placement_group", format!("/v4/placement/groups/{}", entity.id)),
        Thing::Instance => ("linode", format!("/v4/linode/instances/{}", entity.id)),
        Thing::Firewall => ("firewall", format!("/v4/networking/firewalls/{}", entity.id)),
        Thing::GlobalGroup => ("anti_affinity_group", String::new()),
        other => (other.name(), String::new()),
    };
    EntityBody { id: entity.id, label: entity.label.clone(), kind, url }
}

fn event(event: &Event) -> EventBody {
    EventBody {
        id: event.id,
        action: action_name(event.action),
        created: time_format::linode(event.created_at),
        entity: entity(&event.entity),
        secondary_entity: event.secondary.as_ref().map(entity),
        status: event.status.as_str(),
        username: event.username.clone(),
        message: event.message.clone(),
        seen: false,
        read: false,
        percent_complete: if event.status == EventStatus::Started { 0 } else { 100 },
        rate: None,
        time_remaining: None,
        duration: 0.0,
    }
}
