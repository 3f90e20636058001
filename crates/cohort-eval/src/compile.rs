//! Predicates compiled against the store's dictionaries: data keys become
//! key ids, regexes are built once, `now` is resolved.

use cohort_filter::{Cmp, Literal, Predicate, Test};
use cohort_store::{Store, Value};
use regex::Regex;

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
        re: Regex,
    },
    IsNull {
        key: Option<u32>,
        negated: bool,
    },
}

pub(crate) fn compile(p: &Predicate, store: &Store, now: i64) -> Pred {
    match p {
        Predicate::Or(items) => Pred::Or(items.iter().map(|q| compile(q, store, now)).collect()),
        Predicate::And(items) => Pred::And(items.iter().map(|q| compile(q, store, now)).collect()),
        Predicate::Not(inner) => Pred::Not(Box::new(compile(inner, store, now))),
        Predicate::Test(t) => {
            let key = |path: &cohort_filter::Path| store.key_id(&path.key);
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
                    // The parser has already checked that the pattern compiles.
                    re: Regex::new(pattern)
                        .unwrap_or_else(|_| Regex::new("$^").expect("a valid regex")),
                },
                Test::IsNull { path, negated } => Pred::IsNull {
                    key: key(path),
                    negated: *negated,
                },
            }
        }
    }
}

fn get(data: &[(u32, Value)], key: Option<u32>) -> Option<&Value> {
    let key = key?;
    data.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
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
    pub(crate) fn eval(&self, data: &[(u32, Value)]) -> bool {
        match self {
            Pred::Or(items) => items.iter().any(|p| p.eval(data)),
            Pred::And(items) => items.iter().all(|p| p.eval(data)),
            Pred::Not(inner) => !inner.eval(data),
            Pred::Compare { key, cmp, lit } => {
                get(data, *key).is_some_and(|v| compare(v, *cmp, lit))
            }
            Pred::In { key, lits } => {
                get(data, *key).is_some_and(|v| lits.iter().any(|l| compare(v, Cmp::Eq, l)))
            }
            Pred::Contains { key, lit } => match (get(data, *key), lit) {
                (Some(Value::String(s)), Lit::Str(n)) => s.contains(n.as_str()),
                (Some(Value::Strings(items)), Lit::Str(n)) => items.iter().any(|s| s == n),
                (Some(Value::Numbers(items)), Lit::Num(x)) => items.contains(x),
                _ => false,
            },
            Pred::StartsWith { key, s } => {
                matches!(get(data, *key), Some(Value::String(v)) if v.starts_with(s.as_str()))
            }
            Pred::EndsWith { key, s } => {
                matches!(get(data, *key), Some(Value::String(v)) if v.ends_with(s.as_str()))
            }
            Pred::Matches { key, re } => {
                matches!(get(data, *key), Some(Value::String(v)) if re.is_match(v))
            }
            Pred::IsNull { key, negated } => {
                matches!(get(data, *key), None | Some(Value::Null)) != *negated
            }
        }
    }
}
