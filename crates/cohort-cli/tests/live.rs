//! Live segments from the command line: `segment save --live`, the feed
//! through `cohort changes` (text and JSON, by segment, from a cursor), the
//! members counted by `segment list`, `render --change`, and `--no-live`.

mod common;

use common::{cohort, text};

#[test]
fn a_live_segment_records_its_changes_and_renders_their_entry_events() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    let db = db.to_str().unwrap();
    let input = dir.path().join("events.ndjson");
    let write = |lines: &str| {
        std::fs::write(&input, lines).unwrap();
        let out = cohort(&["ingest", "--db", db, "--again", input.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    write(concat!(
        r#"{"subjectType":"user","subjectId":"u1","type":"purchase","data":{"productName":"Tea"}}"#,
        "\n",
        r#"{"subjectType":"user","subjectId":"u2","type":"app_open"}"#,
        "\n"
    ));
    let out = cohort(&[
        "segment",
        "save",
        "--db",
        db,
        "--live",
        "twice",
        "count(purchase) >= 2",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("live: 0 members of 2 users decided"),
        "{}",
        text(&out.stdout)
    );
    let out = cohort(&[
        "segment",
        "save",
        "--db",
        db,
        "--live",
        "browsers",
        "not did(purchase)",
    ]);
    assert!(text(&out.stdout).contains("live: 1 members of 2 users decided (1 changes recorded)"));

    write(concat!(
        r#"{"subjectType":"user","subjectId":"u1","type":"purchase","data":{"productName":"Cake"}}"#,
        "\n"
    ));
    let out = cohort(&["changes", "--db", db, "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let records: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(
        (
            records[0]["segment"].as_str(),
            records[0]["subjectId"].as_str(),
            records[0]["cause"].as_str()
        ),
        (Some("browsers"), Some("u2"), Some("backfill"))
    );
    let entry = &records[1];
    assert_eq!(
        (
            entry["segment"].as_str(),
            entry["change"].as_str(),
            entry["cause"].as_str()
        ),
        (Some("twice"), Some("entered"), Some("write"))
    );
    assert_eq!(entry["entryEvent"]["data"]["productName"], "Cake");

    // By segment, from a cursor; text for people.
    let out = cohort(&["changes", "--db", db, "--segment", "twice", "--after", "1"]);
    let shown = text(&out.stdout);
    assert_eq!(shown.lines().count(), 1, "{shown}");
    assert!(
        shown.contains("entered") && shown.contains("u1") && shown.contains("entry event purchase"),
        "{shown}"
    );
    let out = cohort(&["changes", "--db", db, "--segment", "twice", "--after", "2"]);
    assert_eq!(text(&out.stdout), "");
    let out = cohort(&["changes", "--db", db, "--segment", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no segment named \"nope\""),
        "{}",
        text(&out.stderr)
    );

    let out = cohort(&["segment", "list", "--db", db]);
    assert!(
        text(&out.stdout).contains("[live (1 members)]"),
        "{}",
        text(&out.stdout)
    );

    let out = cohort(&[
        "render",
        "--db",
        db,
        "--change",
        "2",
        "{{ subject.id }} got {{ entry_event.data.productName }}",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim_end(), "u1 got Cake");
    let out = cohort(&["render", "--db", db, "--change", "1", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("change record 1 has no entry event"),
        "{}",
        text(&out.stderr)
    );

    let out = cohort(&[
        "segment",
        "save",
        "--db",
        db,
        "--no-live",
        "twice",
        "count(purchase) >= 2",
    ]);
    assert!(
        text(&out.stdout).contains("no longer live"),
        "{}",
        text(&out.stdout)
    );
    // Its member left, cause stop: the feed replayed still gives members.
    let out = cohort(&[
        "changes",
        "--db",
        db,
        "--segment",
        "twice",
        "--after",
        "2",
        "--format",
        "json",
    ]);
    let last: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(
        (last["change"].as_str(), last["cause"].as_str()),
        (Some("left"), Some("stop"))
    );
    let out = cohort(&["segment", "list", "--db", db]);
    assert_eq!(
        text(&out.stdout).matches("live (").count(),
        1,
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn the_feed_is_trimmed_to_its_retention() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store");
    let db = db.to_str().unwrap();
    let input = dir.path().join("events.ndjson");
    std::fs::write(
        &input,
        concat!(
            r#"{"subjectType":"user","subjectId":"u1","type":"purchase","createdAt":"2026-01-01T00:00:00Z"}"#,
            "\n"
        ),
    )
    .unwrap();
    assert!(cohort(&["ingest", "--db", db, input.to_str().unwrap()])
        .status
        .success());
    let out = cohort(&[
        "segment",
        "save",
        "--db",
        db,
        "--live",
        "buyers",
        "did(purchase)",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = cohort(&["changes", "--db", db, "--trim-before", "2000-01-01"]);
    assert_eq!(
        text(&out.stdout).trim(),
        "deleted 0 change records older than 2000-01-01T00:00:00.000Z"
    );
    assert_eq!(
        text(&cohort(&["changes", "--db", db]).stdout)
            .lines()
            .count(),
        1
    );
    let out = cohort(&["changes", "--db", db, "--trim-before", "9999-01-01"]);
    assert!(
        text(&out.stdout).starts_with("deleted 1 change records"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(text(&cohort(&["changes", "--db", db]).stdout), "");
    let out = cohort(&["changes", "--db", db, "--trim-before", "soon"]);
    assert_eq!(out.status.code(), Some(2));
}
