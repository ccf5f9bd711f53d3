//! `/profile` and `/account`: who the token belongs to.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Auth, Result, wire};

pub(crate) async fn profile(Auth(principal): Auth) -> Json<Value> {
    Json(wire::profile(&principal))
}

/// An unrestricted user has every grant, which the API says with 204 and no body.
pub(crate) async fn grants(Auth(principal): Auth) -> Result<Response> {
    if principal.restricted {
        return Ok(Json(json!({"global": {}, "linode": [], "placement_group": []})).into_response());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
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
