//! The store's in-memory state — dictionaries, per-subject facts, the
//! catalog — and the overlay a write builds before it commits.
//!
//! Architecture invariant: the in-memory state changes only after the
//! `WriteBatch` that carries the same change has been written. A write
//! builds a [`Pending`] overlay over the state, writes the batch, and only
//! then applies the overlay; a failed write leaves memory as it was.

/// Dictionaries and per-write maps hash with foldhash: several times
/// faster than SipHash on short keys, and seeded per process, so subject
/// ids sent by clients cannot be chosen to collide.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::sync::Arc;

use cohort_event::{SubjectKind, Value};

use crate::blocks::Blocks;
use crate::codec::{CatalogRecord, SubjectFacts};
use crate::error::{Result, StoreError};

/// A two-way dictionary of names to dense ids.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    pub ids: HashMap<Box<str>, u32>,
    pub names: Vec<Box<str>>,
}

impl Interner {
    pub fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    pub fn name(&self, id: u32) -> Option<&str> {
        self.names.get(id as usize).map(|b| &**b)
    }

    pub fn insert(&mut self, id: u32, name: Box<str>) {
        let at = id as usize;
        if self.names.len() <= at {
            self.names.resize(at + 1, Box::from(""));
        }
        self.names[at] = name.clone();
        self.ids.insert(name, id);
    }
}

/// What the store keeps in memory, loaded at open.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Subject id → dense id, per kind (reverse lookups read RocksDB).
    pub subjects: [HashMap<Box<str>, u32>; 2],
    /// Per kind, per dense id. Shared with evaluations by `Arc` (copied on
    /// write only while an evaluation still holds the previous snapshot).
    pub facts: [Arc<Vec<SubjectFacts>>; 2],
    pub types: Interner,
    pub keys: Interner,
    /// Per type id.
    pub catalog: Vec<CatalogRecord>,
    pub next_seq: u64,
}

impl State {
    pub fn subject(&self, kind: SubjectKind, id: &str) -> Option<u32> {
        self.subjects[kind.tag() as usize].get(id).copied()
    }

    pub fn event_count(&self) -> u64 {
        self.catalog.iter().map(|c| c.count).sum()
    }
}

/// Changes a write makes to [`State`], not yet applied.
pub(crate) struct Pending<'s> {
    pub base: &'s State,
    pub new_subjects: [Vec<Box<str>>; 2],
    new_subject_ids: [HashMap<Box<str>, u32>; 2],
    pub new_types: Vec<Box<str>>,
    pub new_keys: Vec<Box<str>>,
    /// Facts touched by this write, by (kind tag, dense id).
    pub facts: HashMap<(u8, u32), SubjectFacts>,
    /// Catalog records touched by this write, by type id.
    pub catalog: HashMap<u32, CatalogRecord>,
    pub next_seq: u64,
    /// Event blocks this write files its events into.
    pub blocks: Blocks,
    /// The `log` entries of this write, put into the batch in key order
    /// (see `Store::put_derived`).
    pub log: Vec<([u8; crate::keys::LOG_KEY_LEN], Vec<u8>)>,
}

/// A name that was looked up in a dictionary, and whether this write made it.
#[derive(Clone, Copy)]
pub(crate) struct Interned {
    pub id: u32,
    pub is_new: bool,
}

impl<'s> Pending<'s> {
    pub fn new(base: &'s State) -> Pending<'s> {
        Pending {
            base,
            new_subjects: Default::default(),
            new_subject_ids: Default::default(),
            new_types: Vec::new(),
            new_keys: Vec::new(),
            facts: HashMap::default(),
            catalog: HashMap::default(),
            next_seq: base.next_seq,
            blocks: Blocks::default(),
            log: Vec::new(),
        }
    }

    pub fn subject(&mut self, kind: SubjectKind, id: &str) -> Result<Interned> {
        let k = kind.tag() as usize;
        if let Some(&sid) = self.base.subjects[k].get(id) {
            return Ok(Interned {
                id: sid,
                is_new: false,
            });
        }
        if let Some(&sid) = self.new_subject_ids[k].get(id) {
            return Ok(Interned {
                id: sid,
                is_new: false,
            });
        }
        let next = self.base.subjects[k].len() + self.new_subjects[k].len();
        let sid = u32::try_from(next)
            .map_err(|_| StoreError::Capacity(format!("more than 2^32 {kind}s")))?;
        let name: Box<str> = id.into();
        self.new_subjects[k].push(name.clone());
        self.new_subject_ids[k].insert(name, sid);
        Ok(Interned {
            id: sid,
            is_new: true,
        })
    }

    pub fn event_type(&mut self, name: &str) -> Result<Interned> {
        intern(&self.base.types, &mut self.new_types, name, "event types")
    }

    pub fn key(&mut self, name: &str) -> Result<Interned> {
        intern(&self.base.keys, &mut self.new_keys, name, "data keys")
    }

    fn catalog_entry(&mut self, type_id: u32) -> &mut CatalogRecord {
        let base = self.base;
        self.catalog.entry(type_id).or_insert_with(|| {
            base.catalog
                .get(type_id as usize)
                .cloned()
                .unwrap_or_default()
        })
    }

    /// Counts one event of `type_id` at `millis` with these data values.
    pub fn count_event(&mut self, type_id: u32, millis: i64, data: &[(u32, &Value)]) {
        let rec = self.catalog_entry(type_id);
        rec.count += 1;
        rec.first_seen = Some(rec.first_seen.map_or(millis, |t| t.min(millis)));
        rec.last_seen = Some(rec.last_seen.map_or(millis, |t| t.max(millis)));
        for (key_id, value) in data {
            let kind = value.kind().index();
            match rec.keys.iter_mut().find(|(k, _)| k == key_id) {
                Some((_, counts)) => counts[kind] += 1,
                None => {
                    let mut counts = [0u64; 7];
                    counts[kind] = 1;
                    rec.keys.push((*key_id, counts));
                }
            }
        }
    }

    /// Sets a type's description (adding the type to the catalog).
    pub fn describe(&mut self, type_id: u32, description: Option<String>) {
        let rec = self.catalog_entry(type_id);
        if description.is_some() {
            rec.description = description;
        }
    }

    pub fn touch_subject(&mut self, kind: SubjectKind, sid: u32, millis: i64) {
        let base = self.base;
        let facts = self.facts.entry((kind.tag(), sid)).or_insert_with(|| {
            base.facts[kind.tag() as usize]
                .get(sid as usize)
                .copied()
                .unwrap_or(SubjectFacts {
                    first_seen: millis,
                    last_seen: millis,
                    count: 0,
                })
        });
        *facts = facts.with_event(millis);
    }

    pub fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// The owned part of the overlay, to apply once the batch is written.
    pub fn into_changes(self) -> Changes {
        Changes {
            new_subjects: self.new_subjects,
            new_types: self.new_types,
            new_keys: self.new_keys,
            facts: self.facts,
            catalog: self.catalog,
            next_seq: self.next_seq,
        }
    }
}

fn intern(base: &Interner, new: &mut Vec<Box<str>>, name: &str, what: &str) -> Result<Interned> {
    if let Some(id) = base.get(name) {
        return Ok(Interned { id, is_new: false });
    }
    if let Some(pos) = new.iter().position(|n| &**n == name) {
        return Ok(Interned {
            id: (base.names.len() + pos) as u32,
            is_new: false,
        });
    }
    let id = u32::try_from(base.names.len() + new.len())
        .map_err(|_| StoreError::Capacity(format!("more than 2^32 {what}")))?;
    new.push(name.into());
    Ok(Interned { id, is_new: true })
}

/// A committed write's changes to the in-memory state.
pub(crate) struct Changes {
    new_subjects: [Vec<Box<str>>; 2],
    new_types: Vec<Box<str>>,
    new_keys: Vec<Box<str>>,
    facts: HashMap<(u8, u32), SubjectFacts>,
    catalog: HashMap<u32, CatalogRecord>,
    next_seq: u64,
}

impl Changes {
    pub fn apply(self, state: &mut State) {
        for (k, names) in self.new_subjects.into_iter().enumerate() {
            for name in names {
                let sid = state.subjects[k].len() as u32;
                state.subjects[k].insert(name, sid);
            }
        }
        for name in self.new_types {
            let id = state.types.names.len() as u32;
            state.types.insert(id, name);
        }
        for name in self.new_keys {
            let id = state.keys.names.len() as u32;
            state.keys.insert(id, name);
        }
        for ((k, sid), facts) in self.facts {
            let v = Arc::make_mut(&mut state.facts[k as usize]);
            if v.len() <= sid as usize {
                v.resize(
                    sid as usize + 1,
                    SubjectFacts {
                        first_seen: 0,
                        last_seen: 0,
                        count: 0,
                    },
                );
            }
            v[sid as usize] = facts;
        }
        for (type_id, rec) in self.catalog {
            let at = type_id as usize;
            if state.catalog.len() <= at {
                state.catalog.resize(at + 1, CatalogRecord::default());
            }
            state.catalog[at] = rec;
        }
        state.next_seq = self.next_seq;
    }
}
