//! Profiles through the application layer: a deleted user is in no
//! segment's answer — `not` ones included — in either evaluator, and a new
//! user with the same ID is a new subject; device segments never reach
//! user-only conditions.

use cohort::eval::{evaluate, reference, EvalOptions, Executor, NoSegments};
use cohort::{app, AppendOptions, Store, StoreOptions, SubjectKind};

const NOW: i64 = 1_780_000_000_000;

fn members(store: &Store, filter: &str) -> Vec<String> {
    let view = store.view();
    let filter = app::parse_filter(filter, SubjectKind::User).unwrap();
    let options = EvalOptions {
        now: NOW,
        kind: SubjectKind::User,
        executor: Executor::single_thread(),
    };
    let fast = evaluate(&view, &filter, &NoSegments, &options).unwrap();
    let mut out: Vec<String> = fast
        .iter()
        .map(|sid| view.subject_id(SubjectKind::User, sid).unwrap())
        .collect();
    out.sort();
    // The reference evaluator agrees, subject by subject (the deleted
    // user's dense id included: it has nothing, so it is outside).
    for sid in 0..view.subject_count(SubjectKind::User) {
        let id = view.subject_id(SubjectKind::User, sid).unwrap();
        let events = view.events(SubjectKind::User, &id, ..).unwrap_or_default();
        let profile = view.profile_of(SubjectKind::User, sid).unwrap();
        let subject = reference::Subject {
            events: if id.is_empty() { &[] } else { &events },
            profile: &profile,
        };
        let held = reference::evaluate(&filter, subject, NOW, &NoSegments).unwrap();
        assert_eq!(held, fast.contains(sid), "{id:?}");
    }
    out
}

#[test]
fn a_deleted_user_is_in_no_answer_and_its_id_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let body = br#"{"events":[{"subjectType":"user","subjectId":"a","type":"buy","createdAt":1779990000000},
                              {"subjectType":"user","subjectId":"b","type":"view","createdAt":1779990000000}],
                    "tags":[{"subjectType":"user","subjectId":"a","createdAt":1779990000000,"tags":{"plan":"pro"}}]}"#;
    app::track(&store, body, cohort::Source::Client).unwrap();
    assert_eq!(members(&store, "did(buy)"), ["a"]);
    assert_eq!(members(&store, "not did(buy)"), ["b"]);
    assert!(app::delete_user(&store, "a").unwrap().is_some());
    assert!(members(&store, "did(buy)").is_empty());
    assert_eq!(
        members(&store, "not did(buy)"),
        ["b"],
        "not even in a `not`"
    );
    assert!(members(&store, "tag.plan is null or tag.plan = \"pro\"") == ["b"]);
    store
        .append(
            &[cohort::Event {
                subject_kind: SubjectKind::User,
                subject_id: "a".into(),
                event_type: "view".into(),
                time: Some(NOW - 1),
                data: Vec::new(),
            }],
            AppendOptions::default(),
        )
        .unwrap();
    assert_eq!(
        members(&store, "not did(buy)"),
        ["a", "b"],
        "a new, empty a"
    );
    assert!(members(&store, "tag.plan = \"pro\"").is_empty());
}

/// Found in review: a device segment could reach `user.`/`age`/`birthday`
/// through a saved user segment, and re-saving that user segment with
/// such a condition was accepted, breaking the device segment.
#[test]
fn a_device_segment_never_reaches_user_conditions() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    app::save_segment(&store, "u1", "did(open)", SubjectKind::User, None).unwrap();
    app::save_segment(
        &store,
        "d2",
        r#"in_segment("u1")"#,
        SubjectKind::Device,
        None,
    )
    .unwrap();
    let err = app::save_segment(&store, "u1", "age > 3", SubjectKind::User, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "saving \"u1\" would break the saved segment \"d2\": `user.`, `age` and `birthday` describe users; the segment \"u1\" is evaluated for devices"
    );
    let err = app::save_segment(&store, "d3", "birthday", SubjectKind::Device, None).unwrap_err();
    assert!(err.to_string().contains("describe users"), "{err}");
    app::save_segment(&store, "u2", "birthday", SubjectKind::User, None).unwrap();
    let err = app::save_segment(
        &store,
        "d4",
        r#"in_segment("u2")"#,
        SubjectKind::Device,
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("the segment \"u2\""), "{err}");
}

#[test]
fn the_decoded_profile_cache_never_serves_another_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let tag = |id: &str, plan: &str| {
        let body = format!(
            r#"{{"tags":[{{"subjectType":"user","subjectId":"{id}","createdAt":1779990000000,"tags":{{"plan":{plan}}}}}]}}"#
        );
        app::track(&store, body.as_bytes(), cohort::Source::Client).unwrap();
    };
    tag("a", r#""pro""#);
    tag("b", r#""pro""#);
    let before = store.view();
    assert_eq!(members(&store, r#"tag.plan = "pro""#), ["a", "b"]);
    // A change after the cache was filled: new views see it at once…
    tag("a", r#""free""#);
    assert_eq!(members(&store, r#"tag.plan = "pro""#), ["b"]);
    // …and a view taken before it still sees its own instant.
    let filter = app::parse_filter(r#"tag.plan = "pro""#, SubjectKind::User).unwrap();
    let options = EvalOptions {
        now: NOW,
        kind: SubjectKind::User,
        executor: Executor::single_thread(),
    };
    assert_eq!(
        evaluate(&before, &filter, &NoSegments, &options)
            .unwrap()
            .len(),
        2
    );
    // A deletion advances the profile sequence too.
    assert!(app::delete_user(&store, "b").unwrap().is_some());
    assert!(members(&store, r#"tag.plan = "pro""#).is_empty());
    tag("b", "null");
    assert!(members(&store, r#"tag.plan is not null"#) == ["a"]);
}
