//! The benchmark segments (benches/compare/segments.toml: ten over events,
//! three over tags and attributes) on a generated store with profiles: the
//! fast evaluator, parallel and single-threaded, gives exactly the
//! reference evaluator's members. The store is ingested in small chunks, so
//! every bucket holds many blocks.

use std::collections::BTreeSet;

use cohort::eval::{evaluate, reference, EvalOptions, Executor, NoSegments};
use cohort::generate::{generate, GenOptions};
use cohort::ingest::{ingest_reader, IngestOptions, Observer};
use cohort::{Source, Store, StoreOptions, SubjectKind};

const END: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

#[derive(serde::Deserialize)]
struct File {
    segments: std::collections::BTreeMap<String, Entry>,
}

#[derive(serde::Deserialize)]
struct Entry {
    filter: String,
}

#[test]
fn benchmark_segments_match_the_reference_evaluator() {
    let mut ndjson = Vec::new();
    generate(
        &GenOptions {
            profiles: true,
            users: 1500,
            events: 150_000,
            days: 200,
            seed: 11,
            end: END,
        },
        &mut ndjson,
        &mut |_| {},
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let report = ingest_reader(
        &store,
        "generated",
        ndjson.as_slice(),
        &IngestOptions {
            source: Source::System,
            chunk_bytes: 256 << 10,
            ..Default::default()
        },
        &mut Observer {
            on_reject: &mut |r| panic!("{r}"),
            on_progress: &mut |_| {},
        },
    )
    .unwrap();
    assert_eq!(report.stored, 150_000);

    let file: File =
        toml::from_str(include_str!("../../../benches/compare/segments.toml")).unwrap();
    assert_eq!(file.segments.len(), 13);
    let kind = SubjectKind::User;
    let view = store.view();
    let users: Vec<(String, Vec<cohort::EventRecord>, cohort::Profile)> =
        (0..store.facts(kind).len() as u32)
            .map(|sid| {
                let id = store.subject_id(kind, sid).unwrap();
                let events = store.events(kind, &id, ..).unwrap();
                (id, events, view.profile_of(kind, sid).unwrap())
            })
            .collect();
    for (name, entry) in &file.segments {
        let filter = cohort::filter::parse(&entry.filter).unwrap();
        let expected: BTreeSet<&str> = users
            .iter()
            .filter(|(_, events, profile)| {
                reference::evaluate(
                    &filter,
                    reference::Subject { events, profile },
                    END,
                    &NoSegments,
                )
                .unwrap()
            })
            .map(|(id, _, _)| id.as_str())
            .collect();
        for (parallel, executor) in [
            (true, Executor::with_threads(3).unwrap()),
            (false, Executor::single_thread()),
        ] {
            let options = EvalOptions {
                now: END,
                kind,
                executor,
            };
            let got = evaluate(&store.view(), &filter, &NoSegments, &options).unwrap();
            let got: Vec<String> = got
                .iter()
                .map(|s| store.subject_id(kind, s).unwrap())
                .collect();
            let got: BTreeSet<&str> = got.iter().map(String::as_str).collect();
            assert_eq!(got, expected, "{name} (parallel: {parallel})");
        }
        // A segment nobody matches would prove little.
        assert!(!expected.is_empty(), "{name} matches nobody at this size");
    }
}
