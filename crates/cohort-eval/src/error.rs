//! The evaluator's error type.

use cohort_filter::ParseError;
use cohort_store::StoreError;

/// Why a filter could not be evaluated. Callers tell cases apart by variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// `in_segment` names a segment that is neither saved nor in the batch.
    #[error(
        "unknown segment \"{0}\": save it first (cohort segment save) or define it in the batch"
    )]
    UnknownSegment(String),
    /// Segments refer to each other in a circle.
    #[error("segments refer to each other in a cycle: {}", .0.join(" -> "))]
    SegmentCycle(Vec<String>),
    /// A chain of `in_segment` references is longer than the limit.
    #[error("segments refer to each other more than {limit} deep: {}", .chain.join(" -> "))]
    SegmentTooDeep {
        /// The chain, outermost first.
        chain: Vec<String>,
        /// The limit.
        limit: usize,
    },
    /// A filter with the segments it reaches holds too many conditions.
    #[error(
        "the filter, with the segments it refers to, has {found} conditions; the limit is {limit}"
    )]
    TooManyConditions {
        /// Conditions counted (each segment once).
        found: usize,
        /// The limit.
        limit: usize,
    },
    /// One evaluation reaches too many distinct segments.
    #[error("the filter reaches more than {limit} distinct segments")]
    TooManySegments {
        /// The limit.
        limit: usize,
    },
    /// The regular expressions of the segments one evaluation reaches
    /// compile to more than the limit.
    #[error("the regular expressions of the segments this filter reaches compile to more than {} MiB", .limit >> 20)]
    RegexesTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A saved segment's filter no longer parses.
    #[error("the saved segment \"{name}\" does not parse:\n{error}")]
    InvalidSegment {
        /// The segment's name.
        name: String,
        /// The parse error.
        error: ParseError,
    },
    /// A filter (or a segment it reaches) tests `user.` attributes, `age`
    /// or `birthday`, and is evaluated for devices.
    #[error("`user.`, `age` and `birthday` describe users; {0} is evaluated for devices")]
    UsersOnly(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
