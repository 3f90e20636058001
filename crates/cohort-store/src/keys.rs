//! Every storage key, laid out by hand, in one place.
//!
//! Every integer in a key is big-endian, so RocksDB's bytewise order is
//! numeric order. Timestamps are signed; their sign bit is flipped before
//! encoding so that times before 1970 still sort first. The layouts (format
//! version 5; `tests/format.rs` pins their bytes):
//!
//! | column family | key | value |
//! |---|---|---|
//! | `meta`  | `format_version`, `next_seq`, `last_write_at` | u32, u64, i64 (big-endian) |
//! |         | `bulk_intent` (only while a bulk commit is under way) | from u64 · to u64 |
//! |         | `bulk_commit`, `bulk_files` (see `bulk.rs`) | u64 each |
//! |         | `request/` · a caller's request key (see `remember.rs`) | postcard [`crate::RememberedRequest`] |
//! | `log`   | kind u8 · subject u32 · time i64 · seq u64 (21 bytes) | postcard [`crate::codec::StoredEvent`] |
//! | `time`  | time i64 · seq u64 (16 bytes) | kind u8 · subject u32 |
//! | `dict`  | `h` · kind u8 · xxh3-128 of the subject id (format 5; formats 2–4: `s` · kind u8 · subject id bytes) | subject u32, then the subject id bytes (formats 2–4: subject u32) |
//! |         | `S` · kind u8 · subject u32 | subject id bytes |
//! |         | `t` · type name / `T` · type u32 | type u32 / type name |
//! |         | `k` · data key / `K` · key u32 | key u32 / data key |
//! | `facts` | kind u8 · subject u32 | first i64 · last i64 · count u64 · profile_first i64 |
//! | `catalog` | type u32 | postcard [`crate::codec::CatalogRecord`] |
//! | `catalog_keys` | type u32 · key u32 | postcard `[u64; 7]`: values seen per [`cohort_event::ValueKind`] |
//! | `blocks` | kind u8 · type u32 · week i64 · first seq u64 (21 bytes) | a columnar block (see `blocks.rs`) |
//! | `block_index` | the block's key | its row count, u32 little-endian |
//! | `segments` | segment name | postcard `SavedSegment` |
//! | `loads` | 16-byte fingerprint of an input's first bytes | postcard [`crate::LoadMark`] |
//! | `profile` | kind u8 · subject u32 · `a` attribute u32 / `t` data key u32 · time i64 · profile seq u64 (26 bytes) | postcard `Option<Value>`: the value set, `None` for a delete |
//! | `profile_index` | kind u8 · `a`/`t` · id u32 · subject u32 · time i64 · profile seq u64 (26 bytes) | the same value: one field's changes for all subjects, for evaluation |
//! | `live` (format 6) | `s` · segment u32 | postcard [`crate::LiveDef`] |
//! |        | `m` · segment u32 · kind u8 · subject u32 | empty: the subject is a member |
//! |        | `d` · time i64 · segment u32 · kind u8 · subject u32 | empty: the deadline index, in time order |
//! |        | `r` · segment u32 · kind u8 · subject u32 | time i64: the pair's deadline (to move it) |
//! | `changes` (format 6) | change seq u64 | postcard [`crate::Change`] |
//!
//! Format 2 kept each type's key counts inside its `catalog` record and had
//! no `catalog_keys` or `loads`; format 3 had the same keys as format 4,
//! without bulk commits (`bulk.rs`): no `bulk_intent`, and no key at or
//! past `next_seq`. Format 4 had no `profile` family or `profile_seq`, and
//! 24-byte facts (without `profile_first`). Format 5 had no `live` or
//! `changes` family and no `next_change`. `migrate.rs` moves an older
//! store forward when it is opened for writing.

use cohort_event::SubjectKind;

/// Length of a `log` key.
pub(crate) const LOG_KEY_LEN: usize = 21;
/// Length of a `time` key.
pub(crate) const TIME_KEY_LEN: usize = 16;
/// Length of a `blocks` / `block_index` key.
pub(crate) const BLOCK_KEY_LEN: usize = 21;

/// A `blocks` key.
pub(crate) type BlockKey = [u8; BLOCK_KEY_LEN];

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

/// Decodes a `facts` key (the same bytes as a subject prefix).
pub(crate) fn parse_subject_key(k: &[u8]) -> Option<(SubjectKind, u32)> {
    let k: &[u8; 5] = k.try_into().ok()?;
    Some((
        SubjectKind::from_tag(k[0])?,
        u32::from_be_bytes(k[1..5].try_into().ok()?),
    ))
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

/// An exclusive upper bound past every log key of one subject.
pub(crate) fn subject_end(kind: SubjectKind, sid: u32) -> Vec<u8> {
    let mut k = subject_key(kind, sid).to_vec();
    k.extend_from_slice(&[0xFF; LOG_KEY_LEN - 5 + 1]);
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
    let (kind, subject) = parse_subject_key(&k[..5])?;
    Some(LogKey {
        kind,
        subject,
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

/// The `dict` key of a subject's reverse entry (dense id → subject id).
pub(crate) fn subject_rev_key(kind: SubjectKind, sid: u32) -> Vec<u8> {
    dict_key(tag::SUBJECT_REV, &[&[kind.tag()], &sid.to_be_bytes()])
}

/// A `catalog` key: one event type's record.
pub(crate) fn catalog_key(type_id: u32) -> [u8; 4] {
    type_id.to_be_bytes()
}

/// A `catalog_keys` key: one data key's counts under one event type.
pub(crate) fn catalog_key_key(type_id: u32, key_id: u32) -> [u8; 8] {
    let mut k = [0u8; 8];
    k[..4].copy_from_slice(&type_id.to_be_bytes());
    k[4..].copy_from_slice(&key_id.to_be_bytes());
    k
}

/// Decodes a `catalog_keys` key into (type id, key id).
pub(crate) fn parse_catalog_key_key(k: &[u8]) -> Option<(u32, u32)> {
    let k: &[u8; 8] = k.try_into().ok()?;
    Some((
        u32::from_be_bytes(k[..4].try_into().ok()?),
        u32::from_be_bytes(k[4..].try_into().ok()?),
    ))
}

/// `kind u8 · type u32 · bucket i64 (sign-flipped) · first seq u64`.
pub(crate) fn block_key(kind: SubjectKind, type_id: u32, bucket: i64, seq: u64) -> BlockKey {
    let mut k = [0u8; BLOCK_KEY_LEN];
    k[0] = kind.tag();
    k[1..5].copy_from_slice(&type_id.to_be_bytes());
    k[5..13].copy_from_slice(&time_bytes(bucket));
    k[13..21].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The parts of a block key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockKeyParts {
    pub kind: SubjectKind,
    pub type_id: u32,
    pub bucket: i64,
    pub seq: u64,
}

/// Decodes a block key; `None` if it is not one.
pub(crate) fn parse_block_key(k: &[u8]) -> Option<BlockKeyParts> {
    let k: &BlockKey = k.try_into().ok()?;
    Some(BlockKeyParts {
        kind: SubjectKind::from_tag(k[0])?,
        type_id: u32::from_be_bytes(k[1..5].try_into().ok()?),
        bucket: time_from_bytes(k[5..13].try_into().ok()?),
        seq: u64::from_be_bytes(k[13..21].try_into().ok()?),
    })
}

/// The forward `dict` key of a subject (format 5): `h` · kind · the
/// 128-bit xxh3 of its ID. No key holds a subject's ID — a MANIFEST keeps
/// the key ranges of table files long after they are gone, so an ID in a
/// key would outlive the deletion of its user. The value is the dense id
/// (u32) then the ID, checked on lookup.
pub(crate) fn subject_fwd_key(kind: SubjectKind, id: &str) -> [u8; 18] {
    let mut k = [0u8; 18];
    k[0] = tag::SUBJECT_HASH;
    k[1] = kind.tag();
    k[2..].copy_from_slice(&xxhash_rust::xxh3::xxh3_128(id.as_bytes()).to_be_bytes());
    k
}

/// The value of a subject's forward `dict` entry (format 5).
pub(crate) fn subject_fwd_value(sid: u32, id: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + id.len());
    v.extend_from_slice(&sid.to_be_bytes());
    v.extend_from_slice(id.as_bytes());
    v
}

/// Dictionary tags.
pub(crate) mod tag {
    /// subject id → dense id (formats 2 to 4: the key holds the ID)
    pub const SUBJECT: u8 = b's';
    /// hash of the subject id → dense id and subject id (format 5)
    pub const SUBJECT_HASH: u8 = b'h';
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
    /// The sequence number the next change record will get (u64
    /// big-endian; format 6; absent: 1).
    pub const NEXT_CHANGE: &[u8] = b"next_change";
    /// The store format version, u32 big-endian.
    pub const FORMAT_VERSION: &[u8] = b"format_version";
    /// The next event sequence number, u64 big-endian.
    pub const NEXT_SEQ: &[u8] = b"next_seq";
    /// When the last write was made, Unix ms, i64 big-endian (format 3).
    pub const LAST_WRITE_AT: &[u8] = b"last_write_at";
    /// Every subject's facts as one value, as of a sequence number (see
    /// `snapshot.rs`); written when a store is settled.
    pub const FACTS_SNAPSHOT: &[u8] = b"facts_snapshot";
    /// A bulk commit under way: the sequence numbers `from` and `to`
    /// (u64 big-endian each) its table files hold (see `bulk.rs`).
    pub const BULK_INTENT: &[u8] = b"bulk_intent";
    /// The sequence number after the last bulk commit (u64 big-endian; never
    /// 0 for a commit that stored anything),
    /// written in its `WriteBatch`.
    pub const BULK_COMMIT: &[u8] = b"bulk_commit";
    /// The same, in a table file added after the commit's other table
    /// files: a reader whose view holds `BULK_COMMIT` but an older
    /// `BULK_FILES` has not yet seen that commit's files (`bulk.rs`).
    pub const BULK_FILES: &[u8] = b"bulk_files";
    /// The sequence number the next profile change will get (u64
    /// big-endian; format 5): tag and attribute changes are numbered
    /// apart from events, in arrival order.
    pub const PROFILE_SEQ: &[u8] = b"profile_seq";
    /// Events removed by deleting users, u64 big-endian (format 5): the
    /// catalog counts `next_seq` less these.
    pub const DELETED_EVENTS: &[u8] = b"deleted_events";
    /// Present (empty) from a user deletion's batch until its purge has
    /// run (format 5; see `delete.rs`).
    pub const PURGE_PENDING: &[u8] = b"purge_pending";
}

/// Length of a `profile` key.
pub(crate) const PROFILE_KEY_LEN: usize = 26;

/// What a `profile` entry changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum ProfileField {
    /// A user attribute, by its [`cohort_event::Attribute::index`].
    Attribute(u8),
    /// A tag, by its key's id in the data-key dictionary.
    Tag(u32),
}

/// A `profile` key: one subject's changes are contiguous, grouped by
/// attribute then tag key, each in time order, ties in arrival order.
pub(crate) fn profile_key(
    kind: SubjectKind,
    subject: u32,
    field: ProfileField,
    millis: i64,
    seq: u64,
) -> [u8; PROFILE_KEY_LEN] {
    let mut k = [0u8; PROFILE_KEY_LEN];
    k[..5].copy_from_slice(&subject_key(kind, subject));
    let (tag, id) = match field {
        ProfileField::Attribute(a) => (b'a', u32::from(a)),
        ProfileField::Tag(key) => (b't', key),
    };
    k[5] = tag;
    k[6..10].copy_from_slice(&id.to_be_bytes());
    k[10..18].copy_from_slice(&time_bytes(millis));
    k[18..26].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The `profile_index` key of a `profile` entry: the same parts, field
/// first (kind u8 · `a`/`t` · id u32 · subject u32 · time i64 · seq u64),
/// so that one field's changes for every subject are one range, in subject
/// order, each subject's in time order.
pub(crate) fn profile_index_key(profile_key: &[u8; PROFILE_KEY_LEN]) -> [u8; PROFILE_KEY_LEN] {
    let mut k = [0u8; PROFILE_KEY_LEN];
    k[0] = profile_key[0];
    k[1..6].copy_from_slice(&profile_key[5..10]);
    k[6..10].copy_from_slice(&profile_key[1..5]);
    k[10..].copy_from_slice(&profile_key[10..]);
    k
}

/// The 6-byte prefix of one field's range in `profile_index`.
pub(crate) fn profile_field_prefix(kind: SubjectKind, field: ProfileField) -> [u8; 6] {
    let k = profile_key(kind, 0, field, 0, 0);
    let ix = profile_index_key(&k);
    ix[..6].try_into().expect("6 bytes")
}

/// Decodes a `profile_index` key (into the parts of its `profile` key).
pub(crate) fn parse_profile_index_key(k: &[u8]) -> Option<ProfileKey> {
    let k: &[u8; PROFILE_KEY_LEN] = k.try_into().ok()?;
    let mut p = [0u8; PROFILE_KEY_LEN];
    p[0] = k[0];
    p[1..5].copy_from_slice(&k[6..10]);
    p[5..10].copy_from_slice(&k[1..6]);
    p[10..].copy_from_slice(&k[10..]);
    parse_profile_key(&p)
}

/// The parts of a `profile` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProfileKey {
    pub kind: SubjectKind,
    pub subject: u32,
    pub field: ProfileField,
    pub millis: i64,
    pub seq: u64,
}

/// Decodes a `profile` key; `None` if it is not one.
pub(crate) fn parse_profile_key(k: &[u8]) -> Option<ProfileKey> {
    if k.len() != PROFILE_KEY_LEN {
        return None;
    }
    let (kind, subject) = parse_subject_key(&k[..5])?;
    let id = u32::from_be_bytes(k[6..10].try_into().ok()?);
    let field = match k[5] {
        b'a' => ProfileField::Attribute(u8::try_from(id).ok()?),
        b't' => ProfileField::Tag(id),
        _ => return None,
    };
    Some(ProfileKey {
        kind,
        subject,
        field,
        millis: time_from_bytes(k[10..18].try_into().ok()?),
        seq: u64::from_be_bytes(k[18..26].try_into().ok()?),
    })
}

/// The sequence number a `log`, `time`, `blocks` or `block_index` key
/// ends with (for a block, its first row's): reads skip keys at or past
/// the view's `next_seq`, which a bulk commit has not yet made visible.
pub(crate) fn seq_of(k: &[u8]) -> Option<u64> {
    let tail = k.len().checked_sub(8).map(|at| &k[at..])?;
    Some(u64::from_be_bytes(tail.try_into().ok()?))
}

/// Keys of the `live` family (see the table above).
pub(crate) mod live {
    use cohort_event::SubjectKind;

    /// A live segment's definition.
    pub const DEF: u8 = b's';
    /// A member.
    pub const MEMBER: u8 = b'm';
    /// The deadline index.
    pub const DEADLINE: u8 = b'd';
    /// A pair's deadline, by pair.
    pub const REVERSE: u8 = b'r';
    /// Length of a member or reverse key.
    pub const PAIR_KEY_LEN: usize = 10;
    /// Length of a deadline key.
    pub const DEADLINE_KEY_LEN: usize = 18;

    pub fn def(segment: u32) -> [u8; 5] {
        let mut k = [DEF, 0, 0, 0, 0];
        k[1..].copy_from_slice(&segment.to_be_bytes());
        k
    }

    fn pair(tag: u8, segment: u32, kind: SubjectKind, subject: u32) -> [u8; PAIR_KEY_LEN] {
        let mut k = [0u8; PAIR_KEY_LEN];
        k[0] = tag;
        k[1..5].copy_from_slice(&segment.to_be_bytes());
        k[5] = kind.tag();
        k[6..].copy_from_slice(&subject.to_be_bytes());
        k
    }

    pub fn member(segment: u32, kind: SubjectKind, subject: u32) -> [u8; PAIR_KEY_LEN] {
        pair(MEMBER, segment, kind, subject)
    }

    pub fn reverse(segment: u32, kind: SubjectKind, subject: u32) -> [u8; PAIR_KEY_LEN] {
        pair(REVERSE, segment, kind, subject)
    }

    pub fn member_prefix(segment: u32) -> [u8; 5] {
        let mut k = def(segment);
        k[0] = MEMBER;
        k
    }

    pub fn reverse_prefix(segment: u32) -> [u8; 5] {
        let mut k = def(segment);
        k[0] = REVERSE;
        k
    }

    /// Decodes `segment · kind · subject` (9 bytes).
    pub fn parse_pair(k: &[u8]) -> Option<(u32, SubjectKind, u32)> {
        let k: &[u8; 9] = k.try_into().ok()?;
        Some((
            u32::from_be_bytes(k[..4].try_into().ok()?),
            SubjectKind::from_tag(k[4])?,
            u32::from_be_bytes(k[5..].try_into().ok()?),
        ))
    }

    pub fn deadline(
        at: i64,
        segment: u32,
        kind: SubjectKind,
        subject: u32,
    ) -> [u8; DEADLINE_KEY_LEN] {
        let mut k = [0u8; DEADLINE_KEY_LEN];
        k[0] = DEADLINE;
        k[1..9].copy_from_slice(&super::time_bytes(at));
        k[9..].copy_from_slice(&pair(0, segment, kind, subject)[1..]);
        k
    }

    /// Decodes a deadline key into (time, segment, kind, subject).
    pub fn parse_deadline(k: &[u8]) -> Option<(i64, u32, SubjectKind, u32)> {
        if k.len() != DEADLINE_KEY_LEN || k[0] != DEADLINE {
            return None;
        }
        let (segment, kind, subject) = parse_pair(&k[9..])?;
        Some((
            super::time_from_bytes(k[1..9].try_into().ok()?),
            segment,
            kind,
            subject,
        ))
    }
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
        assert!(c.as_slice() < subject_end(SubjectKind::User, 8).as_slice());
        assert!(
            subject_end(SubjectKind::User, 8).as_slice()
                < &log_key(SubjectKind::User, 9, i64::MIN, 0)[..]
        );
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
        assert_eq!(parse_catalog_key_key(&catalog_key_key(3, 9)), Some((3, 9)));
        let block = block_key(SubjectKind::Device, 2, -1, 77);
        assert_eq!(
            parse_block_key(&block),
            Some(BlockKeyParts {
                kind: SubjectKind::Device,
                type_id: 2,
                bucket: -1,
                seq: 77
            })
        );
    }

    /// The bytes of every key kind, pinned: these are the on-disk format.
    /// A change here breaks every existing store.
    #[test]
    fn key_bytes_are_pinned() {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let t = 1_713_504_236_000; // 2024-04-19T05:23:56Z
        assert_eq!(
            hex(&log_key(SubjectKind::Device, 258, t, 5)),
            "01000001028000018ef4cfb1e00000000000000005"
        );
        assert_eq!(hex(&time_key(-1, 1)), "7fffffffffffffff0000000000000001");
        assert_eq!(hex(&subject_key(SubjectKind::User, 1)), "0000000001");
        assert_eq!(hex(&dict_key(tag::SUBJECT, &[&[1], b"d1"])), "73016431");
        assert_eq!(
            hex(&subject_fwd_key(SubjectKind::Device, "d1")),
            format!("6801{:032x}", xxhash_rust::xxh3::xxh3_128(b"d1"))
        );
        assert_eq!(hex(&subject_fwd_value(2, "d1")), "000000026431");
        assert_eq!(hex(&subject_rev_key(SubjectKind::User, 2)), "530000000002");
        assert_eq!(
            hex(&dict_key(tag::TYPE_REV, &[&7u32.to_be_bytes()])),
            "5400000007"
        );
        assert_eq!(hex(&catalog_key(7)), "00000007");
        assert_eq!(hex(&catalog_key_key(1, 2)), "0000000100000002");
        assert_eq!(hex(&dict_key(tag::TYPE, &[b"buy"])), "74627579");
        assert_eq!(hex(&dict_key(tag::KEY, &[b"k"])), "6b6b");
        assert_eq!(
            hex(&dict_key(tag::KEY_REV, &[&1u32.to_be_bytes()])),
            "4b00000001"
        );
        assert_eq!(meta::FORMAT_VERSION, b"format_version");
        assert_eq!(meta::NEXT_SEQ, b"next_seq");
        assert_eq!(meta::LAST_WRITE_AT, b"last_write_at");
        assert_eq!(
            hex(&block_key(SubjectKind::User, 3, 2833, 9)),
            "00000000038000000000000b110000000000000009"
        );
    }
}
