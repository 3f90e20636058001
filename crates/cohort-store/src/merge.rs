//! Merging small blocks, so that many small writes do not leave a bucket
//! of thousands of tiny blocks.
//!
//! A track request writes one block per (kind, type, week) it touches,
//! often of a few rows. When a write files a small block into a bucket that
//! already holds [`MERGE_AT`]` - 1` small blocks (under [`SMALL_ROWS`] rows
//! each), it folds them and its own block into one, under its own new key,
//! and deletes the old keys — all in its one `WriteBatch`. Blocks stay
//! immutable (a merged block has a key never used before), so the decoded
//! cache needs no invalidation; readers list and read blocks through one
//! snapshot, so they never see a deleted key. Bulk loads (input chunks of
//! 4 MiB) write blocks of thousands of rows and do not merge.

use std::collections::HashMap;

use rocksdb::WriteBatch;

use crate::blocks::{block_rows, Block, Blocks};
use crate::db::cf;
use crate::error::{Result, StoreError};
use crate::keys::{parse_block_key, BlockKey};
use crate::store::Store;

/// A block with fewer rows than this is small.
pub(crate) const SMALL_ROWS: u32 = 1024;

/// Small blocks in one bucket that trigger a merge (the new one included).
pub(crate) const MERGE_AT: usize = 8;

/// A bucket: (kind tag, type id, bucket start).
pub(crate) type BucketId = (u8, u32, i64);

/// Buckets and their small blocks after a write, for [`SmallBlocks::apply`].
pub(crate) type SmallBlockUpdates = Vec<(BucketId, Vec<(BlockKey, u32)>)>;

/// The most buckets [`SmallBlocks`] remembers; past it, it starts over.
const MAX_BUCKETS: usize = 1 << 16;

/// Each bucket's small blocks as the writer knows them, so that a write
/// does not list its bucket's index entries in RocksDB every time: under a
/// stream of small writes to one bucket (live traffic all lands in the
/// current week), that listing walked an ever longer run of the merges'
/// deletions in the memtable and took most of a write's time. Filled from
/// the index the first time a bucket is written, kept by the writer (which
/// holds the writer lock) after each commit, and forgotten whole by every
/// other writer of blocks (bulk commits, user deletion).
#[derive(Debug, Default)]
pub(crate) struct SmallBlocks {
    buckets: HashMap<BucketId, Vec<(BlockKey, u32)>>,
}

impl SmallBlocks {
    /// Forgets every bucket.
    pub(crate) fn clear(&mut self) {
        self.buckets.clear();
    }

    /// Records a committed write's new lists.
    pub(crate) fn apply(&mut self, updates: SmallBlockUpdates) {
        if self.buckets.len() + updates.len() > MAX_BUCKETS {
            self.buckets.clear();
        }
        self.buckets.extend(updates);
    }
}

impl Store {
    /// The writer's lists of small blocks.
    pub(crate) fn small_blocks(&self) -> std::sync::MutexGuard<'_, SmallBlocks> {
        self.small_blocks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The block to write for `(key, value)`: itself, or — when its bucket
    /// has enough small blocks — all of them merged, with the old keys
    /// deleted in `batch`. The caller holds the writer lock, so what is
    /// read is the state this write builds on; it applies `updates` (the
    /// bucket's small blocks after this write) to [`SmallBlocks`] once the
    /// write is committed.
    pub(crate) fn merge_small_blocks(
        &self,
        batch: &mut WriteBatch,
        key: BlockKey,
        value: Vec<u8>,
        updates: &mut SmallBlockUpdates,
    ) -> Result<(BlockKey, Vec<u8>)> {
        // A bulk load writes large blocks, and its vector memtables make
        // every read sort them: it does not merge.
        let rows = block_rows(&value)?;
        if self.bulk_load || rows >= SMALL_ROWS {
            return Ok((key, value));
        }
        let parts = parse_block_key(&key)
            .ok_or_else(|| StoreError::Corrupt("malformed block key".into()))?;
        let bucket: BucketId = (parts.kind.tag(), parts.type_id, parts.bucket);
        let known = self.small_blocks().buckets.get(&bucket).cloned();
        let small: Vec<(BlockKey, u32)> = match known {
            Some(list) => list,
            None => self
                .block_index(
                    None,
                    parts.kind,
                    parts.type_id,
                    parts.bucket,
                    parts.bucket,
                    // The writer sees no table file of an unfinished bulk
                    // commit: it cleared them when it opened.
                    u64::MAX,
                )?
                .into_iter()
                .filter(|&(_, n)| n < SMALL_ROWS)
                .collect(),
        };
        if small.len() + 1 < MERGE_AT {
            let mut after = small;
            after.push((key, rows));
            updates.push((bucket, after));
            return Ok((key, value));
        }
        let block = Block::parse(&key, &value)?;
        let keys: Vec<BlockKey> = small.iter().map(|&(k, _)| k).collect();
        let old = self.read_blocks(None, &keys)?;
        // Old rows first (their keys are in write order), then this write's:
        // rows stay in arrival order.
        let mut merged = Blocks::default();
        for b in old.iter().chain(std::iter::once(&block)) {
            merged.append_block(parts.kind, parts.seq, b)?;
        }
        let (merged_key, merged_value) =
            merged.encode().next().expect("one bucket makes one block");
        debug_assert_eq!(merged_key, key, "the merged block takes this write's key");
        for k in &keys {
            batch.delete_cf(self.cf(cf::BLOCKS), k);
            batch.delete_cf(self.cf(cf::BLOCK_INDEX), k);
        }
        let merged_rows = block_rows(&merged_value)?;
        let after = if merged_rows < SMALL_ROWS {
            vec![(merged_key, merged_rows)]
        } else {
            Vec::new()
        };
        updates.push((bucket, after));
        Ok((merged_key, merged_value))
    }
}
