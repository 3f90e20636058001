//! `cohort render`.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use cohort::app::{check_template, parse_entry_event, render_message, Entry};
use cohort::liquid::MAX_TEMPLATE_BYTES;

use crate::{open_read, parse_now, DbArg};

/// Render a personalised message (a Liquid template) for one subject.
///
/// The template sees the subject's tags (`tags.plan`) and, for users, its
/// attributes (`name`, `email`, `phoneNumber`, `dob`, `timeZone`,
/// `country`, `language`) as they were at --now, the subject
/// (`subject.type`, `subject.id`) and the entry event (`entry_event.type`,
/// `entry_event.createdAt`, `entry_event.data.KEY`): the subject's latest
/// event of --entry-event-type at or before --now, or the event in
/// --entry-event FILE, or the entry event of a live segment's change
/// record (--change SEQ, which also names the subject, and renders at the
/// change's instant unless --now says otherwise). Missing values render
/// as nothing, so `default` can stand in for them. The message goes to
/// stdout as is.
///
/// Examples:
///   cohort render --db ./store --user u1 --entry-event-type purchase \
///     'Thanks {{ name | default: "customer" }} for {{ entry_event.data.productName | default: "your order" }}!'
///   cohort render --db ./store --user u1 --entry-event event.json --template-file msg.liquid
///   cohort render --db ./store --change 42 'Still thinking about {{ entry_event.data.productName }}?'
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["template", "template_file"])))]
pub(crate) struct Args {
    #[command(flatten)]
    db: DbArg,
    /// The user's ID.
    #[arg(long, value_name = "ID", conflicts_with_all = ["device", "change"], required_unless_present_any = ["device", "change"])]
    user: Option<String>,
    /// The device's ID.
    #[arg(long, value_name = "ID", conflicts_with = "change")]
    device: Option<String>,
    /// Render for the subject and entry event of this change record of a
    /// live segment (`cohort changes` lists them).
    #[arg(long, value_name = "SEQ", conflicts_with_all = ["entry_event", "entry_event_type"])]
    change: Option<u64>,
    /// The instant to render at: RFC 3339, a date, or Unix ms (default: now).
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// Use the subject's latest event of this type at or before --now as the entry event.
    #[arg(long, value_name = "TYPE", conflicts_with = "entry_event")]
    entry_event_type: Option<String>,
    /// Use the event in this file (one track-API event, JSON) as the entry event.
    #[arg(long, value_name = "FILE")]
    entry_event: Option<PathBuf>,
    /// Read the template from this file.
    #[arg(long, value_name = "FILE")]
    template_file: Option<PathBuf>,
    /// The template.
    template: Option<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    let text = match (args.template, &args.template_file) {
        (Some(t), _) => t,
        (None, Some(p)) => crate::read_text(p, MAX_TEMPLATE_BYTES, "a template")?,
        (None, None) => bail!("give a TEMPLATE or --template-file FILE"),
    };
    let template = match check_template(&text) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}", crate::text::printable_lines(&e.to_string()));
            return Ok(crate::EXIT_REJECTED);
        }
    };
    let entry = match (args.entry_event_type, &args.entry_event) {
        (Some(t), _) => Entry::LatestOfType(t),
        (None, Some(path)) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read --entry-event {}", path.display()))?;
            match parse_entry_event(&bytes) {
                Ok(e) => Entry::Given(e),
                Err(e) => {
                    eprintln!("--entry-event {}: {e}", path.display());
                    return Ok(crate::EXIT_REJECTED);
                }
            }
        }
        (None, None) => Entry::None,
    };
    let store = open_read(&args.db.db)?;
    let (kind, id, entry, at) = match (args.change, args.user, args.device) {
        (Some(seq), _, _) => {
            let (change, event) = cohort::app::entry_of_change(&store, seq)?;
            (
                change.kind,
                change.subject,
                Entry::Given(event),
                Some(change.at),
            )
        }
        (None, Some(id), _) => (cohort::SubjectKind::User, id, entry, None),
        (None, None, Some(id)) => (cohort::SubjectKind::Device, id, entry, None),
        (None, None, None) => bail!("give --user ID, --device ID or --change SEQ"),
    };
    let now = match (args.now.as_deref(), at) {
        (None, Some(at)) => at,
        (now, _) => parse_now(now)?,
    };
    let view = store.view();
    let rendered = match render_message(&view, kind, &id, now, &entry, &template) {
        Ok(r) => r,
        Err(e @ cohort::app::Error::Template(_)) => {
            eprintln!("{e}");
            return Ok(crate::EXIT_REJECTED);
        }
        Err(e) => return Err(e.into()),
    };
    if let (Entry::LatestOfType(t), None) = (&entry, &rendered.entry_event) {
        eprintln!(
            "note: {kind} {id:?} has no {t:?} event at or before {}; entry_event is empty",
            cohort::format_millis(now)
        );
    }
    let mut out = io::stdout().lock();
    out.write_all(rendered.text.as_bytes())?;
    if !rendered.text.ends_with('\n') && io::IsTerminal::is_terminal(&out) {
        writeln!(out)?;
    }
    out.flush()?;
    Ok(0)
}
