//! Shared test helpers: stores from NDJSON, and running both evaluators.
#![allow(dead_code, missing_docs)]

use std::collections::BTreeSet;

use cohort_eval::{evaluate, reference, resolve, EvalOptions, Executor, Segments};
use cohort_filter::Expr;
use cohort_store::{AppendOptions, Source, Store, StoreOptions, SubjectKind, View};

pub fn store_from_ndjson(dir: &std::path::Path, ndjson: &str) -> Store {
    let store = Store::open(dir, StoreOptions::default()).unwrap();
    // Lines are events or whole track requests (tags, attributes); a
    // `dob` is checked against the latest day there is.
    let mut all = cohort_event::TrackRequest::default();
    for l in ndjson.lines().filter(|l| !l.trim().is_empty()) {
        match cohort_event::parse_line(l.as_bytes(), Source::System, cohort_event::MAX_MILLIS)
            .unwrap_or_else(|e| panic!("{l}: {e:?}"))
        {
            cohort_event::Line::Event(e) => all.events.push(e),
            cohort_event::Line::Request(r) => {
                all.events.extend(r.events);
                all.tags.extend(r.tags);
                all.attributes.extend(r.attributes);
            }
        }
    }
    store
        .apply(
            &all,
            AppendOptions {
                received_at: Some(0),
                ..Default::default()
            },
        )
        .unwrap();
    store
}

/// An executor with three threads, shared by the tests of a binary (three,
/// so that scans split unevenly on a two-core machine too).
pub fn parallel() -> Executor {
    static POOL: std::sync::OnceLock<Executor> = std::sync::OnceLock::new();
    POOL.get_or_init(|| Executor::with_threads(3).unwrap())
        .clone()
}

/// Members by subject ID from the fast evaluator, parallel and sequential
/// (which must agree), and from the reference evaluator — all through one
/// read view.
pub fn members_all_ways(
    store: &Store,
    filter: &Expr,
    kind: SubjectKind,
    now: i64,
    segments: &dyn Segments,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let view = store.view();
    members_in_view(&view, filter, kind, now, segments)
}

/// [`members_all_ways`] on a given view.
pub fn members_in_view(
    view: &View<'_>,
    filter: &Expr,
    kind: SubjectKind,
    now: i64,
    segments: &dyn Segments,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let names = |bits: &roaring::RoaringBitmap| -> BTreeSet<String> {
        bits.iter()
            .map(|sid| view.subject_id(kind, sid).unwrap())
            .collect()
    };
    let run = |executor: Executor| {
        evaluate(
            view,
            filter,
            segments,
            &EvalOptions {
                now,
                kind,
                executor,
            },
        )
        .unwrap()
    };
    let parallel = run(parallel());
    let sequential = run(Executor::single_thread());
    assert_eq!(
        parallel, sequential,
        "parallel and single-threaded differ for {filter}"
    );
    let resolved = resolve(std::slice::from_ref(filter), segments).unwrap();
    let mut reference_members = BTreeSet::new();
    for sid in 0..view.subject_count(kind) {
        let id = view.subject_id(kind, sid).unwrap();
        let events = view.events(kind, &id, ..).unwrap();
        let profile = view.profile_of(kind, sid).unwrap();
        let subject = reference::Subject {
            events: &events,
            profile: &profile,
        };
        if reference::evaluate_resolved(filter, &resolved, subject, now) {
            reference_members.insert(id);
        }
    }
    (names(&parallel), reference_members)
}

/// Filters of random conditions combined with `and`, `or` and `not`, two
/// levels deep.
#[allow(dead_code)] // Not every test binary that shares this module uses it.
pub fn combined(
    condition: impl proptest::strategy::Strategy<Value = String> + 'static,
) -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    condition.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

/// Runs a property for `cases` cases on a thread with a large stack
/// (proptest's strategy trees are deep in debug builds); the strategy is
/// made on that thread.
#[allow(dead_code)]
pub fn check_property<S: proptest::strategy::Strategy>(
    cases: u32,
    strategy: impl FnOnce() -> S + Send + 'static,
    test: impl Fn(S::Value) -> Result<(), proptest::test_runner::TestCaseError> + Send + 'static,
) {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            let config = proptest::test_runner::Config {
                cases,
                ..Default::default()
            };
            let mut runner = proptest::test_runner::TestRunner::new(config);
            runner.run(&strategy(), test).unwrap();
        })
        .unwrap()
        .join()
        .unwrap();
}
