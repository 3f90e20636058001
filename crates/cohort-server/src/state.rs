//! What a running server holds: its open projects (one store each), their
//! keys, rate limiters and member caches; the bound on writes in flight;
//! the metrics. And the middleware that authenticates every project route.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cohort::{Store, StoreOptions};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ApiError, Result};
use crate::members::MemberCache;
use crate::metrics::Metrics;
use crate::projects::{self, KeyRing};
use crate::Config;

/// The write buffer (memtable) of each column family of a served store.
pub(crate) const SERVICE_WRITE_BUFFER_BYTES: usize = 8 << 20;

/// The server's shared state.
pub(crate) struct AppState {
    pub config: Config,
    projects: Mutex<HashMap<String, Arc<Project>>>,
    keys: Mutex<HashMap<String, KeyRing>>,
    writes: Arc<Semaphore>,
    reads: Arc<Semaphore>,
    pub metrics: Metrics,
}

/// One open project.
pub(crate) struct Project {
    pub name: String,
    pub store: Arc<Store>,
    limiter: DefaultDirectRateLimiter,
    pub members: MemberCache,
    /// Segment saves and deletes of this project at once (they check every
    /// saved segment and run one at a time): past it, `503`, so that a
    /// slow change cannot gather a queue.
    segment_changes: Arc<Semaphore>,
}

/// Segment changes one project may have in flight (one runs, the others
/// wait for the store's segment lock).
const SEGMENT_CHANGES_IN_FLIGHT: usize = 4;

impl Project {
    /// A permit for one segment save or delete, or `503`.
    pub fn segment_change_permit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        permit(&self.segment_changes, || {
            format!(
                "project {:?} has {SEGMENT_CHANGES_IN_FLIGHT} segment changes in flight",
                self.name
            )
        })
    }
}

/// A permit of `bound`, or `503` with `Retry-After` when none is free:
/// work past a bound is refused, never queued. `what` says which bound.
fn permit(
    bound: &Arc<Semaphore>,
    what: impl FnOnce() -> String,
) -> Result<OwnedSemaphorePermit, ApiError> {
    Arc::clone(bound).try_acquire_owned().map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!("{}; retry shortly", what()),
        )
        .retry_after(1)
    })
}

impl AppState {
    /// Opens every project of the data directory.
    pub fn open(config: Config) -> Result<AppState> {
        let state = AppState {
            writes: Arc::new(Semaphore::new(config.max_writes_in_flight)),
            reads: Arc::new(Semaphore::new(config.max_reads_in_flight)),
            config,
            projects: Mutex::new(HashMap::new()),
            keys: Mutex::new(HashMap::new()),
            metrics: Metrics::new(),
        };
        for p in projects::list_projects(&state.config.data)? {
            state.open_project(&p.name)?;
        }
        Ok(state)
    }

    fn open_project(&self, name: &str) -> Result<Arc<Project>> {
        let mut open = self.projects.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = open.get(name) {
            return Ok(Arc::clone(p));
        }
        let store = cohort::app::open_store(
            projects::store_dir(&self.config.data, name),
            StoreOptions {
                create_if_missing: false,
                // Live writes land all over the memtables (a log key per
                // event, a facts record per subject, at random subjects):
                // an insert into a 64 MiB skip list missed the cache at
                // every level and took 2 µs. 8 MiB memtables made the
                // track benchmark's group commits 40% shorter (issue 11,
                // BENCHMARKS.md); flushes are smaller and more frequent.
                write_buffer_bytes: SERVICE_WRITE_BUFFER_BYTES,
                ..StoreOptions::default()
            },
        )?;
        // Idempotency keys older than their time are forgotten now and
        // then; at open is one of the times.
        if let Err(e) = cohort::app::forget_expired_idempotency_keys(&store) {
            tracing::warn!(project = name, error = %e, "could not forget expired idempotency keys");
        }
        // And the change feed is trimmed to its retention (hourly after).
        let retention = i64::try_from(self.config.feed_retention.as_millis()).unwrap_or(i64::MAX);
        if let Err(e) = cohort::app::trim_feed(&store, retention, cohort::now_millis()) {
            tracing::warn!(project = name, error = %e, "could not trim the change feed");
        }
        let rate = NonZeroU32::new(self.config.rate_per_second.max(1)).expect("at least 1");
        let burst = NonZeroU32::new(self.config.burst.max(1)).expect("at least 1");
        let project = Arc::new(Project {
            name: name.to_owned(),
            store: Arc::new(store),
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            members: MemberCache::default(),
            segment_changes: Arc::new(Semaphore::new(SEGMENT_CHANGES_IN_FLIGHT)),
        });
        open.insert(name.to_owned(), Arc::clone(&project));
        tracing::info!(project = name, "project opened");
        Ok(project)
    }

    /// The project `name` if `key` is one of its active keys. Every
    /// failure takes the same path and gives the same answer.
    fn authenticate(&self, name: &str, key: Option<&str>) -> Option<Arc<Project>> {
        let key = key.unwrap_or("");
        if projects::check_project_name(name).is_err() {
            projects::admits(&[], key);
            return None;
        }
        // No project, no entry: names asked for in vain leave nothing.
        let Some(stamp) = KeyRing::stamp_of(&self.config.data, name) else {
            projects::admits(&[], key);
            return None;
        };
        let admitted = {
            let mut rings = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            let ring = rings.entry(name.to_owned()).or_default();
            ring.refresh(&self.config.data, name, stamp);
            ring.admits(key)
        };
        if !admitted {
            return None;
        }
        match self.open_project(name) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::error!(project = name, error = %e, "cannot open the project's store");
                None
            }
        }
    }

    /// A permit for one write, or `503` when as many are in flight as the
    /// server takes: writes never queue without bound.
    pub fn write_permit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        permit(&self.writes, || {
            "the server has as many writes in flight as it takes".to_owned()
        })
    }

    /// A permit for one evaluation or render (the reads that cost more
    /// than a lookup), or `503` past the bound: work that outlives a
    /// timed-out client never piles up without bound.
    pub fn read_permit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        permit(&self.reads, || {
            "the server has as many evaluations in flight as it takes".to_owned()
        })
    }

    /// Every open project (for shutdown and metrics).
    pub fn open_projects(&self) -> Vec<Arc<Project>> {
        let open = self.projects.lock().unwrap_or_else(|e| e.into_inner());
        open.values().cloned().collect()
    }

    /// Closes every store: flushed, so that the next open replays nothing.
    pub fn close(&self) {
        let mut open = self.projects.lock().unwrap_or_else(|e| e.into_inner());
        for (name, p) in open.drain() {
            if let Err(e) = p.store.flush() {
                tracing::warn!(project = name, error = %e, "flush at shutdown failed");
            }
            tracing::info!(project = name, "project closed");
        }
    }
}

/// Authenticates a request to `/v1/projects/{projectId}/…`, applies the
/// project's rate, and hands the project to the handler (an extension).
pub(crate) async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let name = request
        .uri()
        .path()
        .strip_prefix("/v1/projects/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("")
        .to_owned();
    let key = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            // The scheme is case-insensitive (RFC 9110).
            let (scheme, key) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| key.trim().to_owned())
        });
    let checked = {
        let state = Arc::clone(&state);
        // Reading the key file and, the first time, opening the store are
        // blocking work.
        tokio::task::spawn_blocking(move || state.authenticate(&name, key.as_deref())).await
    };
    let Ok(Some(project)) = checked else {
        return ApiError::unauthorized().into_response();
    };
    if let Err(not_until) = project.limiter.check() {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ));
        return ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "project {:?} is over its rate of {} requests per second",
                project.name, state.config.rate_per_second
            ),
        )
        .retry_after(wait.as_secs_f64().ceil() as u64)
        .into_response();
    }
    request.extensions_mut().insert(project);
    next.run(request).await
}
