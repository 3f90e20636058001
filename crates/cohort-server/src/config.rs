//! The server's settings, with the defaults the spec names.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How a server runs. [`Config::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// The data directory (projects live in `DATA/projects/NAME`).
    pub data: PathBuf,
    /// Where to listen. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// The largest request body, in bytes. Default 5 MiB.
    pub body_limit: usize,
    /// Requests per second a project may make. Default 50.
    pub rate_per_second: u32,
    /// Requests a project may make at once above its rate. Default 100.
    pub burst: u32,
    /// Writes (track requests, deletes, segment and catalog changes) being
    /// worked on at once; past it, `503`. Default 256.
    pub max_writes_in_flight: usize,
    /// Evaluations and renders (`/evaluate`, `/count`, `/members`, the
    /// member check's refreshes, `/render`) being worked on at once; past
    /// it, `503`. Default 64.
    pub max_reads_in_flight: usize,
    /// The longest a request may take, from its headers to its answer,
    /// body reading included; past it, `408` and the connection closes.
    /// Default 30 s.
    pub request_timeout: Duration,
    /// The longest a client may take to send a request's headers; past it
    /// the connection is closed. Default 10 s.
    pub header_timeout: Duration,
    /// How old the member check's answer may be (see `members.rs`).
    /// Default 1 s.
    pub member_max_age: Duration,
    /// How long shutdown waits for requests in flight. Default 30 s.
    pub shutdown_grace: Duration,
    /// How long live segments' change records are kept (trimmed hourly).
    /// Default 30 days.
    pub feed_retention: Duration,
}

impl Config {
    /// The defaults, serving `data`.
    pub fn new(data: PathBuf) -> Config {
        Config {
            data,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_limit: 5 * 1024 * 1024,
            rate_per_second: 50,
            burst: 100,
            max_writes_in_flight: 256,
            max_reads_in_flight: 64,
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            member_max_age: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(30),
            feed_retention: Duration::from_secs(cohort::app::DEFAULT_FEED_RETENTION_DAYS * 86_400),
        }
    }
}
