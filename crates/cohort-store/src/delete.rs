//! Deleting a user (docs/events.md): invisible at once, physically gone
//! when the call returns.
//!
//! [`Store::delete_user`] runs in two steps under the writer lock:
//!
//! 1. **One synced `WriteBatch`** makes the user invisible to every later
//!    view: its `log`, `time`, `profile` and `profile_index` entries are
//!    deleted; the blocks holding its rows are rewritten without them (a
//!    block left empty is deleted); its dictionary entries go (the
//!    reverse entry stays as an empty name, because dense ids must stay
//!    dense), so the same ID used again interns a new, empty user; its
//!    facts become those of a subject with nothing, outside every
//!    universe; the catalog's counts, key counts and first and last times
//!    of the types it had events of are recomputed without them; and
//!    `deleted_events` (so that a reader still finds the catalog counting
//!    `next_seq` events, less those deleted) and `profile_seq` (so that no
//!    facts snapshot of before the deletion is used) move on.
//! 2. **Physically**: every memtable is flushed (so no write-ahead log
//!    holds the user's writes any longer and RocksDB deletes those logs),
//!    then every column family is compacted, which rewrites every table
//!    file without the deleted and overwritten entries. When the call
//!    returns, no file of the store holds the user's ID or data
//!    (`tests/delete.rs` reads every file to check). The batch records a
//!    pending purge; a writer that opens the store after a crash between
//!    the batch and the end of the purge runs it before anything else.
//!    Exceptions: a read-only process that opened the store before keeps
//!    its view — and the files it holds open — until it closes, and a
//!    [`crate::View`] held in this process while the call runs keeps what
//!    it sees (its snapshot) until it is dropped: the next compaction
//!    then removes it.
//!
//! The rewritten blocks keep their keys: an exception to "blocks are
//! immutable". A decoded copy of the old block (in this process's cache,
//! which is cleared of them, or in another process's) still names the
//! deleted user's dense id; that id is never in a universe again, and
//! every condition's result is cut to the universe, so no answer changes.

use std::collections::BTreeMap;

use cohort_event::SubjectKind;
use rocksdb::WriteBatch;

use crate::blocks::Blocks;
use crate::catalog::KindCounts;
use crate::codec::{self, CatalogRecord, StoredEvent, SubjectFacts};
use crate::db::cf;
use crate::error::{Result, StoreError};
use crate::keys::{self, meta};
use crate::store::Store;

/// What deleting a user removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteReceipt {
    /// The user's events.
    pub events: u64,
    /// The user's tag and attribute changes.
    pub profile_changes: u64,
    /// Blocks rewritten without the user's rows (or deleted, when only
    /// theirs).
    pub blocks_rewritten: usize,
}

impl Store {
    /// Deletes a user: from the moment this returns, nothing of theirs —
    /// events, tags, attributes, memberships — is in any new view, and no
    /// file of the store holds their ID or data (see the module docs of
    /// `delete.rs`). The same ID used later starts a new, empty user.
    /// Returns `None` when the store holds no such user.
    pub fn delete_user(&self, id: &str) -> Result<Option<DeleteReceipt>> {
        let kind = SubjectKind::User;
        let _writer = self.writer.lock();
        self.check_writable()?;
        self.subject_map()?;
        let Some(sid) = self.read_state().subject(kind, id) else {
            return Ok(None);
        };
        let mut batch = WriteBatch::default();
        let mut receipt = DeleteReceipt {
            events: 0,
            profile_changes: 0,
            blocks_rewritten: 0,
        };
        let prefix = keys::subject_key(kind, sid);
        // Events: log and time index, and what the catalog counted of them.
        let mut types: BTreeMap<u32, u64> = BTreeMap::new();
        let mut key_counts: BTreeMap<(u32, u32), KindCounts> = BTreeMap::new();
        crate::load::scan_prefix(&self.db, self.cf(cf::LOG), &prefix, |k, v| {
            let key = keys::parse_log_key(k)
                .ok_or_else(|| StoreError::Corrupt("malformed log key".into()))?;
            let event: StoredEvent = codec::decode(v, "a stored event")?;
            *types.entry(event.type_id).or_default() += 1;
            for (key_id, value) in &event.data {
                key_counts.entry((event.type_id, *key_id)).or_default()[value.kind().index()] += 1;
            }
            batch.delete_cf(self.cf(cf::LOG), k);
            batch.delete_cf(self.cf(cf::TIME), keys::time_key(key.millis, key.seq));
            receipt.events += 1;
            Ok(())
        })?;
        // Profile changes, in both families.
        crate::load::scan_prefix(&self.db, self.cf(cf::PROFILE), &prefix, |k, _| {
            let key: &[u8; keys::PROFILE_KEY_LEN] = k
                .try_into()
                .map_err(|_| StoreError::Corrupt("malformed profile key".into()))?;
            batch.delete_cf(self.cf(cf::PROFILE), k);
            batch.delete_cf(self.cf(cf::PROFILE_INDEX), keys::profile_index_key(key));
            receipt.profile_changes += 1;
            Ok(())
        })?;
        // Blocks, and each touched type's first and last times without the
        // user's rows.
        let mut times: BTreeMap<u32, (Option<i64>, Option<i64>)> = BTreeMap::new();
        let mut rewritten = Vec::new();
        for &type_id in types.keys() {
            let index = self.block_index(None, kind, type_id, i64::MIN, i64::MAX, u64::MAX)?;
            let block_keys: Vec<_> = index.into_iter().map(|(k, _)| k).collect();
            let span = times.entry(type_id).or_default();
            for (key, block) in block_keys.iter().zip(self.read_blocks(None, &block_keys)?) {
                let keep: Vec<bool> = block.subjects().iter().map(|&s| s != sid).collect();
                for (&t, _) in block.times().iter().zip(&keep).filter(|(_, k)| **k) {
                    span.0 = Some(span.0.map_or(t, |f: i64| f.min(t)));
                    span.1 = Some(span.1.map_or(t, |l: i64| l.max(t)));
                }
                if keep.iter().all(|k| *k) {
                    continue;
                }
                let parts = keys::parse_block_key(key)
                    .ok_or_else(|| StoreError::Corrupt("malformed block key".into()))?;
                let mut blocks = Blocks::default();
                blocks.append_rows(kind, parts.seq, &block, &keep)?;
                match blocks.encode().next() {
                    Some((new_key, value)) => {
                        debug_assert_eq!(&new_key, key, "a rewritten block keeps its key");
                        let rows = u32::try_from(keep.iter().filter(|k| **k).count())
                            .expect("a block has at most 65,536 rows");
                        batch.put_cf(self.cf(cf::BLOCKS), key, value);
                        batch.put_cf(self.cf(cf::BLOCK_INDEX), key, rows.to_le_bytes());
                    }
                    None => {
                        batch.delete_cf(self.cf(cf::BLOCKS), key);
                        batch.delete_cf(self.cf(cf::BLOCK_INDEX), key);
                    }
                }
                rewritten.push(*key);
            }
        }
        receipt.blocks_rewritten = rewritten.len();
        // The catalog, without the user's events.
        let mut records: Vec<(u32, CatalogRecord)> = Vec::new();
        {
            let state = self.read_state();
            for (&type_id, &n) in &types {
                let mut record = state.catalog[type_id as usize].record.clone();
                record.count = record.count.saturating_sub(n);
                let (first, last) = times.get(&type_id).copied().unwrap_or_default();
                record.first_seen = first;
                record.last_seen = last;
                batch.put_cf(
                    self.cf(cf::CATALOG),
                    keys::catalog_key(type_id),
                    codec::encode(&record),
                );
                records.push((type_id, record));
            }
        }
        for ((type_id, key_id), counts) in &key_counts {
            let key = keys::catalog_key_key(*type_id, *key_id);
            let before: KindCounts = match self.db.get_cf(self.cf(cf::CATALOG_KEYS), key)? {
                Some(v) => codec::decode(&v, "catalog key counts")?,
                None => Default::default(),
            };
            let mut after = before;
            after
                .iter_mut()
                .zip(counts)
                .for_each(|(a, c)| *a = a.saturating_sub(*c));
            batch.put_cf(self.cf(cf::CATALOG_KEYS), key, codec::encode(&after));
        }
        // The dictionary and facts: a new user may take the ID; this dense
        // id stays, empty and outside every universe.
        batch.delete_cf(self.cf(cf::DICT), keys::subject_fwd_key(kind, id));
        batch.put_cf(self.cf(cf::DICT), keys::subject_rev_key(kind, sid), b"");
        batch.put_cf(self.cf(cf::FACTS), prefix, SubjectFacts::NONE.encode());
        let (profile_seq, deleted_events) = {
            let state = self.read_state();
            (state.profile_seq + 1, state.deleted_events + receipt.events)
        };
        batch.put_cf(
            self.cf(cf::META),
            meta::PROFILE_SEQ,
            profile_seq.to_be_bytes(),
        );
        batch.put_cf(
            self.cf(cf::META),
            meta::DELETED_EVENTS,
            deleted_events.to_be_bytes(),
        );
        // Until the purge has run: a writer that opens the store after a
        // crash runs it (`finish_purge`).
        batch.put_cf(self.cf(cf::META), meta::PURGE_PENDING, b"");
        let live = self.put_live_removal(&mut batch, sid, id)?;
        {
            let mut w = rocksdb::WriteOptions::default();
            w.set_sync(true);
            let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
            // Blocks rewritten without the user: the writer's lists of
            // small blocks are stale whatever the outcome.
            self.small_blocks().clear();
            // The user's events go and its count restarts at 0: a cached
            // history could match a later count (`history.rs`).
            self.histories.clear();
            self.db.write_opt(batch, &w)?;
            state.subjects[kind.tag() as usize].remove(id);
            std::sync::Arc::make_mut(&mut state.facts[kind.tag() as usize])[sid as usize] =
                SubjectFacts::NONE;
            for (type_id, record) in records {
                state.catalog[type_id as usize].record = record;
            }
            state.profile_seq = profile_seq;
            state.deleted_events = deleted_events;
            live.apply(&mut state.live);
        }
        self.block_cache.remove(&rewritten);
        self.purge()?;
        Ok(Some(receipt))
    }

    /// Runs the purge of a deletion that was committed but not purged (the
    /// process stopped in between); nothing when none is pending.
    pub(crate) fn finish_purge(&self) -> Result<()> {
        if self
            .db
            .get_cf(self.cf(cf::META), meta::PURGE_PENDING)?
            .is_some()
        {
            self.purge()?;
        }
        Ok(())
    }

    /// Flushes every memtable and compacts every column family, so that
    /// no write-ahead log or table file keeps what was deleted or
    /// overwritten.
    fn purge(&self) -> Result<()> {
        // `flush` also writes the facts snapshot of now: the store stays
        // settled (cheap to open).
        self.flush()?;
        let families: Vec<&rocksdb::ColumnFamily> = cf::ALL
            .iter()
            .filter_map(|name| self.db.cf_handle(name))
            .collect();
        let mut opts = rocksdb::CompactOptions::default();
        // Rewrite the bottommost files too: they hold the oldest entries.
        opts.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
        for family in families {
            self.db
                .compact_range_cf_opt(family, None::<&[u8]>, None::<&[u8]>, &opts);
        }
        let mut w = rocksdb::WriteOptions::default();
        w.set_sync(true);
        self.db
            .delete_cf_opt(self.cf(cf::META), meta::PURGE_PENDING, &w)?;
        // The marker's own write and delete go too: the next flush and
        // compaction of `meta` drop them, and they hold nothing of the user.
        Ok(())
    }
}
