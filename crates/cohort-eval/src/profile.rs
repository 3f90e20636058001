//! What a test means for one value, and the calendar of `age` and
//! `birthday` (docs/filter-language.md). Both evaluators call these, so
//! they agree on meaning by construction; the differential tests check
//! what each reads (a subject's history, or a field's column).

use chrono::{Datelike, NaiveDate, TimeZone};
use cohort_event::parse_date;
use cohort_filter::{Cmp, Literal, Test};
use cohort_store::Value;

/// One test of one value (`None`: the key or field is missing). A
/// missing value, a null, or a value of another type makes every
/// comparison false (`!=` included); `is null` is true for missing and
/// null.
pub fn test_value<P>(t: &Test<P>, value: Option<&Value>, now: i64) -> bool {
    match t {
        Test::Compare { cmp, literal, .. } => value.is_some_and(|v| compare(v, *cmp, literal, now)),
        Test::In { literals, .. } => {
            value.is_some_and(|v| literals.iter().any(|l| compare(v, Cmp::Eq, l, now)))
        }
        Test::Contains { literal, .. } => match (value, literal) {
            (Some(Value::String(s)), Literal::String(needle)) => s.contains(needle.as_str()),
            (Some(Value::Strings(items)), Literal::String(needle)) => {
                items.iter().any(|s| s == needle)
            }
            (Some(Value::Numbers(items)), Literal::Number(x)) => items.iter().any(|n| n == x),
            _ => false,
        },
        Test::StartsWith { value: prefix, .. } => {
            matches!(value, Some(Value::String(s)) if s.starts_with(prefix.as_str()))
        }
        Test::EndsWith { value: suffix, .. } => {
            matches!(value, Some(Value::String(s)) if s.ends_with(suffix.as_str()))
        }
        Test::Matches { pattern, .. } => match value {
            Some(Value::String(s)) => pattern.is_match(s),
            _ => false,
        },
        Test::IsNull { negated, .. } => {
            let null = matches!(value, None | Some(Value::Null));
            null != *negated
        }
    }
}

fn compare_f64(a: f64, cmp: Cmp, b: f64) -> bool {
    a.partial_cmp(&b).is_some_and(|o| cmp.holds(o))
}

/// A value against a literal: same kinds only, and times against time
/// literals (a number is read as Unix milliseconds there).
fn compare(v: &Value, cmp: Cmp, literal: &Literal, now: i64) -> bool {
    match (v, literal) {
        (Value::Number(x), Literal::Number(y)) => compare_f64(*x, cmp, *y),
        (Value::String(s), Literal::String(t)) => cmp.holds(s.as_bytes().cmp(t.as_bytes())),
        (Value::Bool(a), Literal::Bool(b)) => cmp.holds(a.cmp(b)),
        (Value::Time(t), Literal::Time(at)) => cmp.holds(t.millis.cmp(&at.resolve(now))),
        (Value::Number(x), Literal::Time(at)) => compare_f64(*x, cmp, at.resolve(now) as f64),
        _ => false,
    }
}

/// A user's `dob` and `timeZone` at `now`, as stored (strings).
#[derive(Debug, Clone, Copy, Default)]
pub struct Birth<'a> {
    /// `YYYY-MM-DD`, when set.
    pub dob: Option<&'a str>,
    /// An IANA zone name, when set.
    pub time_zone: Option<&'a str>,
}

impl Birth<'_> {
    /// The calendar date of `now` in `time_zone` (UTC when unset, or —
    /// never for a validated value — unknown).
    pub fn today_in(time_zone: Option<&str>, now: i64) -> Option<NaiveDate> {
        let utc = chrono::DateTime::from_timestamp_millis(now)?;
        let zone = time_zone
            .and_then(|z| z.parse::<chrono_tz::Tz>().ok())
            .unwrap_or(chrono_tz::UTC);
        Some(zone.from_utc_datetime(&utc.naive_utc()).date_naive())
    }

    /// `age`: whole years from `dob` to today's date in the user's zone,
    /// one more on each birthday (29 February falls on 28 February in
    /// other years); `None` without `dob` or when `dob` is later.
    pub fn age(&self, now: i64) -> Option<i64> {
        self.age_on(Birth::today_in(self.time_zone, now)?)
    }

    /// `age` when the user's date is `today`.
    pub fn age_on(&self, today: NaiveDate) -> Option<i64> {
        let dob = parse_date(self.dob?)?;
        if dob > today {
            return None;
        }
        let years = i64::from(today.year() - dob.year());
        Some(if today < birthday_in(dob, today.year()) {
            years - 1
        } else {
            years
        })
    }

    /// `birthday`: today's date in the user's zone has the month and day
    /// of `dob` (29 February: 28 February in other years).
    pub fn is_birthday(&self, now: i64) -> bool {
        Birth::today_in(self.time_zone, now).is_some_and(|d| self.is_birthday_on(d))
    }

    /// `birthday` when the user's date is `today`.
    pub fn is_birthday_on(&self, today: NaiveDate) -> bool {
        self.dob
            .and_then(parse_date)
            .is_some_and(|dob| birthday_in(dob, today.year()) == today)
    }
}

/// The date of the birthday in `year`.
fn birthday_in(dob: NaiveDate, year: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, dob.month(), dob.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, 2, 28))
        .unwrap_or(dob)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        cohort_store::parse_rfc3339(s).unwrap().millis
    }

    #[test]
    fn age_and_birthday_follow_the_users_calendar() {
        // The spec's worked examples: now = 2026-06-01T00:00:00Z.
        let now = at("2026-06-01T00:00:00Z");
        let a = Birth {
            dob: Some("1990-06-01"),
            time_zone: Some("Asia/Seoul"),
        };
        let b = Birth {
            dob: Some("2000-05-31"),
            time_zone: Some("America/Los_Angeles"),
        };
        assert_eq!(a.age(now), Some(36));
        assert_eq!(b.age(now), Some(26), "05-31 17:00 in Los Angeles");
        assert!(a.is_birthday(now) && b.is_birthday(now));
        let b_utc = Birth {
            time_zone: None,
            ..b
        };
        assert!(!b_utc.is_birthday(now), "in UTC it is 06-01");
        assert_eq!(b_utc.age(now), Some(26));
        let leap = Birth {
            dob: Some("2000-02-29"),
            time_zone: None,
        };
        assert!(leap.is_birthday(at("2027-02-28T12:00:00Z")));
        assert_eq!(leap.age(at("2027-02-27T12:00:00Z")), Some(26));
        assert_eq!(leap.age(at("2027-02-28T00:00:00Z")), Some(27));
        assert!(leap.is_birthday(at("2028-02-29T00:00:00Z")));
        assert!(!leap.is_birthday(at("2028-02-28T00:00:00Z")));
        let unborn = Birth {
            dob: Some("2026-06-02"),
            time_zone: None,
        };
        assert_eq!(unborn.age(now), None);
        assert_eq!(Birth::default().age(now), None);
        assert!(!Birth::default().is_birthday(now));
    }
}
