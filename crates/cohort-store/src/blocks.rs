//! Columnar event blocks: the evaluator's read-only-what-is-needed layout.
//!
//! Every write also files its events into blocks keyed by
//! (subject kind, event type, week bucket, first sequence number), in the
//! same `WriteBatch` as the log. A condition on one type over the last 30
//! days reads the blocks of that type in five buckets and nothing else.
//! Blocks are immutable once written (a later write starts new ones, with
//! a larger first sequence number; merging small blocks writes a new key
//! and deletes the old ones, see `merge.rs`), which is what lets readers
//! cache them decoded (see `block_cache.rs`).
//!
//! A block value is laid out by hand, little-endian, one column after the
//! other so a reader copies each with one `memcpy`-like pass:
//!
//! ```text
//! n: u32 | subjects: [u32; n] | times: [i64; n] | columns: u32
//! then per data key, in key order:
//!   key: u32 | tag: u8 | body_len: u32 | body
//!   tag 0 (numbers): [f64; n], NaN where the row has no value
//!   tag 1 (dictionary): codes: [u32; n] (u32::MAX = no value)
//!                       | entries: u32 | offsets: [u32; entries + 1]
//!                       | postcard-encoded `Value`s
//! ```
//!
//! `subjects` are dense subject ids and `times` Unix milliseconds; rows are
//! in arrival order, not time order. A key whose values are all numbers is
//! a number column (JSON numbers are finite, so NaN is free to mean "no
//! value"); any other key is dictionary-coded, so a predicate is evaluated
//! once per distinct value, not once per row.

use cohort_event::{SubjectKind, Value};

use crate::codec;
use crate::error::{Result, StoreError};
use crate::keys::{time_bytes, time_from_bytes};
use crate::state::HashMap;

/// Width of a block's time bucket: one week, in milliseconds.
pub const BUCKET_MILLIS: i64 = 7 * 86_400_000;

/// The dictionary code of a row without a value for the column's key.
pub const NO_VALUE: u32 = u32::MAX;

const TAG_NUMBERS: u8 = 0;
const TAG_DICT: u8 = 1;

/// The bucket a time falls in.
pub fn bucket_of(millis: i64) -> i64 {
    millis.div_euclid(BUCKET_MILLIS)
}

/// `kind u8 · type u32 · bucket i64 (sign-flipped) · first seq u64`, big-endian.
pub(crate) fn block_key(kind: SubjectKind, type_id: u32, bucket: i64, seq: u64) -> [u8; 21] {
    let mut k = [0u8; 21];
    k[0] = kind.tag();
    k[1..5].copy_from_slice(&type_id.to_be_bytes());
    k[5..13].copy_from_slice(&time_bytes(bucket));
    k[13..21].copy_from_slice(&seq.to_be_bytes());
    k
}

/// One row's value for a key: a number, or the byte range of its postcard
/// encoding in the builder's arena.
#[derive(Clone, Copy)]
enum Cell {
    Number(f64),
    Encoded(u32, u32),
}

/// The parts of a block key: (kind, type id, bucket, first seq).
pub(crate) fn parse_block_key(key: &[u8]) -> Result<(SubjectKind, u32, i64, u64)> {
    let key: &[u8; 21] = key.try_into().map_err(|_| corrupt())?;
    let kind = SubjectKind::from_tag(key[0]).ok_or_else(corrupt)?;
    Ok((
        kind,
        u32::from_be_bytes(key[1..5].try_into().expect("4 bytes")),
        time_from_bytes(key[5..13].try_into().expect("8 bytes")),
        u64::from_be_bytes(key[13..21].try_into().expect("8 bytes")),
    ))
}

/// The row count a block value starts with.
pub(crate) fn block_rows(value: &[u8]) -> Result<u32> {
    Reader(value).u32()
}

/// Rows of one block being built by a write.
struct BlockBuilder {
    first_seq: u64,
    subjects: Vec<u32>,
    times: Vec<i64>,
    /// Per data key: (row, value).
    values: HashMap<u32, Vec<(u32, Cell)>>,
    /// Encoded non-number values, one after the other (no allocation per value).
    arena: Vec<u8>,
}

/// The blocks one write builds, by (kind, type, bucket).
#[derive(Default)]
pub(crate) struct Blocks {
    open: HashMap<(u8, u32, i64), BlockBuilder>,
}

impl Blocks {
    pub fn add(
        &mut self,
        kind: SubjectKind,
        type_id: u32,
        millis: i64,
        seq: u64,
        sid: u32,
        data: &[(u32, &Value)],
    ) {
        let b = self
            .open
            .entry((kind.tag(), type_id, bucket_of(millis)))
            .or_insert_with(|| BlockBuilder {
                first_seq: seq,
                subjects: Vec::new(),
                times: Vec::new(),
                values: HashMap::default(),
                arena: Vec::new(),
            });
        let row = b.subjects.len() as u32;
        b.subjects.push(sid);
        b.times.push(millis);
        for (key, value) in data {
            let cell = match value {
                Value::Number(x) => Cell::Number(*x),
                other => b.encode(other),
            };
            b.values.entry(*key).or_default().push((row, cell));
        }
    }

    /// The (key, value) of every block, for the write batch.
    pub fn encode(self) -> impl Iterator<Item = ([u8; 21], Vec<u8>)> {
        self.open.into_iter().map(|((kind, type_id, bucket), b)| {
            let kind = SubjectKind::from_tag(kind).expect("a valid kind");
            (
                block_key(kind, type_id, bucket, b.first_seq),
                b.encode_block(),
            )
        })
    }
}

impl BlockBuilder {
    fn encode<T: serde::Serialize>(&mut self, value: &T) -> Cell {
        let start = self.arena.len() as u32;
        let arena = std::mem::take(&mut self.arena);
        self.arena = postcard::to_extend(value, arena).expect("a Vec grows as needed");
        Cell::Encoded(start, self.arena.len() as u32)
    }

    fn encode_block(mut self) -> Vec<u8> {
        let n = self.subjects.len();
        let mut v = Vec::with_capacity(8 + n * 16 + self.values.len() * n * 8);
        put_u32(&mut v, n as u32);
        self.subjects.iter().for_each(|s| put_u32(&mut v, *s));
        self.times
            .iter()
            .for_each(|t| v.extend_from_slice(&t.to_le_bytes()));
        let mut keys: Vec<_> = std::mem::take(&mut self.values).into_iter().collect();
        keys.sort_unstable_by_key(|(k, _)| *k);
        put_u32(&mut v, keys.len() as u32);
        for (key, mut rows) in keys {
            put_u32(&mut v, key);
            let mut body = Vec::new();
            if rows.iter().all(|r| matches!(r.1, Cell::Number(_))) {
                v.push(TAG_NUMBERS);
                let mut col = vec![f64::NAN; n];
                for (row, cell) in &rows {
                    if let Cell::Number(x) = cell {
                        col[*row as usize] = *x;
                    }
                }
                col.iter()
                    .for_each(|x| body.extend_from_slice(&x.to_le_bytes()));
            } else {
                v.push(TAG_DICT);
                // A key with numbers among other kinds: encode its numbers too.
                for (_, cell) in rows.iter_mut() {
                    if let Cell::Number(x) = *cell {
                        *cell = self.encode(&Value::Number(x));
                    }
                }
                let mut codes = vec![NO_VALUE; n];
                let mut dict: HashMap<&[u8], u32> = HashMap::default();
                let mut entries: Vec<&[u8]> = Vec::new();
                for (row, cell) in &rows {
                    let Cell::Encoded(a, b) = *cell else {
                        unreachable!("every cell was encoded above")
                    };
                    let bytes = &self.arena[a as usize..b as usize];
                    let code = *dict.entry(bytes).or_insert_with(|| {
                        entries.push(bytes);
                        entries.len() as u32 - 1
                    });
                    codes[*row as usize] = code;
                }
                codes.iter().for_each(|c| put_u32(&mut body, *c));
                put_u32(&mut body, entries.len() as u32);
                let mut at = 0u32;
                put_u32(&mut body, 0);
                for e in &entries {
                    at += e.len() as u32;
                    put_u32(&mut body, at);
                }
                entries.iter().for_each(|e| body.extend_from_slice(e));
            }
            put_u32(&mut v, body.len() as u32);
            v.extend_from_slice(&body);
        }
        v
    }
}

fn put_u32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

/// One data key's values in a block.
#[derive(Debug, Clone)]
pub enum Column {
    /// Every value is a number; NaN marks a row without one.
    Numbers(Vec<f64>),
    /// Dictionary-coded values of any kind: row `i` has `dict[codes[i]]`,
    /// or no value when `codes[i]` is [`NO_VALUE`].
    Dict {
        /// Each row's code.
        codes: Vec<u32>,
        /// The distinct values.
        dict: Vec<Value>,
    },
}

impl Column {
    /// Row `i`'s value, if it has one.
    pub fn value(&self, i: usize) -> Option<Value> {
        match self {
            Column::Numbers(x) => (!x[i].is_nan()).then_some(Value::Number(x[i])),
            Column::Dict { codes, dict } => dict.get(codes[i] as usize).cloned(),
        }
    }

    /// `f` of each row's value, `absent` where a row has none. On a
    /// dictionary column `f` runs once per distinct value, not per row.
    pub fn per_row<T: Copy>(&self, absent: T, f: impl Fn(&Value) -> T) -> Vec<T> {
        match self {
            Column::Numbers(xs) => xs
                .iter()
                .map(|&x| {
                    if x.is_nan() {
                        absent
                    } else {
                        f(&Value::Number(x))
                    }
                })
                .collect(),
            Column::Dict { codes, dict } => {
                let table: Vec<T> = dict.iter().map(f).collect();
                codes
                    .iter()
                    .map(|&c| table.get(c as usize).copied().unwrap_or(absent))
                    .collect()
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Column::Numbers(x) => x.len() * 8,
            Column::Dict { codes, dict } => codes.len() * 4 + dict.len() * 48,
        }
    }
}

/// One block of events of one type, kind and week, decoded.
#[derive(Debug)]
pub struct Block {
    /// The event type's dictionary id.
    pub type_id: u32,
    /// The week bucket (see [`bucket_of`]).
    pub bucket: i64,
    subjects: Vec<u32>,
    times: Vec<i64>,
    /// (data key id, column), in key order.
    columns: Vec<(u32, Column)>,
}

/// Reads little-endian fields off a byte slice, failing on a short one.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(corrupt());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u32s(&mut self, n: usize) -> Result<Vec<u32>> {
        let bytes = self.take(n.checked_mul(4).ok_or_else(corrupt)?)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    }

    /// `n` little-endian 64-bit words (times as i64, numbers as f64 bits).
    fn u64s(&mut self, n: usize) -> Result<impl Iterator<Item = u64> + 'a> {
        let bytes = self.take(n.checked_mul(8).ok_or_else(corrupt)?)?;
        Ok(bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))))
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
}

fn corrupt() -> StoreError {
    StoreError::Corrupt("malformed event block".into())
}

impl Block {
    pub(crate) fn parse(key: &[u8], value: &[u8]) -> Result<Block> {
        let (_, type_id, bucket, _) = parse_block_key(key)?;
        let mut r = Reader(value);
        let n = r.u32()? as usize;
        let subjects = r.u32s(n)?;
        let times = r.u64s(n)?.map(|x| x as i64).collect();
        let count = r.u32()? as usize;
        let mut columns = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let key = r.u32()?;
            let tag = r.u8()?;
            let len = r.u32()? as usize;
            let mut body = Reader(r.take(len)?);
            let column = match tag {
                TAG_NUMBERS => Column::Numbers(body.u64s(n)?.map(f64::from_bits).collect()),
                TAG_DICT => {
                    let codes = body.u32s(n)?;
                    let entries = body.u32()? as usize;
                    let offsets = body.u32s(entries.checked_add(1).ok_or_else(corrupt)?)?;
                    let bytes = body.0;
                    let dict = offsets
                        .windows(2)
                        .map(|w| {
                            let e = bytes
                                .get(w[0] as usize..w[1] as usize)
                                .ok_or_else(corrupt)?;
                            codec::decode::<Value>(e, "a block value")
                        })
                        .collect::<Result<Vec<Value>>>()?;
                    if codes
                        .iter()
                        .any(|&c| c != NO_VALUE && c as usize >= dict.len())
                    {
                        return Err(corrupt());
                    }
                    Column::Dict { codes, dict }
                }
                _ => return Err(corrupt()),
            };
            columns.push((key, column));
        }
        if !r.0.is_empty() {
            return Err(corrupt());
        }
        Ok(Block {
            type_id,
            bucket,
            subjects,
            times,
            columns,
        })
    }

    /// Rows in the block.
    pub fn len(&self) -> usize {
        self.subjects.len()
    }

    /// Whether the block has no rows.
    pub fn is_empty(&self) -> bool {
        self.subjects.is_empty()
    }

    /// Each row's dense subject id.
    pub fn subjects(&self) -> &[u32] {
        &self.subjects
    }

    /// Each row's time (Unix ms).
    pub fn times(&self) -> &[i64] {
        &self.times
    }

    /// The column of a data key, when some row of the block has the key.
    pub fn column(&self, key: u32) -> Option<&Column> {
        self.columns
            .binary_search_by_key(&key, |(k, _)| *k)
            .ok()
            .map(|i| &self.columns[i].1)
    }

    /// Row `i`'s data, rebuilt from the columns: (data key id, value), in
    /// key order.
    pub fn row(&self, i: usize) -> Vec<(u32, Value)> {
        self.columns
            .iter()
            .filter_map(|(k, c)| c.value(i).map(|v| (*k, v)))
            .collect()
    }

    /// About how many bytes the decoded block holds.
    pub fn heap_bytes(&self) -> usize {
        self.len() * 12
            + self
                .columns
                .iter()
                .map(|(_, c)| c.heap_bytes())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_round_trips_every_kind_of_column() {
        let mut blocks = Blocks::default();
        let s = |x: &str| Value::String(x.into());
        let rows: Vec<Vec<(u32, Value)>> = vec![
            vec![(1, Value::Number(5.0)), (2, s("books"))],
            vec![(2, s("games")), (3, Value::Bool(true))],
            vec![(1, Value::Number(-0.5)), (2, s("books")), (3, Value::Null)],
            vec![
                (4, Value::Strings(vec!["a".into()])),
                (5, Value::Number(1.0)),
            ],
            vec![(5, s("mixed"))],
        ];
        for (i, row) in rows.iter().enumerate() {
            let data: Vec<(u32, &Value)> = row.iter().map(|(k, v)| (*k, v)).collect();
            blocks.add(
                SubjectKind::User,
                7,
                1000 + i as i64,
                10 + i as u64,
                i as u32 * 3,
                &data,
            );
        }
        let encoded: Vec<_> = blocks.encode().collect();
        assert_eq!(encoded.len(), 1);
        let (key, value) = &encoded[0];
        let block = Block::parse(key, value).unwrap();
        assert_eq!(block.type_id, 7);
        assert_eq!(block.subjects(), &[0, 3, 6, 9, 12]);
        assert_eq!(block.times(), &[1000, 1001, 1002, 1003, 1004]);
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(&block.row(i), row, "row {i}");
        }
        assert!(matches!(block.column(1), Some(Column::Numbers(_))));
        // "books" is stored once.
        assert!(matches!(block.column(2), Some(Column::Dict { dict, .. }) if dict.len() == 2));
        assert!(matches!(block.column(5), Some(Column::Dict { .. })));
        assert!(block.column(9).is_none());
        // Any cut of the value is refused, not misread.
        for cut in 0..value.len() {
            assert!(Block::parse(key, &value[..cut]).is_err(), "cut at {cut}");
        }
    }
}
