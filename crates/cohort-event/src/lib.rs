//! The event and profile model of cohort and the validation of track-API
//! input.
//!
//! This crate does no I/O. It turns bytes — one NDJSON line, or a track
//! request body `{"events": [ … ], "tags": [ … ], "userAttributes": [ … ]}`
//! — into validated [`Event`]s, [`TagChange`]s and [`AttributeChange`]s, or
//! into precise errors naming the item, the field and the reason,
//! following `docs/events.md`:
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
//! let now = 1_713_504_236_000;
//! let body = br#"{"tags":[{"subjectType":"user","subjectId":"u1","tags":{"plan":"pro","coupon":null}}],
//!                 "userAttributes":[{"userId":"u1","country":"KR"}]}"#;
//! let request = parse_track_request(body, Source::Client, now).unwrap();
//! assert_eq!(request.tags[0].tags[1], ("coupon".to_string(), None));
//!
//! let bad = br#"{"events":[{"subjectType":"user","subjectId":"","type":"@clicked"}],
//!                "userAttributes":[{"userId":"u1","phoneNumber":"010-1111"}]}"#;
//! let err = parse_track_request(bad, Source::Client, now).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "2 of the request's items are invalid: events[0].subjectId: must not be empty; \
//!      events[0].type: the \"@\" prefix is reserved for automatic events; \
//!      \"@clicked\" may only come from a system source; \
//!      userAttributes[0].phoneNumber: must be an E.164 number: \"+\" then 8 to 15 digits, \
//!      the first not 0 (like \"+821011112222\"), not \"010-1111\""
//! );
//! ```

mod error;
mod json;
mod model;
mod profile;
mod raw;
mod request;
mod time;
mod validate;

pub use error::{FieldError, InvalidItem, RequestError};
pub use json::{data_json, number_json};
pub use model::{
    is_automatic_type, Event, SubjectKind, TimeValue, Value, ValueKind, AUTOMATIC_EVENT_TYPES,
    FIRST_SESSION,
};
pub use profile::{Attribute, AttributeChange, Group, TagChange, TrackRequest};
pub use request::{
    parse_date, parse_line, parse_track_request, tag_path, Line, LineError, MAX_EMAIL_BYTES,
    MAX_GROUP_ITEMS,
};
pub use time::{format_millis, format_time_value, parse_rfc3339};
pub use validate::{
    data_path, parse_event, Source, MAX_ARRAY_LEN, MAX_KEYS, MAX_KEY_BYTES, MAX_MILLIS,
    MAX_STRING_BYTES, MAX_SUBJECT_ID_BYTES, MAX_TYPE_BYTES, MIN_MILLIS,
};
