//! An object whose keys keep their order. liquid's `Object` is a hash map
//! with a random seed, so `{{ tags }}` or `{% for pair in entry_event.data %}`
//! would print keys in a different order on each render; a message must
//! not change between sends. Tags are in key order, `data` in the order it
//! was sent.

use std::fmt;

use liquid_core::model::{
    DisplayCow, KString, KStringCow, ObjectRender, ObjectSource, ObjectView, State, Value,
    ValueView,
};

/// A value of an ordered object: a liquid value, or another ordered object.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Leaf(Value),
    Map(Ordered),
}

impl Node {
    fn view(&self) -> &dyn ValueView {
        match self {
            Node::Leaf(v) => v,
            Node::Map(m) => m,
        }
    }
}

/// Keys in insertion order; the caller inserts each key once.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ordered(Vec<(KString, Node)>);

impl Ordered {
    pub(crate) fn insert(&mut self, key: &str, value: Node) {
        self.0.push((KString::from_ref(key), value));
    }
}

impl ValueView for Node {
    fn as_debug(&self) -> &dyn fmt::Debug {
        self
    }
    fn render(&self) -> DisplayCow<'_> {
        self.view().render()
    }
    fn source(&self) -> DisplayCow<'_> {
        self.view().source()
    }
    fn type_name(&self) -> &'static str {
        self.view().type_name()
    }
    fn query_state(&self, state: State) -> bool {
        self.view().query_state(state)
    }
    fn to_kstr(&self) -> KStringCow<'_> {
        self.view().to_kstr()
    }
    fn to_value(&self) -> Value {
        self.view().to_value()
    }
    fn as_scalar(&self) -> Option<liquid_core::model::ScalarCow<'_>> {
        self.view().as_scalar()
    }
    fn as_array(&self) -> Option<&dyn liquid_core::model::ArrayView> {
        self.view().as_array()
    }
    fn as_object(&self) -> Option<&dyn ObjectView> {
        self.view().as_object()
    }
    fn as_state(&self) -> Option<State> {
        self.view().as_state()
    }
    fn is_nil(&self) -> bool {
        self.view().is_nil()
    }
}

impl ValueView for Ordered {
    fn as_debug(&self) -> &dyn fmt::Debug {
        self
    }
    fn render(&self) -> DisplayCow<'_> {
        DisplayCow::Owned(Box::new(ObjectRender::new(self)))
    }
    fn source(&self) -> DisplayCow<'_> {
        DisplayCow::Owned(Box::new(ObjectSource::new(self)))
    }
    fn type_name(&self) -> &'static str {
        "object"
    }
    fn query_state(&self, state: State) -> bool {
        match state {
            State::Truthy => true,
            State::DefaultValue | State::Empty | State::Blank => self.0.is_empty(),
        }
    }
    fn to_kstr(&self) -> KStringCow<'_> {
        KStringCow::from_string(self.render().to_string())
    }
    /// A copy (`assign`) is liquid's own object, so it loses the order.
    fn to_value(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v.to_value()))
                .collect(),
        )
    }
    fn as_object(&self) -> Option<&dyn ObjectView> {
        Some(self)
    }
}

impl ObjectView for Ordered {
    fn as_value(&self) -> &dyn ValueView {
        self
    }
    fn size(&self) -> i64 {
        self.0.len() as i64
    }
    fn keys<'k>(&'k self) -> Box<dyn Iterator<Item = KStringCow<'k>> + 'k> {
        Box::new(self.0.iter().map(|(k, _)| KStringCow::from_ref(k.as_str())))
    }
    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        Box::new(self.0.iter().map(|(_, v)| v as &dyn ValueView))
    }
    fn iter<'k>(&'k self) -> Box<dyn Iterator<Item = (KStringCow<'k>, &'k dyn ValueView)> + 'k> {
        Box::new(
            self.0
                .iter()
                .map(|(k, v)| (KStringCow::from_ref(k.as_str()), v as &dyn ValueView)),
        )
    }
    fn contains_key(&self, index: &str) -> bool {
        self.0.iter().any(|(k, _)| k.as_str() == index)
    }
    fn get<'s>(&'s self, index: &str) -> Option<&'s dyn ValueView> {
        self.0
            .iter()
            .find(|(k, _)| k.as_str() == index)
            .map(|(_, v)| v as &dyn ValueView)
    }
}
