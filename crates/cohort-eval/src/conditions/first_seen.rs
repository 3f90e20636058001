//! `first(*)` with no window or predicate: the per-subject facts answer it
//! without reading a block.

use cohort_filter::Cmp;
use roaring::RoaringBitmap;

use super::{holds, select, Condition, Finish, Selection};

pub(crate) struct FirstSeen {
    pub cmp: Cmp,
    /// The compared instant (Unix ms), as f64.
    pub target: f64,
}

impl Condition for FirstSeen {
    fn holds_for_none(&self) -> bool {
        false
    }

    type Acc = ();

    fn acc(&self, _: usize) {}

    fn scan(&self, _: &Selection<'_>, _: &mut ()) {}

    fn merge(&self, _: &mut (), _: ()) {}

    fn finish(&self, _: (), cx: &Finish<'_>) -> RoaringBitmap {
        let facts = cx.facts;
        select(facts.len(), cx.universe, false, |s| {
            facts[s].count > 0
                && facts[s].first_seen <= cx.now
                && holds(self.cmp, facts[s].first_seen as f64, self.target)
        })
    }
}
