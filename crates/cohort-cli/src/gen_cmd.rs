//! `cohort gen`.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use cohort::generate::{generate, GenOptions};
use indicatif::{ProgressBar, ProgressStyle};

use crate::text::{per_second, thousands};

/// Generate a synthetic, realistic event stream as track-API NDJSON.
///
/// Users' activity is heavy-tailed (Zipf-like); about 15% of the events
/// are device events; the types are app_open, view_item, search,
/// add_to_cart, purchase, signup and the automatic @clicked,
/// @iam_displayed, @iam_clicked and @iam_closed, with data of every kind
/// (numbers, strings, booleans, string arrays, times with an offset).
/// Timestamps spread over --days days ending just before --end, in time
/// order. The same options always give the same bytes.
///
/// The output has automatic events, so ingest it as the platform:
///
///   cohort gen --users 200000 --events 10000000 --out events.ndjson
///   cohort ingest --system --db ./store events.ndjson
///   cohort eval --db ./store --now 2026-01-01 'count(purchase, last 30d) >= 2'
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Number of users.
    #[arg(long, default_value_t = 10_000)]
    users: u32,
    /// Number of events.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Days of history.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// When the history ends (exclusive): RFC 3339, a date, or Unix ms.
    /// Use it as --now when evaluating.
    #[arg(long, default_value = "2026-01-01T00:00:00Z")]
    end: String,
    /// Write here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Also write tag and attribute changes: after about 4% of the events
    /// a track request line sets or deletes the subject's tags (plan,
    /// point, cart_at), after about 1% of the user events one sets the
    /// user's dob, timeZone, country (and language). Without it, the same
    /// events only.
    #[arg(long)]
    profiles: bool,
    /// Never show a progress bar (it shows only on a terminal anyway).
    #[arg(long)]
    quiet: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    let options = GenOptions {
        users: args.users,
        events: args.events,
        days: args.days,
        seed: args.seed,
        end: crate::parse_now(Some(&args.end)).context("--end")?,
        profiles: args.profiles,
    };
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(io::BufWriter::with_capacity(
            1 << 20,
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(io::BufWriter::with_capacity(1 << 20, io::stdout().lock())),
    };
    let bar = if !args.quiet && io::stderr().is_terminal() {
        let bar = ProgressBar::new(args.events);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {human_pos}/{human_len} events  {per_sec}  eta {eta}",
            )
            .expect("a valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let started = Instant::now();
    let report = generate(&options, &mut out, &mut |n| bar.set_position(n))?;
    drop(out);
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    if !args.quiet {
        eprintln!(
            "generated {} events ({} MB) in {:.2} s ({} events/s)",
            thousands(report.events),
            report.bytes / 1_000_000,
            secs,
            per_second(report.events, secs)
        );
    }
    Ok(0)
}
