//! One view per evaluation (issue 8): while many threads write — new
//! subjects, new types, small blocks merged under new keys — every
//! evaluation reads one instant of the store, and equals the reference
//! evaluator on that same instant.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cohort_eval::NoSegments;
use cohort_store::{AppendOptions, Durability, Event, Store, StoreOptions, SubjectKind, Value};

const NOW: i64 = 1_780_000_000_000;
const HOUR: i64 = 3_600_000;

fn writer_events(writer: u64, round: u64) -> Vec<Event> {
    (0..20)
        .map(|i| {
            let n = writer * 1_000_003 + round * 31 + i;
            Event {
                subject_kind: if n.is_multiple_of(7) {
                    SubjectKind::Device
                } else {
                    SubjectKind::User
                },
                // New subjects keep arriving; old ones get more events.
                subject_id: format!("s{}", n % (50 + round * 3)),
                event_type: ["view", "cart", "buy", &format!("new{}", round % 9)][(n % 4) as usize]
                    .to_owned(),
                time: Some(NOW - ((n * 7919) % 400) as i64 * HOUR),
                data: vec![
                    ("amount".into(), Value::Number((n % 13) as f64)),
                    ("w".into(), Value::String(format!("w{writer}"))),
                ],
            }
        })
        .collect()
}

#[test]
fn evaluations_while_writers_write_equal_the_reference_on_their_view() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), StoreOptions::default()).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for round in 0..60 {
                    store
                        .append(
                            &writer_events(w, round),
                            AppendOptions {
                                durability: Durability::Buffered,
                                received_at: None,
                            },
                        )
                        .unwrap();
                }
            })
        })
        .collect();
    let filters = [
        "count(buy, last 10d) >= 1 and not did(cart, last 2d)",
        "sum(view, data.amount, last 30d) > 20",
        "first(*) >= now - 5d",
        "seq(view -> cart -> buy, within 3d)",
        "days(*, last 20d) >= 3 or did(new3 where data.w = \"w1\")",
    ]
    .map(|f| cohort_filter::parse(f).unwrap());
    let mut checked = 0;
    let watcher = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            for w in writers {
                w.join().unwrap();
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut last_seen = 0;
    while !done.load(Ordering::SeqCst) || checked < 3 {
        let view = store.view();
        for filter in &filters {
            for kind in SubjectKind::ALL {
                let (fast, reference) =
                    common::members_in_view(&view, filter, kind, NOW, &NoSegments);
                assert_eq!(
                    fast,
                    reference,
                    "{filter} ({kind}) at seq {}",
                    view.next_seq()
                );
            }
        }
        assert!(view.next_seq() >= last_seen, "views go forward");
        last_seen = view.next_seq();
        checked += 1;
    }
    watcher.join().unwrap();
    assert_eq!(store.view().next_seq(), 4 * 60 * 20 + store.stats().devices);
    assert!(checked >= 3);
}
