//! The HTTP API over real TCP: authentication, each status of the spec's
//! table, idempotency (also across a restart), the routes' answers, and
//! the OpenAPI document against the routes served.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[test]
fn every_failed_authentication_gets_the_same_401() {
    let (dir, key) = data_dir();
    cohort_server::projects::create_project(dir.path(), "other").unwrap();
    let other_key = cohort_server::projects::create_key(dir.path(), "other").unwrap();
    let revoked = cohort_server::projects::create_key(dir.path(), "shop").unwrap();
    let server = TestServer::start(config(dir.path()));
    let body = track_body(&[event("u1", "purchase", 1)]);
    assert_eq!(
        server
            .send(
                Request::new("POST", "/v1/projects/shop/track")
                    .key(&key)
                    .json(&body)
            )
            .status,
        200
    );
    assert_eq!(
        server
            .send(Request::new("GET", "/v1/projects/shop/users/u1").key(&revoked.key))
            .status,
        200,
        "the second key works until revoked"
    );
    cohort_server::projects::revoke_key(dir.path(), "shop", &revoked.id).unwrap();
    let attempts: Vec<(&str, Option<&str>)> = vec![
        ("/v1/projects/shop/users/u1", None),
        ("/v1/projects/shop/users/u1", Some("ck_00000000_wrong")),
        ("/v1/projects/shop/users/u1", Some(&revoked.key)),
        ("/v1/projects/shop/users/u1", Some(&other_key.key)),
        ("/v1/projects/nosuch/users/u1", Some(&key)),
        ("/v1/projects/Not-A-Name/users/u1", Some(&key)),
    ];
    let mut bodies = Vec::new();
    for (path, k) in attempts {
        let mut request = Request::new("GET", path);
        request.key = k;
        let r = server.send(request);
        assert_eq!(r.status, 401, "{path} {k:?}: {}", r.text());
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        bodies.push(r.body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "identical bodies");
    // The other project's key reads nothing of this one, on any route.
    let r = server.send(Request::new("GET", "/openapi.json"));
    let doc: utoipa::openapi::OpenApi = serde_json::from_slice(&r.body).unwrap();
    for (path, method) in operations(&doc) {
        if !path.starts_with("/v1/") {
            continue;
        }
        let path = concrete(&path, "shop");
        let r = server.send(Request::new(&method, &path).key(&other_key.key).json(b"{}"));
        assert_eq!(r.status, 401, "{method} {path}");
    }
}

/// Every (path, method) of the document.
fn operations(doc: &utoipa::openapi::OpenApi) -> Vec<(String, String)> {
    let v = serde_json::to_value(doc).unwrap();
    let mut out = Vec::new();
    for (path, item) in v["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                out.push((path.clone(), method.to_uppercase()));
            }
        }
    }
    out
}

fn concrete(path: &str, project: &str) -> String {
    path.replace("{projectId}", project)
        .replace("{userId}", "u1")
        .replace("{deviceId}", "d1")
        .replace("{name}", "buyers")
        .replace("{subjectId}", "u1")
}

#[test]
fn the_openapi_document_lists_exactly_the_routes_served() {
    let (dir, key) = data_dir();
    let server = TestServer::start(config(dir.path()));
    let r = server.send(Request::new("GET", "/openapi.json"));
    assert_eq!(r.status, 200);
    let doc: utoipa::openapi::OpenApi = serde_json::from_slice(&r.body).unwrap();
    let ops = operations(&doc);
    assert!(ops.len() >= 19, "{ops:?}");
    // Something to find, so that a route's own 404 is not mistaken.
    let body = track_body(&[event("u1", "purchase", 1)]);
    server.send(
        Request::new("POST", "/v1/projects/shop/track")
            .key(&key)
            .json(&body),
    );
    let seg = br#"{"filter":"did(purchase)"}"#;
    server.send(
        Request::new("PUT", "/v1/projects/shop/segments/buyers")
            .key(&key)
            .json(seg),
    );
    let paths: std::collections::BTreeSet<&str> = ops.iter().map(|(p, _)| p.as_str()).collect();
    for path in &paths {
        let concrete = concrete(path, "shop");
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            let documented = ops.iter().any(|(p, m)| p == path && m == method);
            if documented && method == "DELETE" {
                continue; // deleting is checked below, last
            }
            let r = server.send(Request::new(method, &concrete).key(&key).json(b"{}"));
            let is_json = r
                .header("content-type")
                .is_some_and(|t| t.starts_with("application/json"));
            let code = if is_json {
                json(&r)["error"]["code"].as_str().map(str::to_owned)
            } else {
                None
            };
            if documented {
                assert_ne!(code.as_deref(), Some("no_route"), "{method} {concrete}");
                assert_ne!(r.status, 405, "{method} {concrete}");
            } else {
                assert_eq!(
                    r.status,
                    405,
                    "{method} {concrete} is not documented: {}",
                    r.text()
                );
            }
        }
    }
    for path in ["/v1/projects/shop/nothing", "/v2/anything", "/openapi.yaml"] {
        let r = server.send(Request::new("GET", path).key(&key));
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(json(&r)["error"]["code"], "no_route");
    }
    for (path, method) in ops.iter().filter(|(_, m)| m == "DELETE") {
        let r = server.send(Request::new(method, &concrete(path, "shop")).key(&key));
        assert_eq!(r.status, 200, "{method} {path}: {}", r.text());
    }
}

#[test]
fn track_stores_and_reads_back_through_every_route() {
    let (dir, key) = data_dir();
    let server = TestServer::start(config(dir.path()));
    let body = serde_json::to_vec(&json!({
        "events": [
            {"subjectType": "user", "subjectId": "u1", "type": "purchase",
             "createdAt": "2026-05-01T10:00:00Z", "data": {"amount": 12000, "productName": "Tea"}},
            {"subjectType": "user", "subjectId": "u1", "type": "purchase",
             "createdAt": "2026-05-02T10:00:00Z", "data": {"amount": 15000}},
            {"subjectType": "user", "subjectId": "u2", "type": "purchase",
             "createdAt": "2026-05-02T10:00:00Z", "data": {"amount": 100}}
        ],
        "tags": [{"subjectType": "user", "subjectId": "u1", "tags": {"plan": "pro"},
                  "createdAt": "2026-05-01T00:00:00Z"}],
        "userAttributes": [{"userId": "u1", "name": "Dana", "timeZone": "Asia/Seoul",
                            "createdAt": "2026-05-01T00:00:00Z"}]
    }))
    .unwrap();
    let r = server.send(
        Request::new("POST", "/v1/projects/shop/track")
            .key(&key)
            .json(&body),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = json(&r);
    assert_eq!(answer["stored"]["events"], 3);
    assert_eq!(answer["stored"]["profileChanges"], 3);
    assert_eq!(answer["replayed"], false);

    let r =
        server.send(Request::new("GET", "/v1/projects/shop/events?userId=u1&limit=1").key(&key));
    let page = json(&r);
    assert_eq!(page["events"][0]["createdAt"], "2026-05-02T10:00:00.000Z");
    let next = page["next"].as_str().unwrap().to_owned();
    let r = server.send(
        Request::new(
            "GET",
            &format!("/v1/projects/shop/events?userId=u1&before={next}"),
        )
        .key(&key),
    );
    assert_eq!(json(&r)["events"][0]["data"]["productName"], "Tea");
    let r = server.send(Request::new("GET", "/v1/projects/shop/events?limit=0").key(&key));
    assert_eq!(r.status, 400);
    assert_eq!(json(&r)["error"]["details"][0]["parameter"], "limit");

    let r = server.send(Request::new("GET", "/v1/projects/shop/users/u1?now=2026-06-01").key(&key));
    let profile = json(&r);
    assert_eq!(profile["tags"]["plan"], "pro");
    assert_eq!(profile["attributes"]["name"], "Dana");
    assert_eq!(profile["events"]["count"], 2);
    assert_eq!(
        server
            .send(Request::new("GET", "/v1/projects/shop/users/nobody").key(&key))
            .status,
        404
    );

    let r = server.send(Request::new("GET", "/v1/projects/shop/catalog").key(&key));
    let catalog = json(&r);
    assert!(catalog["eventTypes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["type"] == "purchase"));
    assert_eq!(catalog["tagKeys"][0]["key"], "plan");
    let r = server.send(
        Request::new("POST", "/v1/projects/shop/catalog")
            .key(&key)
            .json(br#"{"type":"trial_started","description":"Began a trial"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    let seg = br#"{"filter":"count(purchase, since 2026-04-01) >= 2 and tag.plan = \"pro\"","description":"loyal"}"#;
    let r = server.send(
        Request::new("PUT", "/v1/projects/shop/segments/loyal")
            .key(&key)
            .json(seg),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json(&r)["subjectType"], "user");
    let r = server.send(
        Request::new(
            "GET",
            "/v1/projects/shop/segments/loyal/count?now=2026-06-01",
        )
        .key(&key),
    );
    assert_eq!(json(&r), json!({"count": 1}));
    let r = server.send(
        Request::new(
            "GET",
            "/v1/projects/shop/segments/loyal/members?now=2026-06-01",
        )
        .key(&key),
    );
    assert_eq!(json(&r)["members"], json!(["u1"]));
    let r =
        server.send(Request::new("GET", "/v1/projects/shop/segments/loyal/members/u1").key(&key));
    assert_eq!(json(&r)["member"], true);
    let r =
        server.send(Request::new("GET", "/v1/projects/shop/segments/loyal/members/u2").key(&key));
    assert_eq!(json(&r)["member"], false);
    let r = server
        .send(Request::new("GET", "/v1/projects/shop/segments/loyal/members/nobody").key(&key));
    assert_eq!(json(&r)["member"], false);
    let r = server.send(
        Request::new(
            "GET",
            "/v1/projects/shop/segments/loyal/members?now=2026-06-01",
        )
        .key(&key)
        .header("Accept", "application/x-ndjson"),
    );
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(r.text(), "\"u1\"\n");
    let r = server.send(Request::new("GET", "/v1/projects/shop/segments").key(&key));
    assert_eq!(json(&r)["segments"][0]["name"], "loyal");

    // A bad filter: line, column, caret and what was expected.
    let r = server.send(
        Request::new("PUT", "/v1/projects/shop/segments/bad")
            .key(&key)
            .json(br#"{"filter":"count(purchase, last x) >= 2"}"#),
    );
    assert_eq!(r.status, 400);
    let e = json(&r);
    assert_eq!(e["error"]["code"], "invalid_filter");
    let d = &e["error"]["details"][0];
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(1), Some(22))
    );
    assert!(d["caret"].as_str().unwrap().contains('^'));
    assert!(d["expected"].as_str().unwrap().contains("duration"), "{d}");

    // Paging members, and an unsaved filter.
    let r = server.send(
        Request::new("POST", "/v1/projects/shop/evaluate")
            .key(&key)
            .json(br#"{"filter":"did(purchase)","now":"2026-06-01","limit":1}"#),
    );
    let first = json(&r);
    assert_eq!(first["count"], 2);
    assert_eq!(first["members"], json!(["u1"]));
    let next = first["next"].as_str().unwrap();
    let again = format!(r#"{{"filter":"did(purchase)","limit":1,"after":"{next}"}}"#);
    let r = server.send(
        Request::new("POST", "/v1/projects/shop/evaluate")
            .key(&key)
            .json(again.as_bytes()),
    );
    assert_eq!(json(&r)["members"], json!(["u2"]));
    assert!(json(&r)["next"].is_null());

    // Render with the latest event of a type.
    let r = server.send(
        Request::new("POST", "/v1/projects/shop/render").key(&key).json(
            br#"{"subjectId":"u1","now":"2026-06-01","entryEventType":"purchase","template":"Hi {{ name }}: {{ entry_event.data.productName | default: \"item\" }}"}"#,
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json(&r)["text"], "Hi Dana: item");
    assert_eq!(json(&r)["entryEvent"]["data"]["amount"], 15000);

    // In use, then deleted.
    server.send(
        Request::new("PUT", "/v1/projects/shop/segments/uses")
            .key(&key)
            .json(br#"{"filter":"in_segment(\"loyal\")"}"#),
    );
    let r = server.send(Request::new("DELETE", "/v1/projects/shop/segments/loyal").key(&key));
    assert_eq!(r.status, 409);
    assert_eq!(json(&r)["error"]["details"][0]["segment"], "uses");

    // Deleting a user: gone from reads and memberships at once.
    let r =
        server.send(Request::new("GET", "/v1/projects/shop/segments/loyal/members/u1").key(&key));
    assert_eq!(json(&r)["member"], true);
    let r = server.send(Request::new("DELETE", "/v1/projects/shop/users/u1").key(&key));
    assert_eq!(json(&r)["events"], 2);
    let r =
        server.send(Request::new("GET", "/v1/projects/shop/segments/loyal/members/u1").key(&key));
    assert_eq!(json(&r)["member"], false);
    assert_eq!(
        server
            .send(Request::new("GET", "/v1/projects/shop/users/u1").key(&key))
            .status,
        404
    );

    let r = server.send(Request::new("GET", "/healthz"));
    assert_eq!(json(&r)["status"], "ok");
    let r = server.send(Request::new("GET", "/metrics"));
    let text = r.text();
    assert!(
        text.contains("cohort_items_stored_total{kind=\"events\"} 3"),
        "{text}"
    );
    assert!(text.contains("cohort_http_requests_total"), "{text}");
    assert!(!text.contains("u1"), "no subject data in metrics");
}

#[test]
fn bad_bodies_get_400_415_and_every_invalid_item() {
    let (dir, key) = data_dir();
    let server = TestServer::start(config(dir.path()));
    let post = |body: &'static [u8]| {
        server.send(
            Request::new("POST", "/v1/projects/shop/track")
                .key(&key)
                .json(body),
        )
    };
    let r = post(b"{not json");
    assert_eq!(r.status, 400);
    assert_eq!(json(&r)["error"]["code"], "invalid_json");
    let r = post(b"{}");
    assert_eq!(r.status, 400, "none of the three groups");
    let many: Vec<_> = (0..101).map(|i| event("u", "x", i)).collect();
    let many = track_body(&many);
    let r = server.send(
        Request::new("POST", "/v1/projects/shop/track")
            .key(&key)
            .json(&many),
    );
    assert_eq!(r.status, 400, "more than 100 items");
    let r = post(
        br#"{"events":[{"subjectType":"user","subjectId":"","type":"a"},
                      {"subjectType":"user","subjectId":"ok","type":"fine"},
                      {"subjectType":"robot","subjectId":"x","type":"a"}],
             "tags":[{"subjectType":"user","subjectId":"u","tags":{"":1}}]}"#,
    );
    assert_eq!(r.status, 400);
    let e = json(&r);
    let fields: Vec<&str> = e["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.iter().any(|f| f.starts_with("events[0]")),
        "{fields:?}"
    );
    assert!(
        fields.iter().any(|f| f.starts_with("events[2]")),
        "{fields:?}"
    );
    assert!(
        fields.iter().any(|f| f.starts_with("tags[0]")),
        "{fields:?}"
    );
    assert!(
        !fields.iter().any(|f| f.starts_with("events[1]")),
        "{fields:?}"
    );
    // Nothing of it was stored.
    let r = server.send(Request::new("GET", "/v1/projects/shop/events").key(&key));
    assert_eq!(json(&r)["events"], json!([]));

    let r = server.send(
        Request::new("POST", "/v1/projects/shop/track")
            .key(&key)
            .header("Content-Type", "text/plain")
            .json(b"{}"),
    );
    assert_eq!(r.status, 415);
    assert_eq!(json(&r)["error"]["code"], "unsupported_media_type");
    let mut no_type = Request::new("POST", "/v1/projects/shop/track").key(&key);
    no_type.headers.push(("Content-Type", String::new()));
    no_type.body = Some(b"{}");
    assert_eq!(server.send(no_type).status, 415);
}

#[test]
fn a_body_over_the_limit_gets_413_before_it_is_read() {
    let (dir, key) = data_dir();
    let mut c = config(dir.path());
    c.body_limit = 64 * 1024;
    let server = TestServer::start(c);
    // Declared large, sent small: the answer comes without the rest.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /v1/projects/shop/track HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{{\"events\":["
    )
    .unwrap();
    let r = cohort_testkit::http::read_response(&mut stream).unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(json(&r)["error"]["code"], "payload_too_large");
    // Chunked, without a length: counted as it arrives.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /v1/projects/shop/track HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    let chunk = vec![b' '; 16 * 1024];
    let mut answered = None;
    for _ in 0..64 {
        if write!(stream, "{:x}\r\n", chunk.len()).is_err()
            || stream.write_all(&chunk).is_err()
            || stream.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    if let Ok(r) = cohort_testkit::http::read_response(&mut stream) {
        answered = Some(r.status);
    }
    assert_eq!(answered, Some(413));
}

#[test]
fn a_project_over_its_rate_gets_429_with_retry_after() {
    let (dir, key) = data_dir();
    let mut c = config(dir.path());
    c.rate_per_second = 2;
    c.burst = 3;
    let server = TestServer::start(c);
    let statuses: Vec<Response> = (0..10)
        .map(|_| server.send(Request::new("GET", "/v1/projects/shop/catalog").key(&key)))
        .collect();
    let ok = statuses.iter().filter(|r| r.status == 200).count();
    let limited: Vec<&Response> = statuses.iter().filter(|r| r.status == 429).collect();
    assert!((3..=5).contains(&ok), "the burst passes: {ok}");
    assert!(!limited.is_empty());
    for r in limited {
        let after: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=2).contains(&after), "{after}");
        assert_eq!(json(r)["error"]["code"], "rate_limited");
    }
    // Another project has its own rate.
    cohort_server::projects::create_project(dir.path(), "other").unwrap();
    let other = cohort_server::projects::create_key(dir.path(), "other")
        .unwrap()
        .key;
    let r = server.send(Request::new("GET", "/v1/projects/other/catalog").key(&other));
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn writes_past_the_in_flight_bound_get_503_never_a_queue() {
    let (dir, key) = data_dir();
    let mut c = config(dir.path());
    c.max_writes_in_flight = 1;
    let server = TestServer::start(c);
    let addr = server.addr;
    let mut refused = 0;
    let mut stored = 0u64;
    let mut acknowledged = 0u64;
    for round in 0..20 {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(16));
        let handles: Vec<_> = (0..16)
            .map(|t| {
                let key = key.clone();
                let barrier = std::sync::Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let events: Vec<_> = (0..100)
                        .map(|i| event(&format!("r{round}t{t}"), "e", i))
                        .collect();
                    let body = track_body(&events);
                    let bytes = Request::new("POST", "/v1/projects/shop/track")
                        .key(&key)
                        .json(&body)
                        .to_bytes();
                    let mut stream = TcpStream::connect(addr).unwrap();
                    barrier.wait();
                    stream.write_all(&bytes).unwrap();
                    cohort_testkit::http::read_response(&mut stream).unwrap()
                })
            })
            .collect();
        for h in handles {
            let r = h.join().unwrap();
            match r.status {
                200 => acknowledged += json(&r)["stored"]["events"].as_u64().unwrap(),
                503 => {
                    refused += 1;
                    assert!(r.header("retry-after").is_some());
                    assert_eq!(json(&r)["error"]["code"], "overloaded");
                }
                other => panic!("{other}: {}", r.text()),
            }
        }
        if refused > 0 && round >= 2 {
            break;
        }
    }
    assert!(refused > 0, "16 writers at once past a bound of 1");
    let r = server.send(Request::new("GET", "/v1/projects/shop/catalog").key(&key));
    for t in json(&r)["eventTypes"].as_array().unwrap() {
        if t["type"] == "e" {
            stored = t["count"].as_u64().unwrap();
        }
    }
    assert_eq!(
        stored, acknowledged,
        "what was acknowledged is what is stored"
    );
}

#[test]
fn slow_clients_are_cut_off() {
    let (dir, key) = data_dir();
    let mut c = config(dir.path());
    c.request_timeout = Duration::from_millis(800);
    c.header_timeout = Duration::from_millis(800);
    let server = TestServer::start(c);
    // A body that never finishes: 408, and the connection closes.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    write!(
        stream,
        "POST /v1/projects/shop/track HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"events\":"
    )
    .unwrap();
    let r = cohort_testkit::http::read_response(&mut stream).unwrap();
    assert_eq!(r.status, 408);
    assert_eq!(json(&r)["error"]["code"], "timeout");
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(started.elapsed() < Duration::from_secs(10));
    // Headers that never finish: the connection is closed.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let n = stream.read_to_end(&mut buf).unwrap_or(0);
    assert!(
        n == 0 || buf.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // The server still serves.
    assert_eq!(server.send(Request::new("GET", "/healthz")).status, 200);
}

#[test]
fn idempotency_keys_store_once_answer_again_and_survive_a_restart() {
    let (dir, key) = data_dir();
    let body = track_body(&[event("u1", "purchase", 1), event("u2", "purchase", 2)]);
    let other = track_body(&[event("u1", "purchase", 3)]);
    let send = |server: &TestServer, idem: &str, body: &[u8]| {
        server.send(
            Request::new("POST", "/v1/projects/shop/track")
                .key(&key)
                .header("Idempotency-Key", idem)
                .json(body),
        )
    };
    let count = |server: &TestServer| {
        let r = server.send(Request::new("GET", "/v1/projects/shop/events?limit=1000").key(&key));
        json(&r)["events"].as_array().unwrap().len()
    };
    let server = TestServer::start(config(dir.path()));
    let first = send(&server, "order-1", &body);
    assert_eq!(first.status, 200);
    let again = send(&server, "order-1", &body);
    assert_eq!(again.status, 200);
    assert_eq!(json(&again)["stored"], json(&first)["stored"]);
    assert_eq!(json(&again)["replayed"], true);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(count(&server), 2, "stored once");
    let conflict = send(&server, "order-1", &other);
    assert_eq!(conflict.status, 422);
    assert_eq!(json(&conflict)["error"]["code"], "idempotency_conflict");
    let too_long = "k".repeat(256);
    assert_eq!(send(&server, &too_long, &body).status, 400);
    server.stop();

    let server = TestServer::start(config(dir.path()));
    let after = send(&server, "order-1", &body);
    assert_eq!(after.status, 200);
    assert_eq!(json(&after)["replayed"], true);
    assert_eq!(json(&after)["stored"], json(&first)["stored"]);
    assert_eq!(send(&server, "order-1", &other).status, 422);
    assert_eq!(count(&server), 2, "still once, after a restart");
    // Concurrent retries with one key: exactly one stores.
    let fresh = track_body(&[event("u9", "purchase", 9)]);
    let replies: Vec<Response> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| s.spawn(|| send(&server, "order-2", &fresh)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(replies.iter().all(|r| r.status == 200));
    assert_eq!(
        replies
            .iter()
            .filter(|r| json(r)["replayed"] == false)
            .count(),
        1
    );
    assert_eq!(count(&server), 3);
}

#[test]
fn members_stream_whole_in_chunks_and_page_exactly() {
    let (dir, key) = data_dir();
    let server = TestServer::start(config(dir.path()));
    // 9,000 users: more than two chunks of a stream.
    for r in 0..90 {
        let events: Vec<_> = (0..100)
            .map(|i| event(&format!("u{:05}", r * 100 + i), "buy", i))
            .collect();
        let body = track_body(&events);
        let resp = server.send(
            Request::new("POST", "/v1/projects/shop/track")
                .key(&key)
                .json(&body),
        );
        assert_eq!(resp.status, 200);
    }
    let seg = br#"{"filter":"did(buy)"}"#;
    server.send(
        Request::new("PUT", "/v1/projects/shop/segments/buyers")
            .key(&key)
            .json(seg),
    );
    let r = server.send(
        Request::new("GET", "/v1/projects/shop/segments/buyers/members")
            .key(&key)
            .header("Accept", "application/x-ndjson"),
    );
    assert_eq!(r.status, 200);
    let streamed: Vec<String> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(streamed.len(), 9000);
    let mut paged = Vec::new();
    let mut path = "/v1/projects/shop/segments/buyers/members?limit=4000".to_owned();
    loop {
        let page = json(&server.send(Request::new("GET", &path).key(&key)));
        assert_eq!(page["count"], 9000);
        paged.extend(
            page["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => {
                path = format!("/v1/projects/shop/segments/buyers/members?limit=4000&after={next}")
            }
            None => break,
        }
    }
    assert_eq!(
        paged, streamed,
        "paging and streaming agree, each member once"
    );
    let r = server.send(
        Request::new(
            "GET",
            "/v1/projects/shop/segments/buyers/members?after=garbage",
        )
        .key(&key),
    );
    assert_eq!(r.status, 400);
    assert_eq!(json(&r)["error"]["details"][0]["parameter"], "after");
    // A client that reads nothing of a stream and goes away holds nothing:
    // the server goes on answering.
    for _ in 0..20 {
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.write_all(
            &Request::new("GET", "/v1/projects/shop/segments/buyers/members")
                .key(&key)
                .header("Accept", "application/x-ndjson")
                .to_bytes(),
        )
        .unwrap();
        drop(s);
    }
    assert_eq!(server.send(Request::new("GET", "/healthz")).status, 200);
    // Methods outside the known set are counted as "other", not by name.
    let r = server.send(Request::new("BREW", "/v1/projects/shop/catalog").key(&key));
    assert!(
        r.status == 405 || r.status == 404 || r.status == 400,
        "{}",
        r.status
    );
    let metrics = server.send(Request::new("GET", "/metrics")).text();
    assert!(!metrics.contains("BREW"), "{metrics}");
}

/// A live segment over HTTP: made live by `PUT … "live": true`, its
/// members checked from memory, its change feed read from a cursor (and
/// long-polled), and a message rendered from a change's entry event.
#[test]
fn live_segments_answer_members_feed_changes_and_render_entries() {
    let (dir, key) = data_dir();
    let server = TestServer::start(config(dir.path()));
    let put = serde_json::to_vec(&json!({"filter": "count(purchase) >= 2", "live": true})).unwrap();
    let r = server.send(
        Request::new("PUT", "/v1/projects/shop/segments/twice")
            .key(&key)
            .json(&put),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json(&r)["live"], true);
    let track = |product: &str| {
        let body = serde_json::to_vec(&json!({"events": [
            {"subjectType": "user", "subjectId": "u1", "type": "purchase",
             "data": {"productName": product}}
        ]}))
        .unwrap();
        let r = server.send(
            Request::new("POST", "/v1/projects/shop/track")
                .key(&key)
                .json(&body),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    };
    track("Tea");
    let member = |id: &str| {
        let path = format!("/v1/projects/shop/segments/twice/members/{id}");
        json(&server.send(Request::new("GET", &path).key(&key)))
    };
    assert_eq!(member("u1")["member"], false);
    assert_eq!(member("u1")["live"], true);
    track("Cake");
    assert_eq!(member("u1")["member"], true);
    assert_eq!(member("nobody")["member"], false);

    let r = server.send(Request::new("GET", "/v1/projects/shop/segments/twice/changes").key(&key));
    assert_eq!(r.status, 200, "{}", r.text());
    let feed = json(&r);
    let changes = feed["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["change"], "entered");
    assert_eq!(changes[0]["subjectId"], "u1");
    assert_eq!(changes[0]["cause"], "write");
    assert_eq!(changes[0]["entryEvent"]["data"]["productName"], "Cake");
    let seq = changes[0]["seq"].as_u64().unwrap();
    assert_eq!(feed["next"], seq);

    // Nothing after the cursor: a long poll waits, then answers empty.
    let path = format!("/v1/projects/shop/segments/twice/changes?after={seq}&wait=1");
    let started = std::time::Instant::now();
    let r = server.send(Request::new("GET", &path).key(&key));
    assert_eq!(json(&r)["changes"].as_array().unwrap().len(), 0);
    assert_eq!(json(&r)["next"], seq);
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    let r = server
        .send(Request::new("GET", "/v1/projects/shop/segments/twice/changes?wait=31").key(&key));
    assert_eq!(r.status, 400, "{}", r.text());

    let render = serde_json::to_vec(&json!({
        "change": seq,
        "template": "Enjoy your {{ entry_event.data.productName }}, {{ subject.id }}!"
    }))
    .unwrap();
    let r = server.send(
        Request::new("POST", "/v1/projects/shop/render")
            .key(&key)
            .json(&render),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json(&r)["text"], "Enjoy your Cake, u1!");
    let render = serde_json::to_vec(&json!({"change": seq + 100, "template": "x"})).unwrap();
    let r = server.send(
        Request::new("POST", "/v1/projects/shop/render")
            .key(&key)
            .json(&render),
    );
    assert_eq!(r.status, 404, "{}", r.text());

    // Not live any more: the member check evaluates again.
    let put =
        serde_json::to_vec(&json!({"filter": "count(purchase) >= 2", "live": false})).unwrap();
    let r = server.send(
        Request::new("PUT", "/v1/projects/shop/segments/twice")
            .key(&key)
            .json(&put),
    );
    assert_eq!(json(&r)["live"], false);
    assert_eq!(member("u1")["member"], true);
    assert!(member("u1").get("live").is_none());
}
