//! Profile conditions (`tag.K …`, `user.ATTR …`, `age …`, `birthday`),
//! answered from profile columns: each field's value at `now` for every
//! subject holding one, read once per evaluation from the store's
//! field-ordered `profile_index` (`View::profile_column`) — no subject's
//! history and no event block is read.

use std::collections::HashMap;

use cohort_event::Attribute;
use cohort_filter::{ProfilePath, Test};
use cohort_store::{Field, SubjectKind, Value, View};
use roaring::RoaringBitmap;

use super::Finish;
use crate::profile::{test_value, Birth};

/// A field a profile condition reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum FieldName {
    Tag(String),
    Attribute(Attribute),
}

/// The profile columns of one evaluation: per field, `(subject, value at
/// now)` in subject order.
#[derive(Default)]
pub(crate) struct Columns(HashMap<FieldName, Vec<(u32, Value)>>);

impl Columns {
    /// Reads the columns `fields` name, once each.
    pub fn load(
        view: &View<'_>,
        kind: SubjectKind,
        fields: &[FieldName],
        now: i64,
    ) -> cohort_store::Result<Columns> {
        let mut columns = Columns::default();
        for f in fields {
            if columns.0.contains_key(f) {
                continue;
            }
            let field = match f {
                FieldName::Tag(k) => Field::Tag(k),
                FieldName::Attribute(a) => Field::Attribute(*a),
            };
            columns
                .0
                .insert(f.clone(), view.profile_column(kind, field, now)?);
        }
        Ok(columns)
    }

    fn get(&self, f: &FieldName) -> &[(u32, Value)] {
        self.0.get(f).map_or(&[], Vec::as_slice)
    }

    /// Each subject's `dob` and `timeZone`, for those with a `dob`.
    fn births(&self) -> Vec<(u32, Birth<'_>)> {
        let zones: HashMap<u32, &str> = self
            .get(&FieldName::Attribute(Attribute::TimeZone))
            .iter()
            .filter_map(|(sid, v)| match v {
                Value::String(z) => Some((*sid, z.as_str())),
                _ => None,
            })
            .collect();
        self.get(&FieldName::Attribute(Attribute::Dob))
            .iter()
            .filter_map(|(sid, v)| match v {
                Value::String(d) => Some((
                    *sid,
                    Birth {
                        dob: Some(d),
                        time_zone: zones.get(sid).copied(),
                    },
                )),
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
                for (sid, birth) in columns.births() {
                    if let Some(age) = birth.age(now) {
                        add(sid, &Value::Number(age as f64));
                    }
                }
            }
            path => {
                let field = &fields_of(Some(path))[0];
                for (sid, value) in columns.get(field) {
                    add(*sid, value);
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
        .filter(|(_, birth)| birth.is_birthday(cx.now))
        .map(|(sid, _)| sid)
        .collect();
    out &= cx.universe;
    out
}
