//! `GET /events` (recent events) and `GET|POST /catalog`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::{Extension, Json};
use cohort::{Cursor, EventRecord, RecentQuery, SubjectKind};
use serde::Deserialize;
use serde_json::{json, Value};

use super::blocking;
use crate::body::{parse, read_json};
use crate::error::ApiError;
use crate::state::{AppState, Project};

/// The most events one page holds.
const MAX_PAGE: usize = 1000;

/// `GET /events` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Only this user's events.
    user_id: Option<String>,
    /// Only this device's events.
    device_id: Option<String>,
    /// Events per page, 1 to 1000 (default 20).
    limit: Option<usize>,
    /// The cursor a previous page returned as `next`.
    before: Option<String>,
}

/// Recent events, newest first: one user's, one device's, or (with neither
/// `userId` nor `deviceId`) everyone's; `next` continues.
#[utoipa::path(
    get,
    path = "/v1/projects/{projectId}/events",
    tag = "events",
    params(("projectId" = String, Path, description = "The project"), EventsQuery),
    responses(
        (status = 200, description = "`{\"events\": [...], \"next\": CURSOR or null}`", body = Object),
        (status = 400, description = "A bad parameter", body = crate::ErrorBody),
        (status = 401, description = "No valid key of this project", body = crate::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn recent_events(
    Extension(project): Extension<Arc<Project>>,
    Query(q): Query<EventsQuery>,
) -> Result<Json<Value>, ApiError> {
    let subject = match (q.user_id, q.device_id) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_parameter(
                "userId",
                "give userId or deviceId, not both",
            ))
        }
        (Some(id), None) => Some((SubjectKind::User, id)),
        (None, Some(id)) => Some((SubjectKind::Device, id)),
        (None, None) => None,
    };
    let limit = q.limit.unwrap_or(20);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_parameter(
            "limit",
            format!("must be 1 to {MAX_PAGE}, not {limit}"),
        ));
    }
    let before = q
        .before
        .map(|c| c.parse::<Cursor>())
        .transpose()
        .map_err(|e| ApiError::bad_parameter("before", e))?;
    let store = Arc::clone(&project.store);
    blocking(move || {
        let page = store
            .view()
            .recent(&RecentQuery {
                subject,
                limit,
                before,
            })
            .map_err(ApiError::from)?;
        let events: Vec<Value> = page.events.iter().map(EventRecord::to_json).collect();
        Ok(Json(
            json!({"events": events, "next": page.next.map(|c| c.to_string())}),
        ))
    })
    .await
}

/// The integrated events catalog: every event type (first and last seen,
/// count, data keys with the kinds of value seen) and every tag key.
#[utoipa::path(
    get,
    path = "/v1/projects/{projectId}/catalog",
    tag = "events",
    params(("projectId" = String, Path, description = "The project")),
    responses(
        (status = 200, description = "`{\"eventTypes\": [...], \"tagKeys\": [...]}`", body = Object),
        (status = 401, description = "No valid key of this project", body = crate::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_catalog(
    Extension(project): Extension<Arc<Project>>,
) -> Result<Json<Value>, ApiError> {
    let store = Arc::clone(&project.store);
    blocking(move || {
        let types = store.catalog().map_err(ApiError::from)?;
        let tags = store
            .view()
            .tag_catalog(cohort::now_millis())
            .map_err(ApiError::from)?;
        Ok(Json(cohort::app::catalog_json(&types, &tags)))
    })
    .await
}

/// An event type added to the catalog by hand.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CatalogAddition {
    /// The event type, as events will name it.
    #[serde(rename = "type")]
    event_type: String,
    /// What it means, for the people who build segments.
    description: Option<String>,
}

/// Adds an event type to the catalog before any event of it arrives (or
/// sets a known type's description).
#[utoipa::path(
    post,
    path = "/v1/projects/{projectId}/catalog",
    tag = "events",
    params(("projectId" = String, Path, description = "The project")),
    request_body(content = CatalogAddition, content_type = "application/json"),
    responses(
        (status = 200, description = "Added: `{\"type\": ..., \"description\": ...}`", body = Object),
        (status = 400, description = "A bad type name", body = crate::ErrorBody),
        (status = 401, description = "No valid key of this project", body = crate::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn add_to_catalog(
    State(state): State<Arc<AppState>>,
    Extension(project): Extension<Arc<Project>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let permit = state.write_permit()?;
    let bytes = read_json(&headers, body, state.config.body_limit).await?;
    let addition: CatalogAddition = parse(&bytes)?;
    let store = Arc::clone(&project.store);
    blocking(move || {
        let _permit = permit;
        cohort::app::add_catalog_type(
            &store,
            &addition.event_type,
            addition.description.as_deref(),
            cohort::Source::Client,
        )?;
        Ok(Json(
            json!({"type": addition.event_type, "description": addition.description}),
        ))
    })
    .await
}
