//! `/networking/firewalls`: kept for the clients that attach one to a Linode.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use berth_core::{FirewallCreate, FirewallId};
use serde_json::Value;

use super::wire::{self, FirewallCreateBody, required};
use super::{Auth, Body, Id, LinodeError, Result, page};
use crate::AppState;

pub(crate) async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let firewalls = state.berth.firewall_list(&principal).await?;
    let mut items = Vec::with_capacity(firewalls.len());
    for firewall in &firewalls {
        let devices = state.berth.firewall_devices(&principal, firewall.id).await?;
        items.push(wire::to_value(wire::firewall(firewall, &devices)));
    }
    Ok(Json(page(items, query.as_deref(), &headers, wire::FIREWALL_FILTER_FIELDS)?))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Body(body): Body<FirewallCreateBody>,
) -> Result<Json<wire::FirewallObject>> {
    let label = wire::firewall_label(&required(body.label, "label")?)?;
    let rules = required(body.rules, "rules")?;
    for policy in ["inbound_policy", "outbound_policy"] {
        match rules.get(policy).and_then(Value::as_str) {
            Some("ACCEPT" | "DROP") => {}
            _ => {
                return Err(LinodeError::bad_request(
                    format!("{policy} must be ACCEPT or DROP"),
                    &format!("rules.{policy}"),
                ));
            }
        }
    }
    for direction in ["inbound", "outbound"] {
        if rules.get(direction).is_some_and(|list| !list.is_array() && !list.is_null()) {
            return Err(LinodeError::bad_request(
                format!("{direction} must be a list of rules"),
                &format!("rules.{direction}"),
            ));
        }
    }
    let status = match body.status.as_deref() {
        None | Some("enabled") => "enabled",
        Some("disabled") => "disabled",
        Some(_) => return Err(LinodeError::bad_request("status must be enabled or disabled", "status")),
    };
    let create =
        FirewallCreate { label, status: status.to_string(), rules: rules.to_string(), tags: wire::tags(body.tags)? };
    let firewall = state.berth.firewall_create(&principal, create).await?;
    Ok(Json(wire::firewall(&firewall, &[])))
}

pub(crate) async fn view(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Id(id): Id,
) -> Result<Json<wire::FirewallObject>> {
    let firewall = state.berth.firewall_get(&principal, FirewallId(id)).await?;
    let devices = state.berth.firewall_devices(&principal, firewall.id).await?;
    Ok(Json(wire::firewall(&firewall, &devices)))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Id(id): Id,
) -> Result<Json<wire::Empty>> {
    state.berth.firewall_delete(&principal, FirewallId(id)).await?;
    Ok(Json(wire::Empty {}))
}

pub(crate) async fn devices(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Id(id): Id,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let firewall = state.berth.firewall_get(&principal, FirewallId(id)).await?;
    let devices = state.berth.firewall_devices(&principal, firewall.id).await?;
    let items = wire::devices(&devices).into_iter().map(wire::to_value).collect();
    Ok(Json(page(items, query.as_deref(), &headers, &["id", "label", "type"])?))
}
