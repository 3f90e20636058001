//! Shared test helpers: stores from NDJSON, and running both evaluators.
#![allow(dead_code, missing_docs)]

use std::collections::BTreeSet;

use cohort_eval::{evaluate, reference, resolve, EvalOptions, Executor, Segments};
use cohort_filter::Expr;
use cohort_store::{AppendOptions, Source, Store, StoreOptions, SubjectKind, View};

pub fn store_from_ndjson(dir: &std::path::Path, ndjson: &str) -> Store {
    let store = Store::open(dir, StoreOptions::default()).unwrap();
    let events: Vec<_> = ndjson
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            cohort_event::parse_event(l.as_bytes(), Source::System)
                .unwrap_or_else(|e| panic!("{l}: {e:?}"))
        })
        .collect();
    store
        .append(
            &events,
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
        if reference::evaluate_resolved(filter, &resolved, &events, now) {
            reference_members.insert(id);
        }
    }
    (names(&parallel), reference_members)
}
