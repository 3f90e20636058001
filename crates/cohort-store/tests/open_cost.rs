//! Issue 9: opening a settled store costs nothing per subject — counted,
//! not timed. A reader reads no subject ID and, after a flush, no facts
//! record; what it answers equals what a full load answers; a snapshot
//! made stale by a later write is never used.

mod common;

use cohort_store::{AppendOptions, Store, StoreOptions, SubjectKind};
use common::{device, user};

fn load(store: &Store, users: u32, offset: i64) {
    let mut events = Vec::new();
    for i in 0..users {
        events.push(user(&format!("u{i}"), "view", offset + i64::from(i)));
        events.push(user(&format!("u{i}"), "buy", offset + 1000 + i64::from(i)));
    }
    events.push(device("d1", "open", offset));
    store.append(&events, AppendOptions::default()).unwrap();
}

#[test]
fn a_reader_of_a_settled_store_reads_nothing_per_subject() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        load(&store, 2_000, 10_000);
        store.flush().unwrap();
    }
    let reader = Store::open(dir.path(), StoreOptions::read_only()).unwrap();
    let cost = reader.open_cost();
    assert_eq!(
        (cost.subject_ids, cost.facts_records, cost.facts_snapshot),
        (0, 0, true),
        "{cost:?}"
    );
    // The reader still finds subjects, by asking the dictionary.
    let view = reader.view();
    assert_eq!(view.subject_count(SubjectKind::User), 2_000);
    assert_eq!(view.subject_count(SubjectKind::Device), 1);
    let u7 = view.subject_facts(SubjectKind::User, "u7").unwrap();
    assert_eq!((u7.first_seen, u7.last_seen, u7.count), (10_007, 11_007, 2));
    assert!(view.subject_facts(SubjectKind::User, "nobody").is_none());
    assert_eq!(
        view.events(SubjectKind::User, "u1999", ..).unwrap().len(),
        2,
        "events by subject ID"
    );
    assert_eq!(
        common::check_derived(&reader),
        Ok(4_002),
        "events and one @first_session"
    );

    // A writer uses the snapshot for facts too, and reads the subject IDs
    // only before its first write that names subjects: then a known
    // subject is found, not taken for a new one.
    drop(view);
    drop(reader);
    let writer = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let cost = writer.open_cost();
    assert_eq!(
        (cost.subject_ids, cost.facts_records, cost.facts_snapshot),
        (0, 0, true)
    );
    writer
        .append(
            &[user("u7", "buy", 20_000), user("new", "buy", 20_000)],
            AppendOptions::default(),
        )
        .unwrap();
    let view = writer.view();
    assert_eq!(view.subject_count(SubjectKind::User), 2_001);
    let u7 = view.subject_facts(SubjectKind::User, "u7").unwrap();
    assert_eq!((u7.first_seen, u7.last_seen, u7.count), (10_007, 20_000, 3));
    assert_eq!(view.subject_dense_id(SubjectKind::User, "u7"), Some(7));
}

#[test]
fn a_snapshot_made_stale_by_a_later_write_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        load(&store, 100, 10_000);
        store.flush().unwrap();
        // After the snapshot: new subjects and new facts for old ones.
        load(&store, 150, 50_000);
    }
    for options in [StoreOptions::read_only(), StoreOptions::default()] {
        let store = Store::open(dir.path(), options).unwrap();
        let cost = store.open_cost();
        assert!(!cost.facts_snapshot, "{cost:?}");
        assert_eq!(cost.facts_records, 151);
        let view = store.view();
        assert_eq!(view.subject_count(SubjectKind::User), 150);
        let u3 = view.subject_facts(SubjectKind::User, "u3").unwrap();
        assert_eq!((u3.first_seen, u3.last_seen, u3.count), (10_003, 51_003, 4));
        let u120 = view.subject_facts(SubjectKind::User, "u120").unwrap();
        assert_eq!(u120.count, 2);
        assert_eq!(common::check_derived(&store), Ok(503));
    }
    // Settled again: the snapshot is current, and holds the same facts.
    {
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        store.flush().unwrap();
    }
    let store = Store::open(dir.path(), StoreOptions::read_only()).unwrap();
    assert!(store.open_cost().facts_snapshot);
    let view = store.view();
    let u3 = view.subject_facts(SubjectKind::User, "u3").unwrap();
    assert_eq!((u3.first_seen, u3.last_seen, u3.count), (10_003, 51_003, 4));
    assert_eq!(common::check_derived(&store), Ok(503));
}
