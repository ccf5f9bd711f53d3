//! `/profile` and `/account`: who the token belongs to.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use berth_core::{EntityKind, GLOBAL_GRANTS};

use super::{Auth, Result, wire};
use crate::AppState;

pub(crate) async fn profile(Auth(principal): Auth) -> Json<Value> {
    Json(wire::profile(&principal))
}

/// A restricted user's grants: every global grant, and every resource of the account with the
/// permission held on it (`null` for none). An unrestricted user has every grant, which the
/// API says with 204 and no body.
pub(crate) async fn grants(State(state): State<AppState>, Auth(principal): Auth) -> Result<Response> {
    if !principal.restricted {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let mut global = serde_json::Map::new();
    for name in GLOBAL_GRANTS {
        let held = principal.grants.global.contains(*name);
        let value = match *name {
            // Linode gives account access as a level, not a flag.
            "account_access" => {
                if held {
                    json!("read_only")
                } else {
                    Value::Null
                }
            }
            _ => json!(held),
        };
        global.insert((*name).to_string(), value);
    }
    let mut body = json!({"global": global});
    for kind in EntityKind::ALL {
        body[kind.as_str()] = json!([]);
    }
    for kind in ["database", "domain", "image", "longview", "nodebalancer", "stackscript", "volume", "vpc"] {
        body[kind] = json!([]);
    }
    for entity in state.berth.grants_of(&principal).await? {
        if let Some(list) = body[entity.kind.as_str()].as_array_mut() {
            list.push(json!({
                "id": entity.id,
                "label": entity.label,
                "permissions": entity.permission.map(|p| p.as_str()),
            }));
        }
    }
    Ok(Json(body).into_response())
}

pub(crate) async fn account(Auth(principal): Auth) -> Json<Value> {
    Json(json!({
        "euuid": format!("00000000-0000-0000-0000-{:012x}", principal.account.0),
        "company": "",
        "email": principal.email,
        "first_name": principal.username,
        "last_name": "",
        "balance": 0,
        "balance_uninvoiced": 0,
        "active_since": "2024-01-01T00:00:00",
        "capabilities": ["Linodes", "Cloud Firewall", "Placement Group"],
        "country": "US",
        "address_1": "",
        "address_2": "",
        "city": "",
        "state": "",
        "zip": "",
        "phone": "",
        "tax_id": "",
        "credit_card": {"last_four": null, "expiry": null},
    }))
}
