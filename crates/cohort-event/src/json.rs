//! Rendering values back to JSON, as the track API would have received them.

use serde_json::{Map, Number, Value as Json};

use crate::model::Value;
use crate::time::format_time_value;

/// Largest integer an `f64` holds exactly; beyond it numbers print as floats.
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// A number as JSON: whole numbers print without a fraction (`10000`, not
/// `10000.0`), as clients sent them.
pub fn number_json(x: f64) -> Json {
    if x.fract() == 0.0 && x.abs() <= EXACT_INT {
        Json::Number(Number::from(x as i64))
    } else {
        Number::from_f64(x).map_or(Json::Null, Json::Number)
    }
}

impl Value {
    /// This value as JSON. Times print in RFC 3339 with the offset they
    /// were written with.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(x) => number_json(*x),
            Value::String(s) => Json::String(s.clone()),
            Value::Time(t) => Json::String(format_time_value(*t)),
            Value::Strings(v) => Json::Array(v.iter().cloned().map(Json::String).collect()),
            Value::Numbers(v) => Json::Array(v.iter().copied().map(number_json).collect()),
        }
    }
}

/// A data object as JSON, keys in their stored order.
pub fn data_json<'a>(entries: impl IntoIterator<Item = (&'a str, &'a Value)>) -> Json {
    let mut map = Map::new();
    for (k, v) in entries {
        map.insert(k.to_owned(), v.to_json());
    }
    Json::Object(map)
}
