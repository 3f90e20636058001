//! The real dataset: a dozen filters on CDNOW whose members were computed
//! independently by DuckDB (testdata/eval/cdnow/duckdb_expected.py);
//! both evaluators must return exactly those members.

mod common;

use std::collections::BTreeSet;
use std::io::Read;

use cohort_eval::NoSegments;
use cohort_store::SubjectKind;
use serde::Deserialize;

#[derive(Deserialize)]
struct Expected {
    now: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    filter: String,
    count: usize,
    members: Vec<String>,
}

#[test]
fn cdnow_filters_match_duckdb() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata");
    let mut ndjson = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(format!("{root}/cdnow.ndjson.gz")).unwrap())
        .read_to_string(&mut ndjson)
        .unwrap();
    let expected: Expected = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/eval/cdnow/expected.json")).unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = common::store_from_ndjson(dir.path(), &ndjson);
    let now = cohort_store::parse_rfc3339(&expected.now).unwrap().millis;
    assert!(expected.cases.len() >= 12);
    let mut failures = Vec::new();
    for case in &expected.cases {
        let filter = cohort_filter::parse(&case.filter).unwrap();
        let want: BTreeSet<String> = case.members.iter().cloned().collect();
        assert_eq!(want.len(), case.count);
        let (fast, reference) =
            common::members_all_ways(&store, &filter, SubjectKind::User, now, &NoSegments);
        for (name, got) in [("fast", &fast), ("reference", &reference)] {
            if *got != want {
                let missing: Vec<_> = want.difference(got).take(5).collect();
                let extra: Vec<_> = got.difference(&want).take(5).collect();
                failures.push(format!(
                    "{name} {}: {} vs {} expected; missing {missing:?} extra {extra:?}",
                    case.filter,
                    got.len(),
                    want.len()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
