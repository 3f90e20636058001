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
    /// Example: cohort segment save --db ./store vip 'sum(purchase, data.amount, last 90d) >= 50000'
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
    },
    /// List saved segments.
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
        } => {
            let store = open_write(&db.db)?;
            match cohort::app::save_segment(&store, &name, &filter, subject.kind(), description) {
                Ok(saved) => {
                    println!("saved segment {}: {}", shown(&name), saved.filter);
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
                println!("{:<24} {:<6} {}", shown(&name), s.kind, shown(&s.filter));
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
