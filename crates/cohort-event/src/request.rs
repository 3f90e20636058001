//! The rules of a track request (`docs/events.md`): its shape, and the
//! items of its `tags` and `userAttributes` groups (events follow
//! `validate.rs`).

use chrono::{DateTime, NaiveDate};

use crate::error::{FieldError, InvalidItem, RequestError};
use crate::model::Event;
use crate::profile::{Attribute, AttributeChange, Group, TagChange, TrackRequest};
use crate::raw::{self, Raw};
use crate::validate::{
    bounded_string, created_at, data_value, key_is_valid, key_path, subject_type, validate_event,
    Source, MAX_KEYS, MAX_STRING_BYTES, MAX_SUBJECT_ID_BYTES,
};

/// Most items in one group (`events`, `tags`, `userAttributes`) of a track
/// request.
pub const MAX_GROUP_ITEMS: usize = 100;
/// Longest `email` attribute, in bytes.
pub const MAX_EMAIL_BYTES: usize = 254;

/// One line of a bulk file: an event, or a whole track request.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A line holding one event.
    Event(Event),
    /// A line holding a track request (an object with `events`, `tags` or
    /// `userAttributes`), all or nothing.
    Request(TrackRequest),
}

/// Parses and validates a track request: an object with `events`, `tags`
/// and `userAttributes` groups, at least one of them, each of 1 to 100
/// items. All or nothing: any invalid item fails the whole request, and
/// the error lists every invalid item.
///
/// `received_at` (Unix ms) is when the request arrived: a `dob` may not be
/// later than that day.
pub fn parse_track_request(
    body: &[u8],
    source: Source,
    received_at: i64,
) -> Result<TrackRequest, RequestError> {
    let raw = raw::parse(body).map_err(|e| RequestError::Json(e.to_string()))?;
    validate_track_request(&raw, source, received_at)
}

/// Why a line of a bulk file was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// Whether the line was read as a track request (else as an event, or
    /// as no JSON at all).
    pub is_request: bool,
    /// Every broken rule; those of a request name their item
    /// (`tags[0].tags.plan`).
    pub errors: Vec<FieldError>,
}

/// Parses and validates one line of a bulk file: an event, or — when the
/// object has an `events`, `tags` or `userAttributes` field — a whole
/// track request.
pub fn parse_line(bytes: &[u8], source: Source, received_at: i64) -> Result<Line, LineError> {
    let raw = match raw::parse(bytes) {
        Ok(raw) => raw,
        Err(e) => {
            return Err(LineError {
                is_request: false,
                errors: vec![FieldError::new("", format!("invalid JSON: {e}"))],
            })
        }
    };
    let is_request = matches!(&raw, Raw::Object(entries)
        if entries.iter().any(|(k, _)| Group::ALL.iter().any(|g| g.as_str() == k)));
    let result = if is_request {
        validate_track_request(&raw, source, received_at)
            .map(Line::Request)
            .map_err(|e| e.field_errors())
    } else {
        validate_event(&raw, source).map(Line::Event)
    };
    result.map_err(|errors| LineError { is_request, errors })
}

pub(crate) fn validate_track_request(
    raw: &Raw<'_>,
    source: Source,
    received_at: i64,
) -> Result<TrackRequest, RequestError> {
    const SHAPE: &str = r#"a track request must be a JSON object with at least one of "events", "tags" and "userAttributes""#;
    let Raw::Object(entries) = raw else {
        return Err(RequestError::Shape(format!(
            "{SHAPE}, not {}",
            raw.type_name()
        )));
    };
    if !entries.is_whole() {
        return Err(RequestError::Shape(format!(
            "a track request has at most 3 fields (events, tags, userAttributes), not {}",
            entries.len()
        )));
    }
    let mut groups: [Option<&Raw<'_>>; 3] = [None; 3];
    for (key, value) in entries {
        let Some(g) = Group::ALL.iter().position(|g| g.as_str() == key) else {
            return Err(RequestError::Shape(format!(
                r#""{key}" is not a field of a track request (they are "events", "tags" and "userAttributes")"#
            )));
        };
        if groups[g].replace(value).is_some() {
            return Err(RequestError::Shape(format!(
                r#""{key}" appears more than once"#
            )));
        }
    }
    if groups.iter().all(Option::is_none) {
        return Err(RequestError::Shape(format!("{SHAPE}: it has none")));
    }
    let mut items = [&[][..], &[][..], &[][..]];
    for (slot, group) in items.iter_mut().zip(Group::ALL) {
        let Some(value) = groups[group as usize] else {
            continue;
        };
        let Raw::Array(array) = value else {
            return Err(RequestError::Shape(format!(
                r#""{group}" must be an array, not {}"#,
                value.type_name()
            )));
        };
        if array.is_empty() || array.len() > MAX_GROUP_ITEMS {
            return Err(RequestError::Shape(format!(
                r#""{group}" must hold 1 to {MAX_GROUP_ITEMS} items, not {}"#,
                array.len()
            )));
        }
        *slot = array.kept();
    }
    let mut request = TrackRequest::default();
    let mut invalid = Vec::new();
    let mut check = |group, index, errors: Vec<FieldError>| {
        invalid.push(InvalidItem {
            group,
            index,
            errors,
        })
    };
    for (index, item) in items[0].iter().enumerate() {
        match validate_event(item, source) {
            Ok(event) => request.events.push(event),
            Err(errors) => check(Group::Events, index, errors),
        }
    }
    for (index, item) in items[1].iter().enumerate() {
        match validate_tag_change(item) {
            Ok(change) => request.tags.push(change),
            Err(errors) => check(Group::Tags, index, errors),
        }
    }
    for (index, item) in items[2].iter().enumerate() {
        match validate_attribute_change(item, received_at) {
            Ok(change) => request.attributes.push(change),
            Err(errors) => check(Group::UserAttributes, index, errors),
        }
    }
    if invalid.is_empty() {
        Ok(request)
    } else {
        Err(RequestError::Items(invalid))
    }
}

/// The path of a tag key in messages and filters: `tags.plan`, or
/// `tags["a key"]` for keys that are not identifiers.
pub fn tag_path(key: &str) -> String {
    key_path("tags", key)
}

fn validate_tag_change(raw: &Raw<'_>) -> Result<TagChange, Vec<FieldError>> {
    const FIELDS: [&str; 4] = ["subjectType", "subjectId", "tags", "createdAt"];
    let entries = item_object(raw, "a tag change", FIELDS.len())?;
    let mut errors = Vec::new();
    let mut seen = [false; 4];
    let (mut kind, mut subject_id, mut time, mut tags) = (None, None, None, None);
    for (key, value) in entries {
        let Some(slot) = FIELDS.iter().position(|f| f == key) else {
            errors.push(FieldError::new(
                key.as_ref(),
                "is not a field of a tag change (the fields are subjectType, subjectId, tags, createdAt)",
            ));
            continue;
        };
        if std::mem::replace(&mut seen[slot], true) {
            errors.push(FieldError::new(key.as_ref(), "appears more than once"));
            continue;
        }
        match slot {
            0 => kind = subject_type(value, &mut errors),
            1 => subject_id = bounded_string("subjectId", value, MAX_SUBJECT_ID_BYTES, &mut errors),
            2 => tags = tag_values(value, &mut errors),
            _ => time = created_at(value, &mut errors),
        }
    }
    for (slot, name) in FIELDS.iter().enumerate().take(3) {
        if !seen[slot] {
            errors.push(FieldError::new(*name, "is required"));
        }
    }
    match (kind, subject_id, tags) {
        (Some(subject_kind), Some(subject_id), Some(tags)) if errors.is_empty() => Ok(TagChange {
            subject_kind,
            subject_id,
            time,
            tags,
        }),
        _ => Err(errors),
    }
}

/// A tag change's `tags`: 1 to 100 keys, keys as data keys, values as
/// data values, `null` deleting.
fn tag_values(
    value: &Raw<'_>,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<(String, Option<crate::Value>)>> {
    let entries = match value {
        Raw::Object(entries) => entries,
        other => {
            errors.push(FieldError::new(
                "tags",
                format!("must be an object, not {}", other.type_name()),
            ));
            return None;
        }
    };
    if entries.is_empty() || entries.len() > MAX_KEYS {
        errors.push(FieldError::new(
            "tags",
            format!("must have 1 to {MAX_KEYS} keys, not {}", entries.len()),
        ));
        return None;
    }
    let before = errors.len();
    let mut out: Vec<(String, Option<crate::Value>)> = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let seen = out.iter().any(|(k, _)| k == key);
        if !key_is_valid("tags", key, seen, errors) {
            continue;
        }
        let path = || tag_path(key);
        if let Raw::Null = value {
            out.push((key.clone().into_owned(), None));
        } else if let Some(v) = data_value(value, &path, errors) {
            out.push((key.clone().into_owned(), Some(v)));
        }
    }
    (errors.len() == before).then_some(out)
}

fn validate_attribute_change(
    raw: &Raw<'_>,
    received_at: i64,
) -> Result<AttributeChange, Vec<FieldError>> {
    const FIELDS: &str =
        "userId, name, email, phoneNumber, dob, timeZone, country, language, createdAt";
    let entries = item_object(raw, "a user-attributes change", 9)?;
    let mut errors = Vec::new();
    let (mut user_id, mut time, mut seen_id, mut seen_time) = (None, None, false, false);
    let mut values: Vec<(Attribute, Option<String>)> = Vec::new();
    for (key, value) in entries {
        let again = || FieldError::new(key.as_ref(), "appears more than once");
        match key.as_ref() {
            "userId" => {
                if std::mem::replace(&mut seen_id, true) {
                    errors.push(again());
                } else {
                    user_id = bounded_string("userId", value, MAX_SUBJECT_ID_BYTES, &mut errors);
                }
            }
            "createdAt" => {
                if std::mem::replace(&mut seen_time, true) {
                    errors.push(again());
                } else {
                    time = created_at(value, &mut errors);
                }
            }
            name => match Attribute::parse(name) {
                None => errors.push(FieldError::new(
                    name,
                    format!("is not a user attribute (the fields are {FIELDS})"),
                )),
                Some(a) if values.iter().any(|(b, _)| *b == a) => errors.push(again()),
                Some(a) => {
                    let checked = match value {
                        Raw::Null => Some(None),
                        Raw::Str(s) => match check_attribute(a, s, received_at) {
                            Ok(()) => Some(Some(s.clone().into_owned())),
                            Err(reason) => {
                                errors.push(FieldError::new(name, reason));
                                None
                            }
                        },
                        other => {
                            errors.push(FieldError::new(
                                name,
                                format!("must be a string or null, not {}", other.type_name()),
                            ));
                            None
                        }
                    };
                    // A rejected value still counts as named, so that an
                    // item is not also called empty.
                    values.push((a, checked.flatten()));
                }
            },
        }
    }
    if !seen_id {
        errors.push(FieldError::new("userId", "is required"));
    }
    // Said only when nothing else is wrong: an unknown field is the
    // likelier mistake.
    if values.is_empty() && errors.is_empty() {
        errors.push(FieldError::new(
            "",
            "names no attribute, so it changes nothing (the attributes are name, email, phoneNumber, dob, timeZone, country, language)",
        ));
    }
    match user_id {
        Some(user_id) if errors.is_empty() => Ok(AttributeChange {
            user_id,
            time,
            values,
        }),
        _ => Err(errors),
    }
}

/// The item's entries when it is an object (one of more than
/// `raw::MAX_KEPT` entries is refused by its count alone).
fn item_object<'r, 'a>(
    raw: &'r Raw<'a>,
    what: &str,
    fields: usize,
) -> Result<&'r raw::Items<(std::borrow::Cow<'a, str>, Raw<'a>)>, Vec<FieldError>> {
    match raw {
        Raw::Object(entries) if entries.is_whole() => Ok(entries),
        Raw::Object(entries) => Err(vec![FieldError::new(
            "",
            format!("{what} has at most {fields} fields, not {}", entries.len()),
        )]),
        other => Err(vec![FieldError::new(
            "",
            format!("{what} must be a JSON object, not {}", other.type_name()),
        )]),
    }
}

/// A value as shown in a message: quoted, and cut at 60 bytes.
fn shown(s: &str) -> String {
    if s.len() <= 60 {
        return format!("{s:?}");
    }
    let mut end = 60;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}…", &s[..end])
}

/// The rule of one attribute's value; `Err` holds the reason.
fn check_attribute(a: Attribute, s: &str, received_at: i64) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty (null clears it)".into());
    }
    match a {
        Attribute::Name if s.len() > MAX_STRING_BYTES => Err(format!(
            "must be at most {MAX_STRING_BYTES} bytes, not {}",
            s.len()
        )),
        Attribute::Name => Ok(()),
        Attribute::Email if s.len() > MAX_EMAIL_BYTES => Err(format!(
            "must be at most {MAX_EMAIL_BYTES} bytes, not {}",
            s.len()
        )),
        Attribute::Email => {
            let ok = match s.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.is_empty()
                        && !domain.contains('@')
                        && !s.chars().any(char::is_whitespace)
                }
                None => false,
            };
            if ok {
                Ok(())
            } else {
                Err(format!(
                    r#"must be an email address: one "@" with text on both sides and no spaces, not {}"#,
                    shown(s)
                ))
            }
        }
        Attribute::PhoneNumber => {
            let digits = s.strip_prefix('+').unwrap_or("");
            if (8..=15).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !digits.starts_with('0')
            {
                Ok(())
            } else {
                Err(format!(
                    r#"must be an E.164 number: "+" then 8 to 15 digits, the first not 0 (like "+821011112222"), not {}"#,
                    shown(s)
                ))
            }
        }
        Attribute::Dob => {
            let date = parse_date(s).ok_or_else(|| {
                format!(
                    "must be a real calendar date written YYYY-MM-DD (like \"1990-01-01\"), not {}",
                    shown(s)
                )
            })?;
            let today = latest_date_at(received_at);
            if date > today {
                Err(format!(
                    "must not be later than the day it is received ({today}), not {s}"
                ))
            } else {
                Ok(())
            }
        }
        Attribute::TimeZone => s.parse::<chrono_tz::Tz>().map(|_| ()).map_err(|_| {
            format!(
                r#"must be a time-zone name from the IANA database (like "Asia/Seoul" or "UTC"), not {}"#,
                shown(s)
            )
        }),
        Attribute::Country => isocountry::CountryCode::for_alpha2(s).map(|_| ()).map_err(|_| {
            format!(
                r#"must be an ISO 3166-1 alpha-2 country code in capitals (like "KR"), not {}"#,
                shown(s)
            )
        }),
        Attribute::Language => match isolang::Language::from_639_1(s) {
            Some(_) => Ok(()),
            None => Err(format!(
                r#"must be an ISO 639-1 language code in small letters (like "ko"), not {}"#,
                shown(s)
            )),
        },
    }
}

/// A `YYYY-MM-DD` date that exists on the calendar.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    NaiveDate::from_ymd_opt(n(0..4)? as i32, n(5..7)?, n(8..10)?)
}

/// The latest calendar date anywhere on Earth at `millis` (UTC+14): a date
/// of birth of "today" is accepted wherever the user is.
fn latest_date_at(millis: i64) -> NaiveDate {
    const PLUS_14H: i64 = 14 * 3_600_000;
    DateTime::from_timestamp_millis(millis.saturating_add(PLUS_14H))
        .map_or(NaiveDate::MAX, |t| t.date_naive())
}
