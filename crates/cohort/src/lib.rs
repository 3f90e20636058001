//! cohort: a segment-evaluation engine over an embedded event store.
//!
//! This is the crate services embed. It re-exports the store
//! ([`Store`], read [`View`]s, the event model, catalog and recent events),
//! and adds the application layer every front end calls ([`app`]: track,
//! save and delete segments, evaluate, parse times), bulk ingestion of
//! NDJSON and track-request files ([`ingest`]) and the synthetic data
//! generator ([`generate`]).
//!
//! ```
//! use cohort::{ingest, RecentQuery, Store, StoreOptions};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
//! let ndjson = concat!(
//!     r#"{"subjectType":"user","subjectId":"u1","type":"purchase","createdAt":"2026-05-20T10:00:00Z","data":{"amount":12000}}"#, "\n",
//!     r#"{"subjectType":"user","subjectId":"","type":"purchase"}"#, "\n",
//! );
//! let mut rejects = Vec::new();
//! let report = ingest::ingest_reader(
//!     &store,
//!     "inline",
//!     ndjson.as_bytes(),
//!     &ingest::IngestOptions::default(),
//!     &mut ingest::Observer { on_reject: &mut |r| rejects.push(r), on_progress: &mut |_| {} },
//! )
//! .unwrap();
//! assert_eq!((report.stored, report.rejected), (1, 1));
//! assert_eq!(rejects[0].to_string(), "inline:2: subjectId: must not be empty");
//! ```

pub mod app;
pub mod generate;
pub mod ingest;

/// The segment filter language: parse, print, errors with carets.
pub use cohort_filter as filter;

/// The evaluator: filters to roaring bitmaps, and the reference evaluator.
pub use cohort_eval as eval;

/// Personalisation: Liquid templates over a subject's data, bounded.
pub use cohort_liquid as liquid;

pub use cohort_event::{
    data_path, format_millis, parse_event, parse_line, parse_rfc3339, parse_track_request,
    tag_path, Attribute, AttributeChange, Event, FieldError, Group, InvalidItem, Line, LineError,
    RequestError, Source, SubjectKind, TagChange, TimeValue, TrackRequest, Value, ValueKind,
    AUTOMATIC_EVENT_TYPES,
};
pub use cohort_store::{
    now_millis, Access, AppendOptions, AppendReceipt, CatalogEntry, Cause, Change, Cursor,
    DeleteReceipt, Durability, EventRecord, KeyStats, LoadMark, Profile, ProfileChanges,
    ProfileEntry, RecentPage, RecentQuery, Recovery, SavedSegment, Store, StoreError, StoreOptions,
    StoreStats, SubjectFacts, TagKeyEntry, View,
};
