//! `sum`, `avg`, `min`, `max` of a data key over matching events.
//! Sums are exact (see `exact.rs`), so no thread split changes them.

use cohort_filter::{Aggregate as Func, Cmp};
use roaring::RoaringBitmap;

use super::{holds, select, Condition, Finish, Selection};
use crate::exact::Sums;

pub(crate) struct Aggregate {
    pub func: Func,
    /// The data key's id; `None` when the store has never seen it.
    pub key: Option<u32>,
    pub cmp: Cmp,
    pub value: f64,
}

pub(crate) enum AggAcc {
    /// `sum` and `avg` (`avg` also counts the terms).
    Sum { sums: Sums, n: Option<Vec<u32>> },
    /// `min` / `max`: the extreme so far, ±∞ for none.
    Extreme(Vec<f64>),
}

impl Condition for Aggregate {
    /// A sum over no events is 0; an average, minimum or maximum is none.
    fn holds_for_none(&self) -> bool {
        self.func == Func::Sum && holds(self.cmp, 0.0, self.value)
    }

    type Acc = AggAcc;

    fn acc(&self, subjects: usize) -> AggAcc {
        match self.func {
            Func::Sum => AggAcc::Sum {
                sums: Sums::new(subjects),
                n: None,
            },
            Func::Avg => AggAcc::Sum {
                sums: Sums::new(subjects),
                n: Some(vec![0; subjects]),
            },
            Func::Min => AggAcc::Extreme(vec![f64::INFINITY; subjects]),
            Func::Max => AggAcc::Extreme(vec![f64::NEG_INFINITY; subjects]),
        }
    }

    fn scan(&self, rows: &Selection<'_>, acc: &mut AggAcc) {
        let Some(column) = self.key.and_then(|k| rows.block.column(k)) else {
            return;
        };
        let numbers = column.numbers();
        let subjects = rows.block.subjects();
        let selected = rows.rows().filter(|&r| !numbers[r].is_nan());
        match acc {
            AggAcc::Sum { sums, n } => selected.for_each(|r| {
                sums.add(subjects[r], numbers[r]);
                if let Some(n) = n {
                    n[subjects[r] as usize] += 1;
                }
            }),
            AggAcc::Extreme(v) => selected.for_each(|r| {
                let s = subjects[r] as usize;
                v[s] = match self.func {
                    Func::Min => v[s].min(numbers[r]),
                    _ => v[s].max(numbers[r]),
                };
            }),
        }
    }

    fn merge(&self, into: &mut AggAcc, from: AggAcc) {
        match (into, from) {
            (AggAcc::Sum { sums, n }, AggAcc::Sum { sums: s2, n: n2 }) => {
                sums.merge(s2);
                if let (Some(a), Some(b)) = (n, n2) {
                    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                }
            }
            (AggAcc::Extreme(a), AggAcc::Extreme(b)) => {
                let pick = if self.func == Func::Min {
                    f64::min
                } else {
                    f64::max
                };
                a.iter_mut().zip(b).for_each(|(x, y)| *x = pick(*x, y));
            }
            _ => unreachable!("one condition makes one kind of accumulator"),
        }
    }

    fn finish(&self, acc: AggAcc, cx: &Finish<'_>) -> RoaringBitmap {
        let n = cx.facts.len();
        let test = |x: f64| holds(self.cmp, x, self.value);
        match acc {
            AggAcc::Sum { sums, n: None } => {
                let sums = sums.finish();
                select(n, cx.universe, test(0.0), |s| test(sums[s]))
            }
            AggAcc::Sum {
                sums,
                n: Some(counts),
            } => {
                let means = sums.finish_means(&counts);
                select(n, cx.universe, false, |s| counts[s] > 0 && test(means[s]))
            }
            // ±∞ is "no value": data numbers are finite.
            AggAcc::Extreme(v) => select(n, cx.universe, false, |s| v[s].is_finite() && test(v[s])),
        }
    }
}
