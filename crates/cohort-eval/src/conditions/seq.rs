//! `seq(s1 -> … -> sk, within D, w)`: ordered events per subject.
//!
//! The scan keeps each row that matches any step, with a bit per step it
//! matches; the finish groups rows by subject (a counting sort on the dense
//! id), orders each subject's rows by time and looks for the sequence.

use roaring::RoaringBitmap;

use super::{Condition, Finish, Selection, Types};
use crate::compile::Pred;

/// One step's test.
pub(crate) struct Step {
    pub types: Types,
    pub pred: Option<Pred>,
}

pub(crate) struct Seq {
    pub steps: Vec<Step>,
    pub within: Option<i64>,
}

/// (subject, time, steps matched as bits).
type Row = (u32, i64, u64);

impl Condition for Seq {
    fn holds_for_none(&self) -> bool {
        false
    }

    type Acc = Vec<Row>;

    fn acc(&self, _: usize) -> Vec<Row> {
        Vec::new()
    }

    fn scan(&self, rows: &Selection<'_>, out: &mut Vec<Row>) {
        let block = rows.block;
        let masks: Vec<Option<Vec<bool>>> = self
            .steps
            .iter()
            .map(|s| {
                s.types.matches(block.type_id).then(|| match &s.pred {
                    Some(p) => p.eval_block(block),
                    None => vec![true; block.len()],
                })
            })
            .collect();
        let (times, subjects) = (block.times(), block.subjects());
        for row in rows.rows() {
            let mask = masks.iter().enumerate().fold(0u64, |m, (j, step)| {
                m | (u64::from(step.as_ref().is_some_and(|s| s[row])) << j)
            });
            if mask != 0 {
                out.push((subjects[row], times[row], mask));
            }
        }
    }

    fn merge(&self, into: &mut Vec<Row>, from: Vec<Row>) {
        into.extend(from);
    }

    fn finish(&self, rows: Vec<Row>, cx: &Finish<'_>) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        for group in by_subject(rows, cx.facts.len()).chunk_by(|a, b| a.0 == b.0) {
            if seq_holds(group, self.steps.len(), self.within) {
                out.insert(group[0].0);
            }
        }
        out & cx.universe
    }
}

/// Rows grouped by subject (a counting sort on the dense id), each
/// subject's rows in time order.
fn by_subject(rows: Vec<Row>, subjects: usize) -> Vec<Row> {
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
fn seq_holds(rows: &[Row], steps: usize, within: Option<i64>) -> bool {
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
