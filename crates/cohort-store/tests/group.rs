//! Group commit of whole requests (`Store::apply_grouped`): many threads
//! writing at once get the answers, and leave the store, that writing the
//! same requests one by one would.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cohort_store::{
    AppendOptions, Applied, Durability, GroupWrite, Remember, Store, StoreOptions, SubjectKind,
    TrackRequest, Value,
};
use common::{check_derived, event};

const T0: i64 = 1_780_000_000_000;
const DAY: i64 = 86_400_000;
const THREADS: usize = 8;
const REQUESTS: usize = 40;

/// A small deterministic generator (xorshift), so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Request `j`: the same for every thread when it carries a key (`j` a
/// multiple of 5: every thread sends it, as retries of one request), its
/// own per thread otherwise.
fn request(thread: usize, j: usize) -> (TrackRequest, Option<String>) {
    let keyed = j.is_multiple_of(5);
    let mut rng =
        Rng(0x9e37_79b9_7f4a_7c15 ^ ((if keyed { 0 } else { thread + 1 } * 1000 + j) as u64));
    let n = 1 + rng.next(20) as usize;
    let events = (0..n)
        .map(|_| {
            let kind = if rng.next(3) == 0 {
                SubjectKind::Device
            } else {
                SubjectKind::User
            };
            let id = format!(
                "{}{}",
                if kind == SubjectKind::User { "u" } else { "d" },
                rng.next(60)
            );
            let ty = format!("t{}", rng.next(6));
            let time = T0 + rng.next(30 * DAY as u64) as i64;
            let amount = Value::Number(rng.next(10_000) as f64);
            event(kind, &id, &ty, time, &[("amount", amount)])
        })
        .collect();
    let request = TrackRequest {
        events,
        tags: Vec::new(),
        attributes: Vec::new(),
    };
    (request, keyed.then(|| format!("k{j}")))
}

fn grouped(request: TrackRequest, key: Option<String>) -> GroupWrite {
    let digest = [key.as_ref().map_or(0, |k| k.len() as u8); 16];
    GroupWrite {
        request,
        options: AppendOptions {
            durability: Durability::Buffered,
            received_at: Some(T0),
        },
        remember: key.map(|key| Remember {
            key,
            digest,
            ttl_ms: DAY,
        }),
        now: T0,
    }
}

/// Each subject's events as (type, time, data), sorted.
type Contents = BTreeMap<String, Vec<(String, i64, String)>>;

/// Every subject's events, and apart from them the number of
/// `@first_session` events.
fn contents(store: &Store) -> (Contents, usize) {
    let view = store.view();
    let mut out = BTreeMap::new();
    let mut first_sessions = 0;
    for kind in SubjectKind::ALL {
        for sid in 0..view.subject_count(kind) {
            let id = view.subject_id(kind, sid).unwrap();
            let mut events: Vec<_> = view
                .events(kind, &id, ..)
                .unwrap()
                .into_iter()
                .filter(|e| {
                    let first = e.event_type == "@first_session";
                    first_sessions += usize::from(first);
                    !first
                })
                .map(|e| (e.event_type, e.time, format!("{:?}", e.data)))
                .collect();
            events.sort();
            out.insert(format!("{kind}:{id}"), events);
        }
    }
    (out, first_sessions)
}

#[test]
fn concurrent_grouped_writes_equal_writes_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), StoreOptions::default()).unwrap());
    let answers: Vec<Vec<(u64, Option<String>, Applied)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = Arc::clone(&store);
                s.spawn(move || {
                    (0..REQUESTS)
                        .map(|j| {
                            let (request, key) = request(t, j);
                            let outcome =
                                store.apply_grouped(grouped(request, key.clone())).unwrap();
                            store.sync_through(outcome.commit).unwrap();
                            (outcome.commit, key, outcome.applied)
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Requests that stored something: fewer commits than requests.
    let stored_commits: Vec<u64> = answers
        .iter()
        .flatten()
        .filter(|a| matches!(a.2, Applied::New(_)))
        .map(|a| a.0)
        .collect();
    let distinct: std::collections::HashSet<_> = stored_commits.iter().collect();
    assert!(
        distinct.len() < stored_commits.len(),
        "some requests shared a commit ({} commits for {} stored requests)",
        distinct.len(),
        stored_commits.len()
    );

    // Each key was written once; every other attempt got its answer.
    let mut by_key: HashMap<String, Vec<Applied>> = HashMap::new();
    let (mut stored, mut first_sessions, mut new_subjects) = (0, 0, 0);
    for (_, key, applied) in answers.iter().flatten() {
        if let Applied::New(r) = applied {
            stored += r.stored;
            first_sessions += r.first_sessions;
            new_subjects += r.new_subjects;
        }
        if let Some(key) = key {
            by_key.entry(key.clone()).or_default().push(*applied);
        }
    }
    for (key, answers) in &by_key {
        let new: Vec<_> = answers
            .iter()
            .filter_map(|a| match a {
                Applied::New(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(new.len(), 1, "{key}: {answers:?}");
        for a in answers {
            match a {
                Applied::New(_) => {}
                Applied::Again(first) => assert_eq!(first.stored, new[0].stored as u64, "{key}"),
                Applied::Conflict(_) => panic!("{key}: same body, yet a conflict"),
            }
        }
    }

    // The same requests, one by one, in another order.
    let dir2 = tempfile::tempdir().unwrap();
    let one_by_one = Store::open(dir2.path(), StoreOptions::default()).unwrap();
    for j in (0..REQUESTS).rev() {
        for t in 0..THREADS {
            let (request, key) = request(t, j);
            if key.is_some() && t > 0 {
                continue;
            }
            one_by_one
                .apply(&request, AppendOptions::default())
                .unwrap();
        }
    }
    let (grouped_contents, grouped_first) = contents(&store);
    let (expected, expected_first) = contents(&one_by_one);
    assert_eq!(grouped_contents, expected);
    assert_eq!(grouped_first, expected_first);
    assert_eq!(first_sessions, expected_first, "@first_session answers");
    assert_eq!(new_subjects, expected.len(), "new subjects answered");
    assert_eq!(
        check_derived(&store).unwrap(),
        (stored + first_sessions) as u64
    );
    let counts = |s: &Store| {
        let mut c: Vec<_> = s
            .catalog()
            .unwrap()
            .into_iter()
            .map(|e| {
                // A device's @first_session is at its earliest event in the
                // request that brought it, which depends on the order.
                let order_free = e.name != "@first_session";
                let times = (e.first_seen, e.last_seen);
                (e.name, e.count, order_free.then_some(times))
            })
            .collect();
        c.sort();
        c
    };
    assert_eq!(counts(&store), counts(&one_by_one));

    // Durable: all of it is there after reopening.
    drop(store);
    let reopened = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(contents(&reopened).0, expected);
    assert_eq!(
        check_derived(&reopened).unwrap(),
        (stored + first_sessions) as u64
    );
}
