//! The reference evaluator: plain, obviously-correct code that decides a
//! filter for one subject straight from that subject's events, following
//! `docs/filter-language.md` line by line. It is the oracle the fast
//! evaluator is tested against, and the engine of `explain`.
//!
//! Nothing here is optimised — every condition re-reads the events —
//! except for a history known to be in time order
//! ([`evaluate_in_order`], the live engine's), where a window's events are
//! found by binary search.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cohort_event::Attribute;
use cohort_filter::{
    Aggregate, Cmp, Condition, EventSel, Expr, Literal, Measure, Predicate, ProfilePath, Selection,
    Test, Which,
};
use cohort_store::{EventRecord, Profile, Value};

use crate::error::EvalError;
use crate::exact::{exact_mean, exact_sum};
use crate::profile::{test_value, Birth};
use crate::segments::{resolve, Resolved};
use crate::window::{bounds, utc_day};

pub use crate::segments::{NoSegments, Segments};

/// What one condition was worth for one subject, for `explain`.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The condition as text.
    pub condition: String,
    /// Its value: a count, a sum, a time, `none`, `true`/`false`.
    pub value: String,
    /// The window's inclusive bounds, when it has one.
    pub window: Option<(i64, i64)>,
    /// Whether the condition held.
    pub result: bool,
}

/// What the reference evaluator reads of one subject: all its events (in
/// any order) and all its profile changes.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The subject's events.
    pub events: &'a [EventRecord],
    /// The subject's tag and attribute history.
    pub profile: &'a Profile,
}

static NO_PROFILE: Profile = Profile {
    tags: BTreeMap::new(),
    attributes: BTreeMap::new(),
};

impl<'a> Subject<'a> {
    /// A subject with these events and no profile change.
    pub fn with_events(events: &'a [EventRecord]) -> Subject<'a> {
        Subject {
            events,
            profile: &NO_PROFILE,
        }
    }
}

/// Evaluates `expr` for one subject at `now`. A subject with no event, tag
/// change or attribute change at or before `now` is outside the universe:
/// every filter is false for it, `not` included.
pub fn evaluate(
    expr: &Expr,
    subject: Subject<'_>,
    now: i64,
    segments: &dyn Segments,
) -> Result<bool, EvalError> {
    let resolved = resolve(std::slice::from_ref(expr), segments)?;
    Ok(evaluate_resolved(expr, &resolved, subject, now))
}

/// Like [`evaluate`], for a filter whose segments were resolved once (see
/// [`crate::resolve`]) and is decided for many subjects.
pub fn evaluate_resolved(expr: &Expr, resolved: &Resolved, subject: Subject<'_>, now: i64) -> bool {
    let mut eval = Reference::new(subject, now, resolved, false);
    eval.in_universe() && eval.expr(expr)
}

/// Like [`evaluate_resolved`], for a subject whose events are in time
/// order (by time, then sequence number), as a store reads them: a
/// window's events are found by binary search, and a first or last event
/// by a walk from that end, instead of a pass over every event. The
/// answer is the same (the live engine's tests compare it with the batch
/// evaluator). Events out of order are a bug of the caller (checked in
/// debug builds).
pub fn evaluate_in_order(expr: &Expr, resolved: &Resolved, subject: Subject<'_>, now: i64) -> bool {
    debug_assert!(subject.events.is_sorted_by_key(|e| (e.time, e.seq)));
    let mut eval = Reference::new(subject, now, resolved, true);
    eval.in_universe() && eval.expr(expr)
}

/// Like [`evaluate`], and also returns each condition's value.
pub fn explain(
    expr: &Expr,
    subject: Subject<'_>,
    now: i64,
    segments: &dyn Segments,
) -> Result<(bool, Vec<Trace>), EvalError> {
    let resolved = resolve(std::slice::from_ref(expr), segments)?;
    let mut eval = Reference {
        trace: Some(Vec::new()),
        ..Reference::new(subject, now, &resolved, false)
    };
    let result = eval.in_universe() && eval.expr(expr);
    Ok((result, eval.trace.unwrap_or_default()))
}

struct Reference<'a> {
    events: &'a [EventRecord],
    profile: &'a Profile,
    now: i64,
    resolved: &'a Resolved,
    /// Segments already decided for this subject: each is decided once.
    memo: HashMap<String, bool>,
    trace: Option<Vec<Trace>>,
    /// The events are in time order ([`evaluate_in_order`]).
    in_order: bool,
}

impl<'a> Reference<'a> {
    fn new(
        subject: Subject<'a>,
        now: i64,
        resolved: &'a Resolved,
        in_order: bool,
    ) -> Reference<'a> {
        Reference {
            events: subject.events,
            profile: subject.profile,
            now,
            resolved,
            memo: HashMap::new(),
            trace: None,
            in_order,
        }
    }

    fn in_universe(&self) -> bool {
        let changes = self
            .profile
            .tags
            .values()
            .chain(self.profile.attributes.values());
        let event = if self.in_order {
            self.events.first().is_some_and(|e| e.time <= self.now)
        } else {
            self.events.iter().any(|e| e.time <= self.now)
        };
        event || changes.flatten().any(|c| c.time <= self.now)
    }

    /// The events that can lie in `lo..=hi`: all of them, or for events in
    /// time order, the run found by binary search.
    fn around(&self, lo: i64, hi: i64) -> &'a [EventRecord] {
        if !self.in_order {
            return self.events;
        }
        let start = self.events.partition_point(|e| e.time < lo);
        let end = self.events.partition_point(|e| e.time <= hi).max(start);
        &self.events[start..end]
    }

    /// A user attribute's value at `now`, as stored.
    fn attribute(&self, a: Attribute) -> Option<&'a str> {
        let history = self.profile.attributes.get(&a)?;
        match Profile::value_at(history, self.now)? {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    fn birth(&self) -> Birth<'a> {
        Birth {
            dob: self.attribute(Attribute::Dob),
            time_zone: self.attribute(Attribute::TimeZone),
        }
    }

    fn expr(&mut self, expr: &Expr) -> bool {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || match expr {
            Expr::Or(items) => {
                let mut any = false;
                for item in items {
                    any |= self.expr(item);
                }
                any
            }
            Expr::And(items) => {
                let mut all = true;
                for item in items {
                    all &= self.expr(item);
                }
                all
            }
            Expr::Not(inner) => !self.expr(inner),
            Expr::Cond(c) => self.condition(c),
        })
    }

    /// The events matching a selection inside a window, in the order
    /// given (time order for [`evaluate_in_order`]).
    fn selected<'s>(
        &self,
        selection: &'s Selection,
        window: Option<&cohort_filter::Window>,
    ) -> impl DoubleEndedIterator<Item = &'a EventRecord> + 's
    where
        'a: 's,
    {
        let (lo, hi) = bounds(window, self.now);
        let now = self.now;
        self.around(lo, hi)
            .iter()
            .filter(move |e| e.time >= lo && e.time <= hi && selects(selection, e, now))
    }

    /// The events matching a selection inside a window, in time order.
    fn matching(
        &self,
        selection: &Selection,
        window: Option<&cohort_filter::Window>,
    ) -> Vec<&EventRecord> {
        let mut out: Vec<&EventRecord> = self.selected(selection, window).collect();
        time_order(&mut out);
        out
    }

    /// Notes a condition's value for `explain` (formatted only then).
    fn record(
        &mut self,
        c: &Condition,
        value: impl FnOnce() -> String,
        window: Option<&cohort_filter::Window>,
        result: bool,
    ) {
        if let Some(trace) = &mut self.trace {
            let window = window.map(|w| bounds(Some(w), self.now));
            trace.push(Trace {
                condition: c.to_string(),
                value: value(),
                window,
                result,
            });
        }
    }

    fn condition(&mut self, c: &Condition) -> bool {
        match c {
            Condition::Did { selection, window } => {
                let n = self.matching(selection, window.as_ref()).len();
                let result = n > 0;
                self.record(
                    c,
                    || format!("{n} matching events"),
                    window.as_ref(),
                    result,
                );
                result
            }
            Condition::Measure {
                measure,
                cmp,
                value,
            } => {
                let (window, got) = match measure {
                    Measure::Count { selection, window } => (
                        window,
                        Some(self.matching(selection, window.as_ref()).len() as f64),
                    ),
                    Measure::Days { selection, window } => {
                        let days: BTreeSet<i64> = self
                            .matching(selection, window.as_ref())
                            .iter()
                            .map(|e| utc_day(e.time))
                            .collect();
                        (window, Some(days.len() as f64))
                    }
                    Measure::Aggregate {
                        func,
                        selection,
                        path,
                        window,
                    } => {
                        let numbers: Vec<f64> = self
                            .matching(selection, window.as_ref())
                            .iter()
                            .filter_map(|e| match lookup(e, &path.key) {
                                Some(Value::Number(x)) => Some(*x),
                                _ => None,
                            })
                            .collect();
                        let got = match func {
                            // Exact sums: the same in any order (see `exact.rs`).
                            Aggregate::Sum => Some(exact_sum(numbers.iter().copied())),
                            _ if numbers.is_empty() => None,
                            Aggregate::Avg => exact_mean(numbers.iter().copied()),
                            Aggregate::Min => numbers.iter().copied().reduce(f64::min),
                            Aggregate::Max => numbers.iter().copied().reduce(f64::max),
                        };
                        (window, got)
                    }
                };
                let result = got.is_some_and(|g| compare_f64(g, *cmp, *value));
                let shown =
                    || got.map_or_else(|| "none".to_owned(), |g| Literal::Number(g).to_string());
                self.record(c, shown, window.as_ref(), result);
                result
            }
            Condition::Moment {
                which,
                selection,
                window,
                cmp,
                value,
            } => {
                let got = if self.in_order {
                    // The first (last) matching event in time order is the
                    // first (last) met walking from that end.
                    let mut hits = self.selected(selection, window.as_ref());
                    match which {
                        Which::First => hits.next(),
                        Which::Last => hits.next_back(),
                    }
                    .map(|e| e.time)
                } else {
                    let matching = self.matching(selection, window.as_ref());
                    match which {
                        Which::First => matching.first().map(|e| e.time),
                        Which::Last => matching.last().map(|e| e.time),
                    }
                };
                let target = value.resolve(self.now);
                let result = got.is_some_and(|t| cmp.holds(t.cmp(&target)));
                let shown = || got.map_or_else(|| "none".to_owned(), cohort_store::format_millis);
                self.record(c, shown, window.as_ref(), result);
                result
            }
            Condition::Seq {
                steps,
                within,
                window,
            } => {
                let (lo, hi) = bounds(window.as_ref(), self.now);
                let mut inside: Vec<&EventRecord> = self
                    .around(lo, hi)
                    .iter()
                    .filter(|e| e.time >= lo && e.time <= hi)
                    .collect();
                time_order(&mut inside);
                let result = seq_holds(&inside, steps, within.map(|d| d.millis()), self.now);
                self.record(c, || result.to_string(), window.as_ref(), result);
                result
            }
            Condition::Profile(t) => {
                let age;
                let value = match t.path() {
                    ProfilePath::Tag(key) => self
                        .profile
                        .tags
                        .get(key)
                        .and_then(|h| Profile::value_at(h, self.now)),
                    ProfilePath::User(a) => self
                        .profile
                        .attributes
                        .get(a)
                        .and_then(|h| Profile::value_at(h, self.now)),
                    ProfilePath::Age => {
                        age = self.birth().age(self.now).map(|y| Value::Number(y as f64));
                        age.as_ref()
                    }
                };
                let result = test_value(t, value, self.now);
                let shown =
                    || value.map_or_else(|| "missing".to_owned(), |v| v.to_json().to_string());
                self.record(c, shown, None, result);
                result
            }
            Condition::Birthday => {
                let birth = self.birth();
                let result = birth.is_birthday(self.now);
                let shown = || {
                    birth
                        .dob
                        .map_or_else(|| "no dob".to_owned(), |d| format!("dob {d}"))
                };
                self.record(c, shown, None, result);
                result
            }
            Condition::InSegment(name) => {
                // Resolved before evaluation: known, acyclic, bounded.
                let result = match self.memo.get(name) {
                    Some(&r) => r,
                    None => {
                        let filter = self.resolved.filter(name);
                        let r = self.expr(filter);
                        self.memo.insert(name.clone(), r);
                        r
                    }
                };
                self.record(c, || result.to_string(), None, result);
                result
            }
        }
    }
}

/// Puts events in time order (events given in time order, as a store
/// reads them, are left as they are).
fn time_order(events: &mut [&EventRecord]) {
    if !events.is_sorted_by_key(|e| (e.time, e.seq)) {
        events.sort_by_key(|e| (e.time, e.seq));
    }
}

/// Whether events e1 < e2 < … < ek (strictly increasing times) match the
/// steps, with `ek − e1 ≤ within`. For each candidate first event, taking
/// the earliest later event for every next step is optimal: it leaves the
/// most room for the steps after it and makes `ek` as small as it can be.
fn seq_holds(events: &[&EventRecord], steps: &[Selection], within: Option<i64>, now: i64) -> bool {
    for (i, first) in events.iter().enumerate() {
        if !selects(&steps[0], first, now) {
            continue;
        }
        let mut at = first.time;
        let mut ok = true;
        for step in &steps[1..] {
            match events[i..]
                .iter()
                .find(|e| e.time > at && selects(step, e, now))
            {
                Some(e) => at = e.time,
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if ok && within.is_none_or(|d| at - first.time <= d) {
            return true;
        }
    }
    false
}

fn selects(selection: &Selection, e: &EventRecord, now: i64) -> bool {
    let type_ok = match &selection.event {
        EventSel::Any => true,
        EventSel::Named(name) => &e.event_type == name,
    };
    type_ok
        && selection
            .predicate
            .as_ref()
            .is_none_or(|p| predicate(p, e, now))
}

fn lookup<'e>(e: &'e EventRecord, key: &str) -> Option<&'e Value> {
    e.data.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn predicate(p: &Predicate, e: &EventRecord, now: i64) -> bool {
    match p {
        Predicate::Or(items) => items.iter().any(|q| predicate(q, e, now)),
        Predicate::And(items) => items.iter().all(|q| predicate(q, e, now)),
        Predicate::Not(inner) => !predicate(inner, e, now),
        Predicate::Test(t) => test(t, e, now),
    }
}

/// One test of one event's data (see [`crate::profile::test_value`]).
fn test(t: &Test, e: &EventRecord, now: i64) -> bool {
    test_value(t, lookup(e, &t.path().key), now)
}

fn compare_f64(a: f64, cmp: Cmp, b: f64) -> bool {
    a.partial_cmp(&b).is_some_and(|o| cmp.holds(o))
}

#[cfg(test)]
mod tests {
    use cohort_event::SubjectKind;
    use cohort_filter::parse;

    use super::*;

    const DAY: i64 = 86_400_000;
    const NOW: i64 = 1_780_000_000_000;

    fn event(ty: &str, time: i64, seq: u64, amount: f64) -> EventRecord {
        EventRecord {
            subject_kind: SubjectKind::User,
            subject_id: String::new(),
            event_type: ty.to_owned(),
            time,
            seq,
            data: vec![("amount".to_owned(), Value::Number(amount))],
        }
    }

    /// Events in time order exactly on a window's bounds (and one past
    /// each) are found by the binary search as by the pass over every
    /// event: the in-order path agrees with the plain one, and with the
    /// counts worked out by hand.
    #[test]
    fn in_order_evaluation_keeps_events_on_a_windows_bounds() {
        let lo = NOW - 7 * DAY;
        let events = [
            event("purchase", lo - 1, 1, 1.0),
            event("purchase", lo, 2, 10.0),
            event("view", lo, 3, 0.0),
            event("purchase", NOW - DAY, 4, 100.0),
            event("view", NOW, 5, 0.0),
            event("purchase", NOW, 6, 1000.0),
            event("purchase", NOW + 1, 7, 10000.0),
        ];
        let cases = [
            ("count(purchase, last 7d) = 3", true),
            ("count(purchase) = 4", true),
            ("sum(purchase, data.amount, last 7d) = 1110", true),
            ("min(purchase, data.amount, last 7d) = 10", true),
            ("days(purchase, last 7d) = 3", true),
            ("count(*, last 7d) = 5", true),
            ("first(purchase) = now - 7d", false),
            ("first(purchase) < now - 7d", true),
            ("first(purchase, last 7d) = now - 7d", true),
            ("last(purchase) = now", true),
            ("last(view, last 7d) = now", true),
            ("first(*, last 7d) >= now - 7d", true),
            ("seq(purchase -> view, last 7d)", true),
            ("seq(view -> purchase, within 1d, last 7d)", false),
            ("seq(view -> purchase, last 7d)", true),
            ("did(purchase, between now - 8d and now - 7d)", true),
            ("count(purchase, between now - 7d and now) = 2", true),
            ("count(purchase, since now - 7d) = 3", true),
            // A window that ends before it starts holds nothing.
            ("did(*, between now - 1d and now - 7d)", false),
            ("not did(*, between now and now - 7d)", true),
            ("count(purchase, since now + 1d) = 0", true),
        ];
        let profile = Profile::default();
        let subject = Subject {
            events: &events,
            profile: &profile,
        };
        for (filter, want) in cases {
            let expr = parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
            let resolved = resolve(std::slice::from_ref(&expr), &NoSegments).unwrap();
            let plain = evaluate_resolved(&expr, &resolved, subject, NOW);
            let in_order = evaluate_in_order(&expr, &resolved, subject, NOW);
            assert_eq!(in_order, plain, "{filter}");
            assert_eq!(plain, want, "{filter}");
        }
        // Negative times (before 1970) the same way.
        let before_1970: Vec<EventRecord> = events
            .iter()
            .map(|e| EventRecord {
                time: e.time - 2 * NOW,
                ..e.clone()
            })
            .collect();
        let subject = Subject {
            events: &before_1970,
            profile: &profile,
        };
        for (filter, want) in cases {
            let expr = parse(filter).unwrap();
            let resolved = resolve(std::slice::from_ref(&expr), &NoSegments).unwrap();
            let plain = evaluate_resolved(&expr, &resolved, subject, -NOW);
            let in_order = evaluate_in_order(&expr, &resolved, subject, -NOW);
            assert_eq!((in_order, plain), (want, want), "{filter} before 1970");
        }
        let subject = Subject {
            events: &events,
            profile: &profile,
        };
        // Before the first event, nothing holds (not even `not`).
        let expr = parse("not did(purchase)").unwrap();
        let resolved = resolve(std::slice::from_ref(&expr), &NoSegments).unwrap();
        assert!(!evaluate_in_order(&expr, &resolved, subject, lo - 2));
        assert!(!evaluate_in_order(&expr, &resolved, subject, lo - 1));
    }
}
