//! The event model of cohort and the validation of track-API input.
//!
//! This crate does no I/O. It turns bytes — one NDJSON line, or a track
//! request body `{"events": [ … ]}` — into validated [`Event`]s, or into
//! precise errors naming the field and the reason, following
//! `docs/events.md`:
//!
//! ```
//! use cohort_event::{parse_event, parse_track_request, Source, Value};
//!
//! let line = br#"{"subjectType":"user","subjectId":"u1","type":"purchase",
//!                 "data":{"amount":10000},"createdAt":"2024-04-19T14:23:56+09:00"}"#;
//! let event = parse_event(line, Source::Client).unwrap();
//! assert_eq!(event.get("amount"), Some(&Value::Number(10000.0)));
//! assert_eq!(event.time, Some(1_713_504_236_000));
//!
//! let bad = br#"{"events":[{"subjectType":"user","subjectId":"","type":"@clicked"}]}"#;
//! let err = parse_track_request(bad, Source::Client).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "1 of the request's events are invalid: events[0].subjectId: must not be empty; \
//!      events[0].type: the \"@\" prefix is reserved for automatic events; \
//!      \"@clicked\" may only come from a system source"
//! );
//! ```

mod error;
mod json;
mod model;
mod raw;
mod time;
mod validate;

pub use error::{FieldError, InvalidEvent, RequestError};
pub use json::{data_json, number_json};
pub use model::{
    is_automatic_type, Event, SubjectKind, TimeValue, Value, ValueKind, AUTOMATIC_EVENT_TYPES,
    FIRST_SESSION,
};
pub use time::{format_millis, format_time_value, parse_rfc3339};
pub use validate::{
    data_path, parse_event, parse_track_request, Source, MAX_ARRAY_LEN, MAX_KEYS, MAX_KEY_BYTES,
    MAX_MILLIS, MAX_REQUEST_EVENTS, MAX_STRING_BYTES, MAX_SUBJECT_ID_BYTES, MAX_TYPE_BYTES,
    MIN_MILLIS,
};
