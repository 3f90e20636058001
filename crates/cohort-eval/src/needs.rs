//! Which event types a filter cannot hold without: a cheap "no" for a
//! subject with none of them (`live.rs`, deciding a write's subjects).
//!
//! A filter's needs are clauses, each a set of event types: if the filter
//! holds for a subject at some instant, the subject has, for every clause,
//! an event of one of its types (of any time). So a subject whose history
//! misses a clause is outside the segment now and at every later instant
//! until a write gives it such an event — time alone cannot. The analysis
//! is conservative: a condition that can hold with no event (`count(x) <
//! 3`, `not …`, a profile test, `in_segment`) needs nothing.

use std::collections::BTreeSet;

use cohort_filter::{Condition, EventSel, Expr, Measure, Selection};

/// The clauses (see the module docs); empty when the filter needs no type.
pub(crate) fn needed_types(expr: &Expr) -> Vec<BTreeSet<String>> {
    match expr {
        Expr::And(items) => items.iter().flat_map(needed_types).collect(),
        Expr::Or(items) => {
            // One event among the smallest clause of every branch.
            let mut union = BTreeSet::new();
            for item in items {
                let clauses = needed_types(item);
                match clauses.into_iter().min_by_key(BTreeSet::len) {
                    Some(c) => union.extend(c),
                    None => return Vec::new(),
                }
            }
            if union.is_empty() {
                Vec::new()
            } else {
                vec![union]
            }
        }
        Expr::Not(_) => Vec::new(),
        Expr::Cond(c) => condition(c),
    }
}

fn condition(c: &Condition) -> Vec<BTreeSet<String>> {
    match c {
        Condition::Did { selection, .. } | Condition::Moment { selection, .. } => {
            named(selection).into_iter().collect()
        }
        Condition::Measure {
            measure,
            cmp,
            value,
        } => {
            // With no matching event: a count, a number of days and a sum
            // are 0; an average, a minimum and a maximum have no value
            // (false).
            let (selection, zero_holds) = match measure {
                Measure::Count { selection, .. } | Measure::Days { selection, .. } => {
                    (selection, holds_at_zero(*cmp, *value))
                }
                Measure::Aggregate {
                    func, selection, ..
                } => (
                    selection,
                    matches!(func, cohort_filter::Aggregate::Sum) && holds_at_zero(*cmp, *value),
                ),
            };
            if zero_holds {
                Vec::new()
            } else {
                named(selection).into_iter().collect()
            }
        }
        Condition::Seq { steps, .. } => steps.iter().filter_map(named).collect(),
        Condition::InSegment(_) | Condition::Profile(_) | Condition::Birthday => Vec::new(),
    }
}

fn holds_at_zero(cmp: cohort_filter::Cmp, value: f64) -> bool {
    0f64.partial_cmp(&value).is_some_and(|o| cmp.holds(o))
}

/// The one type a selection names (none for `*`).
fn named(selection: &Selection) -> Option<BTreeSet<String>> {
    match &selection.event {
        EventSel::Any => None,
        EventSel::Named(t) => Some(BTreeSet::from([t.clone()])),
    }
}

/// Whether a subject misses a clause (`has`: whether its history holds an
/// event of a type).
pub(crate) fn misses(clauses: &[BTreeSet<String>], has: impl Fn(&str) -> bool) -> bool {
    clauses.iter().any(|clause| !clause.iter().any(|t| has(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(filter: &str) -> Vec<Vec<&'static str>> {
        let expr = cohort_filter::parse(filter).unwrap();
        needed_types(&expr)
            .into_iter()
            .map(|c| {
                c.into_iter()
                    .map(|t| &*Box::leak(t.into_boxed_str()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn conditions_that_hold_with_no_event_need_nothing() {
        assert!(needs("count(purchase) < 3").is_empty());
        assert!(needs("count(purchase) >= 0").is_empty());
        assert!(needs("sum(purchase, data.amount) <= 0").is_empty());
        assert!(needs("not did(purchase)").is_empty());
        assert!(needs("did(*, last 1d)").is_empty());
        assert!(needs(r#"tag.plan = "pro" or did(purchase)"#).is_empty());
        assert!(needs(r#"in_segment("x")"#).is_empty());
    }

    #[test]
    fn conditions_that_need_an_event_name_its_type() {
        assert_eq!(needs("count(purchase, last 7d) >= 2"), [["purchase"]]);
        assert_eq!(needs("avg(purchase, data.amount) <= 0"), [["purchase"]]);
        assert_eq!(needs("last(app_open) < now - 1d"), [["app_open"]]);
        assert_eq!(
            needs("did(add_to_cart) and not did(purchase)"),
            [["add_to_cart"]]
        );
        assert_eq!(needs("seq(view -> *, within 1h)"), [["view"]]);
        assert_eq!(needs("seq(a -> b)"), [["a"], ["b"]]);
        // The first of the smallest clauses of each branch.
        assert_eq!(
            needs("did(search) or (did(view) and did(cart))"),
            [vec!["search", "view"]]
        );
    }
}
