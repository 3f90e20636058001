//! The CLI's own bulk path, killed (issue 8): `cohort ingest` is killed
//! with SIGKILL at random points of a load, many times, and run again
//! each time. Every time, the store opens and holds exactly the events of
//! the chunks its load mark counts (no partial chunk, nothing twice); in
//! the end it holds every line of the file once.

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use cohort::{Store, StoreOptions, SubjectKind};

mod common;

use common::{cohort, text};

const LINES: u64 = 60_000;

/// Events per subject in the first `n` lines of the file.
fn expected(lines: &[serde_json::Value], n: usize) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for v in &lines[..n] {
        *out.entry(v["subjectId"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    out
}

fn stored(store: &Store) -> HashMap<String, u64> {
    let view = store.view();
    (0..view.subject_count(SubjectKind::User))
        .map(|sid| {
            let id = view.subject_id(SubjectKind::User, sid).unwrap();
            let n = view.facts(SubjectKind::User)[sid as usize].count;
            (id, n)
        })
        .collect()
}

#[test]
fn a_killed_ingest_leaves_whole_chunks_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let file = dir.path().join("events.ndjson");
    let mut text_lines = String::new();
    for i in 0..LINES {
        text_lines.push_str(&format!(
            r#"{{"subjectType":"user","subjectId":"u{}","type":"t{}","createdAt":{},"data":{{"i":{i},"pad":"{}"}}}}"#,
            (i * 7919) % 3001,
            i % 7,
            1_700_000_000_000 + i as i64,
            "x".repeat((i % 50) as usize)
        ));
        text_lines.push('\n');
    }
    std::fs::write(&file, &text_lines).unwrap();
    let lines: Vec<serde_json::Value> = text_lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut head = Vec::new();
    std::fs::File::open(&file)
        .unwrap()
        .take(1 << 20)
        .read_to_end(&mut head)
        .unwrap();
    let fingerprint = cohort::ingest::fingerprint(&head);
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut kills = 0;
    let mut created = false;
    // Kills that left some commits of the load and not others.
    let mut partial = 0;
    for round in 0..12 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cohort"))
            .args([
                "ingest",
                "--quiet",
                "--chunk-bytes",
                "65536",
                // Commits of a few chunks each, so that kills land between
                // and inside commits, not only before the first.
                "--commit-bytes",
                "400000",
                "--db",
                db.to_str().unwrap(),
                file.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(100 + rng % 900));
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            child.kill().unwrap();
            kills += 1;
        }
        let status = child.wait().unwrap();
        let mut errors = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut errors)
            .unwrap();
        assert!(!errors.contains("panicked"), "round {round}: {errors}");
        let store = match Store::open(&db, StoreOptions::read_only()) {
            Ok(store) => {
                created = true;
                store
            }
            // Killed while the first load was still creating the store
            // (a loaded machine): there is none yet, and the next load
            // creates it (tests/open.rs, `a_creation_killed_*`).
            Err(cohort::StoreError::NotFound(_)) if !created => continue,
            Err(e) => panic!("round {round}: the store does not open: {e}"),
        };
        let mark = store.load_mark(&fingerprint).unwrap();
        let events = store.stats().events;
        if !finished && events > 0 && events < LINES {
            partial += 1;
        }
        // The mark and the events it counts were written together.
        assert_eq!(
            mark.as_ref().map_or(0, |m| m.stored),
            events,
            "round {round}"
        );
        assert_eq!(
            mark.as_ref().map_or(0, |m| m.items),
            events,
            "round {round}"
        );
        assert_eq!(
            stored(&store),
            expected(&lines, events as usize),
            "round {round}"
        );
        if finished {
            assert_eq!(status.code(), Some(0), "round {round}: {errors}");
            break;
        }
    }
    // Run to the end, then once more: nothing is stored twice.
    for _ in 0..2 {
        let out = cohort(&[
            "ingest",
            "--quiet",
            "--db",
            db.to_str().unwrap(),
            file.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let store = Store::open(&db, StoreOptions::read_only()).unwrap();
    assert_eq!(store.stats().events, LINES);
    assert_eq!(stored(&store), expected(&lines, LINES as usize));
    assert!(kills >= 3, "only {kills} kills landed mid-load");
    assert!(
        partial >= 1,
        "no kill left part of the load ({kills} kills): nothing tested resuming after a commit"
    );
}
