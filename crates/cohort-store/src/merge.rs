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

impl Store {
    /// The block to write for `(key, value)`: itself, or — when its bucket
    /// has enough small blocks — all of them merged, with the old keys
    /// deleted in `batch`. The caller holds the writer lock, so what is
    /// read is the state this write builds on.
    pub(crate) fn merge_small_blocks(
        &self,
        batch: &mut WriteBatch,
        key: BlockKey,
        value: Vec<u8>,
    ) -> Result<(BlockKey, Vec<u8>)> {
        // A bulk load writes large blocks, and its vector memtables make
        // every read sort them: it does not merge.
        if self.bulk_load || block_rows(&value)? >= SMALL_ROWS {
            return Ok((key, value));
        }
        let parts = parse_block_key(&key)
            .ok_or_else(|| StoreError::Corrupt("malformed block key".into()))?;
        let snapshot = self.db.snapshot();
        let small: Vec<BlockKey> = self
            .block_index(
                Some(&snapshot),
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
            .map(|(k, _)| k)
            .collect();
        if small.len() + 1 < MERGE_AT {
            return Ok((key, value));
        }
        let block = Block::parse(&key, &value)?;
        let old = self.read_blocks(Some(&snapshot), &small)?;
        // Old rows first (their keys are in write order), then this write's:
        // rows stay in arrival order.
        let mut merged = Blocks::default();
        for b in old.iter().chain(std::iter::once(&block)) {
            merged.append_block(parts.kind, parts.seq, b)?;
        }
        let (merged_key, merged_value) =
            merged.encode().next().expect("one bucket makes one block");
        debug_assert_eq!(merged_key, key, "the merged block takes this write's key");
        for k in &small {
            batch.delete_cf(self.cf(cf::BLOCKS), k);
            batch.delete_cf(self.cf(cf::BLOCK_INDEX), k);
        }
        Ok((merged_key, merged_value))
    }
}
