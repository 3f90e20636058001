//! How a store is opened.

/// Options for [`crate::Store::open`]. Every field documents its default and
/// the RocksDB option behind it.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Create an empty store when the directory holds none.
    /// Default `true`. (RocksDB `create_if_missing`.)
    pub create_if_missing: bool,
    /// Read-write (one process at a time), or read-only: a view of the
    /// store as it was when opened, which works while another process
    /// writes to it. Default [`Access::ReadWrite`].
    /// (Read-only is a RocksDB secondary instance.)
    pub access: Access,
    /// What to do when the write-ahead log is damaged before its end.
    /// Default [`Recovery::Strict`]. (RocksDB `wal_recovery_mode`.)
    pub recovery: Recovery,
    /// Bytes of writes buffered in memory per column family before they are
    /// flushed to a sorted file. Larger buffers make bulk ingest faster.
    /// Default 64 MiB. (RocksDB `write_buffer_size`.)
    pub write_buffer_bytes: usize,
    /// Bytes of decompressed blocks cached for reads, shared by all column
    /// families. Default 128 MiB. (RocksDB `BlockBasedOptions::set_block_cache`.)
    pub block_cache_bytes: usize,
    /// Bytes of decoded event blocks kept for evaluations (blocks never
    /// change, so they are shared without invalidation; oldest out first).
    /// Default 512 MiB.
    pub decoded_block_cache_bytes: usize,
    /// Tune for one large load (`cohort ingest`): memtables become plain
    /// vectors sorted when they are flushed, so each write appends instead
    /// of searching a skip list, and the sort runs on the flush thread.
    /// Reads stay correct but each one sorts the open memtable, so keep
    /// this off for a store that serves queries while it takes writes.
    /// Default `false`. (RocksDB `MemtableFactory::Vector`.)
    pub bulk_load: bool,
    /// Threads for background flushes and compactions.
    /// Default 2. (RocksDB `max_background_jobs`.)
    pub background_jobs: i32,
    /// Most distinct event types the store holds; a write bringing one
    /// more is refused ([`crate::StoreError::Capacity`]). Their names and
    /// catalog records stay in memory. Default 100,000.
    pub max_event_types: usize,
    /// Most distinct data keys the store holds; a write bringing one more
    /// is refused. Their names stay in memory. Default 1,000,000.
    pub max_data_keys: usize,
    /// Events of decoded subject histories kept between writes for live
    /// segments (about 200 bytes each for small events, more with large
    /// data): a track request deciding a subject it decided before need
    /// not read its events again. Only stores with live segments fill it.
    /// Default 1,048,576 (about 200 MB on the benchmark's events: a
    /// service's working set of active subjects, heavy-tailed, fits); 0
    /// keeps none.
    pub history_cache_events: usize,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            create_if_missing: true,
            access: Access::ReadWrite,
            recovery: Recovery::Strict,
            write_buffer_bytes: 64 << 20,
            block_cache_bytes: 128 << 20,
            decoded_block_cache_bytes: 512 << 20,
            bulk_load: false,
            background_jobs: 2,
            max_event_types: crate::state::MAX_EVENT_TYPES,
            max_data_keys: crate::state::MAX_DATA_KEYS,
            history_cache_events: 1 << 20,
        }
    }
}

impl StoreOptions {
    /// Options for reading a store that exists, possibly while another
    /// process writes to it: read-only, never creating one.
    pub fn read_only() -> StoreOptions {
        StoreOptions {
            create_if_missing: false,
            access: Access::ReadOnly,
            ..StoreOptions::default()
        }
    }
}

/// How a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// Reads and writes; one process at a time (others get
    /// [`crate::StoreError::Locked`]).
    #[default]
    ReadWrite,
    /// Reads only, of the store as it was when opened: any number of
    /// processes, also while one writes. Writes return
    /// [`crate::StoreError::ReadOnly`].
    ReadOnly,
}

/// What opening does with a write-ahead log damaged before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recovery {
    /// Refuse to open ([`crate::StoreError::Damaged`]): replaying would
    /// drop every write after the damage, acknowledged ones included. An
    /// incomplete last record (a write cut short by a crash, never
    /// acknowledged) is not damage and is dropped. (RocksDB
    /// `kTolerateCorruptedTailRecords`.)
    #[default]
    Strict,
    /// Keep every write before the damage and drop the rest, for good:
    /// the explicit way out of [`Recovery::Strict`]'s refusal. Only with
    /// [`Access::ReadWrite`]. (RocksDB `kPointInTimeRecovery`.)
    Salvage,
}

/// When an append is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Sync the write-ahead log before returning (the track API's path):
    /// when `append` returns, the events survive a power loss.
    #[default]
    Sync,
    /// Return once the batch is in the write-ahead log's OS buffer: it
    /// survives the process being killed, but not a power loss, until the
    /// next [`crate::Store::sync`] (the bulk path's choice).
    Buffered,
}
