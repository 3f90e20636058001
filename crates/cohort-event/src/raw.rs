//! A borrowed JSON tree: the first step of validation.
//!
//! Parsing into this permissive tree first, instead of straight into typed
//! structs, lets every *semantic* problem (a wrong type, an unknown field, a
//! nested object) become a precise field-level message of our own, while
//! serde_json only reports *syntax* errors. Strings borrow from the input
//! when they contain no escapes, so a typical event allocates only its
//! object vectors.

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// A JSON number as serde_json reported it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    /// A non-negative integer.
    U(u64),
    /// A negative integer.
    I(i64),
    /// A number with a fraction or exponent.
    F(f64),
}

impl Num {
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Num::U(u) => u as f64,
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }
}

/// Most elements of one array (or entries of one object) kept in the tree.
/// Every limit of `events.md` (100 events, keys, elements) is below it, so
/// a longer container is rejected by its count alone: the rest of it is
/// parsed but not kept (serde's `IgnoredAny` allocates nothing), and an
/// 8-million-element array costs what its first 128 elements cost.
pub(crate) const MAX_KEPT: usize = 128;

/// A JSON array or object: its first [`MAX_KEPT`] items, and how many it had.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Items<T> {
    kept: Vec<T>,
    len: usize,
}

impl<T> Items<T> {
    /// How many items the container had (kept or not).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether every item was kept.
    pub(crate) fn is_whole(&self) -> bool {
        self.kept.len() == self.len
    }

    /// The kept items as a slice.
    pub(crate) fn kept(&self) -> &[T] {
        &self.kept
    }

    /// The kept items (all of them when [`Items::is_whole`]).
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, T> {
        self.kept.iter()
    }
}

impl<'i, T> IntoIterator for &'i Items<T> {
    type Item = &'i T;
    type IntoIter = std::slice::Iter<'i, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.kept.iter()
    }
}

/// Any JSON value, borrowing strings from the input where it can.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Raw<'a> {
    Null,
    Bool(bool),
    Num(Num),
    Str(Cow<'a, str>),
    Array(Items<Raw<'a>>),
    Object(Items<(Cow<'a, str>, Raw<'a>)>),
}

impl Raw<'_> {
    /// The JSON type name, for messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Raw::Null => "null",
            Raw::Bool(_) => "a boolean",
            Raw::Num(_) => "a number",
            Raw::Str(_) => "a string",
            Raw::Array(_) => "an array",
            Raw::Object(_) => "an object",
        }
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Raw::Num(Num::I(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Raw::Num(Num::U(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Raw::Num(Num::F(v)))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Raw::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Raw::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Raw::Str(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Raw::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Raw::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut kept = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_KEPT));
        let mut len = 0;
        while kept.len() < MAX_KEPT {
            match seq.next_element::<Raw<'de>>()? {
                Some(item) => kept.push(item),
                None => {
                    return Ok(Raw::Array(Items {
                        len: kept.len(),
                        kept,
                    }))
                }
            }
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {
            len += 1;
        }
        Ok(Raw::Array(Items {
            len: kept.len() + len,
            kept,
        }))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kept = Vec::with_capacity(map.size_hint().unwrap_or(0).min(MAX_KEPT));
        let mut len = 0;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if kept.len() < MAX_KEPT {
                let value = map.next_value::<Raw<'de>>()?;
                kept.push((key.0, value));
            } else {
                map.next_value::<IgnoredAny>()?;
                len += 1;
            }
        }
        Ok(Raw::Object(Items {
            len: kept.len() + len,
            kept,
        }))
    }
}

impl<'de> Deserialize<'de> for Raw<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

/// An object key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Parses one complete JSON document (trailing whitespace allowed).
pub(crate) fn parse(input: &[u8]) -> Result<Raw<'_>, serde_json::Error> {
    serde_json::from_slice(input)
}
