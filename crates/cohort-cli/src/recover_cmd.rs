//! `cohort recover`: open a store whose write-ahead log is damaged,
//! keeping what precedes the damage.

use crate::text::thousands;
use crate::DbArg;

/// Open a store whose write-ahead log is damaged, keeping every write
/// before the damage and dropping the rest — for good.
///
/// Other commands refuse such a store rather than lose acknowledged writes
/// in silence. Copy the store's directory somewhere safe first: what
/// follows the damage cannot be brought back by cohort afterwards.
///
/// Example: cp -a ./store ./store.damaged && cohort recover --db ./store --drop-after-damage
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    db: DbArg,
    /// Confirm that writes after the damage are to be dropped.
    #[arg(long)]
    drop_after_damage: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    if !args.drop_after_damage {
        anyhow::bail!(
            "recover drops every write after the damage in the write-ahead log, for good; \
             copy {} somewhere safe, then run again with --drop-after-damage",
            args.db.db.display()
        );
    }
    let options = cohort::StoreOptions {
        create_if_missing: false,
        recovery: cohort::Recovery::Salvage,
        ..Default::default()
    };
    let store = cohort::app::open_store(&args.db.db, options)?;
    store.sync()?;
    let stats = store.stats();
    println!(
        "recovered: the store holds {} events of {} users and {} devices",
        thousands(stats.events),
        thousands(stats.users),
        thousands(stats.devices)
    );
    Ok(0)
}
