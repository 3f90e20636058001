//! `POST /evaluate` (an unsaved filter) and `POST /render` (a Liquid
//! template for one subject).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use cohort::eval::{Executor, StoreSegments};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{blocking, listing_at, now_param, subject_kind};
use crate::body::{parse, read_json};
use crate::error::ApiError;
use crate::state::{AppState, Project};

/// A filter to evaluate without saving it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct EvaluateBody {
    /// The filter (`filter-language.md`).
    filter: String,
    /// `user` (default) or `device`.
    subject_type: Option<String>,
    /// The evaluation instant: RFC 3339, a date, or Unix ms (default: now).
    now: Option<String>,
    /// Members in the first page, 0 to 10,000 (default 100).
    limit: Option<usize>,
    /// The `next` of a previous answer for the same filter, to continue.
    after: Option<String>,
}

/// Evaluates an unsaved filter: the count and the first page of members.
#[utoipa::path(
    post,
    path = "/v1/projects/{projectId}/evaluate",
    tag = "segments",
    params(("projectId" = String, Path, description = "The project")),
    request_body(content = EvaluateBody, content_type = "application/json"),
    responses(
        (status = 200, description = "`{\"count\": N, \"members\": [IDs], \"next\": CURSOR or null}`", body = Object),
        (status = 400, description = "A bad filter: line, column, caret, what was expected", body = crate::ErrorBody),
        (status = 401, description = "No valid key of this project", body = crate::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn evaluate(
    State(state): State<Arc<AppState>>,
    Extension(project): Extension<Arc<Project>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = read_json(&headers, body, state.config.body_limit).await?;
    let q: EvaluateBody = parse(&bytes)?;
    let kind = subject_kind(q.subject_type.as_deref())?;
    let limit = q.limit.unwrap_or(100);
    if limit > 10_000 {
        return Err(ApiError::bad_parameter(
            "limit",
            format!("must be 0 to 10000, not {limit}"),
        ));
    }
    let (now, cursor) = listing_at(q.after.as_deref(), q.now.as_deref())?;
    let filter = cohort::app::parse_filter(&q.filter, kind)?;
    let permit = state.read_permit()?;
    let store = Arc::clone(&project.store);
    blocking(move || {
        let _permit = permit;
        let view = store.view();
        let request = cohort::app::EvalRequest {
            now,
            kind,
            executor: Executor::shared(),
        };
        let e = cohort::app::evaluate(&view, &[filter], &StoreSegments::new(&store), &request)?
            .pop()
            .expect("one result per filter");
        let (ids, next) = cohort::app::member_page(&view, kind, &e.members, now, cursor, limit)?;
        Ok(Json(json!({
            "count": e.members.len(),
            "universe": e.universe,
            "now": cohort::format_millis(now),
            "members": ids,
            "next": next.map(|c| c.to_string()),
        })))
    })
    .await
}

/// A template to render for one subject.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RenderBody {
    /// `user` (default) or `device`.
    subject_type: Option<String>,
    /// The subject (may be left out with `change`).
    subject_id: Option<String>,
    /// The Liquid template (`personalization.md`).
    template: String,
    /// The instant to read the profile at (default: now).
    now: Option<String>,
    /// The entry event, whole (track-API form; its subject must be this one).
    #[schema(value_type = Option<Object>)]
    entry_event: Option<Value>,
    /// Or: use the subject's latest event of this type at or before `now`.
    entry_event_type: Option<String>,
    /// Or: the subject and entry event of this change record of a live
    /// segment (`now` defaults to the change's instant).
    change: Option<u64>,
}

/// Renders a Liquid template for one subject, with its profile at `now`
/// and the entry event.
#[utoipa::path(
    post,
    path = "/v1/projects/{projectId}/render",
    tag = "personalization",
    params(("projectId" = String, Path, description = "The project")),
    request_body(content = RenderBody, content_type = "application/json"),
    responses(
        (status = 200, description = "`{\"text\": ..., \"entryEvent\": {type, createdAt, data} or null}`", body = Object),
        (status = 400, description = "A bad template or entry event", body = crate::ErrorBody),
        (status = 404, description = "No such subject", body = crate::ErrorBody),
        (status = 401, description = "No valid key of this project", body = crate::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn render(
    State(state): State<Arc<AppState>>,
    Extension(project): Extension<Arc<Project>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = read_json(&headers, body, state.config.body_limit).await?;
    let q: RenderBody = parse(&bytes)?;
    let kind = subject_kind(q.subject_type.as_deref())?;
    if q.change.is_some() && (q.entry_event.is_some() || q.entry_event_type.is_some()) {
        return Err(ApiError::bad_parameter(
            "change",
            "give change, entryEvent or entryEventType, not two",
        ));
    }
    if q.change.is_none() && q.subject_id.is_none() {
        return Err(ApiError::bad_parameter(
            "subjectId",
            "required (unless change names the subject)",
        ));
    }
    let entry = match (q.entry_event, q.entry_event_type) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_parameter(
                "entryEvent",
                "give entryEvent or entryEventType, not both",
            ))
        }
        (Some(e), None) => {
            cohort::app::Entry::Given(cohort::app::parse_entry_event(e.to_string().as_bytes())?)
        }
        (None, Some(t)) => cohort::app::Entry::LatestOfType(t),
        (None, None) => cohort::app::Entry::None,
    };
    let permit = state.read_permit()?;
    let store = Arc::clone(&project.store);
    blocking(move || {
        let _permit = permit;
        let template = cohort::app::check_template(&q.template)?;
        let (kind, id, entry, at) = match q.change {
            Some(seq) => {
                let (change, event) = cohort::app::entry_of_change(&store, seq)?;
                if q.subject_id
                    .as_ref()
                    .is_some_and(|id| *id != change.subject)
                    || (q.subject_type.is_some() && kind != change.kind)
                {
                    return Err(ApiError::bad_parameter(
                        "subjectId",
                        format!("change {seq} is about {} {:?}", change.kind, change.subject),
                    ));
                }
                let entry = cohort::app::Entry::Given(event);
                (change.kind, change.subject, entry, Some(change.at))
            }
            None => (kind, q.subject_id.unwrap_or_default(), entry, None),
        };
        let now = match (q.now.as_deref(), at) {
            (None, Some(at)) => at,
            (now, _) => now_param(now)?,
        };
        let view = store.view();
        let rendered = cohort::app::render_message(&view, kind, &id, now, &entry, &template)?;
        let entry_event = rendered
            .entry_event
            .as_ref()
            .map(cohort::app::entry_event_json);
        Ok(Json(
            json!({ "text": rendered.text, "entryEvent": entry_event }),
        ))
    })
    .await
}
