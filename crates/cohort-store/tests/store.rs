//! The store's behaviour: writes, reads, reopen, automatic events, catalog.

mod common;

use cohort_store::{
    AppendOptions, Durability, RecentQuery, Source, Store, StoreError, StoreOptions, SubjectKind,
    Value, ValueKind,
};
use common::{device, event, user};

const DAY: i64 = 86_400_000;
const T0: i64 = 1_780_000_000_000;

fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, StoreOptions::default()).unwrap()
}

fn types(store: &Store, kind: SubjectKind, id: &str) -> Vec<String> {
    store
        .events(kind, id, ..)
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

#[test]
fn everything_written_is_there_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (catalog, recent, u1, stats) = {
        let store = open(dir.path());
        store
            .append(
                &[
                    event(
                        SubjectKind::User,
                        "u1",
                        "purchase",
                        T0,
                        &[("amount", Value::Number(12000.0))],
                    ),
                    user("u1", "app_open", T0 - DAY),
                    user("u2", "app_open", T0 + 5),
                    device("d1", "app_open", T0 + 7),
                ],
                AppendOptions::default(),
            )
            .unwrap();
        store
            .add_catalog_type("trial_started", Some("Began a free trial"))
            .unwrap();
        store
            .track(br#"{"events":[{"subjectType":"user","subjectId":"u1","type":"logout","createdAt":1780000000001}]}"#, Source::Client)
            .unwrap();
        let recent = store
            .recent(&RecentQuery {
                limit: 100,
                ..Default::default()
            })
            .unwrap()
            .events;
        (
            store.catalog().unwrap(),
            recent,
            store.events(SubjectKind::User, "u1", ..).unwrap(),
            store.stats(),
        )
    };
    let store = open(dir.path());
    assert_eq!(store.catalog().unwrap(), catalog);
    assert_eq!(
        store
            .recent(&RecentQuery {
                limit: 100,
                ..Default::default()
            })
            .unwrap()
            .events,
        recent
    );
    assert_eq!(store.events(SubjectKind::User, "u1", ..).unwrap(), u1);
    assert_eq!(store.stats(), stats);
    assert_eq!(stats.events, 6, "5 events and d1's @first_session");
    assert_eq!((stats.users, stats.devices, stats.event_types), (2, 1, 5));
    // New writes after reopen continue the dictionaries and sequence.
    store
        .append(
            &[user("u3", "app_open", T0), user("u1", "app_open", T0 + 2)],
            AppendOptions::default(),
        )
        .unwrap();
    assert_eq!(
        types(&store, SubjectKind::User, "u1"),
        ["app_open", "purchase", "logout", "app_open"]
    );
    assert_eq!(store.stats().users, 3);
    let facts = store.subject_facts(SubjectKind::User, "u1").unwrap();
    assert_eq!(
        (facts.first_seen, facts.last_seen, facts.count),
        (T0 - DAY, T0 + 2, 4)
    );
}

#[test]
fn a_subjects_events_come_back_in_time_order_within_a_range() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let times = [T0 + 3, -5 * DAY, T0, T0, 0, T0 - 1];
    let events: Vec<_> = times
        .iter()
        .enumerate()
        .map(|(i, &t)| user("u", &format!("e{i}"), t))
        .collect();
    store.append(&events, AppendOptions::default()).unwrap();
    assert_eq!(
        types(&store, SubjectKind::User, "u"),
        ["e1", "e4", "e5", "e2", "e3", "e0"],
        "ties keep arrival order"
    );
    let in_range: Vec<_> = store
        .events(SubjectKind::User, "u", 0..T0)
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(in_range, ["e4", "e5"], "the range is half-open");
    let inclusive: Vec<_> = store
        .events(SubjectKind::User, "u", T0..=T0)
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(inclusive, ["e2", "e3"]);
    assert!(
        store
            .events(SubjectKind::Device, "u", ..)
            .unwrap()
            .is_empty(),
        "users and devices are separate"
    );
    assert!(store
        .events(SubjectKind::User, "nobody", ..)
        .unwrap()
        .is_empty());
}

#[test]
fn a_track_request_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let body = br#"{"events":[
        {"subjectType":"user","subjectId":"u1","type":"purchase"},
        {"subjectType":"user","subjectId":"u2","type":"purchase","data":{"p":{"nested":1}}}]}"#;
    match store.track(body, Source::Client) {
        Err(StoreError::Invalid(e)) => assert_eq!(
            e.to_string(),
            "1 of the request's items are invalid: events[1].data.p: nested objects are not allowed; flatten the key instead"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(store.stats().events, 0, "nothing was stored");
    assert!(
        store.catalog().unwrap().is_empty(),
        "not even the catalog moved"
    );
    let receipt = store
        .track(
            br#"{"events":[{"subjectType":"user","subjectId":"u1","type":"purchase"}]}"#,
            Source::Client,
        )
        .unwrap();
    assert_eq!(receipt.stored, 1);
    let e = &store.events(SubjectKind::User, "u1", ..).unwrap()[0];
    let now = cohort_store::now_millis();
    assert!(
        (now - 60_000..=now).contains(&e.time),
        "without createdAt, the time of receipt"
    );
}

#[test]
fn a_request_stores_events_tags_and_attributes_together_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        // An invalid attribute refuses the valid event and tags with it.
        let bad = br#"{"events":[{"subjectType":"user","subjectId":"u1","type":"purchase"}],
            "tags":[{"subjectType":"user","subjectId":"u1","tags":{"plan":"pro"}}],
            "userAttributes":[{"userId":"u1","timeZone":"Mars/Olympus"}]}"#;
        assert!(matches!(
            store.track(bad, Source::Client),
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(store.stats().users, 0, "nothing was stored");
        let good = br#"{"events":[{"subjectType":"user","subjectId":"u1","type":"purchase","createdAt":1000}],
            "tags":[{"subjectType":"user","subjectId":"u1","createdAt":2000,"tags":{"plan":"pro","coupon":"c1"}},
                    {"subjectType":"user","subjectId":"u2","createdAt":3000,"tags":{"coupon":null}},
                    {"subjectType":"user","subjectId":"u1","createdAt":2000,"tags":{"plan":"max"}}],
            "userAttributes":[{"userId":"u1","createdAt":500,"country":"KR","language":"ko"}]}"#;
        let receipt = store.track(good, Source::Client).unwrap();
        assert_eq!(receipt.stored, 1);
        assert_eq!(
            receipt.new_subjects, 2,
            "u1 and u2, who has only a tag change"
        );
        assert_eq!(receipt.profile_changes, 6);
        common::check_derived(&store).unwrap();
    }
    let store = Store::open(dir.path(), StoreOptions::read_only()).unwrap();
    let view = store.view();
    let u1 = view.profile(SubjectKind::User, "u1").unwrap().unwrap();
    let tags = u1.tags_at(10_000);
    assert_eq!(
        tags["plan"],
        &Value::String("max".into()),
        "two changes at one instant: the later in arrival order wins"
    );
    assert_eq!(tags["coupon"], &Value::String("c1".into()));
    assert!(
        u1.tags_at(1_999).is_empty(),
        "nothing before its first change"
    );
    assert_eq!(u1.attributes_at(500).len(), 2);
    let u2 = view.profile(SubjectKind::User, "u2").unwrap().unwrap();
    assert!(u2.tags_at(10_000).is_empty(), "a delete leaves no value");
    let sid = view.subject_dense_id(SubjectKind::User, "u2").unwrap();
    let f = view.facts(SubjectKind::User)[sid as usize];
    assert_eq!((f.count, f.profile_first), (0, 3000));
    assert!(!f.in_universe(2_999) && f.in_universe(3_000));
    assert!(view.profile(SubjectKind::Device, "u1").unwrap().is_none());
    common::check_derived(&store).unwrap();
}

/// Found in review: a device first created by a tag change had no
/// `@first_session` when its first event came (the device was no longer
/// new). The first event of a device is what counts.
#[test]
fn a_device_known_from_tags_gets_first_session_with_its_first_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let tags = |id: &str| {
        format!(
            r#"{{"tags":[{{"subjectType":"device","subjectId":"{id}","createdAt":{T0},"tags":{{"push":true}}}}]}}"#
        )
    };
    let event = |id: &str, t: i64| {
        format!(
            r#"{{"subjectType":"device","subjectId":"{id}","type":"app_open","createdAt":{t}}}"#
        )
    };
    // d1: tagged first, its event later; d2: both in one request.
    store.track(tags("d1").as_bytes(), Source::Client).unwrap();
    store
        .track(
            format!(r#"{{"events":[{}]}}"#, event("d1", T0 + DAY)).as_bytes(),
            Source::Client,
        )
        .unwrap();
    let both = format!(
        r#"{{"events":[{}],"tags":[{}]}}"#,
        event("d2", T0 + 2 * DAY),
        &tags("d2")[9..tags("d2").len() - 2]
    );
    store.track(both.as_bytes(), Source::Client).unwrap();
    for (id, t) in [("d1", T0 + DAY), ("d2", T0 + 2 * DAY)] {
        let events = store.events(SubjectKind::Device, id, ..).unwrap();
        let seen: Vec<(&str, i64)> = events
            .iter()
            .map(|e| (e.event_type.as_str(), e.time))
            .collect();
        assert_eq!(seen, [("@first_session", t), ("app_open", t)], "{id}");
    }
    // A second event records none.
    store
        .track(
            format!(r#"{{"events":[{}]}}"#, event("d1", T0 + 3 * DAY)).as_bytes(),
            Source::Client,
        )
        .unwrap();
    assert_eq!(types(&store, SubjectKind::Device, "d1").len(), 3);
    common::check_derived(&store).unwrap();
}

#[test]
fn first_session_is_recorded_once_for_a_new_device_at_its_earliest_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let r = store
        .append(
            &[
                device("d1", "app_open", T0 + 10),
                device("d1", "view", T0),
                user("u1", "app_open", T0),
            ],
            AppendOptions::default(),
        )
        .unwrap();
    assert_eq!((r.stored, r.first_sessions, r.new_subjects), (3, 1, 2));
    let d1 = store.events(SubjectKind::Device, "d1", ..).unwrap();
    assert_eq!(d1[0].event_type, "@first_session");
    assert_eq!(
        d1[0].time, T0,
        "at the device's earliest event of the batch"
    );
    assert_eq!(
        types(&store, SubjectKind::User, "u1"),
        ["app_open"],
        "users get none"
    );
    // Later batches do not record it again, even with earlier events.
    let r = store
        .append(
            &[device("d1", "app_open", T0 - DAY)],
            AppendOptions::default(),
        )
        .unwrap();
    assert_eq!(r.first_sessions, 0);
    // A system source that sends @first_session itself is not doubled.
    let r = store
        .append(
            &[
                device("d2", "@first_session", T0 + 1),
                device("d2", "app_open", T0 + 2),
            ],
            AppendOptions::default(),
        )
        .unwrap();
    assert_eq!(r.first_sessions, 0);
    assert_eq!(
        types(&store, SubjectKind::Device, "d2"),
        ["@first_session", "app_open"]
    );
    let auto = store
        .catalog()
        .unwrap()
        .into_iter()
        .find(|c| c.name == "@first_session")
        .unwrap();
    assert!(auto.automatic);
    assert_eq!(auto.count, 2);
}

#[test]
fn automatic_events_need_a_system_source() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let body = br#"{"events":[{"subjectType":"device","subjectId":"d1","type":"@clicked"}]}"#;
    assert!(matches!(
        store.track(body, Source::Client),
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.stats().events, 0);
    let r = store.track(body, Source::System).unwrap();
    assert_eq!((r.stored, r.first_sessions), (1, 1));
}

#[test]
fn the_catalog_shows_types_keys_and_kinds_as_soon_as_they_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.add_catalog_type("purchase", None).unwrap();
    let before = &store.catalog().unwrap()[0];
    assert_eq!(
        (before.name.as_str(), before.count, before.first_seen),
        ("purchase", 0, None)
    );
    store
        .append(
            &[
                event(
                    SubjectKind::User,
                    "u1",
                    "purchase",
                    T0,
                    &[
                        ("amount", Value::Number(1.0)),
                        ("sku", Value::String("a".into())),
                    ],
                ),
                event(
                    SubjectKind::User,
                    "u2",
                    "purchase",
                    T0 - DAY,
                    &[("amount", Value::String("12000".into()))],
                ),
                event(
                    SubjectKind::User,
                    "u2",
                    "purchase",
                    T0 + DAY,
                    &[("amount", Value::Null)],
                ),
            ],
            AppendOptions {
                durability: Durability::Buffered,
                received_at: None,
            },
        )
        .unwrap();
    store
        .add_catalog_type("purchase", Some("Paid for an order"))
        .unwrap();
    let c = &store.catalog().unwrap()[0];
    assert_eq!(c.count, 3);
    assert_eq!(
        (c.first_seen, c.last_seen),
        (Some(T0 - DAY), Some(T0 + DAY))
    );
    assert_eq!(c.description.as_deref(), Some("Paid for an order"));
    assert!(!c.automatic);
    assert_eq!(c.keys[0].key, "amount");
    assert_eq!(
        c.keys[0].kinds,
        [
            (ValueKind::Null, 1),
            (ValueKind::Number, 1),
            (ValueKind::String, 1)
        ]
    );
    assert_eq!(c.keys[1].key, "sku");
    assert_eq!(c.keys[1].kinds, [(ValueKind::String, 1)]);
    for bad in ["", "@not_automatic"] {
        assert!(
            matches!(
                store.add_catalog_type(bad, None),
                Err(StoreError::BadTypeName { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn recent_events_are_newest_first_and_page_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut events = Vec::new();
    for i in 0..25i64 {
        events.push(user(
            if i % 2 == 0 { "even" } else { "odd" },
            &format!("e{i}"),
            T0 + (i / 2),
        ));
    }
    store.append(&events, AppendOptions::default()).unwrap();
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .recent(&RecentQuery {
                limit: 7,
                before,
                ..Default::default()
            })
            .unwrap();
        assert!(page.events.len() <= 7);
        seen.extend(
            page.events
                .iter()
                .map(|e| (e.time, e.seq, e.event_type.clone())),
        );
        match page.next {
            Some(c) => before = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25, "every event once");
    assert!(
        seen.windows(2).all(|w| (w[0].0, w[0].1) > (w[1].0, w[1].1)),
        "newest first: {seen:?}"
    );
    assert_eq!(seen[0].2, "e24");
    let odd = store
        .recent(&RecentQuery {
            subject: Some((SubjectKind::User, "odd".into())),
            limit: 3,
            before: None,
        })
        .unwrap();
    let names: Vec<_> = odd.events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(names, ["e23", "e21", "e19"]);
    let rest = store
        .recent(&RecentQuery {
            subject: Some((SubjectKind::User, "odd".into())),
            limit: 100,
            before: odd.next,
        })
        .unwrap();
    assert_eq!(rest.events.len(), 9);
    assert!(rest.next.is_none());
    assert_eq!(
        "12.34".parse::<cohort_store::Cursor>().unwrap(),
        cohort_store::Cursor { time: 12, seq: 34 }
    );
}

#[test]
fn blocks_hold_every_event_by_type_and_week_in_the_same_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let week = cohort_store::BUCKET_MILLIS;
    store
        .append(
            &[
                event(
                    SubjectKind::User,
                    "u1",
                    "purchase",
                    T0,
                    &[("amount", Value::Number(5.0))],
                ),
                user("u2", "purchase", T0 + 2 * week),
                user("u1", "view", T0),
                device("d1", "purchase", T0),
            ],
            AppendOptions::default(),
        )
        .unwrap();
    store
        .append(&[user("u2", "purchase", T0 + 1)], AppendOptions::default())
        .unwrap();
    let purchase = store.type_id("purchase").unwrap();
    let b = cohort_store::bucket_of(T0);
    let rows = |kind, range: std::ops::RangeInclusive<i64>| -> Vec<(u32, i64)> {
        let mut out: Vec<_> = store
            .view()
            .blocks(kind, purchase, range)
            .unwrap()
            .iter()
            .flat_map(|blk| {
                (0..blk.len())
                    .map(move |i| (blk.subjects()[i], blk.times()[i]))
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort_unstable();
        out
    };
    let u1 = store.subject_dense_id(SubjectKind::User, "u1").unwrap();
    let u2 = store.subject_dense_id(SubjectKind::User, "u2").unwrap();
    assert_eq!(
        rows(SubjectKind::User, b..=b),
        [(u1, T0), (u2, T0 + 1)].to_vec()
    );
    assert_eq!(rows(SubjectKind::User, b..=b + 2).len(), 3);
    assert_eq!(
        rows(SubjectKind::Device, b..=b).len(),
        1,
        "devices have their own blocks"
    );
    // A second read is served decoded from the cache: the same blocks.
    let again = store
        .view()
        .blocks(SubjectKind::User, purchase, b..=b)
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(
        &again[0],
        &store
            .view()
            .blocks(SubjectKind::User, purchase, b..=b)
            .unwrap()[0]
    ));
    let first = &store
        .view()
        .blocks(SubjectKind::User, purchase, b..=b)
        .unwrap()[0];
    let data = first.row(0);
    assert_eq!(
        data,
        [(store.key_id("amount").unwrap(), Value::Number(5.0))]
    );
}

#[test]
fn saved_segments_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let seg = cohort_store::SavedSegment {
        filter: "did(a)".into(),
        kind: SubjectKind::Device,
        description: Some("d".into()),
    };
    store.save_segment("s1", &seg).unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.segment("s1").unwrap(), Some(seg.clone()));
    assert_eq!(store.segments().unwrap(), [("s1".to_string(), seg)]);
    assert!(store.delete_segment("s1").unwrap());
    assert!(!store.delete_segment("s1").unwrap());
    assert!(store.segment("s1").unwrap().is_none());
    assert!(matches!(
        store.save_segment(
            "",
            &cohort_store::SavedSegment {
                filter: String::new(),
                kind: SubjectKind::User,
                description: None
            }
        ),
        Err(StoreError::BadSegmentName { .. })
    ));
}

#[test]
fn many_small_writes_are_merged_into_few_blocks_with_every_row_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let bucket = cohort_store::bucket_of(T0);
    let start = bucket * cohort_store::BUCKET_MILLIS;
    // 50 track-sized writes of 3 events each, all in one week.
    let mut n = 0i64;
    for _ in 0..50 {
        let batch: Vec<_> = (0..3)
            .map(|_| {
                n += 1;
                event(
                    SubjectKind::User,
                    &format!("u{}", n % 7),
                    "tap",
                    start + n * 1000,
                    &[
                        ("n", Value::Number(n as f64)),
                        ("even", Value::Bool(n % 2 == 0)),
                    ],
                )
            })
            .collect();
        store.append(&batch, AppendOptions::default()).unwrap();
    }
    let tap = store.type_id("tap").unwrap();
    let blocks = store
        .view()
        .blocks(SubjectKind::User, tap, bucket..=bucket)
        .unwrap();
    assert!(
        blocks.len() < 8,
        "{} blocks for 50 small writes to one bucket",
        blocks.len()
    );
    // Every row once, with its data, in arrival order within each block.
    let n_key = store.key_id("n").unwrap();
    let even_key = store.key_id("even").unwrap();
    let mut seen = Vec::new();
    for b in &blocks {
        let mut last = i64::MIN;
        for i in 0..b.len() {
            let row = b.row(i);
            let Some((_, Value::Number(x))) = row.iter().find(|(k, _)| *k == n_key) else {
                panic!("row without n: {row:?}");
            };
            let x = *x as i64;
            assert_eq!(b.times()[i], start + x * 1000);
            assert!(row.contains(&(even_key, Value::Bool(x % 2 == 0))));
            assert_eq!(
                store
                    .subject_id(SubjectKind::User, b.subjects()[i])
                    .unwrap(),
                format!("u{}", x % 7)
            );
            assert!(x > last, "rows out of arrival order");
            last = x;
            seen.push(x);
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=150).collect::<Vec<_>>());
    // And the same after reopening.
    drop(blocks);
    drop(store);
    let store = open(dir.path());
    let rows: usize = store
        .view()
        .blocks(SubjectKind::User, tap, bucket..=bucket)
        .unwrap()
        .iter()
        .map(|b| b.len())
        .sum();
    assert_eq!(rows, 150);

    // The writer remembers each bucket's small blocks between writes; a
    // deletion rewrites blocks behind its back, and it must notice: more
    // small writes after one keep every row once and stay merged.
    store.delete_user("u3").unwrap().unwrap();
    for _ in 0..30 {
        n += 1;
        let e = event(
            SubjectKind::User,
            &format!("u{}", n % 7),
            "tap",
            start + n * 1000,
            &[("n", Value::Number(n as f64))],
        );
        store.append(&[e], AppendOptions::default()).unwrap();
    }
    let blocks = store
        .view()
        .blocks(SubjectKind::User, tap, bucket..=bucket)
        .unwrap();
    assert!(blocks.len() < 8, "{} blocks", blocks.len());
    let n_key = store.key_id("n").unwrap();
    let mut seen: Vec<i64> = blocks
        .iter()
        .flat_map(|b| (0..b.len()).map(move |i| b.row(i)))
        .map(|row| match row.iter().find(|(k, _)| *k == n_key) {
            Some((_, Value::Number(x))) => *x as i64,
            other => panic!("{other:?}"),
        })
        .collect();
    seen.sort_unstable();
    let expected: Vec<i64> = (1..=180).filter(|x| x % 7 != 3 || *x > 150).collect();
    assert_eq!(seen, expected);
}
