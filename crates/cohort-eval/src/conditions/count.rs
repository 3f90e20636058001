//! `did(s, w)` and `count(s, w) cmp n`: matching events per subject.

use cohort_filter::Cmp;
use roaring::RoaringBitmap;

use super::{holds, select, Condition, Finish, Selection};

pub(crate) struct Count {
    /// `did`: at least one event (`count > 0`).
    pub did: bool,
    pub cmp: Cmp,
    pub value: f64,
}

impl Condition for Count {
    fn holds_for_none(&self) -> bool {
        !self.did && holds(self.cmp, 0.0, self.value)
    }

    type Acc = Vec<u32>;

    fn acc(&self, subjects: usize) -> Vec<u32> {
        vec![0; subjects]
    }

    fn scan(&self, rows: &Selection<'_>, acc: &mut Vec<u32>) {
        let subjects = rows.block.subjects();
        rows.rows().for_each(|r| acc[subjects[r] as usize] += 1);
    }

    fn merge(&self, into: &mut Vec<u32>, from: Vec<u32>) {
        into.iter_mut().zip(from).for_each(|(x, y)| *x += y);
    }

    fn finish(&self, c: Vec<u32>, cx: &Finish<'_>) -> RoaringBitmap {
        if self.did {
            return select(c.len(), cx.universe, false, |s| c[s] > 0);
        }
        let zero = holds(self.cmp, 0.0, self.value);
        select(c.len(), cx.universe, zero, |s| {
            holds(self.cmp, f64::from(c[s]), self.value)
        })
    }
}
