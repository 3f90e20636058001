//! Reading blocks, through a cache of decoded blocks.
//!
//! Blocks never change once written (see `blocks.rs`), so a decoded block
//! can be shared by every later evaluation without any invalidation: the
//! cache maps a block's key to an `Arc<Block>`. Which blocks exist is
//! listed from the small `block_index` family (key → row count), so a warm
//! evaluation touches neither the large block values nor LZ4.
//!
//! The cache holds at most [`crate::StoreOptions::decoded_block_cache_bytes`];
//! beyond that the oldest entries go first (insertion order), which suits
//! the usual access — the recent buckets of a few types, again and again.

use std::collections::{HashMap, VecDeque};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};

use cohort_event::SubjectKind;
use rocksdb::ReadOptions;

use crate::blocks::Block;
use crate::db::cf;
use crate::error::{Result, StoreError};
use crate::keys::{self, block_key, BlockKey};
use crate::store::Store;
use crate::view::View;

type Key = BlockKey;

/// Decoded blocks by key, oldest first out.
pub(crate) struct BlockCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<Key, Arc<Block>>,
    order: VecDeque<(Key, usize)>,
    bytes: usize,
}

impl BlockCache {
    pub(crate) fn new(capacity: usize) -> BlockCache {
        BlockCache {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub(crate) fn get(&self, key: &Key) -> Option<Arc<Block>> {
        self.lock().map.get(key).cloned()
    }

    pub(crate) fn insert(&self, key: Key, block: Arc<Block>) {
        let size = block.heap_bytes();
        if size > self.capacity {
            return;
        }
        let mut inner = self.lock();
        if inner.map.insert(key, block).is_some() {
            return;
        }
        inner.order.push_back((key, size));
        inner.bytes += size;
        while inner.bytes > self.capacity {
            let Some((old, old_size)) = inner.order.pop_front() else {
                break;
            };
            inner.map.remove(&old);
            inner.bytes -= old_size;
        }
    }

    /// Forgets every decoded block (a bulk commit that failed took back
    /// blocks it had read).
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.map.clear();
        inner.order.clear();
        inner.bytes = 0;
    }

    /// Forgets the decoded blocks under `keys` (a deletion rewrote them).
    pub(crate) fn remove(&self, keys: &[Key]) {
        let mut inner = self.lock();
        for k in keys {
            if inner.map.remove(k).is_some() {
                if let Some(at) = inner.order.iter().position(|(o, _)| o == k) {
                    let (_, size) = inner.order.remove(at).expect("found at this place");
                    inner.bytes -= size;
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a consistent map (every
        // mutation completes before the next statement), so go on.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl View<'_> {
    /// The blocks of one subject kind and event type whose week buckets
    /// lie in `buckets`, in key order, as of this view. Every block is
    /// checked against the view's subjects: a row naming a subject the
    /// view does not hold is corruption, never an index past an array.
    pub fn blocks(
        &self,
        kind: SubjectKind,
        type_id: u32,
        buckets: RangeInclusive<i64>,
    ) -> Result<Vec<Arc<Block>>> {
        self.blocks_with_columns(kind, type_id, buckets, None)
    }

    /// Like [`View::blocks`], with only the data columns of `columns` decoded
    /// (all of them for `None`; others decode on first use): a cold
    /// command pays for the columns it reads, not for every column of the
    /// blocks. A requested column that does not decode is an error.
    pub fn blocks_with_columns(
        &self,
        kind: SubjectKind,
        type_id: u32,
        buckets: RangeInclusive<i64>,
        columns: Option<&[u32]>,
    ) -> Result<Vec<Arc<Block>>> {
        let (lo, hi) = (*buckets.start(), *buckets.end());
        if lo > hi {
            return Ok(Vec::new());
        }
        let store = self.store;
        let keys: Vec<BlockKey> = store
            .block_index(
                self.snapshot.as_ref(),
                kind,
                type_id,
                lo,
                hi,
                self.next_seq(),
            )?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let mut out: Vec<Option<Arc<Block>>> =
            keys.iter().map(|k| store.block_cache.get(k)).collect();
        let missing: Vec<BlockKey> = keys
            .iter()
            .zip(&out)
            .filter(|(_, b)| b.is_none())
            .map(|(k, _)| *k)
            .collect();
        if !missing.is_empty() {
            let mut read = missing
                .iter()
                .zip(store.read_blocks(self.snapshot.as_ref(), &missing)?)
                .map(|(k, b)| {
                    // Counted at its fully decoded size (`Block::heap_bytes`),
                    // so it is cached before its columns are decoded below.
                    let b = Arc::new(b);
                    store.block_cache.insert(*k, Arc::clone(&b));
                    b
                });
            for slot in out.iter_mut().filter(|b| b.is_none()) {
                *slot = read.next();
            }
        }
        let subjects = self.subject_count(kind);
        out.into_iter()
            .map(|b| {
                let b = b.expect("every block read");
                b.decode_columns(columns)?;
                match b.max_subject() {
                    Some(max) if max >= subjects => Err(StoreError::Corrupt(format!(
                        "an event block names {kind} #{max}, but the store has {subjects} {kind}s"
                    ))),
                    _ => Ok(b),
                }
            })
            .collect()
    }
}

impl Store {
    /// The blocks under `keys`, decoded, as of `snapshot` (not cached).
    pub(crate) fn read_blocks(
        &self,
        snapshot: Option<&rocksdb::Snapshot<'_>>,
        keys: &[BlockKey],
    ) -> Result<Vec<Block>> {
        let mut opts = ReadOptions::default();
        if let Some(snapshot) = snapshot {
            opts.set_snapshot(snapshot);
        }
        let values = self
            .db
            .batched_multi_get_cf_opt(self.cf(cf::BLOCKS), keys, false, &opts);
        keys.iter()
            .zip(values)
            .map(|(k, v)| {
                let v = v?
                    .ok_or_else(|| StoreError::Corrupt("a block in the index is missing".into()))?;
                Block::parse(k, &v)
            })
            .collect()
    }

    /// (key, row count) of the blocks of one kind and type in buckets
    /// `lo..=hi`, as of `snapshot`, leaving out blocks whose first sequence
    /// number is `below` or later (a bulk commit's, not yet visible).
    pub(crate) fn block_index(
        &self,
        snapshot: Option<&rocksdb::Snapshot<'_>>,
        kind: SubjectKind,
        type_id: u32,
        lo: i64,
        hi: i64,
        below: u64,
    ) -> Result<Vec<(BlockKey, u32)>> {
        let mut opts = ReadOptions::default();
        if let Some(snapshot) = snapshot {
            opts.set_snapshot(snapshot);
        }
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
        let mut it = self.db.raw_iterator_cf_opt(self.cf(cf::BLOCK_INDEX), opts);
        it.seek_to_first();
        let bad = || StoreError::Corrupt("malformed block index entry".into());
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let rows = u32::from_le_bytes(v.try_into().map_err(|_| bad())?);
            if keys::seq_of(k).is_some_and(|s| s < below) {
                out.push((k.try_into().map_err(|_| bad())?, rows));
            }
            it.next();
        }
        it.status()?;
        Ok(out)
    }
}
