//! Saved segments: `PUT|GET|DELETE /segments/{name}`, `GET /segments`,
//! `GET /segments/{name}/count`, `/members` and `/members/{subjectId}`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cohort::eval::Executor;
use cohort::SavedSegment;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{blocking, now_param, subject_kind, ChannelBody};
use crate::body::{parse, read_json};
use crate::error::ApiError;
use crate::members::{Plan, Snapshot};
use crate::state::{AppState, Project};

fn segment_json(name: &str, s: &SavedSegment) -> Value {
    json!({
        "name": name,
        "filter": s.filter,
        "subjectType": s.kind.as_str(),
        "description": s.description,
    })
}

/// Every saved segment, by name.
#[utoipa::path(
    get,
    path = "/v1/projects/{projectId}/segments",
    tag = "segments",
    params(("projectId" = String, Path, description = "The project")),
    responses(
        (status = 200, description = "`{\"segments\": [{name, filter, subjectType, description}]}`", body = Object),
        (status = 401, description = "No valid key of this project", body = crate::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list_segments(
    Extension(project): Extension<Arc<Project>>,
) -> Result<Json<Value>, ApiError> {
    let store = Arc::clone(&project.store);
    blocking(move || {
        let segments = store
            .segments()
            .map_err(|e| ApiError::from(cohort::app::Error::from(e)))?;
        let list: Vec<Value> = segments.iter().map(|(n, s)| segment_json(n, s)).collect();
        Ok(Json(json!({ "segments": list })))
    })
    .await
}

/// One saved segment.
#[utoipa::path(
    get,
    path = "/v1/projects/{projectId}/segments/{name}",
    tag = "segments",
    params(
        ("projectId" = String, Path, description = "The project"),
        ("name" = String, Path, description = "The segment")
    ),
    responses(
        (status = 200, description = "`{name, filter, subjectType, description}` (the filter in canonical form)", body = Object),
        (status = 404, description = "No such segment", body = crate::ErrorBody),
        (status = 401, description = "No valid key of this project", body = crate::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_segment(
    Extension(project): Extension<Arc<Project>>,
    Path(path): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (_, name) = path;
    let store = Arc::clone(&project.store);
    blocking(move || {
        match store
            .segment(&name)
            .map_err(|e| ApiError::from(cohort::app::Error::from(e)))?
        {
            Some(s) => Ok(Json(segment_json(&name, &s))),
            None => Err(ApiError::from(cohort::app::Error::SegmentNotFound(name))),
        }
    })
    .await
}

/// A segment to save.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SegmentBody {
    /// The filter (`filter-language.md`).
    filter: String,
    /// `user` (default) or `device`.
    subject_type: Option<String>,
    /// What it is for.
    description: Option<String>,
}

/// Saves (or replaces) a segment. A filter that does not parse gets `400`
/// with its line, column, caret and what was expected.
#[utoipa::path(
    put,
    path = "/v1/projects/{projectId}/segments/{name}",
    tag = "segments",
    params(
        ("projectId" = String, Path, description = "The project"),
        ("name" = String, Path, description = "The segment")
    ),
    request_body(content = SegmentBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Saved: `{name, filter, subjectType, description}`", body = Object),
        (status = 400, description = "A bad filter or name", body = crate::ErrorBody),
        (status = 409, description = "Saving would break a segment that refers to this one", body = crate::ErrorBody),
        (status = 401, description = "No valid key of this project", body = crate::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn put_segment(
    State(state): State<Arc<AppState>>,
    Extension(project): Extension<Arc<Project>>,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (_, name) = path;
    let bytes = read_json(&headers, body, state.config.body_limit).await?;
    let segment: SegmentBody = parse(&bytes)?;
    let kind = subject_kind(segment.subject_type.as_deref())?;
    let permit = state.write_permit()?;
    let p = Arc::clone(&project);
    blocking(move || {
        let _permit = permit;
        let saved =
            cohort::app::save_segment(&p.store, &name, &segment.filter, kind, segment.description)?;
        p.members.clear();
        Ok(Json(segment_json(&name, &saved)))
    })
    .await
}

/// Deletes a saved segment, unless another saved segment refers to it
/// (`409`, naming them).
#[utoipa::path(
    delete,
    path = "/v1/projects/{projectId}/segments/{name}",
    tag = "segments",
    params(
        ("projectId" = String, Path, description = "The project"),
        ("name" = String, Path, description = "The segment")
    ),
    responses(
        (status = 200, description = "`{\"deleted\": NAME}`", body = Object),
        (status = 404, description = "No such segment", body = crate::ErrorBody),
        (status = 409, description = "Other segments refer to it", body = crate::ErrorBody),
        (status = 401, description = "No valid key of this project", body = crate::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn delete_segment(
    State(state): State<Arc<AppState>>,
    Extension(project): Extension<Arc<Project>>,
    Path(path): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (_, name) = path;
    let permit = state.write_permit()?;
    let p = Arc::clone(&project);
    blocking(move || {
        let _permit = permit;
        cohort::app::delete_segment(&p.store, &name)?;
        p.members.clear();
        Ok(Json(json!({ "deleted": name })))
    })
    .await
}

/// `?now=` for counts.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct CountQuery {
    /// The evaluation instant: RFC 3339, a date, or Unix ms (default: now).
    now: Option<String>,
}

/// How many subjects are in the segment at `now`.
#[utoipa::path(
    get,
    path = "/v1/projects/{projectId}/segments/{name}/count",
    tag = "segments",
    params(
        ("projectId" = String, Path, description = "The project"),
        ("name" = String, Path, description = "The segment"),
        CountQuery
    ),
    responses(
        (status = 200, description = "`{\"count\": N}`", body = Object),
        (status = 404, description = "No such segment", body = crate::ErrorBody),
        (status = 401, description = "No valid key of this project", body = crate::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn count(
    Extension(project): Extension<Arc<Project>>,
    Path(path): Path<(String, String)>,
    Query(q): Query<CountQuery>,
) -> Result<Json<Value>, ApiError> {
    let (_, name) = path;
    let now = now_param(q.now.as_deref())?;
    let store = Arc::clone(&project.store);
    blocking(move || {
        let view = store.view();
        let (_, e) = cohort::app::evaluate_saved(&store, &view, &name, now, Executor::shared())?;
        Ok(Json(json!({ "count": e.members.len() })))
    })
    .await
}

/// `/members` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct MembersQuery {
    /// The evaluation instant (default: now); a page's `next` keeps it.
    now: Option<String>,
    /// Members per page, 1 to 10,000 (default 1,000).
    limit: Option<usize>,
    /// The cursor a previous page returned as `next`.
    after: Option<String>,
}

/// The most members one JSON page holds.
const MAX_MEMBER_PAGE: usize = 10_000;

/// A member page's cursor: the evaluation instant and the last dense id,
/// `NOW.SID`, so that every page of one listing is of one evaluation
/// instant.
fn parse_after(text: &str) -> Result<(i64, u32), ApiError> {
    let bad = || {
        ApiError::bad_parameter(
            "after",
            format!("{text:?} is not a cursor returned as `next`"),
        )
    };
    let (now, sid) = text.split_once('.').ok_or_else(bad)?;
    Ok((
        now.parse().map_err(|_| bad())?,
        sid.parse().map_err(|_| bad())?,
    ))
}

/// The segment's members at `now`, paged (`next` continues), or — with
/// `Accept: application/x-ndjson` — every member streamed, one JSON string
/// per line.
#[utoipa::path(
    get,
    path = "/v1/projects/{projectId}/segments/{name}/members",
    tag = "segments",
    params(
        ("projectId" = String, Path, description = "The project"),
        ("name" = String, Path, description = "The segment"),
        MembersQuery
    ),
    responses(
        (status = 200, description = "`{\"members\": [IDs], \"count\": N, \"next\": CURSOR or null}`; NDJSON with Accept: application/x-ndjson", body = Object),
        (status = 404, description = "No such segment", body = crate::ErrorBody),
        (status = 401, description = "No valid key of this project", body = crate::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn members(
    Extension(project): Extension<Arc<Project>>,
    Path(path): Path<(String, String)>,
    Query(q): Query<MembersQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, name) = path;
    let (now, after) = match q.after.as_deref() {
        Some(c) => {
            let (now, sid) = parse_after(c)?;
            (now, Some(sid))
        }
        None => (now_param(q.now.as_deref())?, None),
    };
    let limit = q.limit.unwrap_or(1000);
    if !(1..=MAX_MEMBER_PAGE).contains(&limit) {
        return Err(ApiError::bad_parameter(
            "limit",
            format!("must be 1 to {MAX_MEMBER_PAGE}, not {limit}"),
        ));
    }
    let ndjson = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/x-ndjson"));
    let store = Arc::clone(&project.store);
    if ndjson {
        // Evaluate first, so that an unknown segment is still a 404.
        let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(8);
        let evaluated = {
            let store = Arc::clone(&store);
            blocking(move || {
                let view = store.view();
                let (saved, e) =
                    cohort::app::evaluate_saved(&store, &view, &name, now, Executor::shared())?;
                Ok((saved.kind, e.members))
            })
            .await?
        };
        tokio::task::spawn_blocking(move || {
            let (kind, members) = evaluated;
            let view = store.view();
            let mut chunk = Vec::with_capacity(64 * 1024);
            for sid in &members {
                let Ok(id) = view.subject_id(kind, sid) else {
                    break;
                };
                serde_json::to_writer(&mut chunk, &id).expect("a string serialises");
                chunk.push(b'\n');
                if chunk.len() >= 60 * 1024
                    && tx
                        .blocking_send(bytes::Bytes::from(std::mem::take(&mut chunk)))
                        .is_err()
                {
                    return; // the client went away
                }
            }
            let _ = tx.blocking_send(bytes::Bytes::from(chunk));
        });
        let mut response = ChannelBody(rx).into_body().into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        return Ok(response);
    }
    blocking(move || {
        let view = store.view();
        let (saved, e) =
            cohort::app::evaluate_saved(&store, &view, &name, now, Executor::shared())?;
        let (ids, last) = cohort::app::member_page(&view, saved.kind, &e.members, after, limit)?;
        Ok(Json(json!({
            "members": ids,
            "count": e.members.len(),
            "now": cohort::format_millis(now),
            "next": last.map(|sid| format!("{now}.{sid}")),
        }))
        .into_response())
    })
    .await
}

/// Whether one subject is in the segment now. Answers from an evaluation
/// at most about a second old (`asOf` says when it was made), so that it
/// can sit on a request path.
#[utoipa::path(
    get,
    path = "/v1/projects/{projectId}/segments/{name}/members/{subjectId}",
    tag = "segments",
    params(
        ("projectId" = String, Path, description = "The project"),
        ("name" = String, Path, description = "The segment"),
        ("subjectId" = String, Path, description = "A subject of the segment's kind")
    ),
    responses(
        (status = 200, description = "`{\"member\": true|false, \"asOf\": TIME}`", body = Object),
        (status = 404, description = "No such segment", body = crate::ErrorBody),
        (status = 401, description = "No valid key of this project", body = crate::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn member(
    State(state): State<Arc<AppState>>,
    Extension(project): Extension<Arc<Project>>,
    Path(path): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (_, name, subject) = path;
    let max_age = state.config.member_max_age;
    let evaluate = {
        let store = Arc::clone(&project.store);
        let name = name.clone();
        move || -> Result<Snapshot, ApiError> {
            let view = store.view();
            let now = cohort::now_millis();
            let (saved, e) =
                cohort::app::evaluate_saved(&store, &view, &name, now, Executor::shared())?;
            Ok(Snapshot::new(e.members, saved.kind, now))
        }
    };
    let snapshot = match project.members.plan(&name, max_age) {
        Plan::Answer(s) => s,
        Plan::AnswerAndRefresh(s, entry) => {
            tokio::spawn(async move {
                if let Err(e) = entry.refresh(max_age, evaluate).await {
                    tracing::warn!(error = %e.message, "member cache refresh failed");
                }
            });
            s
        }
        Plan::Wait(entry) => entry.refresh(max_age, evaluate).await?,
    };
    let store = Arc::clone(&project.store);
    let member = blocking(move || {
        let view = store.view();
        let sid = view
            .try_subject_dense_id(snapshot.kind, &subject)
            .map_err(|e| ApiError::from(cohort::app::Error::from(e)))?;
        Ok((
            sid.is_some_and(|sid| snapshot.members.contains(sid)),
            snapshot.now,
        ))
    })
    .await?;
    Ok(Json(json!({
        "member": member.0,
        "asOf": cohort::format_millis(member.1),
    })))
}
