//! `/metrics` in Prometheus text format: requests by route and status,
//! latencies by route, items stored, rejects by reason, write-ahead-log
//! syncs. Labels name routes (their patterns), never subjects.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ItemLabels {
    kind: String,
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

/// The server's metrics.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    items: Family<ItemLabels, Counter>,
    rejects: Family<ReasonLabels, Counter>,
    wal_syncs: Gauge<i64, AtomicI64>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("cohort");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let items = Family::<ItemLabels, Counter>::default();
        let rejects = Family::<ReasonLabels, Counter>::default();
        let wal_syncs = Gauge::<i64, AtomicI64>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's headers to its answer",
            latency.clone(),
        );
        registry.register(
            "items_stored",
            "Items stored by track requests (events, profile changes)",
            items.clone(),
        );
        registry.register(
            "rejects",
            "Requests refused before any work (unauthorized, rate_limited, overloaded, too_large)",
            rejects.clone(),
        );
        registry.register(
            "wal_syncs",
            "Write-ahead-log syncs made for acknowledged writes (group commit shares them)",
            wal_syncs.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            items,
            rejects,
            wal_syncs,
        }
    }

    pub fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    pub fn stored(&self, events: u64, profile_changes: u64) {
        for (kind, n) in [("events", events), ("profile_changes", profile_changes)] {
            self.items
                .get_or_create(&ItemLabels {
                    kind: kind.to_owned(),
                })
                .inc_by(n);
        }
    }

    pub fn reject(&self, reason: &str) {
        self.rejects
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The text exposition, with `wal_syncs` set to `syncs` first.
    pub fn render(&self, syncs: u64) -> String {
        self.wal_syncs.set(i64::try_from(syncs).unwrap_or(i64::MAX));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
