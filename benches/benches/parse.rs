//! Filter parsing: typical filters, and the inputs that make a
//! backtracking grammar go exponential (deep parentheses, long chains).
//! Time must grow linearly with depth.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    let typical = "count(purchase where data.amount >= 10000 and data.category = \"books\", last 180d) >= 1 \
                   and not did(@clicked, last 7d) or seq(view_item -> add_to_cart -> purchase, within 1d, last 30d)";
    g.throughput(Throughput::Bytes(typical.len() as u64));
    g.bench_function("typical", |b| {
        b.iter(|| cohort_filter::parse(typical).expect("valid"))
    });
    for depth in [8usize, 16, 32, 63] {
        let nested = format!("{}did(a){}", "(".repeat(depth), ")".repeat(depth));
        g.throughput(Throughput::Elements(depth as u64));
        g.bench_with_input(BenchmarkId::new("nested_parens", depth), &nested, |b, f| {
            b.iter(|| cohort_filter::parse(f).expect("valid"))
        });
        let pred = format!(
            "did(a where {}data.x = 1{})",
            "(".repeat(depth - 1),
            ")".repeat(depth - 1)
        );
        g.bench_with_input(
            BenchmarkId::new("nested_predicate", depth),
            &pred,
            |b, f| b.iter(|| cohort_filter::parse(f).expect("valid")),
        );
    }
    for n in [10usize, 100, 1000] {
        let chain = vec!["did(a) and count(b, last 1d) >= 2"; n].join(" or ");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("or_chain", n), &chain, |b, f| {
            b.iter(|| cohort_filter::parse(f).expect("valid"))
        });
    }
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
