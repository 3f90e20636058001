//! Deleting a user: invisible at once to every read, physically gone from
//! every file of the store when the call returns, and the same ID starts a
//! new, empty user.

mod common;

use cohort_event::{parse_track_request, Source};
use cohort_store::{AppendOptions, RecentQuery, Store, StoreOptions, SubjectKind, Value};
use common::{check_derived, event, user};

const T0: i64 = 1_780_000_000_000;
const GONE: &str = "user-to-forget-7f3a";
const SECRET: &str = "secret-payload-93ac";
const TAG_SECRET: &str = "tag-secret-51be";

/// Whether any file under `dir` holds `needle`.
fn files_holding(dir: &std::path::Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        // RocksDB deletes obsolete files in the background: one that is
        // gone holds nothing.
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("{}: {e}", path.display()),
        };
        if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            found.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    found
}

fn fill(store: &Store) {
    // Some of it as a bulk load (table files), some as appends (WAL and
    // memtables), some as a request with tags and attributes.
    let mut bulk = store.bulk_load().unwrap();
    let chunk: Vec<_> = (0..200)
        .map(|i| {
            // Only the deleted user's events carry the secret.
            let (who, note) = if i % 4 == 0 {
                (GONE.to_owned(), format!("{SECRET}-{i}"))
            } else {
                (format!("u{}", i % 7), format!("note-{i}"))
            };
            event(
                SubjectKind::User,
                &who,
                if i % 3 == 0 { "purchase" } else { "view" },
                T0 + i * 1000,
                &[("note", Value::String(note))],
            )
        })
        .collect();
    bulk.append(&chunk, Default::default(), None, None).unwrap();
    bulk.commit().unwrap();
    drop(bulk);
    store
        .append(
            &[
                user(GONE, "only_theirs", T0 + 500_000),
                user("u1", "view", T0 + 600_000),
            ],
            AppendOptions::default(),
        )
        .unwrap();
    let body = format!(
        r#"{{"tags":[{{"subjectType":"user","subjectId":"{GONE}","tags":{{"plan":"{TAG_SECRET}"}}}},
                      {{"subjectType":"user","subjectId":"u2","tags":{{"plan":"pro"}}}}],
            "userAttributes":[{{"userId":"{GONE}","email":"forget@example.com","country":"KR"}}]}}"#
    );
    let request = parse_track_request(body.as_bytes(), Source::Client, T0).unwrap();
    store
        .apply(
            &request,
            AppendOptions {
                received_at: Some(T0),
                ..Default::default()
            },
        )
        .unwrap();
}

#[test]
fn a_deleted_user_is_invisible_at_once_and_gone_from_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    fill(&store);
    let before = store.stats();
    store.flush().unwrap();
    // The test can fail: before the deletion the files hold all three.
    for needle in [GONE, SECRET, TAG_SECRET] {
        assert!(!files_holding(dir.path(), needle).is_empty(), "{needle}");
    }
    let receipt = store.delete_user(GONE).unwrap().expect("the user exists");
    assert_eq!(receipt.events, 51, "50 in the load and one appended");
    assert_eq!(receipt.profile_changes, 3);
    assert!(receipt.blocks_rewritten >= 2);

    // Invisible: every read.
    let view = store.view();
    assert!(view.subject_dense_id(SubjectKind::User, GONE).is_none());
    assert!(store
        .events(SubjectKind::User, GONE, ..)
        .unwrap()
        .is_empty());
    assert!(view.profile(SubjectKind::User, GONE).unwrap().is_none());
    let recent = store
        .recent(&RecentQuery {
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(recent.events.len() as u64, before.events - 51);
    assert!(recent.events.iter().all(|e| e.subject_id != GONE));
    let catalog = store.catalog().unwrap();
    let theirs = catalog.iter().find(|c| c.name == "only_theirs").unwrap();
    assert_eq!((theirs.count, theirs.first_seen), (0, None));
    assert_eq!(store.stats().events, before.events - 51);
    assert_eq!(store.stats().users, before.users - 1);
    assert_eq!(check_derived(&store).unwrap(), before.events - 51);
    let facts = view.facts(SubjectKind::User);
    assert_eq!(
        facts
            .iter()
            .filter(|f| f.in_universe(T0 + 1_000_000))
            .count() as u64,
        before.users - 1,
        "out of every universe"
    );
    drop(view);

    // Gone: no file of the store holds the ID, an event's data or a tag.
    for needle in [GONE, SECRET, TAG_SECRET] {
        assert_eq!(
            files_holding(dir.path(), needle),
            Vec::<String>::new(),
            "{needle}"
        );
    }
    // The store is left settled: a reader opens from the facts snapshot.
    let reader = Store::open(dir.path(), StoreOptions::read_only()).unwrap();
    assert!(reader.open_cost().facts_snapshot);
    assert!(reader
        .events(SubjectKind::User, GONE, ..)
        .unwrap()
        .is_empty());
    drop(reader);
    // Other users keep their data.
    assert_eq!(
        store.events(SubjectKind::User, "u1", ..).unwrap().len(),
        23,
        "22 in the load (i % 7 == 1 and i % 4 != 0) and one appended"
    );

    // The same ID starts a new, empty user; everything holds across a
    // reopen, read-only and as a writer.
    store
        .append(
            &[user(GONE, "view", T0 + 900_000)],
            AppendOptions::default(),
        )
        .unwrap();
    assert_eq!(store.events(SubjectKind::User, GONE, ..).unwrap().len(), 1);
    let again = store.view();
    let profile = again.profile(SubjectKind::User, GONE).unwrap().unwrap();
    assert!(
        profile.is_empty(),
        "no tag or attribute of the deleted user"
    );
    drop(again);
    drop(store);
    for options in [StoreOptions::read_only(), StoreOptions::default()] {
        let store = Store::open(dir.path(), options).unwrap();
        assert_eq!(store.events(SubjectKind::User, GONE, ..).unwrap().len(), 1);
        assert_eq!(check_derived(&store).unwrap(), before.events - 50);
        assert_eq!(
            store.stats().users,
            before.users,
            "the old dense id, empty, is not counted; the new user is"
        );
    }
}

#[test]
fn deleting_an_unknown_user_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    store
        .append(&[user("u1", "view", T0)], AppendOptions::default())
        .unwrap();
    assert!(store.delete_user("nobody").unwrap().is_none());
    assert_eq!(check_derived(&store).unwrap(), 1);
}

/// A deletion's batch records a pending purge; a writer that opens a store
/// where the purge did not run (the process stopped in between) runs it
/// first. Simulated: the marker, and a value only a purge removes from
/// the files (written, then overwritten, outside cohort; a value, as
/// cohort keeps IDs and data only in values).
#[test]
fn a_purge_left_pending_by_a_crash_runs_when_a_writer_opens() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        store
            .append(&[user("u1", "view", T0)], AppendOptions::default())
            .unwrap();
    }
    {
        let opts = rocksdb::Options::default();
        let cfs = rocksdb::DB::list_cf(&opts, dir.path()).unwrap();
        let db = rocksdb::DB::open_cf(&opts, dir.path(), &cfs).unwrap();
        let segments = db.cf_handle("segments").unwrap();
        db.put_cf(segments, b"k", SECRET).unwrap();
        db.flush_cf(segments).unwrap();
        db.put_cf(segments, b"k", b"x").unwrap();
        db.put_cf(db.cf_handle("meta").unwrap(), b"purge_pending", b"")
            .unwrap();
    }
    assert!(
        !files_holding(dir.path(), SECRET).is_empty(),
        "the test can fail"
    );
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(files_holding(dir.path(), SECRET), Vec::<String>::new());
    drop(store);
    let opts = rocksdb::Options::default();
    let cfs = rocksdb::DB::list_cf(&opts, dir.path()).unwrap();
    let db = rocksdb::DB::open_cf(&opts, dir.path(), &cfs).unwrap();
    assert!(db
        .get_cf(db.cf_handle("meta").unwrap(), b"purge_pending")
        .unwrap()
        .is_none());
}
