//! What a template sees: the entry event, the subject's tags and user
//! attributes, and the subject — turned into liquid values.

use std::collections::BTreeMap;

use cohort_event::{format_millis, format_time_value, Attribute, SubjectKind, Value};
use liquid_core::model::Value as LValue;

use crate::ordered::{Node, Ordered};

/// The subject a message is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// User or device.
    pub kind: SubjectKind,
    /// Its ID.
    pub id: String,
}

/// The event that started the journey.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryEvent {
    /// Its type.
    pub event_type: String,
    /// Its time, Unix milliseconds.
    pub time: i64,
    /// Its subject.
    pub subject: Subject,
    /// Its data entries, in the order they were sent.
    pub data: Vec<(String, Value)>,
}

/// Everything one render reads. Missing parts render as nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Context {
    /// The subject (`subject.type`, `subject.id`).
    pub subject: Option<Subject>,
    /// The entry event (`entry_event`).
    pub entry_event: Option<EntryEvent>,
    /// The subject's tags at render time (`tags.KEY`).
    pub tags: BTreeMap<String, Value>,
    /// The user's attributes at render time (`name`, `email`, …).
    pub attributes: BTreeMap<Attribute, String>,
    /// The render's instant, Unix milliseconds: what `date` reads `"now"`
    /// as.
    pub now: i64,
}

impl Context {
    /// The zone `date` uses when given none: the `timeZone` attribute when
    /// it is a known IANA name, else UTC.
    pub(crate) fn time_zone(&self) -> chrono_tz::Tz {
        self.attributes
            .get(&Attribute::TimeZone)
            .and_then(|z| z.parse().ok())
            .unwrap_or(chrono_tz::UTC)
    }

    /// The globals of a render, keys in a fixed order.
    pub(crate) fn to_object(&self) -> Ordered {
        let mut root = Ordered::default();
        if let Some(s) = &self.subject {
            root.insert("subject", Node::Map(subject(s)));
        }
        if let Some(e) = &self.entry_event {
            let mut event = Ordered::default();
            let leaf = |s: &str| Node::Leaf(LValue::scalar(s.to_owned()));
            event.insert("type", leaf(&e.event_type));
            event.insert("createdAt", leaf(&format_millis(e.time)));
            event.insert("subjectType", leaf(e.subject.kind.as_str()));
            event.insert("subjectId", leaf(&e.subject.id));
            let mut data = Ordered::default();
            for (k, v) in &e.data {
                data.insert(k, Node::Leaf(value(v)));
            }
            event.insert("data", Node::Map(data));
            root.insert("entry_event", Node::Map(event));
        }
        let mut tags = Ordered::default();
        for (k, v) in &self.tags {
            tags.insert(k, Node::Leaf(value(v)));
        }
        root.insert("tags", Node::Map(tags));
        for (a, v) in &self.attributes {
            root.insert(a.as_str(), Node::Leaf(LValue::scalar(v.clone())));
        }
        root
    }
}

fn subject(s: &Subject) -> Ordered {
    let mut o = Ordered::default();
    o.insert("type", Node::Leaf(LValue::scalar(s.kind.as_str())));
    o.insert("id", Node::Leaf(LValue::scalar(s.id.clone())));
    o
}

/// A number that is a whole number a double holds exactly is an integer,
/// so `{{ data.amount }}` renders `10000` and `plus: 1` stays whole.
fn number(x: f64) -> LValue {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if x.fract() == 0.0 && x.abs() <= EXACT {
        LValue::scalar(x as i64)
    } else {
        LValue::scalar(x)
    }
}

/// An event or tag value as liquid sees it; a time is its RFC 3339 text
/// with the offset it was written with.
fn value(v: &Value) -> LValue {
    match v {
        Value::Null => LValue::Nil,
        Value::Bool(b) => LValue::scalar(*b),
        Value::Number(x) => number(*x),
        Value::String(s) => LValue::scalar(s.clone()),
        Value::Time(t) => LValue::scalar(format_time_value(*t)),
        Value::Strings(v) => LValue::Array(v.iter().map(|s| LValue::scalar(s.clone())).collect()),
        Value::Numbers(v) => LValue::Array(v.iter().map(|x| number(*x)).collect()),
    }
}
