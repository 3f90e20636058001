//! Validation errors: what is wrong, and where.

use std::fmt;

/// One broken rule in one event: the field (a path such as `subjectId`,
/// `data.amount`, `data.tags[3]` or `data["product id"]`) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where in the event; empty when the problem is the event as a whole
    /// (not an object, not JSON).
    pub field: String,
    /// What is wrong, as a sentence fragment: `must not be empty`.
    pub reason: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, reason: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.field, self.reason)
        }
    }
}

/// The errors of one invalid event of a track request, by its index in the
/// request's `events` array (0-based, as in `events[2]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEvent {
    /// The event's index in `events`.
    pub index: usize,
    /// Every broken rule of that event.
    pub errors: Vec<FieldError>,
}

impl fmt::Display for InvalidEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            if e.field.is_empty() {
                write!(f, "events[{}]: {}", self.index, e.reason)?;
            } else {
                write!(f, "events[{}].{}: {}", self.index, e.field, e.reason)?;
            }
        }
        Ok(())
    }
}

/// Why a track request was refused. A request is all or nothing: when any
/// event is invalid, none is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The body is not valid JSON.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// The body is JSON but not a track request (`{"events": [...]}` with
    /// 1 to 100 events).
    #[error("{0}")]
    Shape(String),
    /// Some events broke the rules; every invalid event is listed.
    #[error("{} of the request's events are invalid: {}", .0.len(), list(.0))]
    Events(Vec<InvalidEvent>),
}

fn list(events: &[InvalidEvent]) -> String {
    events
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
