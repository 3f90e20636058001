//! Shared test helpers: stores from NDJSON, and running both evaluators.
#![allow(dead_code, missing_docs)]

use std::collections::BTreeSet;

use cohort_eval::{evaluate, reference, EvalOptions, Segments};
use cohort_filter::Expr;
use cohort_store::{AppendOptions, Source, Store, StoreOptions, SubjectKind};

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

/// Members by subject ID from the fast evaluator, parallel and sequential
/// (which must agree), and from the reference evaluator.
pub fn members_all_ways(
    store: &Store,
    filter: &Expr,
    kind: SubjectKind,
    now: i64,
    segments: &dyn Segments,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let names = |bits: &roaring::RoaringBitmap| -> BTreeSet<String> {
        bits.iter()
            .map(|sid| store.subject_id(kind, sid).unwrap())
            .collect()
    };
    let parallel = evaluate(
        store,
        filter,
        segments,
        &EvalOptions {
            now,
            kind,
            parallel: true,
        },
    )
    .unwrap();
    let sequential = evaluate(
        store,
        filter,
        segments,
        &EvalOptions {
            now,
            kind,
            parallel: false,
        },
    )
    .unwrap();
    assert_eq!(
        parallel, sequential,
        "parallel and single-threaded differ for {filter}"
    );
    let mut reference_members = BTreeSet::new();
    for sid in 0..store.facts(kind).len() as u32 {
        let id = store.subject_id(kind, sid).unwrap();
        let events = store.events(kind, &id, ..).unwrap();
        if reference::evaluate(filter, &events, now, segments).unwrap() {
            reference_members.insert(id);
        }
    }
    (names(&parallel), reference_members)
}
