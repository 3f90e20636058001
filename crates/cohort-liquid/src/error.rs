//! Why a template was refused or a render failed.

use crate::{MAX_LOOP_ITERATIONS, MAX_OUTPUT_BYTES, MAX_VALUE_BYTES, MAX_WORK_UNITS};

/// A limit a render passed; rendering stops there and produces nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// The output would pass [`MAX_OUTPUT_BYTES`].
    Output,
    /// The loops would run more than [`MAX_LOOP_ITERATIONS`] iterations.
    Iterations,
    /// A filter or `capture` would make a value over [`MAX_VALUE_BYTES`].
    Value,
    /// The render would do more than [`MAX_WORK_UNITS`] of work.
    Work,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Output => write!(
                f,
                "the rendered message would be over {MAX_OUTPUT_BYTES} bytes (1 MiB)"
            ),
            Limit::Iterations => write!(
                f,
                "the template's loops would run more than {MAX_LOOP_ITERATIONS} iterations in all"
            ),
            Limit::Value => write!(
                f,
                "a filter or capture would make a value over {MAX_VALUE_BYTES} bytes (1 MiB)"
            ),
            Limit::Work => write!(
                f,
                "the template would do more than {MAX_WORK_UNITS} units of work (bytes read and made by filters and variables)"
            ),
        }
    }
}

/// Why a template was refused ([`crate::Template::parse`]) or a render
/// failed ([`crate::Template::render`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The template is longer than [`crate::MAX_TEMPLATE_BYTES`].
    #[error("the template is {bytes} bytes, over the limit of {limit} (64 KiB)")]
    TemplateTooLarge {
        /// Its length.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The template does not parse, names an unknown tag or filter, gives a
    /// filter wrong arguments, or nests blocks deeper than
    /// [`crate::MAX_NESTING`].
    #[error("line {line}, column {column}: {reason}")]
    Parse {
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// What is wrong.
        reason: String,
    },
    /// Rendering passed a limit.
    #[error("rendering stopped: {0}")]
    Limit(Limit),
    /// The Liquid engine failed on this template (a panic inside it,
    /// caught): when checking, the template is refused; when rendering,
    /// that render fails. Examples: an integer literal wider than 64 bits,
    /// `modulo: -1` of the smallest integer.
    #[error("the Liquid engine failed on this template: {reason}")]
    Engine {
        /// What the engine said.
        reason: String,
    },
    /// A filter refused its input at render time (`divided_by: 0`, a `date`
    /// zone held in a variable that is not an IANA name).
    #[error("rendering failed: {reason}")]
    Render {
        /// What failed.
        reason: String,
    },
}

/// A liquid error's text on one line: its message and context entries
/// (`requested filter=nope`), without the pest excerpt or the trace.
pub(crate) fn reason(e: &liquid_core::Error) -> String {
    let text = e.to_string();
    let mut parts = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("liquid:").unwrap_or(line).trim();
        if line.is_empty() || line.starts_with("from:") || line.starts_with("with:") {
            continue;
        }
        parts.push(clip(line));
    }
    if parts.is_empty() {
        text
    } else {
        parts.join("; ")
    }
}

/// At most 200 characters of one part of a message: liquid's context
/// quotes whole values (a filter's input can be a megabyte).
fn clip(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}… ({} bytes)", &text[..at], text.len()),
        None => text.to_owned(),
    }
}

/// Turns a liquid parse error into [`Error::Parse`]: pest errors carry
/// ` --> line:column` and `= reason`; errors raised after tokenising
/// (an unknown filter) carry no position, so the first place the template
/// names the culprit is reported.
pub(crate) fn parse_error(e: &liquid_core::Error, template: &str) -> Error {
    let text = e.to_string();
    let mut position = None;
    let mut reason = None;
    let mut requested = None;
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("liquid:").unwrap_or(line).trim();
        if let Some(name) = line.strip_prefix("requested=") {
            requested = Some(name.to_owned());
        }
        if let Some(rest) = line.strip_prefix("--> ") {
            let mut it = rest.split(':').map(|n| n.trim().parse::<usize>());
            if let (Some(Ok(l)), Some(Ok(c))) = (it.next(), it.next()) {
                position = Some((l, c));
            }
        } else if let Some(rest) = line.strip_prefix("= ") {
            reason = Some(clip(rest));
        }
    }
    let mut reason = reason.unwrap_or_else(|| self::reason(e));
    if let Some(name) = requested.filter(|_| reason.starts_with("Unknown tag")) {
        reason = match name.as_str() {
            "include" | "render" => format!(
                "unknown tag {name:?}: cohort stores no partial templates, so include and render are not offered"
            ),
            _ => format!("unknown tag {name:?}"),
        };
    }
    let (line, column) = position
        .or_else(|| quoted_culprit(&reason).and_then(|q| locate_quoted(template, &q)))
        .or_else(|| culprit(&text).and_then(|name| locate(template, &name)))
        .unwrap_or((1, 1));
    Error::Parse {
        line,
        column,
        reason,
    }
}

/// The filter or tag an unpositioned error names (`requested filter=x`).
fn culprit(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let l = l.trim();
        l.strip_prefix("requested filter=")
            .or_else(|| l.strip_prefix("filter="))
            .map(|s| {
                s.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or("")
                    .to_owned()
            })
    })
}

/// The literal a `date` argument error names (`unknown time zone "X"`,
/// `date: "%Q" is not a strftime format`), with its quotes.
fn quoted_culprit(reason: &str) -> Option<String> {
    let start = reason.find('"')?;
    let end = start + 1 + reason[start + 1..].find('"')?;
    (reason.contains("unknown time zone") || reason.contains("not a strftime format"))
        .then(|| reason[start..=end].to_owned())
}

/// Line and column of the first place the template holds `quoted` (in
/// double or single quotes).
fn locate_quoted(template: &str, quoted: &str) -> Option<(usize, usize)> {
    let inner = &quoted[1..quoted.len() - 1];
    let single = format!("'{inner}'");
    let at = [template.find(quoted), template.find(&single)]
        .into_iter()
        .flatten()
        .min()?;
    Some(line_column(template, at))
}

/// Line and column of the first `| name` in the template.
fn locate(template: &str, name: &str) -> Option<(usize, usize)> {
    if name.is_empty() {
        return None;
    }
    let bytes = template.as_bytes();
    let mut from = 0;
    while let Some(i) = template[from..].find(name) {
        let at = from + i;
        let before = template[..at].trim_end();
        let after_ok = bytes
            .get(at + name.len())
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_'));
        if before.ends_with('|') && after_ok {
            return Some(line_column(template, at));
        }
        from = at + name.len();
    }
    None
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

impl Error {
    /// For a [`Error::Parse`], the template's line with a caret under the
    /// column: `  2 | {{ name | shout }}` then `    |           ^`.
    pub fn caret(&self, template: &str) -> Option<String> {
        let Error::Parse { line, column, .. } = self else {
            return None;
        };
        let text = template.lines().nth(line.checked_sub(1)?)?;
        let number = line.to_string();
        let pad = " ".repeat(number.len());
        // Tabs keep their width so the caret lines up under them.
        let lead: String = text
            .chars()
            .take(column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        Some(format!("{number} | {text}\n{pad} | {lead}^"))
    }
}
