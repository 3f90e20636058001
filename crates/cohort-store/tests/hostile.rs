//! Regression tests for issue 8: what a hostile input or a damaged store
//! did to the store, and what it does now. Bounds are measured by counting
//! (allocated bytes, batch bytes), never by time.

mod common;

use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::process::{Command, Stdio};

use cohort_store::{
    AppendOptions, Durability, Recovery, Store, StoreError, StoreOptions, SubjectKind, Value,
};
use common::{check_derived, event, user};

#[global_allocator]
static ALLOC: cohort_testkit::Counting = cohort_testkit::Counting;

const T0: i64 = 1_780_000_000_000;

fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, StoreOptions::default()).unwrap()
}

/// Case 1: a thousand events with a hundred distinct numeric keys each
/// cost rows × keys (36 s, 2.4 GB, a 770 MB store), and afterwards every
/// single event of the type wrote ~1 MB (the whole catalog record).
#[test]
fn many_distinct_data_keys_cost_what_their_values_cost() {
    let _only = cohort_testkit::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let keys: Vec<Vec<(String, Value)>> = (0..1000)
        .map(|i| {
            (0..100)
                .map(|j| (format!("k{i}_{j}"), Value::Number(j as f64)))
                .collect()
        })
        .collect();
    let events: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let data: Vec<(&str, Value)> =
                data.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            event(
                SubjectKind::User,
                &format!("u{i}"),
                "t",
                T0 + i as i64,
                &data,
            )
        })
        .collect();
    let (receipt, peak) =
        cohort_testkit::peak_of(|| store.append(&events, AppendOptions::default()).unwrap());
    // 100,000 values: the log, the block and the catalog each hold each
    // value (or key) once, a few dozen bytes apiece.
    assert!(
        receipt.batch_bytes < 100_000 * 120,
        "{} bytes",
        receipt.batch_bytes
    );
    assert!(peak < 100 << 20, "peak {peak} bytes");
    // One more event of the type writes its own key counts, not every key's.
    let one = store
        .append(
            &[event(
                SubjectKind::User,
                "u0",
                "t",
                T0,
                &[("k0_0", Value::Number(1.0))],
            )],
            AppendOptions::default(),
        )
        .unwrap();
    assert!(
        one.batch_bytes < 2_000,
        "{} bytes for one event",
        one.batch_bytes
    );
    let catalog = store.catalog().unwrap();
    assert_eq!(catalog[0].keys.len(), 100_000);
    assert_eq!(catalog[0].count, 1001);
    assert_eq!(check_derived(&store).unwrap(), 1001);
    // Reopened, the catalog reads back whole.
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.catalog().unwrap()[0].keys.len(), 100_000);
}

/// Case 1: forty thousand new event types in one write were looked up in
/// a list, one by one. Each new type now costs a constant number of bytes
/// in the batch, and they all arrive.
#[test]
fn forty_thousand_new_types_in_one_write() {
    // Other tests of this binary count allocations (see `exclusive`).
    let _only = cohort_testkit::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let events: Vec<_> = (0..40_000)
        .map(|i| user("u", &format!("type{i}"), T0 + i))
        .collect();
    let receipt = store.append(&events, AppendOptions::default()).unwrap();
    assert_eq!(receipt.stored, 40_000);
    assert!(
        receipt.batch_bytes < 40_000 * 200,
        "{} bytes",
        receipt.batch_bytes
    );
    assert_eq!(store.catalog().unwrap().len(), 40_000);
    assert_eq!(store.type_id("type39999"), Some(39_999));
}

/// Found by a hostile run (issue 8): 200,000 events each with a type and
/// 50 keys of its own made every later command load 10 million catalog
/// entries (2.4 GB; `catalog` aborted at 3.3 GB). The dictionaries are
/// capped, a write past a cap is refused whole with a clear error, and
/// key counts are not held in memory.
#[test]
fn distinct_types_and_keys_are_capped_and_key_counts_stay_on_disk() {
    let _only = cohort_testkit::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let options = || StoreOptions {
        max_event_types: 50,
        max_data_keys: 400,
        ..Default::default()
    };
    let store = Store::open(dir.path(), options()).unwrap();
    let with_keys = |ty: &str, n: usize, from: usize| {
        let data: Vec<(String, Value)> = (from..from + n)
            .map(|j| (format!("k{j}"), Value::Number(1.0)))
            .collect();
        let data: Vec<(&str, Value)> = data.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        event(SubjectKind::User, "u", ty, T0, &data)
    };
    let events: Vec<_> = (0..50)
        .map(|i| with_keys(&format!("t{i}"), 8, i * 8))
        .collect();
    store.append(&events, AppendOptions::default()).unwrap();
    let err = store
        .append(&[user("u", "one_more", T0)], AppendOptions::default())
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Capacity { limit: 50, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("\"one_more\" would be one more"),
        "{err}"
    );
    let err = store
        .append(&[with_keys("t0", 1, 400)], AppendOptions::default())
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Capacity { limit: 400, .. }),
        "{err}"
    );
    // Nothing of a refused write is stored.
    assert_eq!(check_derived(&store).unwrap(), 50);
    drop(store);
    // Opening holds the types and keys, not their 400 (type, key) counts.
    let (store, peak) = cohort_testkit::peak_of(|| Store::open(dir.path(), options()).unwrap());
    assert!(peak < 1 << 20, "opening allocated {peak} bytes");
    assert_eq!(
        store
            .catalog()
            .unwrap()
            .iter()
            .map(|c| c.keys.len())
            .sum::<usize>(),
        400
    );
}

/// Writes a store with `n` synced batches in a child process and kills it
/// with SIGKILL, so that the batches are in the write-ahead log only.
fn killed_writer(dir: &std::path::Path, batches: u32) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "wal_child", "--nocapture", "--test-threads=1"])
        .env("COHORT_WAL_DIR", dir)
        .env("COHORT_WAL_BATCHES", batches.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let done = lines.any(|l| l.is_ok_and(|l| l.ends_with("written")));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(done, "the writer did not finish its batches");
}

#[test]
fn wal_child() {
    // Other tests of this binary count allocations (see `exclusive`).
    let _only = cohort_testkit::exclusive();
    let Ok(dir) = std::env::var("COHORT_WAL_DIR") else {
        return;
    };
    let batches: u32 = std::env::var("COHORT_WAL_BATCHES")
        .unwrap()
        .parse()
        .unwrap();
    let store = open(std::path::Path::new(&dir));
    for b in 0..batches {
        let events: Vec<_> = (0..50)
            .map(|i| {
                event(
                    SubjectKind::User,
                    &format!("u{}", (b * 50 + i) % 97),
                    "tick",
                    T0 + i64::from(b),
                    &[("batch", Value::Number(f64::from(b)))],
                )
            })
            .collect();
        store.append(&events, AppendOptions::default()).unwrap();
    }
    println!("written");
    std::io::stdout().flush().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(60));
}

fn wal_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    logs
}

/// Case 6: a corrupt byte in the write-ahead log made the default recovery
/// drop every later batch in silence (29,996 of 61,310 acknowledged events
/// left), and the next command made the loss permanent.
#[test]
fn a_damaged_write_ahead_log_is_refused_and_salvage_is_explicit() {
    // Other tests of this binary count allocations (see `exclusive`).
    let _only = cohort_testkit::exclusive();
    let dir = tempfile::tempdir().unwrap();
    killed_writer(dir.path(), 40);
    let log = wal_files(dir.path()).pop().expect("a write-ahead log");
    let len = std::fs::metadata(&log).unwrap().len();
    assert!(len > 40 * 1000, "the batches are in the log ({len} bytes)");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&log)
        .unwrap();
    file.seek(SeekFrom::Start(len / 2)).unwrap();
    let mut byte = [0u8];
    std::io::Read::read_exact(&mut file, &mut byte).unwrap();
    file.seek(SeekFrom::Start(len / 2)).unwrap();
    file.write_all(&[byte[0] ^ 0x5A]).unwrap();
    drop(file);
    for _ in 0..2 {
        // Refused, and refusing changes nothing: the second try sees the same.
        let err = Store::open(dir.path(), StoreOptions::default())
            .err()
            .expect("refused");
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
        assert!(err.to_string().contains("cohort recover"), "{err}");
        let err = Store::open(dir.path(), StoreOptions::read_only())
            .err()
            .expect("refused");
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
    }
    assert_eq!(std::fs::metadata(&log).unwrap().len(), len);
    // Salvage, asked for, keeps the whole batches before the damage.
    let store = Store::open(
        dir.path(),
        StoreOptions {
            recovery: Recovery::Salvage,
            ..Default::default()
        },
    )
    .unwrap();
    let kept = check_derived(&store).unwrap();
    assert!(
        kept > 0 && kept < 40 * 50 && kept.is_multiple_of(50),
        "{kept} events kept"
    );
}

/// A write cut short by a crash (an incomplete last record, never
/// acknowledged) is not damage: the store opens with every whole batch.
#[test]
fn a_torn_last_record_is_not_damage() {
    // Other tests of this binary count allocations (see `exclusive`).
    let _only = cohort_testkit::exclusive();
    let dir = tempfile::tempdir().unwrap();
    killed_writer(dir.path(), 10);
    let log = wal_files(dir.path()).pop().expect("a write-ahead log");
    let len = std::fs::metadata(&log).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
    file.set_len(len - 100).unwrap();
    drop(file);
    let store = open(dir.path());
    assert_eq!(check_derived(&store).unwrap(), 9 * 50);
}

/// Case 13: a crafted key naming subject 4,294,967,290 made opening
/// allocate ~100 GB. It is corruption, found before anything is sized.
#[test]
fn a_crafted_subject_id_is_corruption_not_an_allocation() {
    let _only = cohort_testkit::exclusive();
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store
            .append(&[user("u1", "t", T0)], AppendOptions::default())
            .unwrap();
    }
    for (family, key, value) in [
        ("facts", vec![0u8, 0xFF, 0xFF, 0xFF, 0xFA], vec![0u8; 24]),
        (
            "dict",
            vec![b'S', 0, 0xFF, 0xFF, 0xFF, 0xFA],
            b"evil".to_vec(),
        ),
        ("dict", vec![b'T', 0xFF, 0xFF, 0xFF, 0xFA], b"evil".to_vec()),
        ("catalog", vec![0xFF, 0xFF, 0xFF, 0xFA], vec![0, 0, 0, 0, 0]),
    ] {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        raw_put(copy.path(), family, &key, &value);
        let (result, peak) =
            cohort_testkit::peak_of(|| Store::open(copy.path(), StoreOptions::default()).map(drop));
        let err = result
            .err()
            .unwrap_or_else(|| panic!("{family} {key:?} was accepted"));
        assert!(matches!(err, StoreError::Corrupt(_)), "{family}: {err}");
        assert!(peak < 64 << 20, "{family}: opening allocated {peak} bytes");
    }
}

/// Case 13: blocks were not checked against the subject count; a block
/// naming a subject the store does not have made the evaluator index past
/// its arrays. Reading it is now an error.
#[test]
fn a_block_naming_an_unknown_subject_is_corruption() {
    // Other tests of this binary count allocations (see `exclusive`).
    let _only = cohort_testkit::exclusive();
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store
            .append(&[user("u1", "t", T0)], AppendOptions::default())
            .unwrap();
    }
    // kind 0 · type 0 · the event's week · seq 0 (in place of the real
    // block: a block from seq 1 on would not be visible yet, see bulk.rs):
    // one row, subject 7.
    let bucket = cohort_store::bucket_of(T0);
    let mut key = vec![0u8, 0, 0, 0, 0];
    key.extend_from_slice(&(((bucket as u64) ^ (1 << 63)).to_be_bytes()));
    key.extend_from_slice(&0u64.to_be_bytes());
    let mut value = Vec::new();
    value.extend_from_slice(&1u32.to_le_bytes());
    value.extend_from_slice(&7u32.to_le_bytes());
    value.extend_from_slice(&T0.to_le_bytes());
    value.extend_from_slice(&0u32.to_le_bytes());
    raw_put(dir.path(), "blocks", &key, &value);
    raw_put(dir.path(), "block_index", &key, &1u32.to_le_bytes());
    let store = open(dir.path());
    let view = store.view();
    let err = view
        .blocks(SubjectKind::User, 0, bucket..=bucket)
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("names user #7, but the store has 1 users"),
        "{err}"
    );
}

/// Case 9: a reader could not open a store that a writer had open. A
/// read-only store is a view as of its opening, and says who writes.
#[test]
fn a_reader_opens_a_store_that_a_writer_has_open() {
    // Other tests of this binary count allocations (see `exclusive`).
    let _only = cohort_testkit::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let writer = open(dir.path());
    writer
        .append(&[user("u1", "t", T0)], AppendOptions::default())
        .unwrap();
    let reader = Store::open(dir.path(), StoreOptions::read_only()).unwrap();
    assert!(reader.is_read_only());
    assert_eq!(reader.writer_pid(), Some(std::process::id()));
    assert_eq!(reader.view().next_seq(), 1);
    assert_eq!(check_derived(&reader).unwrap(), 1);
    writer
        .append(&[user("u2", "t", T0)], AppendOptions::default())
        .unwrap();
    // The reader's view is as of its opening.
    assert_eq!(reader.view().next_seq(), 1);
    let err = reader.append(&[user("u3", "t", T0)], AppendOptions::default());
    assert!(matches!(err, Err(StoreError::ReadOnly(_))));
    drop(writer);
    // With no writer, a reader sees everything and says nobody writes.
    let reader = Store::open(dir.path(), StoreOptions::read_only()).unwrap();
    assert_eq!(reader.writer_pid(), None);
    assert_eq!(check_derived(&reader).unwrap(), 2);
}

/// Acknowledged means synced: a `Sync` append is durable when it returns,
/// a `Buffered` one after [`Store::sync`].
#[test]
fn durable_sequence_follows_the_syncs() {
    // Other tests of this binary count allocations (see `exclusive`).
    let _only = cohort_testkit::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let synced = store
        .append(&[user("u1", "t", T0)], AppendOptions::default())
        .unwrap();
    assert_eq!(store.durable_seq(), synced.seq_end);
    let buffered = store
        .append(
            &[user("u1", "t", T0)],
            AppendOptions {
                durability: Durability::Buffered,
                received_at: None,
            },
        )
        .unwrap();
    assert!(store.durable_seq() < buffered.seq_end);
    store.sync().unwrap();
    assert_eq!(store.durable_seq(), buffered.seq_end);
}

/// Group commit: one sync covers every buffered commit made before it, so
/// waiting for each of them costs one sync, not one each.
#[test]
fn one_sync_covers_every_commit_before_it() {
    let _only = cohort_testkit::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let buffered = AppendOptions {
        durability: Durability::Buffered,
        received_at: None,
    };
    let receipts: Vec<_> = (0..5)
        .map(|i| {
            store
                .append(&[user(&format!("u{i}"), "t", T0)], buffered)
                .unwrap()
        })
        .collect();
    assert!(receipts.windows(2).all(|w| w[0].commit < w[1].commit));
    let before = store.wal_syncs();
    for r in &receipts {
        store.sync_through(r.commit).unwrap();
    }
    assert_eq!(
        store.wal_syncs() - before,
        1,
        "the first sync covered all five"
    );
    assert_eq!(store.durable_seq(), receipts[4].seq_end);
    // A synced write needs no sync of ours.
    let synced = store
        .append(&[user("v", "t", T0)], AppendOptions::default())
        .unwrap();
    store.sync_through(synced.commit).unwrap();
    assert_eq!(store.wal_syncs() - before, 1);
    // Threads that wait together share syncs, and each returns durable.
    let store = std::sync::Arc::new(store);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let store = std::sync::Arc::clone(&store);
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..20 {
                    let r = store
                        .append(&[user(&format!("t{t}-{i}"), "t", T0)], buffered)
                        .unwrap();
                    store.sync_through(r.commit).unwrap();
                    assert!(store.durable_seq() >= r.seq_end);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let syncs = store.wal_syncs() - before - 1;
    assert!(syncs <= 160, "never more syncs than writes: {syncs}");
}

/// A request remembered under a key is stored once; a retry gets the
/// first answer, another body under the key a conflict; the record is
/// written with the request, so it survives reopening.
#[test]
fn remembered_requests_store_once() {
    use cohort_store::{Applied, GroupWrite, Remember};
    let _only = cohort_testkit::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let request = cohort_event::parse_track_request(
        br#"{"events":[{"subjectType":"user","subjectId":"u1","type":"buy"}]}"#,
        cohort_event::Source::Client,
        T0,
    )
    .unwrap();
    let once = |store: &Store, key: &str, digest: u8, now: i64| {
        store
            .apply_grouped(GroupWrite {
                request: request.clone(),
                options: AppendOptions::default(),
                remember: Some(Remember {
                    key: key.to_owned(),
                    digest: [digest; 16],
                    ttl_ms: 1000,
                }),
                now,
            })
            .map(|outcome| outcome.applied)
    };
    {
        let store = open(dir.path());
        let first = once(&store, "k1", 1, T0).unwrap();
        assert!(matches!(first, Applied::New(r) if r.stored == 1));
        let again = once(&store, "k1", 1, T0 + 10).unwrap();
        assert!(matches!(again, Applied::Again(r) if r.stored == 1 && r.at == T0));
        let other = once(&store, "k1", 2, T0 + 10).unwrap();
        assert!(matches!(other, Applied::Conflict(_)));
        assert_eq!(store.view().next_seq(), 1);
    }
    let store = open(dir.path());
    let after = once(&store, "k1", 1, T0 + 20).unwrap();
    assert!(
        matches!(after, Applied::Again(_)),
        "remembered across a reopen"
    );
    // Past its time the key is free again, and old records can be forgotten.
    let later = once(&store, "k1", 2, T0 + 5000).unwrap();
    assert!(matches!(later, Applied::New(_)));
    assert_eq!(store.view().next_seq(), 2);
    assert_eq!(store.forget_requests_before(T0 + 6000).unwrap(), 1);
    assert_eq!(store.remembered("k1").unwrap(), None);
    assert!(matches!(
        once(&store, "", 0, T0),
        Err(StoreError::BadRequestKey { bytes: 0, .. })
    ));
    let long = "k".repeat(cohort_store::MAX_REQUEST_KEY_BYTES + 1);
    assert!(matches!(
        once(&store, &long, 0, T0),
        Err(StoreError::BadRequestKey { .. })
    ));
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Writes one key straight into RocksDB, as damage or an attacker would.
fn raw_put(dir: &std::path::Path, family: &str, key: &[u8], value: &[u8]) {
    let opts = rocksdb::Options::default();
    let cfs = rocksdb::DB::list_cf(&opts, dir).unwrap();
    let db = rocksdb::DB::open_cf(&opts, dir, &cfs).unwrap();
    db.put_cf(db.cf_handle(family).unwrap(), key, value)
        .unwrap();
}

/// Found in review (issue 9): blocks decode their columns lazily, and the
/// decoded-block cache counted a block at insert; columns decoded later
/// grew it past that. A block is now counted at its size with every column
/// decoded, known before decoding: decoding them all allocates no more.
#[test]
fn a_cached_block_never_outgrows_what_the_cache_counted() {
    let _only = cohort_testkit::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let s = |x: String| Value::String(x);
    let events: Vec<_> = (0..5_000)
        .map(|i| {
            event(
                SubjectKind::User,
                &format!("u{}", i % 300),
                "view",
                T0 + i,
                &[
                    ("n", Value::Number(i as f64)),
                    ("label", s(format!("item-{}", i % 700))),
                    ("tag", s(format!("t{}", i % 3))),
                ],
            )
        })
        .collect();
    store.append(&events, AppendOptions::default()).unwrap();
    let view = store.view();
    let bucket = cohort_store::bucket_of(T0);
    // Cached with no column decoded ...
    let blocks = view
        .blocks_with_columns(SubjectKind::User, 0, bucket..=bucket, Some(&[]))
        .unwrap();
    assert!(!blocks.is_empty());
    let counted: usize = blocks.iter().map(|b| b.heap_bytes()).sum();
    // ... then every column decoded: the growth stays within the count.
    let live_before = cohort_testkit::live_bytes();
    let ((), peak) = cohort_testkit::peak_of(|| {
        for b in &blocks {
            b.decode_columns(None).unwrap();
        }
    });
    let grown = cohort_testkit::live_bytes() - live_before;
    assert!(grown > 0, "columns were decoded");
    assert!(
        peak <= counted,
        "decoding took {peak} bytes (kept {grown}); the cache counted {counted} for these blocks"
    );
    assert_eq!(
        blocks.iter().map(|b| b.heap_bytes()).sum::<usize>(),
        counted
    );
}

/// Found in review (issue 9): a current facts snapshot that holds fewer
/// subjects than the dictionary is corruption, refused at open, never a
/// store whose last subjects silently have no facts.
#[test]
fn a_snapshot_that_disagrees_with_the_dictionary_is_refused() {
    // Other tests of this binary count allocations (see `exclusive`).
    let _only = cohort_testkit::exclusive();
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        let events: Vec<_> = (0..10)
            .map(|i| user(&format!("u{i}"), "view", T0 + i))
            .collect();
        store.append(&events, AppendOptions::default()).unwrap();
        store.flush().unwrap();
    }
    let snapshot = {
        let opts = rocksdb::Options::default();
        let cfs = rocksdb::DB::list_cf(&opts, dir.path()).unwrap();
        let db = rocksdb::DB::open_cf(&opts, dir.path(), &cfs).unwrap();
        db.get_cf(db.cf_handle("meta").unwrap(), b"facts_snapshot")
            .unwrap()
            .expect("a settled store has a snapshot")
    };
    // Same instant, one user fewer: header says 9 users, 9 records.
    // (Layout 2: version, next_seq, profile_seq, users at 17, devices.)
    let mut short = snapshot[..snapshot.len() - 32].to_vec();
    short[17..21].copy_from_slice(&9u32.to_le_bytes());
    raw_put(dir.path(), "meta", b"facts_snapshot", &short);
    for options in [StoreOptions::read_only(), StoreOptions::default()] {
        let err = Store::open(dir.path(), options).err().expect("refused");
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
        assert!(
            err.to_string().contains("10 users but 9 facts records"),
            "{err}"
        );
    }
}
