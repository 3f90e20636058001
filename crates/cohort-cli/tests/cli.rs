//! The `cohort` binary: exit codes, messages, formats.

use std::path::Path;
use std::process::Command;

mod common;

use common::{cohort, text};

fn write(dir: &Path, name: &str, content: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p.display().to_string()
}

const GOOD: &str = r#"{"subjectType":"user","subjectId":"u1","type":"purchase","data":{"amount":12000},"createdAt":"2026-05-20T10:00:00Z"}"#;

#[test]
fn ingest_exit_codes_say_whether_anything_was_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db").display().to_string();
    let ok = write(dir.path(), "ok.ndjson", &format!("{GOOD}\n"));
    let out = cohort(&["ingest", "--db", &db, &ok]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("stored 1 events, rejected 0, in "),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stdout).contains("durable"));

    let mixed = write(
        dir.path(),
        "mixed.ndjson",
        &format!("{GOOD}\n{{\"subjectType\":\"robot\"}}\n"),
    );
    let rejects = dir.path().join("rejects.ndjson");
    let out = cohort(&[
        "ingest",
        "--db",
        &db,
        "--rejects",
        rejects.to_str().unwrap(),
        &mixed,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(r#"mixed.ndjson:2: subjectType: must be "user" or "device", not "robot""#),
        "{err}"
    );
    let saved: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&rejects).unwrap().trim()).unwrap();
    assert_eq!(saved["line"], 2);
    assert_eq!(saved["errors"][0]["field"], "subjectType");
    assert_eq!(saved["text"], r#"{"subjectType":"robot"}"#);

    let out = cohort(&["ingest", "--db", &db, "/no/such/file.ndjson"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("opening /no/such/file.ndjson"),
        "{}",
        text(&out.stderr)
    );

    let out = cohort(&["ingest", "--db", &db]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
}

#[test]
fn ingest_reads_stdin_and_gzip() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db").display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cohort"))
        .args(["ingest", "--db", &db, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(format!("{GOOD}\n{GOOD}\n").as_bytes())
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&gz.finish().unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).starts_with("stored 2 events"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn events_and_catalog_show_what_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db").display().to_string();
    let file = write(
        dir.path(),
        "e.ndjson",
        &format!(
            "{GOOD}\n{}\n",
            GOOD.replace("u1", "u2").replace("05-20", "05-21")
        ),
    );
    assert_eq!(
        cohort(&["ingest", "--db", &db, &file]).status.code(),
        Some(0)
    );

    let out = cohort(&["events", "--db", &db, "--limit", "1"]);
    let shown = text(&out.stdout);
    assert!(
        shown.starts_with(
            "2026-05-21T10:00:00.000Z  user   u2           purchase         {\"amount\":12000}"
        ),
        "{shown}"
    );
    assert!(shown.contains("more: --before "), "{shown}");
    let cursor = shown
        .lines()
        .last()
        .unwrap()
        .trim_start_matches("more: --before ")
        .to_owned();
    let out = cohort(&[
        "events", "--db", &db, "--before", &cursor, "--format", "json",
    ]);
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page["events"][0]["subjectId"], "u1");
    assert_eq!(page["events"][0]["createdAt"], "2026-05-20T10:00:00.000Z");
    assert_eq!(page["events"][0]["data"]["amount"], 12000);
    assert_eq!(page["next"], serde_json::Value::Null);

    let out = cohort(&["events", "--db", &db, "--user", "nobody"]);
    assert_eq!(
        text(&out.stdout).trim(),
        r#"no user "nobody" in this store"#
    );
    let out = cohort(&["events", "--db", &db, "--before", "junk"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is not a cursor"),
        "{}",
        text(&out.stderr)
    );

    let out = cohort(&[
        "catalog",
        "add",
        "--db",
        &db,
        "trial_started",
        "--description",
        "Began a trial",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = cohort(&["catalog", "--db", &db, "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["tagKeys"], serde_json::json!([]));
    let catalog = &json["eventTypes"];
    assert_eq!(catalog[0]["type"], "purchase");
    assert_eq!(catalog[0]["count"], 2);
    assert_eq!(catalog[0]["keys"]["amount"]["number"], 2);
    assert_eq!(catalog[1]["type"], "trial_started");
    assert_eq!(catalog[1]["description"], "Began a trial");
    assert_eq!(catalog[1]["count"], 0);
    let out = cohort(&["catalog", "--db", &db]);
    let shown = text(&out.stdout);
    assert!(
        shown.contains("purchase                            2  2026-05-20  2026-05-21"),
        "{shown}"
    );
    assert!(
        shown.contains("    data.amount               number 2"),
        "{shown}"
    );
}

#[test]
fn profile_shows_tags_and_attributes_as_of_an_instant() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db").display().to_string();
    let input = write(
        dir.path(),
        "p.ndjson",
        &format!(
            "{GOOD}\n{}\n{}\n",
            r#"{"tags":[{"subjectType":"user","subjectId":"u1","createdAt":"2026-05-01T00:00:00Z","tags":{"plan":"pro","point":1200}}]}"#,
            r#"{"tags":[{"subjectType":"user","subjectId":"u1","createdAt":"2026-05-30T00:00:00Z","tags":{"plan":null}}],"userAttributes":[{"userId":"u1","createdAt":"2026-01-01T00:00:00Z","country":"KR","timeZone":"Asia/Seoul"}]}"#,
        ),
    );
    let out = cohort(&["ingest", "--db", &db, &input]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("stored 5 tag and attribute changes"));
    let out = cohort(&[
        "profile",
        "--db",
        &db,
        "--user",
        "u1",
        "--now",
        "2026-05-29",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "user u1  (as of 2026-05-29T00:00:00.000Z)\n\
         events: 1 from 2026-05-20T10:00:00.000Z to 2026-05-20T10:00:00.000Z\n\
         attributes:\n  timeZone     Asia/Seoul\n  country      KR\n\
         tags:\n  plan         \"pro\"\n  point        1200\n"
    );
    let out = cohort(&[
        "profile",
        "--db",
        &db,
        "--user",
        "u1",
        "--now",
        "2026-06-01",
        "--format",
        "json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["tags"], serde_json::json!({"point": 1200}));
    assert_eq!(
        json["changes"]["tags.plan"][1]["value"],
        serde_json::Value::Null
    );
    let out = cohort(&["catalog", "--db", &db]);
    let shown = text(&out.stdout);
    assert!(
        shown.contains("tag.point                user               1  number 1\n"),
        "{shown}"
    );
    assert!(
        shown.contains("tag.plan                 user               0  string 1, deleted 1\n"),
        "{shown}"
    );
    let out = cohort(&["profile", "--db", &db, "--device", "nobody"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(r#"no device "nobody" in this store"#));
    let out = cohort(&["profile", "--db", &db]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--user"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn render_personalises_a_message_from_the_profile_and_entry_event() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db").display().to_string();
    let input = write(
        dir.path(),
        "p.ndjson",
        concat!(
            r#"{"subjectType":"user","subjectId":"u1","type":"purchase","createdAt":"2026-05-20T10:00:00Z","data":{"productName":"Running Shoes","amount":129000}}"#,
            "\n",
            r#"{"subjectType":"user","subjectId":"u1","type":"purchase","createdAt":"2026-06-20T10:00:00Z","data":{"productName":"Later"}}"#,
            "\n",
            r#"{"tags":[{"subjectType":"user","subjectId":"u1","createdAt":"2026-05-01T00:00:00Z","tags":{"point":1234567,"signup_date":"2026-04-30T20:00:00Z"}}],"userAttributes":[{"userId":"u1","createdAt":"2026-01-01T00:00:00Z","name":"Kim","timeZone":"Asia/Seoul"}]}"#,
            "\n"
        ),
    );
    assert_eq!(
        cohort(&["ingest", "--db", &db, &input]).status.code(),
        Some(0)
    );
    let render = |extra: &[&str], template: &str| {
        let mut args = vec!["render", "--db", &db, "--user", "u1", "--now", "2026-06-01"];
        args.extend_from_slice(extra);
        args.push(template);
        cohort(&args)
    };
    // The latest purchase at or before --now (not the one after it).
    let out = render(
        &["--entry-event-type", "purchase"],
        "Hi {{ name }}, {{ entry_event.data.productName }} ({{ entry_event.data.amount | number_with_delimiter }}); \
         {{ tags.point | number_with_delimiter }} points since {{ tags.signup_date | date: \"%Y-%m-%d\" }}",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "Hi Kim, Running Shoes (129,000); 1,234,567 points since 2026-05-01"
    );
    // No event of that type: entry_event is missing, default stands in, and stderr says so.
    let out = render(
        &["--entry-event-type", "refund"],
        r#"{{ entry_event.data.productName | default: "your item" }}"#,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "your item");
    assert!(
        text(&out.stderr).contains(r#"no "refund" event"#),
        "{}",
        text(&out.stderr)
    );
    // An entry event given whole, and one of another subject.
    let event = write(
        dir.path(),
        "e.json",
        r#"{"subjectType":"user","subjectId":"u1","type":"@clicked","data":{"campaign":"summer"}}"#,
    );
    let out = render(
        &["--entry-event", &event],
        "{{ entry_event.type }} {{ entry_event.data.campaign }} {{ entry_event.createdAt }}",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "@clicked summer 2026-06-01T00:00:00.000Z"
    );
    let other = write(
        dir.path(),
        "o.json",
        r#"{"subjectType":"user","subjectId":"u2","type":"x"}"#,
    );
    let out = render(&["--entry-event", &other], "x");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(r#"the entry event is for user "u2", not user "u1""#),
        "{}",
        text(&out.stderr)
    );
    // A bad template is refused with its position; a limit names itself.
    let out = render(&[], "{{ name | shout }}");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("line 1, column 11: Unknown filter"),
        "{}",
        text(&out.stderr)
    );
    let out = render(&[], "{% for i in (1..100000) %}{% endfor %}");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("more than 10000 iterations"),
        "{}",
        text(&out.stderr)
    );
    let out = cohort(&["render", "--db", &db, "--user", "ghost", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(r#"no user "ghost" in this store"#));
}

#[test]
fn check_template_shows_the_error_with_a_caret() {
    let out = cohort(&["check", "--template", "Hello {{ name | default: \"you\" }}"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("ok"));
    let out = cohort(&[
        "check",
        "--template",
        "Hi\n{{ tags.d | date: \"%Y\", \"Mars/Base\" }}",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("line 2"), "{err}");
    assert!(err.contains("unknown time zone \"Mars/Base\""), "{err}");
    assert!(err.contains("2 | {{ tags.d"), "{err}");
    assert!(err.contains("^"), "{err}");
}

#[test]
fn users_delete_removes_a_user_and_says_which_were_missing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db").display().to_string();
    let input = write(dir.path(), "e.ndjson", &format!("{GOOD}\n"));
    assert_eq!(
        cohort(&["ingest", "--db", &db, &input]).status.code(),
        Some(0)
    );
    let out = cohort(&["users", "delete", "--db", &db, "u1", "ghost"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "deleted user u1: 1 events, 0 tag and attribute changes\n\
         no user ghost in this store: nothing deleted\n"
    );
    let out = cohort(&["events", "--db", &db, "--user", "u1"]);
    assert!(
        text(&out.stdout).contains("no user \"u1\" in this store"),
        "{}",
        text(&out.stdout)
    );
    let out = cohort(&["users", "delete", "--db", &db]);
    assert_eq!(out.status.code(), Some(2), "an ID is required");
}

#[test]
fn read_commands_do_not_create_stores() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing").display().to_string();
    let out = cohort(&["catalog", "--db", &db]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no cohort store at"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("missing").exists());
}

#[test]
fn help_teaches() {
    let out = cohort(&["ingest", "--help"]);
    let help = text(&out.stdout);
    for needle in [
        "--system",
        "--rejects",
        "Exit status",
        "durable",
        "Example:",
    ] {
        assert!(
            help.contains(needle),
            "ingest --help lacks {needle}:\n{help}"
        );
    }
}
