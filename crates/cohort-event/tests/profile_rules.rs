//! The rules of `tags` and `userAttributes` items (docs/events.md), each
//! with its exact message, and bulk lines that are whole requests.

use cohort_event::{
    parse_line, parse_track_request, Attribute, Line, RequestError, Source, SubjectKind, TimeValue,
    Value,
};

/// 2026-06-01T12:00:00Z.
const NOW: i64 = 1_780_315_200_000;

fn request(body: &str) -> Result<cohort_event::TrackRequest, RequestError> {
    parse_track_request(body.as_bytes(), Source::Client, NOW)
}

/// The one error of a request whose single item is invalid.
fn error_of(body: &str) -> String {
    request(body).unwrap_err().to_string()
}

fn attributes(fields: &str) -> String {
    format!(r#"{{"userAttributes":[{{"userId":"u1",{fields}}}]}}"#)
}

#[test]
fn a_tag_change_sets_and_deletes() {
    let r = request(
        r#"{"tags":[{"subjectType":"user","subjectId":"u1","createdAt":"2026-05-01T00:00:00Z",
            "tags":{"plan":"pro","point":1200,"coupon":null,"signup_date":"2024-04-19T14:23:56+09:00","l":["a"]}}]}"#,
    )
    .unwrap();
    assert!(r.events.is_empty() && r.attributes.is_empty());
    let t = &r.tags[0];
    assert_eq!(t.subject_kind, SubjectKind::User);
    assert_eq!(t.subject_id, "u1");
    assert_eq!(t.time, Some(1_777_593_600_000));
    assert_eq!(
        t.tags,
        vec![
            ("plan".to_string(), Some(Value::String("pro".into()))),
            ("point".to_string(), Some(Value::Number(1200.0))),
            ("coupon".to_string(), None),
            (
                "signup_date".to_string(),
                Some(Value::Time(TimeValue {
                    millis: 1_713_504_236_000,
                    offset_minutes: 540
                }))
            ),
            ("l".to_string(), Some(Value::Strings(vec!["a".into()]))),
        ]
    );
}

#[test]
fn tag_change_rules() {
    let tags = |item: &str| format!(r#"{{"tags":[{item}]}}"#);
    let long = "k".repeat(129);
    let cases = [
        (
            tags(r#"{"subjectType":"user","subjectId":"u1","tags":{}}"#),
            "tags[0].tags: must have 1 to 100 keys, not 0",
        ),
        (
            tags(r#"{"subjectType":"user","subjectId":"u1","tags":[1]}"#),
            "tags[0].tags: must be an object, not an array",
        ),
        (
            tags(r#"{"subjectType":"user","subjectId":"u1","tags":{"a":{"b":1}}}"#),
            "tags[0].tags.a: nested objects are not allowed; flatten the key instead",
        ),
        (
            tags(r#"{"subjectType":"user","subjectId":"u1","tags":{"a b":[1,"x"]}}"#),
            r#"tags[0].tags["a b"]: array mixes strings and numbers; all elements must be of one kind"#,
        ),
        (
            tags(&format!(
                r#"{{"subjectType":"user","subjectId":"u1","tags":{{"{long}":1}}}}"#
            )),
            "tags[0].tags[\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk…\"]: key must be at most 128 bytes, not 129",
        ),
        (
            tags(r#"{"subjectType":"user","subjectId":"u1","tags":{"":1}}"#),
            "tags[0].tags: keys must not be empty",
        ),
        (
            tags(r#"{"subjectType":"user","subjectId":"u1","tags":{"a":1,"a":2}}"#),
            "tags[0].tags.a: appears more than once",
        ),
        (
            tags(r#"{"subjectType":"robot","tags":{"a":1},"type":"x"}"#),
            r#"tags[0].subjectType: must be "user" or "device", not "robot"; tags[0].type: is not a field of a tag change (the fields are subjectType, subjectId, tags, createdAt); tags[0].subjectId: is required"#,
        ),
        (
            tags(r#"{"subjectType":"user","subjectId":"u1","tags":{"a":1},"createdAt":"yesterday"}"#),
            r#"tags[0].createdAt: must be an RFC 3339 time with Z or an offset, like "2024-04-19T14:23:56+09:00", not "yesterday""#,
        ),
        (tags("7"), "tags[0]: a tag change must be a JSON object, not a number"),
    ];
    for (body, expected) in cases {
        assert_eq!(
            error_of(&body),
            format!("1 of the request's items are invalid: {expected}"),
            "{body}"
        );
    }
    let hundred: String = (0..101).map(|i| format!(r#""k{i}":1,"#)).collect();
    let body = tags(&format!(
        r#"{{"subjectType":"user","subjectId":"u1","tags":{{{}}}}}"#,
        hundred.trim_end_matches(',')
    ));
    assert_eq!(
        error_of(&body),
        "1 of the request's items are invalid: tags[0].tags: must have 1 to 100 keys, not 101"
    );
}

#[test]
fn attribute_values_are_checked_one_by_one() {
    let ok = request(&attributes(
        r#""name":"Minhyuk Kim","email":"john@example.com","phoneNumber":"+821011112222",
           "dob":"1990-01-01","timeZone":"Asia/Seoul","country":"KR","language":"ko","createdAt":0"#,
    ))
    .unwrap();
    let a = &ok.attributes[0];
    assert_eq!(a.user_id, "u1");
    assert_eq!(a.time, Some(0));
    assert_eq!(
        a.values.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        Attribute::ALL
    );
    let cleared = request(&attributes(r#""email":null"#)).unwrap();
    assert_eq!(cleared.attributes[0].values, vec![(Attribute::Email, None)]);

    let cases = [
        (r#""name":"""#, "name: must not be empty (null clears it)"),
        (
            r#""email":"john@@example.com""#,
            r#"email: must be an email address: one "@" with text on both sides and no spaces, not "john@@example.com""#,
        ),
        (
            r#""email":"john doe@example.com""#,
            r#"email: must be an email address: one "@" with text on both sides and no spaces, not "john doe@example.com""#,
        ),
        (
            r#""email":"@example.com""#,
            r#"email: must be an email address: one "@" with text on both sides and no spaces, not "@example.com""#,
        ),
        (
            r#""phoneNumber":"+0101111222""#,
            r#"phoneNumber: must be an E.164 number: "+" then 8 to 15 digits, the first not 0 (like "+821011112222"), not "+0101111222""#,
        ),
        (
            r#""phoneNumber":"+1234567""#,
            r#"phoneNumber: must be an E.164 number: "+" then 8 to 15 digits, the first not 0 (like "+821011112222"), not "+1234567""#,
        ),
        (
            r#""phoneNumber":"+1234567890123456""#,
            r#"phoneNumber: must be an E.164 number: "+" then 8 to 15 digits, the first not 0 (like "+821011112222"), not "+1234567890123456""#,
        ),
        (
            r#""phoneNumber":821011112222"#,
            "phoneNumber: must be a string or null, not a number",
        ),
        (
            r#""dob":"1990-02-30""#,
            r#"dob: must be a real calendar date written YYYY-MM-DD (like "1990-01-01"), not "1990-02-30""#,
        ),
        (
            r#""dob":"1990-1-1""#,
            r#"dob: must be a real calendar date written YYYY-MM-DD (like "1990-01-01"), not "1990-1-1""#,
        ),
        (
            r#""dob":"2026-06-03""#,
            "dob: must not be later than the day it is received (2026-06-02), not 2026-06-03",
        ),
        (
            r#""timeZone":"Asia/Atlantis""#,
            r#"timeZone: must be a time-zone name from the IANA database (like "Asia/Seoul" or "UTC"), not "Asia/Atlantis""#,
        ),
        (
            r#""country":"kr""#,
            r#"country: must be an ISO 3166-1 alpha-2 country code in capitals (like "KR"), not "kr""#,
        ),
        (
            r#""country":"XX""#,
            r#"country: must be an ISO 3166-1 alpha-2 country code in capitals (like "KR"), not "XX""#,
        ),
        (
            r#""language":"kor""#,
            r#"language: must be an ISO 639-1 language code in small letters (like "ko"), not "kor""#,
        ),
        (
            r#""language":"qq""#,
            r#"language: must be an ISO 639-1 language code in small letters (like "ko"), not "qq""#,
        ),
        (
            r#""nickname":"J""#,
            "nickname: is not a user attribute (the fields are userId, name, email, phoneNumber, dob, timeZone, country, language, createdAt)",
        ),
        (r#""name":"a","name":"b""#, "name: appears more than once"),
    ];
    for (fields, expected) in cases {
        assert_eq!(
            error_of(&attributes(fields)),
            format!("1 of the request's items are invalid: userAttributes[0].{expected}"),
            "{fields}"
        );
    }
    // The latest date on Earth when it is received (UTC+14) is allowed.
    assert!(request(&attributes(r#""dob":"2026-06-02""#)).is_ok());
    assert!(request(&attributes(&format!(r#""name":"{}""#, "n".repeat(1024)))).is_ok());
    assert_eq!(
        error_of(&attributes(&format!(r#""name":"{}""#, "n".repeat(1025)))),
        "1 of the request's items are invalid: userAttributes[0].name: must be at most 1024 bytes, not 1025"
    );
    assert_eq!(
        error_of(&attributes(&format!(
            r#""email":"{}@example.com""#,
            "j".repeat(243)
        ))),
        "1 of the request's items are invalid: userAttributes[0].email: must be at most 254 bytes, not 255"
    );
}

#[test]
fn an_attributes_item_must_change_something() {
    assert_eq!(
        error_of(r#"{"userAttributes":[{"userId":"u1"}]}"#),
        "1 of the request's items are invalid: userAttributes[0]: names no attribute, so it changes nothing (the attributes are name, email, phoneNumber, dob, timeZone, country, language)"
    );
    assert_eq!(
        error_of(r#"{"userAttributes":[{"country":"KR"}]}"#),
        "1 of the request's items are invalid: userAttributes[0].userId: is required"
    );
}

#[test]
fn every_invalid_item_of_every_group_is_listed() {
    let body = r#"{"events":[{"subjectType":"user","subjectId":"u1","type":"a"},{"subjectType":"user","subjectId":"u1"}],
        "tags":[{"subjectType":"device","subjectId":"d1","tags":{"x":1}},{"subjectType":"device","subjectId":"d1","tags":{}}],
        "userAttributes":[{"userId":"u1","country":"ZZ"}]}"#;
    match request(body) {
        Err(RequestError::Items(items)) => {
            let listed: Vec<String> = items.iter().map(ToString::to_string).collect();
            assert_eq!(
                listed,
                [
                    "events[1].type: is required",
                    "tags[1].tags: must have 1 to 100 keys, not 0",
                    r#"userAttributes[0].country: must be an ISO 3166-1 alpha-2 country code in capitals (like "KR"), not "ZZ""#,
                ]
            );
        }
        other => panic!("expected the invalid items, got {other:?}"),
    }
}

#[test]
fn request_shapes() {
    let cases = [
        (
            r#"{"tags":{}}"#,
            r#""tags" must be an array, not an object"#,
        ),
        (
            r#"{"userAttributes":[]}"#,
            r#""userAttributes" must hold 1 to 100 items, not 0"#,
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(error_of(body), expected, "{body}");
    }
    let item = r#"{"subjectType":"user","subjectId":"u1","tags":{"a":1}}"#;
    let two = format!(r#"{{"tags":[{item}],"tags":[{item}]}}"#);
    assert_eq!(error_of(&two), r#""tags" appears more than once"#);
}

#[test]
fn a_bulk_line_is_an_event_or_a_whole_request() {
    let event = br#"{"subjectType":"user","subjectId":"u1","type":"a"}"#;
    assert!(
        matches!(parse_line(event, Source::Client, NOW), Ok(Line::Event(e)) if e.subject_id == "u1")
    );
    let req = br#"{"tags":[{"subjectType":"user","subjectId":"u1","tags":{"plan":"pro"}}]}"#;
    assert!(
        matches!(parse_line(req, Source::Client, NOW), Ok(Line::Request(r)) if r.tags.len() == 1)
    );
    let bad = br#"{"events":[{"subjectType":"user","subjectId":"u1","type":"a"}],"userAttributes":[{"userId":"u1","dob":"x"}]}"#;
    let err = parse_line(bad, Source::Client, NOW).unwrap_err();
    assert!(err.is_request);
    let errors = err.errors;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "userAttributes[0].dob");
    let not_event = br#"{"subjectType":"user","subjectId":"u1"}"#;
    let err = parse_line(not_event, Source::Client, NOW).unwrap_err();
    assert!(!err.is_request);
    assert_eq!(err.errors[0].to_string(), "type: is required");
}
