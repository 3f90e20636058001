//! `cohort ingest`.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use cohort::ingest::{self, IngestOptions, IngestReport, Observer, Position, Reject, Resume};
use cohort::{Source, StoreOptions};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::text::{per_second, printable, shown, thousands};
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
/// Events are staged in memory and committed as sorted table files, all
/// or nothing, every --commit-bytes of staged data, every 10 seconds, and
/// at the end. A slow stream (a pipe) is stored as it arrives, once its
/// first 64 KiB — which identify it for resuming — have arrived.
///
/// A load can be run again safely: each commit records how far into its
/// file it got, in the same atomic write as its events, so after a crash,
/// a kill or an error the same command resumes where the last commit
/// ended, and a file loaded in full is not stored twice (a file that
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
    /// Input bytes per chunk: the unit that is read, validated in
    /// parallel and staged, all or nothing.
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20,
          value_parser = clap::value_parser!(u32).range(4096..=(1 << 30)))]
    chunk_bytes: u32,
    /// Memory of staged events at which they are committed (stored
    /// durably, with how far the load got). Larger commits load faster
    /// (fewer, larger table files); a crash loses the work since the last
    /// one, which the same command then loads again.
    #[arg(long, value_name = "BYTES", default_value_t = 512 << 20,
          value_parser = clap::value_parser!(u64).range(4096..=(16 << 30)))]
    commit_bytes: u64,
    /// Input files (NDJSON or track requests, optionally gzip); - for stdin.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
}

/// The same file (device and inode), whatever path names it.
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    // Every input is opened before the store is, so that a mistyped path
    // stores nothing and creates no store.
    let mut inputs: Vec<(String, Box<dyn io::Read + Send>, Option<std::fs::Metadata>)> = Vec::new();
    for file in &args.files {
        let name = file.display().to_string();
        if name == "-" {
            inputs.push((name, Box::new(io::stdin()), None));
        } else {
            let f = File::open(file).with_context(|| format!("opening {}", shown(&name)))?;
            let meta = f.metadata().ok();
            inputs.push((name, Box::new(f), meta));
        }
    }
    if let Some(path) = &args.rejects {
        // Creating the rejects file would empty an input of the same name.
        if let Ok(out) = std::fs::metadata(path) {
            let stdin = std::fs::metadata("/dev/stdin").ok();
            for (name, _, meta) in &inputs {
                let meta = if name == "-" {
                    stdin.as_ref()
                } else {
                    meta.as_ref()
                };
                if meta.is_some_and(|m| same_file(m, &out)) {
                    anyhow::bail!(
                        "--rejects {} is also an input ({}): it would be emptied before it is read",
                        shown(&path.display().to_string()),
                        shown(name)
                    );
                }
            }
        }
    }
    let store = cohort::app::open_store(
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
        commit_bytes: usize::try_from(args.commit_bytes).unwrap_or(usize::MAX),
        resume: if args.again {
            Resume::Never
        } else {
            Resume::Auto
        },
        ..Default::default()
    };
    let sizes: Option<u64> = inputs
        .iter()
        .map(|(_, _, meta)| meta.as_ref().map(|m| m.len()))
        .sum();
    let bar = progress_bar(!args.quiet && io::stderr().is_terminal(), sizes);
    let started = Instant::now();
    let mut total = IngestReport {
        durable: true,
        ..IngestReport::default()
    };
    let mut printed = 0u64;
    let mut write_error: Option<io::Error> = None;
    for (name, reader, _) in inputs {
        let base = total;
        let mut on_reject = |r: Reject| {
            if printed < PRINTED_REJECTS {
                bar.suspend(|| eprintln!("rejected {}", printable(&r.to_string())));
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
            let read = base.stored + p.stored + p.staged;
            bar.set_message(format!(
                "{} events ({} stored), {}/s",
                thousands(read),
                thousands(base.stored + p.stored),
                per_second(read, started.elapsed().as_secs_f64())
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
                let again = if matches!(e, ingest::IngestError::Diverged { .. }) {
                    " (pass --again to do that)"
                } else {
                    ""
                };
                return Err(anyhow::anyhow!(
                    "{}{again}{before}",
                    printable(&e.to_string())
                ));
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
                    "{}: loaded before — its first {} lines ({} events) are stored already; {what}",
                    shown(&name),
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
    if printed > PRINTED_REJECTS {
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
    // A reject that held no readable event (a broken request, the rest of
    // a file that could not be framed) still counts: it is input not stored.
    let rejected = if printed == 0 {
        "rejected 0".to_owned()
    } else {
        format!(
            "rejected {} ({} lines or requests)",
            thousands(total.rejected),
            thousands(printed)
        )
    };
    println!(
        "stored {} events, {rejected}, in {:.2} s ({} events/s); durable. The store holds {} events of {} users and {} devices.",
        thousands(total.stored),
        seconds,
        per_second(total.stored + total.rejected, seconds),
        thousands(stats.events),
        thousands(stats.users),
        thousands(stats.devices),
    );
    if total.profile_changes > 0 {
        println!(
            "stored {} tag and attribute changes",
            thousands(total.profile_changes)
        );
    }
    if total.first_sessions > 0 {
        println!(
            "recorded @first_session for {} new devices",
            thousands(total.first_sessions)
        );
    }
    Ok(if total.rejected > 0 || printed > 0 {
        EXIT_REJECTED
    } else {
        0
    })
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
