//! `cohort profile`.

use std::io::{self, Write};

use cohort::app::{subject_report, SubjectReport};
use cohort::format_millis;

use crate::text::shown;
use crate::{open_read, parse_now, DbArg, Format, SubjectArg};

/// Show one subject's profile: tags, user attributes and event facts.
///
/// Tags and attributes are shown as they were at --now (default: now):
/// each key's latest change at or before it. `--format json` also lists
/// every change, oldest first.
///
/// Example: cohort profile --db ./store --user u1 --now 2026-06-01
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    db: DbArg,
    #[command(flatten)]
    subject: SubjectArg,
    /// The instant to show the profile at: RFC 3339, a date, or Unix ms.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    let store = open_read(&args.db.db)?;
    let now = parse_now(args.now.as_deref())?;
    let (kind, id) = args.subject.kind_and_id();
    let view = store.view();
    let Some(report) = subject_report(&view, kind, &id, now)? else {
        anyhow::bail!("no {kind} {id:?} in this store");
    };
    let mut out = io::BufWriter::new(io::stdout().lock());
    match args.format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&cohort::app::profile_json(&report))?
        )?,
        Format::Text => text(&mut out, &report)?,
    }
    out.flush()?;
    Ok(0)
}

fn text(out: &mut impl Write, r: &SubjectReport) -> io::Result<()> {
    writeln!(
        out,
        "{} {}  (as of {})",
        r.kind,
        shown(&r.id),
        format_millis(r.now)
    )?;
    if r.facts.count == 0 {
        writeln!(out, "events: none")?;
    } else {
        writeln!(
            out,
            "events: {} from {} to {}",
            r.facts.count,
            format_millis(r.facts.first_seen),
            format_millis(r.facts.last_seen)
        )?;
    }
    let attributes = r.attributes();
    if !attributes.is_empty() {
        writeln!(out, "attributes:")?;
        for (a, v) in attributes {
            writeln!(out, "  {:<12} {}", a.as_str(), shown(v))?;
        }
    }
    let tags = r.tags();
    if tags.is_empty() {
        writeln!(out, "tags: none")?;
    } else {
        writeln!(out, "tags:")?;
        for (k, v) in tags {
            writeln!(out, "  {:<12} {}", shown(k), v.to_json())?;
        }
    }
    Ok(())
}
