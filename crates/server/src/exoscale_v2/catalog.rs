//! Zones, instance types and templates: what clients read before they create anything.

use crate::catalog::{EXOSCALE_TYPES, TEMPLATES, exoscale_type, template};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;

use super::{ExoError, ExoId, Result, Signed, Zone, wire};
use crate::AppState;

/// Every zone, each with its own endpoint on this berth. It needs no signature: the clients
/// call it before they have chosen where to sign for.
pub(crate) async fn zones(State(state): State<AppState>, _zone: Zone, headers: HeaderMap) -> Result<Json<wire::Zones>> {
    let base = match &state.settings.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            format!("http://{host}")
        }
    };
    let regions = state.berth.regions().await?;
    Ok(Json(wire::Zones { zones: regions.iter().map(|r| wire::zone(r, &base)).collect() }))
}

async fn zone_names(state: &AppState) -> Result<Vec<String>> {
    Ok(state.berth.regions().await?.iter().map(|r| r.id.to_string()).collect())
}

pub(crate) async fn types(State(state): State<AppState>, _request: Signed) -> Result<Json<wire::InstanceTypes>> {
    let zones = zone_names(&state).await?;
    Ok(Json(wire::InstanceTypes {
        instance_types: EXOSCALE_TYPES.iter().map(|t| wire::instance_type(t, &zones)).collect(),
    }))
}

pub(crate) async fn type_view(
    State(state): State<AppState>,
    id: ExoId,
    _request: Signed,
) -> Result<Json<wire::InstanceType>> {
    let id = id.uuid("instance type")?;
    let found = exoscale_type(&id).ok_or_else(|| ExoError::not_found(format!("instance type {id} not found")))?;
    Ok(Json(wire::instance_type(found, &zone_names(&state).await?)))
}

/// Templates, filtered by `visibility` (`public`, the default, or `private`: berth has no
/// private templates) and `family`.
pub(crate) async fn templates(State(state): State<AppState>, request: Signed) -> Result<Json<wire::Templates>> {
    let visibility = request.query_value("visibility");
    let family = request.query_value("family");
    let public = match visibility.as_deref() {
        None | Some("public") => true,
        Some("private") => false,
        Some(_) => return Err(ExoError::bad_request("Invalid value in visibility - should be public or private")),
    };
    let zones = zone_names(&state).await?;
    let templates = TEMPLATES
        .iter()
        .filter(|_| public)
        .filter(|t| family.as_deref().is_none_or(|f| t.family == f))
        .map(|t| wire::template(t, &zones))
        .collect();
    Ok(Json(wire::Templates { templates }))
}

pub(crate) async fn template_view(
    State(state): State<AppState>,
    id: ExoId,
    _request: Signed,
) -> Result<Json<wire::TemplateBody>> {
    let id = id.uuid("template")?;
    let found = template(&id).ok_or_else(|| ExoError::not_found(format!("template {id} not found")))?;
    Ok(Json(wire::template(found, &zone_names(&state).await?)))
}
