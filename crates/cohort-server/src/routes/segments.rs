//! Saved segments: `PUT|GET|DELETE /segments/{name}`, `GET /segments`,
//! `GET /segments/{name}/count`, `/members`, `/members/{subjectId}` and —
//! for live segments — `/changes`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cohort::eval::Executor;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{blocking, listing_at, now_param, subject_kind, ChannelBody};
use crate::body::{parse, read_json};
use crate::error::ApiError;
use crate::members::{Plan, Snapshot};
use crate::state::{AppState, Project};

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
        let segments = store.segments().map_err(ApiError::from)?;
        let list: Vec<Value> = segments
            .iter()
            .map(|(n, s)| with_live(&store, n, cohort::app::segment_json(n, s)))
            .collect();
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
    blocking(
        move || match store.segment(&name).map_err(ApiError::from)? {
            Some(s) => Ok(Json(with_live(
                &store,
                &name,
                cohort::app::segment_json(&name, &s),
            ))),
            None => Err(ApiError::from(cohort::app::Error::SegmentNotFound(name))),
        },
    )
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
    /// `true`: keep its members current, with a change feed
    /// (`/changes`); `false`: stop; absent: as it was.
    live: Option<bool>,
}

/// A segment's JSON with `"live": true|false`.
fn with_live(store: &cohort::Store, name: &str, mut json: Value) -> Value {
    json["live"] = Value::Bool(store.live_segment_id(name).is_some());
    json
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
    let permit = state.write_permit()?;
    let change = project.segment_change_permit()?;
    let bytes = read_json(&headers, body, state.config.body_limit).await?;
    let segment: SegmentBody = parse(&bytes)?;
    let kind = subject_kind(segment.subject_type.as_deref())?;
    let p = Arc::clone(&project);
    blocking(move || {
        let _permits = (permit, change);
        let (saved, _) = cohort::app::save_segment_live(
            &p.store,
            &name,
            &segment.filter,
            kind,
            segment.description,
            segment.live,
        )?;
        p.members.clear();
        Ok(Json(with_live(
            &p.store,
            &name,
            cohort::app::segment_json(&name, &saved),
        )))
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
    let change = project.segment_change_permit()?;
    let p = Arc::clone(&project);
    blocking(move || {
        let _permits = (permit, change);
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
    State(state): State<Arc<AppState>>,
    Extension(project): Extension<Arc<Project>>,
    Path(path): Path<(String, String)>,
    Query(q): Query<CountQuery>,
) -> Result<Json<Value>, ApiError> {
    let (_, name) = path;
    let now = now_param(q.now.as_deref())?;
    let permit = state.read_permit()?;
    let store = Arc::clone(&project.store);
    blocking(move || {
        let _permit = permit;
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
    State(state): State<Arc<AppState>>,
    Extension(project): Extension<Arc<Project>>,
    Path(path): Path<(String, String)>,
    Query(q): Query<MembersQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, name) = path;
    let (now, cursor) = listing_at(q.after.as_deref(), q.now.as_deref())?;
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
        .is_some_and(|v| v.to_ascii_lowercase().contains("application/x-ndjson"));
    let permit = state.read_permit()?;
    let store = Arc::clone(&project.store);
    if ndjson {
        // Evaluate first, so that an unknown segment is still a 404.
        let evaluated = {
            let store = Arc::clone(&store);
            blocking(move || {
                let _permit = permit;
                let view = store.view();
                let (saved, e) =
                    cohort::app::evaluate_saved(&store, &view, &name, now, Executor::shared())?;
                Ok((saved.kind, e.members))
            })
            .await?
        };
        return Ok(stream_members(store, evaluated.0, evaluated.1));
    }
    blocking(move || {
        let _permit = permit;
        let view = store.view();
        let (saved, e) =
            cohort::app::evaluate_saved(&store, &view, &name, now, Executor::shared())?;
        let (ids, next) =
            cohort::app::member_page(&view, saved.kind, &e.members, now, cursor, limit)?;
        Ok(Json(json!({
            "members": ids,
            "count": e.members.len(),
            "now": cohort::format_millis(now),
            "next": next.map(|c| c.to_string()),
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
    // A live segment answers from its members in memory: current as of
    // the last write, and within a second of time passing.
    if project.store.live_segment_id(&name).is_some() {
        let store = Arc::clone(&project.store);
        let lookup = name.clone();
        let id = subject.clone();
        let answer =
            blocking(move || Ok(cohort::app::is_live_member(&store, &lookup, &id)?)).await?;
        if let Some(member) = answer {
            return Ok(Json(json!({
                "member": member,
                "asOf": cohort::format_millis(cohort::now_millis()),
                "live": true,
            })));
        }
    }
    let max_age = state.config.member_max_age;
    let evaluate = {
        let store = Arc::clone(&project.store);
        let name = name.clone();
        move || -> Result<Snapshot, ApiError> {
            let made = std::time::Instant::now();
            let view = store.view();
            let now = cohort::now_millis();
            let (saved, e) =
                cohort::app::evaluate_saved(&store, &view, &name, now, Executor::shared())?;
            Ok(Snapshot::new(e.members, saved.kind, now, made))
        }
    };
    let snapshot = match project.members.plan(&name, max_age) {
        Plan::Answer(s) => s,
        Plan::AnswerAndRefresh(s, entry) => {
            let p = Arc::clone(&project);
            let name = name.clone();
            tokio::spawn(async move {
                if let Err(e) = entry.refresh(max_age, evaluate).await {
                    tracing::warn!(error = %e.message, "member cache refresh failed");
                    p.members.forget(&name);
                }
            });
            s
        }
        Plan::Wait(entry) => match entry.refresh(max_age, evaluate).await {
            Ok(s) => s,
            Err(e) => {
                project.members.forget(&name);
                return Err(e);
            }
        },
    };
    let store = Arc::clone(&project.store);
    let member = blocking(move || {
        let view = store.view();
        let sid = view
            .try_subject_dense_id(snapshot.kind, &subject)
            .map_err(ApiError::from)?;
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

/// Members per chunk of an NDJSON listing: each chunk's IDs are read on the
/// blocking pool, then sent; no thread waits on a slow client.
const STREAM_CHUNK: usize = 4096;

/// How long a client may leave a chunk unread before the stream is cut.
const STREAM_STALL: std::time::Duration = std::time::Duration::from_secs(30);

/// Streams every member's ID, one JSON string per line. IDs are read a
/// page at a time on the blocking pool ([`cohort::app::member_page`], as
/// for JSON pages) and sent from an ordinary task, so a client that stops
/// reading holds no thread and no view; one that stalls for
/// [`STREAM_STALL`] is cut off. A failure mid-stream aborts the body (the
/// client sees a broken chunked stream, never a short list that looks
/// whole).
fn stream_members(
    store: Arc<cohort::Store>,
    kind: cohort::SubjectKind,
    members: roaring::RoaringBitmap,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(2);
    tokio::spawn(async move {
        let members = Arc::new(members);
        let mut cursor = None;
        loop {
            let page = {
                let store = Arc::clone(&store);
                let members = Arc::clone(&members);
                tokio::task::spawn_blocking(move || {
                    let view = store.view();
                    // The instant is the listing's own; pages only carry it.
                    cohort::app::member_page(&view, kind, &members, 0, cursor, STREAM_CHUNK)
                })
                .await
            };
            let (ids, next) = match page {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "member stream failed");
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
            let mut lines = Vec::with_capacity(ids.len() * 16);
            for id in &ids {
                serde_json::to_writer(&mut lines, id).expect("a string serialises");
                lines.push(b'\n');
            }
            let sent = tokio::time::timeout(STREAM_STALL, tx.send(Ok(bytes::Bytes::from(lines))));
            if !matches!(sent.await, Ok(Ok(()))) {
                return; // the client went away, or stopped reading
            }
            match next {
                Some(c) => cursor = Some(c),
                None => return, // every member sent
            }
        }
    });
    let mut response = ChannelBody(rx).into_body().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

/// `/changes` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ChangesQuery {
    /// Records after this sequence number (default 0: from the start).
    after: Option<u64>,
    /// Records per answer, 1 to 10,000 (default 1,000).
    limit: Option<usize>,
    /// Seconds to wait for a record when there is none yet, 0 to 30
    /// (default 0): a long poll.
    wait: Option<u64>,
}

/// The most seconds a long poll of `/changes` waits.
const MAX_CHANGES_WAIT: u64 = 30;

/// The change feed of a live segment, oldest first, from a cursor: who
/// entered or left, when, why, and for an entry caused by an event, that
/// event (`docs/live-segments.md`). With `wait`, an answer with no record
/// waits up to that many seconds for one.
#[utoipa::path(
    get,
    path = "/v1/projects/{projectId}/segments/{name}/changes",
    tag = "segments",
    params(
        ("projectId" = String, Path, description = "The project"),
        ("name" = String, Path, description = "The segment"),
        ChangesQuery
    ),
    responses(
        (status = 200, description = "`{\"changes\": [{seq, segment, subjectType, subjectId, change, at, cause, entryEvent}], \"next\": SEQ}`: pass `next` as `after` to continue", body = Object),
        (status = 400, description = "A bad parameter", body = crate::ErrorBody),
        (status = 404, description = "No such segment", body = crate::ErrorBody),
        (status = 401, description = "No valid key of this project", body = crate::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn changes(
    Extension(project): Extension<Arc<Project>>,
    Path(path): Path<(String, String)>,
    Query(q): Query<ChangesQuery>,
) -> Result<Json<Value>, ApiError> {
    let (_, name) = path;
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(1000);
    if !(1..=MAX_MEMBER_PAGE).contains(&limit) {
        return Err(ApiError::bad_parameter(
            "limit",
            format!("must be 1 to {MAX_MEMBER_PAGE}, not {limit}"),
        ));
    }
    let wait = q.wait.unwrap_or(0);
    if wait > MAX_CHANGES_WAIT {
        return Err(ApiError::bad_parameter(
            "wait",
            format!("must be 0 to {MAX_CHANGES_WAIT} seconds, not {wait}"),
        ));
    }
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(wait);
    loop {
        let store = Arc::clone(&project.store);
        let segment = name.clone();
        let page =
            blocking(move || Ok(cohort::app::changes(&store, after, Some(&segment), limit)?))
                .await?;
        if !page.is_empty() || tokio::time::Instant::now() >= until {
            let next = page.last().map_or(after, |c| c.seq);
            let list: Vec<Value> = page.iter().map(cohort::app::change_json).collect();
            return Ok(Json(json!({ "changes": list, "next": next })));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
