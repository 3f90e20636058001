//! Regression tests for issue 8 at the command line: untrusted IDs and
//! types never reach the terminal raw (case 10); read commands work while
//! an ingest writes, and say so (case 9); no command but `init` and
//! `ingest` creates a store (case 9).

use std::io::Write;
use std::process::{Command, Stdio};

mod common;

use common::{cohort, text};

fn event(id: &str, ty: &str, t: i64) -> String {
    serde_json::json!({"subjectType": "user", "subjectId": id, "type": ty, "createdAt": t})
        .to_string()
}

/// Case 10: a subject ID with a newline printed as two members in
/// `--format ids`, and a type holding terminal escape sequences was sent
/// to the terminal by `events` and `catalog`.
#[test]
fn untrusted_text_prints_one_value_per_line_and_no_control_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db").display().to_string();
    let input = dir.path().join("in.ndjson");
    let evil_type = "\u{1b}[2J\u{1b}[31mboom";
    let lines = [
        event("plain", "t", 1000),
        event("two\nlines", "t", 2000),
        event("\u{1b}]0;owned\u{7}", "t", 3000),
        event("\"quoted", "t", 4000),
        event("plain", evil_type, 5000),
    ];
    std::fs::write(&input, lines.join("\n")).unwrap();
    let out = cohort(&["ingest", "--db", &db, input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = cohort(&[
        "eval", "--db", &db, "--now", "10000", "--format", "ids", "did(t)",
    ]);
    let ids = text(&out.stdout);
    let lines: Vec<&str> = ids.lines().collect();
    assert_eq!(lines.len(), 4, "{ids:?}");
    assert!(lines.contains(&"plain"));
    assert!(lines.contains(&r#""two\nlines""#));
    assert!(lines.contains(&r#""\u001b]0;owned\u0007""#));
    assert!(lines.contains(&r#""\"quoted""#));
    // Quoted lines read back as the exact IDs.
    let back: Vec<String> = lines
        .iter()
        .map(|l| {
            if l.starts_with('"') {
                serde_json::from_str(l).unwrap()
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(back.contains(&"two\nlines".to_owned()));
    for args in [
        vec!["events", "--db", &db],
        vec!["catalog", "--db", &db],
        vec![
            "eval", "--db", &db, "--now", "10000", "--format", "ids", "did(*)",
        ],
        vec![
            "explain", "--db", &db, "--now", "10000", "--user", "plain", "did(*)",
        ],
    ] {
        let out = cohort(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            !out.stdout.iter().any(|&b| b == 0x1b || b == 0x07),
            "{args:?} sent a control character: {}",
            text(&out.stdout)
        );
    }
    // JSON output keeps them exact.
    let out = cohort(&[
        "eval", "--db", &db, "--now", "10000", "--format", "json", "did(t)",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["ids"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("two\nlines")));
}

/// Case 9: readers could not open a store an ingest was writing.
#[test]
fn read_commands_work_while_an_ingest_writes_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db").display().to_string();
    let mut ingest = Command::new(env!("CARGO_BIN_EXE_cohort"))
        .args(["ingest", "--quiet", "--db", &db, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = ingest.stdin.take().unwrap();
    // More than one 4 MiB chunk, so that a batch is stored while the
    // ingest still waits for more input.
    let mut sent = 0u64;
    let mut bytes = 0;
    while bytes < 5 << 20 {
        let line = event(&format!("u{}", sent % 1000), "view", 1000 + sent as i64) + "\n";
        bytes += line.len();
        stdin.write_all(line.as_bytes()).unwrap();
        sent += 1;
    }
    stdin.flush().unwrap();
    // Poll (bounded) until the first batch is visible to a reader.
    let mut seen = 0;
    let mut note = String::new();
    for _ in 0..600 {
        let out = cohort(&[
            "eval",
            "--db",
            &db,
            "--now",
            "1000000000000000",
            "--format",
            "count",
            "did(view)",
        ]);
        if out.status.success() {
            seen = text(&out.stdout).trim().parse::<u64>().unwrap();
            note = text(&out.stderr);
            if seen > 0 {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(seen > 0, "a reader never saw the first batch");
    assert!(note.contains("is writing to this store"), "{note}");
    assert!(note.contains("later writes are not included"), "{note}");
    let out = cohort(&["events", "--db", &db, "--limit", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // A writer must wait its turn, and is told why.
    let out = cohort(&["catalog", "add", "--db", &db, "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("in use by another process"),
        "{}",
        text(&out.stderr)
    );
    drop(stdin);
    let done = ingest.wait_with_output().unwrap();
    assert_eq!(done.status.code(), Some(0), "{}", text(&done.stderr));
    let out = cohort(&[
        "eval",
        "--db",
        &db,
        "--now",
        "1000000000000000",
        "--format",
        "count",
        "did(view)",
    ]);
    assert_eq!(text(&out.stdout).trim(), "1000");
    assert!(
        !text(&out.stderr).contains("is writing"),
        "{}",
        text(&out.stderr)
    );
}

/// Case 9: `catalog add` on a missing directory created a store there.
#[test]
fn only_init_and_ingest_create_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("typo").display().to_string();
    for args in [
        vec!["catalog", "add", "--db", &db, "trial"],
        vec!["segment", "save", "--db", &db, "s", "did(x)"],
        vec!["catalog", "--db", &db],
        vec!["eval", "--db", &db, "did(x)"],
    ] {
        let out = cohort(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains("no cohort store at"),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            !dir.path().join("typo").exists(),
            "{args:?} created a store"
        );
    }
    let out = cohort(&["init", "--db", &db]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = cohort(&["catalog", "add", "--db", &db, "trial"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// A load leaves no write-ahead log behind for the next process to replay
/// (a read-only reader would replay it at every open).
#[test]
fn a_load_leaves_the_store_settled() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let input = dir.path().join("in.ndjson");
    let lines: Vec<String> = (0..20_000)
        .map(|i| event(&format!("u{}", i % 500), "view", i))
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let out = cohort(&[
        "ingest",
        "--db",
        db.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let wal: u64 = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(wal < 4096, "{wal} bytes of write-ahead log left to replay");
}

/// Found by a hostile run: `--rejects` naming an input emptied it before
/// it was read; a missing input still created the store; a request that
/// held no readable event was not counted as rejected and exited 0.
#[test]
fn ingest_guards_its_inputs_and_counts_every_reject() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let input = dir.path().join("in.ndjson");
    let body = format!("{}\n{}\n", event("u1", "t", 1000), event("u2", "t", 2000));
    std::fs::write(&input, &body).unwrap();

    // The rejects file is the input under another name.
    let alias = dir.path().join("alias.ndjson");
    std::fs::hard_link(&input, &alias).unwrap();
    let out = cohort(&[
        "ingest",
        "--db",
        db.to_str().unwrap(),
        "--rejects",
        alias.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is also an input"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&input).unwrap(), body, "input kept");
    assert!(!db.exists(), "no store for a refused command");

    // A missing second input: refused before the store exists.
    let out = cohort(&[
        "ingest",
        "--db",
        db.to_str().unwrap(),
        input.to_str().unwrap(),
        dir.path().join("missing.ndjson").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!db.exists(), "no store for a missing input");

    // A request whose `events` is not a list holds no event, yet it is
    // input that was not stored: counted and exit 1.
    let broken = dir.path().join("broken.ndjson");
    std::fs::write(
        &broken,
        format!("{}\n{{\"events\":7}}\n", event("u3", "t", 3000)),
    )
    .unwrap();
    let out = cohort(&[
        "ingest",
        "--db",
        db.to_str().unwrap(),
        broken.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.starts_with("stored 1 events, rejected "), "{said}");
    assert!(said.contains("(1 lines or requests)"), "{said}");
    assert!(
        text(&out.stderr).contains("broken.ndjson:2"),
        "{}",
        text(&out.stderr)
    );
}

/// Found by a hostile run (issue 9): readers opened while `cohort ingest`
/// committed table files could hold a commit's `next_seq` and facts but
/// not its events (the read-only instance lists table files before it
/// replays the log). Every view opened during a load must be whole: the
/// events its subjects' logs hold are exactly the events its catalog
/// counts.
#[test]
fn every_view_opened_during_a_load_is_whole() {
    use cohort::{Store, StoreOptions, SubjectKind};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let input = dir.path().join("in.ndjson");
    let mut text_in = String::new();
    for i in 0..60_000u64 {
        text_in.push_str(&event(
            &format!("u{}", i % 1_500),
            &format!("t{}", i % 4),
            1_000_000 + i as i64,
        ));
        text_in.push('\n');
    }
    std::fs::write(&input, text_in).unwrap();
    let mut ingest = Command::new(env!("CARGO_BIN_EXE_cohort"))
        .args([
            "ingest",
            "--quiet",
            "--chunk-bytes",
            "8192",
            "--commit-bytes",
            "20000",
        ])
        .arg("--db")
        .arg(&db)
        .arg(&input)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut views = 0;
    let mut partial_loads = 0;
    while ingest.try_wait().unwrap().is_none() {
        let store = match Store::open(&db, StoreOptions::read_only()) {
            Ok(s) => s,
            Err(cohort::StoreError::NotFound(_)) => continue,
            Err(e) => panic!("a reader could not open the store: {e}"),
        };
        let view = store.view();
        let mut logged = 0;
        for sid in 0..view.subject_count(SubjectKind::User) {
            let id = view.subject_id(SubjectKind::User, sid).unwrap();
            logged += view.events(SubjectKind::User, &id, ..).unwrap().len() as u64;
        }
        let counted = store.stats().events;
        assert_eq!(
            logged, counted,
            "view {views}: the logs hold {logged} events, the catalog counts {counted}"
        );
        views += 1;
        if counted > 0 && counted < 60_000 {
            partial_loads += 1;
        }
    }
    assert!(ingest.wait().unwrap().success());
    assert!(
        partial_loads >= 1,
        "no view opened mid-load ({views} views)"
    );
}
