//! The ten benchmark segments (benches/compare/segments.toml) on a
//! generated store: `cohort gen`'s stream, 1,000,000 events, 20,000 users,
//! 365 days (about 10 s to build before measuring). Each segment alone,
//! then all ten in one batch; and one `last 30d` segment on 365 and 730
//! days of history at the same events per day, to show that the time of a
//! windowed segment does not grow with history; and one segment on a store
//! written in bulk and on one written by small requests.

use cohort::eval::{evaluate, evaluate_many, EvalOptions, NoSegments};
use cohort::generate::{generate, GenOptions};
use cohort::ingest::{ingest_reader, IngestOptions, Observer};
use cohort::{Source, Store, StoreOptions};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

const END: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn store_with(events: u64, days: u32) -> (tempfile::TempDir, Store) {
    store_written(events, days, 4 << 20)
}

/// A store fed `cohort gen`'s stream in writes of `chunk_bytes` of input
/// (4 MiB: the bulk path; 16 KiB: about 100 events, like track requests).
fn store_written(events: u64, days: u32, chunk_bytes: usize) -> (tempfile::TempDir, Store) {
    let mut ndjson = Vec::new();
    generate(
        &GenOptions {
            profiles: false,
            users: 20_000,
            events,
            days,
            seed: 1,
            end: END,
        },
        &mut ndjson,
        &mut |_| {},
    )
    .expect("generate");
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("a store");
    let report = ingest_reader(
        &store,
        "generated",
        ndjson.as_slice(),
        &IngestOptions {
            source: Source::System,
            chunk_bytes,
            ..Default::default()
        },
        &mut Observer {
            on_reject: &mut |_| {},
            on_progress: &mut |_| {},
        },
    )
    .expect("ingest");
    assert_eq!(report.rejected, 0);
    (dir, store)
}

/// (name, filter) of every segment in segments.toml.
fn segments() -> Vec<(String, cohort::filter::Expr)> {
    #[derive(serde::Deserialize)]
    struct File {
        segments: std::collections::BTreeMap<String, Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        filter: String,
    }
    let text = include_str!("../compare/segments.toml");
    let file: File = toml::from_str(text).expect("segments.toml");
    file.segments
        .into_iter()
        .map(|(name, e)| (name, cohort::filter::parse(&e.filter).expect("valid")))
        .collect()
}

fn segments_bench(c: &mut Criterion) {
    let (_dir, store) = store_with(1_000_000, 365);
    let options = EvalOptions::at(END);
    let all = segments();
    let mut g = c.benchmark_group("segments_1m");
    g.sample_size(30);
    for (name, filter) in &all {
        g.bench_with_input(BenchmarkId::from_parameter(name), filter, |b, f| {
            b.iter(|| evaluate(&store.view(), f, &NoSegments, &options).expect("eval"))
        });
    }
    let exprs: Vec<_> = all.iter().map(|(_, e)| e.clone()).collect();
    g.bench_function("all_ten_batch", |b| {
        b.iter(|| evaluate_many(&store.view(), &exprs, &NoSegments, &options).expect("eval"))
    });
    g.finish();
}

fn history_bench(c: &mut Criterion) {
    let filter = cohort::filter::parse("count(purchase, last 30d) >= 2").expect("valid");
    let mut g = c.benchmark_group("history_last_30d");
    g.sample_size(30);
    for days in [365u32, 730] {
        let (_dir, store) = store_with(1_000_000 * u64::from(days) / 365, days);
        g.bench_with_input(BenchmarkId::new("days", days), &filter, |b, f| {
            b.iter(|| evaluate(&store.view(), f, &NoSegments, &EvalOptions::at(END)).expect("eval"))
        });
    }
    g.finish();
}

/// The same segment on a store written in bulk and one written by ~100-event
/// requests, whose small blocks are merged as they arrive.
fn write_pattern_bench(c: &mut Criterion) {
    let filter = cohort::filter::parse("count(purchase, last 30d) >= 2").expect("valid");
    let mut g = c.benchmark_group("write_pattern_last_30d");
    g.sample_size(30);
    for (name, chunk) in [("bulk_4mib", 4 << 20), ("requests_16kib", 16 << 10)] {
        let (_dir, store) = store_written(300_000, 365, chunk);
        g.bench_with_input(BenchmarkId::from_parameter(name), &filter, |b, f| {
            b.iter(|| evaluate(&store.view(), f, &NoSegments, &EvalOptions::at(END)).expect("eval"))
        });
    }
    g.finish();
}

criterion_group!(benches, segments_bench, history_bench, write_pattern_bench);
criterion_main!(benches);
