//! `cohort events`.

use std::io::{self, Write};

use anyhow::Context;
use cohort::{format_millis, Cursor, EventRecord, RecentQuery, SubjectKind};
use serde_json::json;

use crate::text::shown;
use crate::{open_read, DbArg, Format};

/// Show recent events, newest first.
///
/// Across all subjects, or for one user or one device. Pages: the last line
/// of a page says how to continue with --before.
///
/// Example: cohort events --db ./store --user 00001 --limit 5
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    db: DbArg,
    /// Only this user's events.
    #[arg(long, value_name = "ID", conflicts_with = "device")]
    user: Option<String>,
    /// Only this device's events.
    #[arg(long, value_name = "ID")]
    device: Option<String>,
    /// How many events to show.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    limit: u32,
    /// Continue after this cursor (printed at the end of the previous page).
    #[arg(long, value_name = "CURSOR")]
    before: Option<Cursor>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    let store = open_read(&args.db.db)?;
    let view = store.view();
    let subject = match (args.user, args.device) {
        (Some(id), _) => Some((SubjectKind::User, id)),
        (None, Some(id)) => Some((SubjectKind::Device, id)),
        (None, None) => None,
    };
    let query = RecentQuery {
        subject: subject.clone(),
        limit: args.limit as usize,
        before: args.before,
    };
    let page = view.recent(&query).context("reading recent events")?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    match args.format {
        Format::Json => {
            let events: Vec<_> = page.events.iter().map(EventRecord::to_json).collect();
            let next = page.next.map(|c| c.to_string());
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&json!({"events": events, "next": next}))?
            )?;
        }
        Format::Text => {
            if page.events.is_empty() {
                let unknown = match &subject {
                    Some((kind, id)) => view.try_subject_facts(*kind, id)?.is_none(),
                    None => false,
                };
                match &subject {
                    Some((kind, id)) if unknown => writeln!(out, "no {kind} {id:?} in this store")?,
                    _ => writeln!(out, "no events")?,
                }
            }
            for e in &page.events {
                let data = serde_json::to_string(&e.to_json()["data"])?;
                writeln!(
                    out,
                    "{}  {:<6} {:<12} {:<16} {}",
                    format_millis(e.time),
                    e.subject_kind,
                    shown(&e.subject_id),
                    shown(&e.event_type),
                    if data == "{}" { "" } else { &data }
                )?;
            }
            if let Some(next) = page.next {
                writeln!(out, "more: --before {next}")?;
            }
        }
    }
    out.flush()?;
    Ok(0)
}
