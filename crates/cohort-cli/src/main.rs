//! `cohort`: the command-line tool. Thin glue over the `cohort` library.

mod catalog_cmd;
mod events_cmd;
mod ingest_cmd;
mod text;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Segment evaluation over an embedded event store.
///
/// A store is one directory. Ingest track-API events into it, then look at
/// what arrived: the catalog of event types and recent events.
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
    Ingest(ingest_cmd::Args),
    Events(events_cmd::Args),
    Catalog(catalog_cmd::Args),
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

/// Exit codes: 0 success, 1 some input rejected, 2 usage or I/O error.
pub(crate) const EXIT_REJECTED: u8 = 1;
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ingest(args) => ingest_cmd::run(args),
        Command::Events(args) => events_cmd::run(args),
        Command::Catalog(args) => catalog_cmd::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cohort: error: {e:#}");
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

/// Opens an existing store (read commands never create one).
pub(crate) fn open_existing(db: &std::path::Path) -> anyhow::Result<cohort::Store> {
    let options = cohort::StoreOptions {
        create_if_missing: false,
        ..Default::default()
    };
    Ok(cohort::Store::open(db, options)?)
}
