//! `cohort serve`: the track API and the segment API over HTTP.
//!
//! A thin layer on [`cohort::app`]: handlers turn HTTP into application
//! calls and their results into JSON and status codes; every rule of data
//! (validation, all-or-nothing, durability, idempotency, segment rules)
//! lives in the library, shared with the CLI. What lives here is what is
//! HTTP's: routes, authentication, rate limits, the bound on writes in
//! flight, timeouts, body limits, the error shape, metrics, the OpenAPI
//! document, and shutdown.
//!
//! ```no_run
//! # fn main() -> cohort_server::Result<()> {
//! let data = std::path::Path::new("./cohort-data");
//! cohort_server::projects::create_project(data, "shop")?;
//! let key = cohort_server::projects::create_key(data, "shop")?;
//! println!("API key (shown once): {}", key.key);
//! let config = cohort_server::Config::new(data.to_path_buf());
//! cohort_server::serve_until_signal(config, |addr| println!("listening on http://{addr}"))?;
//! # Ok(()) }
//! ```
//!
//! Code map: `projects.rs` (projects and keys on disk), `state.rs` (open
//! projects, authentication, rate limits), `body.rs` (reading JSON bodies
//! within limits), `routes/` (one file per resource), `members.rs` (the
//! member check's cache), `metrics.rs`, `serve.rs` (the accept loop,
//! timeouts and graceful shutdown), `error.rs` (the one error shape).

mod body;
mod config;
mod error;
mod members;
mod metrics;
pub mod projects;
mod routes;
mod serve;
mod state;

pub use config::Config;
pub use error::{ApiError, ErrorBody, ErrorInfo, Result, ServerError};
pub use routes::router;
pub use serve::{serve_until_signal, Server};
