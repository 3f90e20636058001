//! The routes, one file per resource, and the router that serves them
//! with the OpenAPI document built from the same declarations (so the
//! document lists exactly the routes served).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use http_body_util::BodyExt;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::{authenticate, AppState};

mod events;
mod root;
mod segments;
mod subjects;
mod track;
mod work;

/// Runs blocking work (every store call) on tokio's blocking pool, never
/// on the runtime's workers.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

/// Reads an optional `now` parameter (RFC 3339, a date or Unix ms);
/// absent, the clock.
pub(crate) fn now_param(now: Option<&str>) -> Result<i64, ApiError> {
    match now {
        None => Ok(cohort::now_millis()),
        Some(t) => cohort::app::parse_time(t).map_err(|e| ApiError::bad_parameter("now", e)),
    }
}

/// A listing's evaluation instant and where it continues: from `after` (a
/// cursor a previous page returned, which keeps that page's instant), else
/// from the start, at `now` (default: the clock).
pub(crate) fn listing_at(
    after: Option<&str>,
    now: Option<&str>,
) -> Result<(i64, Option<cohort::app::MemberCursor>), ApiError> {
    let cursor = after
        .map(str::parse::<cohort::app::MemberCursor>)
        .transpose()
        .map_err(|e| ApiError::bad_parameter("after", e))?;
    let now = match cursor {
        Some(c) => c.now,
        None => now_param(now)?,
    };
    Ok((now, cursor))
}

/// Reads `subjectType`.
pub(crate) fn subject_kind(text: Option<&str>) -> Result<cohort::SubjectKind, ApiError> {
    match text.unwrap_or("user") {
        "user" => Ok(cohort::SubjectKind::User),
        "device" => Ok(cohort::SubjectKind::Device),
        other => Err(ApiError::bad_parameter(
            "subjectType",
            format!("{other:?} is not user or device"),
        )),
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "cohort",
        description = "The track API and the segment API of cohort serve. Every route under /v1/projects/{projectId} needs `Authorization: Bearer KEY` (a key of that project)."
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::ErrorBody, crate::ErrorInfo))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The routes of the API and the OpenAPI document describing them.
fn routes(state: Arc<AppState>) -> (axum::Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
    let v1 = OpenApiRouter::new()
        .routes(routes!(track::track))
        .routes(routes!(events::recent_events))
        .routes(routes!(events::get_catalog, events::add_to_catalog))
        .routes(routes!(subjects::get_user, subjects::delete_user))
        .routes(routes!(subjects::get_device))
        .routes(routes!(segments::list_segments))
        .routes(routes!(
            segments::get_segment,
            segments::put_segment,
            segments::delete_segment
        ))
        .routes(routes!(segments::count))
        .routes(routes!(segments::members))
        .routes(routes!(segments::member))
        .routes(routes!(segments::changes))
        .routes(routes!(work::evaluate))
        .routes(routes!(work::render))
        .route_layer(from_fn_with_state(state, authenticate));
    let root = OpenApiRouter::new()
        .routes(routes!(root::healthz))
        .routes(routes!(root::metrics))
        .routes(routes!(root::openapi_json));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(v1)
        .merge(root)
        .split_for_parts()
}

/// The whole service for a server's state: routes, authentication, the
/// OpenAPI document, request ids, tracing, metrics, the error shape, the
/// request timeout and the body limit.
pub(crate) fn service(state: Arc<AppState>) -> (axum::Router, Arc<utoipa::openapi::OpenApi>) {
    let (router, doc) = routes(Arc::clone(&state));
    let doc = Arc::new(doc);
    let config = &state.config;
    let service = router
        .route_layer(axum::middleware::from_fn(tag_route))
        .fallback(not_found)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(config.body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(from_fn_with_state(Arc::clone(&state), finish))
        .layer(Extension(Arc::clone(&doc)))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state);
    (service, doc)
}

/// The router alone, with its OpenAPI document (for tests and embedding).
pub fn router(config: crate::Config) -> crate::Result<(axum::Router, utoipa::openapi::OpenApi)> {
    let (router, doc) = service(Arc::new(AppState::open(config)?));
    Ok((router, (*doc).clone()))
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        format!(
            "no route {} {}; the routes are listed at /openapi.json",
            request.method(),
            request.uri().path()
        ),
    )
}

/// Records metrics, and gives every error answer the one JSON shape: an
/// answer made below the handlers (a timeout, a body over the limit, a
/// method not allowed, a malformed query) comes as plain text, and is
/// rewritten here.
async fn finish(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // Label values come from a closed set: a client cannot grow them.
    let method = match request.method().as_str() {
        "GET" => "GET",
        "PUT" => "PUT",
        "POST" => "POST",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let mut response = next.run(request).await;
    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let (parts, body) = response.into_parts();
        let text = match body.collect().await {
            Ok(b) => String::from_utf8_lossy(&b.to_bytes()).trim().to_owned(),
            Err(_) => String::new(),
        };
        let (code, message) = match status {
            StatusCode::PAYLOAD_TOO_LARGE => (
                "payload_too_large",
                format!(
                    "the body is over the limit of {} bytes",
                    state.config.body_limit
                ),
            ),
            StatusCode::REQUEST_TIMEOUT => (
                "timeout",
                format!(
                    "the request took longer than {} s",
                    state.config.request_timeout.as_secs_f64()
                ),
            ),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "this route does not take this method".to_owned(),
            ),
            // A failure below the handlers: logged, not shown.
            s if s.is_server_error() => {
                tracing::error!(status = s.as_u16(), body = %text, "error below the handlers");
                (
                    "internal",
                    "the server failed; the request may be retried".to_owned(),
                )
            }
            // Axum's own rejections: a malformed query or path parameter.
            _ if text.is_empty() => (
                "invalid_parameter",
                status
                    .canonical_reason()
                    .unwrap_or("bad request")
                    .to_owned(),
            ),
            _ => ("invalid_parameter", text),
        };
        let mut rewritten = ApiError::new(status, code, message).into_response();
        for (name, value) in parts.headers.iter() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                rewritten.headers_mut().insert(name.clone(), value.clone());
            }
        }
        if status == StatusCode::REQUEST_TIMEOUT {
            // The client may still be sending: do not wait for it.
            rewritten
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response = rewritten;
    }
    // Refusals are counted here, by their status, whichever layer made
    // them (the handler, the body limit, authentication, a bound).
    let refused = match response.status() {
        StatusCode::UNAUTHORIZED => Some("unauthorized"),
        StatusCode::PAYLOAD_TOO_LARGE => Some("too_large"),
        StatusCode::TOO_MANY_REQUESTS => Some("rate_limited"),
        StatusCode::SERVICE_UNAVAILABLE => Some("overloaded"),
        _ => None,
    };
    if let Some(reason) = refused {
        state.metrics.reject(reason);
    }
    state.metrics.request(
        method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Hands the matched route's pattern to `finish` (which runs before
/// routing, so cannot see it on the request) through the response.
async fn tag_route(path: MatchedPath, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.extensions_mut().insert(path);
    response
}

/// A body streamed from a channel (NDJSON member lists); an `Err` item
/// aborts the body.
pub(crate) struct ChannelBody(
    pub tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>,
);

impl http_body::Body for ChannelBody {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|item| item.map(|chunk| chunk.map(http_body::Frame::data)))
    }
}

impl ChannelBody {
    pub(crate) fn into_body(self) -> Body {
        Body::new(self)
    }
}
