//! `cohort check`: parse and validate a filter or a template, nothing else.

use std::path::PathBuf;

use anyhow::bail;

/// Check a filter's, or a message template's, syntax and rules without a store.
///
/// Prints the filter in canonical form when it is valid, or the error with
/// its line, column and a caret. With --template or --template-file, checks
/// a Liquid template the same way: every tag and filter known, literal
/// `date` zones and formats valid, within the size and nesting limits.
/// Exit status 0 when valid, 1 when not.
///
/// Examples:
///   cohort check 'count(purchase, last 30d) >= 2'
///   cohort check --template 'Hello, {{ name | default: "customer" }}!'
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Read the filter from this file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["filter", "template", "template_file"])]
    filter_file: Option<PathBuf>,
    /// Check this Liquid template instead of a filter.
    #[arg(long, value_name = "TEMPLATE", conflicts_with_all = ["filter", "template_file"])]
    template: Option<String>,
    /// Check the Liquid template in this file.
    #[arg(long, value_name = "FILE", conflicts_with = "filter")]
    template_file: Option<PathBuf>,
    /// The filter.
    filter: Option<String>,
}

fn check_template(text: &str) -> u8 {
    match cohort::app::check_template(text) {
        Ok(_) => {
            println!("ok: the template is valid ({} bytes)", text.len());
            0
        }
        Err(cohort::app::Error::Template(e)) => {
            eprintln!("{}", crate::text::printable_lines(&e.to_string()));
            if let Some(caret) = e.caret(text) {
                eprintln!("{}", crate::text::printable_lines(&caret));
            }
            crate::EXIT_REJECTED
        }
        Err(e) => {
            eprintln!("{e}");
            crate::EXIT_REJECTED
        }
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<u8> {
    if let Some(t) = &args.template {
        return Ok(check_template(t));
    }
    if let Some(p) = &args.template_file {
        let text = crate::read_text(p, cohort::liquid::MAX_TEMPLATE_BYTES, "a template")?;
        return Ok(check_template(&text));
    }
    let text = match (args.filter, &args.filter_file) {
        (Some(f), _) => f,
        (None, Some(p)) => crate::read_text(p, cohort::filter::MAX_FILTER_BYTES, "a filter")?,
        (None, None) => {
            bail!("give a FILTER, --filter-file FILE, --template TEMPLATE or --template-file FILE")
        }
    };
    match cohort::app::parse_filter(&text, cohort::SubjectKind::User) {
        Ok(expr) => {
            println!("ok: {expr}");
            Ok(0)
        }
        Err(e) => {
            eprintln!("{}", crate::text::printable_lines(&e.to_string()));
            Ok(crate::EXIT_REJECTED)
        }
    }
}
