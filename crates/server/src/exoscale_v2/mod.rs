//! The Exoscale API v2 dialect (`/v2` for the default zone, `/{zone}/v2` for every zone):
//! anti-affinity groups, asynchronous operations, instances, and the catalogs clients read,
//! behind EXO2-HMAC-SHA256 request signing.

mod catalog;
mod error;
mod groups;
mod instances;
mod operations;
mod signature;
mod wire;

/// What every Exoscale API key starts with, as the real ones do.
pub const API_KEY_PREFIX: &str = "EXO";

use std::collections::HashMap;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Path, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use berth_core::{Error, Principal, Region, RegionId};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::http::{self, Refusal};
use crate::routes::{Access, route_table};
pub(crate) use error::ExoError;
use signature::Pragmas;

route_table! { ROUTES, routes;
    GET "/zone" => catalog::zones, Access::Public;
    GET "/anti-affinity-group" => groups::list, Access::Signed;
    POST "/anti-affinity-group" => groups::create, Access::Signed;
    GET "/anti-affinity-group/{id}" => groups::view, Access::Signed;
    DELETE "/anti-affinity-group/{id}" => groups::delete, Access::Signed;
    GET "/operation/{id}" => operations::view, Access::Signed;
    GET "/instance" => instances::list, Access::Signed;
    POST "/instance" => instances::create, Access::Signed;
    GET "/instance/{id}" => instances::view, Access::Signed;
    PUT "/instance/{id}" => instances::update, Access::Signed;
    DELETE "/instance/{id}" => instances::delete, Access::Signed;
    GET "/instance-type" => catalog::types, Access::Signed;
    GET "/instance-type/{id}" => catalog::type_view, Access::Signed;
    GET "/template" => catalog::templates, Access::Signed;
    GET "/template/{id}" => catalog::template_view, Access::Signed;
}

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    http::with_fallbacks::<ExoError>(routes().route_layer(axum::middleware::from_fn_with_state(state.clone(), gate)))
}

/// Verifies the request's signature over the bytes received and counts the request against the
/// API key's rate limit, then adds the `X-RateLimit-*` headers to the response.
async fn gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match http::matched_route(ROUTES, &request) {
        Some(spec) if spec.access == Access::Signed => {}
        _ => return next.run(request).await,
    }
    let (mut parts, body) = request.into_parts();
    let verified = verify(&state, &mut parts, body).await;
    let (authenticated, body) = match verified {
        Ok(verified) => verified,
        Err(error) => return error.into_response(),
    };
    let mut headers = HeaderMap::new();
    if let Err(refusal) = http::rate_limit(&state, &authenticated.principal.credential, &mut headers) {
        let mut response = ExoError::from(refusal).into_response();
        response.headers_mut().extend(headers);
        return response;
    }
    parts.extensions.insert(authenticated);
    let mut response = next.run(Request::from_parts(parts, Body::from(body))).await;
    response.headers_mut().extend(headers);
    response
}

/// The signer of a request and the zone it addresses, once the gate has verified it.
#[derive(Clone, Debug)]
pub(crate) struct Authenticated {
    principal: Principal,
    zone: Region,
}

async fn verify(state: &AppState, parts: &mut Parts, body: Body) -> Result<(Authenticated, Bytes)> {
    let Zone(zone) = Zone::from_request_parts(parts, state).await?;
    let uri = parts.extensions.get::<OriginalUri>().map_or_else(|| parts.uri.clone(), |uri| uri.0.clone());
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ExoError::forbidden("Missing Authorization header"))?
        .to_str()
        .map_err(|_| ExoError::forbidden("Malformed Authorization header"))?
        .to_string();
    let pragmas = Pragmas::parse(&header).map_err(|malformed| ExoError::forbidden(malformed.0))?;
    let body = axum::body::to_bytes(body, crate::MAX_BODY_BYTES).await.map_err(|_| Refusal::BodyTooLarge)?;
    if pragmas.expires_at() < crate::now_seconds() {
        return Err(ExoError::forbidden("Request expired"));
    }
    let (principal, secret) =
        state.berth.authenticate_api_key(&pragmas.credential).await.map_err(|error| match error {
            Error::Unauthenticated => ExoError::forbidden("Invalid API key"),
            other => ExoError::from(other),
        })?;
    let message = signature::message(parts.method.as_str(), uri.path(), &body, uri.query(), &pragmas);
    if !signature::verify(&secret, &message, &pragmas.signature) {
        return Err(ExoError::forbidden("Invalid request signature"));
    }
    Ok((Authenticated { principal, zone }, body))
}

pub(crate) type Result<T, E = ExoError> = std::result::Result<T, E>;

/// The zone a request addresses: the first segment of `/{zone}/v2/...`, or the default zone
/// for `/v2/...`. An unknown zone is a 404.
pub(crate) struct Zone(pub(crate) Region);

impl FromRequestParts<AppState> for Zone {
    type Rejection = ExoError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Zone> {
        let path = parts.extensions.get::<OriginalUri>().map_or(parts.uri.path(), |uri| uri.0.path());
        let name = match path.trim_start_matches('/').split('/').next() {
            Some("v2") | None => state.settings.exoscale_zone.as_str(),
            Some(zone) => zone,
        };
        let unknown = || ExoError::not_found(format!("zone {name} not found"));
        let id = RegionId::parse(name).map_err(|_| unknown())?;
        let region = state.berth.region(&id).await.map_err(|error| match error {
            Error::NotFound(_) => unknown(),
            other => ExoError::from(other),
        })?;
        Ok(Zone(region))
    }
}

/// A resource id from the path. Its check waits until the request's signature is verified, so
/// that an unsigned request is refused (403) whatever its path says.
pub(crate) struct ExoId(String);

impl<S: Send + Sync> FromRequestParts<S> for ExoId {
    type Rejection = ExoError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<ExoId> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ExoError::not_found("Not found"))?;
        Ok(ExoId(params.get("id").cloned().unwrap_or_default()))
    }
}

impl ExoId {
    /// The id as a canonical UUID; anything that is not a UUID names no resource.
    pub(crate) fn uuid(&self, what: &str) -> Result<String> {
        canonical_uuid(&self.0).ok_or_else(|| ExoError::not_found(format!("{what} {} not found", self.0)))
    }
}

/// A UUID in lower-case hyphenated form, as berth stores them; `None` for anything else.
pub(crate) fn canonical_uuid(text: &str) -> Option<String> {
    uuid::Uuid::parse_str(text).ok().map(|id| id.hyphenated().to_string())
}

/// A signed request: who signed it, the zone it addresses, and its raw body.
pub(crate) struct Signed {
    pub(crate) principal: Principal,
    pub(crate) zone: Region,
    pub(crate) body: Bytes,
    pub(crate) query: Option<String>,
}

impl FromRequest<AppState> for Signed {
    type Rejection = ExoError;

    async fn from_request(request: Request, state: &AppState) -> Result<Signed> {
        let authenticated = request
            .extensions()
            .get::<Authenticated>()
            .cloned()
            .ok_or_else(|| ExoError::forbidden("Missing Authorization header"))?;
        let query = request.uri().query().map(str::to_string);
        let original_query =
            request.extensions().get::<OriginalUri>().and_then(|uri| uri.0.query().map(str::to_string));
        let body = http::body_bytes(request, state).await?;
        Ok(Signed {
            principal: authenticated.principal,
            zone: authenticated.zone,
            body,
            query: original_query.or(query),
        })
    }
}

impl Signed {
    /// The body parsed into a wire type; errors name the field at fault.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T> {
        Ok(http::parse_json(&self.body)?)
    }

    /// The decoded value of one query parameter.
    pub(crate) fn query_value(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_deref().unwrap_or_default().as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}
