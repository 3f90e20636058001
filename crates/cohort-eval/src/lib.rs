//! cohort's segment evaluator: a filter in, a `RoaringBitmap` of dense
//! subject ids out.
//!
//! Two evaluators answer the same question:
//!
//! - [`evaluate`] / [`evaluate_many`], the fast one: plans which columnar
//!   blocks the filter needs (its event types and windows), scans only
//!   those on an [`Executor`], and combines per-condition bitmaps;
//! - [`reference::evaluate`], plain code that decides one subject from its
//!   events, straight from the spec: the oracle for tests and the engine
//!   of `explain`.
//!
//! Both read one [`cohort_store::View`]: a consistent instant of the store.
//!
//! ```
//! use cohort_eval::{evaluate, EvalOptions, NoSegments};
//! use cohort_store::{Source, Store, StoreOptions};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
//! store.track(br#"{"events":[
//!   {"subjectType":"user","subjectId":"a","type":"purchase","createdAt":"2026-05-20T10:00:00Z","data":{"amount":12000}},
//!   {"subjectType":"user","subjectId":"a","type":"purchase","createdAt":"2026-05-25T10:00:00Z","data":{"amount":3000}},
//!   {"subjectType":"user","subjectId":"b","type":"purchase","createdAt":"2026-05-31T09:00:00Z","data":{"amount":"12000"}}
//! ]}"#, Source::Client).unwrap();
//!
//! let filter = cohort_filter::parse("count(purchase, last 30d) >= 2").unwrap();
//! let now = cohort_store::parse_rfc3339("2026-06-01T00:00:00Z").unwrap().millis;
//! let view = store.view();
//! let members = evaluate(&view, &filter, &NoSegments, &EvalOptions::at(now)).unwrap();
//! let a = view.subject_dense_id(cohort_store::SubjectKind::User, "a").unwrap();
//! assert_eq!(members.iter().collect::<Vec<_>>(), [a]);
//! ```

mod clock;
mod compile;
mod conditions;
mod error;
mod evaluate;
mod exact;
mod executor;
mod live;
mod needs;
mod plan;
mod profile;
pub mod reference;
mod segments;
mod window;

pub use error::EvalError;
pub use evaluate::{
    evaluate, evaluate_many, universe, user_profile_in, uses_user_profile, EvalOptions,
};
pub use exact::{exact_mean, exact_sum};
pub use executor::Executor;
pub use live::LiveEngine;
pub use segments::{
    resolve, NoSegments, Resolved, Segments, StoreSegments, MAX_CONDITIONS,
    MAX_RESOLVED_REGEX_BYTES, MAX_SEGMENTS, MAX_SEGMENT_DEPTH,
};
pub use window::{bounds, utc_day};
