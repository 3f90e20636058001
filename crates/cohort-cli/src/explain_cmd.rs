//! `cohort explain`: why one subject is in or out.

use anyhow::bail;
use cohort::eval::{reference, StoreSegments};
use cohort::format_millis;

use crate::text::shown;
use crate::{open_read, parse_now, DbArg, SubjectArg};

/// Explain a filter for one user or device: each condition with its value,
/// its window and whether it held, so you can see why the subject is in or
/// out. Uses the plain reference evaluator on the subject's events.
///
/// Example: cohort explain --db ./store --user 00001 --now 1998-07-01 'count(purchase, last 90d) >= 2'
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    db: DbArg,
    /// The evaluation instant (RFC 3339, a date, or Unix ms). Default: the clock.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    #[command(flatten)]
    subject: SubjectArg,
    /// The filter.
    filter: String,
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    let now = parse_now(args.now.as_deref())?;
    let (kind, id) = args.subject.kind_and_id();
    let filter = match cohort::app::parse_filter(&args.filter, kind) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{}", crate::text::printable_lines(&e.to_string()));
            return Ok(crate::EXIT_ERROR);
        }
    };
    let store = open_read(&args.db.db)?;
    let view = store.view();
    if view.try_subject_facts(kind, &id)?.is_none() {
        bail!("no {kind} {id:?} in this store");
    }
    let events = view.events(kind, &id, ..)?;
    let profile = view.profile(kind, &id)?.unwrap_or_default();
    let subject = reference::Subject {
        events: &events,
        profile: &profile,
    };
    let (result, traces) = reference::explain(&filter, subject, now, &StoreSegments::new(&store))?;
    let visible = events.iter().filter(|e| e.time <= now).count();
    let in_universe = view
        .try_subject_facts(kind, &id)?
        .is_some_and(|f| f.in_universe(now));
    println!(
        "{kind} {} at {}: {} ({} of {} events at or before now)",
        shown(&id),
        format_millis(now),
        if result { "IN" } else { "OUT" },
        visible,
        events.len()
    );
    if !in_universe {
        println!(
            "  outside the universe: no event, tag or attribute change at or before now, so every filter is false"
        );
    }
    for t in traces {
        let window = t.window.map_or_else(String::new, |(lo, hi)| {
            let show = |x: i64| {
                if x == i64::MIN {
                    "-∞".to_owned()
                } else {
                    format_millis(x)
                }
            };
            format!("  window [{} .. {}]", show(lo), show(hi))
        });
        println!(
            "  {:<5} {}  = {}{}",
            t.result,
            shown(&t.condition),
            t.value,
            window
        );
    }
    Ok(0)
}
