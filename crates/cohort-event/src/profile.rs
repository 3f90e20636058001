//! A subject's profile: tag changes and user-attribute changes, the `tags`
//! and `userAttributes` groups of a track request (`docs/events.md`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{SubjectKind, Value};

/// One change of one subject's tags, as sent: each key is set to a value,
/// or deleted (`None`, sent as `null`). Keys not named keep their values.
#[derive(Debug, Clone, PartialEq)]
pub struct TagChange {
    /// User or device (their tags are separate, like their events).
    pub subject_kind: SubjectKind,
    /// The subject's ID as the app knows it.
    pub subject_id: String,
    /// Unix milliseconds from `createdAt`; `None`: the time it is received.
    pub time: Option<i64>,
    /// The keys in the order written (unique); `None` deletes the tag.
    /// A value is never [`Value::Null`]: `null` means delete.
    pub tags: Vec<(String, Option<Value>)>,
}

/// One of a user's predefined attributes.
///
/// The order is part of the store's format (the attribute's number in
/// storage keys): append, never reorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Attribute {
    /// `name`: any text, at most 1,024 bytes.
    Name,
    /// `email`: one `@` with text on both sides, no spaces, at most 254 bytes.
    Email,
    /// `phoneNumber`: E.164, `+` then 8 to 15 digits, the first not 0.
    PhoneNumber,
    /// `dob`: the date of birth, `YYYY-MM-DD`.
    Dob,
    /// `timeZone`: an IANA time-zone name.
    TimeZone,
    /// `country`: an ISO 3166-1 alpha-2 code.
    Country,
    /// `language`: an ISO 639-1 code.
    Language,
}

impl Attribute {
    /// Every attribute, in storage order.
    pub const ALL: [Attribute; 7] = [
        Attribute::Name,
        Attribute::Email,
        Attribute::PhoneNumber,
        Attribute::Dob,
        Attribute::TimeZone,
        Attribute::Country,
        Attribute::Language,
    ];

    /// The field's name in JSON and in filters (`user.phoneNumber`).
    pub fn as_str(self) -> &'static str {
        match self {
            Attribute::Name => "name",
            Attribute::Email => "email",
            Attribute::PhoneNumber => "phoneNumber",
            Attribute::Dob => "dob",
            Attribute::TimeZone => "timeZone",
            Attribute::Country => "country",
            Attribute::Language => "language",
        }
    }

    /// The attribute a JSON field name stands for.
    pub fn parse(name: &str) -> Option<Attribute> {
        Attribute::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The attribute's number in storage (its position in [`Attribute::ALL`]).
    pub fn index(self) -> u8 {
        self as u8
    }

    /// The attribute numbered `index` in storage.
    pub fn from_index(index: u8) -> Option<Attribute> {
        Attribute::ALL.get(usize::from(index)).copied()
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One change of one user's attributes, as sent: each named attribute is
/// set, or cleared (`None`, sent as `null`); the others keep their values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeChange {
    /// The user's subject ID.
    pub user_id: String,
    /// Unix milliseconds from `createdAt`; `None`: the time it is received.
    pub time: Option<i64>,
    /// The attributes in the order written (unique, at least one). Values
    /// are valid for their attribute (see [`Attribute`]).
    pub values: Vec<(Attribute, Option<String>)>,
}

/// A validated track request: its events, tag changes and attribute
/// changes, stored together or not at all.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrackRequest {
    /// The `events` group.
    pub events: Vec<crate::Event>,
    /// The `tags` group.
    pub tags: Vec<TagChange>,
    /// The `userAttributes` group.
    pub attributes: Vec<AttributeChange>,
}

impl TrackRequest {
    /// How many items the request holds, over its three groups.
    pub fn len(&self) -> usize {
        self.events.len() + self.tags.len() + self.attributes.len()
    }

    /// Whether the request holds no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The three groups of a track request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// `events`.
    Events,
    /// `tags`.
    Tags,
    /// `userAttributes`.
    UserAttributes,
}

impl Group {
    /// Every group, in the order a request's items are listed.
    pub const ALL: [Group; 3] = [Group::Events, Group::Tags, Group::UserAttributes];

    /// The group's field name in a request.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Events => "events",
            Group::Tags => "tags",
            Group::UserAttributes => "userAttributes",
        }
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}
