//! Columnar event blocks: the evaluator's read-only-what-is-needed layout.
//!
//! Every write also files its events into blocks keyed by
//! (subject kind, event type, week bucket, first sequence number), in the
//! same `WriteBatch` as the log. A condition on one type over the last 30
//! days reads the blocks of that type in five buckets and nothing else.
//!
//! A block value is laid out by hand, little-endian:
//!
//! ```text
//! n: u32 | subjects: [u32; n] | times: [i64; n] | offsets: [u32; n + 1] | data
//! ```
//!
//! `subjects` are dense subject ids, `times` Unix milliseconds (rows are
//! in arrival order, not time order), and row `i`'s data is the postcard
//! encoding of `Vec<(key_id, Value)>` at `data[offsets[i]..offsets[i+1]]`.
//! The columns the hot loop touches (subject, time) are read in place,
//! without decoding.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use cohort_event::{SubjectKind, Value};
use rocksdb::ReadOptions;
use serde::Serialize;

use crate::codec;
use crate::db::cf;
use crate::error::{Result, StoreError};
use crate::keys::{time_bytes, time_from_bytes};
use crate::store::Store;

/// Width of a block's time bucket: one week, in milliseconds.
pub const BUCKET_MILLIS: i64 = 7 * 86_400_000;

/// The bucket a time falls in.
pub fn bucket_of(millis: i64) -> i64 {
    millis.div_euclid(BUCKET_MILLIS)
}

/// `kind u8 · type u32 · bucket i64 (sign-flipped) · first seq u64`, big-endian.
fn block_key(kind: SubjectKind, type_id: u32, bucket: i64, seq: u64) -> [u8; 21] {
    let mut k = [0u8; 21];
    k[0] = kind.tag();
    k[1..5].copy_from_slice(&type_id.to_be_bytes());
    k[5..13].copy_from_slice(&time_bytes(bucket));
    k[13..21].copy_from_slice(&seq.to_be_bytes());
    k
}

/// Rows of one block being built by a write.
#[derive(Default)]
pub(crate) struct BlockBuilder {
    first_seq: u64,
    subjects: Vec<u32>,
    times: Vec<i64>,
    offsets: Vec<u32>,
    data: Vec<u8>,
}

/// The blocks one write builds, by (kind, type, bucket).
#[derive(Default)]
pub(crate) struct Blocks {
    open: HashMap<(u8, u32, i64), BlockBuilder>,
}

impl Blocks {
    pub fn add<T: Serialize>(
        &mut self,
        kind: SubjectKind,
        type_id: u32,
        millis: i64,
        seq: u64,
        sid: u32,
        data: &T,
    ) {
        let b = self
            .open
            .entry((kind.tag(), type_id, bucket_of(millis)))
            .or_insert_with(|| BlockBuilder {
                first_seq: seq,
                offsets: vec![0],
                ..Default::default()
            });
        b.subjects.push(sid);
        b.times.push(millis);
        b.data.extend_from_slice(&codec::encode(data));
        b.offsets.push(b.data.len() as u32);
    }

    /// (key, value) of every block, for the write batch.
    pub fn encode(self) -> impl Iterator<Item = ([u8; 21], Vec<u8>)> {
        self.open.into_iter().map(|((kind, type_id, bucket), b)| {
            let kind = SubjectKind::from_tag(kind).expect("a valid kind");
            let n = b.subjects.len();
            let mut v = Vec::with_capacity(4 + n * 16 + 4 + b.data.len());
            v.extend_from_slice(&(n as u32).to_le_bytes());
            b.subjects
                .iter()
                .for_each(|s| v.extend_from_slice(&s.to_le_bytes()));
            b.times
                .iter()
                .for_each(|t| v.extend_from_slice(&t.to_le_bytes()));
            b.offsets
                .iter()
                .for_each(|o| v.extend_from_slice(&o.to_le_bytes()));
            v.extend_from_slice(&b.data);
            (block_key(kind, type_id, bucket, b.first_seq), v)
        })
    }
}

/// One block of events of one type, kind and week, read back.
pub struct Block {
    /// The event type's dictionary id.
    pub type_id: u32,
    /// The week bucket (see [`bucket_of`]).
    pub bucket: i64,
    bytes: Box<[u8]>,
    n: usize,
}

impl Block {
    fn parse(key: &[u8], value: &[u8]) -> Result<Block> {
        let corrupt = || StoreError::Corrupt("malformed event block".into());
        if key.len() != 21 || value.len() < 4 {
            return Err(corrupt());
        }
        let n = u32::from_le_bytes(value[..4].try_into().expect("4 bytes")) as usize;
        let fixed = 4 + n * 12 + (n + 1) * 4;
        if value.len() < fixed {
            return Err(corrupt());
        }
        let block = Block {
            type_id: u32::from_be_bytes(key[1..5].try_into().expect("4 bytes")),
            bucket: time_from_bytes(key[5..13].try_into().expect("8 bytes")),
            bytes: value.into(),
            n,
        };
        if block.offset(n) as usize + fixed != value.len() {
            return Err(corrupt());
        }
        Ok(block)
    }

    /// Rows in the block.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the block has no rows.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Row `i`'s dense subject id.
    #[inline]
    pub fn subject(&self, i: usize) -> u32 {
        let at = 4 + 4 * i;
        u32::from_le_bytes(self.bytes[at..at + 4].try_into().expect("4 bytes"))
    }

    /// Row `i`'s time (Unix ms).
    #[inline]
    pub fn time(&self, i: usize) -> i64 {
        let at = 4 + 4 * self.n + 8 * i;
        i64::from_le_bytes(self.bytes[at..at + 8].try_into().expect("8 bytes"))
    }

    fn offset(&self, i: usize) -> u32 {
        let at = 4 + 12 * self.n + 4 * i;
        u32::from_le_bytes(self.bytes[at..at + 4].try_into().expect("4 bytes"))
    }

    /// Row `i`'s data, decoded: (data key id, value).
    pub fn data(&self, i: usize) -> Result<Vec<(u32, Value)>> {
        let base = 4 + 16 * self.n + 4;
        let (start, end) = (self.offset(i) as usize, self.offset(i + 1) as usize);
        codec::decode(&self.bytes[base + start..base + end], "a block row")
    }
}

impl Store {
    /// The blocks of one subject kind and event type whose week buckets
    /// lie in `buckets`.
    pub fn blocks(
        &self,
        kind: SubjectKind,
        type_id: u32,
        buckets: RangeInclusive<i64>,
    ) -> Result<Vec<Block>> {
        let (lo, hi) = (*buckets.start(), *buckets.end());
        if lo > hi {
            return Ok(Vec::new());
        }
        let mut opts = ReadOptions::default();
        opts.set_iterate_lower_bound(block_key(kind, type_id, lo, 0).to_vec());
        let upper = match hi.checked_add(1) {
            Some(h) => block_key(kind, type_id, h, 0).to_vec(),
            None => {
                let mut k = block_key(kind, type_id, hi, u64::MAX).to_vec();
                k.push(0xFF);
                k
            }
        };
        opts.set_iterate_upper_bound(upper);
        let mut it = self.db.raw_iterator_cf_opt(self.cf(cf::BLOCKS), opts);
        it.seek_to_first();
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            out.push(Block::parse(k, v)?);
            it.next();
        }
        it.status()?;
        Ok(out)
    }
}
