//! Validation errors: what is wrong, and where.

use std::fmt;

use crate::profile::Group;

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

/// The errors of one invalid item of a track request: its group, its
/// index in that group's array (0-based, as in `tags[2]`), and every broken
/// rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidItem {
    /// The group the item is in.
    pub group: Group,
    /// The item's index in its group.
    pub index: usize,
    /// Every broken rule of that item.
    pub errors: Vec<FieldError>,
}

impl InvalidItem {
    /// The item's errors with fields that name the item too:
    /// `events[1].subjectId`, or `tags[0]` for the item as a whole.
    pub fn field_errors(&self) -> impl Iterator<Item = FieldError> + '_ {
        self.errors.iter().map(move |e| FieldError {
            field: if e.field.is_empty() {
                format!("{}[{}]", self.group, self.index)
            } else {
                format!("{}[{}].{}", self.group, self.index, e.field)
            },
            reason: e.reason.clone(),
        })
    }
}

impl fmt::Display for InvalidItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.field_errors().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Why a track request was refused. A request is all or nothing: when any
/// item is invalid, nothing is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The body is not valid JSON.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// The body is JSON but not a track request (an object with `events`,
    /// `tags` or `userAttributes`, each holding 1 to 100 items).
    #[error("{0}")]
    Shape(String),
    /// Some items broke the rules; every invalid item is listed, in group
    /// order (`events`, `tags`, `userAttributes`) and index order.
    #[error("{} of the request's items are invalid: {}", .0.len(), list(.0))]
    Items(Vec<InvalidItem>),
}

impl RequestError {
    /// Every error of the request as field errors, with fields that name
    /// the item (`tags[0].tags.plan`); a JSON or shape error is one error
    /// without a field.
    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            RequestError::Items(items) => {
                items.iter().flat_map(InvalidItem::field_errors).collect()
            }
            other => vec![FieldError::new("", other.to_string())],
        }
    }
}

fn list(items: &[InvalidItem]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
