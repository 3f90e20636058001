//! `GET /users/{id}`, `GET /devices/{id}`, `DELETE /users/{id}`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use cohort::SubjectKind;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{blocking, now_param};
use crate::error::ApiError;
use crate::state::{AppState, Project};

/// `?now=`: the instant to read the profile at (default: now).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AtQuery {
    /// RFC 3339, a date, or Unix ms.
    now: Option<String>,
}

async fn profile(
    project: &Project,
    kind: SubjectKind,
    id: String,
    now: Option<String>,
) -> Result<Json<Value>, ApiError> {
    let now = now_param(now.as_deref())?;
    let store = Arc::clone(&project.store);
    blocking(move || {
        let view = store.view();
        match cohort::app::subject_report(&view, kind, &id, now)? {
            Some(report) => Ok(Json(cohort::app::profile_json(&report))),
            None => Err(ApiError::from(cohort::app::Error::SubjectNotFound {
                kind,
                id,
            })),
        }
    })
    .await
}

/// A user's profile: tags and attributes as of `now`, event count and
/// first and last event, and every change.
#[utoipa::path(
    get,
    path = "/v1/projects/{projectId}/users/{userId}",
    tag = "subjects",
    params(
        ("projectId" = String, Path, description = "The project"),
        ("userId" = String, Path, description = "The user"),
        AtQuery
    ),
    responses(
        (status = 200, description = "The profile", body = Object),
        (status = 404, description = "No such user", body = crate::ErrorBody),
        (status = 401, description = "No valid key of this project", body = crate::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_user(
    Extension(project): Extension<Arc<Project>>,
    Path(path): Path<(String, String)>,
    Query(q): Query<AtQuery>,
) -> Result<Json<Value>, ApiError> {
    let (_, id) = path;
    profile(&project, SubjectKind::User, id, q.now).await
}

/// A device's profile: tags as of `now`, event count and first and last
/// event, and every change.
#[utoipa::path(
    get,
    path = "/v1/projects/{projectId}/devices/{deviceId}",
    tag = "subjects",
    params(
        ("projectId" = String, Path, description = "The project"),
        ("deviceId" = String, Path, description = "The device"),
        AtQuery
    ),
    responses(
        (status = 200, description = "The profile", body = Object),
        (status = 404, description = "No such device", body = crate::ErrorBody),
        (status = 401, description = "No valid key of this project", body = crate::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_device(
    Extension(project): Extension<Arc<Project>>,
    Path(path): Path<(String, String)>,
    Query(q): Query<AtQuery>,
) -> Result<Json<Value>, ApiError> {
    let (_, id) = path;
    profile(&project, SubjectKind::Device, id, q.now).await
}

/// Deletes a user: from this answer on, nothing of theirs is returned by
/// any read or evaluation, and it is physically removed from the store.
#[utoipa::path(
    delete,
    path = "/v1/projects/{projectId}/users/{userId}",
    tag = "subjects",
    params(
        ("projectId" = String, Path, description = "The project"),
        ("userId" = String, Path, description = "The user")
    ),
    responses(
        (status = 200, description = "`{\"deleted\": true, \"events\": N, \"profileChanges\": N}`", body = Object),
        (status = 404, description = "No such user", body = crate::ErrorBody),
        (status = 401, description = "No valid key of this project", body = crate::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn delete_user(
    State(state): State<Arc<AppState>>,
    Extension(project): Extension<Arc<Project>>,
    Path(path): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (_, id) = path;
    let permit = state.write_permit()?;
    let store = Arc::clone(&project.store);
    let p = Arc::clone(&project);
    blocking(move || {
        let _permit = permit;
        let receipt = cohort::app::delete_user(&store, &id)?;
        // Cached memberships must not outlive the user.
        p.members.clear();
        match receipt {
            Some(r) => Ok(Json(json!({
                "deleted": true,
                "events": r.events,
                "profileChanges": r.profile_changes,
            }))),
            None => Err(ApiError::from(cohort::app::Error::SubjectNotFound {
                kind: SubjectKind::User,
                id,
            })),
        }
    })
    .await
}
