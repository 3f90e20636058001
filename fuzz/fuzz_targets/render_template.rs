//! Any text, checked as a template and rendered against a fixed context,
//! never panics, never overflows the stack, and never runs away: a render
//! ends with a message of at most 1 MiB or an error (the limits bound time
//! too, so libFuzzer's -timeout catches a hang).
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use cohort_event::{Attribute, SubjectKind, Value};
use cohort_liquid::{Context, EntryEvent, Subject, Template, MAX_OUTPUT_BYTES};
use libfuzzer_sys::fuzz_target;

fn context() -> &'static Context {
    static CONTEXT: OnceLock<Context> = OnceLock::new();
    CONTEXT.get_or_init(|| {
        let subject = Subject {
            kind: SubjectKind::User,
            id: "u1".into(),
        };
        let mut tags = BTreeMap::new();
        tags.insert("plan".to_owned(), Value::String("pro".into()));
        tags.insert("point".to_owned(), Value::Number(1234567.0));
        tags.insert("big".to_owned(), Value::String("xy".repeat(100_000)));
        tags.insert(
            "list".to_owned(),
            Value::Strings((0..1000).map(|i| i.to_string()).collect()),
        );
        let mut attributes = BTreeMap::new();
        attributes.insert(Attribute::Name, "Kim".to_owned());
        attributes.insert(Attribute::TimeZone, "Asia/Seoul".to_owned());
        Context {
            subject: Some(subject.clone()),
            entry_event: Some(EntryEvent {
                event_type: "purchase".into(),
                time: 1_780_000_000_000,
                subject,
                data: vec![
                    ("amount".into(), Value::Number(10000.0)),
                    ("productName".into(), Value::String("Shoes".into())),
                    ("sizes".into(), Value::Numbers(vec![1.0, 2.5, -3.0])),
                ],
            }),
            tags,
            attributes,
            now: 1_780_000_000_000,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(template) = Template::parse(text) else {
        return;
    };
    if let Ok(out) = template.render(context()) {
        assert!(out.len() <= MAX_OUTPUT_BYTES);
    }
});
