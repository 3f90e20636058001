//! `days(s, w) cmp n`: distinct UTC days with a matching event.

use cohort_filter::Cmp;
use roaring::RoaringBitmap;

use super::{holds, select, Condition, Finish, Selection};
use crate::window::utc_day;

pub(crate) struct Days {
    pub cmp: Cmp,
    pub value: f64,
    /// For a window of at most 64 days: its first UTC day. Such a window
    /// keeps one bit per day per subject; a longer one collects pairs.
    pub first_day: Option<i64>,
}

pub(crate) enum DayAcc {
    Bits(Vec<u64>),
    Pairs(Vec<(u32, i64)>),
}

impl Days {
    /// `days` over the inclusive window `[lo, hi]`.
    pub fn new(cmp: Cmp, value: f64, lo: i64, hi: i64) -> Days {
        let (first, last) = (utc_day(lo), utc_day(hi));
        Days {
            cmp,
            value,
            first_day: (lo <= hi && last - first < 64).then_some(first),
        }
    }
}

impl Condition for Days {
    fn holds_for_none(&self) -> bool {
        holds(self.cmp, 0.0, self.value)
    }

    type Acc = DayAcc;

    fn acc(&self, subjects: usize) -> DayAcc {
        match self.first_day {
            Some(_) => DayAcc::Bits(vec![0; subjects]),
            None => DayAcc::Pairs(Vec::new()),
        }
    }

    fn scan(&self, rows: &Selection<'_>, acc: &mut DayAcc) {
        let (times, subjects) = (rows.block.times(), rows.block.subjects());
        match acc {
            DayAcc::Bits(bits) => {
                let first = self.first_day.expect("bits only for short windows");
                rows.rows().for_each(|r| {
                    bits[subjects[r] as usize] |= 1u64 << (utc_day(times[r]) - first);
                })
            }
            DayAcc::Pairs(pairs) => {
                rows.rows()
                    .for_each(|r| pairs.push((subjects[r], utc_day(times[r]))));
            }
        }
    }

    fn merge(&self, into: &mut DayAcc, from: DayAcc) {
        match (into, from) {
            (DayAcc::Bits(a), DayAcc::Bits(b)) => a.iter_mut().zip(b).for_each(|(x, y)| *x |= y),
            (DayAcc::Pairs(a), DayAcc::Pairs(b)) => a.extend(b),
            _ => unreachable!("one condition makes one kind of accumulator"),
        }
    }

    fn finish(&self, acc: DayAcc, cx: &Finish<'_>) -> RoaringBitmap {
        let n = cx.facts.len();
        let zero = holds(self.cmp, 0.0, self.value);
        let days: Vec<u32> = match acc {
            DayAcc::Bits(bits) => bits.iter().map(|b| b.count_ones()).collect(),
            DayAcc::Pairs(mut pairs) => {
                pairs.sort_unstable();
                pairs.dedup();
                let mut days = vec![0u32; n];
                for (sid, _) in pairs {
                    days[sid as usize] += 1;
                }
                days
            }
        };
        select(n, cx.universe, zero, |s| {
            holds(self.cmp, f64::from(days[s]), self.value)
        })
    }
}
