//! The regular expression of a `matches` test, compiled once.
//!
//! A filter's patterns are compiled when it is parsed, and the compiled
//! regex travels in the syntax tree, so an evaluation, a batch or an
//! `explain` never compiles one again. Compiling costs time and memory in
//! proportion to the compiled program, so a filter's patterns share one
//! budget ([`MAX_REGEX_BYTES`] in all, [`MAX_REGEXES`] distinct patterns),
//! counted from the compiled programs' sizes as they are built; each
//! pattern is compiled with what is left as its own size limit, so a
//! hostile filter stops with a clear error after compiling at most the
//! budget. Identical patterns in one filter are compiled once.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use regex_automata::meta::{self, Regex};

/// Most compiled bytes of all of one filter's regular expressions.
pub const MAX_REGEX_BYTES: usize = 16 << 20;
/// Most distinct regular expressions in one filter.
pub const MAX_REGEXES: usize = 64;
/// Room each pattern's lazy DFA may use per thread while searching.
const SEARCH_CACHE_BYTES: usize = 256 << 10;

/// A compiled regular expression and its text. Two patterns are equal
/// when their texts are.
#[derive(Clone)]
pub struct Pattern {
    text: String,
    regex: Arc<Regex>,
}

impl Pattern {
    /// Compiles a pattern on its own (within the whole budget of a filter).
    pub fn new(text: &str) -> Result<Pattern, String> {
        Budget::default().compile(text)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern matches anywhere in `haystack`.
    pub fn is_match(&self, haystack: &str) -> bool {
        self.regex.is_match(haystack)
    }

    /// Bytes the compiled pattern holds.
    pub fn compiled_bytes(&self) -> usize {
        self.regex.memory_usage()
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.text == other.text
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.text)
    }
}

/// What one filter's patterns have used.
#[derive(Default)]
pub(crate) struct Budget {
    used: usize,
    compiled: HashMap<String, Pattern>,
}

impl Budget {
    /// Compiles `text`, or returns the one already compiled for this
    /// filter; the error says why, for a caret under the pattern.
    pub(crate) fn compile(&mut self, text: &str) -> Result<Pattern, String> {
        if let Some(p) = self.compiled.get(text) {
            return Ok(p.clone());
        }
        if self.compiled.len() >= MAX_REGEXES {
            return Err(format!(
                "a filter may hold at most {MAX_REGEXES} distinct regular expressions"
            ));
        }
        let left = MAX_REGEX_BYTES.saturating_sub(self.used);
        let regex = Regex::builder()
            .configure(
                Regex::config()
                    .nfa_size_limit(Some(left))
                    .onepass_size_limit(Some(left))
                    .dfa_size_limit(Some(left))
                    .hybrid_cache_capacity(SEARCH_CACHE_BYTES),
            )
            .build(text)
            .map_err(|e| self.explain(e))?;
        let size = regex.memory_usage();
        if self.used + size > MAX_REGEX_BYTES {
            return Err(self.too_large());
        }
        self.used += size;
        let pattern = Pattern {
            text: text.to_owned(),
            regex: Arc::new(regex),
        };
        self.compiled.insert(text.to_owned(), pattern.clone());
        Ok(pattern)
    }

    fn too_large(&self) -> String {
        let mib = MAX_REGEX_BYTES >> 20;
        if self.used == 0 {
            format!("this regular expression compiles to more than the limit of {mib} MiB")
        } else {
            format!(
                "this regular expression does not fit: a filter's regular expressions may compile to {mib} MiB in all"
            )
        }
    }

    fn explain(&self, e: meta::BuildError) -> String {
        if let Some(syntax) = e.syntax_error() {
            // regex-syntax prints the pattern and a caret, then the reason
            // last; the filter's own caret already points at the pattern.
            let detail = syntax.to_string();
            let last = detail
                .lines()
                .last()
                .unwrap_or("invalid")
                .trim()
                .trim_start_matches("error: ");
            return format!("invalid regular expression: {last}");
        }
        if e.size_limit().is_some() {
            return self.too_large();
        }
        format!("invalid regular expression: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_patterns_compile_once_and_distinct_ones_share_a_budget() {
        let mut budget = Budget::default();
        let a = budget.compile("[a-z]+").unwrap();
        let b = budget.compile("[a-z]+").unwrap();
        assert!(Arc::ptr_eq(&a.regex, &b.regex));
        assert!(a.is_match("abc") && !a.is_match("123"));
        let mut n = 0;
        let err = loop {
            match budget.compile(&format!("\\w{{150}}{n}")) {
                Ok(_) => n += 1,
                Err(e) => break e,
            }
        };
        assert!(err.contains("16 MiB in all"), "{err}");
        assert!((1..4).contains(&n), "{n} large patterns fit");
        assert!(budget.used <= MAX_REGEX_BYTES);
    }
}
