//! Read views: one consistent instant of the store.
//!
//! A [`View`] pairs a RocksDB snapshot with the in-memory state of the same
//! instant: the per-subject facts (shared by `Arc`), and how many subjects,
//! types and data keys existed. Writers commit their batch and apply its
//! in-memory changes while holding the state's write lock; a view is made
//! under its read lock. So a view never sees a batch without its facts and
//! dictionary entries, or facts without their batch.
//!
//! Dictionaries only grow and ids are never reused, so a view shares them
//! with the store and hides what came later by id: a type, key or subject
//! id at or past the view's counts does not exist for it.
//!
//! Architecture invariant: an evaluation, an `explain` and a page of
//! recent events each read through one view.

use std::ops::Range;
use std::sync::Arc;

use cohort_event::SubjectKind;
use rocksdb::{ReadOptions, Snapshot};

use crate::codec::SubjectFacts;
use crate::state::{NewNames, Pending};
use crate::store::Store;

/// One consistent instant of a store (see the module docs). Cheap to make;
/// hold it for the length of one query.
pub struct View<'s> {
    pub(crate) store: &'s Store,
    /// `None` on a read-only (secondary) instance: it never changes after
    /// it is opened, so it needs none (and RocksDB has none to give it).
    pub(crate) snapshot: Option<Snapshot<'s>>,
    facts: [Arc<Vec<SubjectFacts>>; 2],
    types: u32,
    keys: u32,
    next_seq: u64,
    profile_seq: u64,
    last_write_at: Option<i64>,
    /// The types and data keys a bulk commit adds, for a view of it made
    /// before it commits ([`Store::commit_view`]); `None` otherwise.
    unapplied: Option<Arc<[NewNames; 2]>>,
}

impl Store {
    /// A consistent read view of the store as it is now.
    pub fn view(&self) -> View<'_> {
        let state = self.read_state();
        let snapshot = (!self.is_read_only()).then(|| self.db.snapshot());
        View {
            store: self,
            snapshot,
            facts: state.facts.clone(),
            types: state.types.len() as u32,
            keys: state.keys.len() as u32,
            next_seq: state.next_seq,
            profile_seq: state.profile_seq,
            last_write_at: state.last_write_at,
            unapplied: None,
        }
    }

    /// A view of a bulk commit whose table files are in place but whose
    /// batch is not written yet (`bulk.rs`, step 3 of 4): what the store
    /// will hold once it commits, for the live segments' decisions, which
    /// go into that batch. Its events are read from the ingested files
    /// (their sequence numbers are below this view's `next_seq`), its
    /// facts and names from the overlay. A profile change of the write is
    /// not in the store yet: the caller decides such writes otherwise.
    pub(crate) fn commit_view(&self, pending: &Pending<'_>) -> View<'_> {
        debug_assert!(pending.o.profile.is_empty());
        let base = pending.base;
        let mut facts = base.facts.clone();
        for (&key, &f) in &pending.o.facts {
            crate::state::put_facts(&mut facts, key, f);
        }
        View {
            store: self,
            snapshot: (!self.is_read_only()).then(|| self.db.snapshot()),
            facts,
            types: (base.types.len() + pending.o.new_types.names.len()) as u32,
            keys: (base.keys.len() + pending.o.new_keys.names.len()) as u32,
            next_seq: pending.o.next_seq,
            profile_seq: pending.o.profile_seq,
            last_write_at: pending.o.last_write_at,
            unapplied: Some(Arc::new([
                pending.o.new_types.clone(),
                pending.o.new_keys.clone(),
            ])),
        }
    }
}

impl<'s> View<'s> {
    /// The store this view reads.
    pub fn store(&self) -> &'s Store {
        self.store
    }

    /// Per-subject facts of one kind, indexed by dense id.
    pub fn facts(&self, kind: SubjectKind) -> &Arc<Vec<SubjectFacts>> {
        &self.facts[kind.tag() as usize]
    }

    /// How many subjects of `kind` the view holds (dense ids `0..n`).
    pub fn subject_count(&self, kind: SubjectKind) -> u32 {
        self.facts[kind.tag() as usize].len() as u32
    }

    /// The sequence number the next event will get: how many events (and
    /// automatic events) had been stored at this view's instant.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The profile sequence at this view's instant: it advances with every
    /// tag or attribute change and every user deletion.
    pub fn profile_seq(&self) -> u64 {
        self.profile_seq
    }

    /// When the last write in this view was made (Unix ms), if the store
    /// recorded it (stores written before format 3 did not).
    pub fn last_write_at(&self) -> Option<i64> {
        self.last_write_at
    }

    /// The dictionary id of an event type, if the view knows it.
    pub fn type_id(&self, name: &str) -> Option<u32> {
        self.store
            .read_state()
            .types
            .get(name)
            .or_else(|| self.unapplied.as_ref()?[0].get(name))
            .filter(|&id| id < self.types)
    }

    /// Every event type id the view knows.
    pub fn type_ids(&self) -> Range<u32> {
        0..self.types
    }

    /// The dictionary id of a data key, if the view knows it.
    pub fn key_id(&self, name: &str) -> Option<u32> {
        self.store
            .read_state()
            .keys
            .get(name)
            .or_else(|| self.unapplied.as_ref()?[1].get(name))
            .filter(|&id| id < self.keys)
    }

    /// The dense id of a subject, if the view holds it. Without the subject
    /// map in memory (a reader; a writer before its first write naming
    /// subjects) it asks the dictionary in RocksDB; an error reading it is
    /// `Err`.
    pub fn try_subject_dense_id(&self, kind: SubjectKind, id: &str) -> crate::Result<Option<u32>> {
        let found = {
            let state = self.store.read_state();
            if state.subject_map_loaded {
                Some(state.subject(kind, id))
            } else {
                None
            }
        };
        let sid = match found {
            Some(sid) => sid,
            None => self.store.lookup_subject(kind, id, &self.read_options())?,
        };
        Ok(sid.filter(|&sid| sid < self.subject_count(kind)))
    }

    /// The dense id of a subject, if the view holds it (`None` also when
    /// the dictionary cannot be read; see [`View::try_subject_dense_id`]).
    pub fn subject_dense_id(&self, kind: SubjectKind, id: &str) -> Option<u32> {
        self.try_subject_dense_id(kind, id).ok().flatten()
    }

    /// The facts of one subject, if the view holds it; an error reading
    /// the dictionary is `Err`, not "no such subject".
    pub fn try_subject_facts(
        &self,
        kind: SubjectKind,
        id: &str,
    ) -> crate::Result<Option<SubjectFacts>> {
        Ok(self
            .try_subject_dense_id(kind, id)?
            .and_then(|sid| self.facts(kind).get(sid as usize).copied()))
    }

    /// The facts of one subject, if the view holds it.
    pub fn subject_facts(&self, kind: SubjectKind, id: &str) -> Option<SubjectFacts> {
        let sid = self.subject_dense_id(kind, id)?;
        self.facts(kind).get(sid as usize).copied()
    }

    /// The name of an event type id, if the view knows it.
    pub fn type_name(&self, id: u32) -> Option<String> {
        (id < self.types)
            .then(|| self.name(id, |s| &s.types, 0))
            .flatten()
    }

    pub(crate) fn key_name(&self, id: u32) -> Option<String> {
        (id < self.keys)
            .then(|| self.name(id, |s| &s.keys, 1))
            .flatten()
    }

    /// A name of the state's dictionary, or else of the unapplied names.
    fn name(
        &self,
        id: u32,
        dict: impl Fn(&crate::state::State) -> &crate::state::Interner,
        which: usize,
    ) -> Option<String> {
        let state = self.store.read_state();
        let dict = dict(&state);
        match &self.unapplied {
            Some(new) => crate::state::name_of(dict, &new[which], id),
            None => dict.name(id).map(str::to_owned),
        }
    }

    /// Read options that read at this view's instant.
    pub(crate) fn read_options(&self) -> ReadOptions {
        let mut opts = ReadOptions::default();
        if let Some(snapshot) = &self.snapshot {
            opts.set_snapshot(snapshot);
        }
        opts
    }
}
