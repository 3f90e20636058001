//! The validated event model: what ingestion produces and the store keeps.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The two kinds of subject. Users and devices are separate namespaces:
/// user `"42"` and device `"42"` are different subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SubjectKind {
    /// A person known to the app (`"subjectType": "user"`).
    User,
    /// An installation or browser (`"subjectType": "device"`).
    Device,
}

impl SubjectKind {
    /// Both kinds, in their storage order (user = 0, device = 1).
    pub const ALL: [SubjectKind; 2] = [SubjectKind::User, SubjectKind::Device];

    /// The name used in JSON and on the command line: `user` or `device`.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::User => "user",
            SubjectKind::Device => "device",
        }
    }

    /// Parses `user` or `device`.
    pub fn parse(s: &str) -> Option<SubjectKind> {
        match s {
            "user" => Some(SubjectKind::User),
            "device" => Some(SubjectKind::Device),
            _ => None,
        }
    }

    /// The byte that stands for this kind in storage keys.
    pub fn tag(self) -> u8 {
        match self {
            SubjectKind::User => 0,
            SubjectKind::Device => 1,
        }
    }

    /// The kind a storage tag stands for.
    pub fn from_tag(tag: u8) -> Option<SubjectKind> {
        match tag {
            0 => Some(SubjectKind::User),
            1 => Some(SubjectKind::Device),
            _ => None,
        }
    }
}

impl fmt::Display for SubjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// An instant written in RFC 3339 form inside event data, kept with the UTC
/// offset it was written with so that it can be shown back as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeValue {
    /// Unix milliseconds (UTC).
    pub millis: i64,
    /// The offset from UTC the time was written with, in minutes.
    pub offset_minutes: i16,
}

/// One value in an event's `data`.
///
/// The variant order is part of the store's on-disk format (postcard encodes
/// the variant index): append new variants, never reorder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// JSON `null`: the key is present and null.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A finite number (JSON numbers are read as `f64`).
    Number(f64),
    /// A string that is not in RFC 3339 time form.
    String(String),
    /// A string in RFC 3339 form with `Z` or an offset.
    Time(TimeValue),
    /// An array of strings (an empty array is kept as an empty string array).
    Strings(Vec<String>),
    /// An array of numbers.
    Numbers(Vec<f64>),
}

impl Value {
    /// The kind of this value, as the catalog reports it.
    pub fn kind(&self) -> ValueKind {
        match self {
            Value::Null => ValueKind::Null,
            Value::Bool(_) => ValueKind::Bool,
            Value::Number(_) => ValueKind::Number,
            Value::String(_) => ValueKind::String,
            Value::Time(_) => ValueKind::Time,
            Value::Strings(_) => ValueKind::StringArray,
            Value::Numbers(_) => ValueKind::NumberArray,
        }
    }
}

/// The kinds of data value, as counted by the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ValueKind {
    /// `null`.
    Null,
    /// A boolean.
    Bool,
    /// A number.
    Number,
    /// A string.
    String,
    /// An RFC 3339 time string.
    Time,
    /// An array of strings.
    StringArray,
    /// An array of numbers.
    NumberArray,
}

impl ValueKind {
    /// Every kind, in the order the catalog stores their counts.
    pub const ALL: [ValueKind; 7] = [
        ValueKind::Null,
        ValueKind::Bool,
        ValueKind::Number,
        ValueKind::String,
        ValueKind::Time,
        ValueKind::StringArray,
        ValueKind::NumberArray,
    ];

    /// This kind's position in [`ValueKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// A short name: `null`, `boolean`, `number`, `string`, `time`,
    /// `string[]`, `number[]`.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueKind::Null => "null",
            ValueKind::Bool => "boolean",
            ValueKind::Number => "number",
            ValueKind::String => "string",
            ValueKind::Time => "time",
            ValueKind::StringArray => "string[]",
            ValueKind::NumberArray => "number[]",
        }
    }
}

impl fmt::Display for ValueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A validated event, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// User or device.
    pub subject_kind: SubjectKind,
    /// The subject's ID as the app knows it (1 to 256 bytes).
    pub subject_id: String,
    /// The event type (1 to 128 bytes; `@` types are automatic events).
    pub event_type: String,
    /// Unix milliseconds from `createdAt`; `None` when it was absent, in
    /// which case the store uses the time it received the event.
    pub time: Option<i64>,
    /// The `data` entries in the order they were written (keys are unique).
    pub data: Vec<(String, Value)>,
}

impl Event {
    /// Whether this is an automatic event (its type begins with `@`).
    pub fn is_automatic(&self) -> bool {
        is_automatic_type(&self.event_type)
    }

    /// The value of a data key, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.data.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// Whether an event type names an automatic event (begins with `@`).
pub fn is_automatic_type(event_type: &str) -> bool {
    event_type.starts_with('@')
}

/// The automatic event types the platform records, and the only `@` types a
/// system source may send.
pub const AUTOMATIC_EVENT_TYPES: [&str; 7] = [
    "@first_session",
    "@clicked",
    "@foreground_received",
    "@background_received",
    "@iam_displayed",
    "@iam_clicked",
    "@iam_closed",
];

/// The automatic event the store records for a device it sees for the first time.
pub const FIRST_SESSION: &str = "@first_session";
