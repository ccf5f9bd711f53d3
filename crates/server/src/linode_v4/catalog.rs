//! Regions, types, images and availability: what clients read before they create anything.

use crate::catalog::{INSTANCE_TYPES, PUBLIC_IMAGES, image, instance_type};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use berth_core::RegionId;
use serde_json::Value;

use super::{LinodeError, Result, page, wire};
use crate::AppState;

pub(crate) async fn regions(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let regions = state.berth.regions().await?;
    let items = regions.iter().map(|r| wire::to_value(wire::region(r))).collect();
    Ok(Json(page(items, query.as_deref(), &headers, wire::REGION_FILTER_FIELDS)?))
}

pub(crate) async fn region_view(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>> {
    let id = RegionId::parse(&id).map_err(|_| LinodeError::not_found())?;
    let region = state.berth.region(&id).await?;
    Ok(Json(wire::to_value(wire::region(&region))))
}

pub(crate) async fn types(RawQuery(query): RawQuery, headers: HeaderMap) -> Result<Json<Value>> {
    let items = INSTANCE_TYPES.iter().map(|t| wire::to_value(wire::linode_type(t))).collect();
    Ok(Json(page(items, query.as_deref(), &headers, wire::TYPE_FILTER_FIELDS)?))
}

pub(crate) async fn type_view(Path(id): Path<String>) -> Result<Json<wire::LinodeType>> {
    instance_type(&id).map(|t| Json(wire::linode_type(t))).ok_or_else(LinodeError::not_found)
}

pub(crate) async fn images(RawQuery(query): RawQuery, headers: HeaderMap) -> Result<Json<Value>> {
    let items = PUBLIC_IMAGES.iter().map(|i| wire::to_value(wire::image(i))).collect();
    Ok(Json(page(items, query.as_deref(), &headers, wire::IMAGE_FILTER_FIELDS)?))
}

pub(crate) async fn image_view(Path(id): Path<String>) -> Result<Json<wire::ImageObject>> {
    image(&id).map(|i| Json(wire::image(i))).ok_or_else(LinodeError::not_found)
}

/// What each region offers this account: everything, as berth sells no product that a region
/// lacks.
pub(crate) async fn availability(
    State(state): State<AppState>,
    _auth: super::Auth,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let regions = state.berth.regions().await?;
    let items = regions.iter().map(|r| wire::to_value(wire::availability(r))).collect();
    Ok(Json(page(items, query.as_deref(), &headers, wire::AVAILABILITY_FILTER_FIELDS)?))
}
