//! The evaluator's error type.

use cohort_filter::ParseError;
use cohort_store::StoreError;

/// Why a filter could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// `in_segment` names a segment that is neither saved nor in the batch.
    #[error(
        "unknown segment \"{0}\": save it first (cohort segment save) or define it in the batch"
    )]
    UnknownSegment(String),
    /// Segments refer to each other in a circle.
    #[error("segments refer to each other in a cycle: {}", .0.join(" -> "))]
    SegmentCycle(Vec<String>),
    /// A saved segment's filter no longer parses.
    #[error("the saved segment \"{name}\" does not parse:\n{error}")]
    InvalidSegment {
        /// The segment's name.
        name: String,
        /// The parse error.
        error: ParseError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
