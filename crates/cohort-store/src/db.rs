//! Opening RocksDB: column families, tuning, and the format-version check.

use std::path::Path;

use rocksdb::{BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompressionType, Options, DB};

use crate::error::{Result, StoreError};
use crate::keys::meta;
use crate::options::StoreOptions;

/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 2;

/// Column family names, in one place.
pub(crate) mod cf {
    pub const META: &str = "meta";
    pub const LOG: &str = "log";
    pub const TIME: &str = "time";
    pub const DICT: &str = "dict";
    pub const FACTS: &str = "facts";
    pub const CATALOG: &str = "catalog";
    pub const BLOCKS: &str = "blocks";
    pub const SEGMENTS: &str = "segments";
    pub const BLOCK_INDEX: &str = "block_index";
    pub const ALL: [&str; 9] = [
        META,
        LOG,
        TIME,
        DICT,
        FACTS,
        CATALOG,
        BLOCKS,
        SEGMENTS,
        BLOCK_INDEX,
    ];
}

fn db_options(opts: &StoreOptions, cache: &Cache) -> Options {
    let mut o = Options::default();
    o.create_if_missing(true);
    o.create_missing_column_families(true);
    o.set_max_background_jobs(opts.background_jobs);
    o.set_write_buffer_size(opts.write_buffer_bytes);
    o.set_max_write_buffer_number(4);
    if opts.bulk_load {
        o.set_memtable_factory(rocksdb::MemtableFactory::Vector);
        o.set_allow_concurrent_memtable_write(false);
    }
    o.set_compression_type(DBCompressionType::Lz4);
    o.set_bottommost_compression_type(DBCompressionType::Lz4);
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    table.set_bloom_filter(10.0, false);
    table.set_block_size(16 << 10);
    o.set_block_based_table_factory(&table);
    o
}

/// Opens (or creates) the database and checks its format version.
pub(crate) fn open(path: &Path, opts: &StoreOptions) -> Result<DB> {
    let exists = path.join("CURRENT").exists();
    if !exists {
        if !opts.create_if_missing {
            return Err(StoreError::NotFound(path.to_path_buf()));
        }
        if let Ok(mut entries) = std::fs::read_dir(path) {
            if entries.next().is_some() {
                return Err(StoreError::NotAStore {
                    path: path.to_path_buf(),
                    reason: "the directory is not empty and holds no database".into(),
                });
            }
        }
    }
    let cache = Cache::new_lru_cache(opts.block_cache_bytes);
    let db_opts = db_options(opts, &cache);
    // Open every column family present, so that a store written by a newer
    // format (with more families) reaches the version check below instead
    // of failing inside RocksDB.
    let mut names: Vec<String> = cf::ALL.iter().map(|s| s.to_string()).collect();
    if exists {
        let present = DB::list_cf(&db_opts, path).map_err(|e| map_open_error(path, e))?;
        for name in present {
            if name != "default" && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    let descriptors = names
        .iter()
        .map(|n| ColumnFamilyDescriptor::new(n, db_options(opts, &cache)));
    let db = DB::open_cf_descriptors(&db_opts, path, descriptors)
        .map_err(|e| map_open_error(path, e))?;
    let meta_cf = db
        .cf_handle(cf::META)
        .expect("meta column family was just opened");
    match db.get_cf(meta_cf, meta::FORMAT_VERSION)? {
        Some(v) => {
            let found = <[u8; 4]>::try_from(v.as_slice())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::NotAStore {
                    path: path.to_path_buf(),
                    reason: "its format version is unreadable".into(),
                })?;
            if found != FORMAT_VERSION {
                return Err(StoreError::UnsupportedFormat {
                    path: path.to_path_buf(),
                    found,
                    supported: FORMAT_VERSION,
                });
            }
        }
        None if exists && !log_is_empty(&db) => {
            return Err(StoreError::NotAStore {
                path: path.to_path_buf(),
                reason: "it is a RocksDB database without a cohort format version".into(),
            })
        }
        None => {
            let mut w = rocksdb::WriteOptions::default();
            w.set_sync(true);
            db.put_cf_opt(
                meta_cf,
                meta::FORMAT_VERSION,
                FORMAT_VERSION.to_be_bytes(),
                &w,
            )?;
        }
    }
    Ok(db)
}

/// A database created by a process killed before it wrote its format
/// version has an empty log: such a store is simply new.
fn log_is_empty(db: &DB) -> bool {
    let log = db
        .cf_handle(cf::LOG)
        .expect("log column family was just opened");
    let mut it = db.raw_iterator_cf(log);
    it.seek_to_first();
    !it.valid()
}

fn map_open_error(path: &Path, e: rocksdb::Error) -> StoreError {
    let text = e.to_string();
    if text.contains("LOCK") || text.contains("lock") {
        StoreError::Locked(path.to_path_buf())
    } else {
        StoreError::Rocks(e)
    }
}
