//! The store's in-memory state — dictionaries, per-subject facts, the
//! catalog — and the overlay a write builds before it commits.
//!
//! Architecture invariant: the in-memory state changes only after the
//! `WriteBatch` that carries the same change has been written, and under
//! the same lock that read views take (see `view.rs`): a write builds a
//! [`Pending`] overlay over the state, then writes the batch and applies
//! the overlay in one critical section; a failed write leaves memory as it
//! was, and no view sees the batch without the state that goes with it.

/// Dictionaries and per-write maps hash with foldhash: several times
/// faster than SipHash on short keys, and seeded per process, so subject
/// ids sent by clients cannot be chosen to collide.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::sync::Arc;

use cohort_event::{SubjectKind, Value};

use crate::blocks::Blocks;
use crate::catalog::{CatalogDelta, TypeStats};
use crate::codec::SubjectFacts;
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

    /// Appends a name under the next id.
    pub fn push(&mut self, name: Box<str>) {
        let id = self.names.len() as u32;
        self.names.push(name.clone());
        self.ids.insert(name, id);
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }
}

/// What the store keeps in memory, loaded at open.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Subject id → dense id, per kind (reverse lookups read RocksDB).
    /// Loaded by a writer before its first write that names subjects (see
    /// `subject_map_loaded`).
    pub subjects: [HashMap<Box<str>, u32>; 2],
    /// Whether `subjects` holds every subject. Until then (a read-only
    /// store always) IDs are looked up in RocksDB, so that opening costs
    /// nothing per subject.
    pub subject_map_loaded: bool,
    /// Per kind, per dense id. Shared with read views by `Arc` (copied on
    /// write only while a view still holds the previous one).
    pub facts: [Arc<Vec<SubjectFacts>>; 2],
    pub types: Interner,
    pub keys: Interner,
    /// Per type id.
    pub catalog: Vec<TypeStats>,
    pub next_seq: u64,
    /// The sequence number of the next profile change (a deletion takes
    /// one too).
    pub profile_seq: u64,
    /// Events removed by deleting users.
    pub deleted_events: u64,
    /// When the last write was made (Unix ms), from `meta`.
    pub last_write_at: Option<i64>,
    /// The live segments and their members (`live.rs`).
    pub live: crate::live::LiveState,
}

impl State {
    /// The dense id of a subject, when the map is loaded (`None` for an
    /// unknown subject; readers without the map ask RocksDB).
    pub fn subject(&self, kind: SubjectKind, id: &str) -> Option<u32> {
        self.subjects[kind.tag() as usize].get(id).copied()
    }

    pub fn event_count(&self) -> u64 {
        self.catalog.iter().map(|c| c.record.count).sum()
    }
}

/// Names a write adds to one dictionary, with a hash index, so that a
/// write introducing forty thousand types does not search a list for each.
#[derive(Default, Clone)]
pub(crate) struct NewNames {
    pub names: Vec<Box<str>>,
    index: HashMap<Box<str>, u32>,
    /// Bytes of the names, kept as they come and go (for `heap_bytes`).
    bytes: usize,
}

impl NewNames {
    pub fn get(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    /// Keeps the first `len` names only.
    fn truncate(&mut self, len: usize) {
        for name in self.names.drain(len.min(self.names.len())..) {
            self.bytes -= name.len();
            self.index.remove(&name);
        }
    }

    /// Adds a name under `id` (the next id after the base's and this
    /// write's earlier names).
    fn push(&mut self, name: &str, id: u32) {
        let name: Box<str> = name.into();
        self.bytes += name.len();
        self.names.push(name.clone());
        self.index.insert(name, id);
    }
}

/// A dictionary name by id: stored (`base`), or new in a write not yet
/// applied (`new`, whose ids follow the stored ones).
pub(crate) fn name_of(base: &Interner, new: &NewNames, id: u32) -> Option<String> {
    base.name(id)
        .or_else(|| {
            new.names
                .get((id as usize).wrapping_sub(base.len()))
                .map(|n| &**n)
        })
        .map(str::to_owned)
}

/// Sets one subject's facts in a per-kind facts list (shared by `Arc`:
/// copied first if a view holds it), growing the list to its dense id.
pub(crate) fn put_facts(
    facts: &mut [Arc<Vec<SubjectFacts>>; 2],
    (k, sid): (u8, u32),
    f: SubjectFacts,
) {
    let v = Arc::make_mut(&mut facts[k as usize]);
    if v.len() <= sid as usize {
        v.resize(sid as usize + 1, SubjectFacts::NONE);
    }
    v[sid as usize] = f;
}

/// Changes a write makes to [`State`], not yet applied: an [`Overlay`]
/// over the state it reads through.
pub(crate) struct Pending<'s> {
    pub base: &'s State,
    pub o: Overlay,
}

/// The changes of a [`Pending`] write, owned.
pub(crate) struct Overlay {
    limits: Limits,
    pub new_subjects: [NewNames; 2],
    pub new_types: NewNames,
    pub new_keys: NewNames,
    /// Facts touched by this write, by (kind tag, dense id).
    pub facts: HashMap<(u8, u32), SubjectFacts>,
    pub catalog: CatalogDelta,
    pub next_seq: u64,
    /// Event blocks this write files its events into.
    pub blocks: Blocks,
    /// The `log` entries of this write: keys with the range of their value
    /// in `log_values` (one arena, not an allocation per event), put in key
    /// order when the write commits (see `Store::put_derived`).
    pub log: Vec<LogEntry>,
    pub log_values: Vec<u8>,
    /// The `time` index entries of this write: key, and the subject key.
    pub time: Vec<([u8; crate::keys::TIME_KEY_LEN], [u8; 5])>,
    /// The `profile` entries of this write (few: they go into its
    /// `WriteBatch`, also for a bulk load), and the next profile sequence
    /// number.
    pub profile: Vec<([u8; crate::keys::PROFILE_KEY_LEN], Vec<u8>)>,
    pub profile_seq: u64,
    pub last_write_at: Option<i64>,
    /// What this write changes of the live segments (`live.rs`).
    pub live: crate::live::LiveDelta,
}

/// One `log` entry of a write: its key and where its value lies in
/// [`Overlay::log_values`].
#[derive(Clone, Copy)]
pub(crate) struct LogEntry {
    pub key: [u8; crate::keys::LOG_KEY_LEN],
    /// The event's type id (also in the value): which live segments a
    /// write can change is found without decoding values.
    pub type_id: u32,
    pub start: u64,
    pub len: u32,
}

/// A [`Pending`] overlay set aside between the chunks of a bulk load
/// (`bulk.rs`): the same changes, without the borrow of the state, which
/// does not change meanwhile because the bulk load holds the writer lock.
pub(crate) struct Parked(Overlay);

impl Parked {
    /// Roughly the memory a parked overlay holds, in bytes: what a bulk load
    /// weighs to decide when to commit.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        // Each name twice (list and index), with their headers.
        let names = |n: &NewNames| 2 * n.bytes + 48 * n.names.len();
        // Lengths, not capacities: a bulk load reuses one commit's buffers
        // for the next (`bulk.rs`), and weighs what is staged in them.
        self.0.log.len() * size_of::<LogEntry>()
            + self.0.log_values.len()
            + self.0.time.len() * (crate::keys::TIME_KEY_LEN + 5)
            + self
                .0
                .profile
                .iter()
                .map(|(k, v)| k.len() + v.len() + 24)
                .sum::<usize>()
            + self.0.facts.capacity() * (size_of::<(u8, u32)>() + size_of::<SubjectFacts>() + 8)
            + self.0.blocks.heap_bytes()
            + names(&self.0.new_subjects[0])
            + names(&self.0.new_subjects[1])
            + names(&self.0.new_types)
            + names(&self.0.new_keys)
    }

    /// Takes the overlay up again over `base`, the state it was built on.
    pub fn resume(self, base: &State) -> Pending<'_> {
        Pending { base, o: self.0 }
    }
}

/// How many names each dictionary of a [`Pending`] holds, to go back to
/// when a chunk of a bulk load fails part way (see [`Pending::truncate`]).
#[derive(Clone, Copy)]
pub(crate) struct NameCounts([usize; 4]);

/// A name that was looked up in a dictionary, and whether this write made it.
#[derive(Clone, Copy)]
pub(crate) struct Interned {
    pub id: u32,
    pub is_new: bool,
}

impl<'s> Pending<'s> {
    pub fn new(base: &'s State, limits: Limits) -> Pending<'s> {
        Pending {
            base,
            o: Overlay {
                limits,
                new_subjects: Default::default(),
                new_types: NewNames::default(),
                new_keys: NewNames::default(),
                facts: HashMap::default(),
                catalog: CatalogDelta::default(),
                next_seq: base.next_seq,
                blocks: Blocks::default(),
                log: Vec::new(),
                log_values: Vec::new(),
                time: Vec::new(),
                profile: Vec::new(),
                profile_seq: base.profile_seq,
                last_write_at: base.last_write_at,
                live: Default::default(),
            },
        }
    }

    /// Sets the overlay aside (see [`Parked`]).
    pub fn park(self) -> Parked {
        Parked(self.o)
    }

    pub fn subject(&mut self, kind: SubjectKind, id: &str) -> Result<Interned> {
        let k = kind.tag() as usize;
        // Without every ID in memory a known subject would look new
        // (`Store::subject_map` runs before any write that names one).
        if !self.base.subject_map_loaded {
            return Err(StoreError::Corrupt(format!(
                "a write named {kind} {id:?} before the writer read the subject IDs (a bug in cohort_store)"
            )));
        }
        if let Some(&sid) = self.base.subjects[k].get(id) {
            return Ok(Interned {
                id: sid,
                is_new: false,
            });
        }
        intern(
            // Every subject has facts: their count is the next dense id
            // (the map lacks deleted users).
            self.base.facts[k].len(),
            &mut self.o.new_subjects[k],
            id,
            match kind {
                SubjectKind::User => "users",
                SubjectKind::Device => "devices",
            },
            u32::MAX as usize - 1,
        )
    }

    pub fn event_type(&mut self, name: &str) -> Result<Interned> {
        if let Some(id) = self.base.types.get(name) {
            return Ok(Interned { id, is_new: false });
        }
        intern(
            self.base.types.len(),
            &mut self.o.new_types,
            name,
            "event types",
            self.o.limits.types,
        )
    }

    pub fn key(&mut self, name: &str) -> Result<Interned> {
        if let Some(id) = self.base.keys.get(name) {
            return Ok(Interned { id, is_new: false });
        }
        intern(
            self.base.keys.len(),
            &mut self.o.new_keys,
            name,
            "data keys",
            self.o.limits.keys,
        )
    }

    /// Counts one event of `type_id` at `millis` with these data values.
    pub fn count_event(&mut self, type_id: u32, millis: i64, data: &[(u32, &Value)]) {
        let rec = self.o.catalog.record(&self.base.catalog, type_id);
        rec.count += 1;
        rec.first_seen = Some(rec.first_seen.map_or(millis, |t| t.min(millis)));
        rec.last_seen = Some(rec.last_seen.map_or(millis, |t| t.max(millis)));
        for (key_id, value) in data {
            self.o
                .catalog
                .count_key(type_id, *key_id, value.kind().index());
        }
    }

    /// Sets a type's description (adding the type to the catalog).
    pub fn describe(&mut self, type_id: u32, description: Option<String>) {
        let rec = self.o.catalog.record(&self.base.catalog, type_id);
        if description.is_some() {
            rec.description = description;
        }
    }

    pub fn touch_subject(&mut self, kind: SubjectKind, sid: u32, millis: i64) {
        let facts = self.facts_mut(kind, sid);
        *facts = facts.with_event(millis);
    }

    /// How many events a subject has, this write's staged ones included.
    pub fn event_count(&self, kind: SubjectKind, sid: u32) -> u64 {
        let k = kind.tag();
        self.o
            .facts
            .get(&(k, sid))
            .or_else(|| self.base.facts[k as usize].get(sid as usize))
            .map_or(0, |f| f.count)
    }

    /// Records a profile change of a subject at `millis` in its facts.
    pub fn touch_profile(&mut self, kind: SubjectKind, sid: u32, millis: i64) {
        let facts = self.facts_mut(kind, sid);
        *facts = facts.with_profile_change(millis);
    }

    /// A subject's facts in this write, starting from the state's.
    fn facts_mut(&mut self, kind: SubjectKind, sid: u32) -> &mut SubjectFacts {
        let base = self.base;
        self.o.facts.entry((kind.tag(), sid)).or_insert_with(|| {
            base.facts[kind.tag() as usize]
                .get(sid as usize)
                .copied()
                .unwrap_or(SubjectFacts::NONE)
        })
    }

    /// How many names this write has added to each dictionary so far.
    pub fn name_counts(&self) -> NameCounts {
        NameCounts([
            self.o.new_subjects[0].names.len(),
            self.o.new_subjects[1].names.len(),
            self.o.new_types.names.len(),
            self.o.new_keys.names.len(),
        ])
    }

    /// Forgets the names added since `counts` was taken: a chunk that
    /// fails while its names are interned leaves no trace.
    pub fn truncate(&mut self, counts: NameCounts) {
        let [u, d, t, k] = counts.0;
        self.o.new_subjects[0].truncate(u);
        self.o.new_subjects[1].truncate(d);
        self.o.new_types.truncate(t);
        self.o.new_keys.truncate(k);
    }

    /// The value of one of this write's log entries.
    pub fn log_value(&self, e: &LogEntry) -> &[u8] {
        &self.o.log_values[e.start as usize..e.start as usize + e.len as usize]
    }

    pub fn take_seq(&mut self) -> u64 {
        let seq = self.o.next_seq;
        self.o.next_seq += 1;
        seq
    }

    /// The owned part of the overlay, to apply once the batch is written.
    pub fn into_changes(self) -> Changes {
        Changes {
            new_subjects: self.o.new_subjects.map(|n| n.names),
            new_types: self.o.new_types.names,
            new_keys: self.o.new_keys.names,
            facts: self.o.facts,
            catalog: self.o.catalog,
            next_seq: self.o.next_seq,
            profile_seq: self.o.profile_seq,
            last_write_at: self.o.last_write_at,
            live: self.o.live,
        }
    }
}

/// The default of [`crate::StoreOptions::max_event_types`].
pub const MAX_EVENT_TYPES: usize = 100_000;

/// The default of [`crate::StoreOptions::max_data_keys`].
pub const MAX_DATA_KEYS: usize = 1_000_000;

/// How many names the dictionaries may hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub types: usize,
    pub keys: usize,
}

fn intern(
    base_len: usize,
    new: &mut NewNames,
    name: &str,
    what: &str,
    limit: usize,
) -> Result<Interned> {
    if let Some(id) = new.get(name) {
        return Ok(Interned { id, is_new: false });
    }
    let next = base_len + new.names.len();
    let id = u32::try_from(next)
        .ok()
        .filter(|_| next < limit)
        .ok_or_else(|| StoreError::Capacity {
            what: what.to_owned(),
            limit,
            name: name.to_owned(),
        })?;
    new.push(name, id);
    Ok(Interned { id, is_new: true })
}

/// A committed write's changes to the in-memory state.
pub(crate) struct Changes {
    new_subjects: [Vec<Box<str>>; 2],
    new_types: Vec<Box<str>>,
    new_keys: Vec<Box<str>>,
    facts: HashMap<(u8, u32), SubjectFacts>,
    catalog: CatalogDelta,
    next_seq: u64,
    profile_seq: u64,
    last_write_at: Option<i64>,
    live: crate::live::LiveDelta,
}

impl Changes {
    /// The sequence number after this write.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The histories read while deciding live pairs that include this
    /// write's events (cached once it commits).
    pub fn take_histories(&mut self) -> Vec<(crate::history::Key, crate::history::History)> {
        std::mem::take(&mut self.live.histories)
    }

    pub fn apply(self, state: &mut State) {
        // New subjects take the ids after every existing one (each has
        // facts, a deleted user's too), in order.
        for (k, names) in self.new_subjects.into_iter().enumerate() {
            let first = state.facts[k].len();
            for (i, name) in names.into_iter().enumerate() {
                state.subjects[k].insert(name, (first + i) as u32);
            }
        }
        for name in self.new_types {
            state.types.push(name);
        }
        for name in self.new_keys {
            state.keys.push(name);
        }
        for (key, facts) in self.facts {
            put_facts(&mut state.facts, key, facts);
        }
        self.catalog.apply(&mut state.catalog);
        state.next_seq = self.next_seq;
        state.profile_seq = self.profile_seq;
        state.last_write_at = self.last_write_at;
        self.live.apply(&mut state.live);
    }
}
