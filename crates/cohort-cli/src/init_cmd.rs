//! `cohort init`: create an empty store.

use anyhow::Context;

use crate::DbArg;

/// Create an empty store in a new or empty directory.
///
/// `cohort ingest` creates a store too; `init` is for adding catalog types
/// or saving segments before any event arrives. Other commands never
/// create a store, so a mistyped --db is an error, not a new empty store.
///
/// Example: cohort init --db ./store
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    db: DbArg,
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    let path = &args.db.db;
    if path.join("CURRENT").exists() {
        anyhow::bail!("{} already holds a store", path.display());
    }
    let store = cohort::app::open_store(path, cohort::StoreOptions::default())
        .with_context(|| format!("creating a store at {}", path.display()))?;
    println!(
        "created an empty store at {} (format version {})",
        path.display(),
        store.format_version()
    );
    Ok(0)
}
