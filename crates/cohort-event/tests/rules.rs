//! Every validation rule of `docs/events.md`, each with its exact message.
//!
//! Each case is an event (NDJSON line) and the messages it must produce,
//! joined with " | ", or "ok" when it must be accepted.

use cohort_event::{parse_event, parse_track_request, RequestError, Source, Value};

const BASE: &str = r#""subjectType":"user","subjectId":"u1","type":"purchase""#;

fn check(source: Source, line: &str) -> String {
    match parse_event(line.as_bytes(), source) {
        Ok(_) => "ok".to_string(),
        Err(errors) => errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" | "),
    }
}

fn with_base(rest: &str) -> String {
    format!("{{{BASE}{rest}}}")
}

#[test]
fn each_rule_has_its_message() {
    let long = |n: usize| "x".repeat(n);
    let cases: Vec<(String, String)> = vec![
        // The event as a whole.
        ("[1]".into(), "an event must be a JSON object, not an array".into()),
        (
            r#"{"subjectType":"user""#.into(),
            "invalid JSON: EOF while parsing an object at line 1 column 21".into(),
        ),
        (with_base(r#","extra":1"#), "extra: is not a field of an event (the fields are subjectType, subjectId, type, data, createdAt)".into()),
        (with_base(r#","type":"x""#), "type: appears more than once".into()),
        // subjectType
        (r#"{"subjectId":"u1","type":"t"}"#.into(), "subjectType: is required".into()),
        (r#"{"subjectType":"admin","subjectId":"u1","type":"t"}"#.into(), r#"subjectType: must be "user" or "device", not "admin""#.into()),
        (r#"{"subjectType":1,"subjectId":"u1","type":"t"}"#.into(), r#"subjectType: must be "user" or "device", not a number"#.into()),
        // subjectId
        (r#"{"subjectType":"user","type":"t"}"#.into(), "subjectId: is required".into()),
        (r#"{"subjectType":"user","subjectId":"","type":"t"}"#.into(), "subjectId: must not be empty".into()),
        (r#"{"subjectType":"user","subjectId":7,"type":"t"}"#.into(), "subjectId: must be a string, not a number".into()),
        (format!(r#"{{"subjectType":"user","subjectId":"{}","type":"t"}}"#, long(257)), "subjectId: must be at most 256 bytes, not 257".into()),
        (format!(r#"{{"subjectType":"user","subjectId":"{}","type":"t"}}"#, long(256)), "ok".into()),
        // type
        (r#"{"subjectType":"user","subjectId":"u1"}"#.into(), "type: is required".into()),
        (r#"{"subjectType":"user","subjectId":"u1","type":""}"#.into(), "type: must not be empty".into()),
        (r#"{"subjectType":"user","subjectId":"u1","type":null}"#.into(), "type: must be a string, not null".into()),
        (format!(r#"{{"subjectType":"user","subjectId":"u1","type":"{}"}}"#, long(129)), "type: must be at most 128 bytes, not 129".into()),
        (format!(r#"{{"subjectType":"user","subjectId":"u1","type":"{}"}}"#, long(128)), "ok".into()),
        (r#"{"subjectType":"device","subjectId":"d1","type":"@clicked"}"#.into(), r#"type: the "@" prefix is reserved for automatic events; "@clicked" may only come from a system source"#.into()),
        // data
        (with_base(r#","data":[1]"#), "data: must be an object, not an array".into()),
        (with_base(r#","data":null"#), "ok".into()),
        (with_base(r#","data":{"":1}"#), "data: keys must not be empty".into()),
        (with_base(&format!(r#","data":{{"{}":1}}"#, long(129))), format!("data[\"{}…\"]: key must be at most 128 bytes, not 129", long(40))),
        (with_base(r#","data":{"a":1,"a":2}"#), "data.a: appears more than once".into()),
        (with_base(&format!(r#","data":{{{}}}"#, (0..101).map(|i| format!(r#""k{i}":1"#)).collect::<Vec<_>>().join(","))), "data: must have at most 100 keys, not 101".into()),
        (with_base(&format!(r#","data":{{{}}}"#, (0..100).map(|i| format!(r#""k{i}":1"#)).collect::<Vec<_>>().join(","))), "ok".into()),
        (with_base(r#","data":{"p":{"q":1}}"#), "data.p: nested objects are not allowed; flatten the key instead".into()),
        (with_base(r#","data":{"product id":{"q":1}}"#), r#"data["product id"]: nested objects are not allowed; flatten the key instead"#.into()),
        (with_base(&format!(r#","data":{{"s":"{}"}}"#, long(1025))), "data.s: string must be at most 1024 bytes, not 1025".into()),
        (with_base(&format!(r#","data":{{"s":"{}"}}"#, long(1024))), "ok".into()),
        (with_base(r#","data":{"n":1e400}"#), "invalid JSON: number out of range at line 1 column 74".into()),
        (with_base(r#","data":{"t":["a",1]}"#), "data.t: array mixes strings and numbers; all elements must be of one kind".into()),
        (with_base(r#","data":{"t":["a",["b"]]}"#), "data.t[1]: nested arrays are not allowed".into()),
        (with_base(r#","data":{"t":[true]}"#), "data.t[0]: array elements must be strings or numbers, not a boolean".into()),
        (with_base(r#","data":{"t":[null]}"#), "data.t[0]: array elements must be strings or numbers, not null".into()),
        (with_base(r#","data":{"t":[{}]}"#), "data.t[0]: array elements must be strings or numbers, not an object".into()),
        (with_base(&format!(r#","data":{{"t":[{}]}}"#, vec!["1"; 101].join(","))), "data.t: array must have at most 100 elements, not 101".into()),
        (with_base(&format!(r#","data":{{"t":[{}]}}"#, vec!["1"; 100].join(","))), "ok".into()),
        (with_base(&format!(r#","data":{{"t":["{}"]}}"#, long(1025))), "data.t[0]: string must be at most 1024 bytes, not 1025".into()),
        // createdAt
        (with_base(r#","createdAt":"2024-04-19""#), r#"createdAt: must be an RFC 3339 time with Z or an offset, like "2024-04-19T14:23:56+09:00", not "2024-04-19""#.into()),
        (with_base(r#","createdAt":"2024-04-19T14:23:56""#), r#"createdAt: must be an RFC 3339 time with Z or an offset, like "2024-04-19T14:23:56+09:00", not "2024-04-19T14:23:56""#.into()),
        (with_base(r#","createdAt":1.5"#), "createdAt: must be a whole number of Unix milliseconds, not 1.5".into()),
        (with_base(r#","createdAt":true"#), "createdAt: must be an RFC 3339 time string or a whole number of Unix milliseconds, not a boolean".into()),
        (with_base(r#","createdAt":1e17"#), "createdAt: must be between the years 0000 and 9999".into()),
        (with_base(r#","createdAt":1e20"#), "createdAt: must be between the years 0000 and 9999".into()),
        (with_base(r#","createdAt":-1e30"#), "createdAt: must be between the years 0000 and 9999".into()),
        (with_base(r#","createdAt":100000000000000000000"#), "createdAt: must be between the years 0000 and 9999".into()),
        (with_base(r#","createdAt":1713504236000"#), "ok".into()),
        (with_base(r#","createdAt":"2024-04-19T14:23:56.123Z""#), "ok".into()),
        // Several problems are all reported.
        (r#"{"subjectType":"robot","subjectId":"","kind":1}"#.into(), r#"subjectType: must be "user" or "device", not "robot" | subjectId: must not be empty | kind: is not a field of an event (the fields are subjectType, subjectId, type, data, createdAt) | type: is required"#.into()),
    ];
    let mut failures = Vec::new();
    for (line, expected) in &cases {
        let got = check(Source::Client, line);
        if &got != expected {
            failures.push(format!(
                "input:    {line}\nexpected: {expected}\ngot:      {got}\n"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn system_source_may_send_listed_automatic_types_only() {
    let line = |t: &str| format!(r#"{{"subjectType":"device","subjectId":"d1","type":"{t}"}}"#);
    for t in cohort_event::AUTOMATIC_EVENT_TYPES {
        assert_eq!(check(Source::System, &line(t)), "ok", "{t}");
        assert!(check(Source::Client, &line(t)).contains("reserved"), "{t}");
    }
    assert_eq!(
        check(Source::System, &line("@made_up")),
        r#"type: "@made_up" is not an automatic event type (they are @first_session, @clicked, @foreground_received, @background_received, @iam_displayed, @iam_clicked, @iam_closed)"#
    );
}

#[test]
fn values_are_typed() {
    let line = with_base(
        r#","data":{"s":"abc","n":2.5,"t":"2024-04-19T14:23:56+09:00","d":"2024-04-19","b":true,"a":["x"],"m":[1,2],"z":null,"e":[]}"#,
    );
    let event = parse_event(line.as_bytes(), Source::Client).unwrap();
    assert_eq!(event.get("s"), Some(&Value::String("abc".into())));
    assert_eq!(event.get("n"), Some(&Value::Number(2.5)));
    assert!(
        matches!(event.get("t"), Some(Value::Time(t)) if t.millis == 1_713_504_236_000 && t.offset_minutes == 540)
    );
    assert_eq!(
        event.get("d"),
        Some(&Value::String("2024-04-19".into())),
        "a date alone is not a time"
    );
    assert_eq!(event.get("b"), Some(&Value::Bool(true)));
    assert_eq!(event.get("a"), Some(&Value::Strings(vec!["x".into()])));
    assert_eq!(event.get("m"), Some(&Value::Numbers(vec![1.0, 2.0])));
    assert_eq!(event.get("z"), Some(&Value::Null));
    assert_eq!(event.get("e"), Some(&Value::Strings(vec![])));
    assert_eq!(event.time, None, "createdAt absent");
    let keys: Vec<&str> = event.data.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["s", "n", "t", "d", "b", "a", "m", "z", "e"],
        "data keeps its order"
    );
}

#[test]
fn escaped_strings_are_decoded() {
    let line = r#"{"subjectType":"user","subjectId":"u\"1\u00e9","type":"add to cart"}"#;
    let event = parse_event(line.as_bytes(), Source::Client).unwrap();
    assert_eq!(event.subject_id, "u\"1é");
    assert_eq!(event.event_type, "add to cart");
}

#[test]
fn track_request_is_all_or_nothing() {
    let good = r#"{"subjectType":"user","subjectId":"u1","type":"a"}"#;
    let bad = r#"{"subjectType":"user","subjectId":"","type":"a"}"#;
    let body = format!(r#"{{"events":[{good},{bad},{good},{bad}]}}"#);
    match parse_track_request(body.as_bytes(), Source::Client, 0) {
        Err(RequestError::Items(invalid)) => {
            assert_eq!(invalid.iter().map(|e| e.index).collect::<Vec<_>>(), [1, 3]);
            assert_eq!(
                invalid[0].to_string(),
                "events[1].subjectId: must not be empty"
            );
        }
        other => panic!("expected every invalid event listed, got {other:?}"),
    }
    let body = format!(r#"{{"events":[{good},{good}]}}"#);
    assert_eq!(
        parse_track_request(body.as_bytes(), Source::Client, 0)
            .unwrap()
            .events
            .len(),
        2
    );
}

#[test]
fn track_request_shape_errors() {
    let one = r#"{"subjectType":"user","subjectId":"u1","type":"a"}"#;
    let hundred = vec![one; 100].join(",");
    let cases = [
        (
            "[]".to_string(),
            r#"a track request must be a JSON object with at least one of "events", "tags" and "userAttributes", not an array"#
                .to_string(),
        ),
        (
            "{}".to_string(),
            r#"a track request must be a JSON object with at least one of "events", "tags" and "userAttributes": it has none"#
                .to_string(),
        ),
        (
            r#"{"events":{}}"#.to_string(),
            r#""events" must be an array, not an object"#.to_string(),
        ),
        (
            r#"{"events":[]}"#.to_string(),
            r#""events" must hold 1 to 100 items, not 0"#.to_string(),
        ),
        (
            format!(r#"{{"events":[{hundred},{one}]}}"#),
            r#""events" must hold 1 to 100 items, not 101"#.to_string(),
        ),
        (
            format!(r#"{{"events":[{one}],"project":"p"}}"#),
            r#""project" is not a field of a track request (they are "events", "tags" and "userAttributes")"#.to_string(),
        ),
        (
            "{".to_string(),
            "invalid JSON: EOF while parsing an object at line 1 column 1".to_string(),
        ),
    ];
    for (body, expected) in cases {
        let err = parse_track_request(body.as_bytes(), Source::Client, 0).unwrap_err();
        assert_eq!(err.to_string(), expected, "body: {body}");
    }
    let full = format!(r#"{{"events":[{hundred}]}}"#);
    assert_eq!(
        parse_track_request(full.as_bytes(), Source::Client, 0)
            .unwrap()
            .events
            .len(),
        100
    );
}
