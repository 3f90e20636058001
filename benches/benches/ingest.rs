//! Ingest throughput: validation alone, and NDJSON into a fresh store.

use cohort::{parse_event, Source, Store, StoreOptions};
use cohort_benches::{cdnow_repeated, ingest_quietly, CDNOW_EVENTS};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const COPIES: usize = 5;

fn validate(c: &mut Criterion) {
    let input = cdnow_repeated(1);
    let mut g = c.benchmark_group("validate");
    g.throughput(Throughput::Elements(CDNOW_EVENTS));
    g.bench_function("cdnow_lines", |b| {
        b.iter(|| {
            let mut ok = 0u64;
            for line in input.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
                ok += u64::from(parse_event(line, Source::Client).is_ok());
            }
            assert_eq!(ok, CDNOW_EVENTS);
        })
    });
    g.finish();
}

fn ingest(c: &mut Criterion) {
    let input = cdnow_repeated(COPIES);
    let events = CDNOW_EVENTS * COPIES as u64;
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events));
    // As a serving store opens, and as `cohort ingest` opens it (bulk load).
    for (name, bulk_load) in [("serving", false), ("bulk_load", true)] {
        g.bench_function(format!("cdnow_x{COPIES}_ndjson_{name}"), |b| {
            b.iter_with_setup(
                || tempfile::tempdir().expect("a temp dir"),
                |dir| {
                    let options = StoreOptions {
                        bulk_load,
                        ..Default::default()
                    };
                    let store = Store::open(dir.path(), options).expect("a store");
                    let report = ingest_quietly(&store, &input);
                    assert_eq!(report.stored, events);
                    drop(store);
                    dir
                },
            )
        });
    }
    g.finish();
}

criterion_group!(benches, validate, ingest);
criterion_main!(benches);
