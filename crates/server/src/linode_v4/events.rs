//! `/account/events`: the audit trail, as Linode shows it.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use berth_core::{Event, EventEntity};
use serde_json::{Value, json};

use super::{Auth, Id, LinodeError, Result, page};
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
    let events = state.berth.events(&principal).await?;
    let items = events.iter().filter(|e| shows(e)).map(event).collect();
    Ok(Json(page(items, query.as_deref(), &headers, FILTER_FIELDS)?))
}

pub(crate) async fn view(State(state): State<AppState>, Auth(principal): Auth, Id(id): Id) -> Result<Json<Value>> {
    let events = state.berth.events(&principal).await?;
    let found = events.iter().find(|e| e.id == id && shows(e)).ok_or_else(LinodeError::not_found)?;
    Ok(Json(event(found)))
}

/// Events about global groups are left out: the Linode dialect cannot show those groups.
fn shows(event: &Event) -> bool {
    event.entity.kind != "anti_affinity_group"
}

fn entity(entity: &EventEntity) -> Value {
    let url = match entity.kind.as_str() {
        "placement_group" => format!("/v4/placement/groups/{}", entity.id),
        "linode" => format!("/v4/linode/instances/{}", entity.id),
        "firewall" => format!("/v4/networking/firewalls/{}", entity.id),
        _ => String::new(),
    };
    json!({"id": entity.id, "label": entity.label, "type": entity.kind, "url": url})
}

fn event(event: &Event) -> Value {
    json!({
        "id": event.id,
        "action": event.action,
        "created": time_format::linode(event.created_at),
        "entity": entity(&event.entity),
        "secondary_entity": event.secondary.as_ref().map(entity),
        "status": event.status,
        "username": event.username,
        "message": event.message,
        "seen": false,
        "read": false,
        "percent_complete": if event.status == "started" { 0 } else { 100 },
        "rate": null,
        "time_remaining": null,
        "duration": 0.0,
    })
}
