//! `/profile` and `/account`: who the token belongs to.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_core::EntityKind;
use serde_json::Value;

use super::grants::{GLOBAL_GRANTS, names};
use super::wire::{self, EntityGrant, GrantsView};
use super::{Auth, Result};
use crate::AppState;

pub(crate) async fn profile(Auth(principal): Auth) -> Json<wire::Profile> {
    Json(wire::profile(&principal))
}

/// A restricted user's grants: every global grant, and every resource of the account with the
/// permission held on it (`null` for none). An unrestricted user has every grant, which the
/// API says with 204 and no body.
pub(crate) async fn grants(State(state): State<AppState>, Auth(principal): Auth) -> Result<Response> {
    if !principal.restricted {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let held = names(&principal.grants);
    let global = GLOBAL_GRANTS
        .iter()
        .map(|name| {
            let held = held.contains(name);
            let value = match *name {
                // Linode gives account access as a level, not a flag.
                "account_access" => {
                    if held {
                        Value::from("read_only")
                    } else {
                        Value::Null
                    }
                }
                _ => Value::from(held),
            };
            (*name, value)
        })
        .collect();
    let mut view = GrantsView {
        global,
        linode: Vec::new(),
        placement_group: Vec::new(),
        firewall: Vec::new(),
        database: [],
        domain: [],
        image: [],
        longview: [],
        nodebalancer: [],
        stackscript: [],
        volume: [],
        vpc: [],
    };
    for entity in state.berth.grants_of(&principal).await? {
        let grant =
            EntityGrant { id: entity.id, label: entity.label, permissions: entity.permission.map(|p| p.as_str()) };
        match entity.kind {
            EntityKind::Instance => view.linode.push(grant),
            EntityKind::Group => view.placement_group.push(grant),
            EntityKind::Firewall => view.firewall.push(grant),
        }
    }
    Ok(Json(view).into_response())
}

pub(crate) async fn account(Auth(principal): Auth) -> Json<wire::Account> {
    Json(wire::account(&principal))
}
