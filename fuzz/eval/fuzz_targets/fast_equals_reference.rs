//! On a small store built from the input's first part (NDJSON events), the
//! filter in its last line gives the same members in the fast and the
//! reference evaluator.
#![no_main]

use cohort_eval::{evaluate, reference, EvalOptions, Executor, NoSegments};
use cohort_store::{AppendOptions, Source, Store, StoreOptions, SubjectKind};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_780_000_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Some((events, filter)) = text.rsplit_once('\n') else { return };
    let Ok(filter) = cohort_filter::parse(filter) else { return };
    let events: Vec<_> = events.lines().filter_map(|l| cohort_event::parse_event(l.as_bytes(), Source::System).ok()).take(50).collect();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    store.append(&events, AppendOptions { received_at: Some(NOW - 1), ..Default::default() }).unwrap();
    let view = store.view();
    for kind in SubjectKind::ALL {
        let options = EvalOptions { now: NOW, kind, executor: Executor::single_thread() };
        let fast = evaluate(&view, &filter, &NoSegments, &options).unwrap();
        for sid in 0..view.subject_count(kind) {
            let id = view.subject_id(kind, sid).unwrap();
            let evs = view.events(kind, &id, ..).unwrap();
            let want = reference::evaluate(&filter, &evs, NOW, &NoSegments).unwrap();
            assert_eq!(fast.contains(sid), want, "{filter} for {kind} {id}");
        }
    }
});
