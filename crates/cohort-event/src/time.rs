//! RFC 3339 times: strict recognition, parsing to Unix milliseconds, and
//! formatting back.
//!
//! Recognition is strict on purpose: a data string is stored as a *time*
//! only when it has exactly the RFC 3339 shape
//! `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, so that ordinary strings
//! such as `"2024-04-19"` or `"12:00"` stay strings.

use chrono::{DateTime, FixedOffset, TimeZone, Utc};

use crate::model::TimeValue;

/// Parses an RFC 3339 time with `Z` or an offset (`T`/`t` and `Z`/`z` as
/// RFC 3339 allows; no space separator). Fractions finer than a millisecond
/// are truncated. Returns `None` for anything else.
pub fn parse_rfc3339(s: &str) -> Option<TimeValue> {
    if !has_rfc3339_shape(s.as_bytes()) {
        return None;
    }
    let dt = DateTime::parse_from_rfc3339(s).ok()?;
    let offset_seconds = dt.offset().local_minus_utc();
    Some(TimeValue {
        millis: dt.timestamp_millis(),
        offset_minutes: (offset_seconds / 60) as i16,
    })
}

/// A cheap check of the byte layout, so that most strings are dismissed
/// without calling the full parser.
fn has_rfc3339_shape(b: &[u8]) -> bool {
    let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b[i].is_ascii_digit());
    if b.len() < 20 || b.len() > 40 {
        return false;
    }
    if !(digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b'T' || b[10] == b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19))
    {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// Formats Unix milliseconds as RFC 3339 in UTC, with milliseconds:
/// `2024-04-19T05:23:56.000Z`.
pub fn format_millis(millis: i64) -> String {
    match Utc.timestamp_millis_opt(millis).single() {
        Some(dt) => dt.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => format!("{millis}ms"),
    }
}

/// Formats a data time with the offset it was written with.
pub fn format_time_value(t: TimeValue) -> String {
    let offset = FixedOffset::east_opt(i32::from(t.offset_minutes) * 60)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
    match offset.timestamp_millis_opt(t.millis).single() {
        Some(dt) => {
            let fmt = if t.millis.rem_euclid(1000) == 0 {
                chrono::SecondsFormat::Secs
            } else {
                chrono::SecondsFormat::Millis
            };
            dt.to_rfc3339_opts(fmt, true)
        }
        None => format!("{}ms", t.millis),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_and_fractions() {
        let t = parse_rfc3339("2024-04-19T14:23:56+09:00").unwrap();
        assert_eq!(t.millis, 1_713_504_236_000);
        assert_eq!(t.offset_minutes, 540);
        let t = parse_rfc3339("1997-01-01T00:00:00.000Z").unwrap();
        assert_eq!(t.millis, 852_076_800_000);
        let t = parse_rfc3339("2026-01-01T09:30:00.5+09:00").unwrap();
        assert_eq!(t.millis % 1000, 500);
        let t = parse_rfc3339("1969-12-31T23:59:59.999Z").unwrap();
        assert_eq!(t.millis, -1);
    }

    #[test]
    fn rejects_other_shapes() {
        for s in [
            "2024-04-19",
            "2024-04-19 14:23:56Z",
            "2024-04-19T14:23:56",
            "2024-04-19T14:23:56+0900",
            "2024-13-19T14:23:56Z",
            "2024-04-19T14:23:56.Z",
            "hello world, this is long",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
    }

    #[test]
    fn formats_back_as_written() {
        let t = parse_rfc3339("2024-04-19T14:23:56+09:00").unwrap();
        assert_eq!(format_time_value(t), "2024-04-19T14:23:56+09:00");
        assert_eq!(format_millis(852_076_800_000), "1997-01-01T00:00:00.000Z");
    }
}
