//! Bulk ingestion: NDJSON and track-request files, gzip, rejects, chunking.

use std::io::Write;

use cohort::ingest::{ingest_reader, IngestOptions, IngestReport, Observer, Position, Reject};
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
fn a_broken_request_file_stops_with_a_reject_naming_where() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let input = format!(r#"{{"events":[{}]}} {{"events": [oops"#, line("a", 1));
    let (report, rejects) = ingest(&store, input.as_bytes(), IngestOptions::default());
    assert_eq!(report.stored, 1);
    assert_eq!(
        rejects[0].to_string(),
        "input request 2: invalid JSON: expected value at line 1 column 93; the rest of the input was not read"
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
