//! Segment evaluation on the CDNOW sample ×5 (348,295 events, 117,850
//! users), fast evaluator, parallel and single-threaded.

use cohort::eval::{evaluate, evaluate_many, EvalOptions, Executor, NoSegments};
use cohort::{Store, StoreOptions};
use cohort_benches::{cdnow_repeated, ingest_quietly};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

const FILTERS: [&str; 6] = [
    "count(purchase, last 30d) >= 2",
    "sum(purchase, data.dollarValue, last 90d) >= 100",
    "days(purchase) >= 5",
    "first(*) >= 1997-03-01",
    "seq(purchase -> purchase, within 7d)",
    "did(purchase, between 1997-03-01 and 1997-04-01) and not did(purchase, since 1997-04-01)",
];

fn eval(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("a store");
    let input = cdnow_repeated(5);
    ingest_quietly(&store, &input);
    let now = cohort::parse_rfc3339("1998-07-01T00:00:00Z")
        .expect("a time")
        .millis;
    let mut g = c.benchmark_group("eval_cdnow_x5");
    g.sample_size(20);
    for (i, text) in FILTERS.iter().enumerate() {
        let filter = cohort::filter::parse(text).expect("valid");
        for parallel in [true, false] {
            let name = if parallel { "parallel" } else { "single" };
            let executor = if parallel {
                Executor::shared()
            } else {
                Executor::single_thread()
            };
            g.bench_with_input(
                BenchmarkId::new(format!("f{}_{name}", i + 1), text),
                &filter,
                |b, f| {
                    b.iter(|| {
                        evaluate(
                            &store.view(),
                            f,
                            &NoSegments,
                            &EvalOptions {
                                now,
                                kind: cohort::SubjectKind::User,
                                executor: executor.clone(),
                            },
                        )
                        .expect("eval")
                    })
                },
            );
        }
    }
    let all: Vec<_> = FILTERS
        .iter()
        .map(|t| cohort::filter::parse(t).expect("valid"))
        .collect();
    g.bench_function("batch_all_parallel", |b| {
        b.iter(|| {
            evaluate_many(&store.view(), &all, &NoSegments, &EvalOptions::at(now)).expect("eval")
        })
    });
    g.finish();
}

criterion_group!(benches, eval);
criterion_main!(benches);
