//! Property: for random events in any order and any batching, reading a
//! subject's events back gives them in time order, none lost, none added;
//! and recent events page through everything exactly once, newest first.

mod common;

use std::collections::BTreeMap;

use cohort_store::{
    AppendOptions, Durability, RecentQuery, Store, StoreOptions, SubjectKind, Value,
};
use proptest::prelude::*;

/// (time, type, amount) of one event read back.
type Row = (i64, String, f64);

#[derive(Debug, Clone)]
struct Ev {
    device: bool,
    subject: u8,
    ty: u8,
    time: i64,
    amount: i32,
}

fn ev() -> impl Strategy<Value = Ev> {
    (
        any::<bool>(),
        0u8..6,
        0u8..4,
        prop_oneof![-3i64..3, -100_000_000_000i64..100_000_000_000],
        any::<i32>(),
    )
        .prop_map(|(device, subject, ty, time, amount)| Ev {
            device,
            subject,
            ty,
            time,
            amount,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn events_come_back_in_time_order_none_lost_none_added(
        events in prop::collection::vec(ev(), 1..120),
        cuts in prop::collection::vec(0usize..120, 0..4),
        reopen in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c % events.len()).collect();
        bounds.push(0);
        bounds.push(events.len());
        bounds.sort_unstable();
        for w in bounds.windows(2) {
            let batch: Vec<_> = events[w[0]..w[1]].iter().map(|e| common::event(
                if e.device { SubjectKind::Device } else { SubjectKind::User },
                &format!("s{}", e.subject),
                &format!("t{}", e.ty),
                e.time,
                &[("amount", Value::Number(e.amount as f64))],
            )).collect();
            store.append(&batch, AppendOptions { durability: Durability::Buffered, received_at: None }).unwrap();
        }
        if reopen {
            drop(store);
            store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        }
        // Expected: per subject, the input events, stably sorted by time
        // (ties keep input order, which is arrival order).
        let mut expected: BTreeMap<(bool, u8), Vec<Row>> = BTreeMap::new();
        for e in &events {
            expected.entry((e.device, e.subject)).or_default().push((e.time, format!("t{}", e.ty), e.amount as f64));
        }
        let mut total = 0;
        for ((device, subject), mut want) in expected {
            want.sort_by_key(|w| w.0);
            let kind = if device { SubjectKind::Device } else { SubjectKind::User };
            let got: Vec<Row> = store
                .events(kind, &format!("s{subject}"), ..)
                .unwrap()
                .into_iter()
                .filter(|e| e.event_type != "@first_session")
                .map(|e| match &e.data[..] {
                    [(k, Value::Number(x))] if k == "amount" => (e.time, e.event_type, *x),
                    other => panic!("unexpected data {other:?}"),
                })
                .collect();
            total += got.len();
            prop_assert_eq!(got, want);
        }
        prop_assert_eq!(total, events.len());
        // Recent events: everything exactly once, newest first.
        let mut seen = 0u64;
        let mut before = None;
        let mut last = None;
        loop {
            let page = store.recent(&RecentQuery { limit: 17, before, ..Default::default() }).unwrap();
            for e in &page.events {
                if let Some(prev) = last {
                    prop_assert!(prev > (e.time, e.seq));
                }
                last = Some((e.time, e.seq));
            }
            seen += page.events.len() as u64;
            match page.next { Some(c) => before = Some(c), None => break }
        }
        prop_assert_eq!(seen, store.stats().events);
    }
}
