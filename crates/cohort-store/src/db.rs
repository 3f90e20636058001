//! Opening RocksDB: column families, tuning, recovery, read-only
//! instances, and the format-version check.

use std::path::{Path, PathBuf};

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompressionType, DBRecoveryMode, ErrorKind,
    Options, DB,
};

use crate::error::{Result, StoreError};
use crate::keys::meta;
use crate::options::{Access, Recovery, StoreOptions};

/// The format version this build writes.
pub const FORMAT_VERSION: u32 = 6;

/// The oldest format version this build reads. An older store is migrated
/// when it is opened for writing, and read as it is otherwise.
pub const OLDEST_FORMAT_VERSION: u32 = 2;

/// Column family names, in one place.
pub(crate) mod cf {
    pub const META: &str = "meta";
    pub const LOG: &str = "log";
    pub const TIME: &str = "time";
    pub const DICT: &str = "dict";
    pub const FACTS: &str = "facts";
    pub const CATALOG: &str = "catalog";
    pub const CATALOG_KEYS: &str = "catalog_keys";
    pub const BLOCKS: &str = "blocks";
    pub const SEGMENTS: &str = "segments";
    pub const BLOCK_INDEX: &str = "block_index";
    pub const LOADS: &str = "loads";
    pub const PROFILE: &str = "profile";
    pub const PROFILE_INDEX: &str = "profile_index";
    pub const LIVE: &str = "live";
    pub const CHANGES: &str = "changes";
    pub const ALL: [&str; 15] = [
        META,
        LOG,
        TIME,
        DICT,
        FACTS,
        CATALOG,
        CATALOG_KEYS,
        BLOCKS,
        SEGMENTS,
        BLOCK_INDEX,
        LOADS,
        PROFILE,
        PROFILE_INDEX,
        LIVE,
        CHANGES,
    ];
}

/// An opened database and what opening found.
pub(crate) struct Opened {
    pub db: DB,
    /// The format version the store is in (after any migration).
    pub version: u32,
    /// Where a read-only (secondary) instance keeps its own files; removed
    /// when the store is dropped, after the database.
    pub secondary_dir: Option<tempfile::TempDir>,
}

/// Whether a family is read by point lookups that may miss (a bloom filter
/// saves a block read per miss). The others are iterated (`log`, `time`,
/// `block_index`) or read by keys known to exist (`blocks`): their filters
/// would only cost memory, disk, and time at every open.
fn wants_filter(family: &str) -> bool {
    !matches!(family, cf::LOG | cf::TIME | cf::BLOCKS | cf::BLOCK_INDEX)
}

fn db_options(opts: &StoreOptions, cache: &Cache) -> Options {
    let mut o = family_options(opts, cache, "default");
    // Flushes of several families are installed in one MANIFEST record, so
    // that a reader never finds one family flushed (and its log deleted)
    // and another not.
    o.set_atomic_flush(true);
    o
}

fn family_options(opts: &StoreOptions, cache: &Cache, family: &str) -> Options {
    let mut o = Options::default();
    o.create_if_missing(true);
    o.create_missing_column_families(true);
    o.set_max_background_jobs(opts.background_jobs);
    o.set_write_buffer_size(opts.write_buffer_bytes);
    o.set_max_write_buffer_number(4);
    o.set_wal_recovery_mode(match opts.recovery {
        Recovery::Strict => DBRecoveryMode::TolerateCorruptedTailRecords,
        Recovery::Salvage => DBRecoveryMode::PointInTime,
    });
    if opts.access == Access::ReadOnly {
        // A secondary instance must hold every table file open: the
        // writer may delete one after a compaction, and an open file
        // stays readable.
        o.set_max_open_files(-1);
    }
    // A vector memtable is sorted whenever it is read, so it suits only
    // the families a load writes and does not read back while loading; the
    // catalog's key counts, read by every batch, keep the skip list.
    if opts.bulk_load
        && matches!(
            family,
            cf::LOG | cf::TIME | cf::BLOCKS | cf::BLOCK_INDEX | cf::FACTS | cf::DICT
        )
    {
        o.set_memtable_factory(rocksdb::MemtableFactory::Vector);
    }
    if opts.bulk_load {
        o.set_allow_concurrent_memtable_write(false);
    }
    // `meta` holds a few small values and the facts snapshot, which every
    // opener reads whole: stored plain, it is a copy from the page cache,
    // not a decompression (a few MB per million subjects).
    let compression = if family == cf::META {
        DBCompressionType::None
    } else {
        DBCompressionType::Lz4
    };
    o.set_compression_type(compression);
    // Levels 0 and 1 hold what flushes and compactions will rewrite soon:
    // compressing it cost a live writer 12% of its CPU (BENCHMARKS.md,
    // issue 11). Deeper levels, where data settles, keep LZ4; bulk loads
    // write their own LZ4 table files.
    o.set_compression_per_level(&[
        DBCompressionType::None,
        DBCompressionType::None,
        compression,
        compression,
        compression,
        compression,
        compression,
    ]);
    o.set_bottommost_compression_type(compression);
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    if wants_filter(family) {
        table.set_bloom_filter(10.0, false);
    }
    if opts.access == Access::ReadOnly {
        // A reader (a batch command, usually) opens every table file: the
        // index and filter blocks are read when first needed, through the
        // block cache, not all of them at open.
        table.set_cache_index_and_filter_blocks(true);
    }
    table.set_block_size(16 << 10);
    o.set_block_based_table_factory(&table);
    o
}

/// The options of the table files a bulk load writes (`bulk.rs`): the
/// compression and block size of the families they go into.
pub(crate) fn table_file_options() -> Options {
    let mut o = Options::default();
    o.set_compression_type(DBCompressionType::Lz4);
    o.set_bottommost_compression_type(DBCompressionType::Lz4);
    let mut table = BlockBasedOptions::default();
    table.set_block_size(16 << 10);
    o.set_block_based_table_factory(&table);
    o
}

/// Opens (or creates) the database and checks its format version.
pub(crate) fn open(path: &Path, opts: &StoreOptions) -> Result<Opened> {
    // A reader that opens while a writer creates the store can find the
    // store's version written but not yet all its column families listed
    // (it reads the MANIFEST before the write-ahead log): it opens again,
    // for up to a second, before calling that damage.
    let mut tries = 0;
    loop {
        match open_once(path, opts)? {
            Attempt::Opened(opened) => return Ok(opened),
            Attempt::FamiliesMissing(_) if tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Attempt::FamiliesMissing(missing) => {
                return Err(StoreError::Corrupt(format!(
                    "the column families {missing} are missing"
                )))
            }
        }
    }
}

/// What one try at opening found.
enum Attempt {
    Opened(Opened),
    /// A store of this version without some of its column families (named).
    FamiliesMissing(String),
}

fn open_once(path: &Path, opts: &StoreOptions) -> Result<Attempt> {
    let read_only = opts.access == Access::ReadOnly;
    if read_only && opts.recovery == Recovery::Salvage {
        return Err(StoreError::ReadOnly(path.to_path_buf()));
    }
    if path.exists() && !path.is_dir() {
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            reason: "it is a file, not a directory".into(),
        });
    }
    let exists = path.join("CURRENT").exists();
    if !exists {
        let has_files = std::fs::read_dir(path).is_ok_and(|mut e| e.next().is_some());
        if has_files && !interrupted_creation(path) {
            return Err(StoreError::NotAStore {
                path: path.to_path_buf(),
                reason: "the directory holds files but no database (no CURRENT file)".into(),
            });
        }
        if !opts.create_if_missing || read_only {
            return Err(StoreError::NotFound(path.to_path_buf()));
        }
    }
    let cache = Cache::new_lru_cache(opts.block_cache_bytes);
    let db_opts = db_options(opts, &cache);
    // Open every column family present, so that a store written by a newer
    // format (with more families) reaches the version check below instead
    // of failing inside RocksDB.
    let mut names: Vec<String> = Vec::new();
    if exists {
        names = DB::list_cf(&db_opts, path).map_err(|e| map_open_error(path, e))?;
        names.retain(|n| n != "default");
    }
    let mut missing: Vec<&str> = Vec::new();
    for name in cf::ALL {
        if !names.iter().any(|n| n == name) {
            missing.push(name);
        }
    }
    let secondary_dir = if read_only {
        Some(
            tempfile::Builder::new()
                .prefix("cohort-reader-")
                .tempdir()
                .map_err(|e| StoreError::NotAStore {
                    path: path.to_path_buf(),
                    reason: format!("cannot make a directory for a read-only instance: {e}"),
                })?,
        )
    } else {
        names.extend(missing.iter().map(|s| s.to_string()));
        None
    };
    let descriptors: Vec<ColumnFamilyDescriptor> = names
        .iter()
        .map(|n| ColumnFamilyDescriptor::new(n, family_options(opts, &cache, n)))
        .collect();
    let db = match &secondary_dir {
        Some(dir) => DB::open_cf_descriptors_as_secondary(&db_opts, path, dir.path(), descriptors),
        None => DB::open_cf_descriptors(&db_opts, path, descriptors),
    }
    .map_err(|e| map_open_error(path, e))?;
    let version = check_version(&db, path, exists, read_only)?;
    let mut opened = Opened {
        db,
        version,
        secondary_dir,
    };
    if read_only && !missing.is_empty() && opened.version == FORMAT_VERSION && exists {
        // A store of this version has every family; a missing one is damage.
        return Ok(Attempt::FamiliesMissing(missing.join(", ")));
    }
    if !read_only && opened.version < FORMAT_VERSION {
        crate::migrate::migrate(&opened.db, opened.version)?;
        opened.version = FORMAT_VERSION;
    }
    Ok(Attempt::Opened(opened))
}

/// The format version `meta` holds, if any (unchecked: for a reader that
/// caught up after opening).
pub(crate) fn stored_version(db: &DB) -> Result<Option<u32>> {
    let Some(meta_cf) = db.cf_handle(cf::META) else {
        return Ok(None);
    };
    Ok(db
        .get_cf(meta_cf, meta::FORMAT_VERSION)?
        .and_then(|v| <[u8; 4]>::try_from(v.as_slice()).ok())
        .map(u32::from_be_bytes)
        .filter(|v| (OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(v)))
}

/// The store's format version, written now for a new store.
fn check_version(db: &DB, path: &Path, exists: bool, read_only: bool) -> Result<u32> {
    let Some(meta_cf) = db.cf_handle(cf::META) else {
        // Only RocksDB's default family, and nothing in it: a first write
        // killed after RocksDB made the database and before cohort made
        // its families. A writer goes on to make them; to a reader there
        // is no store yet.
        let mut it = db.raw_iterator();
        it.seek_to_first();
        if read_only && !it.valid() && it.status().is_ok() {
            return Err(StoreError::NotFound(path.to_path_buf()));
        }
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            reason: "it is a RocksDB database without cohort's column families".into(),
        });
    };
    let mut version = db.get_cf(meta_cf, meta::FORMAT_VERSION)?;
    // A reader can find data without the version beside it: it listed the
    // writer's table files before a flush, whose write-ahead log (holding
    // the version) was deleted before the reader replayed it. Catch up
    // before calling the directory something else.
    let mut tries = 0;
    while read_only && version.is_none() && exists && !log_is_empty(db) && tries < 200 {
        tries += 1;
        std::thread::sleep(std::time::Duration::from_millis(10));
        db.try_catch_up_with_primary()?;
        version = db.get_cf(meta_cf, meta::FORMAT_VERSION)?;
    }
    match version {
        Some(v) => {
            let found = <[u8; 4]>::try_from(v.as_slice())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::NotAStore {
                    path: path.to_path_buf(),
                    reason: "its format version is unreadable".into(),
                })?;
            if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&found) {
                return Err(StoreError::UnsupportedFormat {
                    path: path.to_path_buf(),
                    found,
                    oldest: OLDEST_FORMAT_VERSION,
                    supported: FORMAT_VERSION,
                });
            }
            Ok(found)
        }
        None if exists && !log_is_empty(db) => Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            reason: "it is a RocksDB database without a cohort format version".into(),
        }),
        // A database created by a process killed before it wrote its
        // format version is simply new: a writer finishes creating it, and
        // to a reader there is no store yet.
        None if read_only => Err(StoreError::NotFound(path.to_path_buf())),
        None => {
            let mut w = rocksdb::WriteOptions::default();
            w.set_sync(true);
            db.put_cf_opt(
                meta_cf,
                meta::FORMAT_VERSION,
                FORMAT_VERSION.to_be_bytes(),
                &w,
            )?;
            Ok(FORMAT_VERSION)
        }
    }
}

/// Whether a directory without `CURRENT` holds only what RocksDB writes
/// while it creates a database, before `CURRENT` — a process killed at
/// that moment (the first `cohort ingest` into a new directory, say). No
/// data can be there: nothing is written before creation ends. Such a
/// directory is an empty store to a writer (RocksDB creates it afresh) and
/// no store to a reader. Anything else (a table file, a write-ahead log,
/// a file of the user's) keeps it "not a store".
fn interrupted_creation(path: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(path) else {
        return false;
    };
    entries.into_iter().all(|entry| {
        let Ok(entry) = entry else { return false };
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return false;
        };
        // (A write-ahead log is created only after CURRENT, and RocksDB
        // refuses to create a database beside one. CURRENT itself may have
        // appeared since the caller looked for it: a store being created.)
        matches!(name, "LOCK" | "LOG" | "IDENTITY" | "CURRENT")
            || name.starts_with("LOG.old.")
            || name.starts_with("MANIFEST-")
            || name.starts_with("OPTIONS-")
            || name.ends_with(".dbtmp")
    })
}

fn log_is_empty(db: &DB) -> bool {
    let Some(log) = db.cf_handle(cf::LOG) else {
        return true;
    };
    let mut it = db.raw_iterator_cf(log);
    it.seek_to_first();
    !it.valid()
}

fn map_open_error(path: &Path, e: rocksdb::Error) -> StoreError {
    let text = e.to_string();
    let path_buf: PathBuf = path.to_path_buf();
    // RocksDB: "IO error: While lock file: <dir>/LOCK: Resource temporarily
    // unavailable" (another process), "IO error: lock hold by current
    // process …" (this one). Match those exactly: "block checksum
    // mismatch" and a directory named "clock" contain "lock" too.
    if e.kind() == ErrorKind::Corruption {
        StoreError::Damaged {
            path: path_buf,
            detail: text,
        }
    } else if e.kind() == ErrorKind::IOError
        && (text.contains("While lock file") || text.contains("lock hold by current process"))
    {
        StoreError::Locked(path_buf)
    } else {
        StoreError::Rocks(e)
    }
}
