//! The on-disk format, guarded: committed stores of every format version
//! (`testdata/stores/`) open and read the same, read-only as they are and
//! read-write after migration. The key and block bytes themselves are
//! pinned by unit tests in `keys.rs` and `blocks.rs`.

mod common;

use cohort_event::Attribute;
use cohort_store::{
    AppendOptions, RecentQuery, Store, StoreOptions, SubjectKind, Value, ValueKind, FORMAT_VERSION,
};
use common::{check_derived, user};

fn committed(version: u32) -> tempfile::TempDir {
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/stores")
        .join(format!("v{version}"));
    let to = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.path().join(entry.file_name())).unwrap();
    }
    to
}

/// What `testdata/stores/input.ndjson` and the README's commands put in
/// every committed store, whatever its format.
fn assert_holds_the_fixture(store: &Store, version: u32) {
    assert_eq!(
        check_derived(store).unwrap(),
        8,
        "7 events and one @first_session"
    );
    let stats = store.stats();
    // From format 5 on, `profile.ndjson` adds user e, who has no event.
    let users = if version >= 5 { 4 } else { 3 };
    assert_eq!((stats.users, stats.devices), (users, 1));
    let u1 = store.events(SubjectKind::User, "u1", ..).unwrap();
    assert_eq!(u1.len(), 2);
    assert_eq!(u1[0].event_type, "purchase");
    assert_eq!(
        u1[0].data,
        [
            ("amount".to_owned(), Value::Number(12000.0)),
            ("category".to_owned(), Value::String("books".into())),
            (
                "tags".to_owned(),
                Value::Strings(vec!["gift".into(), "new".into()])
            ),
            ("vip".to_owned(), Value::Bool(true)),
        ]
    );
    assert_eq!(
        u1[1].data,
        [
            ("amount".to_owned(), Value::Number(3000.0)),
            ("note".to_owned(), Value::Null)
        ]
    );
    let odd = store.events(SubjectKind::User, "ü née", ..).unwrap();
    assert_eq!(
        (odd[0].event_type.as_str(), odd[0].time),
        ("add to cart", -1000)
    );
    let d1 = store.events(SubjectKind::Device, "d1", ..).unwrap();
    let types: Vec<&str> = d1.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["@first_session", "@clicked", "app_open"]);
    let catalog = store.catalog().unwrap();
    let names: Vec<&str> = catalog.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "@clicked",
            "@first_session",
            "add to cart",
            "app_open",
            "purchase",
            "trial_started",
            "view_item"
        ]
    );
    let purchase = catalog.iter().find(|c| c.name == "purchase").unwrap();
    assert_eq!(purchase.count, 3);
    let amount = purchase.keys.iter().find(|k| k.key == "amount").unwrap();
    assert_eq!(
        amount.kinds,
        [(ValueKind::Number, 2), (ValueKind::String, 1)]
    );
    let trial = catalog.iter().find(|c| c.name == "trial_started").unwrap();
    assert_eq!(trial.description.as_deref(), Some("Began a free trial"));
    let recent = store
        .recent(&RecentQuery {
            limit: 1,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(recent.events[0].event_type, "purchase");
    assert_eq!(recent.events[0].subject_id, "u2");
    let segment = store.segment("buyers").unwrap().unwrap();
    assert_eq!(segment.filter, "count(purchase) >= 2");
}

/// From format 6 on, `buyers` is live: u1 entered it when it was made
/// live (its backfill); an older store has no live segment and no feed.
fn assert_holds_the_live_segment(store: &Store, version: u32) {
    let live = store.live_segments();
    let changes = store.changes(0, None, 100).unwrap();
    if version < 6 {
        assert!(live.is_empty());
        assert!(changes.is_empty());
        return;
    }
    assert_eq!(live.len(), 1);
    let (_, def) = &live[0];
    assert_eq!(
        (def.name.as_str(), def.filter.as_str()),
        ("buyers", "count(purchase) >= 2")
    );
    assert!(def.ready);
    let u1 = store
        .view()
        .subject_dense_id(SubjectKind::User, "u1")
        .unwrap();
    assert_eq!(
        store.is_live_member("buyers", SubjectKind::User, u1),
        Some(true)
    );
    assert_eq!(store.live_members("buyers").unwrap().len(), 1);
    assert_eq!(changes.len(), 1);
    let c = &changes[0];
    assert_eq!(
        (
            c.seq,
            c.segment.as_str(),
            c.subject.as_str(),
            c.entered,
            c.cause
        ),
        (1, "buyers", "u1", true, cohort_store::Cause::Backfill)
    );
}

/// What `testdata/stores/profile.ndjson` adds from format 5 on; an older
/// store holds no profile.
fn assert_holds_the_profiles(store: &Store, version: u32) {
    let view = store.view();
    let u1 = view.profile(SubjectKind::User, "u1").unwrap().unwrap();
    let e = view.profile(SubjectKind::User, "e").unwrap();
    if version < 5 {
        assert!(u1.is_empty());
        assert!(e.is_none());
        return;
    }
    // 2026-06-01: the plan was deleted on 05-30; the point stays.
    let june = 1_780_272_000_000;
    let tags = u1.tags_at(june);
    assert_eq!(tags.len(), 1);
    assert_eq!(tags["point"], &Value::Number(1200.0));
    assert_eq!(u1.tags["plan"].len(), 2);
    let may_29 = 1_780_012_800_000;
    assert_eq!(
        u1.tags_at(may_29)["plan"],
        &Value::String("pro".into()),
        "as of a past instant"
    );
    let attributes = u1.attributes_at(june);
    assert_eq!(attributes[&Attribute::Dob], "1990-06-01");
    assert_eq!(attributes[&Attribute::TimeZone], "Asia/Seoul");
    assert_eq!(attributes[&Attribute::Country], "KR");
    let e = e.unwrap();
    assert_eq!(e.attributes_at(june)[&Attribute::Name], "Eun");
    let d1 = view.profile(SubjectKind::Device, "d1").unwrap().unwrap();
    assert_eq!(d1.tags_at(june)["push"], &Value::Bool(true));
    // e has only profile changes: a subject without events, in the
    // universe from its first change on.
    let sid = view.subject_dense_id(SubjectKind::User, "e").unwrap();
    let facts = view.facts(SubjectKind::User)[sid as usize];
    assert_eq!(facts.count, 0);
    assert!(facts.in_universe(june));
    assert!(!facts.in_universe(june - 30 * 86_400_000));
}

#[test]
fn every_committed_format_reads_the_same_read_only() {
    for version in [2, 3, 4, 5, FORMAT_VERSION] {
        let dir = committed(version);
        let store = Store::open(dir.path(), StoreOptions::read_only()).unwrap();
        assert_eq!(store.format_version(), version);
        assert_holds_the_fixture(&store, version);
        assert_holds_the_profiles(&store, version);
        assert_holds_the_live_segment(&store, version);
    }
}

#[test]
fn older_stores_are_migrated_when_opened_for_writing() {
    for version in [2, 3, 4, 5] {
        let dir = committed(version);
        {
            let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
            assert_eq!(store.format_version(), FORMAT_VERSION);
            assert_holds_the_fixture(&store, version);
            // And keeps working: a write counts on top of the migrated catalog.
            store
                .append(
                    &[user("u9", "purchase", 1_780_000_000_000)],
                    AppendOptions::default(),
                )
                .unwrap();
            let purchase = store
                .catalog()
                .unwrap()
                .into_iter()
                .find(|c| c.name == "purchase")
                .unwrap();
            assert_eq!(purchase.count, 4);
            assert_eq!(
                purchase
                    .keys
                    .iter()
                    .find(|k| k.key == "amount")
                    .unwrap()
                    .kinds
                    .len(),
                2
            );
        }
        let store = Store::open(dir.path(), StoreOptions::read_only()).unwrap();
        assert_eq!(store.format_version(), FORMAT_VERSION);
        assert_eq!(check_derived(&store).unwrap(), 9);
        assert_holds_the_profiles(&store, version);
    }
}
