//! Small formatting helpers for people.

use std::borrow::Cow;

/// Whether a character could change what a terminal shows beyond itself:
/// control characters (a newline, an escape sequence's ESC) and the
/// bidirectional overrides that reorder a line.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// A name or ID from the store (client-chosen, so untrusted) as it is safe
/// to print on a line of text: as it is when it is plain; otherwise as a
/// JSON string, in quotes, with every control character escaped. So one
/// line is always one value, and nothing reaches the terminal as a
/// control sequence. (A plain value never begins with `"`, so quoted ones
/// are told apart.)
pub(crate) fn shown(s: &str) -> Cow<'_, str> {
    if !s.starts_with('"') && !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_unsafe(c) => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    Cow::Owned(out)
}

/// A message that may carry client-chosen text (a field name, an ID, a
/// filter), made safe for a terminal: every control character (newlines
/// included) and bidirectional override is written as `\u{…}`; the rest
/// is left as it is, so the message reads the same.
pub(crate) fn printable(s: &str) -> Cow<'_, str> {
    escape_unsafe(s, false)
}

/// Like [`printable`], for our own multi-line messages (a parse error with
/// its caret): newlines are kept, every other control character escaped.
pub(crate) fn printable_lines(s: &str) -> Cow<'_, str> {
    escape_unsafe(s, true)
}

fn escape_unsafe(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let bad = |c: char| is_unsafe(c) && !(keep_newlines && c == '\n');
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if bad(c) {
                    format!("\\u{{{:x}}}", c as u32)
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// `69659` → `69,659`.
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate per second, rounded for reading.
pub(crate) fn per_second(count: u64, seconds: f64) -> String {
    if seconds <= 0.0 {
        return "-".into();
    }
    thousands((count as f64 / seconds).round() as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn untrusted_text_is_one_line_and_sends_no_control_sequence() {
        assert_eq!(super::shown("u1"), "u1");
        assert_eq!(super::shown("José"), "José");
        assert_eq!(super::shown("a\nb"), r#""a\nb""#);
        assert_eq!(super::shown("\u{1b}[31mred"), r#""\u001b[31mred""#);
        assert_eq!(super::shown("\"q"), r#""\"q""#);
        assert_eq!(super::shown("x\u{202E}y"), r#""x\u202ey""#);
        // A quoted form reads back as the ID with JSON.
        let quoted = super::shown("a\nb\\");
        assert_eq!(serde_json::from_str::<String>(&quoted).unwrap(), "a\nb\\");
    }

    #[test]
    fn messages_keep_their_text_and_lose_their_control_characters() {
        assert_eq!(super::printable("line 3: x"), "line 3: x");
        assert_eq!(super::printable("a\u{1b}[31mb\nc"), "a\\u{1b}[31mb\\u{a}c");
        assert_eq!(
            super::printable_lines("error\n  | a\u{7}"),
            "error\n  | a\\u{7}"
        );
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(69_659), "69,659");
        assert_eq!(super::thousands(1_000_000), "1,000,000");
    }
}
