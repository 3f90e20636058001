//! Condition kinds. Each owns its accumulator, its scan of a block, its
//! merge of two tasks' accumulators and what the accumulator means; the
//! driver here ([`drive`]) splits a condition's blocks across the
//! executor's threads and knows nothing of any kind.
//!
//! Conditions are evaluated one after the other, each into a bitmap,
//! before the next starts: an evaluation holds at most one condition's
//! accumulators at a time (one set per thread), whatever the number of
//! conditions — memory is threads × subjects, not conditions × subjects ×
//! threads.

mod aggregate;
mod count;
mod days;
mod first_seen;
mod moment;
mod profile;
mod seq;

use std::sync::Arc;

use cohort_store::{Block, SubjectFacts, BUCKET_MILLIS};
use roaring::RoaringBitmap;

use crate::compile::Pred;
use crate::executor::Executor;

pub(crate) use aggregate::Aggregate;
pub(crate) use count::Count;
pub(crate) use days::Days;
pub(crate) use first_seen::FirstSeen;
pub(crate) use moment::Moment;
pub(crate) use profile::{fields_of, Columns, FieldName, ProfileTest};
pub(crate) use seq::{Seq, Step};

/// Which event types a selection reads: any, or a list of ids (empty when
/// the store has never seen the type).
#[derive(Clone, Debug)]
pub(crate) enum Types {
    Any,
    Ids(Vec<u32>),
}

impl Types {
    pub fn matches(&self, type_id: u32) -> bool {
        match self {
            Types::Any => true,
            Types::Ids(ids) => ids.contains(&type_id),
        }
    }
}

/// What every condition has: the blocks it reads (types and inclusive time
/// bounds) and the predicate that selects rows.
pub(crate) struct Common {
    pub types: Types,
    pub lo: i64,
    pub hi: i64,
    pub pred: Option<Pred>,
}

impl Common {
    /// Whether the condition reads anything of `block`.
    fn reads(&self, block: &Block) -> bool {
        let (first, last) = bucket_bounds(block.bucket);
        self.lo <= self.hi
            && last >= self.lo
            && first <= self.hi
            && self.types.matches(block.type_id)
    }

    /// The rows of `block` inside the window that the predicate selects.
    fn select<'b>(&self, block: &'b Block) -> Selection<'b> {
        let (first, last) = bucket_bounds(block.bucket);
        Selection {
            block,
            whole: first >= self.lo && last <= self.hi,
            lo: self.lo,
            hi: self.hi,
            mask: self.pred.as_ref().map(|p| p.eval_block(block)),
        }
    }
}

fn bucket_bounds(bucket: i64) -> (i64, i64) {
    let first = bucket.saturating_mul(BUCKET_MILLIS);
    (first, first.saturating_add(BUCKET_MILLIS - 1))
}

/// The rows of one block a condition counts.
pub(crate) struct Selection<'b> {
    pub block: &'b Block,
    /// The whole bucket is inside the window: no per-row time test.
    whole: bool,
    lo: i64,
    hi: i64,
    mask: Option<Vec<bool>>,
}

impl Selection<'_> {
    /// The selected rows, in block order.
    pub fn rows(&self) -> impl Iterator<Item = usize> + '_ {
        let times = self.block.times();
        (0..self.block.len()).filter(move |&r| {
            (self.whole || (self.lo..=self.hi).contains(&times[r]))
                && self.mask.as_ref().is_none_or(|m| m[r])
        })
    }
}

/// What turning an accumulator into members needs.
pub(crate) struct Finish<'a> {
    pub universe: &'a RoaringBitmap,
    pub facts: &'a [SubjectFacts],
    pub now: i64,
    /// The profile columns the evaluation's profile conditions read.
    pub profile: &'a Columns,
}

/// One condition kind.
pub(crate) trait Condition: Sync {
    /// Per-task state, indexed by dense subject id.
    type Acc: Send;
    /// A fresh accumulator for `subjects` subjects.
    fn acc(&self, subjects: usize) -> Self::Acc;
    /// Adds a block's selected rows.
    fn scan(&self, rows: &Selection<'_>, acc: &mut Self::Acc);
    /// Folds another task's accumulator into `into`. The result must not
    /// depend on the order tasks are merged in.
    fn merge(&self, into: &mut Self::Acc, from: Self::Acc);
    /// The subjects of the universe for which the condition holds.
    fn finish(&self, acc: Self::Acc, cx: &Finish<'_>) -> RoaringBitmap;
    /// Whether the condition holds for a subject without matching events
    /// (`count(x) < 2` does; `did(x)` does not): when no block is read at
    /// all, the answer is the universe or nobody, with no scan.
    fn holds_for_none(&self) -> bool;
}

/// The blocks an evaluation read, by event type.
pub(crate) struct BlocksByType {
    by_type: std::collections::BTreeMap<u32, Vec<Arc<Block>>>,
}

impl BlocksByType {
    pub fn new(blocks: Vec<Arc<Block>>) -> BlocksByType {
        let mut by_type: std::collections::BTreeMap<u32, Vec<Arc<Block>>> = Default::default();
        for b in blocks {
            by_type.entry(b.type_id).or_default().push(b);
        }
        BlocksByType { by_type }
    }

    /// The blocks a condition reads: of its types, overlapping its window.
    fn of<'a>(&'a self, common: &Common) -> Vec<&'a Block> {
        let pick = |blocks: &'a Vec<Arc<Block>>| blocks.iter().map(|b| &**b);
        let candidates: Vec<&Block> = match &common.types {
            Types::Any => self.by_type.values().flat_map(pick).collect(),
            Types::Ids(ids) => ids
                .iter()
                .filter_map(|id| self.by_type.get(id))
                .flat_map(pick)
                .collect(),
        };
        candidates.into_iter().filter(|b| common.reads(b)).collect()
    }
}

/// A planned condition: what it reads, and its kind.
pub(crate) struct Planned {
    pub common: Common,
    pub kind: Kind,
}

/// The condition kinds; one `match` dispatches to the generic driver.
pub(crate) enum Kind {
    Count(Count),
    Days(Days),
    Aggregate(Aggregate),
    Moment(Moment),
    FirstSeen(FirstSeen),
    Seq(Seq),
    Profile(ProfileTest),
    Birthday,
}

impl Planned {
    /// The profile fields the condition reads (pushed onto `out`).
    pub fn profile_fields(&self, out: &mut Vec<FieldName>) {
        match &self.kind {
            Kind::Profile(p) => out.extend(fields_of(Some(p.test.path()))),
            Kind::Birthday => out.extend(fields_of(None)),
            _ => {}
        }
    }

    /// Every data key the condition reads (pushed onto `out`): the blocks
    /// it reads need only these columns decoded.
    pub fn columns(&self, out: &mut Vec<u32>) {
        if let Some(p) = &self.common.pred {
            p.keys(out);
        }
        match &self.kind {
            Kind::Aggregate(a) => out.extend(a.key),
            Kind::Seq(s) => s
                .steps
                .iter()
                .filter_map(|step| step.pred.as_ref())
                .for_each(|p| p.keys(out)),
            Kind::Count(_)
            | Kind::Days(_)
            | Kind::Moment(_)
            | Kind::FirstSeen(_)
            | Kind::Profile(_)
            | Kind::Birthday => {}
        }
    }

    /// Scans the blocks the condition reads and returns its members.
    pub fn evaluate(
        &self,
        blocks: &BlocksByType,
        cx: &Finish<'_>,
        executor: &Executor,
    ) -> RoaringBitmap {
        let c = &self.common;
        let mine = blocks.of(c);
        match &self.kind {
            // Answered from the facts: nothing to scan.
            Kind::FirstSeen(k) => k.finish((), cx),
            // Answered from the profile columns.
            Kind::Profile(k) => k.evaluate(cx.profile, cx),
            Kind::Birthday => profile::birthday(cx.profile, cx),
            Kind::Count(k) => run(k, c, &mine, cx, executor),
            Kind::Days(k) => run(k, c, &mine, cx, executor),
            Kind::Aggregate(k) => run(k, c, &mine, cx, executor),
            Kind::Moment(k) => run(k, c, &mine, cx, executor),
            Kind::Seq(k) => run(k, c, &mine, cx, executor),
        }
    }
}

/// Fewest rows a condition's scan is split across threads for.
const MIN_PARALLEL_ROWS: usize = 1 << 16;

/// One condition: nobody or everybody when it reads nothing (an unknown
/// type costs nothing per subject), else a scan and its finish.
fn run<C: Condition>(
    condition: &C,
    common: &Common,
    mine: &[&Block],
    cx: &Finish<'_>,
    executor: &Executor,
) -> RoaringBitmap {
    if mine.is_empty() {
        return if condition.holds_for_none() {
            cx.universe.clone()
        } else {
            RoaringBitmap::new()
        };
    }
    let acc = drive(condition, common, mine, cx.facts.len(), executor);
    condition.finish(acc, cx)
}

/// Runs one condition over the blocks it reads: one group of about equal
/// rows per thread (each group costs an accumulator set, so no more groups
/// than threads), each group into its own accumulator, then merged.
fn drive<C: Condition>(
    condition: &C,
    common: &Common,
    mine: &[&Block],
    subjects: usize,
    executor: &Executor,
) -> C::Acc {
    let run = |group: &[&Block]| {
        let mut acc = condition.acc(subjects);
        for block in group {
            condition.scan(&common.select(block), &mut acc);
        }
        acc
    };
    let threads = executor.threads();
    let total: usize = mine.iter().map(|b| b.len()).sum();
    // Every extra task costs an accumulator and a merge, both as long as
    // the subjects: splitting pays only when there are more rows to scan
    // than subjects to merge.
    if threads == 1 || mine.len() < 2 || total < subjects.max(MIN_PARALLEL_ROWS) {
        return run(mine);
    }
    let per = total.div_ceil(threads).max(1);
    let mut groups: Vec<&[&Block]> = Vec::with_capacity(threads);
    let (mut start, mut rows) = (0, 0);
    for (i, b) in mine.iter().enumerate() {
        rows += b.len();
        if rows >= per && groups.len() + 1 < threads {
            groups.push(&mine[start..=i]);
            start = i + 1;
            rows = 0;
        }
    }
    if start < mine.len() {
        groups.push(&mine[start..]);
    }
    let mut parts = executor.map(groups, run).into_iter();
    let mut first = parts.next().expect("at least one group");
    for part in parts {
        condition.merge(&mut first, part);
    }
    first
}

/// The subjects of the universe for which `f` holds. `zero_holds` says
/// whether a subject without matching events satisfies the condition
/// (`count(x) < 2`): then the answer is the universe minus the few that
/// fail, rather than a long list of those that pass.
pub(crate) fn select(
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

/// Whether a measured value compares true with the condition's number.
pub(crate) fn holds(cmp: cohort_filter::Cmp, x: f64, value: f64) -> bool {
    x.partial_cmp(&value).is_some_and(|o| cmp.holds(o))
}
