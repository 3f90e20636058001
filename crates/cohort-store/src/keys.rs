//! Hand-laid storage keys.
//!
//! Every integer in a key is big-endian, so RocksDB's bytewise order is
//! numeric order. Timestamps are signed; their sign bit is flipped before
//! encoding so that times before 1970 still sort first. The layouts:
//!
//! | column family | key | value |
//! |---|---|---|
//! | `log`   | kind u8 · subject u32 · time i64 · seq u64 (21 bytes) | postcard [`crate::codec::StoredEvent`] |
//! | `time`  | time i64 · seq u64 (16 bytes) | kind u8 · subject u32 |
//! | `dict`  | `s` · kind u8 · subject id bytes | subject u32 |
//! |         | `S` · kind u8 · subject u32 | subject id bytes |
//! |         | `t` · type name / `T` · type u32 | type u32 / type name |
//! |         | `k` · data key / `K` · key u32 | key u32 / data key |
//! | `facts` | kind u8 · subject u32 | first i64 · last i64 · count u64 |
//! | `catalog` | type u32 | postcard [`crate::codec::CatalogRecord`] |
//! | `blocks` | kind u8 · type u32 · week i64 · first seq u64 | a columnar block (see `blocks.rs`) |
//! | `segments` | segment name | postcard `SavedSegment` |
//! | `meta`  | `format_version`, `next_seq` | u32, u64 |

use cohort_event::SubjectKind;

/// Length of a `log` key.
pub(crate) const LOG_KEY_LEN: usize = 21;
/// Length of a `time` key.
pub(crate) const TIME_KEY_LEN: usize = 16;

/// A timestamp as 8 bytes whose byte order is time order.
pub(crate) fn time_bytes(millis: i64) -> [u8; 8] {
    ((millis as u64) ^ (1 << 63)).to_be_bytes()
}

/// The inverse of [`time_bytes`].
pub(crate) fn time_from_bytes(b: [u8; 8]) -> i64 {
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

/// The 5-byte prefix of one subject's events in `log`, and its `facts` key.
pub(crate) fn subject_key(kind: SubjectKind, subject: u32) -> [u8; 5] {
    let mut k = [0u8; 5];
    k[0] = kind.tag();
    k[1..5].copy_from_slice(&subject.to_be_bytes());
    k
}

/// A `log` key: one subject's events are contiguous and in time order,
/// ties broken by the store-wide sequence number (arrival order).
pub(crate) fn log_key(kind: SubjectKind, subject: u32, millis: i64, seq: u64) -> [u8; LOG_KEY_LEN] {
    let mut k = [0u8; LOG_KEY_LEN];
    k[..5].copy_from_slice(&subject_key(kind, subject));
    k[5..13].copy_from_slice(&time_bytes(millis));
    k[13..21].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The parts of a `log` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogKey {
    pub kind: SubjectKind,
    pub subject: u32,
    pub millis: i64,
    pub seq: u64,
}

/// Decodes a `log` key; `None` if it is not one.
pub(crate) fn parse_log_key(k: &[u8]) -> Option<LogKey> {
    if k.len() != LOG_KEY_LEN {
        return None;
    }
    Some(LogKey {
        kind: SubjectKind::from_tag(k[0])?,
        subject: u32::from_be_bytes(k[1..5].try_into().ok()?),
        millis: time_from_bytes(k[5..13].try_into().ok()?),
        seq: u64::from_be_bytes(k[13..21].try_into().ok()?),
    })
}

/// A `time` key: all events in time order, for recent events.
pub(crate) fn time_key(millis: i64, seq: u64) -> [u8; TIME_KEY_LEN] {
    let mut k = [0u8; TIME_KEY_LEN];
    k[..8].copy_from_slice(&time_bytes(millis));
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// Decodes a `time` key into (time, seq).
pub(crate) fn parse_time_key(k: &[u8]) -> Option<(i64, u64)> {
    if k.len() != TIME_KEY_LEN {
        return None;
    }
    Some((
        time_from_bytes(k[..8].try_into().ok()?),
        u64::from_be_bytes(k[8..].try_into().ok()?),
    ))
}

/// A `dict` key: a one-byte tag, then the rest.
pub(crate) fn dict_key(tag: u8, rest: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.iter().map(|r| r.len()).sum::<usize>());
    k.push(tag);
    for r in rest {
        k.extend_from_slice(r);
    }
    k
}

/// Dictionary tags.
pub(crate) mod tag {
    /// subject id → dense id
    pub const SUBJECT: u8 = b's';
    /// dense id → subject id
    pub const SUBJECT_REV: u8 = b'S';
    /// type name → type id
    pub const TYPE: u8 = b't';
    /// type id → type name
    pub const TYPE_REV: u8 = b'T';
    /// data key → key id
    pub const KEY: u8 = b'k';
    /// key id → data key
    pub const KEY_REV: u8 = b'K';
}

/// `meta` keys.
pub(crate) mod meta {
    /// The store format version, u32 big-endian.
    pub const FORMAT_VERSION: &[u8] = b"format_version";
    /// The next event sequence number, u64 big-endian.
    pub const NEXT_SEQ: &[u8] = b"next_seq";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_order_is_time_order() {
        let times = [i64::MIN, -86_400_000, -1, 0, 1, 1_713_504_236_000, i64::MAX];
        for w in times.windows(2) {
            assert!(time_bytes(w[0]) < time_bytes(w[1]), "{} < {}", w[0], w[1]);
            assert_eq!(time_from_bytes(time_bytes(w[0])), w[0]);
        }
        let a = log_key(SubjectKind::User, 7, -5, 9);
        let b = log_key(SubjectKind::User, 7, 3, 1);
        let c = log_key(SubjectKind::User, 8, -100, 0);
        let d = log_key(SubjectKind::Device, 0, 0, 0);
        assert!(a < b && b < c && c < d);
        assert_eq!(
            parse_log_key(&b),
            Some(LogKey {
                kind: SubjectKind::User,
                subject: 7,
                millis: 3,
                seq: 1
            })
        );
        assert_eq!(parse_time_key(&time_key(-3, 4)), Some((-3, 4)));
    }
}
