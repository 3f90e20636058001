//! `cohort check`: parse and validate a filter, nothing else.

use std::path::PathBuf;

use anyhow::bail;

/// Check a filter's syntax and rules without a store.
///
/// Prints the filter in canonical form when it is valid, or the error with
/// its line, column and a caret. Exit status 0 when valid, 1 when not.
///
/// Example: cohort check 'count(purchase, last 30d) >= 2'
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Read the filter from this file.
    #[arg(long, value_name = "FILE", conflicts_with = "filter")]
    filter_file: Option<PathBuf>,
    /// The filter.
    filter: Option<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    let text = match (args.filter, &args.filter_file) {
        (Some(f), _) => f,
        (None, Some(p)) => crate::read_text(p, cohort::filter::MAX_FILTER_BYTES, "a filter")?,
        (None, None) => bail!("give a FILTER or --filter-file FILE"),
    };
    match cohort::app::parse_filter(&text, cohort::SubjectKind::User) {
        Ok(expr) => {
            println!("ok: {expr}");
            Ok(0)
        }
        Err(e) => {
            eprintln!("{}", crate::text::printable_lines(&e.to_string()));
            Ok(crate::EXIT_REJECTED)
        }
    }
}
