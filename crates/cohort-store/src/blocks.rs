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
//!   tag 1 (dictionary): codes: [u32; n] (u32::MAX = no value) | DICT
//!   tag 2 (sparse numbers): m: u32 | rows: [u32; m] | [f64; m]
//!   tag 3 (sparse dictionary): m: u32 | rows: [u32; m] | codes: [u32; m] | DICT
//! DICT = entries: u32 | offsets: [u32; entries + 1] | postcard `Value`s
//! ```
//!
//! `subjects` are dense subject ids and `times` Unix milliseconds; rows are
//! in arrival order, not time order. A key whose values are all numbers is
//! a number column (JSON numbers are finite, so NaN is free to mean "no
//! value"); any other key is dictionary-coded, so a predicate is evaluated
//! once per distinct value, not once per row.
//!
//! A key that fewer than half of the block's rows carry is stored sparse:
//! the rows that have it, ascending, and their values. A column therefore
//! costs what its values cost: a thousand events with a hundred distinct
//! keys each make a hundred thousand one-row columns, not a hundred
//! thousand columns of a thousand rows (tags 2 and 3 are format 3; tags 0
//! and 1 are read as format 2 wrote them).

use std::borrow::Cow;

use cohort_event::{SubjectKind, Value};

use crate::codec;
use crate::error::{Result, StoreError};
use crate::keys::{block_key, parse_block_key, BlockKey};
use crate::state::HashMap;

/// Width of a block's time bucket: one week, in milliseconds.
pub const BUCKET_MILLIS: i64 = 7 * 86_400_000;

/// The dictionary code of a row without a value for the column's key.
pub const NO_VALUE: u32 = u32::MAX;

const TAG_NUMBERS: u8 = 0;
const TAG_DICT: u8 = 1;
const TAG_SPARSE_NUMBERS: u8 = 2;
const TAG_SPARSE_DICT: u8 = 3;

/// The bucket a time falls in.
pub fn bucket_of(millis: i64) -> i64 {
    millis.div_euclid(BUCKET_MILLIS)
}

/// One row's value for a key: a number, or the byte range of its postcard
/// encoding in the builder's arena.
#[derive(Clone, Copy)]
enum Cell {
    Number(f64),
    Encoded(u32, u32),
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
    /// Per data key: (row, value), rows ascending.
    values: HashMap<u32, Vec<(u32, Cell)>>,
    /// Encoded non-number values, one after the other (no allocation per value).
    arena: Vec<u8>,
}

/// The most rows one block holds: a bulk load that puts millions of
/// events of one type into one week writes several blocks, so that no
/// read decodes more than this at once.
pub(crate) const MAX_BLOCK_ROWS: usize = 1 << 16;

/// The blocks one write builds, by (kind, type, bucket).
#[derive(Default)]
pub(crate) struct Blocks {
    open: HashMap<(u8, u32, i64), BlockBuilder>,
    /// Blocks that reached [`MAX_BLOCK_ROWS`], encoded.
    sealed: Vec<(BlockKey, Vec<u8>)>,
    sealed_bytes: usize,
}

impl Blocks {
    fn builder(
        &mut self,
        kind: SubjectKind,
        type_id: u32,
        bucket: i64,
        seq: u64,
    ) -> &mut BlockBuilder {
        self.open
            .entry((kind.tag(), type_id, bucket))
            .or_insert_with(|| BlockBuilder {
                first_seq: seq,
                subjects: Vec::new(),
                times: Vec::new(),
                values: HashMap::default(),
                arena: Vec::new(),
            })
    }

    pub fn add(
        &mut self,
        kind: SubjectKind,
        type_id: u32,
        millis: i64,
        seq: u64,
        sid: u32,
        data: &[(u32, &Value)],
    ) {
        let bucket = bucket_of(millis);
        let b = self.builder(kind, type_id, bucket, seq);
        let row = b.subjects.len() as u32;
        b.subjects.push(sid);
        b.times.push(millis);
        for (key, value) in data {
            b.push(*key, row, value);
        }
        if b.subjects.len() >= MAX_BLOCK_ROWS {
            let at = (kind.tag(), type_id, bucket);
            let b = self.open.remove(&at).expect("the builder just used");
            let (key, value) = finish(at, b);
            self.sealed_bytes += value.len();
            self.sealed.push((key, value));
        }
    }

    /// Roughly the memory the blocks being built hold, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.sealed_bytes
            + self
                .open
                .values()
                .map(|b| {
                    b.subjects.capacity() * 4
                        + b.times.capacity() * 8
                        + b.arena.capacity()
                        + b.values
                            .values()
                            .map(|v| v.capacity() * std::mem::size_of::<(u32, Cell)>() + 32)
                            .sum::<usize>()
                })
                .sum::<usize>()
    }

    /// Appends every row of a decoded block (for merging), column by
    /// column: the cost is the block's values, not rows × keys.
    pub fn append_block(&mut self, kind: SubjectKind, seq: u64, block: &Block) -> Result<()> {
        // Every column is checked before any row is taken.
        block.decode_columns(None)?;
        let b = self.builder(kind, block.type_id, block.bucket, seq);
        let base = b.subjects.len() as u32;
        b.subjects.extend_from_slice(block.subjects());
        b.times.extend_from_slice(block.times());
        for c in &block.columns {
            if let Some(column) = block.lazy(c) {
                column.for_each(|row, value| b.push(c.key, base + row, &value));
            }
        }
        Ok(())
    }

    /// Appends the rows of `block` whose `keep` is true, in order (a
    /// deletion rewrites a block without one subject's rows).
    pub fn append_rows(
        &mut self,
        kind: SubjectKind,
        seq: u64,
        block: &Block,
        keep: &[bool],
    ) -> Result<()> {
        block.decode_columns(None)?;
        if !keep.iter().any(|k| *k) {
            return Ok(());
        }
        let b = self.builder(kind, block.type_id, block.bucket, seq);
        let base = b.subjects.len() as u32;
        // Each kept row's index in the new block.
        let mut at = vec![u32::MAX; keep.len()];
        let kept = keep.iter().enumerate().filter(|(_, k)| **k);
        for (n, (row, _)) in kept.enumerate() {
            at[row] = base + n as u32;
            b.subjects.push(block.subjects()[row]);
            b.times.push(block.times()[row]);
        }
        for c in &block.columns {
            if let Some(column) = block.lazy(c) {
                column.for_each(|row, value| {
                    if keep[row as usize] {
                        b.push(c.key, at[row as usize], &value);
                    }
                });
            }
        }
        Ok(())
    }

    /// The (key, value) of every block, encoded in parallel (a bulk commit
    /// encodes thousands of blocks; one by one, that was a serial step of
    /// every commit).
    pub fn encode_parallel(self) -> Vec<(BlockKey, Vec<u8>)> {
        use rayon::prelude::*;
        let open: Vec<_> = self.open.into_iter().collect();
        let mut out = self.sealed;
        out.par_extend(open.into_par_iter().map(|(at, b)| finish(at, b)));
        out
    }

    /// The (key, value) of every block, for the write batch.
    pub fn encode(self) -> impl Iterator<Item = (BlockKey, Vec<u8>)> {
        self.sealed
            .into_iter()
            .chain(self.open.into_iter().map(|(at, b)| finish(at, b)))
    }
}

/// A builder's block, keyed and encoded; `at` is where it was open:
/// (kind tag, type, bucket).
fn finish((kind, type_id, bucket): (u8, u32, i64), b: BlockBuilder) -> (BlockKey, Vec<u8>) {
    let kind = SubjectKind::from_tag(kind).expect("a valid kind");
    (
        block_key(kind, type_id, bucket, b.first_seq),
        b.encode_block(),
    )
}

impl BlockBuilder {
    fn push(&mut self, key: u32, row: u32, value: &Value) {
        let cell = match value {
            Value::Number(x) => Cell::Number(*x),
            other => self.encode(other),
        };
        self.values.entry(key).or_default().push((row, cell));
    }

    fn encode<T: serde::Serialize>(&mut self, value: &T) -> Cell {
        let start = self.arena.len() as u32;
        let arena = std::mem::take(&mut self.arena);
        self.arena = postcard::to_extend(value, arena).expect("a Vec grows as needed");
        Cell::Encoded(start, self.arena.len() as u32)
    }

    fn encode_block(mut self) -> Vec<u8> {
        let n = self.subjects.len();
        let cells: usize = self.values.values().map(Vec::len).sum();
        let mut v = Vec::with_capacity(8 + n * 12 + cells * 12 + self.arena.len());
        put_u32(&mut v, n as u32);
        self.subjects.iter().for_each(|s| put_u32(&mut v, *s));
        self.times
            .iter()
            .for_each(|t| v.extend_from_slice(&t.to_le_bytes()));
        let mut keys: Vec<_> = std::mem::take(&mut self.values).into_iter().collect();
        keys.sort_unstable_by_key(|(k, _)| *k);
        put_u32(&mut v, keys.len() as u32);
        let mut body = Vec::new();
        for (key, mut rows) in keys {
            body.clear();
            put_u32(&mut v, key);
            let sparse = rows.len() * 2 < n;
            if sparse {
                put_u32(&mut body, rows.len() as u32);
                rows.iter().for_each(|(row, _)| put_u32(&mut body, *row));
            }
            if rows.iter().all(|r| matches!(r.1, Cell::Number(_))) {
                v.push(if sparse {
                    TAG_SPARSE_NUMBERS
                } else {
                    TAG_NUMBERS
                });
                let mut col = vec![f64::NAN; if sparse { rows.len() } else { n }];
                for (i, (row, cell)) in rows.iter().enumerate() {
                    if let Cell::Number(x) = cell {
                        col[if sparse { i } else { *row as usize }] = *x;
                    }
                }
                col.iter()
                    .for_each(|x| body.extend_from_slice(&x.to_le_bytes()));
            } else {
                v.push(if sparse { TAG_SPARSE_DICT } else { TAG_DICT });
                // A key with numbers among other kinds: encode its numbers too.
                for (_, cell) in rows.iter_mut() {
                    if let Cell::Number(x) = *cell {
                        *cell = self.encode(&Value::Number(x));
                    }
                }
                let mut codes = vec![NO_VALUE; if sparse { rows.len() } else { n }];
                let mut dict: HashMap<&[u8], u32> = HashMap::default();
                let mut entries: Vec<&[u8]> = Vec::new();
                for (i, (row, cell)) in rows.iter().enumerate() {
                    let Cell::Encoded(a, b) = *cell else {
                        unreachable!("every cell was encoded above")
                    };
                    let bytes = &self.arena[a as usize..b as usize];
                    let code = *dict.entry(bytes).or_insert_with(|| {
                        entries.push(bytes);
                        entries.len() as u32 - 1
                    });
                    codes[if sparse { i } else { *row as usize }] = code;
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

/// A column's values: numbers, or dictionary codes.
#[derive(Debug, Clone)]
enum Values {
    /// Every value is a number; NaN marks a slot without one.
    Numbers(Vec<f64>),
    /// Slot `i` has `dict[codes[i]]`, or no value when the code is [`NO_VALUE`].
    Dict { codes: Vec<u32>, dict: Vec<Value> },
}

/// One data key's values in a block: one slot per row (dense), or slots
/// for only the rows that have the key (sparse).
#[derive(Debug, Clone)]
pub struct Column {
    /// The block's row count.
    len: usize,
    /// Sparse: the rows with a slot, ascending. Dense: `None`.
    rows: Option<Vec<u32>>,
    values: Values,
}

impl Column {
    /// Row `i`'s value, if it has one.
    pub fn value(&self, i: usize) -> Option<Value> {
        let slot = match &self.rows {
            None => i,
            Some(rows) => rows.binary_search(&(i as u32)).ok()?,
        };
        match &self.values {
            Values::Numbers(x) => (!x[slot].is_nan()).then_some(Value::Number(x[slot])),
            Values::Dict { codes, dict } => dict.get(codes[slot] as usize).cloned(),
        }
    }

    /// The column's numbers, one per row of the block, when it is a dense
    /// number column (the evaluator's fast path).
    pub fn dense_numbers(&self) -> Option<&[f64]> {
        match (&self.rows, &self.values) {
            (None, Values::Numbers(x)) => Some(x),
            _ => None,
        }
    }

    /// Each row's value as a number, NaN where it has none or it is not a
    /// number.
    pub fn numbers(&self) -> Cow<'_, [f64]> {
        match self.dense_numbers() {
            Some(x) => Cow::Borrowed(x),
            None => Cow::Owned(self.per_row(f64::NAN, |v| match v {
                Value::Number(x) => *x,
                _ => f64::NAN,
            })),
        }
    }

    /// `f` of each row's value, `absent` where a row has none. On a
    /// dictionary column `f` runs once per distinct value, not per row.
    pub fn per_row<T: Copy>(&self, absent: T, f: impl Fn(&Value) -> T) -> Vec<T> {
        let slots: Vec<T> = match &self.values {
            Values::Numbers(xs) => xs
                .iter()
                .map(|&x| {
                    if x.is_nan() {
                        absent
                    } else {
                        f(&Value::Number(x))
                    }
                })
                .collect(),
            Values::Dict { codes, dict } => {
                let table: Vec<T> = dict.iter().map(f).collect();
                codes
                    .iter()
                    .map(|&c| table.get(c as usize).copied().unwrap_or(absent))
                    .collect()
            }
        };
        match &self.rows {
            None => slots,
            Some(rows) => {
                let mut out = vec![absent; self.len];
                for (row, x) in rows.iter().zip(slots) {
                    out[*row as usize] = x;
                }
                out
            }
        }
    }

    /// Calls `f(row, value)` for every row that has a value, in row order.
    fn for_each(&self, mut f: impl FnMut(u32, Value)) {
        let row = |slot: usize| self.rows.as_ref().map_or(slot as u32, |r| r[slot]);
        match &self.values {
            Values::Numbers(xs) => xs
                .iter()
                .enumerate()
                .filter(|(_, x)| !x.is_nan())
                .for_each(|(i, x)| f(row(i), Value::Number(*x))),
            Values::Dict { codes, dict } => codes
                .iter()
                .enumerate()
                .filter_map(|(i, &c)| Some((i, dict.get(c as usize)?)))
                .for_each(|(i, v)| f(row(i), v.clone())),
        }
    }
}

/// One block of events of one type, kind and week: subjects and times
/// decoded, data columns decoded on first use.
///
/// A cold command reads whole blocks but often needs few of their columns
/// (`last(purchase) < now - 60d` needs none): decoding a column allocates
/// and fills memory, so only the columns asked for are decoded
/// ([`Block::decode_columns`], which `View::blocks_with_columns` calls and
/// which reports a corrupt column as an error).
#[derive(Debug)]
pub struct Block {
    /// The event type's dictionary id.
    pub type_id: u32,
    /// The week bucket (see [`bucket_of`]).
    pub bucket: i64,
    subjects: Vec<u32>,
    times: Vec<i64>,
    /// The block's bytes from its column directory on, which the columns'
    /// bodies point into.
    raw: Box<[u8]>,
    /// Per data key, in key order: where its body is, and the column once
    /// decoded.
    columns: Vec<LazyColumn>,
}

#[derive(Debug)]
struct LazyColumn {
    key: u32,
    tag: u8,
    body: std::ops::Range<usize>,
    decoded: std::sync::OnceLock<Option<Column>>,
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

    /// Sparse rows: a count, then that many ascending rows below `n`.
    fn rows(&mut self, n: usize) -> Result<Vec<u32>> {
        let m = self.u32()? as usize;
        if m > n {
            return Err(corrupt());
        }
        let rows = self.u32s(m)?;
        let ascending = rows.windows(2).all(|w| w[0] < w[1]);
        if !ascending || rows.last().is_some_and(|&r| r as usize >= n) {
            return Err(corrupt());
        }
        Ok(rows)
    }

    /// `slots` codes, then the dictionary they index.
    fn dict(&mut self, slots: usize) -> Result<Values> {
        let codes = self.u32s(slots)?;
        let entries = self.u32()? as usize;
        let offsets = self.u32s(entries.checked_add(1).ok_or_else(corrupt)?)?;
        let bytes = self.0;
        if offsets
            .last()
            .is_none_or(|&end| end as usize != bytes.len())
        {
            return Err(corrupt());
        }
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
        Ok(Values::Dict { codes, dict })
    }
}

fn corrupt() -> StoreError {
    StoreError::Corrupt("malformed event block".into())
}

impl Block {
    /// Decodes a block's rows and checks its column directory; the columns
    /// themselves are decoded when first used.
    pub(crate) fn parse(key: &[u8], value: &[u8]) -> Result<Block> {
        let parts = parse_block_key(key).ok_or_else(corrupt)?;
        let mut r = Reader(value);
        let n = r.u32()? as usize;
        let subjects = r.u32s(n)?;
        let times: Vec<i64> = r.u64s(n)?.map(|x| x as i64).collect();
        // Every row lies in the block's week: the evaluator skips the
        // per-row window test on blocks wholly inside a window.
        if times.iter().any(|&t| bucket_of(t) != parts.bucket) {
            return Err(corrupt());
        }
        let count = r.u32()? as usize;
        // Only the column bodies are kept (subjects and times are decoded
        // above): a cold read copies what it may still need, no more.
        let kept_from = value.len() - r.0.len();
        let mut columns: Vec<LazyColumn> = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let key = r.u32()?;
            let tag = r.u8()?;
            let len = r.u32()? as usize;
            let start = value.len() - r.0.len() - kept_from;
            r.take(len)?;
            if !matches!(
                tag,
                TAG_NUMBERS | TAG_DICT | TAG_SPARSE_NUMBERS | TAG_SPARSE_DICT
            ) {
                return Err(StoreError::UnsupportedEncoding {
                    what: format!("an event block column of kind {tag}"),
                });
            }
            if columns.last().is_some_and(|c| c.key >= key) {
                return Err(corrupt());
            }
            columns.push(LazyColumn {
                key,
                tag,
                body: start..start + len,
                decoded: std::sync::OnceLock::new(),
            });
        }
        if !r.0.is_empty() {
            return Err(corrupt());
        }
        Ok(Block {
            type_id: parts.type_id,
            bucket: parts.bucket,
            subjects,
            times,
            raw: value[kept_from..].into(),
            columns,
        })
    }

    /// Decodes one column's body (checking all of it).
    fn decode_column(&self, c: &LazyColumn) -> Result<Column> {
        let n = self.subjects.len();
        let mut body = Reader(&self.raw[c.body.clone()]);
        let (rows, values) = match c.tag {
            TAG_NUMBERS => (
                None,
                Values::Numbers(body.u64s(n)?.map(f64::from_bits).collect()),
            ),
            TAG_DICT => (None, body.dict(n)?),
            TAG_SPARSE_NUMBERS => {
                let rows = body.rows(n)?;
                let xs = body.u64s(rows.len())?.map(f64::from_bits).collect();
                (Some(rows), Values::Numbers(xs))
            }
            _ => {
                let rows = body.rows(n)?;
                let values = body.dict(rows.len())?;
                (Some(rows), values)
            }
        };
        if matches!(values, Values::Numbers(_)) && !body.0.is_empty() {
            return Err(corrupt());
        }
        Ok(Column {
            len: n,
            rows,
            values,
        })
    }

    /// The decoded column of `c`, decoding it now if it was not yet; a
    /// column that does not decode is `None` here (and an error from
    /// [`Block::decode_columns`]).
    fn lazy<'a>(&self, c: &'a LazyColumn) -> Option<&'a Column> {
        c.decoded
            .get_or_init(|| self.decode_column(c).ok())
            .as_ref()
    }

    /// Decodes the columns of `keys` (all of them when `None`), so that
    /// [`Block::column`] returns them without decoding; a column that does
    /// not decode is an error here.
    pub fn decode_columns(&self, keys: Option<&[u32]>) -> Result<()> {
        let decodes = |c: &LazyColumn| self.lazy(c).is_some();
        let all = match keys {
            None => self.columns.iter().all(decodes),
            // Every evaluation asks again of a cached block: look up the
            // few keys asked for (columns are in key order) rather than
            // scan a block's columns, which may be many thousands.
            Some(keys) => keys.iter().all(|k| {
                self.columns
                    .binary_search_by_key(k, |c| c.key)
                    .map_or(true, |i| decodes(&self.columns[i]))
            }),
        };
        if all {
            Ok(())
        } else {
            Err(corrupt())
        }
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

    /// The largest dense subject id in the block (`None` when empty).
    pub fn max_subject(&self) -> Option<u32> {
        self.subjects.iter().copied().max()
    }

    /// Each row's time (Unix ms).
    pub fn times(&self) -> &[i64] {
        &self.times
    }

    /// The column of a data key, when some row of the block has the key
    /// (decoded on first use; see [`Block::decode_columns`]).
    pub fn column(&self, key: u32) -> Option<&Column> {
        self.columns
            .binary_search_by_key(&key, |c| c.key)
            .ok()
            .and_then(|i| self.lazy(&self.columns[i]))
    }

    /// Row `i`'s data, rebuilt from the columns: (data key id, value), in
    /// key order.
    pub fn row(&self, i: usize) -> Vec<(u32, Value)> {
        self.columns
            .iter()
            .filter_map(|c| self.lazy(c)?.value(i).map(|v| (c.key, v)))
            .collect()
    }

    /// About how many bytes the block holds with every column decoded (an
    /// upper estimate, known without decoding): the block cache counts a
    /// block at this size from the start, so columns decoded later never
    /// take it past its budget.
    pub fn heap_bytes(&self) -> usize {
        self.len() * 12
            + self.raw.len()
            + self
                .columns
                .iter()
                .map(|c| std::mem::size_of::<LazyColumn>() + self.decoded_bound(c))
                .sum::<usize>()
    }

    /// An upper estimate of one column's decoded size, read off its body's
    /// header: the body's bytes (codes, rows, numbers and the strings'
    /// bytes decode to no more than they encode to) plus an in-memory value
    /// per dictionary entry and a `Column` header.
    fn decoded_bound(&self, c: &LazyColumn) -> usize {
        let n = self.subjects.len();
        let body = &self.raw[c.body.clone()];
        let u32_at = |at: usize| {
            body.get(at..at + 4).map_or(0, |b| {
                u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize
            })
        };
        let entries = match c.tag {
            TAG_DICT => u32_at(n.saturating_mul(4)),
            TAG_SPARSE_DICT => {
                let m = u32_at(0).min(n);
                u32_at(4 + m * 8)
            }
            _ => 0,
        };
        // A corrupt count cannot inflate the estimate past the body: each
        // entry takes at least one byte of it.
        let entries = entries.min(body.len());
        std::mem::size_of::<Column>() + body.len() + entries * std::mem::size_of::<Value>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(rows: &[Vec<(u32, Value)>]) -> (BlockKey, Vec<u8>) {
        let mut blocks = Blocks::default();
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
        let mut encoded: Vec<_> = blocks.encode().collect();
        assert_eq!(encoded.len(), 1);
        encoded.pop().unwrap()
    }

    #[test]
    fn a_block_round_trips_every_kind_of_column() {
        let s = |x: &str| Value::String(x.into());
        let rows: Vec<Vec<(u32, Value)>> = vec![
            vec![(1, Value::Number(5.0)), (2, s("books"))],
            vec![(2, s("games")), (3, Value::Bool(true))],
            vec![(1, Value::Number(-0.5)), (2, s("books")), (3, Value::Null)],
            vec![
                (4, Value::Strings(vec!["a".into()])),
                (5, Value::Number(1.0)),
            ],
            vec![(5, s("mixed")), (1, Value::Number(2.0))],
        ];
        let (key, value) = build(&rows);
        let block = Block::parse(&key, &value).unwrap();
        assert_eq!(block.type_id, 7);
        assert_eq!(block.subjects(), &[0, 3, 6, 9, 12]);
        assert_eq!(block.max_subject(), Some(12));
        assert_eq!(block.times(), &[1000, 1001, 1002, 1003, 1004]);
        for (i, row) in rows.iter().enumerate() {
            let mut want = row.clone();
            want.sort_by_key(|(k, _)| *k);
            assert_eq!(block.row(i), want, "row {i}");
        }
        // Key 1 is in 3 of 5 rows: a dense number column.
        assert!(block.column(1).unwrap().dense_numbers().is_some());
        let ones: Vec<Option<f64>> = block
            .column(1)
            .unwrap()
            .numbers()
            .iter()
            .map(|x| (!x.is_nan()).then_some(*x))
            .collect();
        assert_eq!(ones, [Some(5.0), None, Some(-0.5), None, Some(2.0)]);
        // Key 5 is in 2 of 5 rows, sparse, a number and a string.
        let five = block.column(5).unwrap();
        assert!(five.dense_numbers().is_none());
        assert_eq!(
            five.per_row(0u8, |v| match v {
                Value::Number(_) => 1,
                _ => 2,
            }),
            [0, 0, 0, 1, 2]
        );
        assert!(block.column(9).is_none());
        // Any cut of the value is refused, not misread.
        for cut in 0..value.len() {
            assert!(Block::parse(&key, &value[..cut]).is_err(), "cut at {cut}");
        }
    }

    /// Regression (issue 8, case 1): a thousand events with a hundred keys
    /// each, none shared, cost their values — not rows × keys.
    #[test]
    fn many_distinct_keys_cost_what_their_values_cost() {
        let rows: Vec<Vec<(u32, Value)>> = (0..1000u32)
            .map(|i| {
                (0..100)
                    .map(|j| (i * 100 + j, Value::Number(j as f64)))
                    .collect()
            })
            .collect();
        let (key, value) = build(&rows);
        // Per value: 4 bytes of row, 8 of number, and a 13-byte column header.
        assert!(
            value.len() < 100_000 * (4 + 8 + 13 + 4) + 1000 * 12 + 8,
            "{} bytes",
            value.len()
        );
        let block = Block::parse(&key, &value).unwrap();
        // Linear in the values: the raw bytes, a column slot each, and
        // the decoded values once read.
        let bound = block.heap_bytes();
        assert!(bound < 100_000 * 300, "{bound}");
        assert_eq!(block.row(999)[99], (99_999, Value::Number(99.0)));
        assert_eq!(block.heap_bytes(), bound, "known before decoding");
        // Merging it into another block keeps every value.
        let mut merged = Blocks::default();
        merged.append_block(SubjectKind::User, 1, &block).unwrap();
        merged.append_block(SubjectKind::User, 1, &block).unwrap();
        let (k2, v2) = merged.encode().next().unwrap();
        let twice = Block::parse(&k2, &v2).unwrap();
        assert_eq!(twice.len(), 2000);
        assert_eq!(twice.row(1999), block.row(999));
        assert!(v2.len() < 2 * value.len() + 1000, "{} bytes", v2.len());
    }

    /// The bytes of one block, pinned: this is the on-disk format (a dense
    /// number column and a sparse dictionary column). A change here breaks
    /// every existing store.
    #[test]
    fn block_bytes_are_pinned() {
        let mut blocks = Blocks::default();
        let a = Value::String("a".into());
        for (sid, t, data) in [
            (1, 1000, vec![(0, Value::Number(2.5)), (1, a.clone())]),
            (2, 2000, vec![(0, Value::Number(-1.0))]),
            (0, 3000, vec![(0, Value::Number(7.0))]),
        ] {
            let data: Vec<(u32, &Value)> = data.iter().map(|(k, v)| (*k, v)).collect();
            blocks.add(SubjectKind::User, 4, t, 10, sid, &data);
        }
        let (key, value) = blocks.encode().next().unwrap();
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(hex(&key), "00000000048000000000000000000000000000000a");
        assert_eq!(
            hex(&value),
            "03000000010000000200000000000000e803000000000000d007000000000000b80b000000000000\
             020000000000000000180000000000000000000440000000000000f0bf0000000000001c40\
             01000000031b000000010000000000000000000000010000000000000003000000030161"
        );
    }

    /// Issue 9: a cold command decodes only the columns it reads, and a
    /// column that does not decode is an error when it is asked for.
    #[test]
    fn columns_are_decoded_when_asked_for_and_checked_then() {
        let s = |x: &str| Value::String(x.into());
        let (key, mut value) = build(&[
            vec![(1, Value::Number(1.0)), (2, s("a")), (3, s("b"))],
            vec![(1, Value::Number(2.0)), (2, s("c")), (3, s("d"))],
        ]);
        let decoded = |b: &Block| {
            b.columns
                .iter()
                .filter(|c| c.decoded.get().is_some())
                .count()
        };
        let block = Block::parse(&key, &value).unwrap();
        assert_eq!(decoded(&block), 0, "parsing decodes no column");
        block.decode_columns(Some(&[2])).unwrap();
        assert_eq!(decoded(&block), 1);
        assert_eq!(block.column(2).unwrap().value(1), Some(s("c")));
        block.decode_columns(None).unwrap();
        assert_eq!(decoded(&block), 3);
        // Break column 3's dictionary: the block parses, column 3 does
        // not decode, and asking for it is an error.
        let last = value.len() - 1;
        value[last] = 0xff;
        let block = Block::parse(&key, &value).unwrap();
        block.decode_columns(Some(&[1, 2])).unwrap();
        assert!(block.decode_columns(Some(&[3])).is_err());
        assert!(block.decode_columns(None).is_err());
        let mut merged = Blocks::default();
        assert!(merged.append_block(SubjectKind::User, 1, &block).is_err());
    }

    #[test]
    fn an_unknown_column_kind_is_an_unsupported_encoding_not_corruption() {
        let (key, mut value) = build(&[vec![(1, Value::Number(1.0))]]);
        // n, subject, time, column count, key: the tag is at byte 4+4+8+4+4.
        let at = 24;
        assert_eq!(value[at], TAG_NUMBERS);
        value[at] = 9;
        let err = Block::parse(&key, &value).unwrap_err();
        assert!(
            matches!(err, StoreError::UnsupportedEncoding { .. }),
            "{err}"
        );
    }
}
