//! Where `in_segment` finds the filters it names, and inlining them.

use std::collections::HashMap;

use cohort_filter::{parse, Condition, Expr};
use cohort_store::Store;

use crate::error::EvalError;

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

/// Replaces every `in_segment("x")` with x's filter, recursively: a
/// segment evaluated at the same `now` for the same kind is exactly its
/// filter. Unknown names and cycles are errors.
pub fn inline(expr: &Expr, segments: &dyn Segments) -> Result<Expr, EvalError> {
    inline_with(expr, segments, &mut Vec::new())
}

fn inline_with(
    expr: &Expr,
    segments: &dyn Segments,
    stack: &mut Vec<String>,
) -> Result<Expr, EvalError> {
    Ok(match expr {
        Expr::Or(items) => Expr::Or(
            items
                .iter()
                .map(|e| inline_with(e, segments, stack))
                .collect::<Result<_, _>>()?,
        ),
        Expr::And(items) => Expr::And(
            items
                .iter()
                .map(|e| inline_with(e, segments, stack))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Not(inner) => Expr::Not(Box::new(inline_with(inner, segments, stack)?)),
        Expr::Cond(Condition::InSegment(name)) => {
            if stack.contains(name) {
                let mut cycle = stack.clone();
                cycle.push(name.clone());
                return Err(EvalError::SegmentCycle(cycle));
            }
            let filter = segments
                .filter(name)?
                .ok_or_else(|| EvalError::UnknownSegment(name.clone()))?;
            stack.push(name.clone());
            let inlined = inline_with(&filter, segments, stack);
            stack.pop();
            inlined?
        }
        Expr::Cond(c) => Expr::Cond(c.clone()),
    })
}
