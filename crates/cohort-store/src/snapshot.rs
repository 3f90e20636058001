//! The facts snapshot: every subject's facts as one flat value, so that
//! opening a settled store reads one value instead of a record per subject.
//!
//! The `facts` column family stays the truth, written with every batch;
//! the snapshot is a copy made when a store is settled
//! ([`Store::flush`](crate::Store::flush), at the end of every `cohort
//! ingest`). It records the sequence numbers it is a copy at, and is used
//! only when they equal the store's `next_seq` and `profile_seq`: any later
//! write moves one of them on (every write that changes facts stores an
//! event or a profile change), and a stale snapshot is ignored, never
//! trusted.
//!
//! Layout (a documented hand-laid format, little-endian so that decoding
//! is a straight copy on the machines we run on):
//!
//! ```text
//! version: u8 = 2 | next_seq: u64 | profile_seq: u64 | users: u32 | devices: u32
//! then per user, then per device, by dense id:
//!     first_seen: i64 | last_seen: i64 | count: u64 | profile_first: i64
//! ```
//!
//! Version 1 (format 4) had no `profile_seq` and 24-byte records; such a
//! snapshot is passed over like any other layout this build does not write.

use crate::codec::SubjectFacts;
use crate::error::{Result, StoreError};

const VERSION: u8 = 2;
const HEADER: usize = 1 + 8 + 8 + 4 + 4;
const RECORD: usize = 32;

/// Most subjects a snapshot holds (3.2 GB of records, under RocksDB's 4 GiB
/// value limit); a larger store opens from its `facts` records.
pub(crate) const MAX_SUBJECTS: usize = 100_000_000;

/// The instant a snapshot is a copy at: the store's `next_seq` and
/// `profile_seq`.
pub(crate) type At = (u64, u64);

/// Encodes the facts of both kinds as of `at`.
pub(crate) fn encode(at: At, facts: [&[SubjectFacts]; 2]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + RECORD * (facts[0].len() + facts[1].len()));
    out.push(VERSION);
    out.extend_from_slice(&at.0.to_le_bytes());
    out.extend_from_slice(&at.1.to_le_bytes());
    for f in facts {
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
    }
    for f in facts {
        for s in f {
            out.extend_from_slice(&s.first_seen.to_le_bytes());
            out.extend_from_slice(&s.last_seen.to_le_bytes());
            out.extend_from_slice(&s.count.to_le_bytes());
            out.extend_from_slice(&s.profile_first.to_le_bytes());
        }
    }
    out
}

/// The facts of a snapshot taken at `at`; `None` when it was taken at
/// another instant (stale) or in a layout this build does not know. A
/// snapshot of this layout whose length disagrees with its header is
/// corruption.
pub(crate) fn decode(b: &[u8], at: At) -> Result<Option<[Vec<SubjectFacts>; 2]>> {
    let corrupt = |why: &str| StoreError::Corrupt(format!("the facts snapshot {why}"));
    // Only a copy: one this build cannot read (another layout, written by
    // a later build) is passed over, and the `facts` records are read.
    if b.len() < HEADER || b[0] != VERSION {
        return Ok(None);
    }
    let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
    if (u64_at(1), u64_at(9)) != at {
        return Ok(None);
    }
    let counts = [u32_at(17) as usize, u32_at(21) as usize];
    // Checked before anything is sized from the header.
    if b.len() - HEADER != RECORD * (counts[0] + counts[1]) {
        return Err(corrupt(&format!(
            "holds {} bytes of records for {} users and {} devices",
            b.len() - HEADER,
            counts[0],
            counts[1]
        )));
    }
    let mut records = b[HEADER..].chunks_exact(RECORD).map(|r| SubjectFacts {
        first_seen: i64::from_le_bytes(r[..8].try_into().expect("8 bytes")),
        last_seen: i64::from_le_bytes(r[8..16].try_into().expect("8 bytes")),
        count: u64::from_le_bytes(r[16..24].try_into().expect("8 bytes")),
        profile_first: i64::from_le_bytes(r[24..].try_into().expect("8 bytes")),
    });
    let users = records.by_ref().take(counts[0]).collect();
    let devices = records.collect();
    Ok(Some([users, devices]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(first_seen: i64, last_seen: i64, count: u64) -> SubjectFacts {
        SubjectFacts {
            first_seen,
            last_seen,
            count,
            profile_first: i64::MAX,
        }
    }

    #[test]
    fn round_trips_and_ignores_a_stale_copy() {
        let users = [f(-5, 7, 2), f(i64::MIN, i64::MAX, u64::MAX)];
        let devices = [f(1, 1, 1)];
        let b = encode((42, 7), [&users, &devices]);
        assert_eq!(b.len(), HEADER + 3 * RECORD);
        let [u, d] = decode(&b, (42, 7)).unwrap().unwrap();
        assert_eq!((u.as_slice(), d.as_slice()), (&users[..], &devices[..]));
        assert!(decode(&b, (43, 7)).unwrap().is_none(), "stale");
        assert!(decode(&b, (42, 8)).unwrap().is_none(), "stale profile");
        let err = decode(&b[..b.len() - 1], (42, 7)).err().unwrap();
        assert!(err.to_string().contains("holds 95 bytes"), "{err}");
        let mut lying = b.clone();
        lying[17..21].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(
            decode(&lying, (42, 7)).is_err(),
            "a header naming 4 G users"
        );
        assert!(
            decode(&[1], (42, 7)).unwrap().is_none(),
            "another layout: not used"
        );
        let mut later = b.clone();
        later[0] = 3;
        assert!(decode(&later, (42, 7)).unwrap().is_none());
        // Golden bytes: the layout is a format; it changes only with VERSION.
        let mut one_fact = f(1, 2, 3);
        one_fact.profile_first = 4;
        let one = encode((1, 5), [&[one_fact], &[]]);
        let hex: String = one.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "02\
             0100000000000000\
             0500000000000000\
             01000000\
             00000000\
             0100000000000000\
             0200000000000000\
             0300000000000000\
             0400000000000000"
        );
    }
}
