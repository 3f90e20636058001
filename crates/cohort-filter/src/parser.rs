//! The nom parser: filter text → [`Expr`].
//!
//! Tokens are read with nom combinators; the grammar above them is plain
//! recursive descent that never backtracks past a token, so parsing time is
//! linear in the input (nested parentheses included). Every place that
//! requires something reports what it expected; semantic rules (ordering a
//! boolean, an invalid regex, a too-large duration) are checked where the
//! offending token is, so their errors point at it. Nesting is counted and
//! limited, so deep input is an error, never a stack overflow.

use std::borrow::Cow;

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, digit1, one_of, satisfy};
use nom::combinator::{opt, recognize};
use nom::sequence::pair;
use nom::{IResult, Parser};

use crate::ast::*;
use crate::error::ParseError;
use crate::pattern::Budget;

thread_local! {
    /// Whether the filter being parsed on this thread is evaluated for
    /// devices, which have no `user.` attributes, `age` or `birthday`.
    static FOR_DEVICES: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The regular-expression budget of the filter being parsed on this
    /// thread (see `pattern.rs`); `parse` starts each filter with a fresh one.
    static PATTERNS: std::cell::RefCell<Budget> = std::cell::RefCell::new(Budget::default());
}

/// Longest accepted filter, in bytes.
pub const MAX_FILTER_BYTES: usize = 64 * 1024;
/// Most steps in one `seq`.
pub const MAX_SEQ_STEPS: usize = 64;
/// Deepest accepted nesting of `not`, parentheses and predicates.
pub const MAX_DEPTH: usize = 64;

/// Each level of nesting takes several frames, and unoptimised builds make
/// them large; the recursive rules grow the stack on the heap when less than
/// this much is left, so the 64-level limit holds on any thread.
const RED_ZONE: usize = 128 * 1024;
const STACK_CHUNK: usize = 2 * 1024 * 1024;

const KEYWORDS: [&str; 28] = [
    "and",
    "or",
    "not",
    "did",
    "count",
    "days",
    "sum",
    "avg",
    "min",
    "max",
    "first",
    "last",
    "seq",
    "within",
    "in_segment",
    "where",
    "since",
    "between",
    "now",
    "true",
    "false",
    "in",
    "contains",
    "starts_with",
    "ends_with",
    "matches",
    "is",
    "null",
];
// `birthday` and `age` (version 2) are not reserved: they are special only
// where a condition starts, where no event name can stand, so an event
// named `birthday` stays `did(birthday)` as version 1 wrote it — saved
// segments keep parsing.

/// Whether a word is reserved (an event with that name must be quoted).
pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

/// A failure at a place in the input.
#[derive(Debug)]
struct Fail<'a> {
    at: &'a str,
    message: Cow<'static, str>,
}

impl<'a> nom::error::ParseError<&'a str> for Fail<'a> {
    fn from_error_kind(input: &'a str, _: nom::error::ErrorKind) -> Fail<'a> {
        Fail {
            at: input,
            message: Cow::Borrowed("unexpected input"),
        }
    }
    fn append(_: &'a str, _: nom::error::ErrorKind, other: Fail<'a>) -> Fail<'a> {
        other
    }
    fn or(self, other: Fail<'a>) -> Fail<'a> {
        // Keep whichever got further.
        if other.at.len() < self.at.len() {
            other
        } else {
            self
        }
    }
}

type Res<'a, T> = IResult<&'a str, T, Fail<'a>>;

/// A committed failure: no alternative is tried after it.
fn fail<'a, T>(at: &'a str, message: impl Into<Cow<'static, str>>) -> Res<'a, T> {
    Err(nom::Err::Failure(Fail {
        at,
        message: message.into(),
    }))
}

/// Runs a token parser after whitespace; a recoverable miss becomes a
/// committed failure saying what was expected.
fn expect<'a, T>(
    i: &'a str,
    parser: impl Parser<&'a str, Output = T, Error = Fail<'a>>,
    message: &'static str,
) -> Res<'a, T> {
    let i = ws(i);
    match token(parser).parse(i) {
        Err(nom::Err::Error(_)) => fail(i, message),
        other => other,
    }
}

/// Turns a recoverable miss into a committed failure at `at`; committed
/// failures from inside pass through unchanged.
fn recover<'a, T>(result: Res<'a, T>, at: &'a str, message: &'static str) -> Res<'a, T> {
    match result {
        Err(nom::Err::Error(_)) => fail(at, message),
        other => other,
    }
}

/// Skips whitespace and `#` comments.
fn ws(mut i: &str) -> &str {
    loop {
        i = i.trim_start();
        match i.strip_prefix('#') {
            Some(rest) => i = rest.find('\n').map_or("", |n| &rest[n..]),
            None => return i,
        }
    }
}

/// A parser that skips whitespace first.
fn token<'a, T>(
    mut parser: impl Parser<&'a str, Output = T, Error = Fail<'a>>,
) -> impl Parser<&'a str, Output = T, Error = Fail<'a>> {
    move |i: &'a str| parser.parse(ws(i))
}

fn ident(i: &str) -> Res<'_, &str> {
    recognize(pair(
        satisfy(|c: char| c == '_' || c.is_ascii_alphabetic()),
        take_while(|c: char| c == '_' || c.is_ascii_alphanumeric()),
    ))
    .parse(i)
}

/// A keyword: the whole identifier must equal it (`lasting` is not `last`).
fn kw<'a>(word: &'static str) -> impl Parser<&'a str, Output = &'a str, Error = Fail<'a>> {
    move |i: &'a str| {
        let i = ws(i);
        match ident(i) {
            Ok((rest, w)) if w == word => Ok((rest, w)),
            _ => Err(nom::Err::Error(Fail {
                at: i,
                message: Cow::Borrowed("unexpected input"),
            })),
        }
    }
}

fn punct<'a>(p: &'static str) -> impl Parser<&'a str, Output = &'a str, Error = Fail<'a>> {
    token(tag(p))
}

/// Parses filter text into an expression.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    FOR_DEVICES.with(|d| d.set(false));
    parse_inner(src)
}

/// Parses a filter to be evaluated for subjects of `kind`: like [`parse`],
/// and for devices a `user.` path, `age` or `birthday` is an error at its
/// place (they describe users).
pub fn parse_for(src: &str, kind: cohort_event::SubjectKind) -> Result<Expr, ParseError> {
    FOR_DEVICES.with(|d| d.set(kind == cohort_event::SubjectKind::Device));
    let parsed = parse_inner(src);
    FOR_DEVICES.with(|d| d.set(false));
    parsed
}

fn parse_inner(src: &str) -> Result<Expr, ParseError> {
    if src.len() > MAX_FILTER_BYTES {
        let mut at = MAX_FILTER_BYTES;
        while !src.is_char_boundary(at) {
            at -= 1;
        }
        return Err(ParseError::at(src, at, "the filter is longer than 64 KiB"));
    }
    let to_error = |f: Fail<'_>| ParseError::at(src, src.len() - f.at.len(), f.message);
    PATTERNS.with(|b| *b.borrow_mut() = Budget::default());
    let parsed = or_expr(src, 0);
    // Drop the compiled patterns' extra references: the tree holds its own.
    PATTERNS.with(|b| *b.borrow_mut() = Budget::default());
    match parsed {
        Ok((rest, expr)) => {
            let rest = ws(rest);
            if rest.is_empty() {
                Ok(expr)
            } else {
                Err(ParseError::at(
                    src,
                    src.len() - rest.len(),
                    "expected `and`, `or` or the end of the filter",
                ))
            }
        }
        Err(nom::Err::Error(f) | nom::Err::Failure(f)) => Err(to_error(f)),
        Err(nom::Err::Incomplete(_)) => Err(ParseError::at(
            src,
            src.len(),
            "unexpected end of the filter",
        )),
    }
}

fn or_expr(i: &str, depth: usize) -> Res<'_, Expr> {
    chain(i, "or", |i| and_expr(i, depth), Expr::Or)
}

fn and_expr(i: &str, depth: usize) -> Res<'_, Expr> {
    chain(i, "and", |i| not_expr(i, depth), Expr::And)
}

/// `item { word item }`: one item alone, or all of them wrapped.
fn chain<'a, T>(
    i: &'a str,
    word: &'static str,
    mut item: impl FnMut(&'a str) -> Res<'a, T>,
    wrap: fn(Vec<T>) -> T,
) -> Res<'a, T> {
    let (mut i, first) = item(i)?;
    let mut items = vec![first];
    while let Ok((rest, _)) = kw(word).parse(i) {
        let (rest, next) = item(rest)?;
        items.push(next);
        i = rest;
    }
    Ok((
        i,
        if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            wrap(items)
        },
    ))
}

fn not_expr(i: &str, depth: usize) -> Res<'_, Expr> {
    unary(i, depth, not_expr, or_expr, Expr::Not, |i| {
        let (rest, c) = condition(i, depth)?;
        Ok((rest, Expr::Cond(c)))
    })
}

/// `"not" this | "(" group ")" | atom`, the innermost level of both filters
/// and predicates. Each `not` and `(` is one level of nesting.
fn unary<'a, T>(
    i: &'a str,
    depth: usize,
    this: fn(&'a str, usize) -> Res<'a, T>,
    group: fn(&'a str, usize) -> Res<'a, T>,
    negate: fn(Box<T>) -> T,
    atom: impl FnOnce(&'a str) -> Res<'a, T>,
) -> Res<'a, T> {
    stacker::maybe_grow(RED_ZONE, STACK_CHUNK, || {
        let i = ws(i);
        if depth >= MAX_DEPTH {
            return fail(i, "the filter nests deeper than 64 levels");
        }
        if let Ok((rest, _)) = kw("not").parse(i) {
            let (rest, inner) = this(rest, depth + 1)?;
            return Ok((rest, negate(Box::new(inner))));
        }
        if let Ok((rest, _)) = punct("(").parse(i) {
            let (rest, inner) = group(rest, depth + 1)?;
            let (rest, _) = expect(
                rest,
                tag(")"),
                "expected `)` to close the group, or `and`/`or`",
            )?;
            return Ok((rest, inner));
        }
        atom(i)
    })
}

const CONDITION: &str = "expected a condition: did(…), count(…), days(…), sum/avg/min/max(…), \
first(…), last(…), seq(…), in_segment(…), a profile test (tag.…, user.…, age) or birthday, \
or `not` or `(`";

const USERS_ONLY: &str =
    "`user.`, `age` and `birthday` describe users; this filter is evaluated for devices";

fn condition(i: &str, depth: usize) -> Res<'_, Condition> {
    let word = match ident(i) {
        Ok((_, w)) => w,
        Err(_) => return fail(i, CONDITION),
    };
    let rest = &i[word.len()..];
    let open = |r| expect(r, tag("("), "expected `(` after the condition's name");
    let path_follows = rest.starts_with('.') || rest.starts_with('[');
    match word {
        "birthday" => {
            if FOR_DEVICES.with(|d| d.get()) {
                return fail(i, USERS_ONLY);
            }
            Ok((rest, Condition::Birthday))
        }
        "age" => {
            let (r, t) = test_with(i, profile_path, PROFILE_PATH)?;
            Ok((r, Condition::Profile(t)))
        }
        "tag" | "user" if path_follows => {
            let (r, t) = test_with(i, profile_path, PROFILE_PATH)?;
            Ok((r, Condition::Profile(t)))
        }
        "data" if path_follows => fail(
            i,
            "a data path is read inside `where` (or as an aggregate's path), not as a condition; \
             a test of the profile uses tag., user. or age",
        ),
        "did" => {
            let (r, _) = open(rest)?;
            let (r, (selection, window)) = selection_window(r, depth)?;
            Ok((r, Condition::Did { selection, window }))
        }
        "count" | "days" => {
            let (r, _) = open(rest)?;
            let (r, (selection, window)) = selection_window(r, depth)?;
            let measure = if word == "count" {
                Measure::Count { selection, window }
            } else {
                Measure::Days { selection, window }
            };
            let (r, (cmp, value)) = measure_cmp(r, word)?;
            Ok((
                r,
                Condition::Measure {
                    measure,
                    cmp,
                    value,
                },
            ))
        }
        "sum" | "avg" | "min" | "max" => {
            let func = match word {
                "sum" => Aggregate::Sum,
                "avg" => Aggregate::Avg,
                "min" => Aggregate::Min,
                _ => Aggregate::Max,
            };
            let (r, _) = open(rest)?;
            let (r, selection) = selection(r, depth)?;
            let (r, _) = expect(
                r,
                tag(","),
                "expected `,` and a data path like data.amount: sum, avg, min and max need one",
            )?;
            let (r, path) = recover(
                path(r),
                ws(r),
                "expected a data path like data.amount or data[\"any key\"]",
            )?;
            let (r, window) = opt_window(r, selection.predicate.is_some())?;
            let (r, _) = close(r, false)?;
            let (r, (cmp, value)) = measure_cmp(r, word)?;
            Ok((
                r,
                Condition::Measure {
                    measure: Measure::Aggregate {
                        func,
                        selection,
                        path,
                        window,
                    },
                    cmp,
                    value,
                },
            ))
        }
        "first" | "last" => {
            let which = if word == "first" {
                Which::First
            } else {
                Which::Last
            };
            let (r, _) = open(rest)?;
            let (r, (selection, window)) = selection_window(r, depth)?;
            let (r, cmp) = expect(
                r,
                cmp,
                "expected a comparison (=, !=, <, <=, >, >=) and a time after first(…) or last(…)",
            )?;
            let (r, value) = time_value(
                r,
                "expected a time like 2026-01-01, 2026-01-01T09:30:00Z or now - 7d",
            )?;
            Ok((
                r,
                Condition::Moment {
                    which,
                    selection,
                    window,
                    cmp,
                    value,
                },
            ))
        }
        "seq" => {
            let (r, _) = open(rest)?;
            let (mut r, first) = selection(r, depth)?;
            let mut steps = vec![first];
            loop {
                match punct("->").parse(r) {
                    Ok((after, _)) => {
                        let (after, step) = selection(after, depth)?;
                        steps.push(step);
                        r = after;
                    }
                    Err(_) if steps.len() == 1 => {
                        return fail(
                            ws(r),
                            "expected `->` and a next step: seq needs two or more steps",
                        )
                    }
                    Err(_) => break,
                }
            }
            if steps.len() > MAX_SEQ_STEPS {
                return fail(i, "seq takes at most 64 steps");
            }
            let mut within = None;
            let mut window = None;
            if let Ok((after, _)) = punct(",").parse(r) {
                if let Ok((after_kw, _)) = kw("within").parse(after) {
                    let (after_d, d) =
                        duration(after_kw, "expected a duration like 1d after `within`")?;
                    within = Some(d);
                    r = after_d;
                    let (after_w, w) = opt_window(r, false)?;
                    window = w;
                    r = after_w;
                } else {
                    let (after_w, w) = window_after_comma(after)?;
                    window = Some(w);
                    r = after_w;
                }
            }
            let (r, _) = close(r, steps.last().is_some_and(|s| s.predicate.is_some()))?;
            Ok((
                r,
                Condition::Seq {
                    steps,
                    within,
                    window,
                },
            ))
        }
        "in_segment" => {
            let (r, _) = open(rest)?;
            let (r, name) = string(ws(r)).map_err(|e| match e {
                nom::Err::Error(_) => nom::Err::Failure(Fail {
                    at: ws(r),
                    message: "expected the segment's name as a string: in_segment(\"vip\")".into(),
                }),
                other => other,
            })?;
            let (r, _) = expect(r, tag(")"), "expected `)` after the segment's name")?;
            Ok((r, Condition::InSegment(name)))
        }
        _ => fail(i, CONDITION),
    }
}

fn measure_cmp<'a>(i: &'a str, word: &str) -> Res<'a, (Cmp, f64)> {
    let message: &'static str = match word {
        "count" => "expected a comparison and a number after count(…), like >= 2",
        "days" => "expected a comparison and a number after days(…), like >= 10",
        _ => "expected a comparison and a number after the aggregate, like >= 50000",
    };
    let (r, c) = expect(i, cmp, message)?;
    let (r, n) = expect(r, number, "expected a number")?;
    Ok((r, (c, n)))
}

/// `selection [, window] )`
fn selection_window(i: &str, depth: usize) -> Res<'_, (Selection, Option<Window>)> {
    let (r, selection) = selection(i, depth)?;
    let (r, window) = opt_window(r, selection.predicate.is_some())?;
    let (r, _) = close(r, false)?;
    Ok((r, (selection, window)))
}

/// `[, window]`, before the closing parenthesis.
fn opt_window(i: &str, after_predicate: bool) -> Res<'_, Option<Window>> {
    match punct(",").parse(i) {
        Ok((r, _)) => {
            let (r, w) = window_after_comma(r)?;
            Ok((r, Some(w)))
        }
        Err(_) => {
            let next = ws(i);
            if next.starts_with(')') {
                Ok((i, None))
            } else if after_predicate {
                fail(next, "expected `and`, `or`, `,` or `)` after the predicate")
            } else {
                fail(next, "expected `,` and a window, or `)`")
            }
        }
    }
}

fn close(i: &str, after_predicate: bool) -> Res<'_, ()> {
    let message = if after_predicate {
        "expected `and`, `or`, `,` or `)`"
    } else {
        "expected `)`"
    };
    let (r, _) = expect(i, tag(")"), message)?;
    Ok((r, ()))
}

fn window_after_comma(i: &str) -> Res<'_, Window> {
    if let Ok((r, _)) = kw("last").parse(i) {
        let (r, d) = duration(r, "expected a duration like 30d after `last`")?;
        return Ok((r, Window::Last(d)));
    }
    if let Ok((r, _)) = kw("since").parse(i) {
        let (r, t) = time_value(
            r,
            "expected a time like 2026-01-01 or now - 7d after `since`",
        )?;
        return Ok((r, Window::Since(t)));
    }
    if let Ok((r, _)) = kw("between").parse(i) {
        let (r, a) = time_value(
            r,
            "expected a time like 2026-01-01 or now - 7d after `between`",
        )?;
        let (r, _) = kw("and").parse(r).or_else(|_: nom::Err<Fail<'_>>| {
            fail(
                ws(r),
                "expected `and` and the end of the window: between T1 and T2",
            )
        })?;
        let (r, b) = time_value(r, "expected a time like 2026-01-01 or now after `and`")?;
        return Ok((r, Window::Between(a, b)));
    }
    fail(ws(i), "expected a window after `,`: last 30d, since 2026-01-01, or between 2026-01-01 and 2026-02-01")
}

fn selection(i: &str, depth: usize) -> Res<'_, Selection> {
    let i = ws(i);
    let (r, event) = if let Some(r) = i.strip_prefix('*') {
        (r, EventSel::Any)
    } else if i.starts_with('"') {
        let (r, name) = string(i)?;
        if name.is_empty() {
            return fail(i, "an event name cannot be empty");
        }
        (r, EventSel::Named(name))
    } else if let Some(after_at) = i.strip_prefix('@') {
        match ident(after_at) {
            Ok((r, name)) => (r, EventSel::Named(format!("@{name}"))),
            Err(_) => {
                return fail(
                    after_at,
                    "expected an automatic event name after `@`, like @clicked",
                )
            }
        }
    } else {
        match ident(i) {
            Ok((_, word)) if is_keyword(word) => {
                return fail(i, format!("`{word}` is a keyword; write an event with that name in quotes: \"{word}\""));
            }
            Ok((r, name)) => (r, EventSel::Named(name.to_owned())),
            Err(_) => {
                return fail(
                    i,
                    "expected an event name (like purchase or @clicked), a quoted name, or `*`",
                )
            }
        }
    };
    match kw("where").parse(r) {
        Ok((r, _)) => {
            let (r, p) = predicate(r, depth + 1)?;
            Ok((
                r,
                Selection {
                    event,
                    predicate: Some(p),
                },
            ))
        }
        Err(_) => Ok((
            r,
            Selection {
                event,
                predicate: None,
            },
        )),
    }
}

fn predicate(i: &str, depth: usize) -> Res<'_, Predicate> {
    chain(i, "or", |i| p_and(i, depth), Predicate::Or)
}

fn p_and(i: &str, depth: usize) -> Res<'_, Predicate> {
    chain(i, "and", |i| p_not(i, depth), Predicate::And)
}

fn p_not(i: &str, depth: usize) -> Res<'_, Predicate> {
    unary(i, depth, p_not, predicate, Predicate::Not, |i| {
        let (rest, t) = test(i)?;
        Ok((rest, Predicate::Test(t)))
    })
}

const PROFILE_PATH: &str = "expected a profile path: tag.KEY, tag[\"any key\"], user.ATTR or age";

fn test(i: &str) -> Res<'_, Test> {
    let at = ws(i);
    if profile_path(at).is_ok() {
        return fail(
            at,
            "a profile path is a condition of its own, not a test of the event's data: \
             move it out of the `where`",
        );
    }
    test_with(
        i,
        path,
        "expected a data path like data.amount, or `not` or `(`, in the `where` predicate",
    )
}

/// `path op value`, for data paths and profile paths alike.
fn test_with<'a, P>(
    i: &'a str,
    path: fn(&'a str) -> Res<'a, P>,
    expected: &'static str,
) -> Res<'a, Test<P>> {
    let (r, path) = recover(path(i), i, expected)?;
    let r = ws(r);
    if let Ok((r2, c)) = cmp(r) {
        let at = ws(r2);
        let (r2, literal) = literal(r2)?;
        if c.is_ordering() && matches!(literal, Literal::Bool(_)) {
            return fail(
                at,
                format!(
                    "`{}` cannot order booleans; booleans support only = and !=",
                    c.as_str()
                ),
            );
        }
        return Ok((
            r2,
            Test::Compare {
                path,
                cmp: c,
                literal,
            },
        ));
    }
    if let Ok((r2, _)) = kw("in").parse(r) {
        let (mut r2, _) = expect(r2, tag("("), "expected `(` and a list of values after `in`")?;
        let mut literals = Vec::new();
        loop {
            let (after, l) = literal(r2)?;
            literals.push(l);
            match punct(",").parse(after) {
                Ok((after, _)) => r2 = after,
                Err(_) => {
                    let (after, _) =
                        expect(after, tag(")"), "expected `,` or `)` in the list of values")?;
                    return Ok((after, Test::In { path, literals }));
                }
            }
        }
    }
    if let Ok((r2, _)) = kw("contains").parse(r) {
        let (r2, literal) = literal(r2)?;
        return Ok((r2, Test::Contains { path, literal }));
    }
    for (word, make) in [
        (
            "starts_with",
            (|path, value| Test::StartsWith { path, value }) as fn(P, String) -> Test<P>,
        ),
        ("ends_with", |path, value| Test::EndsWith { path, value }),
    ] {
        if let Ok((r2, _)) = kw(word).parse(r) {
            let (r2, value) = quoted_after(r2, word)?;
            return Ok((r2, make(path, value)));
        }
    }
    if let Ok((r2, _)) = kw("matches").parse(r) {
        let at = ws(r2);
        let (r2, text) = quoted_after(r2, "matches")?;
        return match PATTERNS.with(|b| b.borrow_mut().compile(&text)) {
            Ok(pattern) => Ok((r2, Test::Matches { path, pattern })),
            Err(message) => fail(at, message),
        };
    }
    if let Ok((r2, _)) = kw("is").parse(r) {
        let (r2, negated) = match kw("not").parse(r2) {
            Ok((r3, _)) => (r3, true),
            Err(_) => (r2, false),
        };
        let (r2, _) = kw("null").parse(r2).or_else(|_: nom::Err<Fail<'_>>| {
            fail(ws(r2), "expected `null` after `is` or `is not`")
        })?;
        return Ok((r2, Test::IsNull { path, negated }));
    }
    fail(r, "expected an operator: =, !=, <, <=, >, >=, in, contains, starts_with, ends_with, matches or is")
}

fn quoted_after<'a>(i: &'a str, word: &str) -> Res<'a, String> {
    let i = ws(i);
    match string(i) {
        Err(nom::Err::Error(_)) => fail(i, format!("expected a string after `{word}`")),
        other => other,
    }
}

fn path(i: &str) -> Res<'_, Path> {
    let i = ws(i);
    let (r, _) = tag("data").parse(i)?;
    match key_after(i, r, "data") {
        Some(keyed) => keyed.map(|(r, key)| (r, Path { key })),
        None => Err(nom::Err::Error(Fail {
            at: i,
            message: "expected a data path".into(),
        })),
    }
}

/// The key after `data` or `tag` (`word`, which `start` begins with and
/// `r` follows): `.KEY` or `["any key"]`; `None` when neither follows.
fn key_after<'a>(start: &'a str, r: &'a str, word: &str) -> Option<Res<'a, String>> {
    if let Some(r) = r.strip_prefix('.') {
        return Some(match ident(r) {
            Ok((r, key)) => Ok((r, key.to_owned())),
            Err(_) => fail(
                r,
                format!("expected a key after `{word}.`; use {word}[\"any key\"] for other keys"),
            ),
        });
    }
    let r = r.strip_prefix('[')?;
    let quoted = string(ws(r)).map_err(|e| match e {
        nom::Err::Error(_) => nom::Err::Failure(Fail {
            at: ws(r),
            message: format!("expected a quoted key after `{word}[`").into(),
        }),
        other => other,
    });
    Some(quoted.and_then(|(r, key)| {
        let (r, _) = expect(r, tag("]"), "expected `]` after the key")?;
        if key.is_empty() {
            return fail(start, format!("a {word} key cannot be empty"));
        }
        Ok((r, key))
    }))
}

/// `tag.KEY`, `tag["any key"]`, `user.ATTR` or `age`.
fn profile_path(i: &str) -> Res<'_, ProfilePath> {
    let i = ws(i);
    if let Ok((r, _)) = kw("age").parse(i) {
        if FOR_DEVICES.with(|d| d.get()) {
            return fail(i, USERS_ONLY);
        }
        return Ok((r, ProfilePath::Age));
    }
    if let Some(r) = i.strip_prefix("user.") {
        if FOR_DEVICES.with(|d| d.get()) {
            return fail(i, USERS_ONLY);
        }
        let (r2, name) = ident(r).or_else(|_| fail(r, ATTRIBUTES))?;
        return match cohort_event::Attribute::parse(name) {
            Some(a) => Ok((r2, ProfilePath::User(a))),
            None => fail(r, ATTRIBUTES),
        };
    }
    if let Some(keyed) = i.strip_prefix("tag").and_then(|r| key_after(i, r, "tag")) {
        return keyed.map(|(r, key)| (r, ProfilePath::Tag(key)));
    }
    Err(nom::Err::Error(Fail {
        at: i,
        message: PROFILE_PATH.into(),
    }))
}

const ATTRIBUTES: &str =
    "expected a user attribute: name, email, phoneNumber, dob, timeZone, country or language";

fn literal(i: &str) -> Res<'_, Literal> {
    let i = ws(i);
    if i.starts_with('"') {
        let (r, s) = string(i)?;
        return Ok((r, Literal::String(s)));
    }
    if looks_like_time(i) {
        let (r, t) = time_value(i, "expected a time like 2026-01-01 or 2026-01-01T09:30:00Z")?;
        return Ok((r, Literal::Time(t)));
    }
    if let Ok((r, n)) = number(i) {
        return Ok((r, Literal::Number(n)));
    }
    if let Ok((r, _)) = kw("true").parse(i) {
        return Ok((r, Literal::Bool(true)));
    }
    if let Ok((r, _)) = kw("false").parse(i) {
        return Ok((r, Literal::Bool(false)));
    }
    if kw("now").parse(i).is_ok() {
        let (r, t) = time_value(i, "expected now, now + D or now - D")?;
        return Ok((r, Literal::Time(t)));
    }
    fail(
        i,
        "expected a value: a string, a number, true, false, a time or now - D",
    )
}

fn looks_like_time(i: &str) -> bool {
    let b = i.as_bytes();
    b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

fn time_value<'a>(i: &'a str, message: &'static str) -> Res<'a, TimeExpr> {
    let i = ws(i);
    if let Ok((r, _)) = kw("now").parse(i) {
        let sign = match punct("+").parse(r) {
            Ok((r2, _)) => Some((r2, Sign::Plus)),
            // `now -> next` in a seq step is `now` followed by an arrow.
            Err(_) if ws(r).starts_with("->") => None,
            Err(_) => punct("-").parse(r).ok().map(|(r2, _)| (r2, Sign::Minus)),
        };
        return match sign {
            Some((r2, s)) => {
                let (r2, d) = duration(r2, "expected a duration like 7d after `now +` or `now -`")?;
                Ok((r2, TimeExpr::Now(Some((s, d)))))
            }
            None => Ok((r, TimeExpr::Now(None))),
        };
    }
    if !looks_like_time(i) {
        return fail(i, message);
    }
    let (r, text) =
        take_while1(|c: char| c.is_ascii_alphanumeric() || ":.+-".contains(c)).parse(i)?;
    let millis = if text.len() == 10 {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|dt| dt.and_utc().timestamp_millis())
    } else {
        cohort_event::parse_rfc3339(text).map(|t| t.millis)
    };
    match millis {
        Some(ms) => Ok((r, TimeExpr::At(ms))),
        None => fail(i, format!("`{text}` is not a time: write YYYY-MM-DD or RFC 3339 with Z or an offset, like 2026-01-01T09:30:00+09:00")),
    }
}

fn duration<'a>(i: &'a str, message: &'static str) -> Res<'a, Duration> {
    let i = ws(i);
    let Ok((r, digits)) = digit1::<&str, Fail<'_>>(i) else {
        return fail(i, message);
    };
    let units = alt((tag("ms"), tag("s"), tag("m"), tag("h"), tag("d"), tag("w")));
    let (r, unit) =
        match Parser::<&str>::parse(&mut { units }, r).map_err(|e: nom::Err<Fail<'_>>| e) {
            Ok((r, u)) => (r, u),
            Err(_) => {
                return fail(
                    r,
                    "expected a unit after the number: ms, s, m (minutes), h, d or w",
                )
            }
        };
    if r.starts_with(|c: char| c == '_' || c.is_ascii_alphanumeric()) {
        return fail(i, message);
    }
    let unit = match unit {
        "ms" => Unit::Millis,
        "s" => Unit::Seconds,
        "m" => Unit::Minutes,
        "h" => Unit::Hours,
        "d" => Unit::Days,
        _ => Unit::Weeks,
    };
    let amount: u64 = match digits.parse() {
        Ok(n) => n,
        Err(_) => return fail(i, "the duration is too large"),
    };
    if i64::try_from(amount)
        .ok()
        .and_then(|a| a.checked_mul(unit.millis()))
        .is_none()
    {
        return fail(i, "the duration is too large");
    }
    Ok((r, Duration { amount, unit }))
}

fn cmp(i: &str) -> Res<'_, Cmp> {
    let (r, op) = token(alt((
        tag("!="),
        tag("<="),
        tag(">="),
        tag("="),
        tag("<"),
        tag(">"),
    )))
    .parse(i)?;
    let c = match op {
        "!=" => Cmp::Ne,
        "<=" => Cmp::Le,
        ">=" => Cmp::Ge,
        "=" => Cmp::Eq,
        "<" => Cmp::Lt,
        _ => Cmp::Gt,
    };
    Ok((r, c))
}

/// A JSON number.
fn number(i: &str) -> Res<'_, f64> {
    let i = ws(i);
    let (r, text) = recognize((
        opt(char('-')),
        alt((
            tag("0"),
            recognize(pair(
                one_of("123456789"),
                take_while(|c: char| c.is_ascii_digit()),
            )),
        )),
        opt(pair(char('.'), digit1)),
        opt((one_of("eE"), opt(one_of("+-")), digit1)),
    ))
    .parse(i)?;
    if r.starts_with(|c: char| c == '_' || c == '.' || c.is_ascii_alphanumeric()) {
        return fail(i, "expected a number like 10000, -2.5 or 1e6");
    }
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok((r, x)),
        _ => fail(i, "the number is out of range"),
    }
}

/// A string in double quotes with JSON escapes.
fn string(i: &str) -> Res<'_, String> {
    let Some(body) = i.strip_prefix('"') else {
        return Err(nom::Err::Error(Fail {
            at: i,
            message: "expected a string".into(),
        }));
    };
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Ok((&body[at + 1..], out)),
            '\\' => {
                let esc_at = &body[at..];
                match chars.next().map(|(_, e)| e) {
                    Some('"') => out.push('"'),
                    Some('\\') => out.push('\\'),
                    Some('/') => out.push('/'),
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some('b') => out.push('\u{8}'),
                    Some('f') => out.push('\u{c}'),
                    Some('u') => {
                        let hex = |chars: &mut std::str::CharIndices<'_>| -> Option<u32> {
                            let mut v = 0;
                            for _ in 0..4 {
                                v = v * 16 + chars.next()?.1.to_digit(16)?;
                            }
                            Some(v)
                        };
                        let Some(hi) = hex(&mut chars) else {
                            return fail(esc_at, "expected four hex digits after \\u");
                        };
                        let code = if (0xD800..0xDC00).contains(&hi) {
                            let rest = chars.as_str();
                            if !rest.starts_with("\\u") {
                                return fail(esc_at, "a \\u escape of a high surrogate must be followed by a low one");
                            }
                            chars.next();
                            chars.next();
                            match hex(&mut chars) {
                                Some(lo) if (0xDC00..0xE000).contains(&lo) => 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00),
                                _ => return fail(esc_at, "a \\u escape of a high surrogate must be followed by a low one"),
                            }
                        } else {
                            hi
                        };
                        match char::from_u32(code) {
                            Some(c) => out.push(c),
                            None => return fail(esc_at, "the \\u escape is not a character"),
                        }
                    }
                    _ => return fail(esc_at, "invalid escape; use \\\" \\\\ \\n \\t or \\uXXXX"),
                }
            }
            c if (c as u32) < 0x20 => {
                return fail(
                    &body[at..],
                    "a string cannot hold a raw control character or line break; use \\n",
                )
            }
            c => out.push(c),
        }
    }
    fail(i, "this string is not closed: expected a closing `\"`")
}
