//! The Linode API v4 dialect (`/v4` and `/v4beta`): placement groups, and the instances,
//! regions, types, images, firewalls, account and profile that clients touch around them.

mod catalog;
mod error;
mod events;
mod filter;
mod firewalls;
pub(crate) mod grants;
mod groups;
mod instances;
mod pagination;
mod profile;
mod wire;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use berth_core::{Permission, Principal};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::AppState;
use crate::http;
use crate::routes::{Access, route_table};
pub(crate) use error::LinodeError;
use filter::Filter;
use pagination::{PageRequest, paginate};

const RO: Permission = Permission::ReadOnly;
const RW: Permission = Permission::ReadWrite;

route_table! { ROUTES, routes;
    GET "/placement/groups" => groups::list, Access::Scope("linodes", RO);
    POST "/placement/groups" => groups::create, Access::Scope("linodes", RW);
    GET "/placement/groups/{id}" => groups::view, Access::Scope("linodes", RO);
    PUT "/placement/groups/{id}" => groups::update, Access::Scope("linodes", RW);
    DELETE "/placement/groups/{id}" => groups::delete, Access::Scope("linodes", RW);
    POST "/placement/groups/{id}/assign" => groups::assign, Access::Scope("linodes", RW);
    POST "/placement/groups/{id}/unassign" => groups::unassign, Access::Scope("linodes", RW);
    GET "/linode/instances" => instances::list, Access::Scope("linodes", RO);
    POST "/linode/instances" => instances::create, Access::Scope("linodes", RW);
    GET "/linode/instances/{id}" => instances::view, Access::Scope("linodes", RO);
    PUT "/linode/instances/{id}" => instances::update, Access::Scope("linodes", RW);
    DELETE "/linode/instances/{id}" => instances::delete, Access::Scope("linodes", RW);
    POST "/linode/instances/{id}/migrate" => instances::migrate, Access::Scope("linodes", RW);
    GET "/linode/types" => catalog::types, Access::Public;
    GET "/linode/types/{id}" => catalog::type_view, Access::Public;
    GET "/regions" => catalog::regions, Access::Public;
    GET "/regions/{id}" => catalog::region_view, Access::Public;
    GET "/images" => catalog::images, Access::Public;
    GET "/images/{*id}" => catalog::image_view, Access::Public;
    GET "/account" => profile::account, Access::Scope("account", RO);
    GET "/account/availability" => catalog::availability, Access::Scope("account", RO);
    GET "/account/events" => events::list, Access::Scope("events", RO);
    GET "/account/events/{id}" => events::view, Access::Scope("events", RO);
    GET "/profile" => profile::profile, Access::Token;
    GET "/profile/grants" => profile::grants, Access::Token;
    GET "/networking/firewalls" => firewalls::list, Access::Scope("firewall", RO);
    POST "/networking/firewalls" => firewalls::create, Access::Scope("firewall", RW);
    GET "/networking/firewalls/{id}" => firewalls::view, Access::Scope("firewall", RO);
    DELETE "/networking/firewalls/{id}" => firewalls::delete, Access::Scope("firewall", RW);
    GET "/networking/firewalls/{id}/devices" => firewalls::devices, Access::Scope("firewall", RO);
}

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    http::with_fallbacks::<LinodeError>(routes().route_layer(axum::middleware::from_fn_with_state(state.clone(), gate)))
}

/// Authenticates the bearer token, checks its scopes against the route, and counts the request
/// against the token's rate limit; then adds the `X-OAuth-Scopes`, `X-Accepted-OAuth-Scopes`
/// and `X-RateLimit-*` headers to the response.
async fn gate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(spec) = http::matched_route(ROUTES, &request) else {
        return next.run(request).await;
    };
    let principal = match http::bearer_token(request.headers()) {
        Some(token) => match state.berth.authenticate_token(&token).await {
            Ok(principal) => Some(principal),
            Err(error) => return LinodeError::from(error).into_response(),
        },
        None if spec.access == Access::Public => None,
        None => return LinodeError::new(StatusCode::UNAUTHORIZED, "Invalid Token", None).into_response(),
    };
    let Some(principal) = principal else {
        return next.run(request).await;
    };
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("x-oauth-scopes", principal.scopes.to_string());
    if let Some(accepted) = spec.access.accepted_scope() {
        set("x-accepted-oauth-scopes", accepted);
    }
    let refusal = if let Access::Scope(area, level) = spec.access
        && !principal.scopes.allows(area, level)
    {
        Some(LinodeError::new(
            StatusCode::UNAUTHORIZED,
            "Your OAuth token is not authorized to use this endpoint.",
            None,
        ))
    } else {
        http::rate_limit(&state, &principal.credential, &mut headers).err().map(LinodeError::from)
    };
    let mut response = match refusal {
        Some(error) => error.into_response(),
        None => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
    };
    response.headers_mut().extend(headers);
    response
}

pub(crate) type Result<T, E = LinodeError> = std::result::Result<T, E>;

/// The caller, authenticated by the gate.
pub(crate) struct Auth(pub(crate) Principal);

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = LinodeError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Auth> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Auth)
            .ok_or_else(|| LinodeError::new(StatusCode::UNAUTHORIZED, "Invalid Token", None))
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
        let bytes = http::body_bytes(request, state).await?;
        Ok(Body(http::parse_json(&bytes)?))
    }
}

/// The page a list request asks for when it sends no `X-Filter`: such a list is in id order,
/// so its page is cut where the list is read (in SQL) and only the page's items are built.
/// `None` when it filters or orders (see [`page`]).
pub(crate) fn unfiltered_page(query: Option<&str>, headers: &HeaderMap) -> Result<Option<PageRequest>> {
    if headers.contains_key("x-filter") {
        return Ok(None);
    }
    page_request(query).map(Some)
}

/// The `X-Filter` of a list request over `fields` (a filter of everything when there is none).
pub(crate) fn filter_of(headers: &HeaderMap, fields: &[&str]) -> Result<Filter> {
    match headers.get("x-filter") {
        None => Ok(Filter::none()),
        Some(value) => {
            let text =
                value.to_str().map_err(|_| LinodeError::bad_request("X-Filter is not valid JSON", "X-Filter"))?;
            Filter::parse(text, fields).map_err(|error| LinodeError::bad_request(error.reason.clone(), error.field()))
        }
    }
}

/// The list envelope of a page cut where the list was read: its items, and how many results
/// the whole list holds.
pub(crate) fn envelope(items: Vec<Value>, request: PageRequest, results: u64) -> Result<Value> {
    let page = pagination::page_of(items, request, results)
        .map_err(|error| LinodeError::bad_request(error.reason, error.field))?;
    Ok(page.into_envelope())
}

/// The window of a page, as core reads lists.
pub(crate) fn window(request: PageRequest) -> berth_core::Window {
    let (offset, limit) = request.window();
    berth_core::Window { offset, limit }
}

fn page_request(query: Option<&str>) -> Result<PageRequest> {
    let (mut page, mut page_size) = (None, None);
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "page" => page = Some(value.into_owned()),
            "page_size" => page_size = Some(value.into_owned()),
            _ => {}
        }
    }
    PageRequest::parse(page.as_deref(), page_size.as_deref())
        .map_err(|error| LinodeError::bad_request(error.reason, error.field))
}

/// One page of a list, after the `X-Filter` header has filtered and ordered it.
pub(crate) fn page(items: Vec<Value>, query: Option<&str>, headers: &HeaderMap, fields: &[&str]) -> Result<Value> {
    page_with(items, query, &filter_of(headers, fields)?)
}

/// One page of a list, after `filter` (parsed from the request's `X-Filter`) has filtered and
/// ordered it.
pub(crate) fn page_with(items: Vec<Value>, query: Option<&str>, filter: &Filter) -> Result<Value> {
    let request = page_request(query)?;
    let page =
        paginate(filter.apply(items), request).map_err(|error| LinodeError::bad_request(error.reason, error.field))?;
    Ok(page.into_envelope())
}
