//! The [`Store`]: open, write, and the invariants that tie them together.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

use cohort_event::{
    is_automatic_type, parse_track_request, Event, Source, SubjectKind, TrackRequest, Value,
    AUTOMATIC_EVENT_TYPES, FIRST_SESSION, MAX_TYPE_BYTES,
};
use rocksdb::{ColumnFamily, WriteBatch, DB};

use crate::catalog;
use crate::codec::{self, CatalogRecord, LoadMark, StoredEventRef, SubjectFacts};
use crate::db::{self, cf};
use crate::error::{Result, StoreError};
use crate::keys::{self, meta, tag};
use crate::options::{Access, Durability, StoreOptions};
use crate::profile::ProfileChanges;
use crate::state::{Changes, LogEntry, NewNames, Pending, State};

/// An append-only event store in one directory (one RocksDB database).
///
/// A `Store` is `Send + Sync`: share it between threads with an `Arc`.
/// Writes are serialised inside; reads run concurrently with them.
pub struct Store {
    pub(crate) db: DB,
    path: PathBuf,
    /// Serialises writers; held for the whole of a write (and of a bulk
    /// load). parking_lot's, for its fair unlock (see [`Store::sweep`]).
    pub(crate) writer: parking_lot::Mutex<()>,
    /// Requests waiting to be written as a group (`group.rs`).
    pub(crate) queue: crate::group::WriteQueue,
    /// See [`Store::segment_change_lock`].
    pub(crate) segment_changes: Mutex<()>,
    /// See [`Store::segments_generation`].
    pub(crate) segments_generation: AtomicU64,
    /// The latest instant live memberships were decided at (`live.rs`):
    /// a write never decides before it.
    pub(crate) live_clock: std::sync::atomic::AtomicI64,
    /// No deadline key sorts before this one (empty: from the start):
    /// scans of the deadline index start here, past the deletions of what
    /// was swept — a queue's head of tombstones, which RocksDB would
    /// otherwise step over on every round (a wave of a million deadlines
    /// at one instant made that quadratic). Lowered by every deadline
    /// put; raised only under the writer lock, by a sweep round past the
    /// keys it takes — before it decides them, so that its own puts lower
    /// it; a round that fails or panics puts it back to the start
    /// (`live::FloorGuard`).
    pub(crate) live_floor: parking_lot::Mutex<Vec<u8>>,
    /// The in-memory state. Its write lock is held across a batch's commit
    /// and the application of its changes, and read views are made under
    /// its read lock (see `view.rs`).
    pub(crate) state: RwLock<State>,
    pub(crate) block_cache: crate::block_cache::BlockCache,
    /// Each bucket's small blocks, for the writer (`merge.rs`).
    pub(crate) small_blocks: Mutex<crate::merge::SmallBlocks>,
    /// Decoded profile field histories (see `View::profile_history`).
    pub(crate) profile_cache: crate::profile::ProfileCache,
    /// Decoded subject histories for the live hook (`history.rs`).
    pub(crate) histories: crate::history::HistoryCache,
    /// Opened for a bulk load (see [`StoreOptions::bulk_load`]).
    pub(crate) bulk_load: bool,
    read_only: bool,
    /// Set when a failed bulk commit could not be taken back (`bulk.rs`).
    poisoned: std::sync::atomic::AtomicBool,
    version: u32,
    pub(crate) limits: crate::state::Limits,
    /// The sequence number through which writes have reached the
    /// write-ahead log (`written`) and been synced to disk (`durable`).
    written_seq: AtomicU64,
    durable_seq: AtomicU64,
    /// Commits made, and commits known synced: group commit
    /// ([`Store::sync_through`]) compares a receipt's commit with these.
    commits: AtomicU64,
    durable_commits: AtomicU64,
    /// Taken by the one caller that syncs for a group (`sync_through`).
    syncer: Mutex<()>,
    /// How many times the write-ahead log was synced (for metrics).
    wal_syncs: AtomicU64,
    /// Decides live memberships (`live.rs`); installed by the layer above.
    pub(crate) live_hook: RwLock<Option<std::sync::Arc<dyn crate::live::LiveHook>>>,
    /// The change-record sequence numbers through which change records
    /// have been written, and synced (readers of the feed see only these).
    written_change: AtomicU64,
    pub(crate) durable_change: AtomicU64,
    /// A read-only instance's own directory; dropped after `db`.
    _secondary_dir: Option<tempfile::TempDir>,
    open_cost: crate::load::OpenCost,
}

impl Drop for Store {
    fn drop(&mut self) {
        if !self.read_only {
            crate::lock::unregister_writer(&self.path);
        }
    }
}

/// How to append a batch of events.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppendOptions {
    /// When the batch is durable. Default [`Durability::Sync`].
    pub durability: Durability,
    /// The time given to events without `createdAt` (Unix ms). Default:
    /// the clock when the batch is written.
    pub received_at: Option<i64>,
}

/// What one append stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendReceipt {
    /// Events stored from the batch.
    pub stored: usize,
    /// `@first_session` events the store recorded for new devices.
    pub first_sessions: usize,
    /// New subjects (users and devices) this batch introduced.
    pub new_subjects: usize,
    /// Tag and attribute changes stored (one per key or attribute).
    pub profile_changes: usize,
    /// The store's sequence number after this batch (for a request written
    /// in a group, after its own events): it is durable once
    /// [`Store::durable_seq`] reaches it.
    pub seq_end: u64,
    /// Bytes of the batch written to the write-ahead log (for a request
    /// written in a group, the group's).
    pub batch_bytes: usize,
    /// The batch's commit number: with [`Durability::Buffered`], the batch
    /// is durable once [`Store::sync_through`] of it returns.
    pub commit: u64,
}

impl Store {
    /// Opens the store in `path`, creating it when `create_if_missing` is
    /// set and the directory is empty or absent.
    ///
    /// Loads the dictionaries, per-subject facts and catalog into memory (a
    /// few dozen bytes per subject). A store of an older format is
    /// migrated when opened for writing, and read as it is when opened
    /// read-only.
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let opened = db::open(&path, &options)?;
        let read_only = options.access == Access::ReadOnly;
        if !read_only {
            // Before anything reads or writes: take back what a bulk commit
            // cut short left (`bulk.rs`).
            crate::bulk::clear_unfinished(&opened.db)?;
            let _ = std::fs::remove_dir_all(path.join(crate::bulk::BULK_DIR));
        }
        let subject_map = if read_only {
            crate::load::SubjectMap::Lookup
        } else {
            crate::load::SubjectMap::Later
        };
        let (mut state, mut open_cost) = crate::load::load_state(&opened.db, subject_map)?;
        // A read-only instance reads the writer's MANIFEST, then its
        // write-ahead logs, and may find writes there whose table files it
        // has not listed: a bulk commit's (`bulk::reader_sees_last_commit`),
        // or a flush's whose logs were deleted meanwhile — every event is
        // counted in the catalog as it takes a sequence number, so a whole
        // view counts `next_seq` events. Catch up until the view is whole.
        let mut tries = 0;
        while read_only
            && !(crate::bulk::reader_sees_last_commit(&opened.db)?
                && state.event_count() + state.deleted_events == state.next_seq)
        {
            tries += 1;
            if tries > 200 {
                return Err(StoreError::Unsettled(path));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            opened.db.try_catch_up_with_primary()?;
            (state, open_cost) = crate::load::load_state(&opened.db, subject_map)?;
        }
        if !read_only {
            crate::lock::register_writer(&path);
        }
        // A reader that caught up may have caught up past a writer's
        // migration: read the version its view holds.
        let version = match read_only {
            true => crate::db::stored_version(&opened.db)?.unwrap_or(opened.version),
            false => opened.version,
        };
        let seq = state.next_seq;
        let next_change = state.live.next_change;
        let store = Store {
            db: opened.db,
            path,
            writer: parking_lot::Mutex::new(()),
            queue: crate::group::WriteQueue::default(),
            segment_changes: Mutex::new(()),
            segments_generation: AtomicU64::new(0),
            live_clock: std::sync::atomic::AtomicI64::new(i64::MIN),
            live_floor: parking_lot::Mutex::new(Vec::new()),
            state: RwLock::new(state),
            block_cache: crate::block_cache::BlockCache::new(options.decoded_block_cache_bytes),
            profile_cache: crate::profile::ProfileCache::default(),
            histories: crate::history::HistoryCache::new(options.history_cache_events),
            small_blocks: Mutex::new(crate::merge::SmallBlocks::default()),
            bulk_load: options.bulk_load,
            read_only,
            poisoned: std::sync::atomic::AtomicBool::new(false),
            version,
            limits: crate::state::Limits {
                types: options.max_event_types,
                keys: options.max_data_keys,
            },
            written_seq: AtomicU64::new(seq),
            durable_seq: AtomicU64::new(seq),
            commits: AtomicU64::new(0),
            durable_commits: AtomicU64::new(0),
            syncer: Mutex::new(()),
            wal_syncs: AtomicU64::new(0),
            live_hook: RwLock::new(None),
            written_change: AtomicU64::new(next_change),
            durable_change: AtomicU64::new(next_change),
            _secondary_dir: opened.secondary_dir,
            open_cost,
        };
        if !read_only {
            // A deletion whose purge did not finish (a crash after its
            // batch) is purged now, before anything else is written.
            store.finish_purge()?;
        }
        Ok(store)
    }

    /// A read-only store catches up with what its writer has written
    /// since (for the change feed; views keep the instant they were made
    /// at). Nothing for a writer.
    pub fn catch_up(&self) -> Result<()> {
        if self.read_only {
            self.db.try_catch_up_with_primary()?;
        }
        Ok(())
    }

    /// What opening the store read (see [`OpenCost`](crate::OpenCost)).
    pub fn open_cost(&self) -> crate::OpenCost {
        self.open_cost
    }

    /// Whether the store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The format version of the store on disk.
    pub fn format_version(&self) -> u32 {
        self.version
    }

    /// The process that has this store open for writing, if any: this
    /// process for a store opened read-write, another one (a running
    /// ingest, say) when a read-only view was opened beside it. A
    /// read-only view does not show what such a writer stores after the
    /// view was opened.
    pub fn writer_pid(&self) -> Option<u32> {
        if self.read_only {
            crate::lock::writer_pid(&self.path)
        } else {
            Some(std::process::id())
        }
    }

    /// The sequence number through which every write is durable (synced
    /// to disk): a write is durable once this reaches its
    /// [`AppendReceipt::seq_end`].
    pub fn durable_seq(&self) -> u64 {
        self.durable_seq.load(Ordering::Acquire)
    }

    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(StoreError::ReadOnly(self.path.clone()));
        }
        if self.poisoned.load(Ordering::Acquire) {
            return Err(StoreError::Poisoned(self.path.clone()));
        }
        Ok(())
    }

    /// Refuses every later write through this handle (see
    /// [`StoreError::Poisoned`]).
    pub(crate) fn poison(&self) {
        self.poisoned.store(true, Ordering::Release);
    }

    /// Every load mark, by fingerprint: one per input ever bulk-loaded.
    pub fn load_marks(&self) -> Result<Vec<([u8; 16], LoadMark)>> {
        let Some(loads) = self.db.cf_handle(cf::LOADS) else {
            return Ok(Vec::new());
        };
        let mut it = self.db.raw_iterator_cf(loads);
        it.seek_to_first();
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let key = <[u8; 16]>::try_from(k)
                .map_err(|_| StoreError::Corrupt("malformed load mark key".into()))?;
            out.push((key, codec::decode(v, "a load mark")?));
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Where a bulk load of the input with this fingerprint got to, if it
    /// was loaded before (see [`LoadMark`]).
    pub fn load_mark(&self, fingerprint: &[u8; 16]) -> Result<Option<LoadMark>> {
        let Some(loads) = self.db.cf_handle(cf::LOADS) else {
            return Ok(None);
        };
        match self.db.get_pinned_cf(loads, fingerprint)? {
            Some(v) => Ok(Some(codec::decode(&v, "a load mark")?)),
            None => Ok(None),
        }
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn cf(&self, name: &str) -> &ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("every column family is opened with the store")
    }

    pub(crate) fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads every subject ID into memory if this writer has not yet
    /// (`load.rs`, `SubjectMap`): every write that names subjects calls it
    /// first, with the writer lock held, so that new subjects are told
    /// from known ones. The scan runs outside the state lock (views and
    /// member checks go on); nothing adds a subject meanwhile, as only a
    /// holder of the writer lock does. A damaged dictionary fails it, and
    /// every later write naming subjects, with `Corrupt`.
    pub(crate) fn subject_map(&self) -> Result<()> {
        let facts = {
            let state = self.read_state();
            if self.read_only || state.subject_map_loaded {
                return Ok(());
            }
            [state.facts[0].len(), state.facts[1].len()]
        };
        let subjects = crate::load::load_subjects(&self.db, facts)?;
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if !state.subject_map_loaded {
            state.subjects = subjects;
            state.subject_map_loaded = true;
        }
        Ok(())
    }

    /// Validates a track request body (`events`, `tags` and
    /// `userAttributes`, 1 to 100 items each) and stores it, all or
    /// nothing, syncing the write-ahead log before it returns.
    ///
    /// An invalid request stores nothing and returns
    /// [`StoreError::Invalid`], listing every invalid item.
    pub fn track(&self, body: &[u8], source: Source) -> Result<AppendReceipt> {
        let received_at = now_millis();
        let request = parse_track_request(body, source, received_at)?;
        self.apply(
            &request,
            AppendOptions {
                received_at: Some(received_at),
                ..AppendOptions::default()
            },
        )
    }

    /// Stores a validated track request — its events, tag changes and
    /// attribute changes — as one atomic `WriteBatch`, like
    /// [`Store::append`].
    pub fn apply(&self, request: &TrackRequest, options: AppendOptions) -> Result<AppendReceipt> {
        self.write(
            &request.events,
            ProfileChanges {
                tags: &request.tags,
                attributes: &request.attributes,
            },
            options,
            None,
        )
    }

    /// Appends validated events as one atomic `WriteBatch`: the log, the
    /// time index, dictionaries, per-subject facts and catalog counters move
    /// together or not at all. Records `@first_session` for each device
    /// this batch introduces, at the time of that device's earliest event
    /// in the batch, unless the batch carries one for it already.
    pub fn append(&self, events: &[Event], options: AppendOptions) -> Result<AppendReceipt> {
        self.append_marked(events, options, None)
    }

    /// Like [`Store::append`], and records in the same batch how far a
    /// bulk load of one input has got (`fingerprint` names the input; see
    /// [`LoadMark`]), so that the mark never runs ahead of or behind the
    /// events it counts.
    pub fn append_marked(
        &self,
        events: &[Event],
        options: AppendOptions,
        mark: Option<(&[u8; 16], &LoadMark)>,
    ) -> Result<AppendReceipt> {
        self.write(events, ProfileChanges::default(), options, mark)
    }

    fn write(
        &self,
        events: &[Event],
        profile: ProfileChanges<'_>,
        options: AppendOptions,
        mark: Option<(&[u8; 16], &LoadMark)>,
    ) -> Result<AppendReceipt> {
        let _writer = self.writer.lock();
        self.write_locked(events, profile, options, mark)
    }

    /// A write, with the writer lock held by the caller.
    fn write_locked(
        &self,
        events: &[Event],
        profile: ProfileChanges<'_>,
        options: AppendOptions,
        mark: Option<(&[u8; 16], &LoadMark)>,
    ) -> Result<AppendReceipt> {
        let received_at = options.received_at.unwrap_or_else(now_millis);
        // Checked under the writer lock: a bulk commit that failed while
        // this write waited may have poisoned the store.
        self.check_writable()?;
        self.subject_map()?;
        let state = self.read_state();
        let mut pending = Pending::new(&state, self.limits);
        let mut receipt = self.stage_request(&mut pending, events, profile, received_at)?;
        let mut batch = WriteBatch::default();
        if let Some((fingerprint, mark)) = mark {
            batch.put_cf(self.cf(cf::LOADS), fingerprint, codec::encode(mark));
        }
        let small_blocks = self.seal(&mut pending, &mut batch, received_at)?;
        receipt.seq_end = pending.o.next_seq;
        receipt.batch_bytes = batch.size_in_bytes();
        let changes = pending.into_changes();
        drop(state);
        receipt.commit = self.commit_write(batch, options.durability, changes, small_blocks)?;
        Ok(receipt)
    }

    /// Adds `events` and `profile` changes to the overlay `pending`: all of
    /// them, or — on an error — none (as [`Store::stage`]).
    pub(crate) fn stage_request(
        &self,
        pending: &mut Pending<'_>,
        events: &[Event],
        profile: ProfileChanges<'_>,
        received_at: i64,
    ) -> Result<AppendReceipt> {
        if profile.is_empty() {
            return self.stage(pending, events, received_at);
        }
        let before = pending.name_counts();
        let resolved = crate::profile::resolve(pending, profile, received_at)
            .and_then(|r| Ok((r, self.stage(pending, events, received_at)?)));
        let (resolved, mut receipt) = match resolved {
            Ok(r) => r,
            Err(e) => {
                pending.truncate(before);
                return Err(e);
            }
        };
        receipt.new_subjects += resolved.new_subjects;
        receipt.profile_changes = crate::profile::stage(pending, resolved);
        Ok(receipt)
    }

    /// Adds `events` to the overlay `pending`: all of them, or — on an
    /// error — none (the names they introduced are forgotten again, so a
    /// bulk load can go on from the overlay as it was).
    ///
    /// Records `@first_session` for each device the overlay introduces, at
    /// the time of that device's earliest event here, unless the events
    /// carry one for it already; it is written first, so that among events
    /// at the same instant it comes before the device's other events.
    pub(crate) fn stage(
        &self,
        pending: &mut Pending<'_>,
        events: &[Event],
        received_at: i64,
    ) -> Result<AppendReceipt> {
        let before = pending.name_counts();
        let resolved = match resolve(pending, events, received_at) {
            Ok(r) => r,
            Err(e) => {
                pending.truncate(before);
                return Err(e);
            }
        };
        // Nothing below can fail: the overlay takes the whole chunk.
        let mut receipt = AppendReceipt {
            stored: events.len(),
            first_sessions: resolved.first_sessions.len(),
            new_subjects: resolved.new_subjects,
            profile_changes: 0,
            seq_end: 0,
            batch_bytes: 0,
            commit: 0,
        };
        for &(sid, millis) in &resolved.first_sessions {
            put_event(
                pending,
                SubjectKind::Device,
                sid,
                resolved.first_session_type,
                millis,
                &[],
            );
        }
        let mut data: Vec<(u32, &Value)> = Vec::new();
        for (event, r) in events.iter().zip(&resolved.events) {
            data.clear();
            data.extend(
                resolved.key_ids[r.keys.clone()]
                    .iter()
                    .zip(&event.data)
                    .map(|(&k, (_, v))| (k, v)),
            );
            put_event(
                pending,
                event.subject_kind,
                r.sid,
                r.type_id,
                r.millis,
                &data,
            );
        }
        receipt.seq_end = pending.o.next_seq;
        Ok(receipt)
    }

    /// Adds an event type to the catalog by hand, before any event of it
    /// arrives, or sets the description of a known type. The name follows
    /// the rules of an event's `type`; `@` names must be automatic types.
    pub fn add_catalog_type(&self, name: &str, description: Option<&str>) -> Result<()> {
        let bad = |reason: String| StoreError::BadTypeName {
            name: name.to_owned(),
            reason,
        };
        if name.is_empty() || name.len() > MAX_TYPE_BYTES {
            return Err(bad(format!(
                "an event type must be 1 to {MAX_TYPE_BYTES} bytes, not {}",
                name.len()
            )));
        }
        if is_automatic_type(name) && !AUTOMATIC_EVENT_TYPES.contains(&name) {
            return Err(bad(format!(
                "{name:?} is not an automatic event type (they are {})",
                AUTOMATIC_EVENT_TYPES.join(", ")
            )));
        }
        let _writer = self.writer.lock();
        self.check_writable()?;
        let state = self.read_state();
        let mut pending = Pending::new(&state, self.limits);
        let mut batch = WriteBatch::default();
        let type_id = pending.event_type(name)?.id;
        pending.describe(type_id, description.map(str::to_owned));
        self.put_derived(&mut pending, &mut batch, now_millis())?;
        let changes = pending.into_changes();
        drop(state);
        self.commit(batch, Durability::Sync, changes).map(drop)
    }

    /// Makes every earlier [`Durability::Buffered`] append durable, by
    /// syncing the write-ahead log.
    pub fn sync(&self) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        let written = self.written_seq.load(Ordering::Acquire);
        let commits = self.commits.load(Ordering::Acquire);
        let changes = self.written_change.load(Ordering::Acquire);
        self.db.flush_wal(true)?;
        self.wal_syncs.fetch_add(1, Ordering::Relaxed);
        self.durable_seq.fetch_max(written, Ordering::AcqRel);
        self.durable_change.fetch_max(changes, Ordering::AcqRel);
        self.durable_commits.fetch_max(commits, Ordering::AcqRel);
        Ok(())
    }

    /// Makes the write with commit number `commit` (see
    /// [`AppendReceipt::commit`]) durable, sharing one write-ahead-log sync
    /// among every caller waiting at the same time (group commit): while
    /// one caller syncs, the others queue on the sync lock, and find their
    /// commits covered by it — or sync once more, for all of them.
    pub fn sync_through(&self, commit: u64) -> Result<()> {
        if self.read_only || self.durable_commits.load(Ordering::Acquire) >= commit {
            return Ok(());
        }
        let _syncer = self.syncer.lock().unwrap_or_else(|e| e.into_inner());
        if self.durable_commits.load(Ordering::Acquire) >= commit {
            return Ok(());
        }
        self.sync()
    }

    /// The number of the last commit made through this handle.
    pub(crate) fn last_commit(&self) -> u64 {
        self.commits.load(Ordering::Acquire)
    }

    /// How many times this handle has synced the write-ahead log for
    /// [`Store::sync`] and [`Store::sync_through`] (writes made with
    /// [`Durability::Sync`] sync inside RocksDB and are not counted).
    pub fn wal_syncs(&self) -> u64 {
        self.wal_syncs.load(Ordering::Relaxed)
    }

    /// Writes every in-memory write buffer to table files and waits, so
    /// that the write-ahead log holds nothing a later opener would have to
    /// replay. `cohort ingest` calls it at the end of a load: the next
    /// process — a read-only one especially, which replays the log in
    /// memory every time it opens — starts at once.
    ///
    /// It also writes the facts snapshot (`snapshot.rs`): until the next
    /// write, an opener reads every subject's facts as one value.
    pub fn flush(&self) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        let (at, facts) = {
            let state = self.read_state();
            ((state.next_seq, state.profile_seq), state.facts.clone())
        };
        if facts[0].len() + facts[1].len() <= crate::snapshot::MAX_SUBJECTS {
            let snapshot = crate::snapshot::encode(at, [&facts[0], &facts[1]]);
            self.db
                .put_cf(self.cf(cf::META), keys::meta::FACTS_SNAPSHOT, snapshot)?;
        }
        let families: Vec<&ColumnFamily> = db::cf::ALL
            .iter()
            .filter_map(|name| self.db.cf_handle(name))
            .collect();
        let mut opts = rocksdb::FlushOptions::default();
        opts.set_wait(true);
        self.db.flush_cfs_opt(&families, &opts)?;
        Ok(())
    }

    /// Whether RocksDB is flushing or compacting, or has compactions
    /// waiting (after a bulk load, for a while). Benchmarks wait for this to
    /// be false so that background work does not share their cores.
    pub fn background_work_pending(&self) -> Result<bool> {
        let running =
            |p: &str| -> Result<bool> { Ok(self.db.property_int_value(p)?.unwrap_or(0) > 0) };
        if running("rocksdb.num-running-compactions")? || running("rocksdb.num-running-flushes")? {
            return Ok(true);
        }
        for name in crate::db::cf::ALL {
            let pending = self
                .db
                .property_int_value_cf(self.cf(name), "rocksdb.compaction-pending")?;
            if pending.unwrap_or(0) > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Writes a batch and applies its in-memory changes in one critical
    /// section of the state lock: a view sees both or neither. The one
    /// place a write reaches RocksDB, and so the one place that knows
    /// whether it was synced.
    pub(crate) fn commit(
        &self,
        batch: WriteBatch,
        durability: Durability,
        mut changes: Changes,
    ) -> Result<u64> {
        let mut w = rocksdb::WriteOptions::default();
        let sync = durability == Durability::Sync;
        w.set_sync(sync);
        let histories = changes.take_histories();
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        self.db.write_opt(batch, &w)?;
        let next = changes.next_seq();
        changes.apply(&mut state);
        // Committed: the histories this write's decisions read, its own
        // events included, are the subjects' histories now — those whose
        // length is the subject's event count (`history.rs`). Cached below,
        // out of the state lock.
        let histories: Vec<_> = histories
            .into_iter()
            .filter(|&((kind, sid), ref history)| {
                let count = state.facts[kind as usize]
                    .get(sid as usize)
                    .map(|f| f.count);
                count == Some(history.len() as u64)
            })
            .collect();
        self.written_seq.store(next, Ordering::Release);
        let next_change = state.live.next_change;
        self.written_change.store(next_change, Ordering::Release);
        // Numbered under the state lock, in write-ahead-log order: a sync
        // that reads `commits` covers every commit up to it.
        let commit = self.commits.fetch_add(1, Ordering::AcqRel) + 1;
        if sync {
            self.durable_change.fetch_max(next_change, Ordering::AcqRel);
            self.durable_seq.fetch_max(next, Ordering::AcqRel);
            self.durable_commits.fetch_max(commit, Ordering::AcqRel);
        }
        drop(state);
        for (key, history) in histories {
            self.histories.put(key, history);
        }
        Ok(commit)
    }

    /// The dense id of a subject, read from the dictionary in RocksDB (for
    /// a store without the subject map in memory).
    pub(crate) fn lookup_subject(
        &self,
        kind: SubjectKind,
        id: &str,
        options: &rocksdb::ReadOptions,
    ) -> Result<Option<u32>> {
        let malformed =
            || StoreError::Corrupt(format!("malformed dictionary entry for {kind} {id:?}"));
        if self.format_version() < 5 {
            // Read as it is (opened read-only): the key holds the ID.
            let key = keys::dict_key(tag::SUBJECT, &[&[kind.tag()], id.as_bytes()]);
            return match self.db.get_pinned_cf_opt(self.cf(cf::DICT), key, options)? {
                None => Ok(None),
                Some(v) => <[u8; 4]>::try_from(&*v)
                    .map(|b| Some(u32::from_be_bytes(b)))
                    .map_err(|_| malformed()),
            };
        }
        let key = keys::subject_fwd_key(kind, id);
        match self.db.get_pinned_cf_opt(self.cf(cf::DICT), key, options)? {
            None => Ok(None),
            Some(v) if v.len() < 4 => Err(malformed()),
            // Another ID with the same 128-bit hash would be a different
            // subject: checked, never assumed.
            Some(v) if &v[4..] != id.as_bytes() => Ok(None),
            Some(v) => Ok(Some(u32::from_be_bytes(
                v[..4].try_into().expect("4 bytes"),
            ))),
        }
    }

    /// Puts everything a staged write built into its batch — log, time
    /// index, blocks (merging small ones), dictionary entries, facts,
    /// catalog and counters — and returns the small-block lists the write
    /// leaves, for [`Store::commit_write`].
    pub(crate) fn seal(
        &self,
        pending: &mut Pending<'_>,
        batch: &mut WriteBatch,
        written_at: i64,
    ) -> Result<crate::merge::SmallBlockUpdates> {
        // First: the live hook reads this write's log entries, which
        // `put_log_and_blocks` moves into the batch.
        self.put_live(pending, batch, written_at, true, None)?;
        let mut small_blocks = Vec::new();
        self.put_log_and_blocks(pending, batch, &mut small_blocks)?;
        self.put_derived(pending, batch, written_at)?;
        Ok(small_blocks)
    }

    /// [`Store::commit`] of a sealed write, then its small-block lists
    /// become the writer's: only a committed write's blocks are known (an
    /// error leaves the lists as they were, which is what the store holds).
    pub(crate) fn commit_write(
        &self,
        batch: WriteBatch,
        durability: Durability,
        changes: Changes,
        small_blocks: crate::merge::SmallBlockUpdates,
    ) -> Result<u64> {
        let commit = self.commit(batch, durability, changes)?;
        self.small_blocks().apply(small_blocks);
        Ok(commit)
    }

    /// Puts the log entries, time index entries and blocks of a write
    /// into its batch (a bulk load writes them as table files instead,
    /// `bulk.rs`). Log entries go in key order: RocksDB's memtable (a skip
    /// list) inserts a key next to the previous one almost for free, while
    /// keys in arrival order (random subjects) each cost a full search.
    fn put_log_and_blocks(
        &self,
        pending: &mut Pending<'_>,
        batch: &mut WriteBatch,
        small_blocks: &mut crate::merge::SmallBlockUpdates,
    ) -> Result<()> {
        let mut log = std::mem::take(&mut pending.o.log);
        log.sort_unstable_by_key(|e| e.key);
        let log_cf = self.cf(cf::LOG);
        for e in log {
            batch.put_cf(log_cf, e.key, pending.log_value(&e));
        }
        let time_cf = self.cf(cf::TIME);
        for (key, subject) in std::mem::take(&mut pending.o.time) {
            batch.put_cf(time_cf, key, subject);
        }
        let blocks_cf = self.cf(cf::BLOCKS);
        let index_cf = self.cf(cf::BLOCK_INDEX);
        for (key, value) in std::mem::take(&mut pending.o.blocks).encode() {
            let (key, value) = self.merge_small_blocks(batch, key, value, small_blocks)?;
            batch.put_cf(index_cf, key, &value[..4]);
            batch.put_cf(blocks_cf, key, value);
        }
        Ok(())
    }

    /// Puts the dictionary entries, facts, catalog records and counters a
    /// write made.
    pub(crate) fn put_derived(
        &self,
        pending: &mut Pending<'_>,
        batch: &mut WriteBatch,
        written_at: i64,
    ) -> Result<()> {
        self.put_names(pending, batch);
        let facts_cf = self.cf(cf::FACTS);
        let mut facts: Vec<_> = pending.o.facts.iter().collect();
        facts.sort_unstable_by_key(|(&(k, sid), _)| (k, sid));
        for (&(k, sid), facts) in facts {
            let kind = SubjectKind::from_tag(k).expect("facts are keyed by a valid kind");
            batch.put_cf(facts_cf, keys::subject_key(kind, sid), facts.encode());
        }
        let catalog_cf = self.cf(cf::CATALOG);
        for (type_id, rec) in &pending.o.catalog.records {
            batch.put_cf(
                catalog_cf,
                keys::catalog_key(*type_id),
                codec::encode::<CatalogRecord>(rec),
            );
        }
        // Key counts are not kept in memory: read the totals this write
        // changes, add, put back. (The writer lock is held: what is read is
        // what this write builds on.)
        let catalog_keys_cf = self.cf(cf::CATALOG_KEYS);
        let mut touched: Vec<(&(u32, u32), &catalog::KindCounts)> =
            pending.o.catalog.keys.iter().collect();
        touched.sort_unstable_by_key(|(k, _)| **k);
        let keys: Vec<[u8; 8]> = touched
            .iter()
            .map(|((t, k), _)| keys::catalog_key_key(*t, *k))
            .collect();
        let found = self.db.batched_multi_get_cf(catalog_keys_cf, &keys, true);
        for ((key, (_, delta)), before) in keys.iter().zip(&touched).zip(found) {
            let before: catalog::KindCounts = match before? {
                Some(v) => codec::decode(&v, "catalog key counts")?,
                None => Default::default(),
            };
            let total = catalog::add_counts(before, delta);
            batch.put_cf(catalog_keys_cf, key, codec::encode(&total));
        }
        batch.put_cf(
            self.cf(cf::META),
            meta::NEXT_SEQ,
            pending.o.next_seq.to_be_bytes(),
        );
        if !pending.o.profile.is_empty() {
            let profile_cf = self.cf(cf::PROFILE);
            let index_cf = self.cf(cf::PROFILE_INDEX);
            for (key, value) in &pending.o.profile {
                batch.put_cf(profile_cf, key, value);
                batch.put_cf(index_cf, keys::profile_index_key(key), value);
            }
            batch.put_cf(
                self.cf(cf::META),
                meta::PROFILE_SEQ,
                pending.o.profile_seq.to_be_bytes(),
            );
        }
        batch.put_cf(
            self.cf(cf::META),
            meta::LAST_WRITE_AT,
            written_at.to_be_bytes(),
        );
        pending.o.last_write_at = Some(written_at);
        Ok(())
    }

    /// Writes both directions of every dictionary entry the write created:
    /// name → id under the forward tag, id → name under the reverse one;
    /// a subject's forward key is a hash of its ID (`keys::subject_fwd_key`).
    fn put_names(&self, pending: &Pending<'_>, batch: &mut WriteBatch) {
        let dict = self.cf(cf::DICT);
        let (base, o) = (pending.base, &pending.o);
        for (k, new) in o.new_subjects.iter().enumerate() {
            let kind = SubjectKind::from_tag(k as u8).expect("two kinds");
            for (i, name) in new.names.iter().enumerate() {
                let sid = (base.facts[k].len() + i) as u32;
                batch.put_cf(
                    dict,
                    keys::subject_fwd_key(kind, name),
                    keys::subject_fwd_value(sid, name),
                );
                batch.put_cf(dict, keys::subject_rev_key(kind, sid), name.as_bytes());
            }
        }
        let names: [(&NewNames, usize, u8, u8); 2] = [
            (&o.new_types, base.types.len(), tag::TYPE, tag::TYPE_REV),
            (&o.new_keys, base.keys.len(), tag::KEY, tag::KEY_REV),
        ];
        for (new, first, forward, reverse) in names {
            for (i, name) in new.names.iter().enumerate() {
                let id = ((first + i) as u32).to_be_bytes();
                batch.put_cf(dict, keys::dict_key(forward, &[name.as_bytes()]), id);
                batch.put_cf(dict, keys::dict_key(reverse, &[&id]), name.as_bytes());
            }
        }
    }

    /// The facts kept for one subject, if the store has seen it.
    pub fn subject_facts(&self, kind: SubjectKind, id: &str) -> Option<SubjectFacts> {
        self.view().subject_facts(kind, id)
    }

    /// Counts of what the store holds. Users and devices are those with an
    /// event or a profile change (a deleted user's dense id, which keeps
    /// nothing, is not counted): one pass over the facts.
    pub fn stats(&self) -> StoreStats {
        let state = self.read_state();
        let live = |kind: SubjectKind| {
            state.facts[kind.tag() as usize]
                .iter()
                .filter(|f| **f != SubjectFacts::NONE)
                .count() as u64
        };
        StoreStats {
            events: state.event_count(),
            users: live(SubjectKind::User),
            devices: live(SubjectKind::Device),
            event_types: state.catalog.len() as u64,
            next_seq: state.next_seq,
        }
    }
}

/// The ids of one batch's events, found (and new names interned) before
/// anything is written, so that staging fails before it changes anything.
struct Resolved {
    events: Vec<ResolvedEvent>,
    /// Every event's data key ids, one after the other.
    key_ids: Vec<u32>,
    /// New devices without `@first_session` in the batch: (id, earliest time).
    first_sessions: Vec<(u32, i64)>,
    first_session_type: u32,
    new_subjects: usize,
}

struct ResolvedEvent {
    sid: u32,
    type_id: u32,
    millis: i64,
    keys: std::ops::Range<usize>,
}

fn resolve(pending: &mut Pending<'_>, events: &[Event], received_at: i64) -> Result<Resolved> {
    let mut out = Resolved {
        events: Vec::with_capacity(events.len()),
        key_ids: Vec::new(),
        first_sessions: Vec::new(),
        first_session_type: 0,
        new_subjects: 0,
    };
    // First the devices this batch introduces, with their earliest time
    // and whether the batch already holds their @first_session (their
    // @first_session takes the first sequence numbers, and its type is
    // interned before the batch's other types).
    let mut new_devices: HashMap<u32, (i64, bool)> = HashMap::new();
    for event in events
        .iter()
        .filter(|e| e.subject_kind == SubjectKind::Device)
    {
        let millis = event.time.unwrap_or(received_at);
        let subject = pending.subject(SubjectKind::Device, &event.subject_id)?;
        out.new_subjects += usize::from(subject.is_new);
        // A device is first seen by its first event: also a device that
        // existed already through tag changes only.
        if subject.is_new || pending.event_count(SubjectKind::Device, subject.id) == 0 {
            let d = new_devices.entry(subject.id).or_insert((millis, false));
            d.0 = d.0.min(millis);
            d.1 |= event.event_type == FIRST_SESSION;
        }
    }
    out.first_sessions = new_devices
        .into_iter()
        .filter(|(_, (_, has))| !has)
        .map(|(sid, (millis, _))| (sid, millis))
        .collect();
    out.first_sessions.sort_unstable();
    if !out.first_sessions.is_empty() {
        out.first_session_type = pending.event_type(FIRST_SESSION)?.id;
    }
    for event in events {
        let subject = pending.subject(event.subject_kind, &event.subject_id)?;
        out.new_subjects += usize::from(subject.is_new);
        let type_id = pending.event_type(&event.event_type)?.id;
        let start = out.key_ids.len();
        for (k, _) in &event.data {
            let id = pending.key(k)?.id;
            out.key_ids.push(id);
        }
        out.events.push(ResolvedEvent {
            sid: subject.id,
            type_id,
            millis: event.time.unwrap_or(received_at),
            keys: start..out.key_ids.len(),
        });
    }
    Ok(out)
}

/// Adds one event to a write's overlay: its sequence number, catalog
/// counts, facts, block row, log entry and time index entry.
fn put_event(
    pending: &mut Pending<'_>,
    kind: SubjectKind,
    sid: u32,
    type_id: u32,
    millis: i64,
    data: &[(u32, &Value)],
) {
    let seq = pending.take_seq();
    pending.count_event(type_id, millis, data);
    pending.touch_subject(kind, sid, millis);
    pending.o.blocks.add(kind, type_id, millis, seq, sid, data);
    let start = pending.o.log_values.len();
    let values = std::mem::take(&mut pending.o.log_values);
    pending.o.log_values = postcard::to_extend(&StoredEventRef { type_id, data }, values)
        .expect("a Vec grows as needed");
    pending.o.log.push(LogEntry {
        key: keys::log_key(kind, sid, millis, seq),
        type_id,
        start: start as u64,
        len: (pending.o.log_values.len() - start) as u32,
    });
    pending
        .o
        .time
        .push((keys::time_key(millis, seq), keys::subject_key(kind, sid)));
}

/// Counts of what a store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    /// Events stored (including automatic ones the store recorded).
    pub events: u64,
    /// Distinct users.
    pub users: u64,
    /// Distinct devices.
    pub devices: u64,
    /// Event types in the catalog.
    pub event_types: u64,
    /// The sequence number the next event will get.
    pub next_seq: u64,
}

/// The current time in Unix milliseconds.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Lookups through a fresh [`crate::View`], for callers that ask one thing.
impl Store {
    /// The dictionary id of an event type, if the store has seen it.
    pub fn type_id(&self, name: &str) -> Option<u32> {
        self.view().type_id(name)
    }

    /// The dictionary id of a data key, if the store has seen it.
    pub fn key_id(&self, name: &str) -> Option<u32> {
        self.view().key_id(name)
    }

    /// The dense id of a subject, if the store has seen it.
    pub fn subject_dense_id(&self, kind: SubjectKind, id: &str) -> Option<u32> {
        self.view().subject_dense_id(kind, id)
    }

    /// The subject ID a dense id stands for.
    pub fn subject_id(&self, kind: SubjectKind, dense: u32) -> Result<String> {
        self.view().subject_id(kind, dense)
    }

    /// Per-subject facts of one kind, indexed by dense id: a snapshot,
    /// shared (later writes do not change it).
    pub fn facts(&self, kind: SubjectKind) -> std::sync::Arc<Vec<SubjectFacts>> {
        std::sync::Arc::clone(self.view().facts(kind))
    }
}
