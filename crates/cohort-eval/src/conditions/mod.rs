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
}

impl Planned {
    /// Scans `blocks` (those the condition reads) and returns its members.
    pub fn evaluate(
        &self,
        blocks: &[Arc<Block>],
        cx: &Finish<'_>,
        executor: &Executor,
    ) -> RoaringBitmap {
        let n = cx.facts.len();
        let c = &self.common;
        match &self.kind {
            Kind::Count(k) => k.finish(drive(k, c, blocks, n, executor), cx),
            Kind::Days(k) => k.finish(drive(k, c, blocks, n, executor), cx),
            Kind::Aggregate(k) => k.finish(drive(k, c, blocks, n, executor), cx),
            Kind::Moment(k) => k.finish(drive(k, c, blocks, n, executor), cx),
            // Answered from the facts: nothing to scan.
            Kind::FirstSeen(k) => k.finish((), cx),
            Kind::Seq(k) => k.finish(drive(k, c, blocks, n, executor), cx),
        }
    }
}

/// Runs one condition over the blocks it reads: one group of about equal
/// rows per thread (each group costs an accumulator set, so no more groups
/// than threads), each group into its own accumulator, then merged.
fn drive<C: Condition>(
    condition: &C,
    common: &Common,
    blocks: &[Arc<Block>],
    subjects: usize,
    executor: &Executor,
) -> C::Acc {
    let mine: Vec<&Block> = blocks
        .iter()
        .map(|b| &**b)
        .filter(|b| common.reads(b))
        .collect();
    let run = |group: &[&Block]| {
        let mut acc = condition.acc(subjects);
        for block in group {
            condition.scan(&common.select(block), &mut acc);
        }
        acc
    };
    let threads = executor.threads();
    if threads == 1 || mine.len() < 2 {
        return run(&mine);
    }
    let total: usize = mine.iter().map(|b| b.len()).sum();
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
