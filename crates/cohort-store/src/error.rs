//! The store's error type.

use std::path::PathBuf;

use cohort_event::RequestError;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory does not hold a store and `create_if_missing` is off.
    #[error("no cohort store at {0} (pass create_if_missing, or ingest first)")]
    NotFound(PathBuf),
    /// The directory holds something that is not a cohort store.
    #[error("{path} is not a cohort store: {reason}")]
    NotAStore {
        /// The directory.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The store was written by a format this build does not read.
    #[error(
        "the store at {path} has format version {found}; this cohort reads version {supported} only"
    )]
    UnsupportedFormat {
        /// The directory.
        path: PathBuf,
        /// The version recorded in the store.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// Another process has the store open.
    #[error("the store at {0} is in use by another process")]
    Locked(PathBuf),
    /// The input was refused; nothing was stored.
    #[error(transparent)]
    Invalid(#[from] RequestError),
    /// A catalog name or other argument broke a rule.
    #[error("{0}")]
    InvalidArgument(String),
    /// A value read back could not be decoded.
    #[error("the store is corrupt: {0}")]
    Corrupt(String),
    /// A dictionary is full (more than 2^32 subjects of one kind, say).
    #[error("{0}")]
    Capacity(String),
    /// RocksDB reported an error.
    #[error("RocksDB: {0}")]
    Rocks(#[from] rocksdb::Error),
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
