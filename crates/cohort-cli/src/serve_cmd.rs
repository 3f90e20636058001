//! `cohort serve` and `cohort project`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use cohort_server::projects;

/// Serve the track API and the segment API over HTTP.
///
/// Every project of the data directory (made with `cohort project create`)
/// is served under /v1/projects/NAME, to requests carrying one of its keys
/// (`Authorization: Bearer KEY`, from `cohort project key create`). The
/// routes are listed at /openapi.json; /healthz and /metrics need no key.
///
/// SIGTERM or SIGINT (Ctrl-C) stops it gracefully: it stops accepting,
/// finishes the requests in flight, closes every store and exits 0. Logs go
/// to stderr (RUST_LOG=debug for more).
///
/// Example: cohort serve --data ./cohort-data --listen 127.0.0.1:8080
#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// The data directory (projects live in DIR/projects/NAME).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Where to listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The largest request body, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 5 * 1024 * 1024)]
    body_limit: usize,
    /// Requests per second one project may make; past it, 429.
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit: u32,
    /// Requests one project may make at once above its rate.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    burst: u32,
    /// Writes worked on at once, across projects; past it, 503.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    max_writes_in_flight: u64,
    /// Evaluations and renders worked on at once, across projects; past
    /// it, 503.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    max_reads_in_flight: u64,
    /// Seconds a request may take, body included; past it, 408.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    request_timeout: f64,
    /// Seconds a client may take to send its headers; past it, the
    /// connection is closed.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    header_timeout: f64,
    /// Seconds a member check's answer may be old (see the README).
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    member_max_age: f64,
    /// Seconds shutdown waits for requests in flight.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    shutdown_grace: f64,
    /// Days live segments' change records are kept (trimmed hourly).
    #[arg(long, value_name = "DAYS", default_value_t = cohort::app::DEFAULT_FEED_RETENTION_DAYS, value_parser = clap::value_parser!(u64).range(1..=36_500))]
    feed_retention_days: u64,
}

fn seconds(name: &str, s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("--{name} must be a positive number of seconds, not {s}"))
}

pub(crate) fn serve(args: ServeArgs) -> anyhow::Result<u8> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut config = cohort_server::Config::new(args.data.clone());
    config.listen = args.listen;
    config.body_limit = args.body_limit;
    config.rate_per_second = args.rate_limit;
    config.burst = args.burst;
    config.max_writes_in_flight = usize::try_from(args.max_writes_in_flight)?;
    config.max_reads_in_flight = usize::try_from(args.max_reads_in_flight)?;
    config.request_timeout = seconds("request-timeout", args.request_timeout)?;
    config.header_timeout = seconds("header-timeout", args.header_timeout)?;
    config.member_max_age = seconds("member-max-age", args.member_max_age)?;
    config.shutdown_grace = seconds("shutdown-grace", args.shutdown_grace)?;
    config.feed_retention = Duration::from_secs(args.feed_retention_days * 86_400);
    let names: Vec<String> = projects::list_projects(&args.data)?
        .into_iter()
        .map(|p| p.name)
        .collect();
    if names.is_empty() {
        eprintln!(
            "note: {} has no projects yet; make one with `cohort project create --data {} NAME`",
            args.data.display(),
            args.data.display()
        );
    }
    cohort_server::serve_until_signal(config, |addr| {
        // One line on stdout, for scripts that wait for it.
        println!(
            "cohort serve: listening on http://{addr} ({} projects)",
            names.len()
        );
    })?;
    eprintln!("cohort serve: stopped; every store closed");
    Ok(0)
}

/// Manage the projects a server serves, and their API keys.
///
/// A project is one store (DATA/projects/NAME/store) and its keys. A key is
/// shown once, when made, and kept only as a hash; revoke it by its id.
/// These commands work while a server runs (it sees new and revoked keys at
/// once), except `delete`, which needs the server stopped.
///
/// Example: cohort project create --data ./cohort-data shop
#[derive(clap::Args)]
pub(crate) struct ProjectArgs {
    #[command(subcommand)]
    action: ProjectAction,
}

#[derive(clap::Subcommand)]
enum ProjectAction {
    /// Make a project (an empty store, no keys yet).
    ///
    /// Names are 1 to 64 of a-z, 0-9, '-' and '_'.
    Create {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The project's name (its projectId in URLs).
        name: String,
    },
    /// List the projects and how many active keys each has.
    List {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// Delete a project: its store and keys, for good.
    Delete {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The project.
        name: String,
    },
    /// Make or revoke API keys.
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
}

#[derive(clap::Subcommand)]
enum KeyAction {
    /// Make a key; it is printed once, on stdout, and never again.
    Create {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The project.
        project: String,
    },
    /// Revoke a key by its id (shown by `key create` and `project list`).
    Revoke {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The project.
        project: String,
        /// The key's id.
        id: String,
    },
}

pub(crate) fn project(args: ProjectArgs) -> anyhow::Result<u8> {
    match args.action {
        ProjectAction::Create { data, name } => {
            projects::create_project(&data, &name)?;
            println!("created project {name}");
            eprintln!(
                "next: cohort project key create --data {} {name}",
                data.display()
            );
        }
        ProjectAction::List { data } => {
            for p in projects::list_projects(&data)? {
                let active: Vec<&str> = p
                    .keys
                    .iter()
                    .filter(|k| k.revoked.is_none())
                    .map(|k| k.id.as_str())
                    .collect();
                println!(
                    "{}  {} active key(s){}",
                    p.name,
                    active.len(),
                    if active.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", active.join(", "))
                    }
                );
            }
        }
        ProjectAction::Delete { data, name } => {
            projects::delete_project(&data, &name)?;
            println!("deleted project {name}");
        }
        ProjectAction::Key {
            action: KeyAction::Create { data, project },
        } => {
            let key = projects::create_key(&data, &project)?;
            eprintln!(
                "key {} for project {project} (shown once; keep it secret):",
                key.id
            );
            println!("{}", key.key);
        }
        ProjectAction::Key {
            action: KeyAction::Revoke { data, project, id },
        } => {
            projects::revoke_key(&data, &project, &id)?;
            println!("revoked key {id} of project {project}");
        }
    }
    Ok(0)
}
