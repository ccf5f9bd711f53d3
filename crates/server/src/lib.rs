//! berth's HTTP layer: the only crate that knows HTTP and the dialects' JSON wire shapes.
//!
//! Each dialect is one module that maps its wire types to `core` calls and back; a handler
//! extracts, authenticates, calls one method of [`berth_core::Berth`] and converts the result. Each
//! dialect owns its error body and answers unknown routes, wrong methods and oversized bodies
//! in its own format.

mod admin_v1;
pub mod catalog;
mod demo;
mod exoscale_v2;
mod http;
mod linode_v4;
mod rate_limit;
mod routes;
mod time_format;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Json};
use berth_core::{Berth, Error};
use serde_json::json;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// The largest request body berth reads. Placement requests are small; anything bigger is a
/// mistake or an attack, and gets a 413 in the dialect's format.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub use admin_v1::openapi_document;
pub use demo::demo_fleet;
pub use exoscale_v2::API_KEY_PREFIX;
pub use linode_v4::grants::SCOPE_AREAS;
pub use rate_limit::RateLimit;
pub use routes::{Access, Dialect, RouteSpec};

/// What the HTTP layer needs to know beyond the domain.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The zone `/v2` addresses; `/{zone}/v2` addresses the others.
    pub exoscale_zone: String,
    /// The base URL clients reach berth at, for the endpoints it advertises (`GET /v2/zone`);
    /// by default, `http://` and the request's `Host`.
    pub public_url: Option<String>,
    /// The requests each credential may make per window; `None` turns limits off.
    pub rate_limit: Option<RateLimit>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { exoscale_zone: "ch-gva-2".to_string(), public_url: None, rate_limit: Some(RateLimit::default()) }
    }
}

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    pub berth: Arc<Berth>,
    pub settings: Arc<Settings>,
    limiter: Arc<rate_limit::Limiter>,
}

routes::route_table! { HEALTH_ROUTES, health_routes;
    GET "/healthz" => healthz, Access::Public;
    GET "/readyz" => readyz, Access::Public;
}

/// Every route berth serves.
pub fn dialects() -> Vec<Dialect> {
    vec![
        Dialect { name: "health", prefixes: &[""], routes: HEALTH_ROUTES },
        Dialect { name: "linode", prefixes: &["/v4", "/v4beta"], routes: linode_v4::ROUTES },
        Dialect { name: "exoscale", prefixes: &["/v2", "/{zone}/v2"], routes: exoscale_v2::ROUTES },
        Dialect { name: "operator", prefixes: &["/v1"], routes: admin_v1::ROUTES },
    ]
}

/// Every route of every dialect, with the cross-cutting layers.
pub fn router(berth: Arc<Berth>, settings: Settings) -> Router {
    let limiter = Arc::new(rate_limit::Limiter::new(settings.rate_limit));
    let state = AppState { berth, settings: Arc::new(settings), limiter };
    let request_id = HeaderName::from_static("x-request-id");
    let routes = health_routes()
        .nest("/v4", linode_v4::router(&state))
        .nest("/v4beta", linode_v4::router(&state))
        .nest("/v2", exoscale_v2::router(&state))
        .nest("/v1", admin_v1::router(&state))
        .fallback(unknown_route)
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid));
    // The outer router records the original URI (for the signature and the zone) before the
    // zone prefix is taken off and the request is routed.
    Router::new().fallback_service(routes.map_request(zone_prefix))
}

/// `/{zone}/v2/...` is served as `/v2/...`; the zone is read back from the original URI.
fn zone_prefix(mut request: Request) -> Request {
    let path = request.uri().path();
    let mut segments = path.trim_start_matches('/').splitn(3, '/');
    if let (Some(zone), Some("v2")) = (segments.next(), segments.next())
        && zone != "v2"
    {
        let rest = segments.next().unwrap_or_default();
        let path_and_query = match request.uri().query() {
            Some(query) => format!("/v2/{rest}?{query}"),
            None => format!("/v2/{rest}"),
        };
        if let Ok(uri) = axum::http::Uri::builder().path_and_query(path_and_query).build() {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes the requests in
/// flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}

/// Runs the background work until `shutdown` resolves, on whichever process of those sharing
/// the database holds the lease on it (see `berth_core::Berth::leadership_renew`): the
/// reconciler (completing and starting migrations four times a second, and planning — offline
/// instances, drains, repair — every two seconds), and forgetting old operations. First, on
/// every process, it loads the fleet of every region (`Berth::fleets_load`), after which
/// `/readyz` says ready. Every process asks for
/// the lease, or renews it, several times per lease period; at shutdown the holder gives it up
/// so another takes over at once.
pub async fn run_background(berth: Arc<Berth>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let renew_every = berth_core::renew_interval(berth.settings().leader_lease);
    let mut last_renew: Option<Instant> = None;
    let mut last_purge = Instant::now();
    let mut last_plan: Option<Instant> = None;
    let mut database_down = false;
    loop {
        if last_renew.is_none_or(|at| at.elapsed() >= renew_every) {
            last_renew = Some(Instant::now());
            match berth.leadership_renew().await {
                Ok(_) if database_down => {
                    database_down = false;
                    tracing::info!("the database is reachable again");
                }
                Ok(_) => {}
                Err(error) if !database_down => {
                    database_down = true;
                    tracing::warn!(error = ?error, "cannot reach the database; background work waits for it");
                }
                Err(_) => {}
            }
        }
        if !berth.fleets_loaded() && !database_down {
            let started = Instant::now();
            match berth.fleets_load().await {
                Ok(regions) => {
                    tracing::info!(regions, seconds = started.elapsed().as_secs_f64(), "region fleets loaded")
                }
                Err(error) => log_background_failure("loading the region fleets", &error),
            }
        }
        if berth.is_leader() && !database_down {
            let plan = last_plan.is_none_or(|at| at.elapsed() >= Duration::from_secs(2));
            if plan {
                last_plan = Some(Instant::now());
            }
            if let Err(error) = berth.reconcile(plan).await {
                log_background_failure("reconciling the fleet", &error);
            }
            if last_purge.elapsed() > Duration::from_secs(600) {
                last_purge = Instant::now();
                if let Err(error) = berth.operations_purge().await {
                    log_background_failure("purging old operations", &error);
                }
            }
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
    if let Err(error) = berth.leadership_release().await {
        tracing::warn!(error = ?error, "could not give up the lease on background work; it runs out by itself");
    }
}

/// A pass of background work that failed: an outage or a collision is retried on the next
/// pass and worth a warning; anything else is a bug.
fn log_background_failure(what: &str, error: &Error) {
    match error {
        Error::Unavailable | Error::Contended => tracing::warn!(error = ?error, "{what} failed; retrying"),
        _ => tracing::error!(error = ?error, "{what} failed"),
    }
}

/// What a client is told when berth cannot serve a request for now: the database is out of
/// reach, or the change kept colliding with concurrent ones. Nothing was changed either way.
pub(crate) fn unavailable_reason(error: &Error) -> &'static str {
    match error {
        Error::Contended => "This change collided with others made at the same time and was not applied; please retry",
        _ => "The service is temporarily unavailable: its database cannot be reached; please retry shortly",
    }
}

/// An error response, with `Retry-After` when the status says to come back later.
pub(crate) fn with_retry_after(status: StatusCode, body: impl IntoResponse) -> axum::response::Response {
    let mut response = (status, body).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
    }
    response
}

/// The current UNIX time in milliseconds.
pub(crate) fn now_millis() -> i64 {
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    i64::try_from(millis).unwrap_or(i64::MAX)
}

/// The current UNIX time in seconds.
pub(crate) fn now_seconds() -> i64 {
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

/// An instance's public IPv4 address in every dialect. Addresses come from the documentation
/// range of RFC 5737: they look real to clients and can never collide with a real network.
pub(crate) fn instance_ipv4(id: i64) -> String {
    format!("192.0.2.{}", id.rem_euclid(254) + 1)
}

/// An instance's MAC address: locally administered, derived from its id.
pub(crate) fn instance_mac(id: i64) -> String {
    let bytes = id.to_be_bytes();
    format!("06:00:{:02x}:{:02x}:{:02x}:{:02x}", bytes[4], bytes[5], bytes[6], bytes[7])
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let background = if state.berth.is_leader() { "leader" } else { "standby" };
    match state.berth.database_ready().await {
        // Ready once the cache holds every region's fleet: until then the first change in
        // a large region would wait seconds for its load.
        Ok(()) if !state.berth.fleets_loaded() => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "loading",
                "reason": "loading the fleets of the regions",
                "process": state.berth.process_id(),
                "background": background,
            })),
        ),
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ready", "process": state.berth.process_id(), "background": background})),
        ),
        Err(error) => {
            tracing::warn!(error = ?error, "database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "unavailable",
                    "reason": "database unreachable",
                    "process": state.berth.process_id(),
                    "background": background,
                })),
            )
        }
    }
}

async fn unknown_route() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, Json(json!({"message": "Not found"})))
}
