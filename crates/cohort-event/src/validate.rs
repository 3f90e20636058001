//! The rules of `docs/events.md`, applied to one event or one track request.

use std::borrow::Cow;

use crate::error::FieldError;
use crate::model::{Event, SubjectKind, Value, AUTOMATIC_EVENT_TYPES};
use crate::raw::{self, Items, Num, Raw};
use crate::time::parse_rfc3339;

/// Longest subject ID, in bytes.
pub const MAX_SUBJECT_ID_BYTES: usize = 256;
/// Longest event type, in bytes.
pub const MAX_TYPE_BYTES: usize = 128;
/// Longest data string, in bytes.
pub const MAX_STRING_BYTES: usize = 1024;
/// Longest data key, in bytes.
pub const MAX_KEY_BYTES: usize = 128;
/// Most data keys in one event.
pub const MAX_KEYS: usize = 100;
/// Most elements in one data array.
pub const MAX_ARRAY_LEN: usize = 100;

/// Earliest accepted `createdAt`: 0000-01-01T00:00:00Z.
pub const MIN_MILLIS: i64 = -62_167_219_200_000;
/// Latest accepted `createdAt`: 9999-12-31T23:59:59.999Z.
pub const MAX_MILLIS: i64 = 253_402_300_799_999;

/// Who is sending events. Only a system source may send automatic (`@`) events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// An ordinary client of the track API (the default): `@` types are refused.
    #[default]
    Client,
    /// A trusted source (an SDK relay, a replay of exported data): may send
    /// the types in [`AUTOMATIC_EVENT_TYPES`].
    System,
}

/// Parses and validates one event from JSON bytes (one NDJSON line).
///
/// Returns every broken rule of the event, or the event.
pub fn parse_event(json: &[u8], source: Source) -> Result<Event, Vec<FieldError>> {
    match raw::parse(json) {
        Ok(raw) => validate_event(&raw, source),
        Err(e) => Err(vec![FieldError::new("", format!("invalid JSON: {e}"))]),
    }
}

/// Applies every rule to one parsed event.
pub(crate) fn validate_event(raw: &Raw<'_>, source: Source) -> Result<Event, Vec<FieldError>> {
    let Raw::Object(entries) = raw else {
        return Err(vec![FieldError::new(
            "",
            format!("an event must be a JSON object, not {}", raw.type_name()),
        )]);
    };
    if !entries.is_whole() {
        return Err(vec![FieldError::new(
            "",
            format!(
                "an event has at most 5 fields (subjectType, subjectId, type, data, createdAt), not {}",
                entries.len()
            ),
        )]);
    }
    let mut errors = Vec::new();
    let mut seen = [false; 5];
    let mut kind = None;
    let mut subject_id = None;
    let mut event_type = None;
    let mut time = None;
    let mut data = Vec::new();
    for (key, value) in entries {
        let slot = match key.as_ref() {
            "subjectType" => 0,
            "subjectId" => 1,
            "type" => 2,
            "data" => 3,
            "createdAt" => 4,
            other => {
                errors.push(FieldError::new(
                    other,
                    "is not a field of an event (the fields are subjectType, subjectId, type, data, createdAt)",
                ));
                continue;
            }
        };
        if std::mem::replace(&mut seen[slot], true) {
            errors.push(FieldError::new(key.as_ref(), "appears more than once"));
            continue;
        }
        match slot {
            0 => kind = subject_type(value, &mut errors),
            1 => subject_id = bounded_string("subjectId", value, MAX_SUBJECT_ID_BYTES, &mut errors),
            2 => {
                event_type = bounded_string("type", value, MAX_TYPE_BYTES, &mut errors)
                    .filter(|t| automatic_rule(t, source, &mut errors))
            }
            3 => data = data_object(value, &mut errors),
            _ => time = created_at(value, &mut errors),
        }
    }
    for (slot, name) in [(0, "subjectType"), (1, "subjectId"), (2, "type")] {
        if !seen[slot] {
            errors.push(FieldError::new(name, "is required"));
        }
    }
    match (kind, subject_id, event_type) {
        (Some(subject_kind), Some(subject_id), Some(event_type)) if errors.is_empty() => {
            Ok(Event {
                subject_kind,
                subject_id,
                event_type,
                time,
                data,
            })
        }
        _ => Err(errors),
    }
}

pub(crate) fn subject_type(value: &Raw<'_>, errors: &mut Vec<FieldError>) -> Option<SubjectKind> {
    let found = match value {
        Raw::Str(s) => match SubjectKind::parse(s) {
            Some(kind) => return Some(kind),
            None => format!("{:?}", s.as_ref()),
        },
        other => other.type_name().to_string(),
    };
    errors.push(FieldError::new(
        "subjectType",
        format!(r#"must be "user" or "device", not {found}"#),
    ));
    None
}

pub(crate) fn bounded_string(
    field: &str,
    value: &Raw<'_>,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match value {
        Raw::Str(s) if s.is_empty() => errors.push(FieldError::new(field, "must not be empty")),
        Raw::Str(s) if s.len() > max => errors.push(FieldError::new(
            field,
            format!("must be at most {max} bytes, not {}", s.len()),
        )),
        Raw::Str(s) => return Some(s.clone().into_owned()),
        other => errors.push(FieldError::new(
            field,
            format!("must be a string, not {}", other.type_name()),
        )),
    }
    None
}

/// The automatic-event rule; returns whether the type may be stored.
fn automatic_rule(event_type: &str, source: Source, errors: &mut Vec<FieldError>) -> bool {
    if !event_type.starts_with('@') {
        return true;
    }
    match source {
        Source::Client => {
            errors.push(FieldError::new(
                "type",
                format!(
                    r#"the "@" prefix is reserved for automatic events; "{event_type}" may only come from a system source"#
                ),
            ));
            false
        }
        Source::System if AUTOMATIC_EVENT_TYPES.contains(&event_type) => true,
        Source::System => {
            errors.push(FieldError::new(
                "type",
                format!(
                    r#""{event_type}" is not an automatic event type (they are {})"#,
                    AUTOMATIC_EVENT_TYPES.join(", ")
                ),
            ));
            false
        }
    }
}

pub(crate) fn created_at(value: &Raw<'_>, errors: &mut Vec<FieldError>) -> Option<i64> {
    let millis = match value {
        Raw::Null => return None,
        Raw::Str(s) => match parse_rfc3339(s) {
            Some(t) => t.millis,
            None => {
                errors.push(FieldError::new(
                    "createdAt",
                    format!(
                        r#"must be an RFC 3339 time with Z or an offset, like "2024-04-19T14:23:56+09:00", not {:?}"#,
                        s.as_ref()
                    ),
                ));
                return None;
            }
        },
        Raw::Num(Num::U(u)) => i64::try_from(*u).unwrap_or(i64::MAX),
        Raw::Num(Num::I(i)) => *i,
        Raw::Num(Num::F(f)) if f.fract() == 0.0 && f.abs() < 9.2e18 => *f as i64,
        // Whole but past i64 (1e20): out of range, said below.
        Raw::Num(Num::F(f)) if f.fract() == 0.0 => {
            if f.is_sign_negative() {
                i64::MIN
            } else {
                i64::MAX
            }
        }
        Raw::Num(Num::F(f)) => {
            errors.push(FieldError::new(
                "createdAt",
                format!("must be a whole number of Unix milliseconds, not {f}"),
            ));
            return None;
        }
        other => {
            errors.push(FieldError::new(
                "createdAt",
                format!(
                    "must be an RFC 3339 time string or a whole number of Unix milliseconds, not {}",
                    other.type_name()
                ),
            ));
            return None;
        }
    };
    if !(MIN_MILLIS..=MAX_MILLIS).contains(&millis) {
        errors.push(FieldError::new(
            "createdAt",
            "must be between the years 0000 and 9999",
        ));
        return None;
    }
    Some(millis)
}

/// The path of a data key as the filter language writes it: `data.amount`,
/// or `data["product id"]` for keys that are not identifiers. Keys longer
/// than 40 bytes are cut short with `…` so that messages stay readable.
pub fn data_path(key: &str) -> String {
    key_path("data", key)
}

/// `PREFIX.key`, or `PREFIX["key"]` when the key is not an identifier (or
/// longer than 40 bytes, then cut short with `…`).
pub(crate) fn key_path(prefix: &str, key: &str) -> String {
    let ident = key
        .bytes()
        .enumerate()
        .all(|(i, b)| b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()));
    if ident && !key.is_empty() && key.len() <= 40 {
        format!("{prefix}.{key}")
    } else {
        let shown: Cow<'_, str> = if key.len() > 40 {
            let mut end = 40;
            while !key.is_char_boundary(end) {
                end -= 1;
            }
            Cow::Owned(format!("{}…", &key[..end]))
        } else {
            Cow::Borrowed(key)
        };
        format!(
            "{prefix}[{}]",
            serde_json::to_string(&shown).unwrap_or_default()
        )
    }
}

fn data_object(value: &Raw<'_>, errors: &mut Vec<FieldError>) -> Vec<(String, Value)> {
    let entries = match value {
        Raw::Null => return Vec::new(),
        Raw::Object(entries) => entries,
        other => {
            errors.push(FieldError::new(
                "data",
                format!("must be an object, not {}", other.type_name()),
            ));
            return Vec::new();
        }
    };
    if entries.len() > MAX_KEYS {
        errors.push(FieldError::new(
            "data",
            format!("must have at most {MAX_KEYS} keys, not {}", entries.len()),
        ));
        return Vec::new();
    }
    let mut out: Vec<(String, Value)> = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let seen = out.iter().any(|(k, _)| k == key);
        if !key_is_valid("data", key, seen, errors) {
            continue;
        }
        if let Some(v) = data_value(value, &|| data_path(key), errors) {
            out.push((key.clone().into_owned(), v));
        }
    }
    out
}

/// The rules of a data or tag key (under `group`, `data` or `tags`): not
/// empty, at most 128 bytes, not `seen` before in its object. Says what
/// is wrong and returns false, or returns true.
pub(crate) fn key_is_valid(
    group: &str,
    key: &str,
    seen: bool,
    errors: &mut Vec<FieldError>,
) -> bool {
    if key.is_empty() {
        errors.push(FieldError::new(group, "keys must not be empty"));
        return false;
    }
    if key.len() > MAX_KEY_BYTES {
        errors.push(FieldError::new(
            key_path(group, key),
            format!(
                "key must be at most {MAX_KEY_BYTES} bytes, not {}",
                key.len()
            ),
        ));
        return false;
    }
    if seen {
        errors.push(FieldError::new(
            key_path(group, key),
            "appears more than once",
        ));
        return false;
    }
    true
}

pub(crate) fn data_value(
    value: &Raw<'_>,
    path: &dyn Fn() -> String,
    errors: &mut Vec<FieldError>,
) -> Option<Value> {
    Some(match value {
        Raw::Null => Value::Null,
        Raw::Bool(b) => Value::Bool(*b),
        Raw::Num(n) => Value::Number(finite(n.as_f64(), path, errors)?),
        Raw::Str(s) => {
            check_string_len(s, path, errors)?;
            match parse_rfc3339(s) {
                Some(t) => Value::Time(t),
                None => Value::String(s.clone().into_owned()),
            }
        }
        Raw::Object(_) => {
            errors.push(FieldError::new(
                path(),
                "nested objects are not allowed; flatten the key instead",
            ));
            return None;
        }
        Raw::Array(items) => return data_array(items, path, errors),
    })
}

fn finite(x: f64, path: &dyn Fn() -> String, errors: &mut Vec<FieldError>) -> Option<f64> {
    if x.is_finite() {
        Some(x)
    } else {
        errors.push(FieldError::new(path(), "number must be finite"));
        None
    }
}

fn check_string_len(
    s: &str,
    path: &dyn Fn() -> String,
    errors: &mut Vec<FieldError>,
) -> Option<()> {
    if s.len() > MAX_STRING_BYTES {
        errors.push(FieldError::new(
            path(),
            format!(
                "string must be at most {MAX_STRING_BYTES} bytes, not {}",
                s.len()
            ),
        ));
        return None;
    }
    Some(())
}

fn data_array(
    items: &Items<Raw<'_>>,
    path: &dyn Fn() -> String,
    errors: &mut Vec<FieldError>,
) -> Option<Value> {
    if items.len() > MAX_ARRAY_LEN {
        errors.push(FieldError::new(
            path(),
            format!(
                "array must have at most {MAX_ARRAY_LEN} elements, not {}",
                items.len()
            ),
        ));
        return None;
    }
    let before = errors.len();
    let (mut strings, mut numbers) = (Vec::new(), Vec::new());
    for (i, item) in items.iter().enumerate() {
        let at = || format!("{}[{i}]", path());
        match item {
            Raw::Str(s) => {
                if check_string_len(s, &at, errors).is_some() {
                    strings.push(s.clone().into_owned());
                }
            }
            Raw::Num(n) => {
                if let Some(x) = finite(n.as_f64(), &at, errors) {
                    numbers.push(x);
                }
            }
            Raw::Array(_) => errors.push(FieldError::new(at(), "nested arrays are not allowed")),
            other => errors.push(FieldError::new(
                at(),
                format!(
                    "array elements must be strings or numbers, not {}",
                    other.type_name()
                ),
            )),
        }
    }
    if errors.len() > before {
        return None;
    }
    match (strings.is_empty(), numbers.is_empty()) {
        (_, true) => Some(Value::Strings(strings)),
        (true, false) => Some(Value::Numbers(numbers)),
        (false, false) => {
            errors.push(FieldError::new(
                path(),
                "array mixes strings and numbers; all elements must be of one kind",
            ));
            None
        }
    }
}
