//! `cohort`: the command-line tool. Thin glue over the `cohort` library.

mod bench_cmd;
mod catalog_cmd;
mod changes_cmd;
mod check_cmd;
mod eval_cmd;
mod events_cmd;
mod explain_cmd;
mod gen_cmd;
mod ingest_cmd;
mod init_cmd;
mod profile_cmd;
mod recover_cmd;
mod render_cmd;
mod segment_cmd;
mod segments_file;
mod serve_cmd;
mod text;
mod users_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// mimalloc keeps freed memory for reuse: an evaluation's per-subject
/// accumulators (megabytes, allocated and freed per evaluation) and
/// ingest's many small allocations no longer go back and forth to the OS.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the same index in its v2 and v3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to give freed memory back to the OS. For one
/// command that allocates and frees the same few hundred megabytes over
/// and over (a bulk load stages up to `--commit-bytes`, frees it at each
/// commit, and parses millions of small values), returning it only to
/// fault it in again, zeroed, cost a quarter of the load's time (sys time
/// 5.2 s of 20 CPU-seconds on 4 M events). What the process holds stays
/// bounded by its peak, and it exits at the end.
#[allow(unsafe_code)] // the one call into mimalloc's C API, above
fn keep_freed_memory() {
    // SAFETY: `mi_option_set` only stores an integer option; mimalloc
    // reads it when it next decides whether to purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// Segment evaluation over an embedded event store.
///
/// A store is one directory. Ingest track-API events into it, look at what
/// arrived (the catalog, recent events, a subject's profile), select users
/// or devices with segment filters (eval, check, explain, segment), and
/// render personalised messages with Liquid templates (render, check
/// --template). `cohort serve` offers all of it over HTTP, to projects made
/// with `cohort project`.
///
/// Read commands (events, catalog, eval, explain, segment list/show) open
/// the store read-only and work while another process writes to it; they
/// then show the store as it was when they opened it, and say so.
#[derive(Parser)]
#[command(
    name = "cohort",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Init(init_cmd::Args),
    Ingest(ingest_cmd::Args),
    Events(events_cmd::Args),
    Profile(profile_cmd::Args),
    Users(users_cmd::Args),
    Catalog(catalog_cmd::Args),
    Eval(eval_cmd::Args),
    Check(check_cmd::Args),
    Explain(explain_cmd::Args),
    Render(render_cmd::Args),
    Segment(segment_cmd::Args),
    Changes(changes_cmd::Args),
    Gen(gen_cmd::Args),
    Bench(bench_cmd::Args),
    Recover(recover_cmd::Args),
    Serve(serve_cmd::ServeArgs),
    Project(serve_cmd::ProjectArgs),
}

/// Output formats of the read commands.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Aligned text for people.
    Text,
    /// JSON for programs.
    Json,
}

/// The `--db` argument every store command takes.
#[derive(clap::Args)]
pub(crate) struct DbArg {
    /// The store's directory.
    #[arg(long, value_name = "DIR")]
    pub db: PathBuf,
}

/// `--user ID` or `--device ID`: the one subject a command is about.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub(crate) struct SubjectArg {
    /// The user's ID.
    #[arg(long, value_name = "ID")]
    user: Option<String>,
    /// The device's ID.
    #[arg(long, value_name = "ID")]
    device: Option<String>,
}

impl SubjectArg {
    /// The kind and ID given (clap requires exactly one).
    pub(crate) fn kind_and_id(self) -> (cohort::SubjectKind, String) {
        match (self.user, self.device) {
            (Some(id), _) => (cohort::SubjectKind::User, id),
            (None, Some(id)) => (cohort::SubjectKind::Device, id),
            (None, None) => unreachable!("clap requires --user or --device"),
        }
    }
}

/// Exit codes: 0 success, 1 some input rejected, 2 usage or I/O error.
pub(crate) const EXIT_REJECTED: u8 = 1;
pub(crate) const EXIT_ERROR: u8 = 2;

/// Users or devices, on the command line.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Subject {
    /// Users.
    User,
    /// Devices.
    Device,
}

impl Subject {
    pub(crate) fn kind(self) -> cohort::SubjectKind {
        match self {
            Subject::User => cohort::SubjectKind::User,
            Subject::Device => cohort::SubjectKind::Device,
        }
    }
}

/// `--now`: RFC 3339, a date (midnight UTC), or Unix milliseconds; the clock when absent.
pub(crate) fn parse_now(text: Option<&str>) -> anyhow::Result<i64> {
    match text {
        None => Ok(cohort::now_millis()),
        Some(text) => cohort::app::parse_time(text).map_err(|e| anyhow::anyhow!("--now {e}")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init(args) => init_cmd::run(args),
        Command::Ingest(args) => {
            keep_freed_memory();
            ingest_cmd::run(args)
        }
        Command::Events(args) => events_cmd::run(args),
        Command::Profile(args) => profile_cmd::run(args),
        Command::Render(args) => render_cmd::run(args),
        Command::Users(args) => users_cmd::run(args),
        Command::Catalog(args) => catalog_cmd::run(args),
        Command::Eval(args) => eval_cmd::run(args),
        Command::Check(args) => check_cmd::run(args),
        Command::Explain(args) => explain_cmd::run(args),
        Command::Segment(args) => segment_cmd::run(args),
        Command::Changes(args) => changes_cmd::run(args),
        Command::Gen(args) => {
            keep_freed_memory();
            gen_cmd::run(args)
        }
        Command::Bench(args) => bench_cmd::run(args),
        Command::Recover(args) => recover_cmd::run(args),
        Command::Serve(args) => serve_cmd::serve(args),
        Command::Project(args) => serve_cmd::project(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // Errors quote what they were given (names, paths, IDs).
            eprintln!(
                "cohort: error: {}",
                text::printable_lines(&format!("{e:#}"))
            );
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// `cohort events | head` closes our stdout early: that is not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Reads a text file of at most `limit` bytes. A longer one is an error
/// naming the limit, found by reading one byte past it and no further
/// (`/dev/zero` is a file too).
pub(crate) fn read_text(
    path: &std::path::Path,
    limit: usize,
    what: &str,
) -> anyhow::Result<String> {
    use anyhow::Context;
    use std::io::Read;
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() > limit {
        anyhow::bail!(
            "{} is longer than {} bytes, the most {what} may be",
            path.display(),
            text::thousands(limit as u64)
        );
    }
    String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", path.display()))
}

/// Opens an existing store read-only: read commands never create a store,
/// and work while another process writes to it. When one does, says on
/// stderr what the view holds.
pub(crate) fn open_read(db: &std::path::Path) -> anyhow::Result<cohort::Store> {
    let store = cohort::app::open_store(db, cohort::StoreOptions::read_only())?;
    if let Some(pid) = store.writer_pid() {
        let view = store.view();
        let when = view.last_write_at().map_or_else(String::new, |t| {
            format!(", last written at {}", cohort::format_millis(t))
        });
        eprintln!(
            "note: process {pid} is writing to this store; this shows it as it was when opened \
             ({} events stored{when}); later writes are not included",
            text::thousands(view.next_seq())
        );
    }
    Ok(store)
}

/// Opens an existing store for writing (never creating one).
pub(crate) fn open_write(db: &std::path::Path) -> anyhow::Result<cohort::Store> {
    let options = cohort::StoreOptions {
        create_if_missing: false,
        ..Default::default()
    };
    Ok(cohort::app::open_store(db, options)?)
}
