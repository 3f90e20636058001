//! `cohort eval`: one filter, or a batch of named segments in one pass.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use cohort::app::{self, EvalRequest};
use cohort::eval::{Executor, StoreSegments};
use cohort::filter::Expr;
use cohort::{format_millis, Store};
use roaring::RoaringBitmap;
use serde_json::json;

use crate::segments_file::{by_kind, load, Segment};
use crate::text::{shown, thousands};
use crate::{open_read, parse_now, DbArg, Subject};

/// Evaluate a segment filter: which users (or devices) match it now.
///
/// The filter language is described in docs/filter-language.md, e.g.
///   count(purchase where data.amount >= 10000, last 30d) >= 2 and not did(@clicked, last 7d)
///
/// With --segments FILE.toml, evaluates every segment of the file in one
/// pass and writes NAME.roaring files (portable Roaring format) and
/// summary.json into the --out directory. The file has one table per
/// segment:
///
///   [segments.vip]
///   filter = "sum(purchase, data.amount, last 90d) >= 50000"
///   subject = "user"          # optional: user (default) or device
///   description = "Big spenders"
///
/// With --format ids, an ID is printed as it is, one per line, unless it
/// holds a control character or begins with a double quote: then it is
/// printed as a JSON string, in quotes. --format json gives every ID
/// exactly.
///
/// Examples:
///   cohort eval --db ./store 'did(purchase, last 7d)' --format count
///   cohort eval --db ./store --segments segments.toml --out ./out
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct Args {
    #[command(flatten)]
    db: DbArg,
    /// The evaluation instant: RFC 3339 (2026-06-01T00:00:00Z), a date
    /// (2026-06-01, midnight UTC) or Unix milliseconds. Default: the clock.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// Which subjects to select.
    #[arg(long, value_enum, default_value_t = Subject::User)]
    subject: Subject,
    /// What to print: a short summary, the count, the IDs one per line, or JSON.
    #[arg(long, value_enum, default_value_t = OutFormat::Summary)]
    format: OutFormat,
    /// Also write the members' dense ids as a portable .roaring file
    /// (with --segments: the directory for the results).
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Read the filter from this file instead of the command line.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["filter", "segments"])]
    filter_file: Option<PathBuf>,
    /// A TOML file of named segments to evaluate in one pass (needs --out DIR).
    #[arg(
        long,
        value_name = "FILE.toml",
        conflicts_with = "filter",
        requires = "out"
    )]
    segments: Option<PathBuf>,
    /// Evaluate on the calling thread only (same answer; for comparison).
    #[arg(long, conflicts_with = "threads")]
    single_threaded: bool,
    /// Threads to evaluate on. Default: one per core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    /// The filter.
    filter: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OutFormat {
    /// One line for people.
    Summary,
    /// The number of members.
    Count,
    /// Subject IDs, one per line.
    Ids,
    /// JSON with the count and IDs.
    Json,
}

/// The executor the thread options ask for.
pub(crate) fn executor(single_threaded: bool, threads: Option<u16>) -> anyhow::Result<Executor> {
    Ok(match (single_threaded, threads) {
        (true, _) => Executor::single_thread(),
        (false, Some(n)) => Executor::with_threads(n.into())?,
        (false, None) => Executor::shared(),
    })
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    let now = parse_now(args.now.as_deref())?;
    let executor = executor(args.single_threaded, args.threads)?;
    if let Some(file) = &args.segments {
        let out = args.out.as_deref().context("--segments needs --out DIR")?;
        let Some(parsed) = load(file)? else {
            return Ok(crate::EXIT_ERROR);
        };
        let store = open_read(&args.db.db)?;
        return batch(&store, &parsed, out, now, &executor);
    }
    let text = match (&args.filter, &args.filter_file) {
        (Some(f), _) => f.clone(),
        (None, Some(path)) => crate::read_text(path, cohort::filter::MAX_FILTER_BYTES, "a filter")?,
        (None, None) => bail!("give a FILTER, --filter-file FILE or --segments FILE.toml"),
    };
    let filter = match app::parse_filter(&text, args.subject.kind()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{}", crate::text::printable_lines(&e.to_string()));
            return Ok(crate::EXIT_ERROR);
        }
    };
    let store = open_read(&args.db.db)?;
    let kind = args.subject.kind();
    let started = Instant::now();
    let view = store.view();
    let request = EvalRequest {
        now,
        kind,
        executor,
    };
    let result = app::evaluate(&view, &[filter], &StoreSegments::new(&store), &request)?
        .pop()
        .expect("one result per filter");
    let members = result.members;
    let elapsed = started.elapsed();
    if let Some(path) = &args.out {
        write_roaring(path, &members)?;
    }
    let mut out = io::BufWriter::new(io::stdout().lock());
    match args.format {
        OutFormat::Count => writeln!(out, "{}", members.len())?,
        OutFormat::Ids => {
            for sid in &members {
                writeln!(out, "{}", shown(&view.subject_id(kind, sid)?))?;
            }
        }
        OutFormat::Json => {
            let ids = members
                .iter()
                .map(|sid| view.subject_id(kind, sid))
                .collect::<Result<Vec<_>, _>>()?;
            let v = json!({
                "subject": kind.as_str(),
                "now": format_millis(now),
                "count": members.len(),
                "universe": result.universe,
                "elapsedMs": elapsed.as_secs_f64() * 1000.0,
                "asOf": {
                    "events": view.next_seq(),
                    "lastWriteAt": view.last_write_at().map(format_millis),
                },
                "ids": ids,
            });
            writeln!(out, "{v}")?;
        }
        OutFormat::Summary => {
            writeln!(
                out,
                "{} {}s match, of {} with an event or profile change at or before {} ({:.1} ms)",
                thousands(members.len()),
                kind,
                thousands(result.universe),
                format_millis(now),
                elapsed.as_secs_f64() * 1000.0
            )?;
        }
    }
    out.flush()?;
    Ok(0)
}

fn write_roaring(path: &Path, members: &RoaringBitmap) -> anyhow::Result<()> {
    let mut file = io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    members.serialize_into(&mut file)?;
    file.flush()?;
    Ok(())
}

fn batch(
    store: &Store,
    parsed: &[Segment],
    out: &Path,
    now: i64,
    executor: &Executor,
) -> anyhow::Result<u8> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let segments = StoreSegments::new(store)
        .with_batch(parsed.iter().map(|s| (s.name.clone(), s.expr.clone())));
    let mut summary = Vec::new();
    let started = Instant::now();
    let view = store.view();
    for (kind, group) in by_kind(parsed) {
        let exprs: Vec<Expr> = group.iter().map(|s| s.expr.clone()).collect();
        let pass = Instant::now();
        let request = EvalRequest {
            now,
            kind,
            executor: executor.clone(),
        };
        let results = app::evaluate(&view, &exprs, &segments, &request)?;
        let ms = pass.elapsed().as_secs_f64() * 1000.0;
        for (
            Segment {
                name, description, ..
            },
            result,
        ) in group.into_iter().zip(results)
        {
            let members = result.members;
            write_roaring(&out.join(format!("{name}.roaring")), &members)?;
            summary.push(json!({
                "name": name, "subject": kind.as_str(), "description": description,
                "members": members.len(), "timeMs": ms, "file": format!("{name}.roaring"),
            }));
            println!("{name}: {} {kind}s", thousands(members.len()));
        }
    }
    let total = started.elapsed().as_secs_f64() * 1000.0;
    let doc = json!({
        "now": format_millis(now),
        "totalMs": total,
        "asOf": {"events": view.next_seq(), "lastWriteAt": view.last_write_at().map(format_millis)},
        "segments": summary,
    });
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&doc)? + "\n",
    )?;
    println!(
        "{} segments in {:.1} ms; results in {}",
        summary.len(),
        total,
        out.display()
    );
    Ok(0)
}
