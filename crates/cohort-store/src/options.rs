//! How a store is opened.

/// Options for [`crate::Store::open`]. Every field documents its default and
/// the RocksDB option behind it.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Create an empty store when the directory holds none.
    /// Default `true`. (RocksDB `create_if_missing`.)
    pub create_if_missing: bool,
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
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            create_if_missing: true,
            write_buffer_bytes: 64 << 20,
            block_cache_bytes: 128 << 20,
            decoded_block_cache_bytes: 512 << 20,
            bulk_load: false,
            background_jobs: 2,
        }
    }
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
