//! The accept loop: HTTP/1.1 connections served by hyper with a header
//! timeout (a client that never finishes its headers is cut off), each
//! request under the router's own timeout; and graceful shutdown — stop
//! accepting, let every request in flight finish (up to a grace period),
//! close every store, return.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::Service;

use crate::error::{Result, ServerError};
use crate::state::AppState;
use crate::Config;

/// A bound server: its projects open, its port listening.
pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
}

impl Server {
    /// Opens every project of `config.data` and binds `config.listen`.
    pub async fn bind(config: Config) -> Result<Server> {
        let listen = config.listen;
        let state = tokio::task::spawn_blocking(move || AppState::open(config))
            .await
            .expect("opening projects does not panic")?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| ServerError::Bind {
                addr: listen,
                source,
            })?;
        Ok(Server {
            listener,
            state: Arc::new(state),
        })
    }

    /// The address it listens on (with the port the system chose for
    /// port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then shuts down gracefully.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
        let Server { listener, state } = self;
        let (app, _) = crate::routes::service(Arc::clone(&state));
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(state.config.header_timeout)
            .keep_alive(true);
        let graceful = GracefulShutdown::new();
        let forget = tokio::spawn(forget_expired_keys(Arc::clone(&state)));
        let sweep = tokio::spawn(sweep_live_segments(Arc::clone(&state)));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, _peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of descriptors, say: wait, do not spin.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let service = app.clone();
                    let hyper_service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                        service.clone().call(request)
                    });
                    let connection = http.serve_connection(TokioIo::new(stream), hyper_service);
                    let connection = graceful.watch(connection);
                    tokio::spawn(async move {
                        if let Err(e) = connection.await {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                    });
                }
                () = &mut shutdown => break,
            }
        }
        drop(listener);
        tracing::info!("shutting down: finishing requests in flight");
        let grace = state.config.shutdown_grace;
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(?grace, "requests still in flight after the grace period");
        }
        forget.abort();
        sweep.abort();
        let closing = Arc::clone(&state);
        let _ = tokio::task::spawn_blocking(move || closing.close()).await;
        Ok(())
    }
}

/// Forgets expired idempotency keys, and trims live segments' change
/// feeds to their retention, hourly.
async fn forget_expired_keys(state: Arc<AppState>) {
    let mut hourly = tokio::time::interval(Duration::from_secs(3600));
    hourly.tick().await; // the first tick is now; projects did it at open
    loop {
        hourly.tick().await;
        for project in state.open_projects() {
            let store = Arc::clone(&project.store);
            let forgotten = tokio::task::spawn_blocking(move || {
                cohort::app::forget_expired_idempotency_keys(&store)
            })
            .await;
            if let Ok(Err(e)) = forgotten {
                tracing::warn!(project = project.name, error = %e, "forgetting idempotency keys failed");
            }
            let store = Arc::clone(&project.store);
            let retention =
                i64::try_from(state.config.feed_retention.as_millis()).unwrap_or(i64::MAX);
            let trimmed = tokio::task::spawn_blocking(move || {
                cohort::app::trim_feed(&store, retention, cohort::now_millis())
            })
            .await;
            if let Ok(Err(e)) = trimmed {
                tracing::warn!(project = project.name, error = %e, "trimming the change feed failed");
            }
        }
    }
}

/// Sweeps the live segments' deadlines of every open project each
/// second, so that changes by time alone are recorded within a second of
/// their instant (docs/live-segments.md). A round holds the writer lock
/// only for its own batch: track requests go on between rounds.
async fn sweep_live_segments(state: Arc<AppState>) {
    let mut every_second = tokio::time::interval(Duration::from_secs(1));
    every_second.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every_second.tick().await;
        for project in state.open_projects() {
            if project.store.live_segments().is_empty() {
                continue;
            }
            let store = Arc::clone(&project.store);
            let swept = tokio::task::spawn_blocking(move || {
                cohort::app::sweep_all(&store, cohort::now_millis())
            })
            .await;
            if let Ok(Err(e)) = swept {
                tracing::warn!(project = project.name, error = %e, "sweeping live segments failed");
            }
        }
    }
}

/// Runs a server until SIGTERM or SIGINT, then shuts down gracefully;
/// `on_ready` is called with the bound address once it accepts.
pub fn serve_until_signal(config: Config, on_ready: impl FnOnce(SocketAddr)) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cohort-serve")
        .build()
        .map_err(|source| ServerError::Io {
            path: config.data.clone(),
            source,
        })?;
    let grace = config.shutdown_grace;
    let served = runtime.block_on(async {
        // Handlers first: a signal that arrives once the server says it is
        // ready must already stop it gracefully.
        use tokio::signal::unix::{signal, SignalKind};
        let io = |source| ServerError::Io {
            path: "signal handlers".into(),
            source,
        };
        let mut term = signal(SignalKind::terminate()).map_err(io)?;
        let mut int = signal(SignalKind::interrupt()).map_err(io)?;
        let server = Server::bind(config).await?;
        on_ready(server.local_addr());
        server
            .run(async move {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                    _ = int.recv() => tracing::info!("SIGINT: shutting down"),
                }
            })
            .await
    });
    // Work that outlived the grace period (a write whose client was told
    // 408, say) is not waited for without end: the write-ahead log keeps
    // what it acknowledged.
    runtime.shutdown_timeout(grace);
    served
}
