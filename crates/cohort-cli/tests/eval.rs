//! `cohort eval`, `check`, `explain` and `segment` end to end.

use std::path::Path;

mod common;

use common::{cohort, text};

const EVENTS: &str = r#"{"subjectType":"user","subjectId":"a","type":"purchase","createdAt":"2026-05-20T10:00:00Z","data":{"amount":12000,"category":"books"}}
{"subjectType":"user","subjectId":"a","type":"purchase","createdAt":"2026-05-25T10:00:00Z","data":{"amount":3000}}
{"subjectType":"user","subjectId":"b","type":"purchase","createdAt":"2026-05-31T09:00:00Z","data":{"amount":"12000"}}
{"subjectType":"user","subjectId":"d","type":"app_open","createdAt":"2026-03-01T00:00:00Z"}
{"subjectType":"device","subjectId":"x1","type":"app_open","createdAt":"2026-05-31T00:00:00Z"}
"#;

fn store(dir: &Path) -> String {
    let file = dir.join("events.ndjson");
    std::fs::write(&file, EVENTS).unwrap();
    let db = dir.join("db").display().to_string();
    let out = cohort(&["ingest", "--db", &db, file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    db
}

const NOW: &str = "2026-06-01T00:00:00Z";

#[test]
fn eval_prints_counts_ids_json_and_writes_roaring() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path());
    let f = "count(purchase, last 30d) >= 1";
    let out = cohort(&["eval", "--db", &db, "--now", NOW, "--format", "count", f]);
    assert_eq!(text(&out.stdout), "2\n", "{}", text(&out.stderr));
    let out = cohort(&["eval", "--db", &db, "--now", NOW, "--format", "ids", f]);
    assert_eq!(text(&out.stdout), "a\nb\n");
    let out = cohort(&[
        "eval",
        "--db",
        &db,
        "--now",
        "2026-06-01",
        "--format",
        "json",
        "not did(purchase)",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ids"], serde_json::json!(["d"]));
    assert_eq!(v["count"], 1);
    let out = cohort(&[
        "eval",
        "--db",
        &db,
        "--now",
        NOW,
        "--subject",
        "device",
        "did(app_open)",
    ]);
    assert!(
        text(&out.stdout)
            .starts_with("1 devices match, of 1 with an event or profile change at or before 2026-06-01T00:00:00.000Z"),
        "{}",
        text(&out.stdout)
    );
    let bits = dir.path().join("m.roaring");
    let out = cohort(&[
        "eval",
        "--db",
        &db,
        "--now",
        NOW,
        "--out",
        bits.to_str().unwrap(),
        f,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let bitmap =
        roaring::RoaringBitmap::deserialize_from(std::fs::File::open(&bits).unwrap()).unwrap();
    assert_eq!(bitmap.len(), 2);
}

#[test]
fn a_bad_filter_shows_the_caret_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path());
    let out = cohort(&["eval", "--db", &db, "count(purchase, last x) >= 2"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: expected a duration like 30d after `last`\n --> line 1, column 22\n  |\n1 | count(purchase, last x) >= 2\n  |                      ^\n"
    );
    let out = cohort(&["check", "did(purchase where data.vip < true)"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot order booleans"));
    let out = cohort(&["check", "did( purchase,last 30d)"]);
    assert_eq!(text(&out.stdout), "ok: did(purchase, last 30d)\n");
}

#[test]
fn explain_shows_each_condition() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path());
    let out = cohort(&[
        "explain",
        "--db",
        &db,
        "--now",
        NOW,
        "--user",
        "b",
        "count(purchase, last 30d) >= 2 or sum(purchase, data.amount) > 0",
    ]);
    let shown = text(&out.stdout);
    assert!(
        shown.starts_with(
            "user b at 2026-06-01T00:00:00.000Z: OUT (1 of 1 events at or before now)"
        ),
        "{shown}"
    );
    assert!(shown.contains("false count(purchase, last 30d) >= 2  = 1  window [2026-05-02T00:00:00.000Z .. 2026-06-01T00:00:00.000Z]"), "{shown}");
    assert!(
        shown.contains("false sum(purchase, data.amount) > 0  = 0"),
        "{shown}"
    );
}

#[test]
fn saved_segments_are_used_by_in_segment_and_cycles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path());
    let out = cohort(&[
        "segment",
        "save",
        "--db",
        &db,
        "buyers",
        "did(purchase)",
        "--description",
        "Anyone who bought",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = cohort(&[
        "eval",
        "--db",
        &db,
        "--now",
        NOW,
        "--format",
        "ids",
        "in_segment(\"buyers\") and sum(purchase, data.amount) > 0",
    ]);
    assert_eq!(text(&out.stdout), "a\n");
    let out = cohort(&[
        "segment",
        "save",
        "--db",
        &db,
        "loop",
        "in_segment(\"loop\")",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("segments refer to each other in a cycle: loop -> loop"),
        "{}",
        text(&out.stderr)
    );
    let out = cohort(&["eval", "--db", &db, "in_segment(\"nope\")"]);
    assert!(
        text(&out.stderr).contains("unknown segment \"nope\""),
        "{}",
        text(&out.stderr)
    );
    let out = cohort(&["segment", "list", "--db", &db]);
    assert!(text(&out.stdout).contains("buyers"));
    let out = cohort(&["segment", "show", "--db", &db, "buyers"]);
    assert!(text(&out.stdout).contains("description: Anyone who bought"));
    assert_eq!(
        cohort(&["segment", "delete", "--db", &db, "buyers"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        cohort(&["segment", "delete", "--db", &db, "buyers"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn a_batch_writes_one_roaring_file_per_segment_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path());
    let toml = dir.path().join("segments.toml");
    std::fs::write(
        &toml,
        r#"
[segments.buyers]
filter = "did(purchase)"
description = "Anyone who bought"

[segments.big]
filter = 'in_segment("buyers") and sum(purchase, data.amount) >= 10000'

[segments.phones]
filter = "did(app_open)"
subject = "device"
"#,
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = cohort(&[
        "eval",
        "--db",
        &db,
        "--now",
        NOW,
        "--segments",
        toml.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let read = |name: &str| {
        roaring::RoaringBitmap::deserialize_from(std::fs::File::open(out_dir.join(name)).unwrap())
            .unwrap()
            .len()
    };
    assert_eq!(
        (
            read("buyers.roaring"),
            read("big.roaring"),
            read("phones.roaring")
        ),
        (2, 1, 1)
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    let names: Vec<_> = summary["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["members"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("big".to_owned(), 1),
            ("buyers".to_owned(), 2),
            ("phones".to_owned(), 1)
        ]
    );
}
