//! The store's error type.

use std::path::PathBuf;

use cohort_event::RequestError;

/// Everything that can go wrong in the store. Callers tell cases apart by
/// variant; the text is for people.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// There is no store in the directory (it is missing or empty) and
    /// `create_if_missing` is off.
    #[error(
        "no cohort store at {0}: it is created by the first write (cohort init, or cohort ingest)"
    )]
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
        "the store at {path} has format version {found}; this cohort reads versions {oldest} to {supported}"
    )]
    UnsupportedFormat {
        /// The directory.
        path: PathBuf,
        /// The version recorded in the store.
        found: u32,
        /// The oldest version this build reads.
        oldest: u32,
        /// The version this build writes.
        supported: u32,
    },
    /// A value in the store uses an encoding this build does not know
    /// (written by a newer cohort).
    #[error(
        "the store holds {what}, which this cohort cannot read: was it written by a newer version?"
    )]
    UnsupportedEncoding {
        /// What was found.
        what: String,
    },
    /// Another process has the store open for writing.
    #[error("the store at {0} is in use by another process that writes to it (an ingest?); read commands can still open it")]
    Locked(PathBuf),
    /// RocksDB found damage when opening the store (a checksum mismatch in
    /// the write-ahead log, most often). Replaying a log past damage would
    /// drop every write after it, acknowledged ones included, so the store
    /// is not opened.
    #[error(
        "the store at {path} is damaged ({detail}) and was not opened: replaying its \
         write-ahead log past the damage would drop acknowledged writes in silence. \
         Copy the directory somewhere safe; if the damage is in the write-ahead log, \
         `cohort recover` (Recovery::Salvage) keeps every write before it and drops the rest"
    )]
    Damaged {
        /// The directory.
        path: PathBuf,
        /// What RocksDB reported.
        detail: String,
    },
    /// The store was opened read-only and a write was attempted.
    #[error("the store at {0} was opened read-only")]
    ReadOnly(PathBuf),
    /// The input was refused; nothing was stored.
    #[error(transparent)]
    Invalid(#[from] RequestError),
    /// An event type name given to the catalog broke a rule.
    #[error("{reason}")]
    BadTypeName {
        /// The name.
        name: String,
        /// The rule it broke.
        reason: String,
    },
    /// A segment name broke a rule.
    #[error("{reason}")]
    BadSegmentName {
        /// The name.
        name: String,
        /// The rule it broke.
        reason: String,
    },
    /// A key to remember a request under is empty or too long.
    #[error("a request key must be 1 to {limit} bytes, not {bytes}")]
    BadRequestKey {
        /// Its length.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// A recent-events cursor could not be read.
    #[error("{0:?} is not a cursor (TIME.SEQ, as printed by a previous page)")]
    BadCursor(String),
    /// The store has live segments and no live hook is installed.
    #[error("the store has live segments, and this program cannot keep them current: open it with cohort (cohort::open_store), not cohort_store alone")]
    NoLiveHook,
    /// Deciding live memberships failed.
    #[error("live segments: {0}")]
    Live(String),
    /// A value read back could not be decoded, or breaks an invariant.
    #[error("the store is corrupt: {0}")]
    Corrupt(String),
    /// A dictionary is full: the store holds the most event types (or
    /// data keys, or subjects of a kind) it may, and a write brings a new one.
    #[error("the store holds the most {what} it may ({limit}); {name:?} would be one more, so the write was refused")]
    Capacity {
        /// What is full.
        what: String,
        /// How many the store may hold.
        limit: usize,
        /// The new name that did not fit.
        name: String,
    },
    /// A file of the store's own (a bulk load's table files) could not be
    /// written or removed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A bulk load failed after adding its table files, and taking them back
    /// failed too: this handle refuses further writes. Opening the store
    /// again for writing takes them back.
    #[error("a bulk load into {0} failed part way and could not be taken back; open the store again to finish taking it back")]
    Poisoned(PathBuf),
    /// A read-only open kept finding a view that was not whole — a bulk
    /// commit's write without its table files, or fewer events than
    /// `next_seq` — for two seconds (a writer going faster than the reader
    /// could catch up with it).
    #[error("the store at {0} is being written by a bulk load faster than a reader can open a whole view of it; try again")]
    Unsettled(PathBuf),
    /// RocksDB reported an error.
    #[error("RocksDB: {0}")]
    Rocks(#[from] rocksdb::Error),
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
