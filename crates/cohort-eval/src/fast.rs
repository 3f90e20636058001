//! The fast evaluator.
//!
//! 1. **Plan.** Segments are inlined; every condition becomes a [`Spec`]:
//!    the event types it reads, its inclusive time bounds, its compiled
//!    predicate and what it accumulates. The types and windows of all
//!    conditions (of one filter, or of a whole batch) decide which blocks
//!    are read: for each type, the week buckets of the union of its
//!    conditions' windows. Nothing else is read.
//! 2. **Scan.** The blocks are split into one chunk per thread; each task
//!    owns flat accumulators indexed by dense subject id and runs every
//!    interested condition over each row, decoding a row's data only when
//!    a predicate or aggregate needs it. Tasks merge by addition/min/max —
//!    no locks.
//! 3. **Combine.** Each condition's accumulator becomes a `RoaringBitmap`
//!    over the universe (subjects with an event at or before `now`, from
//!    the per-subject facts); `and`/`or`/`not` are bitmap operations.

use std::collections::HashMap;

use cohort_filter::{Aggregate, Cmp, Condition, EventSel, Expr, Measure, Selection, Which};
use cohort_store::{bucket_of, Block, Store, SubjectFacts, SubjectKind, Value};
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
    let universe: RoaringBitmap = facts
        .iter()
        .enumerate()
        .filter(|(_, f)| f.count > 0 && f.first_seen <= options.now)
        .map(|(sid, _)| sid as u32)
        .collect();
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
    fn read_blocks(&self, kind: SubjectKind) -> Result<Vec<Block>, EvalError> {
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
        blocks: &[Block],
        subjects: usize,
        parallel: bool,
    ) -> Result<Vec<Acc>, EvalError> {
        let fresh = || {
            self.specs
                .iter()
                .map(|s| Acc::new(&s.what, subjects))
                .collect::<Vec<_>>()
        };
        let run = |chunk: &[Block]| -> Result<Vec<Acc>, EvalError> {
            let mut accs = fresh();
            for block in chunk {
                self.scan_block(block, &mut accs)?;
            }
            Ok(accs)
        };
        if !parallel || blocks.len() < 2 {
            return run(blocks);
        }
        let threads = rayon::current_num_threads().max(1);
        let chunk = blocks.len().div_ceil(threads * 4);
        blocks
            .par_chunks(chunk.max(1))
            .map(run)
            .try_reduce_with(|mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    x.merge(y);
                }
                Ok(a)
            })
            .unwrap_or_else(|| Ok(fresh()))
    }

    fn scan_block(&self, block: &Block, accs: &mut [Acc]) -> Result<(), EvalError> {
        let interested: Vec<usize> = (0..self.specs.len())
            .filter(|&i| {
                self.specs[i].lo <= self.specs[i].hi
                    && self.specs[i].step.matches_type(block.type_id)
            })
            .collect();
        if interested.is_empty() {
            return Ok(());
        }
        let needs_data = interested
            .iter()
            .any(|&i| self.specs[i].needs_data(block.type_id));
        for row in 0..block.len() {
            let t = block.time(row);
            let sid = block.subject(row);
            let data = if needs_data {
                block.data(row)?
            } else {
                Vec::new()
            };
            for &i in &interested {
                let spec = &self.specs[i];
                if t < spec.lo || t > spec.hi {
                    continue;
                }
                if let What::Seq(steps, _) = &spec.what {
                    let mask = steps.iter().enumerate().fold(0u64, |m, (j, s)| {
                        let ok = s.matches_type(block.type_id)
                            && s.pred.as_ref().is_none_or(|p| p.eval(&data));
                        m | (u64::from(ok) << j)
                    });
                    if mask != 0 {
                        if let Acc::Seq(v) = &mut accs[i] {
                            v.push((sid, t, mask));
                        }
                    }
                    continue;
                }
                if spec.step.pred.as_ref().is_some_and(|p| !p.eval(&data)) {
                    continue;
                }
                accs[i].add(sid, t, &data, &spec.what);
            }
        }
        Ok(())
    }
}

impl Spec {
    fn needs_data(&self, type_id: u32) -> bool {
        match &self.what {
            What::Agg(..) => true,
            What::Seq(steps, _) => steps
                .iter()
                .any(|s| s.pred.is_some() && s.matches_type(type_id)),
            _ => self.step.pred.is_some(),
        }
    }

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
        let pick = |f: &dyn Fn(usize) -> bool| -> RoaringBitmap {
            RoaringBitmap::from_sorted_iter(universe.iter().filter(|&sid| f(sid as usize)))
                .expect("sorted")
        };
        match (&self.what, acc) {
            (What::Count, Acc::Count(c)) if self.did => pick(&|s| c[s] > 0),
            (What::Count, Acc::Count(c)) => pick(&|s| holds(f64::from(c[s]))),
            (What::Days, Acc::Days(mut pairs)) => {
                pairs.sort_unstable();
                pairs.dedup();
                let mut days = vec![0u32; facts.len()];
                for (sid, _) in pairs {
                    days[sid as usize] += 1;
                }
                pick(&|s| holds(f64::from(days[s])))
            }
            (What::Agg(func, _), Acc::Agg { sum, n, min, max }) => pick(&|s| match func {
                Aggregate::Sum => holds(sum[s]),
                _ if n[s] == 0 => false,
                Aggregate::Avg => holds(sum[s] / f64::from(n[s])),
                Aggregate::Min => holds(min[s]),
                Aggregate::Max => holds(max[s]),
            }),
            (What::Moment(Which::First), Acc::Min(t)) => {
                pick(&|s| t[s] != i64::MAX && holds(t[s] as f64))
            }
            (What::Moment(Which::Last), Acc::Max(t)) => {
                pick(&|s| t[s] != i64::MIN && holds(t[s] as f64))
            }
            (What::FirstSeen, _) => {
                pick(&|s| facts[s].first_seen <= now && holds(facts[s].first_seen as f64))
            }
            (What::Seq(steps, within), Acc::Seq(mut rows)) => {
                rows.sort_unstable();
                let mut out = RoaringBitmap::new();
                for group in rows.chunk_by(|a, b| a.0 == b.0) {
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
    Days(Vec<(u32, i64)>),
    Agg {
        sum: Vec<f64>,
        n: Vec<u32>,
        min: Vec<f64>,
        max: Vec<f64>,
    },
    Min(Vec<i64>),
    Max(Vec<i64>),
    Seq(Vec<(u32, i64, u64)>),
    None,
}

impl Acc {
    fn new(what: &What, subjects: usize) -> Acc {
        match what {
            What::Count => Acc::Count(vec![0; subjects]),
            What::Days => Acc::Days(Vec::new()),
            What::Agg(..) => Acc::Agg {
                sum: vec![0.0; subjects],
                n: vec![0; subjects],
                min: vec![f64::INFINITY; subjects],
                max: vec![f64::NEG_INFINITY; subjects],
            },
            What::Moment(Which::First) => Acc::Min(vec![i64::MAX; subjects]),
            What::Moment(Which::Last) => Acc::Max(vec![i64::MIN; subjects]),
            What::FirstSeen => Acc::None,
            What::Seq(..) => Acc::Seq(Vec::new()),
        }
    }

    #[inline]
    fn add(&mut self, sid: u32, t: i64, data: &[(u32, Value)], what: &What) {
        let s = sid as usize;
        match self {
            Acc::Count(c) => c[s] += 1,
            Acc::Days(d) => d.push((sid, utc_day(t))),
            Acc::Agg { sum, n, min, max } => {
                let What::Agg(_, Some(key)) = what else {
                    return;
                };
                if let Some((_, Value::Number(x))) = data.iter().find(|(k, _)| k == key) {
                    sum[s] += x;
                    n[s] += 1;
                    min[s] = min[s].min(*x);
                    max[s] = max[s].max(*x);
                }
            }
            Acc::Min(v) => v[s] = v[s].min(t),
            Acc::Max(v) => v[s] = v[s].max(t),
            Acc::Seq(_) | Acc::None => {}
        }
    }

    fn merge(&mut self, other: Acc) {
        match (self, other) {
            (Acc::Count(a), Acc::Count(b)) => a.iter_mut().zip(b).for_each(|(x, y)| *x += y),
            (Acc::Days(a), Acc::Days(b)) => a.extend(b),
            (
                Acc::Agg { sum, n, min, max },
                Acc::Agg {
                    sum: s2,
                    n: n2,
                    min: mi2,
                    max: ma2,
                },
            ) => {
                sum.iter_mut().zip(s2).for_each(|(x, y)| *x += y);
                n.iter_mut().zip(n2).for_each(|(x, y)| *x += y);
                min.iter_mut().zip(mi2).for_each(|(x, y)| *x = x.min(y));
                max.iter_mut().zip(ma2).for_each(|(x, y)| *x = x.max(y));
            }
            (Acc::Min(a), Acc::Min(b)) => a.iter_mut().zip(b).for_each(|(x, y)| *x = (*x).min(y)),
            (Acc::Max(a), Acc::Max(b)) => a.iter_mut().zip(b).for_each(|(x, y)| *x = (*x).max(y)),
            (Acc::Seq(a), Acc::Seq(b)) => a.extend(b),
            _ => {}
        }
    }
}
