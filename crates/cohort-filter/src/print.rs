//! Printing the tree back as filter text (`Display`).
//!
//! The printed text parses to an equal tree: groups are parenthesised
//! wherever the tree nests an `and`/`or` inside another operator, names
//! that are keywords or not identifiers are quoted, and times print as a
//! date when they are midnight UTC, otherwise in RFC 3339 UTC.

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::*;
use crate::parser::is_keyword;

fn join<T: Display>(f: &mut Formatter<'_>, items: &[T], sep: &str) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Or(items) => join(f, &items.iter().map(Grouped).collect::<Vec<_>>(), " or "),
            Expr::And(items) => join(f, &items.iter().map(Grouped).collect::<Vec<_>>(), " and "),
            Expr::Not(inner) => write!(f, "not {}", Grouped(&**inner)),
            Expr::Cond(c) => write!(f, "{c}"),
        }
    }
}

/// An operand of `and`/`or`/`not`: parenthesised when it is itself an
/// `and` or `or`.
struct Grouped<'a, T>(&'a T);

impl Display for Grouped<'_, Expr> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            Expr::Or(_) | Expr::And(_) => write!(f, "({})", self.0),
            other => write!(f, "{other}"),
        }
    }
}

impl Display for Grouped<'_, Predicate> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            Predicate::Or(_) | Predicate::And(_) => write!(f, "({})", self.0),
            other => write!(f, "{other}"),
        }
    }
}

fn args(
    f: &mut Formatter<'_>,
    name: &str,
    selection: &Selection,
    extra: Option<&dyn Display>,
    window: &Option<Window>,
) -> fmt::Result {
    write!(f, "{name}({selection}")?;
    if let Some(extra) = extra {
        write!(f, ", {extra}")?;
    }
    if let Some(w) = window {
        write!(f, ", {w}")?;
    }
    f.write_char(')')
}

impl Display for Condition {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Did { selection, window } => args(f, "did", selection, None, window),
            Condition::Measure {
                measure,
                cmp,
                value,
            } => write!(f, "{measure} {} {}", cmp.as_str(), Number(*value)),
            Condition::Moment {
                which,
                selection,
                window,
                cmp,
                value,
            } => {
                let name = match which {
                    Which::First => "first",
                    Which::Last => "last",
                };
                args(f, name, selection, None, window)?;
                write!(f, " {} {value}", cmp.as_str())
            }
            Condition::Seq {
                steps,
                within,
                window,
            } => {
                f.write_str("seq(")?;
                join(f, steps, " -> ")?;
                if let Some(d) = within {
                    write!(f, ", within {d}")?;
                }
                if let Some(w) = window {
                    write!(f, ", {w}")?;
                }
                f.write_char(')')
            }
            Condition::InSegment(name) => write!(f, "in_segment({})", Quoted(name)),
            Condition::Profile(test) => write!(f, "{test}"),
            Condition::Birthday => f.write_str("birthday"),
        }
    }
}

impl Display for Measure {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Measure::Count { selection, window } => args(f, "count", selection, None, window),
            Measure::Days { selection, window } => args(f, "days", selection, None, window),
            Measure::Aggregate {
                func,
                selection,
                path,
                window,
            } => {
                let name = match func {
                    Aggregate::Sum => "sum",
                    Aggregate::Avg => "avg",
                    Aggregate::Min => "min",
                    Aggregate::Max => "max",
                };
                args(f, name, selection, Some(path), window)
            }
        }
    }
}

impl Display for Selection {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.event)?;
        if let Some(p) = &self.predicate {
            write!(f, " where {p}")?;
        }
        Ok(())
    }
}

impl Display for EventSel {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            EventSel::Any => f.write_char('*'),
            EventSel::Named(name) => {
                let bare = name.strip_prefix('@').unwrap_or(name);
                if is_identifier(bare) && (name.starts_with('@') || !is_keyword(name)) {
                    f.write_str(name)
                } else {
                    write!(f, "{}", Quoted(name))
                }
            }
        }
    }
}

pub(crate) fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

impl Display for Window {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Window::Last(d) => write!(f, "last {d}"),
            Window::Since(t) => write!(f, "since {t}"),
            Window::Between(a, b) => write!(f, "between {a} and {b}"),
        }
    }
}

impl Display for TimeExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            TimeExpr::At(t) => {
                let text = cohort_event::format_millis(*t);
                if t.rem_euclid(86_400_000) == 0 {
                    // Midnight UTC is a date, as it was most likely written:
                    // `2026-01-01`, not twice as long.
                    return f.write_str(&text[..10]);
                }
                // Print whole seconds without `.000` for readability.
                f.write_str(&text.replace(".000Z", "Z"))
            }
            TimeExpr::Now(None) => f.write_str("now"),
            TimeExpr::Now(Some((Sign::Plus, d))) => write!(f, "now + {d}"),
            TimeExpr::Now(Some((Sign::Minus, d))) => write!(f, "now - {d}"),
        }
    }
}

impl Display for Duration {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.amount, self.unit.suffix())
    }
}

impl Display for Predicate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Predicate::Or(items) => join(f, &items.iter().map(Grouped).collect::<Vec<_>>(), " or "),
            Predicate::And(items) => {
                join(f, &items.iter().map(Grouped).collect::<Vec<_>>(), " and ")
            }
            Predicate::Not(inner) => write!(f, "not {}", Grouped(&**inner)),
            Predicate::Test(t) => write!(f, "{t}"),
        }
    }
}

impl<P: Display> Display for Test<P> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Test::Compare { path, cmp, literal } => write!(f, "{path} {} {literal}", cmp.as_str()),
            Test::In { path, literals } => {
                write!(f, "{path} in (")?;
                join(f, literals, ", ")?;
                f.write_char(')')
            }
            Test::Contains { path, literal } => write!(f, "{path} contains {literal}"),
            Test::StartsWith { path, value } => write!(f, "{path} starts_with {}", Quoted(value)),
            Test::EndsWith { path, value } => write!(f, "{path} ends_with {}", Quoted(value)),
            Test::Matches { path, pattern } => {
                write!(f, "{path} matches {}", Quoted(pattern.as_str()))
            }
            Test::IsNull {
                path,
                negated: false,
            } => write!(f, "{path} is null"),
            Test::IsNull {
                path,
                negated: true,
            } => write!(f, "{path} is not null"),
        }
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => write!(f, "{}", Quoted(s)),
            Literal::Number(x) => write!(f, "{}", Number(*x)),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Time(t) => write!(f, "{t}"),
        }
    }
}

impl Display for Path {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if is_identifier(&self.key) {
            write!(f, "data.{}", self.key)
        } else {
            write!(f, "data[{}]", Quoted(&self.key))
        }
    }
}

impl Display for ProfilePath {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ProfilePath::Tag(key) if is_identifier(key) => write!(f, "tag.{key}"),
            ProfilePath::Tag(key) => write!(f, "tag[{}]", Quoted(key)),
            ProfilePath::User(a) => write!(f, "user.{}", a.as_str()),
            ProfilePath::Age => f.write_str("age"),
        }
    }
}

/// A number in a form the parser reads back exactly (Rust's shortest
/// round-trip form, which never uses `inf` or `NaN` for finite values).
struct Number(f64);

impl Display for Number {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.0 == 0.0 {
            // -0 and 0 are the same number to every comparison.
            return f.write_char('0');
        }
        let text = format!("{:?}", self.0);
        // `{:?}` writes 1e21 as "1e21" and 0.1 as "0.1": both JSON numbers;
        // it writes 10000 as "10000.0": trim the fraction.
        f.write_str(text.strip_suffix(".0").unwrap_or(&text))
    }
}

/// A string in double quotes with JSON escapes.
struct Quoted<'a>(&'a str);

impl Display for Quoted<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\t' => f.write_str("\\t")?,
                '\r' => f.write_str("\\r")?,
                c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}
