//! cohort's append-only event store on RocksDB.
//!
//! One store is one directory. It keeps an append-only **event log** keyed
//! by (subject kind, subject, time, sequence), so that one subject's events
//! are contiguous and in time order; **dictionaries** mapping subject IDs to
//! dense `u32`s per kind (the evaluator's bitmaps are over these) and event
//! types and data keys to small integers; **per-subject facts** (first and
//! last event time, count); the **catalog** of event types; and a time
//! index for **recent events**. Every write is one atomic RocksDB
//! `WriteBatch`.
//!
//! The store knows nothing of filters.
//!
//! ```
//! use cohort_store::{RecentQuery, Source, Store, StoreOptions, SubjectKind};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
//!
//! // A track request is validated and stored all or nothing, durably.
//! let body = br#"{"events":[
//!   {"subjectType":"user","subjectId":"u1","type":"purchase",
//!    "data":{"amount":10000},"createdAt":"2024-04-19T14:23:56+09:00"},
//!   {"subjectType":"user","subjectId":"u1","type":"app_open","createdAt":1713400000000}
//! ]}"#;
//! let receipt = store.track(body, Source::Client).unwrap();
//! assert_eq!(receipt.stored, 2);
//!
//! // A subject's events come back in time order.
//! let events = store.events(SubjectKind::User, "u1", ..).unwrap();
//! let types: Vec<_> = events.iter().map(|e| e.event_type.as_str()).collect();
//! assert_eq!(types, ["app_open", "purchase"]);
//!
//! // Recent events are newest first; the catalog knows both types.
//! let page = store.recent(&RecentQuery { limit: 1, ..Default::default() }).unwrap();
//! assert_eq!(page.events[0].event_type, "purchase");
//! assert!(page.next.is_some());
//! assert_eq!(store.catalog().unwrap().len(), 2);
//! ```

mod block_cache;
mod blocks;
mod bulk;
mod catalog;
mod codec;
mod db;
mod delete;
mod error;
mod group;
mod history;
mod keys;
mod live;
mod load;
mod lock;
mod merge;
mod migrate;
mod options;
mod profile;
mod read;
mod remember;
mod segments;
mod snapshot;
mod state;
mod store;
mod view;

pub use blocks::{bucket_of, Block, Column, BUCKET_MILLIS, NO_VALUE};
pub use bulk::BulkLoad;
pub use codec::{LoadMark, SubjectFacts};
pub use cohort_event::{
    format_millis, parse_rfc3339, Event, Source, SubjectKind, TrackRequest, Value, ValueKind,
};
pub use db::{FORMAT_VERSION, OLDEST_FORMAT_VERSION};
pub use delete::DeleteReceipt;
pub use error::{Result, StoreError};
pub use group::{GroupOutcome, GroupWrite, MAX_GROUP_ITEMS};
pub use live::{
    AllVerdicts, BackfillReceipt, Cause, Change, EntryEvent, LiveContext, LiveDef, LiveHook,
    LivePair, SweepReceipt, Verdict, BACKFILL_CHUNK, SWEEP_ROUND,
};
pub use load::OpenCost;
pub use options::{Access, Durability, Recovery, StoreOptions};
pub use profile::{
    Field, FieldHistory, Profile, ProfileChanges, ProfileEntry, TagKeyEntry, PROFILE_CACHE_ENTRIES,
};
pub use read::{CatalogEntry, Cursor, EventRecord, KeyStats, RecentPage, RecentQuery};
pub use remember::{Applied, Remember, RememberedRequest, FORGET_BATCH, MAX_REQUEST_KEY_BYTES};
pub use segments::SavedSegment;
pub use state::{MAX_DATA_KEYS, MAX_EVENT_TYPES};
pub use store::{now_millis, AppendOptions, AppendReceipt, Store, StoreStats};
pub use view::View;
