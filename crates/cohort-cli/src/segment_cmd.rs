//! `cohort segment save|list|show|delete`.

use anyhow::bail;

use crate::text::shown;
use crate::{open_read, open_write, DbArg, Subject};

/// Save, list, show and delete named segments; in_segment("name") uses them.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Save (or replace) a named filter, in canonical form. Refused:
    /// unknown in_segment names, cycles, chains of references deeper than
    /// 16, more than 10,000 conditions with the segments reached, a
    /// canonical form over 64 KiB, and a change that would break another
    /// saved segment referring to this one.
    ///
    /// With --live, the segment is kept current from then on: its members
    /// are decided from the whole history (the backfill), then updated by
    /// every write and as time passes, each change recorded in the feed
    /// (`cohort changes`). A live segment saved again stays live, and its
    /// members follow the new filter; --no-live stops keeping it live.
    ///
    /// Example: cohort segment save --db ./store vip 'sum(purchase, data.amount, last 90d) >= 50000'
    ///
    /// Example: cohort segment save --db ./store --live lapsed 'did(purchase) and not did(purchase, last 30d)'
    Save {
        #[command(flatten)]
        db: DbArg,
        /// The segment's name.
        name: String,
        /// The filter.
        filter: String,
        /// Which subjects it selects.
        #[arg(long, value_enum, default_value_t = Subject::User)]
        subject: Subject,
        /// What it is for.
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// Keep the segment's membership current, with a change feed.
        #[arg(long, conflicts_with = "no_live")]
        live: bool,
        /// Stop keeping it current (its feed keeps what it recorded).
        #[arg(long)]
        no_live: bool,
    },
    /// List saved segments (live ones marked, with their member counts).
    List {
        #[command(flatten)]
        db: DbArg,
    },
    /// Show one saved segment.
    Show {
        #[command(flatten)]
        db: DbArg,
        /// The segment's name.
        name: String,
    },
    /// Delete a saved segment (refused while other saved segments refer to it).
    Delete {
        #[command(flatten)]
        db: DbArg,
        /// The segment's name.
        name: String,
    },
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    match args.action {
        Action::Save {
            db,
            name,
            filter,
            subject,
            description,
            live,
            no_live,
        } => {
            let store = open_write(&db.db)?;
            let live = match (live, no_live) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            let was_live = store.live_segment_id(&name).is_some();
            match cohort::app::save_segment_live(
                &store,
                &name,
                &filter,
                subject.kind(),
                description,
                live,
            ) {
                Ok((saved, backfill)) => {
                    println!("saved segment {}: {}", shown(&name), saved.filter);
                    if live == Some(false) && was_live {
                        println!("no longer live");
                    }
                    if let Some(r) = backfill {
                        println!(
                            "live: {} members of {} {}s decided ({} changes recorded)",
                            crate::text::thousands(r.members),
                            crate::text::thousands(r.decided as u64),
                            subject.kind(),
                            crate::text::thousands(r.changes as u64)
                        );
                    }
                    Ok(0)
                }
                Err(cohort::app::Error::InvalidFilter(e)) => {
                    eprintln!("{}", crate::text::printable_lines(&e.to_string()));
                    Ok(crate::EXIT_ERROR)
                }
                Err(e) => Err(e.into()),
            }
        }
        Action::List { db } => {
            let store = open_read(&db.db)?;
            let all = store.segments()?;
            if all.is_empty() {
                println!("no saved segments");
            }
            for (name, s) in all {
                let live = match store.live_members(&name) {
                    Some(m) => format!("live ({} members)", crate::text::thousands(m.len())),
                    None => String::new(),
                };
                println!(
                    "{:<24} {:<6} {}{}",
                    shown(&name),
                    s.kind,
                    shown(&s.filter),
                    if live.is_empty() {
                        String::new()
                    } else {
                        format!("  [{live}]")
                    }
                );
            }
            Ok(0)
        }
        Action::Show { db, name } => {
            let store = open_read(&db.db)?;
            let Some(s) = store.segment(&name)? else {
                bail!("no segment named {}", shown(&name))
            };
            println!(
                "name:        {}\nsubject:     {}\nfilter:      {}",
                shown(&name),
                s.kind,
                shown(&s.filter)
            );
            if let Some(d) = s.description {
                println!("description: {}", shown(&d));
            }
            if let Some(m) = store.live_members(&name) {
                println!(
                    "live:        yes, {} members now",
                    crate::text::thousands(m.len())
                );
            }
            Ok(0)
        }
        Action::Delete { db, name } => {
            let store = open_write(&db.db)?;
            cohort::app::delete_segment(&store, &name)?;
            println!("deleted segment {}", shown(&name));
            Ok(0)
        }
    }
}
