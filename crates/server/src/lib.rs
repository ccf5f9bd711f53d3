//! berth's HTTP layer: the only crate that knows HTTP and the dialects' JSON wire shapes.
//!
//! Each dialect is one module that maps its wire types to `core` calls and back; a handler
//! extracts, authenticates, calls one method of [`berth_core::Berth`] and converts the result. Each
//! dialect owns its error body and answers unknown routes, wrong methods and oversized bodies
//! in its own format.

mod linode_v4;
mod time_format;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use berth_core::Berth;
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// The largest request body berth reads. Placement requests are small; anything bigger is a
/// mistake or an attack, and gets a 413 in the dialect's format.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    pub berth: Arc<Berth>,
}

/// Every route of every dialect, with the cross-cutting layers.
pub fn router(berth: Arc<Berth>) -> Router {
    let state = AppState { berth };
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .nest("/v4", linode_v4::router())
        .nest("/v4beta", linode_v4::router())
        .fallback(unknown_route)
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
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

/// Runs the background work until `shutdown` resolves: completing migrations when their time
/// comes.
pub async fn run_background(berth: Arc<Berth>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        if let Err(error) = berth.migrations_complete_due().await {
            tracing::error!(error = ?error, "completing migrations failed");
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.berth.store().ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(error) => {
            tracing::warn!(error = ?error, "database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "reason": "database unreachable"})))
        }
    }
}

async fn unknown_route() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, Json(json!({"message": "Not found"})))
}
