//! `cohort users delete`.

use crate::text::shown;
use crate::{open_write, DbArg};

/// Users: delete them.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Delete users: their events, tags, attributes and memberships.
    ///
    /// Each deletion is invisible to every read and evaluation as soon as
    /// it is reported, and physically gone from the store's files when the
    /// command ends (the store is flushed and compacted; a read-only
    /// process that opened it before keeps its view until it closes). The
    /// same ID used again later starts a new, empty user.
    ///
    /// Exit status: 0 all deleted, 1 some ID was not in the store, 2 error.
    ///
    /// Example: cohort users delete --db ./store u1 u2
    Delete {
        #[command(flatten)]
        db: DbArg,
        /// The users' IDs.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    match args.action {
        Action::Delete { db, ids } => {
            let store = open_write(&db.db)?;
            let mut missing = 0;
            for id in &ids {
                match cohort::app::delete_user(&store, id)? {
                    Some(r) => println!(
                        "deleted user {}: {} events, {} tag and attribute changes",
                        shown(id),
                        r.events,
                        r.profile_changes
                    ),
                    None => {
                        missing += 1;
                        println!("no user {} in this store: nothing deleted", shown(id));
                    }
                }
            }
            Ok(u8::from(missing > 0))
        }
    }
}
