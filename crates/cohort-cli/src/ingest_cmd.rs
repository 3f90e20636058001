//! `cohort ingest`.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use cohort::ingest::{self, IngestOptions, IngestReport, Observer, Position, Reject, Resume};
use cohort::{Source, Store, StoreOptions};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::text::{per_second, thousands};
use crate::{DbArg, EXIT_REJECTED};

/// How many rejects are printed; the rest go to --rejects only.
const PRINTED_REJECTS: u64 = 10;

/// Store events from NDJSON or track-request files.
///
/// Each FILE holds either one event per line (NDJSON; blank lines are
/// skipped) or track requests ({"events": [...]}, each stored all or
/// nothing). Gzip files are recognised by their content. Use - for stdin.
///
/// Invalid events are reported with their line, field and reason and
/// skipped; valid ones are stored. Events are durable once the summary is
/// printed.
///
/// A load can be run again safely: each batch records how far into its
/// file it got, in the same atomic write as its events, so after a crash,
/// a kill or an error the same command resumes where the last stored
/// batch ended, and a file loaded in full is not stored twice (a file that
/// has grown since loads only what is new). --again loads it all again.
///
/// Exit status: 0 when every event was stored, 1 when some were rejected,
/// 2 on a usage or I/O error.
///
/// Example: cohort ingest --db ./store events.ndjson.gz
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    db: DbArg,
    /// Accept automatic (@) events, for trusted sources such as a replay of
    /// exported data.
    #[arg(long)]
    system: bool,
    /// Write every rejected event to this file, as JSON lines with the
    /// input, position, errors and the rejected text.
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
    /// Never show a progress bar (it shows only on a terminal anyway).
    #[arg(long)]
    quiet: bool,
    /// Store every event of the files even if they were loaded before
    /// (their events are then stored twice).
    #[arg(long)]
    again: bool,
    /// Input bytes per atomic batch (each batch and its progress mark are
    /// stored together). Larger batches load faster; smaller ones lose
    /// less work to a crash.
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20,
          value_parser = clap::value_parser!(u32).range(4096..=(1 << 30)))]
    chunk_bytes: u32,
    /// Input files (NDJSON or track requests, optionally gzip); - for stdin.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    let store = Store::open(
        &args.db.db,
        StoreOptions {
            bulk_load: true,
            ..Default::default()
        },
    )
    .with_context(|| format!("opening the store at {}", args.db.db.display()))?;
    let mut rejects_out = match &args.rejects {
        Some(path) => Some(io::BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    let options = IngestOptions {
        source: if args.system {
            Source::System
        } else {
            Source::Client
        },
        chunk_bytes: args.chunk_bytes as usize,
        resume: if args.again {
            Resume::Never
        } else {
            Resume::Auto
        },
        ..Default::default()
    };
    let sizes: Option<u64> = args
        .files
        .iter()
        .map(|f| {
            if f.as_os_str() == "-" {
                None
            } else {
                std::fs::metadata(f).ok().map(|m| m.len())
            }
        })
        .sum();
    let bar = progress_bar(!args.quiet && io::stderr().is_terminal(), sizes);
    let started = Instant::now();
    let mut total = IngestReport {
        durable: true,
        ..IngestReport::default()
    };
    let mut printed = 0u64;
    let mut write_error: Option<io::Error> = None;
    for file in &args.files {
        let name = file.display().to_string();
        let reader: Box<dyn io::Read + Send> = if name == "-" {
            Box::new(io::stdin())
        } else {
            Box::new(File::open(file).with_context(|| format!("opening {name}"))?)
        };
        let base = total;
        let mut on_reject = |r: Reject| {
            if printed < PRINTED_REJECTS {
                bar.suspend(|| eprintln!("rejected {r}"));
            }
            printed += 1;
            if let Some(out) = rejects_out.as_mut() {
                if let Err(e) = writeln!(out, "{}", reject_json(&r)) {
                    write_error.get_or_insert(e);
                }
            }
        };
        let mut on_progress = |p: &ingest::Progress| {
            bar.set_position(base.bytes + p.bytes);
            let stored = base.stored + p.stored;
            bar.set_message(format!(
                "{} events, {}/s",
                thousands(stored),
                per_second(stored, started.elapsed().as_secs_f64())
            ));
        };
        let mut observer = Observer {
            on_reject: &mut on_reject,
            on_progress: &mut on_progress,
        };
        let report = ingest::ingest_reader(&store, &name, reader, &options, &mut observer);
        let report = match report {
            Ok(r) => r,
            Err(e) => {
                bar.finish_and_clear();
                let before = if total.stored > 0 {
                    format!(
                        "; the {} events of the files before it are stored and durable",
                        thousands(total.stored)
                    )
                } else {
                    String::new()
                };
                return Err(anyhow::anyhow!("{e}{before}"));
            }
        };
        if report.skipped.items > 0 {
            let what = if report.stored + report.rejected == 0 {
                "nothing new"
            } else {
                "resumed after them"
            };
            bar.suspend(|| {
                eprintln!(
                    "{name}: loaded before — its first {} lines ({} events) are stored already; {what}",
                    thousands(report.skipped.items),
                    thousands(report.skipped.stored)
                )
            });
        }
        total.merge(&report);
    }
    bar.finish_and_clear();
    // Leave the store settled: no write-ahead log for the next process to
    // replay (a read-only one would replay it at every open).
    store
        .flush()
        .context("writing the loaded events to table files")?;
    if let Some(mut out) = rejects_out {
        out.flush()
            .map_err(|e| write_error.take().unwrap_or(e))
            .context("writing the rejects file")?;
    }
    if let Some(e) = write_error {
        return Err(anyhow::Error::new(e).context("writing the rejects file"));
    }
    if total.rejected > printed.min(PRINTED_REJECTS) && printed > PRINTED_REJECTS {
        let hint = match &args.rejects {
            Some(p) => format!("all are in {}", p.display()),
            None => "pass --rejects FILE to keep them all".into(),
        };
        eprintln!(
            "... and {} more rejects ({hint})",
            thousands(printed - PRINTED_REJECTS)
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    let stats = store.stats();
    println!(
        "stored {} events, rejected {}, in {:.2} s ({} events/s); durable. The store holds {} events of {} users and {} devices.",
        thousands(total.stored),
        thousands(total.rejected),
        seconds,
        per_second(total.stored + total.rejected, seconds),
        thousands(stats.events),
        thousands(stats.users),
        thousands(stats.devices),
    );
    if total.first_sessions > 0 {
        println!(
            "recorded @first_session for {} new devices",
            thousands(total.first_sessions)
        );
    }
    Ok(if total.rejected > 0 { EXIT_REJECTED } else { 0 })
}

fn progress_bar(visible: bool, total: Option<u64>) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    match total {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {msg} ({eta} left)")
                .expect("a valid template"),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} {msg}").expect("a valid template"),
        ),
    }
}

fn reject_json(r: &Reject) -> serde_json::Value {
    let errors: Vec<_> = r
        .errors
        .iter()
        .map(|e| json!({"field": e.field, "reason": e.reason}))
        .collect();
    let mut v = json!({"input": r.input, "errors": errors, "text": r.text});
    match r.position {
        Position::Line(n) => v["line"] = json!(n),
        Position::Request(n) => v["request"] = json!(n),
    }
    v
}
