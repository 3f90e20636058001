//! The segments file `eval --segments` and `bench` read: one TOML table
//! per named segment.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use cohort::filter::{parse, Expr};
use cohort::SubjectKind;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    segments: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    filter: String,
    subject: Option<String>,
    description: Option<String>,
}

/// One named segment, parsed.
pub(crate) struct Segment {
    pub name: String,
    pub expr: Expr,
    pub kind: SubjectKind,
    pub description: Option<String>,
}

/// Reads and parses a segments file, in name order. `Ok(None)` when some
/// filter does not parse (each error has been printed with its caret).
pub(crate) fn load(file: &Path) -> anyhow::Result<Option<Vec<Segment>>> {
    let text = crate::read_text(file, 16 << 20, "a segments file")?;
    let spec: File = toml::from_str(&text)
        .with_context(|| format!("{} is not a segments file", file.display()))?;
    let mut parsed = Vec::new();
    let mut bad = false;
    for (name, seg) in spec.segments {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            bail!(
                "segment name {name:?} in {}: use letters, digits, _ and - only (it names a file)",
                file.display()
            );
        }
        let kind = match seg.subject.as_deref() {
            None | Some("user") => SubjectKind::User,
            Some("device") => SubjectKind::Device,
            Some(other) => bail!(
                "segment {name} in {}: subject must be \"user\" or \"device\", not {other:?}",
                file.display()
            ),
        };
        match parse(&seg.filter) {
            Ok(expr) => parsed.push(Segment {
                name,
                expr,
                kind,
                description: seg.description,
            }),
            Err(e) => {
                eprintln!(
                    "segment {name}:\n{}",
                    crate::text::printable_lines(&e.to_string())
                );
                bad = true;
            }
        }
    }
    Ok((!bad).then_some(parsed))
}

/// The segments grouped by subject kind (users first), each group's
/// filters in file order: one batch pass evaluates one group.
pub(crate) fn by_kind(segments: &[Segment]) -> Vec<(SubjectKind, Vec<&Segment>)> {
    SubjectKind::ALL
        .into_iter()
        .map(|kind| {
            (
                kind,
                segments
                    .iter()
                    .filter(|s| s.kind == kind)
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, group)| !group.is_empty())
        .collect()
}
