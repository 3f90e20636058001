//! Values stored in RocksDB, encoded with postcard.
//!
//! postcard's wire format is stable and documented (varint integers,
//! length-prefixed sequences, enum variants by index), so a store written
//! today reads the same tomorrow. Fields are only ever appended, and the
//! format version in `meta` changes when a layout does.

use cohort_event::Value;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// One event in the `log` column family (subject and time are in the key).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct StoredEvent {
    /// The event type's dictionary id.
    pub type_id: u32,
    /// (data key id, value) in the order the client wrote them.
    pub data: Vec<(u32, Value)>,
}

/// The borrowed twin of [`StoredEvent`], for encoding without copying values.
#[derive(Serialize)]
pub(crate) struct StoredEventRef<'a> {
    pub type_id: u32,
    pub data: &'a [(u32, &'a Value)],
}

/// One event type's catalog entry (its name is in the dictionary).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct CatalogRecord {
    /// Set by hand with `catalog add`.
    pub description: Option<String>,
    /// Earliest event time seen.
    pub first_seen: Option<i64>,
    /// Latest event time seen.
    pub last_seen: Option<i64>,
    /// Number of events stored.
    pub count: u64,
    /// Format 2 only: per data key id, how many values of each
    /// [`cohort_event::ValueKind`]. Format 3 keeps these in `catalog_keys`
    /// and writes this empty.
    pub keys: Vec<(u32, [u64; 7])>,
}

/// How far one input of a bulk load has been stored, kept in `loads` and
/// written in the same batch as the events it counts: after a crash or an
/// error, a load of the same input resumes exactly where the last durable
/// batch ended — nothing stored twice, nothing skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadMark {
    /// The name the input was last loaded under (a path, or `-`).
    pub input: String,
    /// Bytes of the input (decompressed) stored through.
    pub offset: u64,
    /// A hash (XXH3-128) of those bytes: a later load resumes only when
    /// its input starts with the same bytes.
    pub prefix_hash: u128,
    /// Lines (or track requests) read through `offset`.
    pub items: u64,
    /// Events stored from the input.
    pub stored: u64,
    /// Events rejected from the input.
    pub rejected: u64,
    /// When this mark was written (Unix ms).
    pub updated_at: i64,
}

/// Per-subject facts in the `facts` column family (fixed 32 bytes,
/// big-endian: first i64, last i64, count u64, profile_first i64; format 4
/// and older wrote the first 24, read with no profile change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectFacts {
    /// Time of the subject's earliest event (Unix ms; meaningless when
    /// `count` is 0).
    pub first_seen: i64,
    /// Time of the subject's latest event (Unix ms).
    pub last_seen: i64,
    /// Number of events stored for the subject.
    pub count: u64,
    /// Time of the subject's earliest tag or attribute change (Unix ms);
    /// `i64::MAX` when it has none.
    pub profile_first: i64,
}

impl SubjectFacts {
    /// The facts of a subject with no events and no profile change (a
    /// placeholder).
    pub(crate) const NONE: SubjectFacts = SubjectFacts {
        first_seen: 0,
        last_seen: 0,
        count: 0,
        profile_first: i64::MAX,
    };

    /// Whether the subject is in the universe of a filter evaluated at
    /// `now`: it has an event, tag change or attribute change at or
    /// before `now` (docs/filter-language.md).
    pub fn in_universe(&self, now: i64) -> bool {
        (self.count > 0 && self.first_seen <= now) || self.profile_first <= now
    }

    pub(crate) fn encode(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&self.first_seen.to_be_bytes());
        b[8..16].copy_from_slice(&self.last_seen.to_be_bytes());
        b[16..24].copy_from_slice(&self.count.to_be_bytes());
        b[24..].copy_from_slice(&self.profile_first.to_be_bytes());
        b
    }

    pub(crate) fn decode(b: &[u8]) -> Result<SubjectFacts, StoreError> {
        if b.len() != 24 && b.len() != 32 {
            return Err(StoreError::Corrupt(format!(
                "a facts value has {} bytes, not 32 (or 24)",
                b.len()
            )));
        }
        let word = |i: usize| <[u8; 8]>::try_from(&b[i..i + 8]).expect("8 bytes");
        Ok(SubjectFacts {
            first_seen: i64::from_be_bytes(word(0)),
            last_seen: i64::from_be_bytes(word(8)),
            count: u64::from_be_bytes(word(16)),
            profile_first: if b.len() == 32 {
                i64::from_be_bytes(word(24))
            } else {
                i64::MAX
            },
        })
    }

    /// Facts after one more event at `millis`.
    pub(crate) fn with_event(self, millis: i64) -> SubjectFacts {
        let (first_seen, last_seen) = if self.count == 0 {
            (millis, millis)
        } else {
            (self.first_seen.min(millis), self.last_seen.max(millis))
        };
        SubjectFacts {
            first_seen,
            last_seen,
            count: self.count + 1,
            profile_first: self.profile_first,
        }
    }

    /// Facts after one more profile change at `millis`.
    pub(crate) fn with_profile_change(self, millis: i64) -> SubjectFacts {
        SubjectFacts {
            profile_first: self.profile_first.min(millis),
            ..self
        }
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("postcard encoding into a Vec cannot fail")
}

pub(crate) fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T, StoreError> {
    postcard::from_bytes(bytes)
        .map_err(|e| StoreError::Corrupt(format!("cannot decode {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cohort_event::TimeValue;

    #[test]
    fn stored_event_round_trips_through_its_borrowed_twin() {
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Number(-2.5),
            Value::String("books".into()),
            Value::Time(TimeValue {
                millis: -1,
                offset_minutes: 540,
            }),
            Value::Strings(vec!["a".into(), "b".into()]),
            Value::Numbers(vec![1.0, 1e300]),
        ];
        let bytes = encode(&StoredEventRef {
            type_id: 3,
            data: &values
                .iter()
                .enumerate()
                .map(|(i, v)| (i as u32, v))
                .collect::<Vec<_>>(),
        });
        let back: StoredEvent = decode(&bytes, "event").unwrap();
        assert_eq!(back.type_id, 3);
        assert_eq!(
            back.data.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
            values
        );
    }

    #[test]
    fn value_wire_format_is_pinned() {
        // Variant indexes are part of the on-disk format: this guards them.
        assert_eq!(encode(&Value::Null), [0]);
        assert_eq!(encode(&Value::Bool(true)), [1, 1]);
        assert_eq!(encode(&Value::String("a".into())), [3, 1, b'a']);
        assert_eq!(encode(&Value::Strings(vec![])), [5, 0]);
        assert_eq!(encode(&Value::Numbers(vec![])), [6, 0]);
    }
}
