//! `cohort segment save|list|show|delete`.

use anyhow::bail;
use cohort::eval::{inline, StoreSegments};
use cohort::SavedSegment;

use crate::{open_existing, DbArg, Subject};

/// Save, list, show and delete named segments; in_segment("name") uses them.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Save (or replace) a named filter. Unknown in_segment names and
    /// cycles are refused.
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
    /// Delete a saved segment.
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
            let expr = match cohort::filter::parse(&filter) {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(crate::EXIT_ERROR);
                }
            };
            let store = open_existing(&db.db)?;
            // Check references now: the new definition shadows the saved one.
            let segments = StoreSegments::new(&store).with_batch([(name.clone(), expr.clone())]);
            inline(
                &cohort::filter::Expr::Cond(cohort::filter::Condition::InSegment(name.clone())),
                &segments,
            )?;
            store.save_segment(
                &name,
                &SavedSegment {
                    filter: expr.to_string(),
                    kind: subject.kind(),
                    description,
                },
            )?;
            println!("saved segment {name:?}: {expr}");
            Ok(0)
        }
        Action::List { db } => {
            let store = open_existing(&db.db)?;
            let all = store.segments()?;
            if all.is_empty() {
                println!("no saved segments");
            }
            for (name, s) in all {
                println!("{name:<24} {:<6} {}", s.kind, s.filter);
            }
            Ok(0)
        }
        Action::Show { db, name } => {
            let store = open_existing(&db.db)?;
            let Some(s) = store.segment(&name)? else {
                bail!("no segment named {name:?}")
            };
            println!(
                "name:        {name}\nsubject:     {}\nfilter:      {}",
                s.kind, s.filter
            );
            if let Some(d) = s.description {
                println!("description: {d}");
            }
            Ok(0)
        }
        Action::Delete { db, name } => {
            let store = open_existing(&db.db)?;
            if !store.delete_segment(&name)? {
                bail!("no segment named {name:?}");
            }
            println!("deleted segment {name:?}");
            Ok(0)
        }
    }
}
