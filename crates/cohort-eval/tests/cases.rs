//! `testdata/eval/*.toml`: datasets with filters and their expected
//! members, run against both evaluators (and the fast one both parallel
//! and single-threaded).

mod common;

use std::collections::BTreeSet;

use cohort_eval::NoSegments;
use cohort_store::SubjectKind;
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    now: String,
    events: String,
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    filter: String,
    members: Vec<String>,
    kind: Option<String>,
}

#[test]
fn every_case_gives_its_members_in_both_evaluators() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/eval");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 2);
    let mut failures = Vec::new();
    let mut count = 0;
    for path in files {
        let file: File = toml::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let tmp = tempfile::tempdir().unwrap();
        let store = common::store_from_ndjson(tmp.path(), &file.events);
        let now = cohort_store::parse_rfc3339(&file.now).unwrap().millis;
        for case in &file.case {
            count += 1;
            let kind = match case.kind.as_deref() {
                Some("device") => SubjectKind::Device,
                _ => SubjectKind::User,
            };
            let filter = cohort_filter::parse(&case.filter)
                .unwrap_or_else(|e| panic!("{}\n{e}", case.filter));
            let expected: BTreeSet<String> = case.members.iter().cloned().collect();
            let (fast, reference) =
                common::members_all_ways(&store, &filter, kind, now, &NoSegments);
            if fast != expected || reference != expected {
                failures.push(format!(
                    "{}: {}\n  expected  {expected:?}\n  fast      {fast:?}\n  reference {reference:?}",
                    path.file_name().unwrap().to_string_lossy(),
                    case.filter
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
