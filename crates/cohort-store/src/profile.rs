//! Profiles: tag and attribute changes, staged with a write's events and
//! read back as history or as the values at an instant.
//!
//! Every change is one `profile` entry (see `keys.rs`), written in the same
//! `WriteBatch` as the events of its request — also for a bulk load, whose
//! profile entries go into its commit's batch. Changes are numbered by
//! `profile_seq` in arrival order, apart from events, so that the ties of
//! docs/events.md ("the latest change at or before T, ties in arrival
//! order") are the key order.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use cohort_event::{Attribute, AttributeChange, SubjectKind, TagChange, Value, ValueKind};

use crate::codec;
use crate::error::{Result, StoreError};
use crate::keys::{self, ProfileField};
use crate::state::Pending;
use crate::view::View;

/// The profile changes of one write: borrowed from a
/// [`cohort_event::TrackRequest`] or from the lines of a bulk load.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProfileChanges<'a> {
    /// Tag changes, in arrival order.
    pub tags: &'a [TagChange],
    /// User-attribute changes, in arrival order (after the tags).
    pub attributes: &'a [AttributeChange],
}

impl ProfileChanges<'_> {
    /// Whether there is no change at all.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty() && self.attributes.is_empty()
    }
}

/// The changes, with their subjects and tag keys resolved to ids.
pub(crate) struct Resolved {
    changes: Vec<ResolvedChange>,
    pub new_subjects: usize,
}

/// One change: its subject, its time, and one (field, value) per key.
struct ResolvedChange {
    kind: SubjectKind,
    sid: u32,
    time: i64,
    fields: Vec<(ProfileField, Option<Value>)>,
}

/// Interns the subjects and tag keys of `changes` (the fallible part: a
/// dictionary can be full). Nothing is staged yet.
pub(crate) fn resolve(
    pending: &mut Pending<'_>,
    changes: ProfileChanges<'_>,
    received_at: i64,
) -> Result<Resolved> {
    let mut out = Resolved {
        changes: Vec::with_capacity(changes.tags.len() + changes.attributes.len()),
        new_subjects: 0,
    };
    for change in changes.tags {
        let subject = pending.subject(change.subject_kind, &change.subject_id)?;
        out.new_subjects += usize::from(subject.is_new);
        let mut fields = Vec::with_capacity(change.tags.len());
        for (key, value) in &change.tags {
            fields.push((ProfileField::Tag(pending.key(key)?.id), value.clone()));
        }
        out.changes.push(ResolvedChange {
            kind: change.subject_kind,
            sid: subject.id,
            time: change.time.unwrap_or(received_at),
            fields,
        });
    }
    for change in changes.attributes {
        let subject = pending.subject(SubjectKind::User, &change.user_id)?;
        out.new_subjects += usize::from(subject.is_new);
        let fields = change
            .values
            .iter()
            .map(|(a, v)| {
                (
                    ProfileField::Attribute(a.index()),
                    v.clone().map(Value::String),
                )
            })
            .collect();
        out.changes.push(ResolvedChange {
            kind: SubjectKind::User,
            sid: subject.id,
            time: change.time.unwrap_or(received_at),
            fields,
        });
    }
    Ok(out)
}

/// Stages resolved changes into the overlay: their entries, the profile
/// sequence numbers, and the subjects' facts. Returns how many keys
/// changed.
pub(crate) fn stage(pending: &mut Pending<'_>, resolved: Resolved) -> usize {
    let mut n = 0;
    for ResolvedChange {
        kind,
        sid,
        time,
        fields,
    } in resolved.changes
    {
        for (field, value) in fields {
            let seq = pending.o.profile_seq;
            pending.o.profile_seq += 1;
            pending.o.profile.push((
                keys::profile_key(kind, sid, field, time, seq),
                codec::encode(&value),
            ));
            n += 1;
        }
        pending.touch_profile(kind, sid, time);
    }
    n
}

/// One change of a profile field, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileEntry {
    /// When the change happened (Unix ms).
    pub time: i64,
    /// Its place in arrival order among all profile changes.
    pub seq: u64,
    /// The value set; `None` for a delete (a tag) or a clear (an attribute).
    pub value: Option<Value>,
}

/// A subject's profile: every field's history, oldest change first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    /// Tag key → its changes.
    pub tags: BTreeMap<String, Vec<ProfileEntry>>,
    /// User attribute → its changes (empty for devices).
    pub attributes: BTreeMap<Attribute, Vec<ProfileEntry>>,
}

impl Profile {
    /// The value a history gives at `now`: the latest change at or before
    /// it (ties in arrival order), `None` when that was a delete or there
    /// is none.
    pub fn value_at(history: &[ProfileEntry], now: i64) -> Option<&Value> {
        history
            .iter()
            .filter(|e| e.time <= now)
            .max_by_key(|e| (e.time, e.seq))
            .and_then(|e| e.value.as_ref())
    }

    /// The tags that have a value at `now`.
    pub fn tags_at(&self, now: i64) -> BTreeMap<&str, &Value> {
        self.tags
            .iter()
            .filter_map(|(k, h)| Some((k.as_str(), Profile::value_at(h, now)?)))
            .collect()
    }

    /// The attributes that have a value at `now`.
    pub fn attributes_at(&self, now: i64) -> BTreeMap<Attribute, &str> {
        self.attributes
            .iter()
            .filter_map(|(a, h)| match Profile::value_at(h, now)? {
                Value::String(s) => Some((*a, s.as_str())),
                _ => None,
            })
            .collect()
    }

    /// Whether the subject has no profile change at all.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty() && self.attributes.is_empty()
    }
}

/// A profile field, by name: what [`View::profile_column`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field<'a> {
    /// A tag, by key.
    Tag(&'a str),
    /// A user attribute.
    Attribute(Attribute),
}

/// What [`View::walk_index`] shows its visitor.
enum IndexStep<'v> {
    /// One change of a field: its value, `None` for a delete.
    Change(ProfileField, &'v Option<Value>),
    /// A field's value for one subject at the instant asked for.
    Latest(ProfileField, Option<Value>),
}

/// A tag key in the catalog (docs/events.md: "the catalog lists tag keys
/// too, with the value kinds observed and how many subjects hold each key
/// now").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagKeyEntry {
    /// Users' or devices' tags.
    pub kind: SubjectKind,
    /// The tag key.
    pub key: String,
    /// Values set, by kind (only kinds seen), over every change.
    pub kinds: Vec<(ValueKind, u64)>,
    /// Deletes (`null`) received.
    pub deletes: u64,
    /// Subjects holding a value at the instant asked for.
    pub holders: u64,
}

impl View<'_> {
    /// Every tag key of both subject kinds, by kind then key: the value
    /// kinds seen and how many subjects hold the key at `now`. One pass
    /// over the tag part of `profile_index`.
    pub fn tag_catalog(&self, now: i64) -> Result<Vec<TagKeyEntry>> {
        let mut out: Vec<TagKeyEntry> = Vec::new();
        for kind in SubjectKind::ALL {
            // Per key id: values set by kind, deletes, holders at `now`.
            let mut per_key: BTreeMap<u32, ([u64; 7], u64, u64)> = BTreeMap::new();
            self.walk_index(kind, &[kind.tag(), b't'], now, |step| {
                let (IndexStep::Change(field, _) | IndexStep::Latest(field, _)) = step;
                let ProfileField::Tag(key_id) = field else {
                    return Err(StoreError::Corrupt("an attribute among tags".into()));
                };
                let entry = per_key.entry(key_id).or_default();
                match step {
                    IndexStep::Change(_, Some(v)) => entry.0[v.kind().index()] += 1,
                    IndexStep::Change(_, None) => entry.1 += 1,
                    IndexStep::Latest(_, Some(_)) => entry.2 += 1,
                    IndexStep::Latest(_, None) => {}
                }
                Ok(())
            })?;
            for (key_id, (counts, deletes, holders)) in per_key {
                out.push(TagKeyEntry {
                    kind,
                    key: self.key_name(key_id).ok_or_else(|| {
                        StoreError::Corrupt(format!("a tag names key #{key_id}, which is unknown"))
                    })?,
                    kinds: ValueKind::ALL
                        .iter()
                        .zip(counts)
                        .filter(|(_, n)| *n > 0)
                        .map(|(k, n)| (*k, n))
                        .collect(),
                    deletes,
                    holders,
                });
            }
        }
        out.sort_by(|a, b| (a.kind, &a.key).cmp(&(b.kind, &b.key)));
        Ok(out)
    }

    /// One profile field's whole history for every subject of `kind`,
    /// decoded: what the evaluator answers profile conditions from, at any
    /// `now` ([`FieldHistory::at`]). Read from that field's range of
    /// `profile_index` once per store state: the store keeps the decoded
    /// histories of recently used fields (up to
    /// [`PROFILE_CACHE_ENTRIES`] changes in all), tagged with the profile
    /// sequence they were read at, which every profile change and every
    /// user deletion advances.
    pub fn profile_history(
        &self,
        kind: SubjectKind,
        field: Field<'_>,
    ) -> Result<Arc<FieldHistory>> {
        let field = match field {
            Field::Attribute(a) => ProfileField::Attribute(a.index()),
            Field::Tag(name) => match self.key_id(name) {
                Some(id) => ProfileField::Tag(id),
                None => return Ok(Arc::default()),
            },
        };
        let cache = &self.store.profile_cache;
        if let Some(h) = cache.get(kind, field, self.profile_seq()) {
            return Ok(h);
        }
        let prefix = keys::profile_field_prefix(kind, field);
        let mut entries = Vec::new();
        self.each_index_entry(kind, &prefix, |key, value| {
            entries.push((key.subject, key.millis, value));
            Ok(())
        })?;
        let history = Arc::new(FieldHistory { entries });
        cache.put(kind, field, self.profile_seq(), history.clone());
        Ok(history)
    }

    /// Calls `visit` with each entry of `profile_index` that starts with
    /// `prefix` (of subjects of `kind`), in key order, its value decoded.
    fn each_index_entry(
        &self,
        kind: SubjectKind,
        prefix: &[u8],
        mut visit: impl FnMut(keys::ProfileKey, Option<Value>) -> Result<()>,
    ) -> Result<()> {
        let Some(mut it) = self.prefix_iter(crate::db::cf::PROFILE_INDEX, prefix) else {
            return Ok(());
        };
        let subjects = self.subject_count(kind);
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let key = keys::parse_profile_index_key(k)
                .filter(|key| key.kind == kind && key.subject < subjects)
                .ok_or_else(|| StoreError::Corrupt("malformed profile index key".into()))?;
            let value: Option<Value> = codec::decode(v, "a profile value")?;
            visit(key, value)?;
            it.next();
        }
        it.status()?;
        Ok(())
    }

    /// Walks the entries of `profile_index` that start with `prefix` (of
    /// subjects of `kind`): `visit` sees each change, then — once per
    /// field and subject, after its changes — the value at `now`: the last
    /// change at or before it (keys are in time order within a subject,
    /// ties in arrival order), `None` for a delete or no change yet.
    fn walk_index(
        &self,
        kind: SubjectKind,
        prefix: &[u8],
        now: i64,
        mut visit: impl FnMut(IndexStep<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut current: Option<(ProfileField, u32, Option<Value>)> = None;
        self.each_index_entry(kind, prefix, |key, value| {
            visit(IndexStep::Change(key.field, &value))?;
            if let Some((field, _, latest)) =
                current.take_if(|(f, s, _)| (*f, *s) != (key.field, key.subject))
            {
                visit(IndexStep::Latest(field, latest))?;
            }
            if key.millis <= now {
                current = Some((key.field, key.subject, value));
            } else if current.is_none() {
                current = Some((key.field, key.subject, None));
            }
            Ok(())
        })?;
        if let Some((field, _, latest)) = current {
            visit(IndexStep::Latest(field, latest))?;
        }
        Ok(())
    }

    /// An iterator over the keys of `family` that start with `prefix`, at
    /// this view's instant; `None` when the family does not exist (a store
    /// of format 4 opened read-only holds no profile change).
    fn prefix_iter(
        &self,
        family: &str,
        prefix: &[u8],
    ) -> Option<rocksdb::DBRawIteratorWithThreadMode<'_, rocksdb::DB>> {
        let family = self.store.db.cf_handle(family)?;
        let mut opts = self.read_options();
        // The least key past every key with the prefix: the prefix with
        // its last byte below 0xFF incremented (the prefixes here never
        // are all 0xFF: they begin with a subject kind, 0 or 1).
        let mut upper = prefix.to_vec();
        while upper.last() == Some(&0xFF) {
            upper.pop();
        }
        if let Some(last) = upper.last_mut() {
            *last += 1;
            opts.set_iterate_upper_bound(upper);
        }
        let mut it = self.store.db.raw_iterator_cf_opt(family, opts);
        it.seek(prefix);
        Some(it)
    }

    /// The profile of one subject (every change this view holds), `None`
    /// when the view holds no such subject.
    pub fn profile(&self, kind: SubjectKind, id: &str) -> Result<Option<Profile>> {
        match self.try_subject_dense_id(kind, id)? {
            Some(sid) => self.profile_of(kind, sid).map(Some),
            None => Ok(None),
        }
    }

    /// The profile of a subject by dense id.
    pub fn profile_of(&self, kind: SubjectKind, sid: u32) -> Result<Profile> {
        let mut profile = Profile::default();
        let prefix = keys::subject_key(kind, sid);
        let Some(mut it) = self.prefix_iter(crate::db::cf::PROFILE, &prefix) else {
            return Ok(profile);
        };
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            add_entry(&mut profile, kind, sid, k, v, |id| self.key_name(id))?;
            it.next();
        }
        it.status()?;
        Ok(profile)
    }
}

/// Adds one `profile` entry (key and value as stored) of the subject
/// `kind`/`sid` to `profile`; `key_name` names a tag's data key id.
pub(crate) fn add_entry(
    profile: &mut Profile,
    kind: SubjectKind,
    sid: u32,
    k: &[u8],
    v: &[u8],
    key_name: impl Fn(u32) -> Option<String>,
) -> Result<()> {
    let key = keys::parse_profile_key(k)
        .filter(|key| key.kind == kind && key.subject == sid)
        .ok_or_else(|| StoreError::Corrupt("malformed profile key".into()))?;
    let entry = ProfileEntry {
        time: key.millis,
        seq: key.seq,
        value: codec::decode(v, "a profile value")?,
    };
    match key.field {
        ProfileField::Tag(id) => {
            let name = key_name(id).ok_or_else(|| {
                StoreError::Corrupt(format!("a tag names key #{id}, which is unknown"))
            })?;
            profile.tags.entry(name).or_default().push(entry);
        }
        ProfileField::Attribute(i) => {
            let a = Attribute::from_index(i).ok_or_else(|| {
                StoreError::Corrupt(format!("a profile entry names attribute #{i}"))
            })?;
            profile.attributes.entry(a).or_default().push(entry);
        }
    }
    Ok(())
}

/// One profile field's changes for every subject of a kind, decoded, in
/// `profile_index` order: by subject, then time, then arrival.
#[derive(Debug, Default)]
pub struct FieldHistory {
    entries: Vec<(u32, i64, Option<Value>)>,
}

impl FieldHistory {
    /// Each subject's value at `now` — its latest change at or before
    /// `now`, when that is not a delete — in dense-id order.
    pub fn at(&self, now: i64) -> impl Iterator<Item = (u32, &Value)> + '_ {
        let mut i = 0;
        let entries = &self.entries;
        std::iter::from_fn(move || {
            while i < entries.len() {
                let sid = entries[i].0;
                let mut latest = None;
                while i < entries.len() && entries[i].0 == sid {
                    if entries[i].1 <= now {
                        latest = entries[i].2.as_ref();
                    }
                    i += 1;
                }
                if let Some(v) = latest {
                    return Some((sid, v));
                }
            }
            None
        })
    }

    /// How many changes it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds no change.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The most changes the store keeps decoded in its profile cache, over all
/// fields (about 50 bytes each, plus string contents).
pub const PROFILE_CACHE_ENTRIES: usize = 4 << 20;

/// Decoded field histories, each tagged with the profile sequence it was
/// read at; an entry serves only views at that same sequence.
#[derive(Default)]
pub(crate) struct ProfileCache {
    fields: Mutex<HashMap<CacheKey, (u64, Arc<FieldHistory>)>>,
}

/// A cached field: the subjects' kind tag and the field.
type CacheKey = (u8, ProfileField);

impl ProfileCache {
    fn get(&self, kind: SubjectKind, field: ProfileField, seq: u64) -> Option<Arc<FieldHistory>> {
        let fields = self.fields.lock().unwrap_or_else(|e| e.into_inner());
        match fields.get(&(kind.tag(), field)) {
            Some((at, h)) if *at == seq => Some(h.clone()),
            _ => None,
        }
    }

    fn put(&self, kind: SubjectKind, field: ProfileField, seq: u64, history: Arc<FieldHistory>) {
        if history.len() > PROFILE_CACHE_ENTRIES {
            return;
        }
        let mut fields = self.fields.lock().unwrap_or_else(|e| e.into_inner());
        // Older sequences serve no new view: drop them, and everything
        // when the bound would be passed.
        fields.retain(|_, (at, _)| *at >= seq);
        let held: usize = fields.values().map(|(_, h)| h.len()).sum();
        if held + history.len() > PROFILE_CACHE_ENTRIES {
            fields.clear();
        }
        fields.insert((kind.tag(), field), (seq, history));
    }
}
