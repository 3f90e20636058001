//! Routes at the root, without a key: `/healthz`, `/metrics`,
//! `/openapi.json`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use crate::state::AppState;

/// Whether the server is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Object))
)]
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Prometheus metrics: requests, latencies, items stored, rejects,
/// write-ahead-log syncs. No subject data.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let syncs = state
        .open_projects()
        .iter()
        .map(|p| p.store.wal_syncs())
        .sum();
    let mut response = state.metrics.render(syncs).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// This document: every route, as the server serves it.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3 document", body = Object))
)]
pub(crate) async fn openapi_json(
    Extension(doc): Extension<Arc<utoipa::openapi::OpenApi>>,
) -> Json<utoipa::openapi::OpenApi> {
    Json((*doc).clone())
}
