//! `cohort gen` and `cohort bench`, end to end.

mod common;

use common::{cohort, text};

fn gen(out: &std::path::Path, seed: &str) -> std::process::Output {
    cohort(&[
        "gen",
        "--users",
        "300",
        "--events",
        "20000",
        "--days",
        "60",
        "--seed",
        seed,
        "--end",
        "2026-01-01",
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn gen_is_deterministic_and_its_output_ingests_as_the_platform() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a.ndjson"),
        dir.path().join("b.ndjson"),
        dir.path().join("c.ndjson"),
    );
    for (path, seed) in [(&a, "5"), (&b, "5"), (&c, "6")] {
        let out = gen(path, seed);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stderr).starts_with("generated 20,000 events"));
    }
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(bytes, std::fs::read(&b).unwrap());
    assert_ne!(bytes, std::fs::read(&c).unwrap());
    assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 20_000);

    let db = dir.path().join("store");
    let db = db.to_str().unwrap();
    // A client may not send the automatic events the stream carries...
    let out = cohort(&["ingest", "--quiet", "--db", db, a.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("automatic"),
        "{}",
        text(&out.stderr)
    );
    // ...the platform may.
    let db2 = dir.path().join("store2");
    let db2 = db2.to_str().unwrap();
    let out = cohort(&[
        "ingest",
        "--system",
        "--quiet",
        "--db",
        db2,
        a.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("stored 20,000 events, rejected 0"));
}

#[test]
fn gen_refuses_bad_options_with_exit_2() {
    let out = cohort(&["gen", "--users", "0", "--events", "10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--users must be at least 1"));
    let out = cohort(&["gen", "--end", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--end"), "{}", text(&out.stderr));
}

#[test]
fn bench_times_each_segment_and_the_batch_and_writes_members() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("events.ndjson");
    assert!(gen(&data, "3").status.success());
    let db = dir.path().join("store");
    let db = db.to_str().unwrap();
    let out = cohort(&[
        "ingest",
        "--system",
        "--quiet",
        "--db",
        db,
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let segments = dir.path().join("segments.toml");
    std::fs::write(
        &segments,
        "[segments.buyers]\nfilter = \"did(purchase, last 30d)\"\n\
         [segments.everyone]\nfilter = \"first(*) <= now\"\n",
    )
    .unwrap();
    let members = dir.path().join("members");
    let out = cohort(&[
        "bench",
        "--db",
        db,
        "--now",
        "2026-01-01",
        "--segments",
        segments.to_str().unwrap(),
        "--runs",
        "3",
        "--warmup",
        "1",
        "--json",
        "--members",
        members.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["segments"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["name"], "buyers");
    assert_eq!(rows[0]["runs"], 3);
    assert!(rows[0]["medianMs"].as_f64().unwrap() >= rows[0]["minMs"].as_f64().unwrap());
    assert!(report["batch"]["medianMs"].as_f64().unwrap() > 0.0);
    // Members on file agree with `cohort eval` of the same filter.
    let listed = std::fs::read_to_string(members.join("buyers.txt")).unwrap();
    let out = cohort(&[
        "eval",
        "--db",
        db,
        "--now",
        "2026-01-01",
        "--format",
        "ids",
        "did(purchase, last 30d)",
    ]);
    let mut ids: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    ids.sort_unstable();
    assert_eq!(listed.lines().collect::<Vec<_>>(), ids);
    assert_eq!(rows[0]["members"].as_u64().unwrap() as usize, ids.len());
    assert!(!ids.is_empty());
    // Every user is in `everyone`.
    let everyone = std::fs::read_to_string(members.join("everyone.txt")).unwrap();
    assert!(everyone.lines().count() > ids.len());
}
