//! `first(s, w)` and `last(s, w)` compared with a time.

use cohort_filter::{Cmp, Which};
use roaring::RoaringBitmap;

use super::{holds, select, Condition, Finish, Selection};

pub(crate) struct Moment {
    pub which: Which,
    pub cmp: Cmp,
    /// The compared instant (Unix ms), as f64.
    pub target: f64,
}

impl Moment {
    fn none(&self) -> i64 {
        match self.which {
            Which::First => i64::MAX,
            Which::Last => i64::MIN,
        }
    }

    fn pick(&self, a: i64, b: i64) -> i64 {
        match self.which {
            Which::First => a.min(b),
            Which::Last => a.max(b),
        }
    }
}

impl Condition for Moment {
    fn holds_for_none(&self) -> bool {
        false
    }

    type Acc = Vec<i64>;

    fn acc(&self, subjects: usize) -> Vec<i64> {
        vec![self.none(); subjects]
    }

    fn scan(&self, rows: &Selection<'_>, acc: &mut Vec<i64>) {
        let (times, subjects) = (rows.block.times(), rows.block.subjects());
        rows.rows().for_each(|r| {
            let s = subjects[r] as usize;
            acc[s] = self.pick(acc[s], times[r]);
        });
    }

    fn merge(&self, into: &mut Vec<i64>, from: Vec<i64>) {
        into.iter_mut()
            .zip(from)
            .for_each(|(x, y)| *x = self.pick(*x, y));
    }

    fn finish(&self, t: Vec<i64>, cx: &Finish<'_>) -> RoaringBitmap {
        let none = self.none();
        select(t.len(), cx.universe, false, |s| {
            t[s] != none && holds(self.cmp, t[s] as f64, self.target)
        })
    }
}
