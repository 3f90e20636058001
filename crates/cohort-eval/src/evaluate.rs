//! The fast evaluator.
//!
//! 1. **Resolve.** Every `in_segment` the filters reach is checked and
//!    numbered, each segment once (`segments.rs`).
//! 2. **Plan.** Every condition becomes a planned condition: the event
//!    types it reads, its inclusive time bounds, its compiled predicate and
//!    its kind (`plan.rs`). The types and windows of all conditions decide
//!    which blocks are read: for each type, the week buckets of the union of
//!    its conditions' windows. Nothing else is read.
//! 3. **Scan.** Condition by condition: its blocks are split into one group
//!    of about equal rows per thread of the executor; each task fills its
//!    own flat accumulator, indexed by dense subject id; the tasks merge
//!    (addition, min/max, or — exact, so order does not matter) and the
//!    condition's members become a bitmap before the next condition starts
//!    (`conditions/`).
//! 4. **Combine.** `and`/`or`/`not` are bitmap operations over the universe
//!    (subjects with an event at or before `now`); a segment's tree is
//!    combined once and shared.
//!
//! Everything is read through one [`View`]: one instant of the store.

use cohort_filter::{Condition, Expr};
use cohort_store::{bucket_of, SubjectFacts, SubjectKind, View};
use roaring::RoaringBitmap;

use crate::conditions::{BlocksByType, Columns, Finish};
use crate::error::EvalError;
use crate::executor::Executor;
use crate::plan::plan;
use crate::segments::{resolve, Resolved, Segments};

/// How to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// The evaluation instant (Unix ms): events after it do not exist.
    pub now: i64,
    /// Users or devices.
    pub kind: SubjectKind,
    /// Where scans run. Every executor gives the same answer.
    pub executor: Executor,
}

impl EvalOptions {
    /// Users, at `now`, on the shared pool (a thread per core).
    pub fn at(now: i64) -> EvalOptions {
        EvalOptions {
            now,
            kind: SubjectKind::User,
            executor: Executor::shared(),
        }
    }
}

/// Evaluates one filter to the set of matching subjects' dense ids.
pub fn evaluate(
    view: &View<'_>,
    filter: &Expr,
    segments: &dyn Segments,
    options: &EvalOptions,
) -> Result<RoaringBitmap, EvalError> {
    let mut out = evaluate_many(view, std::slice::from_ref(filter), segments, options)?;
    Ok(out.pop().expect("one result per filter"))
}

/// Evaluates many filters of one kind in one pass over the blocks they
/// need; returns their results in order.
pub fn evaluate_many(
    view: &View<'_>,
    filters: &[Expr],
    segments: &dyn Segments,
    options: &EvalOptions,
) -> Result<Vec<RoaringBitmap>, EvalError> {
    let resolved = resolve(filters, segments)?;
    if options.kind == SubjectKind::Device {
        // Refused before any work (docs/filter-language.md).
        if let Some(what) = user_profile_in(filters, &resolved) {
            return Err(EvalError::UsersOnly(what));
        }
    }
    let plan = plan(view, filters, &resolved, options.now);
    let kind = options.kind;
    // Only the data columns some condition reads are decoded.
    let mut columns = Vec::new();
    plan.conditions.iter().for_each(|c| c.columns(&mut columns));
    columns.sort_unstable();
    columns.dedup();
    let mut blocks = Vec::new();
    for (type_id, lo, hi) in plan.ranges(view.type_ids()) {
        let buckets = bucket_of(lo)..=bucket_of(hi);
        blocks.extend(view.blocks_with_columns(kind, type_id, buckets, Some(&columns))?);
    }
    let blocks = BlocksByType::new(blocks);
    let mut fields = Vec::new();
    plan.conditions
        .iter()
        .for_each(|c| c.profile_fields(&mut fields));
    let profile = Columns::load(view, kind, &fields, options.now)?;
    let facts = view.facts(kind);
    let universe = universe(facts, options.now);
    let cx = Finish {
        universe: &universe,
        facts,
        now: options.now,
        profile: &profile,
    };
    let results: Vec<RoaringBitmap> = plan
        .conditions
        .iter()
        .map(|c| c.evaluate(&blocks, &cx, &options.executor))
        .collect();
    Ok(plan.combine(&results, &universe))
}

/// What, among `filters` and the segments they reach, tests what only
/// users have (`user.`, `age`, `birthday`): "the filter `…`" or "the
/// segment \"…\"", the first found; `None` when nothing does.
pub fn user_profile_in(filters: &[Expr], resolved: &Resolved) -> Option<String> {
    if let Some(f) = filters.iter().find(|f| uses_user_profile(f)) {
        return Some(format!("the filter `{f}`"));
    }
    resolved
        .segments
        .iter()
        .find(|(_, f)| uses_user_profile(f))
        .map(|(name, _)| format!("the segment {name:?}"))
}

/// Whether a filter tests what only users have: `user.`, `age`,
/// `birthday`.
pub fn uses_user_profile(expr: &Expr) -> bool {
    match expr {
        Expr::Or(items) | Expr::And(items) => items.iter().any(uses_user_profile),
        Expr::Not(inner) => uses_user_profile(inner),
        Expr::Cond(Condition::Birthday) => true,
        Expr::Cond(Condition::Profile(t)) => t.path().is_for_users(),
        Expr::Cond(_) => false,
    }
}

/// The universe at `now`: the subjects with an event, tag change or
/// attribute change at or before it, inserted run by run (in the usual
/// case, one range for all).
pub fn universe(facts: &[SubjectFacts], now: i64) -> RoaringBitmap {
    let mut out = RoaringBitmap::new();
    let mut run: Option<u32> = None;
    for (sid, f) in facts.iter().enumerate() {
        let inside = f.in_universe(now);
        match (inside, run) {
            (true, None) => run = Some(sid as u32),
            (false, Some(start)) => {
                out.insert_range(start..sid as u32);
                run = None;
            }
            _ => {}
        }
    }
    if let Some(start) = run {
        out.insert_range(start..facts.len() as u32);
    }
    out
}
