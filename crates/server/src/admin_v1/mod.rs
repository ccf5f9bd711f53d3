//! The native operator API (`/v1`): what berth knows about the fleet, for the people who run
//! it. Its OpenAPI document is generated from this module and checked in at
//! `openapi/v1.json`; a test fails when the two drift apart.

mod fleet;
mod instances;
mod migrations;
mod tenancy;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use berth_core::Error;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::AppState;
use crate::http::{self, Refusal};
use crate::routes::{Access, route_table};

route_table! { ROUTES, routes;
    GET "/openapi.json" => openapi_json, Access::Public;
    GET "/instances" => fleet::instance_list, Access::Operator;
    GET "/instances/{id}" => instances::view, Access::Operator;
    GET "/regions" => fleet::region_list, Access::Operator;
    POST "/regions" => fleet::region_create, Access::Operator;
    GET "/regions/{region}" => fleet::region_view, Access::Operator;
    GET "/hosts" => fleet::host_list, Access::Operator;
    POST "/hosts" => fleet::host_register, Access::Operator;
    GET "/hosts/{host}" => fleet::host_view, Access::Operator;
    PATCH "/hosts/{host}" => fleet::host_update, Access::Operator;
    POST "/hosts/{host}/drain" => fleet::host_drain, Access::Operator;
    POST "/hosts/{host}/maintenance" => fleet::host_maintenance, Access::Operator;
    POST "/hosts/{host}/activate" => fleet::host_activate, Access::Operator;
    POST "/hosts/{host}/fail" => fleet::host_fail, Access::Operator;
    GET "/groups" => fleet::group_list, Access::Operator;
    GET "/groups/{id}" => fleet::group_view, Access::Operator;
    GET "/groups/{id}/headroom" => fleet::group_headroom, Access::Operator;
    POST "/explain/placement" => fleet::explain_placement, Access::Operator;
    POST "/explain/assignment" => fleet::explain_assignment, Access::Operator;
    GET "/migrations" => migrations::migration_list, Access::Operator;
    GET "/migrations/plan" => migrations::migration_plan, Access::Operator;
    GET "/migrations/{id}" => migrations::migration_view, Access::Operator;
    POST "/migration-jobs/claim" => migrations::job_claim, Access::Operator;
    POST "/migration-jobs/{id}/heartbeat" => migrations::job_heartbeat, Access::Operator;
    POST "/migration-jobs/{id}/complete" => migrations::job_complete, Access::Operator;
    POST "/migration-jobs/{id}/fail" => migrations::job_fail, Access::Operator;
    GET "/accounts" => tenancy::account_list, Access::Operator;
    POST "/accounts" => tenancy::account_create, Access::Operator;
    GET "/accounts/{account}" => tenancy::account_view, Access::Operator;
    GET "/accounts/{account}/users" => tenancy::user_list, Access::Operator;
    POST "/accounts/{account}/users" => tenancy::user_create, Access::Operator;
    GET "/accounts/{account}/users/{user}" => tenancy::user_view, Access::Operator;
    GET "/accounts/{account}/users/{user}/tokens" => tenancy::token_list, Access::Operator;
    POST "/accounts/{account}/users/{user}/tokens" => tenancy::token_create, Access::Operator;
    DELETE "/accounts/{account}/tokens/{token}" => tenancy::token_revoke, Access::Operator;
    GET "/accounts/{account}/api-keys" => tenancy::api_key_list, Access::Operator;
    POST "/accounts/{account}/users/{user}/api-keys" => tenancy::api_key_create, Access::Operator;
    DELETE "/accounts/{account}/api-keys/{key}" => tenancy::api_key_revoke, Access::Operator;
    GET "/accounts/{account}/users/{user}/grants" => tenancy::grants_view, Access::Operator;
    PUT "/accounts/{account}/users/{user}/grants" => tenancy::grants_set, Access::Operator;
}

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    http::with_fallbacks::<V1Error>(routes().route_layer(axum::middleware::from_fn_with_state(state.clone(), gate)))
}

/// Checks the operator's token and counts the request against its rate limit.
async fn gate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    match http::matched_route(ROUTES, &request) {
        Some(spec) if spec.access == Access::Operator => {}
        _ => return next.run(request).await,
    }
    let Some(token) = http::bearer_token(request.headers()) else {
        return V1Error::from(Error::Unauthenticated).into_response();
    };
    if let Err(error) = state.berth.authenticate_operator(&token).await {
        return V1Error::from(error).into_response();
    }
    let mut headers = HeaderMap::new();
    if let Err(refusal) = http::rate_limit(&state, "operator", &mut headers) {
        let mut response = V1Error::from(refusal).into_response();
        response.headers_mut().extend(headers);
        return response;
    }
    request.extensions_mut().insert(Operator);
    let mut response = next.run(request).await;
    response.headers_mut().extend(headers);
    response
}

/// The OpenAPI document of `/v1`.
#[derive(OpenApi)]
#[openapi(
    info(title = "berth operator API", version = "1", description = "The native API of berth, for operators."),
    paths(
        instances::view,
        fleet::instance_list,
        fleet::region_list,
        fleet::region_create,
        fleet::region_view,
        fleet::host_list,
        fleet::host_register,
        fleet::host_view,
        fleet::host_update,
        fleet::host_drain,
        fleet::host_maintenance,
        fleet::host_activate,
        fleet::host_fail,
        fleet::group_list,
        fleet::group_view,
        fleet::group_headroom,
        fleet::explain_placement,
        fleet::explain_assignment,
        migrations::migration_list,
        migrations::migration_plan,
        migrations::migration_view,
        migrations::job_claim,
        migrations::job_heartbeat,
        migrations::job_complete,
        migrations::job_fail,
        tenancy::account_list,
        tenancy::account_create,
        tenancy::account_view,
        tenancy::user_list,
        tenancy::user_create,
        tenancy::user_view,
        tenancy::token_list,
        tenancy::token_create,
        tenancy::token_revoke,
        tenancy::api_key_list,
        tenancy::api_key_create,
        tenancy::api_key_revoke,
        tenancy::grants_view,
        tenancy::grants_set,
    ),
    components(schemas(
        fleet::Capacity,
        fleet::RegionBody,
        fleet::RegionCreateBody,
        fleet::HostRef,
        fleet::HostBody,
        fleet::HostInstance,
        fleet::StuckInstance,
        fleet::HostDetailBody,
        fleet::HostCreateBody,
        fleet::HostUpdateBody,
        fleet::MemberBody,
        fleet::GroupBody,
        fleet::ExplainPlacementBody,
        fleet::Candidate,
        fleet::ExclusionGroup,
        fleet::Breach,
        fleet::ExplainBody,
        fleet::ExplainAssignmentBody,
        fleet::AssignmentBody,
        fleet::HeadroomBody,
        migrations::MigrationBody,
        migrations::AgentBody,
        migrations::JobFailBody,
        migrations::JobBody,
        instances::InstanceDetail,
        instances::HostSummary,
        instances::GroupSummary,
        tenancy::AccountBody,
        tenancy::AccountCreate,
        tenancy::UserBody,
        tenancy::UserCreate,
        tenancy::TokenBody,
        tenancy::TokenCreate,
        tenancy::ApiKeyBody,
        tenancy::ApiKeyCreate,
        tenancy::GrantsBody,
        tenancy::EntityGrant,
        ErrorBody,
        ErrorDetail,
    )),
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
    /// A stable code: `invalid_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `limit_exceeded`, `placement_refused`, `method_not_allowed`, `payload_too_large`,
    /// `rate_limited`, `unavailable` (the database cannot be reached; 503 with `Retry-After`),
    /// `contended` (the change kept colliding with concurrent ones and was not applied; 503 with
    /// `Retry-After`), `internal`.
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
    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> V1Error {
        V1Error::new(StatusCode::BAD_REQUEST, "invalid_request", message, Some(field.to_string()))
    }

    fn new(status: StatusCode, code: &'static str, message: impl Into<String>, field: Option<String>) -> V1Error {
        V1Error { status, detail: ErrorDetail { code, message: message.into(), field } }
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        crate::with_retry_after(self.status, axum::Json(ErrorBody { error: self.detail }))
    }
}

/// `/v1` speaks the domain's own words: a fact's message is its `Display`, and a field is
/// named by its domain name.
impl From<Error> for V1Error {
    fn from(error: Error) -> V1Error {
        let field = error.field().map(|field| field.name().to_string());
        let message = error.to_string();
        match &error {
            Error::Invalid { .. } => V1Error::new(StatusCode::BAD_REQUEST, "invalid_request", message, field),
            Error::NotFound(_) => V1Error::new(StatusCode::NOT_FOUND, "not_found", message, None),
            Error::Conflict { .. } => V1Error::new(StatusCode::CONFLICT, "conflict", message, field),
            Error::Forbidden(_) => V1Error::new(StatusCode::FORBIDDEN, "forbidden", message, None),
            Error::Limit { .. } => V1Error::new(StatusCode::CONFLICT, "limit_exceeded", message, field),
            Error::Refused { .. } => {
                V1Error::new(StatusCode::UNPROCESSABLE_ENTITY, "placement_refused", message, field)
            }
            Error::Unauthenticated => {
                V1Error::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid operator token is required", None)
            }
            Error::Unavailable => {
                V1Error::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", crate::unavailable_reason(&error), None)
            }
            Error::Contended => {
                V1Error::new(StatusCode::SERVICE_UNAVAILABLE, "contended", crate::unavailable_reason(&error), None)
            }
            Error::Store(_) | Error::Internal(_) => {
                tracing::error!(error = ?error, "request failed");
                V1Error::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an unexpected error occurred", None)
            }
        }
    }
}

impl From<Refusal> for V1Error {
    fn from(refusal: Refusal) -> V1Error {
        let status = refusal.status();
        let (code, message, field) = match refusal {
            Refusal::UnknownRoute => ("not_found", "no such route".to_string(), None),
            Refusal::WrongMethod => ("method_not_allowed", "method not allowed on this route".to_string(), None),
            Refusal::RateLimited => ("rate_limited", "too many requests".to_string(), None),
            Refusal::BodyTooLarge => {
                ("payload_too_large", format!("the body is larger than {} bytes", crate::MAX_BODY_BYTES), None)
            }
            Refusal::BodyUnreadable => ("invalid_request", "the body could not be read".to_string(), None),
            Refusal::NotJson => ("invalid_request", "the body is not valid JSON".to_string(), None),
            Refusal::NotAnObject { message } => ("invalid_request", message, None),
            Refusal::BadValue { path, message } => ("invalid_request", format!("{path}: {message}"), Some(path)),
        };
        V1Error::new(status, code, message, field)
    }
}

pub(crate) type Result<T, E = V1Error> = std::result::Result<T, E>;

/// The operator, authenticated by the gate.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Operator;

impl<S: Send + Sync> FromRequestParts<S> for Operator {
    type Rejection = V1Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Operator> {
        parts.extensions.get::<Operator>().copied().ok_or_else(|| Error::Unauthenticated.into())
    }
}

/// Path parameters; one that does not parse names nothing that exists.
pub(crate) struct V1Path<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for V1Path<T> {
    type Rejection = V1Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<V1Path<T>> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| V1Path(value))
            .map_err(|_| V1Error::new(StatusCode::NOT_FOUND, "not_found", "no such resource", None))
    }
}

/// Query parameters; one of the wrong type is a 400 naming it.
pub(crate) struct V1Query<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for V1Query<T> {
    type Rejection = V1Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<V1Query<T>> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| V1Query(value))
            .map_err(|rejection| {
                let message = rejection.body_text();
                let message = message.strip_prefix("Failed to deserialize query string: ").unwrap_or(&message);
                V1Error::new(StatusCode::BAD_REQUEST, "invalid_request", format!("query: {message}"), None)
            })
    }
}

/// A JSON request body, parsed into a wire type; errors name the field at fault.
pub(crate) struct V1Body<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for V1Body<T> {
    type Rejection = V1Error;

    async fn from_request(request: Request, state: &S) -> Result<V1Body<T>> {
        let bytes = http::body_bytes(request, state).await?;
        Ok(V1Body(http::parse_json(&bytes)?))
    }
}
