//! The server crate's one error enum (projects, keys, binding), and the
//! HTTP error answer: one JSON shape everywhere.

use std::path::PathBuf;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value};

/// Why a project, key or server operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A project name breaks the rules.
    #[error("project name {name:?}: {reason}")]
    InvalidProjectName {
        /// The name.
        name: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A project of that name exists already.
    #[error("project {0:?} exists already")]
    ProjectExists(String),
    /// No project of that name.
    #[error("no project named {0:?} in this data directory")]
    NoSuchProject(String),
    /// No key with that id in the project.
    #[error("project {project:?} has no key {id:?}")]
    NoSuchKey {
        /// The project.
        project: String,
        /// The key id asked for.
        id: String,
    },
    /// The project's store is open in another process (a running server).
    #[error(
        "project {0:?} is in use by another process (a running `cohort serve`?); stop it first"
    )]
    ProjectInUse(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A project's key file is not what cohort writes.
    #[error("{}: not a key file cohort wrote: {reason}", path.display())]
    BadKeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The listening address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A store failed.
    #[error(transparent)]
    Store(#[from] cohort::StoreError),
}

/// The server crate's result type.
pub type Result<T, E = ServerError> = std::result::Result<T, E>;

pub(crate) fn io_error(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ServerError {
    let path = path.into();
    move |source| ServerError::Io { path, source }
}

/// An HTTP error answer: status, a stable code, a message, details.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// A stable, machine-readable code (`invalid_request`, `rate_limited`).
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
    /// What exactly was wrong: one entry per invalid item or position.
    pub details: Vec<Value>,
    /// Seconds after which a retry may succeed (`Retry-After`).
    pub retry_after: Option<u64>,
}

/// The error shape, `{"error": {"code", "message", "details"}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorInfo,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorInfo {
    /// A stable, machine-readable code.
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// What exactly was wrong (invalid items, a filter's position).
    #[schema(value_type = Vec<Object>)]
    pub details: Vec<Value>,
}

impl ApiError {
    /// An error without details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    /// With details.
    pub fn with_details(mut self, details: Vec<Value>) -> ApiError {
        self.details = details;
        self
    }

    /// With `Retry-After`.
    pub fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// `401`: the same answer for every failed authentication.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key of this project is required: Authorization: Bearer KEY",
        )
    }

    /// `404` for something named in the path.
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    /// `400` for a malformed parameter.
    pub fn bad_parameter(name: &str, message: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            format!("{name}: {message}"),
        )
        .with_details(vec![
            json!({"parameter": name, "reason": message.to_string()}),
        ])
    }

    /// `500`: the cause is logged, not shown.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(%cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed; the request may be retried",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "code": self.code,
            "message": self.message,
            "details": self.details,
        }});
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(s) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, s.into());
        }
        response
    }
}

impl From<cohort::app::Error> for ApiError {
    fn from(e: cohort::app::Error) -> ApiError {
        use cohort::app::Error as E;
        let bad = |code| ApiError::new(StatusCode::BAD_REQUEST, code, e.to_string());
        match &e {
            E::InvalidRequest(r) => {
                let details = r
                    .field_errors()
                    .into_iter()
                    .map(|f| json!({"field": f.field, "reason": f.reason}))
                    .collect();
                let code = match r {
                    cohort::RequestError::Json(_) => "invalid_json",
                    _ => "invalid_request",
                };
                bad(code).with_details(details)
            }
            E::InvalidFilter(p) => bad("invalid_filter").with_details(vec![json!({
                "line": p.line,
                "column": p.column,
                "expected": p.message,
                "caret": p.to_string(),
            })]),
            E::InvalidTime { .. } => bad("invalid_time"),
            E::InvalidSegmentName { .. } => bad("invalid_segment_name"),
            E::CanonicalTooLong { .. } => bad("filter_too_long"),
            E::InvalidIdempotencyKey { .. } => bad("invalid_idempotency_key"),
            E::InvalidCatalogEntry { .. } => bad("invalid_type_name"),
            E::InvalidCursor { .. } => bad("invalid_parameter"),
            E::Template(_) => bad("invalid_template"),
            E::InvalidEntryEvent { reasons } => bad("invalid_entry_event")
                .with_details(reasons.iter().map(|r| json!({"reason": r})).collect()),
            E::EntryEventSubject { .. } => bad("invalid_entry_event"),
            E::SegmentNotFound(_) | E::SubjectNotFound { .. } | E::ChangeNotFound(_) => {
                ApiError::not_found(e.to_string())
            }
            E::NoEntryEvent { .. } => bad("no_entry_event"),
            E::SegmentInUse { used_by, .. } => {
                ApiError::new(StatusCode::CONFLICT, "segment_in_use", e.to_string())
                    .with_details(used_by.iter().map(|s| json!({"segment": s})).collect())
            }
            E::BreaksSegment { .. } => {
                ApiError::new(StatusCode::CONFLICT, "breaks_segment", e.to_string())
            }
            E::IdempotencyConflict { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_conflict",
                e.to_string(),
            ),
            E::Eval(ev) => eval_error(ev, e.to_string()),
            E::Store(s) => store_error(s),
            _ => ApiError::internal(&e),
        }
    }
}

impl From<cohort::StoreError> for ApiError {
    fn from(e: cohort::StoreError) -> ApiError {
        ApiError::from(cohort::app::Error::from(e))
    }
}

fn eval_error(e: &cohort::eval::EvalError, message: String) -> ApiError {
    use cohort::eval::EvalError as V;
    match e {
        V::Store(s) => store_error(s),
        // Every other evaluation error is about the filter or the saved
        // segments it names: an unknown or cyclic segment, a limit.
        _ => ApiError::new(StatusCode::BAD_REQUEST, "invalid_filter", message),
    }
}

fn store_error(e: &cohort::StoreError) -> ApiError {
    use cohort::StoreError as S;
    match e {
        S::Invalid(r) => ApiError::from(cohort::app::Error::InvalidRequest(r.clone())),
        S::BadCursor(_) => ApiError::bad_parameter("before", e),
        S::BadTypeName { .. } => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_type_name", e.to_string())
        }
        S::Capacity { .. } => {
            ApiError::new(StatusCode::BAD_REQUEST, "capacity_reached", e.to_string())
        }
        _ => ApiError::internal(e),
    }
}
