//! Crash safety: a child process appending durable batches is killed with
//! SIGKILL at random moments, many times. After each kill the store must
//! open, hold every batch that was acknowledged, whole, and show no part of
//! any batch that is not whole.
//!
//! Rounds take turns: appends; appends with `StoreOptions::bulk_load`
//! (vector memtables); and a `BulkLoad`, the way `cohort ingest` writes,
//! which stages batches and commits a random number of them at a time as
//! table files — each batch is acknowledged once its commit returns. After
//! each kill the store is first opened read-only (which must not see any
//! part of an unfinished commit), then for writing (which takes it back).
//!
//! The child is this same test binary, re-run with `--exact crash_child`
//! and `COHORT_CRASH_DIR` set; it prints `acked ROUND BATCH SIZE SEQ_END
//! DURABLE_SEQ` after each append returns. SIGKILL keeps the page cache, so
//! a missing fsync would go unseen here; instead every acknowledgement must
//! come after the store's own record of a sync covering it
//! (`durable_seq >= seq_end`), which moves only where the write-ahead log
//! is synced (`Store::commit`, `Store::sync`).
//!
//! After each kill the store must open, and every structure derived from
//! the log — facts, catalog, blocks, the time index — must agree with it
//! (`common::check_derived`). The CLI's own bulk path is killed the same
//! way in `crates/cohort-cli/tests/crash.rs`.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use cohort_store::{AppendOptions, Durability, Store, StoreOptions, SubjectKind, Value};
use common::{check_derived, event};

const USERS: u32 = 300;
const DEVICES: u32 = 60;
const ROUNDS: u64 = 25;

/// A small deterministic generator (xorshift), so the test needs no crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("COHORT_CRASH_DIR") else {
        return;
    };
    let round: u64 = std::env::var("COHORT_CRASH_ROUND")
        .unwrap()
        .parse()
        .unwrap();
    let options = StoreOptions {
        bulk_load: round % 3 == 1,
        ..Default::default()
    };
    let store = Store::open(&dir, options).unwrap();
    let mut bulk = (round % 3 == 2).then(|| store.bulk_load().unwrap());
    let mut staged: Vec<(u64, u64)> = Vec::new();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (round + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    for batch in 0.. {
        let size = 1 + rng.below(40);
        let events: Vec<_> = (0..size)
            .map(|_| {
                let (kind, id) = if rng.below(5) == 0 {
                    (
                        SubjectKind::Device,
                        format!("d{}", rng.below(DEVICES as u64)),
                    )
                } else {
                    (SubjectKind::User, format!("u{}", rng.below(USERS as u64)))
                };
                let data = [
                    ("round", Value::Number(round as f64)),
                    ("batch", Value::Number(batch as f64)),
                    ("size", Value::Number(size as f64)),
                ];
                event(
                    kind,
                    &id,
                    "tick",
                    1_700_000_000_000 + rng.below(1_000_000_000) as i64,
                    &data,
                )
            })
            .collect();
        if let Some(bulk) = bulk.as_mut() {
            bulk.append(&events, Default::default(), None, None)
                .unwrap();
            staged.push((batch, size));
            if rng.below(5) == 0 {
                let seq_end = bulk.commit().unwrap();
                for (batch, size) in staged.drain(..) {
                    println!(
                        "acked {round} {batch} {size} {seq_end} {}",
                        store.durable_seq()
                    );
                }
            }
        } else {
            let receipt = store
                .append(
                    &events,
                    AppendOptions {
                        durability: Durability::Sync,
                        received_at: None,
                    },
                )
                .unwrap();
            println!(
                "acked {round} {batch} {size} {} {}",
                receipt.seq_end,
                store.durable_seq()
            );
        }
        // Paced, so that the store (and the checks after each kill) stays
        // small enough for the default test run.
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

#[test]
fn killed_writer_loses_nothing_acknowledged_and_shows_no_partial_batch() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(0xC0FF_EE00_D15E_A5E5);
    let mut acked: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("COHORT_CRASH_DIR", dir.path())
            .env("COHORT_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text).ok();
            text
        });
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some((_, rest)) = line.split_once("acked ") {
                    let n: Vec<u64> = rest.split(' ').map(|x| x.parse().unwrap()).collect();
                    assert!(
                        n[4] >= n[3],
                        "batch {}/{} was acknowledged before a sync covered it: durable {} < {}",
                        n[0],
                        n[1],
                        n[4],
                        n[3]
                    );
                    lines.push(((n[0], n[1]), n[2]));
                }
            }
            lines
        });
        std::thread::sleep(Duration::from_millis(30 + rng.below(400)));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        acked.extend(reader.join().unwrap());
        let child_errors = errors.join().unwrap();
        assert!(
            !child_errors.contains("panicked"),
            "round {round}: the writer failed before it was killed:\n{child_errors}"
        );

        // A reader first: it must see whole batches only, even if the
        // child died inside a bulk commit; then the writer, which clears
        // what such a commit left.
        for options in [StoreOptions::read_only(), StoreOptions::default()] {
            let read_only = options.access == cohort_store::Access::ReadOnly;
            let store = match Store::open(dir.path(), options) {
                Ok(store) => store,
                // Killed before its first write made the store (a loaded
                // machine starts the child slowly): nothing was
                // acknowledged, and the writer below must still open it.
                Err(cohort_store::StoreError::NotFound(_)) if read_only && acked.is_empty() => {
                    continue
                }
                Err(e) => panic!("round {round}: the store does not open after SIGKILL: {e}"),
            };
            check_batches(&store, &acked, round);
        }
    }
    assert!(
        acked.len() as u64 >= ROUNDS * 8,
        "the children acknowledged too little to test anything: {}",
        acked.len()
    );
}

/// Every acknowledged batch is in the store whole, every batch in it is
/// whole, and every derived structure agrees with the log.
fn check_batches(store: &Store, acked: &BTreeMap<(u64, u64), u64>, round: u64) {
    let mut found: HashMap<(u64, u64), (u64, u64)> = HashMap::new();
    let mut total = 0u64;
    let subjects = (0..USERS)
        .map(|i| (SubjectKind::User, format!("u{i}")))
        .chain((0..DEVICES).map(|i| (SubjectKind::Device, format!("d{i}"))));
    for (kind, id) in subjects {
        for e in store.events(kind, &id, ..).unwrap() {
            total += 1;
            if e.event_type != "tick" {
                continue; // @first_session
            }
            let num = |k: &str| match e.data.iter().find(|(key, _)| key == k) {
                Some((_, Value::Number(x))) => *x as u64,
                other => panic!("event without {k}: {other:?}"),
            };
            let entry = found
                .entry((num("round"), num("batch")))
                .or_insert((0, num("size")));
            entry.0 += 1;
        }
    }
    for (&(r, b), &size) in acked {
        let (count, _) = found.get(&(r, b)).copied().unwrap_or((0, size));
        assert_eq!(
            count, size,
            "round {round}: acknowledged batch {r}/{b} has {count} of {size} events"
        );
    }
    for (&(r, b), &(count, size)) in &found {
        assert_eq!(
            count, size,
            "round {round}: batch {r}/{b} is partial: {count} of {size} events"
        );
    }
    let stats = store.stats();
    assert_eq!(
        stats.events, total,
        "round {round}: the catalog's counts match the log"
    );
    let checked = check_derived(store).unwrap_or_else(|e| panic!("round {round}: {e}"));
    assert_eq!(checked, total);
}
