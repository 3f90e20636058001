//! Issue 9: a store written by bulk loads and one written by track
//! requests hold the same thing. Random events are split at random between
//! the two paths — bulk loads (`ingest_reader` on a store opened for bulk
//! loading, in small chunks) and track requests of one to nine events
//! (each synced, small blocks merged) — alternating in runs, and the result
//! is compared with a store that took all of them in one write: every
//! filter's members (fast and reference evaluators), each subject's facts
//! and events, the catalog, and recent events across the store.
//!
//! Users only: a device's `@first_session` is dated by the batch that
//! first brings it, so batching legitimately moves it.

use cohort::eval::{evaluate, reference, EvalOptions, Executor, NoSegments};
use cohort::ingest::{ingest_reader, IngestOptions, Observer, Resume};
use cohort::{AppendOptions, RecentQuery, Source, Store, StoreOptions, SubjectKind};
use proptest::prelude::*;

const NOW: i64 = 1_780_000_000_000;
const HOUR: i64 = 3_600_000;

/// The filters compared: every condition kind, with data predicates and
/// windows that cut through the generated times.
const FILTERS: &[&str] = &[
    "did(a)",
    "count(a, last 48h) >= 2",
    "count(* where data.x >= 1, last 100h) >= 1",
    "days(b, last 10d) >= 2",
    "sum(a, data.x, last 200h) > 2",
    "avg(b, data.x) <= 1",
    "min(a, data.x) < 0 or max(b, data.x) >= 3",
    "first(a) < now - 50h",
    "last(* where data.s = \"y\") > now - 30h",
    "seq(a -> b, within 20h)",
    "seq(a -> b -> c, last 100h)",
    "did(c where data.s contains \"x\") and not did(a, last 24h)",
    "count(b where data.x in (1, 2), between now - 150h and now - 10h) = 1",
];

fn event() -> impl Strategy<Value = String> {
    (
        0u8..12,
        prop_oneof![Just("a"), Just("b"), Just("c")],
        -240i64..24,
        0i64..3,
        prop::option::of(-2i32..4),
        prop::option::of(prop_oneof![Just("x"), Just("y"), Just("xy")]),
    )
        .prop_map(|(n, ty, hours, jitter, x, s)| {
            let mut data = Vec::new();
            if let Some(x) = x {
                data.push(format!(r#""x":{x}"#));
            }
            if let Some(s) = s {
                data.push(format!(r#""s":"{s}""#));
            }
            format!(
                r#"{{"subjectType":"user","subjectId":"u{n}","type":"{ty}","createdAt":{},"data":{{{}}}}}"#,
                NOW + hours * HOUR + jitter,
                data.join(",")
            )
        })
}

/// Everything about a store the two paths must agree on, as comparable text.
fn contents(store: &Store) -> Vec<String> {
    let view = store.view();
    let mut out = Vec::new();
    for text in FILTERS {
        let filter = cohort::filter::parse(text).unwrap();
        let options = EvalOptions {
            now: NOW,
            kind: SubjectKind::User,
            executor: Executor::single_thread(),
        };
        let fast = evaluate(&view, &filter, &NoSegments, &options).unwrap();
        let mut ids: Vec<String> = fast
            .iter()
            .map(|sid| view.subject_id(SubjectKind::User, sid).unwrap())
            .collect();
        ids.sort();
        // The reference evaluator, subject by subject, agrees.
        for n in 0..12 {
            let id = format!("u{n}");
            let events = view.events(SubjectKind::User, &id, ..).unwrap();
            let holds = reference::evaluate(
                &filter,
                reference::Subject::with_events(&events),
                NOW,
                &NoSegments,
            )
            .unwrap();
            assert_eq!(holds, ids.contains(&id), "{text} for {id}");
        }
        out.push(format!("{text}: {ids:?}"));
    }
    for n in 0..12 {
        let id = format!("u{n}");
        let facts = view.subject_facts(SubjectKind::User, &id);
        let events = view.events(SubjectKind::User, &id, ..).unwrap();
        out.push(format!("{id}: {facts:?} {events:?}"));
    }
    for entry in store.catalog().unwrap() {
        out.push(format!("{entry:?}"));
    }
    let recent = view
        .recent(&RecentQuery {
            limit: 10_000,
            ..Default::default()
        })
        .unwrap();
    out.push(format!("{:?}", recent.events));
    out
}

fn bulk(dir: &std::path::Path, lines: &[String], chunk_bytes: usize) {
    let store = Store::open(
        dir,
        StoreOptions {
            bulk_load: true,
            ..Default::default()
        },
    )
    .unwrap();
    let input = lines.join("\n");
    let report = ingest_reader(
        &store,
        "run",
        input.as_bytes(),
        &IngestOptions {
            chunk_bytes,
            resume: Resume::Never,
            ..Default::default()
        },
        &mut Observer {
            on_reject: &mut |r| panic!("rejected: {r}"),
            on_progress: &mut |_| {},
        },
    )
    .unwrap();
    assert_eq!(report.stored, lines.len() as u64);
    store.flush().unwrap();
}

fn requests(dir: &std::path::Path, lines: &[String], sizes: &[usize]) {
    let store = Store::open(dir, StoreOptions::default()).unwrap();
    let mut rest = lines;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap()).min(rest.len());
        let body = format!(r#"{{"events":[{}]}}"#, rest[..n].join(","));
        let receipt = cohort::app::track(&store, body.as_bytes(), Source::Client).unwrap();
        assert_eq!(receipt.stored, n);
        rest = &rest[n..];
    }
}

#[test]
fn bulk_loads_and_track_requests_make_the_same_store() {
    let config = ProptestConfig {
        cases: 12,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let strategy = (
        prop::collection::vec((event(), any::<bool>()), 1..120),
        prop::collection::vec(1usize..10, 1..8),
        64usize..1024,
    );
    proptest!(config, |((tagged, sizes, chunk_bytes) in strategy)| {
        let all: Vec<String> = tagged.iter().map(|(e, _)| e.clone()).collect();
        let one = tempfile::tempdir().unwrap();
        {
            let store = Store::open(one.path(), StoreOptions::default()).unwrap();
            let events: Vec<_> = all
                .iter()
                .map(|l| cohort::parse_event(l.as_bytes(), Source::Client).unwrap())
                .collect();
            store.append(&events, AppendOptions::default()).unwrap();
        }
        let mixed = tempfile::tempdir().unwrap();
        // Runs of consecutive events that take the same path, in order.
        let mut start = 0;
        while start < tagged.len() {
            let path = tagged[start].1;
            let end = tagged[start..]
                .iter()
                .position(|(_, p)| *p != path)
                .map_or(tagged.len(), |i| start + i);
            if path {
                bulk(mixed.path(), &all[start..end], chunk_bytes);
            } else {
                requests(mixed.path(), &all[start..end], &sizes);
            }
            start = end;
        }
        let want = contents(&Store::open(one.path(), StoreOptions::read_only()).unwrap());
        let got = contents(&Store::open(mixed.path(), StoreOptions::read_only()).unwrap());
        prop_assert_eq!(got, want);
    });
}
