//! Many clients at once: trackers, evaluators and profile readers over
//! real TCP; the final answers equal the reference evaluator's on the
//! final store; every acknowledged event is there; and a graceful
//! shutdown answers every request in flight.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use cohort::eval::{reference, NoSegments};
use cohort::{Store, StoreOptions, SubjectKind};
use common::*;
use serde_json::json;

const FILTERS: [&str; 4] = [
    "count(purchase, since 2026-01-01) >= 3",
    "did(purchase where data.amount >= 500) and not did(refund)",
    "sum(purchase, data.amount) > 2000 or tag.plan = \"pro\"",
    "first(purchase) < 2026-03-01 and did(refund)",
];
const NOW: &str = "2026-12-01T00:00:00Z";

fn day(i: u64) -> String {
    format!(
        "2026-{:02}-{:02}T{:02}:00:00Z",
        1 + i % 11,
        1 + i % 28,
        i % 24
    )
}

#[test]
fn concurrent_clients_see_consistent_answers_equal_to_the_reference() {
    let (dir, key) = data_dir();
    let server = TestServer::start(config(dir.path()));
    let addr = server.addr;
    let acknowledged = Arc::new(AtomicU64::new(0));
    let writers_done = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        let mut writers = Vec::new();
        for w in 0..6u64 {
            let key = key.clone();
            let acknowledged = Arc::clone(&acknowledged);
            writers.push(s.spawn(move || {
                for r in 0..25u64 {
                    let mut events = Vec::new();
                    for i in 0..20u64 {
                        let n = w * 10_000 + r * 100 + i;
                        let user = format!("u{}", n % 97);
                        let kind = if n % 7 == 0 && n % 97 < 30 { "refund" } else { "purchase" };
                        events.push(json!({
                            "subjectType": "user", "subjectId": user, "type": kind,
                            "createdAt": day(n), "data": {"amount": (n * 37) % 1000},
                        }));
                    }
                    let mut body = json!({"events": events});
                    if r % 5 == 0 {
                        body["tags"] = json!([{"subjectType": "user", "subjectId": format!("u{}", (w + r) % 97),
                            "tags": {"plan": if r % 10 == 0 { json!("pro") } else { json!(null) }},
                            "createdAt": day(r)}]);
                    }
                    let body = serde_json::to_vec(&body).unwrap();
                    let resp = Request::new("POST", "/v1/projects/shop/track").key(&key).json(&body).send(addr).unwrap();
                    assert_eq!(resp.status, 200, "{}", resp.text());
                    acknowledged.fetch_add(json(&resp)["stored"]["events"].as_u64().unwrap(), Ordering::Relaxed);
                }
            }));
        }
        for e in 0..3usize {
            let key = key.clone();
            let done = Arc::clone(&writers_done);
            s.spawn(move || {
                let mut rounds = 0;
                while !done.load(Ordering::Relaxed) || rounds < 3 {
                    rounds += 1;
                    let body = serde_json::to_vec(
                        &json!({"filter": FILTERS[(e + rounds) % 4], "now": NOW, "limit": 10}),
                    )
                    .unwrap();
                    let r = Request::new("POST", "/v1/projects/shop/evaluate")
                        .key(&key)
                        .json(&body)
                        .send(addr)
                        .unwrap();
                    assert_eq!(r.status, 200, "{}", r.text());
                    let v = json(&r);
                    assert!(v["count"].as_u64().unwrap() <= v["universe"].as_u64().unwrap());
                    let r =
                        Request::new("GET", &format!("/v1/projects/shop/users/u{}", rounds % 97))
                            .key(&key)
                            .send(addr)
                            .unwrap();
                    assert!(r.status == 200 || r.status == 404, "{}", r.text());
                }
            });
        }
        for w in writers {
            w.join().unwrap();
        }
        writers_done.store(true, Ordering::Relaxed);
    });
    // The final answers, over HTTP.
    let mut served = Vec::new();
    for f in FILTERS {
        let body = serde_json::to_vec(&json!({"filter": f, "now": NOW, "limit": 10000})).unwrap();
        let r = server.send(
            Request::new("POST", "/v1/projects/shop/evaluate")
                .key(&key)
                .json(&body),
        );
        let ids: BTreeSet<String> = json(&r)["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        served.push(ids);
    }
    server.stop();
    // The reference evaluator on the final store.
    let store = Store::open(
        cohort_server::projects::store_dir(dir.path(), "shop"),
        StoreOptions::read_only(),
    )
    .unwrap();
    let view = store.view();
    let kind = SubjectKind::User;
    let now = cohort::app::parse_time(NOW).unwrap();
    let mut total = 0;
    let users: Vec<_> = (0..store.facts(kind).len() as u32)
        .map(|sid| {
            let id = store.subject_id(kind, sid).unwrap();
            let events = store.events(kind, &id, ..).unwrap();
            total += events.len() as u64;
            (id, events, view.profile_of(kind, sid).unwrap())
        })
        .collect();
    assert_eq!(
        total,
        acknowledged.load(Ordering::Relaxed),
        "every acknowledged event, once"
    );
    assert_eq!(total, 6 * 25 * 20);
    for (f, got) in FILTERS.iter().zip(&served) {
        let filter = cohort::filter::parse(f).unwrap();
        let expected: BTreeSet<String> = users
            .iter()
            .filter(|(_, events, profile)| {
                reference::evaluate(
                    &filter,
                    reference::Subject { events, profile },
                    now,
                    &NoSegments,
                )
                .unwrap()
            })
            .map(|(id, _, _)| id.clone())
            .collect();
        assert!(!expected.is_empty(), "{f} selects someone");
        assert_eq!(got, &expected, "{f}");
    }
}

#[test]
fn graceful_shutdown_answers_every_request_in_flight() {
    let (dir, key) = data_dir();
    let server = TestServer::start(config(dir.path()));
    let addr = server.addr;
    let started = Arc::new(std::sync::Barrier::new(9));
    let handles: Vec<_> = (0..8u64)
        .map(|t| {
            let key = key.clone();
            let started = Arc::clone(&started);
            std::thread::spawn(move || {
                let events: Vec<_> = (0..100).map(|i| event(&format!("s{t}"), "e", i)).collect();
                let body = track_body(&events);
                let bytes = Request::new("POST", "/v1/projects/shop/track")
                    .key(&key)
                    .json(&body)
                    .to_bytes();
                use std::io::Write;
                let mut stream = std::net::TcpStream::connect(addr).unwrap();
                // Headers now, the body after shutdown has begun.
                let split = bytes.len() - 10;
                stream.write_all(&bytes[..split]).unwrap();
                started.wait();
                std::thread::sleep(std::time::Duration::from_millis(300));
                stream.write_all(&bytes[split..]).unwrap();
                cohort_testkit::http::read_response(&mut stream).map(|r| r.status)
            })
        })
        .collect();
    started.wait();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let stopping = std::thread::spawn(move || server.stop());
    let statuses: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    stopping.join().unwrap();
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    // Closed cleanly: every acknowledged event is in the store.
    let store = Store::open(
        cohort_server::projects::store_dir(dir.path(), "shop"),
        StoreOptions::default(),
    )
    .unwrap();
    assert_eq!(store.view().next_seq(), 800);
}
