//! The real dataset: CDNOW purchases (testdata/cdnow.ndjson.gz).

use std::collections::HashMap;
use std::io::Read;

use cohort::ingest::{ingest_reader, IngestOptions, Observer};
use cohort::{format_millis, RecentQuery, Store, StoreOptions, SubjectKind, Value, ValueKind};

const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/cdnow.ndjson.gz"
);

/// (time, cds, dollarValue) per customer, read from the file independently
/// of cohort's parser.
fn expected() -> HashMap<String, Vec<(String, f64, f64)>> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(FILE).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let mut out: HashMap<String, Vec<(String, f64, f64)>> = HashMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        out.entry(v["subjectId"].as_str().unwrap().to_owned())
            .or_default()
            .push((
                v["createdAt"].as_str().unwrap().to_owned(),
                v["data"]["cds"].as_f64().unwrap(),
                v["data"]["dollarValue"].as_f64().unwrap(),
            ));
    }
    out
}

#[test]
fn cdnow_stores_every_purchase_and_the_catalog_and_recent_events_show_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let mut rejects = Vec::new();
    let mut progress_calls = 0;
    let report = ingest_reader(
        &store,
        "cdnow",
        std::fs::File::open(FILE).unwrap(),
        &IngestOptions {
            chunk_bytes: 1 << 20,
            ..Default::default()
        },
        &mut Observer {
            on_reject: &mut |r| rejects.push(r),
            on_progress: &mut |_| progress_calls += 1,
        },
    )
    .unwrap();
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(
        (report.stored, report.rejected, report.first_sessions),
        (69_659, 0, 0)
    );
    assert!(
        progress_calls > 1,
        "a 10 MB input is written in several batches"
    );
    assert_eq!(report.bytes, std::fs::metadata(FILE).unwrap().len());
    let stats = store.stats();
    assert_eq!(
        (stats.events, stats.users, stats.devices, stats.event_types),
        (69_659, 23_570, 0, 1)
    );

    let catalog = store.catalog().unwrap();
    assert_eq!(catalog.len(), 1);
    let purchase = &catalog[0];
    assert_eq!(purchase.name, "purchase");
    assert_eq!(purchase.count, 69_659);
    assert!(!purchase.automatic);
    assert_eq!(
        purchase.first_seen.map(format_millis).as_deref(),
        Some("1997-01-01T00:00:00.000Z")
    );
    assert_eq!(
        purchase.last_seen.map(format_millis).as_deref(),
        Some("1998-06-30T00:00:00.000Z")
    );
    let keys: Vec<_> = purchase
        .keys
        .iter()
        .map(|k| (k.key.as_str(), k.kinds.clone()))
        .collect();
    assert_eq!(
        keys,
        [
            ("cds", vec![(ValueKind::Number, 69_659)]),
            ("dollarValue", vec![(ValueKind::Number, 69_659)])
        ]
    );

    // Every customer's events, newest first, are what the file holds.
    let expected = expected();
    assert_eq!(expected.len(), 23_570);
    for id in ["14048", "07592", "00001", "00002", "23570"] {
        let mut want = expected[id].clone();
        want.sort_by(|a, b| b.0.cmp(&a.0)); // newest first (stable: ties keep file order reversed below)
        let page = store
            .recent(&RecentQuery {
                subject: Some((SubjectKind::User, id.into())),
                limit: 1000,
                before: None,
            })
            .unwrap();
        assert!(page.next.is_none());
        let got: Vec<(String, f64, f64)> = page
            .events
            .iter()
            .map(|e| {
                let num = |k: &str| match e.data.iter().find(|(key, _)| key == k) {
                    Some((_, Value::Number(x))) => *x,
                    other => panic!("{k}: {other:?}"),
                };
                (format_millis(e.time), num("cds"), num("dollarValue"))
            })
            .collect();
        let mut got_sorted = got.clone();
        let mut want_sorted = want.clone();
        got_sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        want_sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(got_sorted, want_sorted, "customer {id}: the same purchases");
        assert!(
            got.windows(2).all(|w| w[0].0 >= w[1].0),
            "customer {id}: newest first"
        );
    }
    // Across everyone, the newest events are from the last day of the file.
    let recent = store
        .recent(&RecentQuery {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(recent.events.len(), 10);
    let last_day = expected
        .values()
        .flatten()
        .filter(|e| e.0 == "1998-06-30T00:00:00.000Z")
        .count();
    assert!(last_day >= 10);
    assert!(recent
        .events
        .iter()
        .all(|e| format_millis(e.time) == "1998-06-30T00:00:00.000Z"));
}
