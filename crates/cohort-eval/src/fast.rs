//! The fast evaluator.
//!
//! 1. **Plan.** Segments are inlined; every condition becomes a [`Spec`]:
//!    the event types it reads, its inclusive time bounds, its compiled
//!    predicate and what it accumulates. The types and windows of all
//!    conditions (of one filter, or of a whole batch) decide which blocks
//!    are read: for each type, the week buckets of the union of its
//!    conditions' windows. Nothing else is read.
//! 2. **Scan.** The blocks (decoded columns, shared from the store's cache)
//!    are split into one group of about equal rows per thread; each task
//!    owns flat accumulators indexed by dense subject id and runs the
//!    conditions one after the other over its blocks' columns: a predicate
//!    first becomes one bool per row (per distinct value on dictionary
//!    columns), then a tight loop adds the selected rows in the window.
//!    Tasks merge by addition/min/max/or — no locks.
//! 3. **Combine.** Each condition's accumulator becomes a `RoaringBitmap`
//!    over the universe (subjects with an event at or before `now`, from
//!    the per-subject facts, inserted as ranges), selected from the flat
//!    arrays — by complement when subjects without events satisfy the
//!    condition; `and`/`or`/`not` are bitmap operations.

use std::collections::HashMap;
use std::sync::Arc;

use cohort_filter::{Aggregate, Cmp, Condition, EventSel, Expr, Measure, Selection, Which};
use cohort_store::{bucket_of, Block, Column, Store, SubjectFacts, SubjectKind, BUCKET_MILLIS};
use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::compile::{compile, Pred};
use crate::error::EvalError;
use crate::segments::{inline, Segments};
use crate::window::{bounds, utc_day};

/// How to evaluate.
#[derive(Debug, Clone, Copy)]
pub struct EvalOptions {
    /// The evaluation instant (Unix ms): events after it do not exist.
    pub now: i64,
    /// Users or devices.
    pub kind: SubjectKind,
    /// Scan with rayon on all threads (`true`, the default) or on the
    /// calling thread only. Both give the same answer.
    pub parallel: bool,
}

impl EvalOptions {
    /// Users, at `now`, in parallel.
    pub fn at(now: i64) -> EvalOptions {
        EvalOptions {
            now,
            kind: SubjectKind::User,
            parallel: true,
        }
    }
}

/// Evaluates one filter to the set of matching subjects' dense ids.
pub fn evaluate(
    store: &Store,
    filter: &Expr,
    segments: &dyn Segments,
    options: &EvalOptions,
) -> Result<RoaringBitmap, EvalError> {
    let mut out = evaluate_many(store, std::slice::from_ref(filter), segments, options)?;
    Ok(out.pop().expect("one result per filter"))
}

/// Evaluates many filters of one kind in one pass over the blocks they
/// need; returns their results in order.
pub fn evaluate_many(
    store: &Store,
    filters: &[Expr],
    segments: &dyn Segments,
    options: &EvalOptions,
) -> Result<Vec<RoaringBitmap>, EvalError> {
    let mut plan = Plan {
        specs: Vec::new(),
        store,
        now: options.now,
    };
    let trees = filters
        .iter()
        .map(|f| Ok(plan.node(&inline(f, segments)?)))
        .collect::<Result<Vec<Node>, EvalError>>()?;
    let facts = store.facts(options.kind);
    let blocks = plan.read_blocks(options.kind)?;
    let accs = plan.scan(&blocks, facts.len(), options.parallel)?;
    let universe = universe(&facts, options.now);
    let results: Vec<RoaringBitmap> = plan
        .specs
        .iter()
        .zip(accs)
        .map(|(spec, acc)| spec.result(acc, &universe, &facts, options.now))
        .collect();
    Ok(trees
        .iter()
        .map(|t| t.combine(&results, &universe))
        .collect())
}

/// The subjects with an event at or before `now`, inserted run by run (in
/// the usual case, one range for all).
fn universe(facts: &[SubjectFacts], now: i64) -> RoaringBitmap {
    let mut out = RoaringBitmap::new();
    let mut run: Option<u32> = None;
    for (sid, f) in facts.iter().enumerate() {
        let inside = f.count > 0 && f.first_seen <= now;
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

/// The subjects of the universe for which `f` holds. `zero_holds` says
/// whether a subject without matching events satisfies the condition
/// (`count(x) < 2`): then the answer is the universe minus the few that
/// fail, rather than a long list of those that pass.
fn select(
    n: usize,
    universe: &RoaringBitmap,
    zero_holds: bool,
    f: impl Fn(usize) -> bool,
) -> RoaringBitmap {
    // A flat bitset first, then one bulk conversion: inserting ids one by
    // one into the roaring bitmap was a fifth of a whole evaluation.
    let mut bytes = vec![0u8; n.div_ceil(8)];
    for (i, byte) in bytes.iter_mut().enumerate() {
        let base = i * 8;
        for bit in 0..8.min(n - base) {
            if f(base + bit) != zero_holds {
                *byte |= 1 << bit;
            }
        }
    }
    let ids = RoaringBitmap::from_lsb0_bytes(0, &bytes);
    if zero_holds {
        universe - ids
    } else {
        ids & universe
    }
}

/// The shape of a filter, with conditions replaced by their spec index.
enum Node {
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
    Cond(usize),
}

impl Node {
    fn combine(&self, results: &[RoaringBitmap], universe: &RoaringBitmap) -> RoaringBitmap {
        match self {
            Node::Or(items) => items.iter().fold(RoaringBitmap::new(), |acc, n| {
                acc | n.combine(results, universe)
            }),
            Node::And(items) => {
                let mut it = items.iter();
                let first = it
                    .next()
                    .map(|n| n.combine(results, universe))
                    .unwrap_or_default();
                it.fold(first, |acc, n| acc & n.combine(results, universe))
            }
            Node::Not(inner) => universe - inner.combine(results, universe),
            Node::Cond(i) => &results[*i] & universe,
        }
    }
}

/// Which event types a selection reads: any, or a list of ids (empty when
/// the store has never seen the type).
#[derive(Clone)]
enum Types {
    Any,
    Ids(Vec<u32>),
}

/// One step's (or one selection's) test.
struct Step {
    types: Types,
    pred: Option<Pred>,
}

impl Step {
    fn matches_type(&self, type_id: u32) -> bool {
        match &self.types {
            Types::Any => true,
            Types::Ids(ids) => ids.contains(&type_id),
        }
    }
}

enum What {
    Count,
    Days,
    Agg(Aggregate, Option<u32>),
    Moment(Which),
    /// `first(*)` with no window or predicate: the facts answer it.
    FirstSeen,
    Seq(Vec<Step>, Option<i64>),
}

/// A condition, planned.
struct Spec {
    step: Step,
    lo: i64,
    hi: i64,
    what: What,
    cmp: Cmp,
    /// The compared number, or the compared instant as f64 for moments.
    value: f64,
    /// `did` is `count > 0`; kept apart for readability of results.
    did: bool,
}

struct Plan<'s> {
    specs: Vec<Spec>,
    store: &'s Store,
    now: i64,
}

impl Plan<'_> {
    fn node(&mut self, e: &Expr) -> Node {
        match e {
            Expr::Or(items) => Node::Or(items.iter().map(|i| self.node(i)).collect()),
            Expr::And(items) => Node::And(items.iter().map(|i| self.node(i)).collect()),
            Expr::Not(inner) => Node::Not(Box::new(self.node(inner))),
            Expr::Cond(c) => {
                let spec = self.spec(c);
                self.specs.push(spec);
                Node::Cond(self.specs.len() - 1)
            }
        }
    }

    fn step(&self, s: &Selection) -> Step {
        let types = match &s.event {
            EventSel::Any => Types::Any,
            EventSel::Named(n) => Types::Ids(self.store.type_id(n).into_iter().collect()),
        };
        Step {
            types,
            pred: s
                .predicate
                .as_ref()
                .map(|p| compile(p, self.store, self.now)),
        }
    }

    fn spec(&self, c: &Condition) -> Spec {
        let now = self.now;
        let make = |step, window: &Option<cohort_filter::Window>, what, cmp, value, did| {
            let (lo, hi) = bounds(window.as_ref(), now);
            Spec {
                step,
                lo,
                hi,
                what,
                cmp,
                value,
                did,
            }
        };
        match c {
            Condition::Did { selection, window } => make(
                self.step(selection),
                window,
                What::Count,
                Cmp::Gt,
                0.0,
                true,
            ),
            Condition::Measure {
                measure,
                cmp,
                value,
            } => match measure {
                Measure::Count { selection, window } => make(
                    self.step(selection),
                    window,
                    What::Count,
                    *cmp,
                    *value,
                    false,
                ),
                Measure::Days { selection, window } => make(
                    self.step(selection),
                    window,
                    What::Days,
                    *cmp,
                    *value,
                    false,
                ),
                Measure::Aggregate {
                    func,
                    selection,
                    path,
                    window,
                } => {
                    let key = self.store.key_id(&path.key);
                    make(
                        self.step(selection),
                        window,
                        What::Agg(*func, key),
                        *cmp,
                        *value,
                        false,
                    )
                }
            },
            Condition::Moment {
                which,
                selection,
                window,
                cmp,
                value,
            } => {
                let target = value.resolve(now) as f64;
                if *which == Which::First
                    && selection.event == EventSel::Any
                    && selection.predicate.is_none()
                    && window.is_none()
                {
                    return make(
                        Step {
                            types: Types::Ids(Vec::new()),
                            pred: None,
                        },
                        window,
                        What::FirstSeen,
                        *cmp,
                        target,
                        false,
                    );
                }
                make(
                    self.step(selection),
                    window,
                    What::Moment(*which),
                    *cmp,
                    target,
                    false,
                )
            }
            Condition::Seq {
                steps,
                within,
                window,
            } => {
                let steps: Vec<Step> = steps.iter().map(|s| self.step(s)).collect();
                let types = if steps.iter().any(|s| matches!(s.types, Types::Any)) {
                    Types::Any
                } else {
                    let mut ids: Vec<u32> = steps
                        .iter()
                        .flat_map(|s| match &s.types {
                            Types::Ids(ids) => ids.clone(),
                            Types::Any => Vec::new(),
                        })
                        .collect();
                    ids.sort_unstable();
                    ids.dedup();
                    Types::Ids(ids)
                };
                let scan = Step { types, pred: None };
                make(
                    scan,
                    window,
                    What::Seq(steps, within.map(|d| d.millis())),
                    Cmp::Eq,
                    0.0,
                    false,
                )
            }
            Condition::InSegment(_) => unreachable!("segments are inlined before planning"),
        }
    }

    /// Reads the blocks the specs need: per type, the buckets of the union
    /// of its conditions' windows.
    fn read_blocks(&self, kind: SubjectKind) -> Result<Vec<Arc<Block>>, EvalError> {
        let mut ranges: HashMap<u32, (i64, i64)> = HashMap::new();
        let all_types = self.store.type_ids();
        for spec in self.specs.iter().filter(|s| s.lo <= s.hi) {
            let ids = match &spec.step.types {
                Types::Any => all_types.clone(),
                Types::Ids(ids) => ids.clone(),
            };
            for id in ids {
                let r = ranges.entry(id).or_insert((spec.lo, spec.hi));
                r.0 = r.0.min(spec.lo);
                r.1 = r.1.max(spec.hi);
            }
        }
        let mut ranges: Vec<_> = ranges.into_iter().collect();
        ranges.sort_unstable();
        let mut blocks = Vec::new();
        for (type_id, (lo, hi)) in ranges {
            blocks.extend(
                self.store
                    .blocks(kind, type_id, bucket_of(lo)..=bucket_of(hi))?,
            );
        }
        Ok(blocks)
    }

    fn scan(
        &self,
        blocks: &[Arc<Block>],
        subjects: usize,
        parallel: bool,
    ) -> Result<Vec<Acc>, EvalError> {
        let run = |group: &[Arc<Block>]| -> Vec<Acc> {
            // Condition by condition, so that one condition's accumulator
            // stays in cache while it is filled (a batch has many).
            self.specs
                .iter()
                .map(|spec| {
                    let mut acc = Acc::new(spec, subjects);
                    for block in group {
                        scan_block(spec, block, &mut acc);
                    }
                    acc
                })
                .collect::<Vec<Acc>>()
        };
        let threads = if parallel {
            rayon::current_num_threads().max(1)
        } else {
            1
        };
        if threads == 1 || blocks.len() < 2 {
            return Ok(run(blocks));
        }
        // One group of about equal rows per thread: every group costs a
        // set of per-subject accumulators, so no more groups than threads.
        let total: usize = blocks.iter().map(|b| b.len()).sum();
        let per = total.div_ceil(threads).max(1);
        let mut groups: Vec<&[Arc<Block>]> = Vec::with_capacity(threads);
        let (mut start, mut rows) = (0, 0);
        for (i, b) in blocks.iter().enumerate() {
            rows += b.len();
            if rows >= per && groups.len() + 1 < threads {
                groups.push(&blocks[start..=i]);
                start = i + 1;
                rows = 0;
            }
        }
        if start < blocks.len() {
            groups.push(&blocks[start..]);
        }
        let mut parts: Vec<Vec<Acc>> = groups.into_par_iter().map(run).collect();
        let mut first = parts.swap_remove(0);
        for part in parts {
            for (x, y) in first.iter_mut().zip(part) {
                x.merge(y);
            }
        }
        Ok(first)
    }
}

/// Adds one block's matching rows into one condition's accumulator.
fn scan_block(spec: &Spec, block: &Block, acc: &mut Acc) {
    let (times, subjects) = (block.times(), block.subjects());
    let first = block.bucket.saturating_mul(BUCKET_MILLIS);
    let last = first.saturating_add(BUCKET_MILLIS - 1);
    if spec.lo > spec.hi
        || last < spec.lo
        || first > spec.hi
        || !spec.step.matches_type(block.type_id)
    {
        return;
    }
    // Whole-bucket blocks need no per-row window test.
    let whole = first >= spec.lo && last <= spec.hi;
    let (lo, hi) = (spec.lo, spec.hi);
    let in_window = |row: usize| whole || (lo..=hi).contains(&times[row]);
    if let What::Seq(steps, _) = &spec.what {
        let masks: Vec<Option<Vec<bool>>> = steps
            .iter()
            .map(|s| {
                s.matches_type(block.type_id)
                    .then(|| s.pred.as_ref().map(|p| p.eval_block(block)))
                    .map(|m| m.unwrap_or_else(|| vec![true; block.len()]))
            })
            .collect();
        let Acc::Seq(out) = acc else {
            unreachable!("a seq condition has a seq accumulator")
        };
        for row in (0..block.len()).filter(|&r| in_window(r)) {
            let mask = masks.iter().enumerate().fold(0u64, |m, (j, step)| {
                m | (u64::from(step.as_ref().is_some_and(|s| s[row])) << j)
            });
            if mask != 0 {
                out.push((subjects[row], times[row], mask));
            }
        }
        return;
    }
    let selected = spec.step.pred.as_ref().map(|p| p.eval_block(block));
    let rows = (0..block.len()).filter(|&r| in_window(r) && selected.as_ref().is_none_or(|s| s[r]));
    match acc {
        Acc::Count(c) => rows.for_each(|r| c[subjects[r] as usize] += 1),
        Acc::DayBits { first_day, bits } => rows.for_each(|r| {
            let day = utc_day(times[r]) - *first_day;
            bits[subjects[r] as usize] |= 1u64 << day;
        }),
        Acc::DayPairs(pairs) => rows.for_each(|r| pairs.push((subjects[r], utc_day(times[r])))),
        Acc::Agg { func, sum, n } => {
            let What::Agg(_, Some(key)) = spec.what else {
                return;
            };
            let numbers = numbers(block, key);
            for r in rows {
                let x = numbers[r];
                if x.is_nan() {
                    continue;
                }
                let s = subjects[r] as usize;
                match func {
                    Aggregate::Sum | Aggregate::Avg => sum[s] += x,
                    Aggregate::Min => sum[s] = sum[s].min(x),
                    Aggregate::Max => sum[s] = sum[s].max(x),
                }
                if let Some(n) = n {
                    n[s] += 1;
                }
            }
        }
        Acc::Min(v) => rows.for_each(|r| {
            let s = subjects[r] as usize;
            v[s] = v[s].min(times[r]);
        }),
        Acc::Max(v) => rows.for_each(|r| {
            let s = subjects[r] as usize;
            v[s] = v[s].max(times[r]);
        }),
        Acc::Seq(_) | Acc::None => {}
    }
}

/// Each row's value of a data key as a number, NaN where it has none.
fn numbers(block: &Block, key: u32) -> std::borrow::Cow<'_, [f64]> {
    match block.column(key) {
        Some(Column::Numbers(xs)) => std::borrow::Cow::Borrowed(xs),
        Some(dict) => std::borrow::Cow::Owned(dict.per_row(f64::NAN, |v| match v {
            cohort_store::Value::Number(x) => *x,
            _ => f64::NAN,
        })),
        None => std::borrow::Cow::Owned(vec![f64::NAN; block.len()]),
    }
}

impl Spec {
    fn result(
        &self,
        acc: Acc,
        universe: &RoaringBitmap,
        facts: &[SubjectFacts],
        now: i64,
    ) -> RoaringBitmap {
        let holds = |x: f64| {
            x.partial_cmp(&self.value)
                .is_some_and(|o| self.cmp.holds(o))
        };
        let n = facts.len();
        let zero = holds(0.0);
        match (&self.what, acc) {
            (What::Count, Acc::Count(c)) if self.did => select(n, universe, false, |s| c[s] > 0),
            (What::Count, Acc::Count(c)) => select(n, universe, zero, |s| holds(f64::from(c[s]))),
            (What::Days, Acc::DayBits { bits, .. }) => select(n, universe, zero, |s| {
                holds(f64::from(bits[s].count_ones()))
            }),
            (What::Days, Acc::DayPairs(mut pairs)) => {
                pairs.sort_unstable();
                pairs.dedup();
                let mut days = vec![0u32; n];
                for (sid, _) in pairs {
                    days[sid as usize] += 1;
                }
                select(n, universe, zero, |s| holds(f64::from(days[s])))
            }
            (
                What::Agg(..),
                Acc::Agg {
                    func,
                    sum,
                    n: counts,
                },
            ) => match func {
                Aggregate::Sum => select(n, universe, zero, |s| holds(sum[s])),
                Aggregate::Avg => select(n, universe, false, |s| {
                    let k = counts.as_ref().map_or(0, |c| c[s]);
                    k > 0 && holds(sum[s] / f64::from(k))
                }),
                // ±∞ is "no value": data numbers are finite.
                Aggregate::Min | Aggregate::Max => {
                    select(n, universe, false, |s| sum[s].is_finite() && holds(sum[s]))
                }
            },
            (What::Moment(Which::First), Acc::Min(t)) => select(n, universe, false, |s| {
                t[s] != i64::MAX && holds(t[s] as f64)
            }),
            (What::Moment(Which::Last), Acc::Max(t)) => select(n, universe, false, |s| {
                t[s] != i64::MIN && holds(t[s] as f64)
            }),
            (What::FirstSeen, _) => select(n, universe, false, |s| {
                facts[s].count > 0
                    && facts[s].first_seen <= now
                    && holds(facts[s].first_seen as f64)
            }),
            (What::Seq(steps, within), Acc::Seq(rows)) => {
                let mut out = RoaringBitmap::new();
                for group in by_subject(rows, facts.len()).chunk_by(|a, b| a.0 == b.0) {
                    if seq_holds(group, steps.len(), *within) {
                        out.insert(group[0].0);
                    }
                }
                out
            }
            _ => unreachable!("an accumulator always matches its condition"),
        }
    }
}

/// Rows grouped by subject (a counting sort on the dense id), each
/// subject's rows in time order.
fn by_subject(rows: Vec<(u32, i64, u64)>, subjects: usize) -> Vec<(u32, i64, u64)> {
    let mut start = vec![0u32; subjects + 1];
    for r in &rows {
        start[r.0 as usize + 1] += 1;
    }
    for i in 0..subjects {
        start[i + 1] += start[i];
    }
    let mut out = vec![(0u32, 0i64, 0u64); rows.len()];
    let mut at = start.clone();
    for r in rows {
        let slot = &mut at[r.0 as usize];
        out[*slot as usize] = r;
        *slot += 1;
    }
    for w in start.windows(2) {
        out[w[0] as usize..w[1] as usize].sort_unstable_by_key(|r| (r.1, r.2));
    }
    out
}

/// One subject's rows (time order) against the steps: for each candidate
/// first event, take the earliest strictly later event for every next
/// step (optimal, as in the reference evaluator).
fn seq_holds(rows: &[(u32, i64, u64)], steps: usize, within: Option<i64>) -> bool {
    for (i, &(_, start, mask)) in rows.iter().enumerate() {
        if mask & 1 == 0 {
            continue;
        }
        let mut at = start;
        let mut j = i;
        let mut ok = true;
        for step in 1..steps {
            match rows[j..]
                .iter()
                .position(|r| r.1 > at && r.2 & (1 << step) != 0)
            {
                Some(p) => {
                    j += p;
                    at = rows[j].1;
                }
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            // No later start can succeed where this one found no next step.
            return false;
        }
        if within.is_none_or(|d| at - start <= d) {
            return true;
        }
    }
    false
}

/// A condition's per-task accumulator, indexed by dense subject id.
enum Acc {
    Count(Vec<u32>),
    /// `days` over a window of at most 64 UTC days: one bit per day.
    DayBits {
        first_day: i64,
        bits: Vec<u64>,
    },
    /// `days` over a longer window: (subject, day) pairs.
    DayPairs(Vec<(u32, i64)>),
    /// `sum`/`avg` add into `sum` (`avg` also counts in `n`); `min`/`max`
    /// keep the extreme in `sum`, starting from ±∞.
    Agg {
        func: Aggregate,
        sum: Vec<f64>,
        n: Option<Vec<u32>>,
    },
    Min(Vec<i64>),
    Max(Vec<i64>),
    Seq(Vec<(u32, i64, u64)>),
    None,
}

impl Acc {
    fn new(spec: &Spec, subjects: usize) -> Acc {
        match &spec.what {
            What::Count => Acc::Count(vec![0; subjects]),
            What::Days => {
                let (first, last) = (utc_day(spec.lo), utc_day(spec.hi));
                if spec.lo <= spec.hi && last - first < 64 {
                    Acc::DayBits {
                        first_day: first,
                        bits: vec![0; subjects],
                    }
                } else {
                    Acc::DayPairs(Vec::new())
                }
            }
            What::Agg(func, _) => Acc::Agg {
                func: *func,
                sum: vec![
                    match func {
                        Aggregate::Sum | Aggregate::Avg => 0.0,
                        Aggregate::Min => f64::INFINITY,
                        Aggregate::Max => f64::NEG_INFINITY,
                    };
                    subjects
                ],
                n: (*func == Aggregate::Avg).then(|| vec![0; subjects]),
            },
            What::Moment(Which::First) => Acc::Min(vec![i64::MAX; subjects]),
            What::Moment(Which::Last) => Acc::Max(vec![i64::MIN; subjects]),
            What::FirstSeen => Acc::None,
            What::Seq(..) => Acc::Seq(Vec::new()),
        }
    }

    fn merge(&mut self, other: Acc) {
        match (self, other) {
            (Acc::Count(a), Acc::Count(b)) => a.iter_mut().zip(b).for_each(|(x, y)| *x += y),
            (Acc::DayBits { bits: a, .. }, Acc::DayBits { bits: b, .. }) => {
                a.iter_mut().zip(b).for_each(|(x, y)| *x |= y)
            }
            (Acc::DayPairs(a), Acc::DayPairs(b)) => a.extend(b),
            (Acc::Agg { func, sum, n }, Acc::Agg { sum: s2, n: n2, .. }) => {
                match func {
                    Aggregate::Sum | Aggregate::Avg => {
                        sum.iter_mut().zip(s2).for_each(|(x, y)| *x += y)
                    }
                    Aggregate::Min => sum.iter_mut().zip(s2).for_each(|(x, y)| *x = x.min(y)),
                    Aggregate::Max => sum.iter_mut().zip(s2).for_each(|(x, y)| *x = x.max(y)),
                }
                if let (Some(a), Some(b)) = (n, n2) {
                    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                }
            }
            (Acc::Min(a), Acc::Min(b)) => a.iter_mut().zip(b).for_each(|(x, y)| *x = (*x).min(y)),
            (Acc::Max(a), Acc::Max(b)) => a.iter_mut().zip(b).for_each(|(x, y)| *x = (*x).max(y)),
            (Acc::Seq(a), Acc::Seq(b)) => a.extend(b),
            _ => {}
        }
    }
}
