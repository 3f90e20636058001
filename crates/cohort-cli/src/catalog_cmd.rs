//! `cohort catalog` and `cohort catalog add`.

use std::io::{self, Write};

use anyhow::Context;
use cohort::{format_millis, CatalogEntry, TagKeyEntry};

use crate::text::{shown, thousands};
use crate::{open_read, open_write, DbArg, Format};

/// Show the events catalog: every event type, when it was first and last
/// seen, how many events, and each data key with the kinds of value seen;
/// then every tag key of users and devices, with the kinds of value set and
/// how many subjects hold it now.
///
/// Example: cohort catalog --db ./store
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    #[command(flatten)]
    db: Option<DbArg>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Add an event type by hand, before any event of it arrives, so that
    /// segments can use it at once; or set a known type's description.
    ///
    /// Example: cohort catalog add --db ./store trial_started --description "Began a free trial"
    Add {
        #[command(flatten)]
        db: DbArg,
        /// The event type, as events will name it.
        name: String,
        /// What the event means, for the people who build segments.
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
    },
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    match args.action {
        Some(Action::Add {
            db,
            name,
            description,
        }) => {
            let store = open_write(&db.db)
                .with_context(|| format!("opening the store at {}", db.db.display()))?;
            cohort::app::add_catalog_type(
                &store,
                &name,
                description.as_deref(),
                cohort::Source::System,
            )?;
            println!("added {} to the catalog", shown(&name));
            Ok(0)
        }
        None => {
            let db = args.db.context("--db DIR is required")?;
            let store = open_read(&db.db)?;
            let catalog = store.catalog()?;
            let tags = store.view().tag_catalog(cohort::now_millis())?;
            let mut out = io::BufWriter::new(io::stdout().lock());
            match args.format {
                Format::Json => {
                    let json = cohort::app::catalog_json(&catalog, &tags);
                    writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
                }
                Format::Text => {
                    print_text(&mut out, &catalog)?;
                    print_tags(&mut out, &tags)?;
                }
            }
            out.flush()?;
            Ok(0)
        }
    }
}

fn print_text(out: &mut impl Write, catalog: &[CatalogEntry]) -> io::Result<()> {
    if catalog.is_empty() {
        return writeln!(out, "the catalog is empty: no events yet");
    }
    let day =
        |t: Option<i64>| t.map_or_else(|| "-".to_owned(), |t| format_millis(t)[..10].to_owned());
    writeln!(
        out,
        "{:<24} {:>12}  {:<10}  {:<10}  DESCRIPTION",
        "TYPE", "EVENTS", "FIRST", "LAST"
    )?;
    for e in catalog {
        let name = if e.automatic {
            format!("{} (auto)", shown(&e.name))
        } else {
            shown(&e.name).into_owned()
        };
        writeln!(
            out,
            "{:<24} {:>12}  {:<10}  {:<10}  {}",
            name,
            thousands(e.count),
            day(e.first_seen),
            day(e.last_seen),
            shown(e.description.as_deref().unwrap_or(""))
        )?;
        for k in &e.keys {
            let kinds: Vec<String> = k
                .kinds
                .iter()
                .map(|(kind, n)| format!("{kind} {}", thousands(*n)))
                .collect();
            writeln!(out, "    data.{:<20} {}", shown(&k.key), kinds.join(", "))?;
        }
    }
    Ok(())
}

fn print_tags(out: &mut impl Write, tags: &[TagKeyEntry]) -> io::Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<24} {:<7} {:>12}  KINDS SET",
        "TAG KEY", "OF", "HOLDERS NOW"
    )?;
    for t in tags {
        let mut kinds: Vec<String> = t
            .kinds
            .iter()
            .map(|(kind, n)| format!("{kind} {}", thousands(*n)))
            .collect();
        if t.deletes > 0 {
            kinds.push(format!("deleted {}", thousands(t.deletes)));
        }
        writeln!(
            out,
            "{:<24} {:<7} {:>12}  {}",
            // As a filter names it.
            cohort::filter::ProfilePath::Tag(t.key.clone()).to_string(),
            t.kind.as_str(),
            thousands(t.holders),
            kinds.join(", ")
        )?;
    }
    Ok(())
}
