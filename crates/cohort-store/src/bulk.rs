//! Bulk loads: many chunks staged in memory, committed as table files.
//!
//! A write through [`Store::append`] goes through RocksDB's write-ahead
//! log and memtables, and later a flush sorts the memtable into a table
//! file: every event is written three times and sorted twice. A bulk load
//! builds the table files itself. Chunks are staged into one overlay (the
//! same [`Pending`] a single write builds, with the same validation,
//! dictionaries, facts, catalog and blocks); [`BulkLoad::commit`] then
//!
//! 1. sorts the staged `log` and `time` entries and the blocks and writes
//!    them as table files (`SstFileWriter`, in parallel), in `DIR/bulk/`;
//! 2. records an **intent** (`meta` `bulk_intent`: the sequence numbers
//!    `from..to` the files hold), synced;
//! 3. adds the files to their column families (`ingest_external_file`,
//!    which moves them in, syncs and records them in the MANIFEST);
//! 4. writes one synced `WriteBatch` with everything else — dictionaries,
//!    facts, catalog, the load mark, `next_seq` — and removes the intent.
//!
//! Step 3 ends with one more file, for `meta`, holding `bulk_files` = `to`,
//! and step 4 writes `bulk_commit` = `to`.
//!
//! Step 4 is the commit point. Until it, nothing of the load is visible:
//! every read of `log`, `time` and `blocks` skips entries whose sequence
//! number is at or past the view's `next_seq` (`keys::seq_of`), and the
//! ingested files hold only such entries. If the process dies between 2
//! and 4, the next writer to open the store finds the intent and deletes
//! every entry in `from..to` before it writes anything
//! ([`clear_unfinished`]); a reader meanwhile sees the store as it was.
//! So a commit is all or nothing, like a `WriteBatch`, and a load mark
//! never counts events that are not there.

use parking_lot::MutexGuard;
use std::path::{Path, PathBuf};

use cohort_event::Event;
use rayon::prelude::*;
use rocksdb::{IngestExternalFileOptions, SstFileWriter, WriteBatch, DB};

use crate::codec::{self, LoadMark};
use crate::db::cf;
use crate::error::{Result, StoreError};
use crate::keys::{self, meta};
use crate::options::Durability;
use crate::profile::ProfileChanges;
use crate::state::{LogEntry, Parked, Pending};
use crate::store::{now_millis, AppendReceipt, Store};

/// The directory inside a store where a commit builds its table files.
pub(crate) const BULK_DIR: &str = "bulk";

/// A bulk load in progress: holds the store's writer lock until dropped.
///
/// [`BulkLoad::append`] stages chunks; nothing is visible or durable until
/// [`BulkLoad::commit`] returns. Dropping a `BulkLoad` with staged chunks
/// discards them (they were never reported stored).
pub struct BulkLoad<'s> {
    store: &'s Store,
    _writer: MutexGuard<'s, ()>,
    parked: Option<Parked>,
    /// The staging buffers of the last commit, emptied, for the next: a
    /// load touches fresh memory for its first commit only (page faults
    /// were a third of the writer thread's time when each commit grew new
    /// buffers).
    spare: Buffers,
    mark: Option<([u8; 16], LoadMark)>,
    written_at: i64,
    staged_events: u64,
    staged_changes: u64,
}

impl Store {
    /// Starts a bulk load (see the module docs of `bulk.rs` in
    /// ARCHITECTURE.md): chunks are staged in memory and written as table
    /// files at each [`BulkLoad::commit`], without the write-ahead log,
    /// memtables or flushes. Other writes wait until it is dropped.
    pub fn bulk_load(&self) -> Result<BulkLoad<'_>> {
        let writer = self.writer.lock();
        self.check_writable()?;
        Ok(BulkLoad {
            store: self,
            _writer: writer,
            parked: None,
            spare: Buffers::default(),
            mark: None,
            written_at: now_millis(),
            staged_events: 0,
            staged_changes: 0,
        })
    }
}

impl BulkLoad<'_> {
    /// Stages one chunk of events, all or nothing, with the rules of
    /// [`Store::append_marked`] (`received_at` for events without a time,
    /// default the clock now; `mark`, the load mark to record with the
    /// next commit). The receipt's `seq_end` is where the staged events
    /// end; they are durable once a commit has returned.
    pub fn append(
        &mut self,
        events: &[Event],
        profile: ProfileChanges<'_>,
        received_at: Option<i64>,
        mark: Option<(&[u8; 16], &LoadMark)>,
    ) -> Result<AppendReceipt> {
        self.store.check_writable()?;
        self.store.subject_map()?;
        let received_at = received_at.unwrap_or_else(now_millis);
        let state = self.store.read_state();
        let mut pending = match self.parked.take() {
            Some(parked) => parked.resume(&state),
            None => {
                let mut pending = Pending::new(&state, self.store.limits);
                let spare = std::mem::take(&mut self.spare);
                pending.o.log = spare.log;
                pending.o.log_values = spare.log_values;
                pending.o.time = spare.time;
                pending
            }
        };
        let staged = self
            .store
            .stage_request(&mut pending, events, profile, received_at);
        self.parked = Some(pending.park());
        let receipt = staged?;
        self.staged_events += (receipt.stored + receipt.first_sessions) as u64;
        self.staged_changes += receipt.profile_changes as u64;
        self.written_at = received_at;
        if let Some((fingerprint, mark)) = mark {
            self.mark = Some((*fingerprint, mark.clone()));
        }
        Ok(receipt)
    }

    /// Roughly the memory the staged chunks hold, in bytes: commit before
    /// it grows past what the machine should spend.
    pub fn staged_bytes(&self) -> usize {
        self.parked.as_ref().map_or(0, Parked::heap_bytes)
    }

    /// Events staged since the last commit.
    pub fn staged_events(&self) -> u64 {
        self.staged_events
    }

    /// Tag and attribute changes staged since the last commit.
    pub fn staged_changes(&self) -> u64 {
        self.staged_changes
    }

    /// Makes every staged chunk stored and durable, all or nothing (see
    /// the module docs). Returns the store's sequence number after it.
    pub fn commit(&mut self) -> Result<u64> {
        let store = self.store;
        store.check_writable()?;
        // The instant `put_live` will decide at: never before one already
        // decided at (a track write may have run ahead of the sweep).
        let at = self
            .written_at
            .max(store.live_clock.load(std::sync::atomic::Ordering::Acquire));
        store.catch_up_locked(at)?;
        let Some(parked) = self.parked.take() else {
            return Ok(store.read_state().next_seq);
        };
        self.staged_events = 0;
        self.staged_changes = 0;
        let mark = self.mark.take();
        let state = store.read_state();
        let mut pending = parked.resume(&state);
        let (from, to) = (state.next_seq, pending.o.next_seq);
        // Nothing to store (profile changes take no event sequence number).
        if from == to && mark.is_none() && pending.o.profile.is_empty() {
            return Ok(to);
        }
        let dir = store.path().join(BULK_DIR);
        remove_dir(&dir)?;
        std::fs::create_dir(&dir).map_err(|e| io_error(&dir, e))?;
        let mut batch = WriteBatch::default();
        let (files, spare) = write_tables(&dir, &mut pending)?;
        let mut sync = rocksdb::WriteOptions::default();
        sync.set_sync(true);
        let mut intent = [0u8; 16];
        intent[..8].copy_from_slice(&from.to_be_bytes());
        intent[8..].copy_from_slice(&to.to_be_bytes());
        store
            .db
            .put_cf_opt(store.cf(cf::META), meta::BULK_INTENT, intent, &sync)?;
        // From here until the commit point, table files may be in place that
        // the store's `next_seq` does not cover: leaving abnormally (a panic)
        // must not let a later write take their sequence numbers.
        let guard = PoisonOnUnwind(store);
        let written_at = self.written_at;
        let ingested = (|| -> Result<()> {
            let mut opts = IngestExternalFileOptions::default();
            opts.set_move_files(true);
            for (family, paths) in &files {
                store
                    .db
                    .ingest_external_file_cf_opts(store.cf(family), &opts, paths.clone())?;
            }
            // The live segments are decided once the files are in place: a
            // segment at a time, from a view of the store as this commit
            // leaves it (one evaluation, not one per subject). Not when
            // the commit changes profiles: those go into its batch, which a
            // view cannot read before it is written.
            if pending.o.profile.is_empty() && !pending.base.live.defs.is_empty() {
                let view = store.commit_view(&pending);
                store.put_live(&mut pending, &mut batch, written_at, false, Some(&view))?;
            } else {
                store.put_live(&mut pending, &mut batch, written_at, false, None)?;
            }
            if let Some((fingerprint, mark)) = &mark {
                batch.put_cf(store.cf(cf::LOADS), fingerprint, codec::encode(mark));
            }
            store.put_derived(&mut pending, &mut batch, written_at)?;
            batch.delete_cf(store.cf(cf::META), meta::BULK_INTENT);
            batch.put_cf(store.cf(cf::META), meta::BULK_COMMIT, to.to_be_bytes());
            // Last: the file that says this commit's files are in place
            // (see `reader_sees_last_commit`).
            let marker = dir.join("meta.sst");
            write_file(
                &marker,
                std::iter::once((meta::BULK_FILES, &to.to_be_bytes()[..])),
            )?;
            store
                .db
                .ingest_external_file_cf_opts(store.cf(cf::META), &opts, vec![&marker])?;
            Ok(())
        })();
        // The log the per-subject decisions read stays in the overlay until
        // here; its buffers are kept for the next commit.
        let spare = spare.with_log(&mut pending);
        self.spare = spare;
        let changes = pending.into_changes();
        drop(state);
        let ingested =
            ingested.and_then(|()| store.commit(batch, Durability::Sync, changes).map(drop));
        // Its blocks are new to the writer's lists of small blocks.
        store.small_blocks().clear();
        if let Err(e) = ingested {
            // The live decisions may have cached blocks of the files taken
            // back below, under keys the next commit reuses.
            store.block_cache.clear();
            // Take back what was ingested, so that the sequence numbers the
            // next write takes name nothing already there; if even that
            // fails, refuse further writes (the next writer to open the
            // store clears it).
            if clear_unfinished(&store.db).is_err() {
                store.poison();
            }
            drop(guard);
            let _ = remove_dir(&dir);
            return Err(e);
        }
        drop(guard);
        // Committed: a directory left behind is only litter, removed by
        // the next writer to open the store, not a failed commit.
        let _ = remove_dir(&dir);
        Ok(to)
    }
}

/// Poisons the store if dropped while unwinding (see `BulkLoad::commit`).
struct PoisonOnUnwind<'s>(&'s Store);

impl Drop for PoisonOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poison();
        }
    }
}

/// Writes the staged `log`, `time` and block entries as sorted table files
/// in `dir`: per column family, its files (families without entries left
/// out). The keys are sorted first (in parallel); then the files are
/// written in parallel — the log, the largest, as two files of disjoint key
/// ranges, so that neither core waits for one long file at the end.
///
/// The log stays in the overlay (sorted), for the live decisions that read
/// it; [`Buffers::with_log`] takes it afterwards.
fn write_tables(dir: &Path, pending: &mut Pending<'_>) -> Result<(TableFiles, Buffers)> {
    let log = &mut pending.o.log;
    let log_values = &pending.o.log_values;
    let mut time = std::mem::take(&mut pending.o.time);
    let mut blocks = std::mem::take(&mut pending.o.blocks).encode_parallel();
    // Keys compared as integers, not byte slices: the same order
    // (big-endian), without a `memcmp` call per comparison.
    log.par_sort_unstable_by_key(|e| {
        let (head, tail) = e.key.split_at(16);
        let mut t = [0u8; 8];
        t[3..].copy_from_slice(&tail[..5]);
        (
            u128::from_be_bytes(head.try_into().expect("16 bytes")),
            u64::from_be_bytes(t),
        )
    });
    time.par_sort_unstable_by_key(|e| u128::from_be_bytes(e.0));
    blocks.sort_unstable_by_key(|b| b.0);

    enum Part<'a> {
        Log(&'a [LogEntry]),
        Time,
        Blocks,
        Index,
    }
    let mut parts: Vec<(&'static str, String, Part<'_>)> = log
        .chunks(log.len().div_ceil(2).max(1))
        .enumerate()
        .map(|(i, c)| (cf::LOG, format!("log-{i}.sst"), Part::Log(c)))
        .collect();
    parts.push((cf::TIME, "time.sst".into(), Part::Time));
    parts.push((cf::BLOCKS, "blocks.sst".into(), Part::Blocks));
    parts.push((cf::BLOCK_INDEX, "block_index.sst".into(), Part::Index));
    let written: Vec<Result<Option<(&'static str, PathBuf)>>> = parts
        .into_par_iter()
        .map(|(family, name, part)| {
            let path = dir.join(name);
            let file = match part {
                Part::Log(entries) => write_file(
                    &path,
                    entries.iter().map(|e| {
                        let start = e.start as usize;
                        (&e.key[..], &log_values[start..start + e.len as usize])
                    }),
                )?,
                Part::Time => write_file(&path, time.iter().map(|(k, v)| (&k[..], &v[..])))?,
                Part::Blocks => write_file(&path, blocks.iter().map(|(k, v)| (&k[..], &v[..])))?,
                Part::Index => write_file(&path, blocks.iter().map(|(k, v)| (&k[..], &v[..4])))?,
            };
            Ok(file.map(|f| (family, f)))
        })
        .collect();
    let mut files: TableFiles = Vec::new();
    for w in written {
        if let Some((family, path)) = w? {
            match files.iter_mut().find(|(f, _)| *f == family) {
                Some((_, paths)) => paths.push(path),
                None => files.push((family, vec![path])),
            }
        }
    }
    time.clear();
    Ok((
        files,
        Buffers {
            time,
            ..Buffers::default()
        },
    ))
}

/// Per column family, the table files of one commit.
type TableFiles = Vec<(&'static str, Vec<PathBuf>)>;

/// The largest staging buffers of a commit, kept for the next.
#[derive(Default)]
struct Buffers {
    log: Vec<LogEntry>,
    log_values: Vec<u8>,
    time: Vec<([u8; keys::TIME_KEY_LEN], [u8; 5])>,
}

impl Buffers {
    /// Adds the overlay's log buffers, emptied.
    fn with_log(mut self, pending: &mut Pending<'_>) -> Buffers {
        self.log = std::mem::take(&mut pending.o.log);
        self.log_values = std::mem::take(&mut pending.o.log_values);
        self.log.clear();
        self.log_values.clear();
        self
    }
}

/// Writes sorted, distinct keys as one table file; `None` if there are none.
fn write_file<'a>(
    path: &Path,
    entries: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> Result<Option<PathBuf>> {
    let mut entries = entries.peekable();
    if entries.peek().is_none() {
        return Ok(None);
    }
    let opts = crate::db::table_file_options();
    let mut writer = SstFileWriter::create(&opts);
    writer.open(path)?;
    for (k, v) in entries {
        writer.put(k, v)?;
    }
    writer.finish()?;
    Ok(Some(path.to_path_buf()))
}

fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(dir, e)),
    }
}

fn io_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Deletes what an unfinished bulk commit left (see the module docs): the
/// entries of `log`, `time`, `blocks` and `block_index` whose sequence
/// numbers the intent names, then the intent (the callers remove the build
/// directory). Called by every writer as it opens, before anything is
/// written (a no-op without an intent), and by a commit that fails part
/// way. Deleting is idempotent, so a crash during it is finished by the
/// next opener.
pub(crate) fn clear_unfinished(db: &DB) -> Result<()> {
    let meta_cf = db
        .cf_handle(cf::META)
        .ok_or_else(|| StoreError::Corrupt("the meta column family is missing".into()))?;
    let Some(intent) = db.get_cf(meta_cf, meta::BULK_INTENT)? else {
        return Ok(());
    };
    let intent: [u8; 16] = intent
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::Corrupt("malformed bulk load intent".into()))?;
    let from = u64::from_be_bytes(intent[..8].try_into().expect("8 bytes"));
    let to = u64::from_be_bytes(intent[8..].try_into().expect("8 bytes"));
    for family in [cf::LOG, cf::TIME, cf::BLOCKS, cf::BLOCK_INDEX] {
        let handle = db
            .cf_handle(family)
            .ok_or_else(|| StoreError::Corrupt(format!("the {family} column family is missing")))?;
        let mut it = db.raw_iterator_cf(handle);
        it.seek_to_first();
        let mut batch = WriteBatch::default();
        while let Some(k) = it.key() {
            if keys::seq_of(k).is_some_and(|s| (from..to).contains(&s)) {
                batch.delete_cf(handle, k);
                if batch.len() >= 100_000 {
                    db.write(std::mem::take(&mut batch))?;
                }
            }
            it.next();
        }
        it.status()?;
        db.write(batch)?;
    }
    let mut sync = rocksdb::WriteOptions::default();
    sync.set_sync(true);
    let mut batch = WriteBatch::default();
    batch.delete_cf(meta_cf, meta::BULK_INTENT);
    db.write_opt(batch, &sync)?;
    Ok(())
}

/// Whether a read-only instance sees the table files of the last bulk
/// commit whose `WriteBatch` it sees. A secondary instance reads the
/// MANIFEST (where added table files are recorded) before it replays the
/// write-ahead log (where the commit's `WriteBatch` is): opened while a
/// load commits, it could see a commit's `next_seq`, facts and catalog
/// without its events. Sequence numbers only grow, so the view is whole
/// when `bulk_files` ≥ `bulk_commit` (greater after a commit cut short).
pub(crate) fn reader_sees_last_commit(db: &DB) -> Result<bool> {
    let files = crate::load::meta_u64(db, meta::BULK_FILES)?.unwrap_or(0);
    Ok(files >= crate::load::meta_u64(db, meta::BULK_COMMIT)?.unwrap_or(0))
}
