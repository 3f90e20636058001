//! Bulk ingestion: NDJSON and track-request files, gzip, rejects, chunking.

use std::io::Write;

use cohort::ingest::{
    ingest_reader, IngestError, IngestOptions, IngestReport, Observer, Position, Reject, Resume,
};
use cohort::{Source, Store, StoreOptions, SubjectKind};

fn ingest(store: &Store, input: &[u8], options: IngestOptions) -> (IngestReport, Vec<Reject>) {
    let mut rejects = Vec::new();
    let report = ingest_reader(
        store,
        "input",
        input,
        &options,
        &mut Observer {
            on_reject: &mut |r| rejects.push(r),
            on_progress: &mut |_| {},
        },
    )
    .unwrap();
    (report, rejects)
}

fn line(id: &str, t: i64) -> String {
    format!(r#"{{"subjectType":"user","subjectId":"{id}","type":"view","createdAt":{t}}}"#)
}

#[test]
fn invalid_lines_are_reported_and_skipped_and_valid_lines_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let input = [
        line("u1", 1),
        String::new(),
        r#"{"subjectType":"user","subjectId":"u2","type":"@clicked"}"#.into(),
        "   ".into(),
        "not json".into(),
        line("u2", 2) + "\r",
        r#"{"subjectType":"user","subjectId":"","type":"view","extra":true}"#.into(),
    ]
    .join("\n");
    let (report, rejects) = ingest(&store, input.as_bytes(), IngestOptions::default());
    assert_eq!((report.stored, report.rejected), (2, 3));
    let shown: Vec<String> = rejects.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            r#"input:3: type: the "@" prefix is reserved for automatic events; "@clicked" may only come from a system source"#,
            "input:5: invalid JSON: expected ident at line 1 column 2",
            "input:7: subjectId: must not be empty; extra: is not a field of an event (the fields are subjectType, subjectId, type, data, createdAt)",
        ]
    );
    assert_eq!(rejects[1].position, Position::Line(5));
    assert_eq!(rejects[1].text, "not json");
    assert_eq!(store.events(SubjectKind::User, "u2", ..).unwrap().len(), 1);
}

#[test]
fn a_system_source_may_ingest_automatic_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let input =
        r#"{"subjectType":"device","subjectId":"d1","type":"@iam_displayed","createdAt":5}"#;
    let options = IngestOptions {
        source: Source::System,
        ..Default::default()
    };
    let (report, rejects) = ingest(&store, input.as_bytes(), options);
    assert!(rejects.is_empty());
    assert_eq!((report.stored, report.first_sessions), (1, 1));
}

#[test]
fn track_request_files_are_all_or_nothing_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let good = format!(r#"{{"events":[{},{}]}}"#, line("a", 1), line("b", 2));
    let bad = format!(
        r#"{{"events":[{},{{"subjectType":"user","type":"view"}}]}}"#,
        line("c", 3)
    );
    let input = format!("{good}\n{bad}\n{good}");
    let (report, rejects) = ingest(&store, input.as_bytes(), IngestOptions::default());
    assert_eq!((report.stored, report.rejected), (4, 2));
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].position, Position::Request(2));
    assert_eq!(
        rejects[0].to_string(),
        "input request 2: events[1].subjectId: is required"
    );
    assert!(
        store.events(SubjectKind::User, "c", ..).unwrap().is_empty(),
        "nothing of the bad request"
    );
    assert_eq!(store.events(SubjectKind::User, "a", ..).unwrap().len(), 2);
}

#[test]
fn ndjson_lines_may_be_whole_requests_with_tags_and_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let tags = r#"{"tags":[{"subjectType":"user","subjectId":"t1","createdAt":5,"tags":{"plan":"pro","n":1}}]}"#;
    // One bad attribute refuses its line's event and tag change too.
    let bad = format!(
        r#"{{"events":[{}],"tags":[{{"subjectType":"user","subjectId":"t2","tags":{{"a":1}}}}],"userAttributes":[{{"userId":"t2","country":"Korea"}}]}}"#,
        line("t2", 6)
    );
    let attrs =
        r#"{"userAttributes":[{"userId":"t1","createdAt":7,"dob":"1990-01-01","timeZone":"UTC"}]}"#;
    let input = [line("a", 1), tags.into(), bad, attrs.into(), line("b", 2)].join("\n");
    let (report, rejects) = ingest(&store, input.as_bytes(), IngestOptions::default());
    assert_eq!((report.stored, report.rejected), (2, 1));
    assert_eq!(report.profile_changes, 4);
    let shown: Vec<String> = rejects.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            r#"input:3: userAttributes[0].country: must be an ISO 3166-1 alpha-2 country code in capitals (like "KR"), not "Korea""#
        ]
    );
    let view = store.view();
    let t1 = view.profile(SubjectKind::User, "t1").unwrap().unwrap();
    assert_eq!(t1.tags_at(10).len(), 2);
    assert_eq!(t1.attributes_at(10).len(), 2);
    assert!(
        view.subject_dense_id(SubjectKind::User, "t2").is_none(),
        "nothing of the bad line"
    );
}

#[test]
fn a_broken_request_file_stops_with_a_reject_naming_where() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let input = format!(
        r#"{{"events":[{}]}} {{"events": [oops]}} {{"events":[{}]}} ]]"#,
        line("a", 1),
        line("b", 2)
    );
    let (report, rejects) = ingest(&store, input.as_bytes(), IngestOptions::default());
    assert_eq!(report.stored, 2);
    let shown: Vec<String> = rejects.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "input request 2: invalid JSON: expected value at line 1 column 13",
            "input request 4: invalid JSON: expected `{` to begin a track request; the rest of the input was not read",
        ]
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let input = format!(r#"{{"events":[{}]}} {{"events": [{{"#, line("a", 1));
    let (report, rejects) = ingest(&store, input.as_bytes(), IngestOptions::default());
    assert_eq!(report.stored, 1);
    assert_eq!(
        rejects[0].to_string(),
        "input request 2: invalid JSON: the input ends inside this request"
    );
}

#[test]
fn gzip_is_recognised_by_content_and_chunking_does_not_change_the_result() {
    let lines: Vec<String> = (0..5000)
        .map(|i| line(&format!("u{}", i % 97), i))
        .collect();
    let text = lines.join("\n") + "\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let mut results = Vec::new();
    for (input, chunk_bytes) in [
        (text.as_bytes(), 4 << 20),
        (&gz[..], 4 << 20),
        (&gz[..], 1000),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let (report, rejects) = ingest(
            &store,
            input,
            IngestOptions {
                chunk_bytes,
                ..Default::default()
            },
        );
        assert!(rejects.is_empty());
        assert_eq!(report.stored, 5000);
        let u5: Vec<i64> = store
            .events(SubjectKind::User, "u5", ..)
            .unwrap()
            .iter()
            .map(|e| e.time)
            .collect();
        results.push((store.stats(), u5));
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn an_overlong_line_is_rejected_without_stopping_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let long = format!(
        r#"{{"subjectType":"user","subjectId":"{}","type":"view"}}"#,
        "x".repeat(5000)
    );
    let input = format!("{}\n{long}\n{}\n", line("a", 1), line("b", 2));
    let options = IngestOptions {
        max_line_bytes: 1000,
        chunk_bytes: 100,
        ..Default::default()
    };
    let (report, rejects) = ingest(&store, input.as_bytes(), options);
    assert_eq!((report.stored, report.rejected), (2, 1));
    assert_eq!(rejects[0].position, Position::Line(2));
    assert_eq!(store.events(SubjectKind::User, "b", ..).unwrap().len(), 1);
}

fn try_ingest(
    store: &Store,
    input: impl std::io::Read + Send,
    options: &IngestOptions,
) -> Result<IngestReport, IngestError> {
    ingest_reader(
        store,
        "input",
        input,
        options,
        &mut Observer {
            on_reject: &mut |_| {},
            on_progress: &mut |_| {},
        },
    )
}

/// A reader that fails after `limit` bytes, as a disk or a network would.
struct FailAfter<'a> {
    data: &'a [u8],
    at: usize,
    limit: usize,
}

impl std::io::Read for FailAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.limit {
            return Err(std::io::Error::other("the disk went away"));
        }
        let n = buf
            .len()
            .min(self.limit - self.at)
            .min(self.data.len() - self.at)
            .min(4096);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn lines(n: usize) -> String {
    (0..n)
        .map(|i| line(&format!("u{}", i % 50), i as i64) + "\n")
        .collect()
}

fn stored_events(store: &Store) -> u64 {
    store.stats().events
}

/// Regression, issue 8 case 7: an I/O error mid-ingest reported
/// "0 events stored" while earlier batches were stored, did not sync them,
/// and a retry stored them again. Now the error says what is stored and
/// durable, and the same load resumes after it: every line once.
#[test]
fn an_io_error_reports_what_is_stored_and_a_retry_resumes_after_it() {
    let text = lines(20_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let options = IngestOptions {
        chunk_bytes: 64 << 10,
        ..Default::default()
    };
    let failing = FailAfter {
        data: text.as_bytes(),
        at: 0,
        limit: text.len() / 2,
    };
    let err = try_ingest(&store, failing, &options).unwrap_err();
    let partial = err.partial();
    assert!(matches!(err, IngestError::Io { .. }), "{err}");
    assert!(
        partial.stored > 0 && partial.stored < 20_000,
        "{}",
        partial.stored
    );
    assert!(partial.durable);
    assert_eq!(stored_events(&store), partial.stored);
    assert!(store.durable_seq() >= partial.stored);
    assert!(
        err.to_string().contains(&format!(
            "{} events of this input were stored",
            partial.stored
        )),
        "{err}"
    );
    // The same input again: resumed, nothing twice.
    let report = try_ingest(&store, text.as_bytes(), &options).unwrap();
    assert_eq!(report.skipped.stored, partial.stored);
    assert_eq!(report.stored + partial.stored, 20_000);
    assert_eq!(stored_events(&store), 20_000);
    // And a third time: nothing new.
    let report = try_ingest(&store, text.as_bytes(), &options).unwrap();
    assert_eq!((report.stored, report.skipped.stored), (0, 20_000));
    assert_eq!(stored_events(&store), 20_000);
    // Unless asked.
    let again = IngestOptions {
        resume: Resume::Never,
        ..options.clone()
    };
    assert_eq!(
        try_ingest(&store, text.as_bytes(), &again).unwrap().stored,
        20_000
    );
    assert_eq!(stored_events(&store), 40_000);
}

/// A file that grew since it was loaded (a log appended to) loads only
/// what is new; one that changed before the point loaded is refused.
#[test]
fn a_grown_input_loads_only_what_is_new_and_a_changed_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let options = IngestOptions {
        chunk_bytes: 16 << 10,
        ..Default::default()
    };
    let first = lines(5_000);
    assert_eq!(
        try_ingest(&store, first.as_bytes(), &options)
            .unwrap()
            .stored,
        5_000
    );
    let grown = first.clone() + &lines(3_000);
    let report = try_ingest(&store, grown.as_bytes(), &options).unwrap();
    assert_eq!((report.skipped.items, report.stored), (5_000, 3_000));
    assert_eq!(stored_events(&store), 8_000);
    // Same first 64 KiB, different afterwards: cannot be resumed.
    let mut changed = grown.clone().into_bytes();
    let at = changed.len() - 1000;
    changed[at..at + 4].copy_from_slice(b"zzzz");
    let err = try_ingest(&store, &changed[..], &options).unwrap_err();
    assert!(
        matches!(err, IngestError::Diverged { ended: false, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("differs from it within"), "{err}");
    assert_eq!(stored_events(&store), 8_000);
    // A truncated copy (past the first 64 KiB) says that it is shorter.
    let truncated = &grown.as_bytes()[..grown.len() - 1000];
    let err = try_ingest(&store, truncated, &options).unwrap_err();
    assert!(
        matches!(err, IngestError::Diverged { ended: true, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("is shorter than"), "{err}");
    assert_eq!(stored_events(&store), 8_000);
}

/// A UTF-8 byte-order mark before the first line is not part of it.
#[test]
fn a_byte_order_mark_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let input = format!("\u{feff}{}\n{}\n", line("a", 1), line("b", 2));
    let (report, rejects) = ingest(&store, input.as_bytes(), IngestOptions::default());
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(report.stored, 2);
}

/// Regression, issue 8 case 8: a 45 MB track request was buffered whole,
/// then parsed into a tree (~570 MB) before it was refused. It is refused
/// as it crosses the limit, and the requests after it are read.
#[test]
fn an_oversized_request_is_refused_while_reading() {
    let big = format!(
        r#"{{"events":[{}]}}"#,
        vec![line("x", 1); 400_000].join(",")
    );
    assert!(big.len() > 20 << 20);
    let input = format!("{big}\n{{\"events\":[{}]}}", line("after", 2));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let (report, rejects) = ingest(&store, input.as_bytes(), IngestOptions::default());
    assert_eq!(report.stored, 1);
    assert_eq!(
        rejects[0].to_string(),
        format!(
            "input request 1: the request is longer than the limit of {} bytes; it was skipped",
            16 << 20
        )
    );
    assert_eq!(
        store.events(SubjectKind::User, "after", ..).unwrap().len(),
        1
    );
}

/// A load that reads a last line the writer has not finished (no newline
/// yet) rejects it but does not count it as read: the next load, after
/// the line is complete, stores it. Found in review of issue 8.
#[test]
fn an_unfinished_last_line_is_read_again_when_complete() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let options = IngestOptions::default();
    let done = lines(3);
    let last = line("late", 99);
    let half = format!("{done}{}", &last[..20]);
    let report = try_ingest(&store, half.as_bytes(), &options).unwrap();
    assert_eq!((report.stored, report.rejected), (3, 1));
    let whole = format!("{done}{last}\n{}", lines(2));
    let report = try_ingest(&store, whole.as_bytes(), &options).unwrap();
    assert_eq!(
        (report.skipped.items, report.stored, report.rejected),
        (3, 3, 0)
    );
    assert_eq!(
        store.events(SubjectKind::User, "late", ..).unwrap().len(),
        1
    );
    assert_eq!(stored_events(&store), 6);
}

/// An input shorter than the 64 KiB fingerprint that grows is resumed too
/// (its mark is found by its stored bytes). Found in review of issue 8.
#[test]
fn a_small_input_that_grows_loads_only_what_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let options = IngestOptions::default();
    let small = lines(10);
    assert!(small.len() < 64 << 10);
    assert_eq!(
        try_ingest(&store, small.as_bytes(), &options)
            .unwrap()
            .stored,
        10
    );
    let grown = small.clone() + &lines(2000)[small.len()..];
    assert!(grown.len() > 64 << 10);
    let report = try_ingest(&store, grown.as_bytes(), &options).unwrap();
    assert_eq!((report.skipped.items, report.stored), (10, 1990));
    assert_eq!(stored_events(&store), 2000);
}

/// Something that is not a request ends a request file; the mark ends
/// before it, so line numbers stay right when the file is fixed and loaded
/// again.
#[test]
fn a_request_file_stopped_by_garbage_resumes_at_the_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let good = |i: i64| format!(r#"{{"events":[{}]}}"#, line(&format!("r{i}"), i));
    let broken = format!("{}\n{}\n]oops\n", good(1), good(2));
    let mut rejects = Vec::new();
    let report = ingest_reader(
        &store,
        "input",
        broken.as_bytes(),
        &IngestOptions::default(),
        &mut Observer {
            on_reject: &mut |r| rejects.push(r),
            on_progress: &mut |_| {},
        },
    )
    .unwrap();
    assert_eq!(report.stored, 2);
    assert_eq!(rejects[0].position, Position::Request(3));
    let fixed = format!("{}\n{}\n{}\n", good(1), good(2), good(3));
    let mut rejects = Vec::new();
    let report = ingest_reader(
        &store,
        "input",
        fixed.as_bytes(),
        &IngestOptions::default(),
        &mut Observer {
            on_reject: &mut |r| rejects.push(r),
            on_progress: &mut |_| {},
        },
    )
    .unwrap();
    assert!(rejects.is_empty());
    assert_eq!((report.skipped.items, report.stored), (2, 1));
    assert_eq!(stored_events(&store), 3);
}

/// A slow input: some lines at once (more than the 64 KiB fingerprint),
/// then one line at a time with pauses, then its end.
struct Trickle {
    head: Vec<u8>,
    lines: u64,
    sent: u64,
    ended: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.head.is_empty() {
            let n = buf.len().min(self.head.len());
            buf[..n].copy_from_slice(&self.head[..n]);
            self.head.drain(..n);
            return Ok(n);
        }
        if self.sent == self.lines {
            self.ended.store(true, std::sync::atomic::Ordering::SeqCst);
            return Ok(0);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        self.sent += 1;
        let l = line(&format!("slow{}", self.sent), 10_000_000 + self.sent as i64) + "\n";
        buf[..l.len()].copy_from_slice(l.as_bytes());
        Ok(l.len())
    }
}

/// Found by a hostile run (issue 9): a trickling input was stored only at
/// its end, whatever the commit interval, because a chunk was sent on only
/// when full. Now a reader sees trickled lines while the input goes on.
#[test]
fn a_slow_input_is_stored_as_it_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let head: String = (0..1_000)
        .map(|i| line(&format!("u{i}"), i) + "\n")
        .collect();
    assert!(head.len() > 64 << 10);
    let ended = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let input = Trickle {
        head: head.into_bytes(),
        lines: 150,
        sent: 0,
        ended: std::sync::Arc::clone(&ended),
    };
    let options = IngestOptions {
        commit_interval: std::time::Duration::from_millis(300),
        ..Default::default()
    };
    let mut seen_before_the_end = 0;
    std::thread::scope(|scope| {
        let loading = scope.spawn(|| {
            ingest_reader(
                &store,
                "slow",
                input,
                &options,
                &mut Observer {
                    on_reject: &mut |r| panic!("{r}"),
                    on_progress: &mut |_| {},
                },
            )
            .unwrap()
        });
        while !ended.load(std::sync::atomic::Ordering::SeqCst) {
            let events = store.stats().events;
            if !ended.load(std::sync::atomic::Ordering::SeqCst) {
                seen_before_the_end = seen_before_the_end.max(events);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(loading.join().unwrap().stored, 1_150);
    });
    assert!(
        seen_before_the_end > 1_000,
        "before the input ended, only {seen_before_the_end} events were stored"
    );
}
