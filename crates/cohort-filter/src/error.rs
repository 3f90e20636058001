//! Parse errors with a position and a caret.

use std::fmt;

/// Why a filter was rejected, and where: line and column (1-based, in
/// characters), the byte offset, and the source line for the caret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// What was wrong or expected: "expected a duration like 30d after `last`".
    pub message: String,
    /// Byte offset in the filter text.
    pub offset: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// The text of that line, for the caret: whole when it is short, else
    /// the 160 characters around the column, cut with `…`.
    pub source_line: String,
    /// Where the caret goes under `source_line`, in characters.
    pub caret: usize,
}

/// Longest line shown whole under an error.
const SHOWN_CHARS: usize = 160;

impl ParseError {
    pub(crate) fn at(src: &str, offset: usize, message: impl Into<String>) -> ParseError {
        let offset = offset.min(src.len());
        let before = &src[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line_end = src[offset..].find('\n').map_or(src.len(), |i| offset + i);
        let line = src[line_start..line_end].trim_end_matches('\r');
        let column = src[line_start..offset].chars().count() + 1;
        let (source_line, caret) = if line.chars().count() <= SHOWN_CHARS {
            (line.to_owned(), column - 1)
        } else {
            // A long line (a 64 KiB filter on one line, say) is shown as
            // the stretch around the column, not echoed whole.
            let from = (column - 1).saturating_sub(SHOWN_CHARS / 2);
            let mut shown: String = line.chars().skip(from).take(SHOWN_CHARS).collect();
            let cut_end = from + SHOWN_CHARS < line.chars().count();
            if cut_end {
                shown.push('…');
            }
            if from > 0 {
                (format!("…{shown}"), column - 1 - from + 1)
            } else {
                (shown, column - 1)
            }
        };
        ParseError {
            message: message.into(),
            offset,
            line: before.matches('\n').count() + 1,
            column,
            source_line,
            caret,
        }
    }
}

impl fmt::Display for ParseError {
    /// ```text
    /// error: expected a duration like 30d after `last`
    ///  --> line 1, column 22
    ///   |
    /// 1 | count(purchase, last x) >= 2
    ///   |                      ^
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = self.line.to_string();
        let pad = " ".repeat(number.len());
        writeln!(f, "error: {}", self.message)?;
        writeln!(f, "{pad}--> line {}, column {}", self.line, self.column)?;
        writeln!(f, "{pad} |")?;
        writeln!(f, "{number} | {}", self.source_line)?;
        // Tabs keep their width so that the caret lines up.
        let lead: String = self
            .source_line
            .chars()
            .take(self.caret)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(f, "{pad} | {lead}^")
    }
}
