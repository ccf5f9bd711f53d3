//! The Linode API v4 dialect (`/v4` and `/v4beta`): placement groups, and the instances,
//! regions, types, images, firewalls, account and profile that clients touch around them.

mod catalog;
mod filter;
mod firewalls;
mod groups;
mod instances;
mod pagination;
mod profile;
mod wire;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth_core::{Error, Principal};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::AppState;
use filter::Filter;
use pagination::{PageRequest, paginate};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/placement/groups", get(groups::list).post(groups::create))
        .route("/placement/groups/{id}", get(groups::view).put(groups::update).delete(groups::delete))
        .route("/placement/groups/{id}/assign", post(groups::assign))
        .route("/placement/groups/{id}/unassign", post(groups::unassign))
        .route("/linode/instances", get(instances::list).post(instances::create))
        .route("/linode/instances/{id}", get(instances::view).put(instances::update).delete(instances::delete))
        .route("/linode/instances/{id}/migrate", post(instances::migrate))
        .route("/linode/types", get(catalog::types))
        .route("/linode/types/{id}", get(catalog::type_view))
        .route("/regions", get(catalog::regions))
        .route("/regions/{id}", get(catalog::region_view))
        .route("/images", get(catalog::images))
        .route("/images/{*id}", get(catalog::image_view))
        .route("/account", get(profile::account))
        .route("/account/availability", get(catalog::availability))
        .route("/profile", get(profile::profile))
        .route("/profile/grants", get(profile::grants))
        .route("/networking/firewalls", get(firewalls::list).post(firewalls::create))
        .route("/networking/firewalls/{id}", get(firewalls::view).delete(firewalls::delete))
        .route("/networking/firewalls/{id}/devices", get(firewalls::devices))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// An error in the Linode format: `{"errors": [{"reason": ..., "field": ...}]}`.
#[derive(Debug)]
pub(crate) struct LinodeError {
    status: StatusCode,
    reason: String,
    field: Option<String>,
}

impl LinodeError {
    pub(crate) fn new(status: StatusCode, reason: impl Into<String>, field: Option<&str>) -> LinodeError {
        LinodeError { status, reason: reason.into(), field: field.map(str::to_string) }
    }

    pub(crate) fn bad_request(reason: impl Into<String>, field: &str) -> LinodeError {
        LinodeError::new(StatusCode::BAD_REQUEST, reason, Some(field))
    }

    pub(crate) fn not_found() -> LinodeError {
        LinodeError::new(StatusCode::NOT_FOUND, "Not found", None)
    }
}

impl IntoResponse for LinodeError {
    fn into_response(self) -> Response {
        let mut error = json!({"reason": self.reason});
        if let Some(field) = self.field {
            error["field"] = Value::String(field);
        }
        (self.status, axum::Json(json!({"errors": [error]}))).into_response()
    }
}

impl From<Error> for LinodeError {
    fn from(error: Error) -> LinodeError {
        match error {
            Error::Invalid { field, reason }
            | Error::Conflict { field, reason }
            | Error::Limit { field, reason }
            | Error::Placement { field, reason } => LinodeError { status: StatusCode::BAD_REQUEST, reason, field },
            Error::NotFound { .. } => LinodeError::not_found(),
            Error::Unauthenticated => LinodeError::new(StatusCode::UNAUTHORIZED, "Invalid Token", None),
            Error::Store(_) | Error::Internal(_) => {
                tracing::error!(error = ?error, "request failed");
                LinodeError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "An unexpected error occurred; please try again",
                    None,
                )
            }
        }
    }
}

pub(crate) type Result<T, E = LinodeError> = std::result::Result<T, E>;

/// The caller, from `Authorization: Bearer <token>`.
pub(crate) struct Auth(pub(crate) Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = LinodeError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Auth> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")).then(|| token.trim())
            })
            .ok_or_else(|| LinodeError::new(StatusCode::UNAUTHORIZED, "Invalid Token", None))?;
        Ok(Auth(state.berth.authenticate_token(token).await?))
    }
}

/// A numeric id from the path. Anything else names no resource: 404, as the real API says.
pub(crate) struct Id(pub(crate) i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = LinodeError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Id> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state).await.map_err(|_| LinodeError::not_found())?;
        raw.parse::<i64>().ok().filter(|id| *id > 0).map(Id).ok_or_else(LinodeError::not_found)
    }
}

/// A JSON request body, parsed into a wire type; errors name the field at fault.
pub(crate) struct Body<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = LinodeError;

    async fn from_request(request: Request, state: &S) -> Result<Body<T>> {
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| match rejection {
            BytesRejection::FailedToBufferBody(_) => LinodeError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body is larger than {} bytes", crate::MAX_BODY_BYTES),
                None,
            ),
            _ => LinodeError::new(StatusCode::BAD_REQUEST, "Request body could not be read", None),
        })?;
        parse_body(&bytes).map(Body)
    }
}

/// Parses a body, naming the field when a value has the wrong type. An empty body is an empty
/// object, as some clients send nothing when every field is optional.
pub(crate) fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return LinodeError::new(StatusCode::BAD_REQUEST, "Request body is not valid JSON", None);
        }
        let message = crate::strip_position(&inner.to_string());
        if path == "." || path.is_empty() {
            LinodeError::new(StatusCode::BAD_REQUEST, format!("Request body must be a JSON object: {message}"), None)
        } else {
            LinodeError::bad_request(format!("{path}: {message}"), &path)
        }
    })?;
    deserializer
        .end()
        .map_err(|_| LinodeError::new(StatusCode::BAD_REQUEST, "Request body is not valid JSON", None))?;
    Ok(value)
}

/// One page of a list, after the `X-Filter` header has filtered and ordered it.
pub(crate) fn page(items: Vec<Value>, query: Option<&str>, headers: &HeaderMap, fields: &[&str]) -> Result<Value> {
    let filter = match headers.get("x-filter") {
        None => Filter::none(),
        Some(value) => {
            let text =
                value.to_str().map_err(|_| LinodeError::bad_request("X-Filter is not valid JSON", "X-Filter"))?;
            Filter::parse(text, fields)
                .map_err(|error| LinodeError::bad_request(error.reason.clone(), error.field()))?
        }
    };
    let (mut page, mut page_size) = (None, None);
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "page" => page = Some(value.into_owned()),
            "page_size" => page_size = Some(value.into_owned()),
            _ => {}
        }
    }
    let request = PageRequest::parse(page.as_deref(), page_size.as_deref())
        .map_err(|error| LinodeError::bad_request(error.reason, error.field))?;
    let page =
        paginate(filter.apply(items), request).map_err(|error| LinodeError::bad_request(error.reason, error.field))?;
    Ok(page.into_envelope())
}

async fn not_found() -> LinodeError {
    LinodeError::not_found()
}

async fn method_not_allowed() -> LinodeError {
    LinodeError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed", None)
}
