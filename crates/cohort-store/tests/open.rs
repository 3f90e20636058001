//! Opening: new stores, missing stores, foreign directories, other format versions.

use cohort_store::{Store, StoreError, StoreOptions, FORMAT_VERSION, OLDEST_FORMAT_VERSION};

#[test]
fn a_missing_store_is_an_error_when_not_creating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nothing-here");
    let options = StoreOptions {
        create_if_missing: false,
        ..Default::default()
    };
    let err = Store::open(&path, options).err().expect("no store there");
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    assert!(err.to_string().starts_with("no cohort store at "), "{err}");
    assert!(!path.exists(), "nothing was created");
    // Read-only never creates one either.
    let err = Store::open(&path, StoreOptions::read_only())
        .err()
        .expect("no store there");
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}

/// Regression (issue 8, case 9): a directory with files but no database
/// said "ingest first" to readers while ingest refused it. Both now say
/// what it is.
#[test]
fn a_directory_without_a_database_is_not_a_store_for_readers_or_writers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("events.ndjson"), "{}").unwrap();
    for options in [
        StoreOptions::default(),
        StoreOptions::read_only(),
        StoreOptions {
            create_if_missing: false,
            ..Default::default()
        },
    ] {
        let err = Store::open(dir.path(), options).err().expect("not a store");
        assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
        assert!(
            err.to_string().contains("holds files but no database"),
            "{err}"
        );
    }
}

/// Found by a hostile run: `--db` naming a regular file gave RocksDB's
/// "Failed to create RocksDB directory … File exists" to writers.
#[test]
fn a_file_is_not_a_store_for_readers_or_writers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.ndjson");
    std::fs::write(&file, "{}").unwrap();
    for options in [StoreOptions::default(), StoreOptions::read_only()] {
        let err = Store::open(&file, options).err().expect("not a store");
        assert!(
            err.to_string()
                .ends_with("is not a cohort store: it is a file, not a directory"),
            "{err}"
        );
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{}");
}

#[test]
fn a_directory_with_other_files_is_not_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = Store::open(dir.path(), StoreOptions::default())
        .err()
        .expect("not a store");
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    assert!(
        err.to_string().ends_with(
            "is not a cohort store: the directory holds files but no database (no CURRENT file)"
        ),
        "{err}"
    );
}

#[test]
fn an_unknown_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path(), StoreOptions::default()).unwrap());
    {
        // Rewrite the version as a future cohort would, with a column family it added.
        let mut opts = rocksdb::Options::default();
        opts.create_missing_column_families(true);
        let cfs = rocksdb::DB::list_cf(&opts, dir.path()).unwrap();
        let mut db = rocksdb::DB::open_cf(&opts, dir.path(), &cfs).unwrap();
        db.create_cf("from_the_future", &opts).unwrap();
        let meta = db.cf_handle("meta").unwrap();
        db.put_cf(meta, b"format_version", (FORMAT_VERSION + 1).to_be_bytes())
            .unwrap();
    }
    let err = Store::open(dir.path(), StoreOptions::default())
        .err()
        .expect("refused");
    match &err {
        StoreError::UnsupportedFormat {
            found,
            supported,
            oldest,
            ..
        } => {
            assert_eq!((*found, *supported), (FORMAT_VERSION + 1, FORMAT_VERSION));
            assert_eq!(*oldest, OLDEST_FORMAT_VERSION);
        }
        other => panic!("expected UnsupportedFormat, got {other}"),
    }
    assert!(
        err.to_string().ends_with(&format!(
            "has format version {}; this cohort reads versions {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION}",
            FORMAT_VERSION + 1
        )),
        "{err}"
    );
}

#[test]
fn a_store_in_use_is_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let err = Store::open(dir.path(), StoreOptions::default())
        .err()
        .expect("locked");
    assert!(matches!(err, StoreError::Locked(_)), "{err}");
}

/// Found by the CLI crash test under load: a first `cohort ingest` killed
/// while RocksDB created the store left LOCK, LOG, IDENTITY and a MANIFEST
/// but no CURRENT, and every later command called the directory "not a
/// store". Nothing can be stored before creation ends, so a writer creates
/// the store afresh and a reader finds none; any other file still makes
/// the directory not a store.
#[test]
fn a_creation_killed_before_current_is_an_empty_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    std::fs::create_dir(&db).unwrap();
    for (name, content) in [
        ("LOCK", ""),
        ("LOG", "RocksDB log text"),
        ("IDENTITY", "3f1c"),
        ("MANIFEST-000001", "half a manifest"),
        ("000001.dbtmp", ""),
    ] {
        std::fs::write(db.join(name), content).unwrap();
    }
    let err = Store::open(&db, StoreOptions::read_only()).err().unwrap();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    let store = Store::open(&db, StoreOptions::default()).unwrap();
    assert_eq!(store.stats().events, 0);
    drop(store);
    assert!(Store::open(&db, StoreOptions::read_only()).is_ok());

    // A table file (or any file of the user's) keeps it "not a store".
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("LOCK"), "").unwrap();
    std::fs::write(other.join("000009.sst"), "data").unwrap();
    let err = Store::open(&other, StoreOptions::default()).err().unwrap();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    // So does a write-ahead log (made only after CURRENT).
    std::fs::remove_file(other.join("000009.sst")).unwrap();
    std::fs::write(other.join("000004.log"), "").unwrap();
    let err = Store::open(&other, StoreOptions::default()).err().unwrap();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
}

/// The moment after: RocksDB made the database (CURRENT, only its default
/// family) and the process died before cohort made its families. A reader
/// finds no store yet; a writer finishes creating it.
#[test]
fn a_creation_killed_before_the_families_is_no_store_yet() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        rocksdb::DB::open(&opts, dir.path()).unwrap();
    }
    no_store_yet_until_a_writer_creates_it(dir.path());
}

/// And the moment after that: some of cohort's families made, no format
/// version written. Still no store to a reader (it said "corrupt: the
/// column families … are missing"); a writer finishes it.
#[test]
fn a_creation_killed_among_the_families_is_no_store_yet() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        rocksdb::DB::open_cf(&opts, dir.path(), ["meta", "log", "time"]).unwrap();
    }
    no_store_yet_until_a_writer_creates_it(dir.path());
}

/// A reader finds no store in `path`; a writer creates an empty one, which
/// readers then open.
fn no_store_yet_until_a_writer_creates_it(path: &std::path::Path) {
    let err = Store::open(path, StoreOptions::read_only()).err().unwrap();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    let store = Store::open(path, StoreOptions::default()).unwrap();
    assert_eq!(store.stats().events, 0);
    drop(store);
    assert!(Store::open(path, StoreOptions::read_only()).is_ok());
}
