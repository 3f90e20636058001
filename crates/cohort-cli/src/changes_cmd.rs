//! `cohort changes`: the change feed of live segments.

use std::io::{self, Write};
use std::time::Duration;

use cohort::{format_millis, Change, StoreError};

use crate::text::shown;
use crate::{open_read, open_write, DbArg, Format};

/// Show the change feed of live segments: who entered or left which
/// segment, when, and why — oldest first, from a cursor.
///
/// Each record has a sequence number (SEQ). Pass the last one you
/// processed as --after to read only what came since: nothing is skipped
/// and nothing shown twice, across restarts of cohort and of your reader.
/// Entries caused by an event carry that event (its type, time and data:
/// the entry_event of a message, see `cohort render --change SEQ`).
///
/// When no other process writes the store, deadlines that fell due are
/// swept first, so the feed is current to now; while `cohort serve` runs,
/// it sweeps and this shows what it recorded.
///
/// Example: cohort changes --db ./store --segment lapsed --after 120
///
/// Example: cohort changes --db ./store --follow --format json
///
/// Retention: --trim-before TIME deletes the records older than TIME
/// (`cohort serve` keeps 30 days, see --feed-retention-days).
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    db: DbArg,
    /// Only this segment's changes.
    #[arg(long, value_name = "NAME")]
    segment: Option<String>,
    /// Start after this sequence number (0: from the start).
    #[arg(long, value_name = "SEQ", default_value_t = 0)]
    after: u64,
    /// At most this many records (without --follow).
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    limit: u64,
    /// Keep waiting for new changes (as time passes, and as another
    /// process writes), printing each as it comes; stop with Ctrl-C.
    #[arg(long)]
    follow: bool,
    /// Delete the records older than this instant (RFC 3339, a date, or
    /// Unix ms) instead of showing any; needs the store for writing.
    #[arg(long, value_name = "TIME", conflicts_with_all = ["follow", "segment", "after"])]
    trim_before: Option<String>,
    /// Output format: text, or JSON (one object per line).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    if let Some(time) = &args.trim_before {
        let cutoff = cohort::app::parse_time(time)?;
        let store = open_write(&args.db.db)?;
        let deleted = store.trim_changes(cutoff)?;
        println!(
            "deleted {} change records older than {}",
            crate::text::thousands(deleted),
            format_millis(cutoff)
        );
        return Ok(0);
    }
    // A writer catches the feed up to now (open_store sweeps); while
    // another process writes, that process does.
    let store = match open_write(&args.db.db) {
        Ok(store) => store,
        Err(e)
            if matches!(
                e.downcast_ref::<StoreError>(),
                Some(StoreError::Locked(_) | StoreError::ReadOnly(_))
            ) =>
        {
            open_read(&args.db.db)?
        }
        Err(e) => return Err(e),
    };
    let mut after = args.after;
    let mut left = if args.follow { u64::MAX } else { args.limit };
    let mut out = io::BufWriter::new(io::stdout().lock());
    loop {
        let page = cohort::app::changes(
            &store,
            after,
            args.segment.as_deref(),
            left.min(10_000) as usize,
        )?;
        for c in &page {
            print_change(&mut out, c, args.format)?;
            after = c.seq;
        }
        left -= page.len() as u64;
        if !args.follow {
            if left > 0 && page.len() == 10_000 {
                continue;
            }
            break;
        }
        out.flush()?;
        if page.is_empty() {
            std::thread::sleep(Duration::from_millis(500));
            if store.is_read_only() {
                store.catch_up()?;
            } else {
                cohort::app::sweep_all(&store, cohort::now_millis())?;
            }
        }
    }
    out.flush()?;
    Ok(0)
}

fn print_change(out: &mut impl Write, c: &Change, format: Format) -> io::Result<()> {
    match format {
        Format::Json => writeln!(out, "{}", cohort::app::change_json(c)),
        Format::Text => {
            let entry = match &c.entry {
                Some(e) => format!(
                    " · entry event {} at {}",
                    shown(&e.event_type),
                    format_millis(e.time)
                ),
                None => String::new(),
            };
            writeln!(
                out,
                "{:>8}  {}  {:<7}  {}  {} {}  ({}{entry})",
                c.seq,
                format_millis(c.at),
                if c.entered { "entered" } else { "left" },
                shown(&c.segment),
                c.kind,
                shown(&c.subject),
                c.cause.as_str(),
            )
        }
    }
}
