//! `cohort bench`: warm evaluation times of named segments.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use cohort::eval::{evaluate, evaluate_many, EvalOptions, StoreSegments};
use cohort::filter::Expr;
use cohort::StoreOptions;
use cohort::{format_millis, Store, SubjectKind};
use serde_json::json;

use crate::segments_file::{by_kind, load, Segment};
use crate::{parse_now, DbArg};

/// Time segments on a store: filter throughput, warm.
///
/// Opens the store once, waits for RocksDB's background compactions to
/// finish, evaluates every segment of the file (same format as
/// `eval --segments`) --warmup times untimed, then --runs times timed, and
/// reports per segment the member count and the median, fastest and
/// slowest time; then the same for all segments in one batch pass; then
/// the peak resident memory of the process while it evaluated. Use it to
/// compare filters, store layouts or machines; the compare harness
/// (benches/compare) runs it.
///
/// With --live, it also times making each segment live (its backfill:
/// members and deadlines decided from the whole history, written with
/// their change records) and reports each backfill's median beside its
/// evaluation's. This writes to the store: each segment is made live as
/// `bench-live-NAME` and stopped again, --runs times, and the feed keeps
/// those records — run it on a copy. Live segments follow the clock, so
/// --live takes no --now.
///
/// Example:
///   cohort bench --db ./store --now 2026-01-01 --segments benches/compare/segments.toml
///   cohort bench --db ./copy --live --runs 5 --segments benches/compare/segments.toml
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct Args {
    #[command(flatten)]
    db: DbArg,
    /// The segments to time (TOML, one table per segment).
    #[arg(long, value_name = "FILE.toml")]
    segments: PathBuf,
    /// The evaluation instant: RFC 3339, a date, or Unix ms. Default: the clock.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// Timed runs per segment (and of the batch).
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Untimed runs first, to warm caches.
    #[arg(long, default_value_t = 2)]
    warmup: u32,
    /// Evaluate on the calling thread only.
    #[arg(long, conflicts_with = "threads")]
    single_threaded: bool,
    /// Threads to evaluate on. Default: one per core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    /// Write each segment's members (subject IDs, sorted, one per line) to
    /// DIR/NAME.txt.
    #[arg(long, value_name = "DIR")]
    members: Option<PathBuf>,
    /// Time only the batch of all segments, not each one alone.
    #[arg(long)]
    batch_only: bool,
    /// Also time each segment's backfill (writes to the store; see above).
    #[arg(long, conflicts_with_all = ["now", "batch_only"])]
    live: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Median, fastest and slowest of some timings, in ms.
fn stats(mut ms: Vec<f64>) -> serde_json::Value {
    ms.sort_by(f64::total_cmp);
    json!({
        "medianMs": ms[ms.len() / 2],
        "minMs": ms[0],
        "maxMs": ms[ms.len() - 1],
        "runs": ms.len(),
    })
}

fn timed<T>(f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(T, f64)> {
    let started = Instant::now();
    let out = f()?;
    Ok((out, started.elapsed().as_secs_f64() * 1000.0))
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    let now = parse_now(args.now.as_deref())?;
    let Some(parsed) = load(&args.segments)? else {
        return Ok(crate::EXIT_ERROR);
    };
    // Read-write, as a service holds it: the store's own background work
    // (compactions after a load) runs, and is waited for.
    let store = cohort::app::open_store(
        &args.db.db,
        StoreOptions {
            create_if_missing: false,
            ..Default::default()
        },
    )?;
    settle(&store)?;
    // Compactions after a bulk load use memory of their own; the peak we
    // report is the evaluations' (Linux: "5" resets the peak RSS counter).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let named = StoreSegments::new(&store)
        .with_batch(parsed.iter().map(|s| (s.name.clone(), s.expr.clone())));
    let executor = crate::eval_cmd::executor(args.single_threaded, args.threads)?;
    let options = |kind| EvalOptions {
        now,
        kind,
        executor: executor.clone(),
    };
    let mut rows = Vec::new();
    for seg in parsed.iter().filter(|_| !args.batch_only) {
        let once = || {
            Ok(evaluate(
                &store.view(),
                &seg.expr,
                &named,
                &options(seg.kind),
            )?)
        };
        for _ in 0..args.warmup {
            once()?;
        }
        let mut times = Vec::new();
        let mut members = None;
        for _ in 0..args.runs {
            let (m, ms) = timed(once)?;
            times.push(ms);
            members = Some(m);
        }
        let members = members.expect("at least one run");
        if let Some(dir) = &args.members {
            write_members(&store, seg, &members, dir)?;
        }
        let mut row = stats(times);
        row["name"] = json!(seg.name);
        row["members"] = json!(members.len());
        if args.live {
            row["backfill"] = time_backfill(&store, seg, now, members.len(), &args)?;
        }
        rows.push(row);
    }
    // All segments in one pass per subject kind (grouped before timing).
    let groups: Vec<(SubjectKind, Vec<Expr>)> = by_kind(&parsed)
        .into_iter()
        .map(|(kind, group)| (kind, group.iter().map(|s| s.expr.clone()).collect()))
        .collect();
    let batch_once = || -> anyhow::Result<()> {
        let view = store.view();
        for (kind, exprs) in &groups {
            evaluate_many(&view, exprs, &named, &options(*kind))?;
        }
        Ok(())
    };
    for _ in 0..args.warmup {
        batch_once()?;
    }
    let mut batch = Vec::new();
    for _ in 0..args.runs {
        batch.push(timed(batch_once)?.1);
    }
    let peak_rss = peak_rss_bytes();
    let report = json!({
        "now": format_millis(now),
        "threads": executor.threads(),
        "segments": rows,
        "batch": stats(batch),
        "peakRssBytes": peak_rss,
    });
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        writeln!(
            out,
            "{:<24} {:>10} {:>11} {:>9} {:>9}",
            "segment", "members", "median ms", "min ms", "max ms"
        )?;
        let line =
            |out: &mut std::io::StdoutLock, name: &str, members: String, r: &serde_json::Value| {
                writeln!(
                    out,
                    "{:<24} {:>10} {:>11.3} {:>9.3} {:>9.3}",
                    name,
                    members,
                    r["medianMs"].as_f64().unwrap_or(0.0),
                    r["minMs"].as_f64().unwrap_or(0.0),
                    r["maxMs"].as_f64().unwrap_or(0.0)
                )
            };
        for r in &rows {
            line(
                &mut out,
                r["name"].as_str().unwrap_or(""),
                r["members"].to_string(),
                r,
            )?;
            if r["backfill"].is_object() {
                line(&mut out, "  made live", String::new(), &r["backfill"])?;
            }
        }
        line(
            &mut out,
            "(all in one batch)",
            String::new(),
            &report["batch"],
        )?;
        if let Some(rss) = peak_rss {
            writeln!(
                out,
                "peak resident memory: {:.1} MiB",
                rss as f64 / (1 << 20) as f64
            )?;
        }
    }
    Ok(0)
}

/// Times making `seg` live as `bench-live-NAME` at `now` (then stopping
/// it, untimed), --warmup then --runs times; checks it decided as many
/// members as the evaluation found.
fn time_backfill(
    store: &Store,
    seg: &Segment,
    now: i64,
    evaluated: u64,
    args: &Args,
) -> anyhow::Result<serde_json::Value> {
    let name = format!("bench-live-{}", seg.name);
    let filter = seg.expr.to_string();
    let mut times = Vec::new();
    let mut members = 0;
    for run in 0..args.warmup + args.runs {
        let (receipt, ms) = timed(|| Ok(store.make_live(&name, seg.kind, &filter, now)?))?;
        store.stop_live(&name, now)?;
        if receipt.members != evaluated {
            anyhow::bail!(
                "segment {}: made live with {} members, but evaluated to {evaluated}",
                seg.name,
                receipt.members
            );
        }
        if run >= args.warmup {
            times.push(ms);
            members = receipt.members;
        }
    }
    let mut out = stats(times);
    out["members"] = json!(members);
    Ok(out)
}

/// Waits (up to ten minutes) for RocksDB's background flushes and
/// compactions, which follow a bulk load, so that they do not share the
/// cores with the timed runs.
fn settle(store: &Store) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut said = false;
    while store.background_work_pending()? && started.elapsed().as_secs() < 600 {
        if !said {
            eprintln!("waiting for the store's background compactions to finish…");
            said = true;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    if said {
        eprintln!("settled in {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

fn write_members(
    store: &Store,
    seg: &Segment,
    members: &roaring::RoaringBitmap,
    dir: &Path,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut ids = members
        .iter()
        .map(|sid| store.subject_id(seg.kind, sid))
        .collect::<Result<Vec<_>, _>>()?;
    ids.sort_unstable();
    let path = dir.join(format!("{}.txt", seg.name));
    let mut text = ids.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// The process's peak resident set since the store settled (Linux: VmHWM
/// in /proc/self/status).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
