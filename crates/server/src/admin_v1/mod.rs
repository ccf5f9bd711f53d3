//! The native operator API (`/v1`): what berth knows about the fleet, for the people who run
//! it. Its OpenAPI document is generated from this module and checked in at
//! `openapi/v1.json`; a test fails when the two drift apart.

mod instances;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use berth_core::Error;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/instances/{id}", get(instances::view))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// The OpenAPI document of `/v1`.
#[derive(OpenApi)]
#[openapi(
    info(title = "berth operator API", version = "1", description = "The native API of berth, for operators."),
    paths(instances::view),
    components(schemas(instances::InstanceDetail, instances::HostSummary, instances::GroupSummary, ErrorBody, ErrorDetail)),
    modifiers(&OperatorAuth),
    security(("operator" = []))
)]
pub(crate) struct ApiDoc;

struct OperatorAuth;

impl Modify for OperatorAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The operator token, printed and saved when the database was created."))
                    .build(),
            ),
        );
    }
}

/// The document as berth serves it and as `openapi/v1.json` holds it.
pub fn openapi_document() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default() + "\n"
}

async fn openapi_json() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], openapi_document()).into_response()
}

/// Every error of `/v1`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// A stable code: `invalid_request`, `unauthorized`, `not_found`, `conflict`,
    /// `limit_exceeded`, `placement_refused`, `method_not_allowed`, `payload_too_large`,
    /// `internal`.
    code: &'static str,
    /// What went wrong, for people.
    message: String,
    /// The input at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

/// An error of `/v1`, with its status.
#[derive(Debug)]
pub(crate) struct V1Error {
    status: StatusCode,
    detail: ErrorDetail,
}

impl V1Error {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>, field: Option<String>) -> V1Error {
        V1Error { status, detail: ErrorDetail { code, message: message.into(), field } }
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        (self.status, axum::Json(ErrorBody { error: self.detail })).into_response()
    }
}

impl From<Error> for V1Error {
    fn from(error: Error) -> V1Error {
        match error {
            Error::Invalid { field, reason } => V1Error::new(StatusCode::BAD_REQUEST, "invalid_request", reason, field),
            Error::NotFound { what } => {
                V1Error::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"), None)
            }
            Error::Conflict { field, reason } => V1Error::new(StatusCode::CONFLICT, "conflict", reason, field),
            Error::Limit { field, reason } => V1Error::new(StatusCode::CONFLICT, "limit_exceeded", reason, field),
            Error::Placement { field, reason } => {
                V1Error::new(StatusCode::UNPROCESSABLE_ENTITY, "placement_refused", reason, field)
            }
            Error::Unauthenticated => {
                V1Error::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid operator token is required", None)
            }
            Error::Store(_) | Error::Internal(_) => {
                tracing::error!(error = ?error, "request failed");
                V1Error::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an unexpected error occurred", None)
            }
        }
    }
}

pub(crate) type Result<T, E = V1Error> = std::result::Result<T, E>;

/// The operator, from `Authorization: Bearer <operator token>`.
pub(crate) struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = V1Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Operator> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
            .ok_or(Error::Unauthenticated)?;
        state.berth.authenticate_operator(token.trim()).await?;
        Ok(Operator)
    }
}

async fn not_found() -> V1Error {
    V1Error::new(StatusCode::NOT_FOUND, "not_found", "no such route", None)
}

async fn method_not_allowed() -> V1Error {
    V1Error::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route", None)
}
