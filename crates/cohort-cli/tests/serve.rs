//! `cohort serve` and `cohort project` as processes: keys made and revoked
//! from the command line while the server runs; SIGTERM and SIGINT stop it
//! gracefully with exit 0; and a server killed with SIGKILL while clients
//! send loses nothing it acknowledged and keeps no request in part.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use cohort_testkit::http::Request;

fn cohort() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cohort"))
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = cohort().args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Starts `cohort serve` on a free port; returns it with its address.
fn serve(data: &Path, extra: &[&str]) -> (Child, SocketAddr) {
    let mut child = cohort()
        .args([
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--rate-limit", "100000", "--burst", "100000"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .parse()
        .unwrap();
    (child, addr)
}

fn signal(child: &Child, sig: &str) {
    assert!(Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

fn project(data: &Path) -> String {
    let d = data.to_str().unwrap();
    assert!(run(&["project", "create", "--data", d, "shop"]).0);
    let (ok, key, _) = run(&["project", "key", "create", "--data", d, "shop"]);
    assert!(ok);
    key.trim().to_owned()
}

#[test]
fn projects_and_keys_are_managed_while_the_server_runs_and_it_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let key = project(dir.path());
    assert!(key.starts_with("ck_"), "{key}");
    let (ok, _, err) = run(&["project", "create", "--data", d, "Bad Name"]);
    assert!(!ok && err.contains("a-z"), "{err}");
    let (child, addr) = serve(dir.path(), &[]);
    let ok = Request::new("GET", "/v1/projects/shop/catalog")
        .key(&key)
        .send(addr)
        .unwrap();
    assert_eq!(ok.status, 200);
    // A second key, made while serving, works at once; revoked, it stops.
    let (_, second, _) = run(&["project", "key", "create", "--data", d, "shop"]);
    let second = second.trim();
    assert_eq!(
        Request::new("GET", "/v1/projects/shop/catalog")
            .key(second)
            .send(addr)
            .unwrap()
            .status,
        200
    );
    let id = second.split('_').nth(1).unwrap();
    let (listed_ok, listed, _) = run(&["project", "list", "--data", d]);
    assert!(
        listed_ok && listed.contains("shop  2 active key(s)") && listed.contains(id),
        "{listed}"
    );
    assert!(!listed.contains(second), "a key is never shown again");
    assert!(run(&["project", "key", "revoke", "--data", d, "shop", id]).0);
    assert_eq!(
        Request::new("GET", "/v1/projects/shop/catalog")
            .key(second)
            .send(addr)
            .unwrap()
            .status,
        401
    );
    // Deleting a served project is refused.
    let (ok, _, err) = run(&["project", "delete", "--data", d, "shop"]);
    assert!(!ok && err.contains("in use"), "{err}");

    // SIGTERM with a request in flight: it is answered; exit 0.
    let in_flight = {
        let key = key.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let body = br#"{"events":[{"subjectType":"user","subjectId":"u1","type":"a"}]}"#;
            let bytes = Request::new("POST", "/v1/projects/shop/track")
                .key(&key)
                .json(body)
                .to_bytes();
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(&bytes[..bytes.len() - 5]).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(700));
            s.write_all(&bytes[bytes.len() - 5..]).unwrap();
            cohort_testkit::http::read_response(&mut s).unwrap().status
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    signal(&child, "-TERM");
    assert_eq!(in_flight.join().unwrap(), 200);
    let status = wait(child);
    assert_eq!(status.code(), Some(0));
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "no longer accepting"
    );

    // SIGINT too; then the project can be deleted.
    let (child, _) = serve(dir.path(), &[]);
    signal(&child, "-INT");
    assert_eq!(wait(child).code(), Some(0));
    assert!(run(&["project", "delete", "--data", d, "shop"]).0);
    let (_, listed, _) = run(&["project", "list", "--data", d]);
    assert!(listed.trim().is_empty(), "{listed}");
}

fn wait(mut child: Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(std::time::Instant::now() < deadline, "still running");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_sigkilled_server_keeps_every_acknowledged_request_whole() {
    let dir = tempfile::tempdir().unwrap();
    let key = project(dir.path());
    let (mut child, addr) = serve(dir.path(), &[]);
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let key = key.clone();
            let acknowledged = Arc::clone(&acknowledged);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for r in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let request = format!("c{c}r{r}");
                    // Ten events and a tag: all or nothing.
                    let events: Vec<_> = (0..10)
                        .map(|i| serde_json::json!({"subjectType": "user", "subjectId": format!("u{}", (c * 7 + i) % 50),
                            "type": "purchase", "data": {"request": request, "i": i}}))
                        .collect();
                    let body = serde_json::to_vec(&serde_json::json!({"events": events,
                        "tags": [{"subjectType": "user", "subjectId": format!("t{request}"), "tags": {"request": request}}]})).unwrap();
                    match Request::new("POST", "/v1/projects/shop/track").key(&key).json(&body).send(addr) {
                        Ok(r) if r.status == 200 => acknowledged.lock().unwrap().push(request),
                        _ => break, // killed
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 20,
        "clients got answers before the kill: {}",
        acknowledged.len()
    );

    // Reopened (as the restarted server would), every acknowledged request
    // is whole, and no request is there in part.
    let store = cohort::Store::open(
        cohort_server::projects::store_dir(dir.path(), "shop"),
        cohort::StoreOptions::default(),
    )
    .unwrap();
    let mut per_request: BTreeMap<String, usize> = BTreeMap::new();
    let kind = cohort::SubjectKind::User;
    let view = store.view();
    let mut tags = std::collections::BTreeSet::new();
    for sid in 0..store.facts(kind).len() as u32 {
        let id = store.subject_id(kind, sid).unwrap();
        for e in store.events(kind, &id, ..).unwrap() {
            let json = e.to_json();
            *per_request
                .entry(json["data"]["request"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        if let Some(v) = view
            .profile_of(kind, sid)
            .unwrap()
            .tags_at(i64::MAX)
            .get("request")
        {
            tags.insert(v.to_json().as_str().unwrap().to_owned());
        }
    }
    for r in &acknowledged {
        assert_eq!(per_request.get(r), Some(&10), "acknowledged {r} is whole");
        assert!(tags.contains(r), "acknowledged {r}'s tag is there");
    }
    for (r, n) in &per_request {
        assert_eq!(*n, 10, "{r} is whole or absent");
        assert!(tags.contains(r), "{r}'s events came with its tag");
    }
}

/// Live segments after SIGKILLs at random points while clients track:
/// reopened, every live segment's members equal a full evaluation at one
/// instant, and its change feed replayed from empty gives those members,
/// with no entry or exit missing or doubled.
#[test]
fn live_segments_stay_exact_through_sigkills() {
    let dir = tempfile::tempdir().unwrap();
    let key = project(dir.path());
    let segments = [
        ("thrice", "count(purchase) >= 3"),
        ("no_views", "not did(view)"),
        ("big", "did(purchase where data.i >= 8)"),
        ("recent", "did(purchase, last 1h)"),
        ("mixed", r#"in_segment("thrice") and not in_segment("big")"#),
    ];
    for round in 0..3u64 {
        let (mut child, addr) = serve(dir.path(), &[]);
        if round == 0 {
            for (name, filter) in segments {
                let body = serde_json::to_vec(&serde_json::json!({"filter": filter, "live": true}))
                    .unwrap();
                let path = format!("/v1/projects/shop/segments/{name}");
                let r = Request::new("PUT", &path)
                    .key(&key)
                    .json(&body)
                    .send(addr)
                    .unwrap();
                assert_eq!(r.status, 200, "{}", r.text());
                assert_eq!(
                    serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["live"],
                    true
                );
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..6u64)
            .map(|c| {
                let key = key.clone();
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    for r in 0u64.. {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let events: Vec<_> = (0..5u64)
                            .map(|i| {
                                let n = (round * 1000 + c * 100 + r * 7 + i) % 60;
                                let ty = if (r + i) % 4 == 0 { "view" } else { "purchase" };
                                serde_json::json!({"subjectType": "user", "subjectId": format!("u{n}"),
                                    "type": ty, "data": {"i": (r * 3 + i) % 10}})
                            })
                            .collect();
                        let body = serde_json::to_vec(&serde_json::json!({ "events": events })).unwrap();
                        match Request::new("POST", "/v1/projects/shop/track").key(&key).json(&body).send(addr) {
                            Ok(r) if r.status == 200 => {}
                            _ => break, // killed
                        }
                    }
                })
            })
            .collect();
        // A different point in the stream of writes each round.
        let millis = 400 + fastrand_millis(round);
        std::thread::sleep(std::time::Duration::from_millis(millis));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
    }

    // Reopened as the restarted server would: caught up, then compared at
    // one instant.
    let store = cohort::app::open_store(
        cohort_server::projects::store_dir(dir.path(), "shop"),
        cohort::StoreOptions::default(),
    )
    .unwrap();
    let now = cohort::now_millis();
    cohort::app::sweep_all(&store, now).unwrap();
    let view = store.view();
    let mut replayed: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    let feed = store.changes(0, None, usize::MAX).unwrap();
    assert!(feed.len() > 20, "the feed recorded changes: {}", feed.len());
    for (i, c) in feed.iter().enumerate() {
        assert_eq!(c.seq, i as u64 + 1, "the feed has no gap");
        let members = replayed.entry(c.segment.clone()).or_default();
        if c.entered {
            assert!(members.insert(c.subject.clone()), "entered twice: {c:?}");
        } else {
            assert!(members.remove(&c.subject), "left without entering: {c:?}");
        }
    }
    for (name, _) in segments {
        let saved = store.segment(name).unwrap().unwrap();
        let filter = cohort::filter::parse(&saved.filter).unwrap();
        let expected = cohort::eval::evaluate(
            &view,
            &filter,
            &cohort::eval::StoreSegments::new(&store),
            &cohort::eval::EvalOptions::at(now),
        )
        .unwrap();
        let ids = |bits: &roaring::RoaringBitmap| -> std::collections::BTreeSet<String> {
            bits.iter()
                .map(|sid| view.subject_id(cohort::SubjectKind::User, sid).unwrap())
                .collect()
        };
        let live = store.live_members(name).unwrap();
        assert_eq!(ids(&live), ids(&expected), "{name}: live members");
        assert_eq!(
            replayed.remove(name).unwrap_or_default(),
            ids(&expected),
            "{name}: the feed replayed"
        );
    }
}

/// 0 to 1,199 ms, different for each round and each run.
fn fastrand_millis(round: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    (nanos / 1000 + round * 379) % 1200
}
