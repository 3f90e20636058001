//! The golden cases of `testdata/liquid/golden.toml`: the spec's examples
//! and more, rendered exactly.

use std::collections::BTreeMap;

use cohort_event::{parse_event, parse_rfc3339, Attribute, Source, SubjectKind, Value};
use cohort_liquid::{Context, EntryEvent, Subject, Template};
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    context: Base,
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Base {
    now: String,
    subject: String,
    attributes: BTreeMap<String, String>,
    tags: String,
    entry_event: String,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    template: String,
    tags: Option<String>,
    attributes: Option<BTreeMap<String, String>>,
    entry_event: Option<String>,
    output: Option<String>,
    error: Option<String>,
}

/// A JSON object of data or tags, read as the track API reads `data`.
fn values(json: &str) -> Vec<(String, Value)> {
    let event = format!(r#"{{"subjectType":"user","subjectId":"x","type":"t","data":{json}}}"#);
    parse_event(event.as_bytes(), Source::Client)
        .unwrap_or_else(|e| panic!("{json}: {e:?}"))
        .data
}

fn context(base: &Base, case: &Case) -> Context {
    let (kind, id) = base.subject.split_once(':').unwrap();
    let kind = match kind {
        "user" => SubjectKind::User,
        _ => SubjectKind::Device,
    };
    let attributes = case.attributes.as_ref().unwrap_or(&base.attributes);
    let entry = case.entry_event.as_deref().unwrap_or(&base.entry_event);
    let entry_event = (!entry.is_empty()).then(|| {
        let e = parse_event(entry.as_bytes(), Source::System).unwrap();
        EntryEvent {
            event_type: e.event_type,
            time: e.time.unwrap(),
            subject: Subject {
                kind: e.subject_kind,
                id: e.subject_id,
            },
            data: e.data,
        }
    });
    Context {
        subject: Some(Subject {
            kind,
            id: id.to_owned(),
        }),
        entry_event,
        tags: values(case.tags.as_deref().unwrap_or(&base.tags))
            .into_iter()
            .collect(),
        attributes: attributes
            .iter()
            .map(|(k, v)| (Attribute::parse(k).unwrap(), v.clone()))
            .collect(),
        now: parse_rfc3339(&base.now).unwrap().millis,
    }
}

#[test]
fn golden_cases_render_exactly() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/liquid/golden.toml"
    );
    let file: File = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(file.case.len() >= 20);
    let mut failures = Vec::new();
    for case in &file.case {
        let result =
            Template::parse(&case.template).and_then(|t| t.render(&context(&file.context, case)));
        match (&result, &case.output, &case.error) {
            (Ok(got), Some(want), None) if got == want => {}
            (Err(e), None, Some(want)) if e.to_string().contains(want.as_str()) => {}
            _ => failures.push(format!(
                "{}: got {result:?}, want {:?}",
                case.name,
                case.output.as_ref().or(case.error.as_ref())
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
