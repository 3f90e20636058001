//! Predicates compiled against the store's dictionaries: data keys become
//! key ids, regexes are built once, `now` is resolved.

use cohort_filter::{Cmp, Literal, Pattern, Predicate, Test};
use cohort_store::{Block, Value, View};

/// A literal with `now` resolved.
#[derive(Debug, Clone)]
pub(crate) enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
    Time(i64),
}

impl Lit {
    fn new(l: &Literal, now: i64) -> Lit {
        match l {
            Literal::String(s) => Lit::Str(s.clone()),
            Literal::Number(x) => Lit::Num(*x),
            Literal::Bool(b) => Lit::Bool(*b),
            Literal::Time(t) => Lit::Time(t.resolve(now)),
        }
    }
}

/// A compiled predicate. `key: None` is a key the store has never seen:
/// every comparison on it is false and `is null` is true.
#[derive(Debug, Clone)]
pub(crate) enum Pred {
    Or(Vec<Pred>),
    And(Vec<Pred>),
    Not(Box<Pred>),
    Compare {
        key: Option<u32>,
        cmp: Cmp,
        lit: Lit,
    },
    In {
        key: Option<u32>,
        lits: Vec<Lit>,
    },
    Contains {
        key: Option<u32>,
        lit: Lit,
    },
    StartsWith {
        key: Option<u32>,
        s: String,
    },
    EndsWith {
        key: Option<u32>,
        s: String,
    },
    Matches {
        key: Option<u32>,
        re: Pattern,
    },
    IsNull {
        key: Option<u32>,
        negated: bool,
    },
}

pub(crate) fn compile(p: &Predicate, view: &View<'_>, now: i64) -> Pred {
    match p {
        Predicate::Or(items) => Pred::Or(items.iter().map(|q| compile(q, view, now)).collect()),
        Predicate::And(items) => Pred::And(items.iter().map(|q| compile(q, view, now)).collect()),
        Predicate::Not(inner) => Pred::Not(Box::new(compile(inner, view, now))),
        Predicate::Test(t) => {
            let key = |path: &cohort_filter::Path| view.key_id(&path.key);
            match t {
                Test::Compare { path, cmp, literal } => Pred::Compare {
                    key: key(path),
                    cmp: *cmp,
                    lit: Lit::new(literal, now),
                },
                Test::In { path, literals } => Pred::In {
                    key: key(path),
                    lits: literals.iter().map(|l| Lit::new(l, now)).collect(),
                },
                Test::Contains { path, literal } => Pred::Contains {
                    key: key(path),
                    lit: Lit::new(literal, now),
                },
                Test::StartsWith { path, value } => Pred::StartsWith {
                    key: key(path),
                    s: value.clone(),
                },
                Test::EndsWith { path, value } => Pred::EndsWith {
                    key: key(path),
                    s: value.clone(),
                },
                Test::Matches { path, pattern } => Pred::Matches {
                    key: key(path),
                    // Compiled once, when the filter was parsed.
                    re: pattern.clone(),
                },
                Test::IsNull { path, negated } => Pred::IsNull {
                    key: key(path),
                    negated: *negated,
                },
            }
        }
    }
}

fn ord(cmp: Cmp, o: Option<std::cmp::Ordering>) -> bool {
    o.is_some_and(|o| cmp.holds(o))
}

fn compare(v: &Value, cmp: Cmp, lit: &Lit) -> bool {
    match (v, lit) {
        (Value::Number(x), Lit::Num(y)) => ord(cmp, x.partial_cmp(y)),
        (Value::String(s), Lit::Str(t)) => cmp.holds(s.as_bytes().cmp(t.as_bytes())),
        (Value::Bool(a), Lit::Bool(b)) => cmp.holds(a.cmp(b)),
        (Value::Time(t), Lit::Time(at)) => cmp.holds(t.millis.cmp(at)),
        (Value::Number(x), Lit::Time(at)) => ord(cmp, x.partial_cmp(&(*at as f64))),
        _ => false,
    }
}

impl Pred {
    /// For every row of `block`, whether the predicate holds. Tests run
    /// column by column: once per row on a number column, once per
    /// distinct value on a dictionary column.
    pub(crate) fn eval_block(&self, block: &Block) -> Vec<bool> {
        let n = block.len();
        match self {
            Pred::Or(items) => {
                let mut out = vec![false; n];
                for p in items {
                    for (o, m) in out.iter_mut().zip(p.eval_block(block)) {
                        *o |= m;
                    }
                }
                out
            }
            Pred::And(items) => {
                let mut out = vec![true; n];
                for p in items {
                    for (o, m) in out.iter_mut().zip(p.eval_block(block)) {
                        *o &= m;
                    }
                }
                out
            }
            Pred::Not(inner) => inner.eval_block(block).into_iter().map(|m| !m).collect(),
            leaf => {
                let absent = leaf.test(None);
                match (leaf, leaf.key().and_then(|k| block.column(k))) {
                    (_, None) => vec![absent; n],
                    // The hot case, a number compared with a number: one
                    // float compare per row (NaN, "no value", compares false,
                    // as a missing key does).
                    (
                        Pred::Compare {
                            cmp,
                            lit: Lit::Num(y),
                            ..
                        },
                        Some(column),
                    ) if column.dense_numbers().is_some() => column
                        .dense_numbers()
                        .expect("checked above")
                        .iter()
                        .map(|x| ord(*cmp, x.partial_cmp(y)))
                        .collect(),
                    (_, Some(column)) => column.per_row(absent, |v| leaf.test(Some(v))),
                }
            }
        }
    }

    /// Every data key the predicate reads (pushed onto `out`).
    pub fn keys(&self, out: &mut Vec<u32>) {
        match self {
            Pred::Or(items) | Pred::And(items) => items.iter().for_each(|p| p.keys(out)),
            Pred::Not(inner) => inner.keys(out),
            leaf => out.extend(leaf.key()),
        }
    }

    /// The data key a test reads (`None` for and/or/not, and for a key the
    /// store has never seen).
    fn key(&self) -> Option<u32> {
        match self {
            Pred::Or(_) | Pred::And(_) | Pred::Not(_) => None,
            Pred::Compare { key, .. }
            | Pred::In { key, .. }
            | Pred::Contains { key, .. }
            | Pred::StartsWith { key, .. }
            | Pred::EndsWith { key, .. }
            | Pred::Matches { key, .. }
            | Pred::IsNull { key, .. } => *key,
        }
    }

    /// One test on one event's value for its key (`None`: the event has no
    /// such key).
    fn test(&self, value: Option<&Value>) -> bool {
        match self {
            Pred::Or(_) | Pred::And(_) | Pred::Not(_) => {
                unreachable!("only tests are applied to a value")
            }
            Pred::Compare { cmp, lit, .. } => value.is_some_and(|v| compare(v, *cmp, lit)),
            Pred::In { lits, .. } => {
                value.is_some_and(|v| lits.iter().any(|l| compare(v, Cmp::Eq, l)))
            }
            Pred::Contains { lit, .. } => match (value, lit) {
                (Some(Value::String(s)), Lit::Str(n)) => s.contains(n.as_str()),
                (Some(Value::Strings(items)), Lit::Str(n)) => items.iter().any(|s| s == n),
                (Some(Value::Numbers(items)), Lit::Num(x)) => items.contains(x),
                _ => false,
            },
            Pred::StartsWith { s, .. } => {
                matches!(value, Some(Value::String(v)) if v.starts_with(s.as_str()))
            }
            Pred::EndsWith { s, .. } => {
                matches!(value, Some(Value::String(v)) if v.ends_with(s.as_str()))
            }
            Pred::Matches { re, .. } => {
                matches!(value, Some(Value::String(v)) if re.is_match(v))
            }
            Pred::IsNull { negated, .. } => matches!(value, None | Some(Value::Null)) != *negated,
        }
    }
}
