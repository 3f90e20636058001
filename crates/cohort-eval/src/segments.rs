//! Where `in_segment` finds the filters it names, and resolving the graph
//! of references before any work.
//!
//! A referenced segment is evaluated once per evaluation and its members
//! shared by every reference, never copied into the referring filter:
//! `s2 = in_segment("s1") or in_segment("s1")` costs one evaluation of
//! `s1`, and twenty such levels cost twenty, not a million. Resolution
//! checks, before anything is read, that every name exists, that no
//! segments refer to each other in a circle, that chains of references are
//! at most [`MAX_SEGMENT_DEPTH`] deep, and that a filter with every segment
//! it reaches holds at most [`MAX_CONDITIONS`] conditions (each segment
//! counted once). The work of resolving is bounded as it goes: at most
//! [`MAX_SEGMENTS`] segments are fetched and parsed for one evaluation, and
//! their regular expressions compile to at most [`MAX_RESOLVED_REGEX_BYTES`]
//! in all; past either, resolution stops with an error.

use std::collections::HashMap;

use cohort_filter::{parse, Condition, Expr, Predicate, Test};
use cohort_store::Store;

use crate::error::EvalError;

/// Longest chain of `in_segment` references (a segment that refers to
/// none has depth 1).
pub const MAX_SEGMENT_DEPTH: usize = 16;

/// Most conditions in one filter together with the segments it reaches.
pub const MAX_CONDITIONS: usize = 10_000;

/// Most distinct segments one evaluation reaches.
pub const MAX_SEGMENTS: usize = 1_000;

/// Most compiled bytes of the regular expressions of all the segments one
/// evaluation reaches (each segment's own are bounded by
/// [`cohort_filter::MAX_REGEX_BYTES`]).
pub const MAX_RESOLVED_REGEX_BYTES: usize = 4 * cohort_filter::MAX_REGEX_BYTES;

/// A source of named filters for `in_segment`.
pub trait Segments {
    /// The filter saved or batch-defined under `name`; `Ok(None)` if there
    /// is none.
    fn filter(&self, name: &str) -> Result<Option<Expr>, EvalError>;
}

/// No named segments at all.
pub struct NoSegments;

impl Segments for NoSegments {
    fn filter(&self, _: &str) -> Result<Option<Expr>, EvalError> {
        Ok(None)
    }
}

/// The segments saved in a store, plus (taking precedence) filters defined
/// in a batch.
pub struct StoreSegments<'a> {
    store: &'a Store,
    batch: HashMap<String, Expr>,
}

impl<'a> StoreSegments<'a> {
    /// The store's saved segments only.
    pub fn new(store: &'a Store) -> StoreSegments<'a> {
        StoreSegments {
            store,
            batch: HashMap::new(),
        }
    }

    /// Adds batch-defined segments, which shadow saved ones of the same name.
    pub fn with_batch(
        mut self,
        batch: impl IntoIterator<Item = (String, Expr)>,
    ) -> StoreSegments<'a> {
        self.batch.extend(batch);
        self
    }
}

impl Segments for StoreSegments<'_> {
    fn filter(&self, name: &str) -> Result<Option<Expr>, EvalError> {
        if let Some(e) = self.batch.get(name) {
            return Ok(Some(e.clone()));
        }
        match self.store.segment(name)? {
            Some(saved) => {
                parse(&saved.filter)
                    .map(Some)
                    .map_err(|error| EvalError::InvalidSegment {
                        name: name.to_owned(),
                        error,
                    })
            }
            None => Ok(None),
        }
    }
}

/// Filters with the segments they reach, checked and numbered.
pub struct Resolved {
    /// Every reached segment, each once, a segment after those it refers
    /// to: (name, filter).
    pub(crate) segments: Vec<(String, Expr)>,
    index: HashMap<String, usize>,
    /// Per root filter: the depth of its deepest chain of references.
    depths: Vec<usize>,
}

impl Resolved {
    /// The position of a reached segment in [`Resolved::segments`].
    pub(crate) fn position(&self, name: &str) -> usize {
        self.index[name]
    }

    /// The filter of a reached segment.
    pub(crate) fn filter(&self, name: &str) -> &Expr {
        &self.segments[self.index[name]].1
    }

    /// Whether the segment `name` is among those reached.
    pub fn reaches(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The longest chain of `in_segment` references from root `i`
    /// (0 when it refers to no segment).
    pub fn depth(&self, i: usize) -> usize {
        self.depths[i]
    }
}

/// Resolves every `in_segment` that `roots` reach (see the module docs).
pub fn resolve(roots: &[Expr], segments: &dyn Segments) -> Result<Resolved, EvalError> {
    let mut r = Resolver {
        segments,
        out: Resolved {
            segments: Vec::new(),
            index: HashMap::new(),
            depths: Vec::new(),
        },
        done: HashMap::new(),
        stack: Vec::new(),
        conditions: 0,
        regex_bytes: 0,
        condition_budget: MAX_CONDITIONS.saturating_mul(roots.len().max(1)),
    };
    for root in roots {
        let mut reached = Vec::new();
        let depth = r.refs(root, &mut reached)?;
        // Each reached segment counts once, whatever the paths to it.
        reached.sort_unstable();
        reached.dedup();
        let conditions = conditions(root)
            + reached
                .iter()
                .map(|&i| conditions(&r.out.segments[i].1))
                .sum::<usize>();
        if conditions > MAX_CONDITIONS {
            return Err(EvalError::TooManyConditions {
                found: conditions,
                limit: MAX_CONDITIONS,
            });
        }
        r.out.depths.push(depth);
    }
    Ok(r.out)
}

struct Resolver<'a> {
    segments: &'a dyn Segments,
    out: Resolved,
    /// Resolved segments: (depth, every segment it reaches).
    done: HashMap<String, (usize, Vec<usize>)>,
    stack: Vec<String>,
    /// Conditions and compiled regex bytes of every segment resolved so
    /// far, to stop early: no root may reach more than `MAX_CONDITIONS`,
    /// so all of them together no more than that times their number.
    conditions: usize,
    regex_bytes: usize,
    condition_budget: usize,
}

impl Resolver<'_> {
    /// The depth of the references under `expr`, adding every segment it
    /// reaches to `reached`.
    fn refs(&mut self, expr: &Expr, reached: &mut Vec<usize>) -> Result<usize, EvalError> {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || match expr {
            Expr::Or(items) | Expr::And(items) => {
                let mut depth = 0;
                for item in items {
                    depth = depth.max(self.refs(item, reached)?);
                }
                Ok(depth)
            }
            Expr::Not(inner) => self.refs(inner, reached),
            Expr::Cond(Condition::InSegment(name)) => self.segment(name, reached),
            Expr::Cond(_) => Ok(0),
        })
    }

    fn segment(&mut self, name: &str, reached: &mut Vec<usize>) -> Result<usize, EvalError> {
        if self.stack.iter().any(|s| s == name) {
            let mut cycle = self.stack.clone();
            cycle.push(name.to_owned());
            return Err(EvalError::SegmentCycle(cycle));
        }
        let (depth, below) = match self.done.get(name) {
            Some(done) => done.clone(),
            None => {
                if self.stack.len() >= MAX_SEGMENT_DEPTH {
                    let mut chain = self.stack.clone();
                    chain.push(name.to_owned());
                    return Err(EvalError::SegmentTooDeep {
                        chain,
                        limit: MAX_SEGMENT_DEPTH,
                    });
                }
                if self.out.segments.len() >= MAX_SEGMENTS {
                    return Err(EvalError::TooManySegments {
                        limit: MAX_SEGMENTS,
                    });
                }
                let filter = self
                    .segments
                    .filter(name)?
                    .ok_or_else(|| EvalError::UnknownSegment(name.to_owned()))?;
                self.conditions += conditions(&filter);
                if self.conditions > self.condition_budget {
                    return Err(EvalError::TooManyConditions {
                        found: self.conditions,
                        limit: MAX_CONDITIONS,
                    });
                }
                self.regex_bytes += regex_bytes(&filter);
                if self.regex_bytes > MAX_RESOLVED_REGEX_BYTES {
                    return Err(EvalError::RegexesTooLarge {
                        limit: MAX_RESOLVED_REGEX_BYTES,
                    });
                }
                self.stack.push(name.to_owned());
                let mut below = Vec::new();
                let inner = self.refs(&filter, &mut below);
                self.stack.pop();
                let depth = 1 + inner?;
                below.sort_unstable();
                below.dedup();
                self.out
                    .index
                    .insert(name.to_owned(), self.out.segments.len());
                below.push(self.out.segments.len());
                self.out.segments.push((name.to_owned(), filter));
                self.done.insert(name.to_owned(), (depth, below.clone()));
                (depth, below)
            }
        };
        if self.stack.len() + depth > MAX_SEGMENT_DEPTH {
            let mut chain = self.stack.clone();
            chain.push(name.to_owned());
            chain.push(format!("… ({depth} deep)"));
            return Err(EvalError::SegmentTooDeep {
                chain,
                limit: MAX_SEGMENT_DEPTH,
            });
        }
        reached.extend(below);
        Ok(depth)
    }
}

/// Compiled bytes of the regular expressions in a filter.
fn regex_bytes(expr: &Expr) -> usize {
    fn pred(p: &Predicate) -> usize {
        match p {
            Predicate::Or(items) | Predicate::And(items) => items.iter().map(pred).sum(),
            Predicate::Not(inner) => pred(inner),
            Predicate::Test(Test::Matches { pattern, .. }) => pattern.compiled_bytes(),
            Predicate::Test(_) => 0,
        }
    }
    let selections = |c: &Condition| -> usize {
        let preds = match c {
            Condition::Did { selection, .. } | Condition::Moment { selection, .. } => {
                vec![selection]
            }
            Condition::Measure { measure, .. } => match measure {
                cohort_filter::Measure::Count { selection, .. }
                | cohort_filter::Measure::Days { selection, .. }
                | cohort_filter::Measure::Aggregate { selection, .. } => vec![selection],
            },
            Condition::Seq { steps, .. } => steps.iter().collect(),
            Condition::InSegment(_) | Condition::Profile(_) | Condition::Birthday => Vec::new(),
        };
        preds
            .into_iter()
            .filter_map(|s| s.predicate.as_ref())
            .map(pred)
            .sum()
    };
    match expr {
        Expr::Or(items) | Expr::And(items) => items.iter().map(regex_bytes).sum(),
        Expr::Not(inner) => regex_bytes(inner),
        Expr::Cond(Condition::Profile(Test::Matches { pattern, .. })) => pattern.compiled_bytes(),
        Expr::Cond(c) => selections(c),
    }
}

/// Conditions in a filter, not counting `in_segment` references.
fn conditions(expr: &Expr) -> usize {
    match expr {
        Expr::Or(items) | Expr::And(items) => items.iter().map(conditions).sum(),
        Expr::Not(inner) => conditions(inner),
        Expr::Cond(Condition::InSegment(_)) => 0,
        Expr::Cond(_) => 1,
    }
}
