//! The typed syntax tree of a filter.
//!
//! The tree keeps what the text said (a duration's unit, `now - 7d` rather
//! than an instant) so that it prints back as the same filter; parsing the
//! printed text gives an equal tree.

use crate::pattern::Pattern;

/// A whole filter: conditions combined with `and`, `or` and `not`.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `a or b or …` (two or more).
    Or(Vec<Expr>),
    /// `a and b and …` (two or more).
    And(Vec<Expr>),
    /// `not a`: the universe minus `a`.
    Not(Box<Expr>),
    /// One condition.
    Cond(Condition),
}

/// A condition over one subject's events.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `did(selection[, window])`.
    Did {
        /// Which events.
        selection: Selection,
        /// When.
        window: Option<Window>,
    },
    /// `count(…) >= 2`, `sum(…, data.amount) > 0`, ….
    Measure {
        /// What is measured.
        measure: Measure,
        /// How it compares.
        cmp: Cmp,
        /// With what.
        value: f64,
    },
    /// `first(…) >= now - 14d`, `last(…) < 2026-01-01`.
    Moment {
        /// Earliest or latest.
        which: Which,
        /// Which events.
        selection: Selection,
        /// When.
        window: Option<Window>,
        /// How it compares.
        cmp: Cmp,
        /// With what instant.
        value: TimeExpr,
    },
    /// `seq(a -> b -> …[, within D][, window])`.
    Seq {
        /// Two or more steps, in order.
        steps: Vec<Selection>,
        /// Longest time from the first step to the last.
        within: Option<Duration>,
        /// When.
        window: Option<Window>,
    },
    /// `in_segment("name")`.
    InSegment(String),
    /// A test of the subject's profile at `now`: `tag.plan = "pro"`,
    /// `user.country in ("KR", "JP")`, `age >= 20` (version 2).
    Profile(Test<ProfilePath>),
    /// `birthday`: the calendar date of `now` in the user's time zone has
    /// the month and day of their `dob` (version 2).
    Birthday,
}

/// A profile path: what a profile test reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProfilePath {
    /// `tag.KEY` or `tag["any key"]`: the tag's value at `now`.
    Tag(String),
    /// `user.ATTR`: a user attribute's value at `now` (a string).
    User(cohort_event::Attribute),
    /// `age`: whole years from `dob` to the date of `now` in the user's
    /// time zone.
    Age,
}

impl ProfilePath {
    /// Whether the path describes users only (`user.…`, `age`).
    pub fn is_for_users(&self) -> bool {
        !matches!(self, ProfilePath::Tag(_))
    }
}

/// A measured quantity.
#[derive(Debug, Clone, PartialEq)]
pub enum Measure {
    /// `count(selection[, window])`: matching events.
    Count {
        /// Which events.
        selection: Selection,
        /// When.
        window: Option<Window>,
    },
    /// `days(selection[, window])`: distinct UTC days with a matching event.
    Days {
        /// Which events.
        selection: Selection,
        /// When.
        window: Option<Window>,
    },
    /// `sum|avg|min|max(selection, path[, window])`.
    Aggregate {
        /// Which aggregate.
        func: Aggregate,
        /// Which events.
        selection: Selection,
        /// Which numeric data value.
        path: Path,
        /// When.
        window: Option<Window>,
    },
}

/// The aggregate functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aggregate {
    /// Sum of numbers (0 when none).
    Sum,
    /// Mean of numbers (none when none).
    Avg,
    /// Least number (none when none).
    Min,
    /// Greatest number (none when none).
    Max,
}

/// `first` or `last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Which {
    /// The earliest matching event.
    First,
    /// The latest matching event.
    Last,
}

/// Which events: a type (or any) and an optional predicate on their data.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// The event type, or `*`.
    pub event: EventSel,
    /// `where …`.
    pub predicate: Option<Predicate>,
}

/// An event type, or any.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventSel {
    /// `*`.
    Any,
    /// A type name (`purchase`, `@clicked`, `"add to cart"`).
    Named(String),
}

/// A time window.
#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    /// `last D`: `now − D ≤ t ≤ now`.
    Last(Duration),
    /// `since T`: `T ≤ t ≤ now`.
    Since(TimeExpr),
    /// `between T1 and T2`: `T1 ≤ t < T2` (and `t ≤ now`).
    Between(TimeExpr, TimeExpr),
}

/// An instant: absolute, or relative to `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeExpr {
    /// Unix milliseconds.
    At(i64),
    /// `now`, `now + D` or `now - D`.
    Now(Option<(Sign, Duration)>),
}

/// `+` or `-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sign {
    /// `+`.
    Plus,
    /// `-`.
    Minus,
}

impl TimeExpr {
    /// The instant in Unix milliseconds at evaluation time `now`
    /// (saturating at the ends of `i64`).
    pub fn resolve(&self, now: i64) -> i64 {
        match *self {
            TimeExpr::At(t) => t,
            TimeExpr::Now(None) => now,
            TimeExpr::Now(Some((Sign::Plus, d))) => now.saturating_add(d.millis()),
            TimeExpr::Now(Some((Sign::Minus, d))) => now.saturating_sub(d.millis()),
        }
    }
}

/// A duration as written: an amount and a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Duration {
    /// How many units.
    pub amount: u64,
    /// Which unit.
    pub unit: Unit,
}

impl Duration {
    /// Milliseconds (the parser guarantees this fits in an `i64`).
    pub fn millis(&self) -> i64 {
        (self.amount as i64).saturating_mul(self.unit.millis())
    }
}

/// Duration units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// `ms`.
    Millis,
    /// `s`.
    Seconds,
    /// `m` (minutes).
    Minutes,
    /// `h`.
    Hours,
    /// `d`.
    Days,
    /// `w`.
    Weeks,
}

impl Unit {
    /// Milliseconds in one unit.
    pub fn millis(self) -> i64 {
        match self {
            Unit::Millis => 1,
            Unit::Seconds => 1_000,
            Unit::Minutes => 60_000,
            Unit::Hours => 3_600_000,
            Unit::Days => 86_400_000,
            Unit::Weeks => 604_800_000,
        }
    }

    /// The unit's suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::Millis => "ms",
            Unit::Seconds => "s",
            Unit::Minutes => "m",
            Unit::Hours => "h",
            Unit::Days => "d",
            Unit::Weeks => "w",
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cmp {
    /// `=`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

impl Cmp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Ne => "!=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }

    /// Whether it orders (`<`, `<=`, `>`, `>=`) rather than tests equality.
    pub fn is_ordering(self) -> bool {
        !matches!(self, Cmp::Eq | Cmp::Ne)
    }

    /// Applies the operator to an ordering of left against right.
    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Cmp::Eq => ord == Equal,
            Cmp::Ne => ord != Equal,
            Cmp::Lt => ord == Less,
            Cmp::Le => ord != Greater,
            Cmp::Gt => ord == Greater,
            Cmp::Ge => ord != Less,
        }
    }
}

/// A test of one event's data, combined with `and`, `or`, `not`.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// Two or more alternatives.
    Or(Vec<Predicate>),
    /// Two or more requirements.
    And(Vec<Predicate>),
    /// Negation.
    Not(Box<Predicate>),
    /// One test.
    Test(Test),
}

/// One test of a value: a data value inside `where` (`P` = [`Path`]), or
/// a profile value as a condition (`P` = [`ProfilePath`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Test<P = Path> {
    /// `path cmp literal`.
    Compare {
        /// The data key.
        path: P,
        /// The operator.
        cmp: Cmp,
        /// The literal.
        literal: Literal,
    },
    /// `path in (l1, l2, …)`.
    In {
        /// The data key.
        path: P,
        /// The literals (one or more).
        literals: Vec<Literal>,
    },
    /// `path contains literal`.
    Contains {
        /// The data key.
        path: P,
        /// The literal.
        literal: Literal,
    },
    /// `path starts_with "s"`.
    StartsWith {
        /// The data key.
        path: P,
        /// The prefix.
        value: String,
    },
    /// `path ends_with "s"`.
    EndsWith {
        /// The data key.
        path: P,
        /// The suffix.
        value: String,
    },
    /// `path matches "regex"`.
    Matches {
        /// The data key.
        path: P,
        /// The pattern, compiled when the filter was parsed.
        pattern: Pattern,
    },
    /// `path is null` / `path is not null`.
    IsNull {
        /// The data key.
        path: P,
        /// `is not null`.
        negated: bool,
    },
}

impl<P> Test<P> {
    /// The path the test reads.
    pub fn path(&self) -> &P {
        match self {
            Test::Compare { path, .. }
            | Test::In { path, .. }
            | Test::Contains { path, .. }
            | Test::StartsWith { path, .. }
            | Test::EndsWith { path, .. }
            | Test::Matches { path, .. }
            | Test::IsNull { path, .. } => path,
        }
    }
}

/// A literal value in a predicate.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `"text"`.
    String(String),
    /// A JSON number.
    Number(f64),
    /// `true` / `false`.
    Bool(bool),
    /// A time or `now ± D`.
    Time(TimeExpr),
}

/// A data path: `data.KEY` or `data["any key"]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path {
    /// The data key.
    pub key: String,
}
