//! Profile conditions (`tag.K …`, `user.ATTR …`, `age …`, `birthday`),
//! answered from profile columns: each field's history for every subject,
//! read from the store's field-ordered `profile_index` (and kept decoded
//! by the store while no profile changes, `View::profile_history`), taken
//! at `now` — no subject's history and no event block is read.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use cohort_event::Attribute;
use cohort_filter::{ProfilePath, Test};
use cohort_store::{Field, FieldHistory, SubjectKind, Value, View};
use roaring::RoaringBitmap;

use super::Finish;
use crate::profile::{test_value, Birth};

/// A field a profile condition reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum FieldName {
    Tag(String),
    Attribute(Attribute),
}

/// The profile columns of one evaluation: per field, its history, read at
/// `now`.
pub(crate) struct Columns {
    fields: HashMap<FieldName, Arc<FieldHistory>>,
    now: i64,
}

impl Columns {
    /// Reads the columns `fields` name, once each.
    pub fn load(
        view: &View<'_>,
        kind: SubjectKind,
        fields: &[FieldName],
        now: i64,
    ) -> cohort_store::Result<Columns> {
        let mut columns = Columns {
            fields: HashMap::new(),
            now,
        };
        for f in fields {
            if columns.fields.contains_key(f) {
                continue;
            }
            let field = match f {
                FieldName::Tag(k) => Field::Tag(k),
                FieldName::Attribute(a) => Field::Attribute(*a),
            };
            columns
                .fields
                .insert(f.clone(), view.profile_history(kind, field)?);
        }
        Ok(columns)
    }

    /// `(subject, value at now)` of a field, in subject order.
    fn get(&self, f: &FieldName) -> impl Iterator<Item = (u32, &Value)> + '_ {
        self.fields
            .get(f)
            .into_iter()
            .flat_map(move |h| h.at(self.now))
    }

    /// Each subject's `dob` and `timeZone`, for those with a `dob`, with
    /// the date of `now` in that zone. A handful of zones hold every user:
    /// each zone's date is worked out once.
    fn births(&self) -> Vec<(u32, Birth<'_>, Option<NaiveDate>)> {
        let zones: HashMap<u32, &str> = self
            .get(&FieldName::Attribute(Attribute::TimeZone))
            .filter_map(|(sid, v)| match v {
                Value::String(z) => Some((sid, z.as_str())),
                _ => None,
            })
            .collect();
        let mut today = HashMap::new();
        self.get(&FieldName::Attribute(Attribute::Dob))
            .filter_map(|(sid, v)| match v {
                Value::String(d) => {
                    let time_zone = zones.get(&sid).copied();
                    let date = *today
                        .entry(time_zone)
                        .or_insert_with(|| Birth::today_in(time_zone, self.now));
                    Some((
                        sid,
                        Birth {
                            dob: Some(d),
                            time_zone,
                        },
                        date,
                    ))
                }
                _ => None,
            })
            .collect()
    }
}

/// The fields a profile path reads.
pub(crate) fn fields_of(path: Option<&ProfilePath>) -> Vec<FieldName> {
    match path {
        Some(ProfilePath::Tag(k)) => vec![FieldName::Tag(k.clone())],
        Some(ProfilePath::User(a)) => vec![FieldName::Attribute(*a)],
        // `age`, and `birthday` (no path): the date of birth and the zone.
        Some(ProfilePath::Age) | None => vec![
            FieldName::Attribute(Attribute::Dob),
            FieldName::Attribute(Attribute::TimeZone),
        ],
    }
}

/// `tag.K …`, `user.ATTR …` or `age …`.
pub(crate) struct ProfileTest {
    pub test: Test<ProfilePath>,
}

impl ProfileTest {
    pub fn evaluate(&self, columns: &Columns, cx: &Finish<'_>) -> RoaringBitmap {
        let now = cx.now;
        let mut holds = RoaringBitmap::new();
        let mut present = RoaringBitmap::new();
        let mut add = |sid: u32, value: &Value| {
            present.insert(sid);
            if test_value(&self.test, Some(value), now) {
                holds.insert(sid);
            }
        };
        match self.test.path() {
            ProfilePath::Age => {
                for (sid, birth, today) in columns.births() {
                    if let Some(age) = today.and_then(|d| birth.age_on(d)) {
                        add(sid, &Value::Number(age as f64));
                    }
                }
            }
            path => {
                let field = &fields_of(Some(path))[0];
                for (sid, value) in columns.get(field) {
                    add(sid, value);
                }
            }
        }
        // A missing value: only `is null` holds for it.
        if test_value(&self.test, None, now) {
            holds |= cx.universe - &present;
        }
        holds & cx.universe
    }
}

/// `birthday`.
pub(crate) fn birthday(columns: &Columns, cx: &Finish<'_>) -> RoaringBitmap {
    let mut out: RoaringBitmap = columns
        .births()
        .into_iter()
        .filter(|(_, birth, today)| today.is_some_and(|d| birth.is_birthday_on(d)))
        .map(|(sid, _, _)| sid)
        .collect();
    out &= cx.universe;
    out
}
