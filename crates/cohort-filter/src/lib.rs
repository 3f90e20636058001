//! The segment filter language of cohort, version 2 (events, and the
//! profile conditions `tag.K`, `user.ATTR`, `age`, `birthday`): parsing
//! (nom), a typed syntax tree, printing back to text, and errors with a
//! caret.
//!
//! This crate does no I/O and knows nothing of the store.
//!
//! ```
//! use cohort_filter::{parse, Expr};
//!
//! let filter = parse("count(purchase where data.amount >= 10000, last 30d) >= 2 and not did(@clicked, last 7d)").unwrap();
//! assert!(matches!(filter, Expr::And(_)));
//! assert_eq!(parse(&filter.to_string()).unwrap(), filter);
//!
//! let err = parse("count(purchase, last x) >= 2").unwrap_err();
//! assert_eq!(err.to_string(), "\
//! error: expected a duration like 30d after `last`
//!  --> line 1, column 22
//!   |
//! 1 | count(purchase, last x) >= 2
//!   |                      ^");
//! ```

mod ast;
mod error;
mod parser;
mod pattern;
mod print;

pub use ast::*;
pub use error::ParseError;
pub use parser::{is_keyword, parse, parse_for, MAX_DEPTH, MAX_FILTER_BYTES, MAX_SEQ_STEPS};
pub use pattern::{Pattern, MAX_REGEXES, MAX_REGEX_BYTES};
