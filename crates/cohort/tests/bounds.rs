//! Regression tests for issue 8, cases 2, 3, 5 and 11: segments that
//! refer to segments, many conditions, canonical filters — bounded in
//! depth, size and memory, with clear errors, through the application
//! layer every front end calls; and (issue 9) a bulk load's memory bounded
//! by its commit budget. Memory is measured by counting.

use cohort::app::{self, Error, EvalRequest};
use cohort::eval::{EvalError, Executor, StoreSegments, MAX_CONDITIONS, MAX_SEGMENT_DEPTH};
use cohort::{AppendOptions, Event, SavedSegment, Store, StoreOptions, SubjectKind, Value};

#[global_allocator]
static ALLOC: cohort_testkit::Counting = cohort_testkit::Counting;

const NOW: i64 = 1_780_000_000_000;

fn store(dir: &std::path::Path, users: u32) -> Store {
    let store = Store::open(dir, StoreOptions::default()).unwrap();
    let events: Vec<Event> = (0..users)
        .map(|i| Event {
            subject_kind: SubjectKind::User,
            subject_id: format!("u{i}"),
            event_type: "t".into(),
            time: Some(NOW - 1000 - i64::from(i)),
            data: vec![("k".into(), Value::Number(f64::from(i % 5000)))],
        })
        .collect();
    store
        .append(
            &events,
            AppendOptions {
                received_at: Some(0),
                ..Default::default()
            },
        )
        .unwrap();
    store
}

fn members(store: &Store, filter: &str) -> Result<u64, Error> {
    let filter = app::parse_filter(filter, SubjectKind::User)?;
    let request = EvalRequest {
        now: NOW,
        kind: SubjectKind::User,
        executor: Executor::with_threads(2).unwrap(),
    };
    let view = store.view();
    let mut out = app::evaluate(&view, &[filter], &StoreSegments::new(store), &request)?;
    Ok(out.pop().unwrap().members.len())
}

fn save(store: &Store, name: &str, filter: &str) -> Result<SavedSegment, Error> {
    app::save_segment(store, name, filter, SubjectKind::User, None)
}

/// Case 2: a chain of 125 saved segments, each `not … in_segment(prev)`,
/// aborted `segment save` with a stack overflow. The chain stops at the
/// depth limit with an error naming it.
#[test]
fn a_chain_of_segments_stops_at_the_depth_limit() {
    // Other tests of this binary count allocations (see `exclusive`).
    let _only = cohort_testkit::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 10);
    save(&store, "c0", "did(t)").unwrap();
    let mut stopped = None;
    for k in 1..125 {
        let filter = format!(r#"not (did(x) or in_segment("c{}"))"#, k - 1);
        match save(&store, &format!("c{k}"), &filter) {
            Ok(_) => {}
            Err(e) => {
                stopped = Some((k, e));
                break;
            }
        }
    }
    let (k, err) = stopped.expect("the chain was refused somewhere");
    assert_eq!(k, MAX_SEGMENT_DEPTH);
    assert!(
        matches!(err, Error::Eval(EvalError::SegmentTooDeep { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("more than 16 deep"), "{err}");
    // The deepest chain allowed evaluates (c15 = not(not(... did(t)))).
    let deepest = format!(r#"in_segment("c{}")"#, MAX_SEGMENT_DEPTH - 1);
    assert_eq!(members(&store, &deepest).unwrap(), 0);
}

/// Case 2: re-saving the first link of a chain made every segment after
/// it deeper than any check had seen, and each evaluation of them aborted.
/// A save that would break a saved segment is refused, naming it.
#[test]
fn re_saving_a_link_cannot_push_a_chain_past_the_limit() {
    // Other tests of this binary count allocations (see `exclusive`).
    let _only = cohort_testkit::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 10);
    for chain in ["a", "b"] {
        save(&store, &format!("{chain}0"), "did(t)").unwrap();
        for k in 1..10 {
            save(
                &store,
                &format!("{chain}{k}"),
                &format!(r#"in_segment("{chain}{}")"#, k - 1),
            )
            .unwrap();
        }
    }
    let err = save(&store, "a0", r#"in_segment("b9")"#).unwrap_err();
    match &err {
        Error::BreaksSegment { name, broken, .. } => {
            assert_eq!(name, "a0");
            assert!(broken.starts_with('a'), "{broken}");
        }
        other => panic!("expected BreaksSegment, got {other}"),
    }
    // Nothing changed: a9 still evaluates.
    assert_eq!(members(&store, r#"in_segment("a9")"#).unwrap(), 10);
    // A store that holds such a chain anyway (written by hand) is refused
    // at evaluation with the same error, not a crash.
    for k in 1..125 {
        store
            .save_segment(
                &format!("deep{k}"),
                &SavedSegment {
                    filter: format!(r#"not in_segment("deep{}")"#, k - 1),
                    kind: SubjectKind::User,
                    description: None,
                },
            )
            .unwrap();
    }
    store
        .save_segment(
            "deep0",
            &SavedSegment {
                filter: "did(t)".into(),
                kind: SubjectKind::User,
                description: None,
            },
        )
        .unwrap();
    let err = members(&store, r#"in_segment("deep124")"#).unwrap_err();
    assert!(
        matches!(err, Error::Eval(EvalError::SegmentTooDeep { .. })),
        "{err}"
    );
}

/// Case 3: `s_k = in_segment(s_{k-1}) or in_segment(s_{k-1})` was inlined,
/// doubling at every level (s22: 27 s; s23: 4 GB). A referenced segment
/// is now evaluated once and shared: the deepest allowed level costs as
/// little memory as the first.
#[test]
fn doubling_references_are_evaluated_once_each() {
    let _only = cohort_testkit::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 1000);
    save(&store, "s0", "did(t where data.k < 500)").unwrap();
    for k in 1..MAX_SEGMENT_DEPTH {
        let prev = format!(r#"in_segment("s{}")"#, k - 1);
        save(&store, &format!("s{k}"), &format!("{prev} or {prev}")).unwrap();
    }
    let top = format!(r#"in_segment("s{}")"#, MAX_SEGMENT_DEPTH - 1);
    let (found, peak) = cohort_testkit::peak_of(|| members(&store, &top).unwrap());
    assert_eq!(found, 500);
    assert!(peak < 8 << 20, "peak {peak} bytes");
    // The reference evaluator (explain) decides each segment once too.
    let view = store.view();
    let events = view.events(SubjectKind::User, "u1", ..).unwrap();
    let filter = app::parse_filter(&top, SubjectKind::User).unwrap();
    let (held, trace) = cohort::eval::reference::explain(
        &filter,
        cohort::eval::reference::Subject::with_events(&events),
        NOW,
        &StoreSegments::new(&store),
    )
    .unwrap();
    assert!(held);
    assert!(
        trace.len() < 4 * MAX_SEGMENT_DEPTH,
        "{} trace lines",
        trace.len()
    );
}

/// Conditions are counted with the segments a filter reaches (each once)
/// and bounded.
#[test]
fn a_filter_reaching_too_many_conditions_is_refused() {
    // Other tests of this binary count allocations (see `exclusive`).
    let _only = cohort_testkit::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 10);
    // 3 × 3,000 conditions in segments (one filter of them would pass the
    // 64 KiB limit), then one more than the limit allows.
    for part in 0..3 {
        let conditions: Vec<String> = (0..3000).map(|i| format!("did(e{part}_{i})")).collect();
        save(&store, &format!("a{part}"), &conditions.join(" or ")).unwrap();
    }
    save(
        &store,
        "all",
        r#"in_segment("a0") or in_segment("a1") or in_segment("a2")"#,
    )
    .unwrap();
    let more: Vec<String> = (0..MAX_CONDITIONS - 9000 + 1)
        .map(|i| format!("did(m{i})"))
        .collect();
    let err = save(
        &store,
        "over",
        &format!(r#"in_segment("all") or {}"#, more.join(" or ")),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::Eval(EvalError::TooManyConditions { found, .. }) if found == MAX_CONDITIONS + 1),
        "{err}"
    );
    // Referring to a segment twice (or by two paths) counts it once.
    save(
        &store,
        "twice",
        r#"in_segment("all") or not in_segment("all") or in_segment("a0")"#,
    )
    .unwrap();
}

/// Case 5: memory grew as conditions × subjects × threads (3,800 `did`
/// conditions on 100,000 users: 2 GB). Each condition is now scanned into
/// its bitmap before the next: memory is threads × subjects.
#[test]
fn thousands_of_conditions_use_memory_for_one_at_a_time() {
    let _only = cohort_testkit::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 20_000);
    // 3,800 conditions in four saved segments (one filter of them all
    // would pass the 64 KiB limit).
    for q in 0..4 {
        let conditions: Vec<String> = (q * 950..(q + 1) * 950)
            .map(|i| format!("did(t where data.k = {i})"))
            .collect();
        save(&store, &format!("q{q}"), &conditions.join(" or ")).unwrap();
    }
    let filter = r#"in_segment("q0") or in_segment("q1") or in_segment("q2") or in_segment("q3")"#;
    let (found, peak) = cohort_testkit::peak_of(|| members(&store, filter).unwrap());
    // Users with k below 3800, where k = i % 5000.
    assert_eq!(found, 4 * 3800);
    // Before: 3,800 × 20,000 counters × 4 bytes × 2 threads (600 MB). Now
    // two threads' counters for one condition, its predicate masks, and
    // 3,800 small bitmaps.
    assert!(peak < 16 << 20, "peak {peak} bytes");
}

/// Case 11: a canonical saved filter could exceed the 64 KiB its text
/// respected, and then failed every evaluation. It is refused at save.
#[test]
fn a_canonical_form_over_the_limit_is_refused_at_save() {
    // Other tests of this binary count allocations (see `exclusive`).
    let _only = cohort_testkit::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 10);
    // `did(a)or did(a)…` has no spaces; its canonical form has two more
    // per `or`, and goes past 64 KiB.
    let tight: Vec<&str> = vec!["did(a)"; 7000];
    let text = tight.join("or ");
    assert!(text.len() <= 64 << 10);
    let err = save(&store, "tight", &text).unwrap_err();
    assert!(matches!(err, Error::CanonicalTooLong { .. }), "{err}");
    assert!(store.segment("tight").unwrap().is_none());
}

/// Deleting a segment that others refer to would break them.
#[test]
fn a_segment_in_use_is_not_deleted() {
    // Other tests of this binary count allocations (see `exclusive`).
    let _only = cohort_testkit::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 10);
    save(&store, "base", "did(t)").unwrap();
    save(&store, "user", r#"not in_segment("base")"#).unwrap();
    let err = app::delete_segment(&store, "base").unwrap_err();
    assert!(
        matches!(&err, Error::SegmentInUse { used_by, .. } if used_by == &["user"]),
        "{err}"
    );
    app::delete_segment(&store, "user").unwrap();
    app::delete_segment(&store, "base").unwrap();
    assert!(matches!(
        app::delete_segment(&store, "base"),
        Err(Error::SegmentNotFound(_))
    ));
}

/// NDJSON made as it is read, so that the input costs no memory.
struct Lines {
    next: u64,
    end: u64,
    pending: Vec<u8>,
}

impl std::io::Read for Lines {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pending.is_empty() && self.next < self.end {
            let i = self.next;
            self.next += 1;
            self.pending = format!(
                r#"{{"subjectType":"user","subjectId":"u{}","type":"t{}","createdAt":{},"data":{{"i":{i},"s":"value-{}"}}}}"#,
                i % 2_000,
                i % 5,
                NOW - 1_000_000 + i as i64,
                i % 97
            )
            .into_bytes();
            self.pending.push(b'\n');
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

/// Issue 9: a bulk load stages what it reads in memory and commits it as
/// table files; what it holds is bounded by `commit_bytes`, however large
/// the input. Counted: the same input staged whole holds several times more.
#[test]
fn a_bulk_load_holds_at_most_its_commit_budget() {
    let _only = cohort_testkit::exclusive();
    let load = |commit_bytes: usize| {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let options = cohort::ingest::IngestOptions {
            chunk_bytes: 256 << 10,
            commit_bytes,
            commit_interval: std::time::Duration::from_secs(3600),
            ..Default::default()
        };
        let (report, peak) = cohort_testkit::peak_of(|| {
            cohort::ingest::ingest_reader(
                &store,
                "generated",
                Lines {
                    next: 0,
                    end: 200_000,
                    pending: Vec::new(),
                },
                &options,
                &mut cohort::ingest::Observer {
                    on_reject: &mut |r| panic!("{r}"),
                    on_progress: &mut |_| {},
                },
            )
            .unwrap()
        });
        assert_eq!(report.stored, 200_000);
        assert_eq!(store.stats().events, 200_000);
        peak
    };
    let bounded = load(2 << 20);
    let whole = load(usize::MAX);
    assert!(
        bounded < 16 << 20,
        "a load committing every 2 MiB held {bounded} bytes at its peak"
    );
    assert!(
        whole > 2 * bounded,
        "staged whole the load held {whole} bytes, committing every 2 MiB {bounded}: the bound tests nothing"
    );
}
