//! A server on a real loopback port, in a thread of the test process, on
//! a data directory of its own with one project (`shop`) and one key.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use cohort_server::{projects, Config, Server};
pub use cohort_testkit::http::{Request, Response};

pub struct TestServer {
    pub addr: SocketAddr,
    pub data: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A data directory with project `shop` and a key for it.
pub fn data_dir() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    projects::create_project(dir.path(), "shop").unwrap();
    let key = projects::create_key(dir.path(), "shop").unwrap().key;
    (dir, key)
}

pub fn config(data: &Path) -> Config {
    let mut c = Config::new(data.to_path_buf());
    c.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    c.rate_per_second = 100_000;
    c.burst = 100_000;
    c
}

impl TestServer {
    pub fn start(config: Config) -> TestServer {
        let data = config.data.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, addr) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let server = Server::bind(config).await.unwrap();
                ready.send(server.local_addr()).unwrap();
                server
                    .run(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        TestServer {
            addr: addr.recv().unwrap(),
            data,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn send(&self, request: Request<'_>) -> Response {
        request.send(self.addr).unwrap()
    }

    /// Shuts down gracefully and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub fn json(r: &Response) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", r.text()))
}

pub fn event(user: &str, event_type: &str, n: u64) -> serde_json::Value {
    serde_json::json!({
        "subjectType": "user",
        "subjectId": user,
        "type": event_type,
        "createdAt": "2026-05-01T00:00:00Z",
        "data": {"n": n},
    })
}

pub fn track_body(events: &[serde_json::Value]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "events": events })).unwrap()
}
