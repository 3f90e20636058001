//! `POST /track`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{extract::State, Extension, Json};
use serde::Serialize;

use super::blocking;
use crate::body::read_json;
use crate::error::ApiError;
use crate::state::{AppState, Project};

/// A track request (see `events.md`): at least one group, 1 to 100 items
/// each; all or nothing.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // describes the body for the document; the library reads it
pub(crate) struct TrackBody {
    /// Events: `subjectType`, `subjectId`, `type`, `data`, optional `createdAt`.
    #[schema(value_type = Option<Vec<Object>>)]
    events: Option<Vec<serde_json::Value>>,
    /// Tag changes: `subjectType`, `subjectId`, `tags` (a `null` value
    /// deletes the tag), optional `createdAt`.
    #[schema(value_type = Option<Vec<Object>>)]
    tags: Option<Vec<serde_json::Value>>,
    /// User attribute changes: `userId` and the attributes to set.
    #[schema(value_type = Option<Vec<Object>>)]
    user_attributes: Option<Vec<serde_json::Value>>,
}

/// What a track request stored (for a retry with the same
/// `Idempotency-Key`: what the first one stored).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TrackAnswer {
    /// Counts stored.
    stored: StoredCounts,
    /// Subjects seen for the first time.
    new_subjects: u64,
    /// This answer is a retry's: nothing was stored now.
    replayed: bool,
}

/// Counts stored by a track request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredCounts {
    /// Events.
    events: u64,
    /// Tag and attribute changes (one per key or attribute).
    profile_changes: u64,
    /// `@first_session` events recorded for devices seen for the first time.
    first_sessions: u64,
}

/// Track events, tag changes and user attribute changes.
///
/// All or nothing; `200` only once the request is durable. With an
/// `Idempotency-Key`, a retry with the same body within 24 hours gets the
/// first answer and stores nothing (also across restarts); the same key
/// with another body gets `422`.
#[utoipa::path(
    post,
    path = "/v1/projects/{projectId}/track",
    tag = "track",
    params(
        ("projectId" = String, Path, description = "The project"),
        ("Idempotency-Key" = Option<String>, Header, description = "At most 255 characters; retries with the same key and body store nothing twice")
    ),
    request_body(content = TrackBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored durably", body = TrackAnswer),
        (status = 400, description = "Not JSON, not a track request, or invalid items (every one listed)", body = crate::ErrorBody),
        (status = 401, description = "No valid key of this project", body = crate::ErrorBody),
        (status = 413, description = "Body over the limit", body = crate::ErrorBody),
        (status = 415, description = "Not content-type: application/json", body = crate::ErrorBody),
        (status = 422, description = "Idempotency key used for another body", body = crate::ErrorBody),
        (status = 429, description = "Over the project's rate (see Retry-After)", body = crate::ErrorBody),
        (status = 503, description = "Too many writes in flight (see Retry-After)", body = crate::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn track(
    State(state): State<Arc<AppState>>,
    Extension(project): Extension<Arc<Project>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| {
                    ApiError::new(
                        axum::http::StatusCode::BAD_REQUEST,
                        "invalid_idempotency_key",
                        "the Idempotency-Key header must be printable ASCII characters (spaces and tabs allowed)",
                    )
                })?
                .to_owned(),
        ),
    };
    if let Some(k) = &key {
        cohort::app::check_idempotency_key(k)?;
    }
    // Taken before the body is read: bodies waiting for a permit would
    // otherwise pile up in memory.
    let permit = state.write_permit()?;
    let bytes = read_json(&headers, body, state.config.body_limit).await?;
    let store = Arc::clone(&project.store);
    let tracked = blocking(move || {
        let _permit = permit;
        cohort::app::track_durably(&store, &bytes, cohort::Source::Client, key.as_deref())
            .map_err(ApiError::from)
    })
    .await?;
    if !tracked.replayed {
        state.metrics.stored(
            tracked.events + tracked.first_sessions,
            tracked.profile_changes,
        );
    }
    let answer = TrackAnswer {
        stored: StoredCounts {
            events: tracked.events,
            profile_changes: tracked.profile_changes,
            first_sessions: tracked.first_sessions,
        },
        new_subjects: tracked.new_subjects,
        replayed: tracked.replayed,
    };
    let mut response = Json(answer).into_response();
    if tracked.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}
