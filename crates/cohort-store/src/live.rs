//! Live segments: membership kept current as writes arrive and time
//! passes, with a change feed written in the same atomic batch as the
//! write or sweep that caused each change.
//!
//! The store knows nothing of filters, so it does not decide membership:
//! a [`LiveHook`] installed by the layer above (`cohort-live`) does. The
//! store owns everything else — which segments are live, who is a member,
//! when each (segment, subject) must next be looked at, and the feed:
//!
//! - every write (a single write, a group, a bulk load's commit) asks the
//!   hook, before its batch is sealed, about the (segment, subject) pairs
//!   it can change — of the subjects it touched, with the live segments
//!   of their kind that one of their new events' types can change
//!   ([`LiveHook::triggers`]), or all of them for a subject new to the
//!   universe or whose profile changes — and puts the answers into the
//!   same batch: membership bits that flip, one change record per flip,
//!   and each pair's next deadline;
//! - [`Store::sweep`] asks about the pairs whose deadline has come, each at
//!   its own instant, in rounds of one batch each;
//! - [`Store::make_live`] asks for the whole segment at once
//!   ([`LiveHook::decide_all`]: one batch evaluation, one scan for
//!   deadlines) or, when the hook cannot, about every subject of the
//!   segment's kind (the backfill); either way it commits what changed in
//!   chunks of one batch each.
//!
//! A store with live segments refuses writes until a hook is installed
//! ([`Store::set_live_hook`]): a write that skipped the hook would leave
//! membership and feed behind the events.
//!
//! Layout (family `live`; `changes`): see `keys.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use cohort_event::{SubjectKind, Value};
use roaring::RoaringBitmap;
use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use crate::codec::{self, StoredEvent};
use crate::db::cf;
use crate::error::{Result, StoreError};
use crate::history::History;
use crate::keys::{self, meta};
use crate::profile::{Profile, ProfileEntry};
use crate::read::EventRecord;
use crate::state::HashMap;
use crate::state::{Pending, State};
use crate::store::Store;
use crate::view::View;

/// How many touched subjects a write decides at a time (all their live
/// segments each).
const DECIDE_CHUNK: usize = 4_096;

/// How many subjects one backfill batch decides (or, for a segment
/// decided at once, holds the changes of).
pub const BACKFILL_CHUNK: usize = 16_384;

/// How many due (segment, subject) pairs one sweep round decides: a round
/// holds the writer lock, so a wave of deadlines at one midnight is cut
/// into rounds between which writes go on.
pub const SWEEP_ROUND: usize = 1_024;

/// Deadlines as a batch being built leaves them, by (segment, subject):
/// a pair decided twice in one batch (caught up, then written) reads its
/// deadline here, not from the store (and a write reads here the ones its
/// catch-up read).
type Moved = HashMap<(u32, u32), Option<i64>>;

/// Puts the deadline index's floor back to the start unless forgotten: a
/// sweep round that raised it past the keys it took and then failed (or
/// panicked) leaves those keys in place.
struct FloorGuard<'a>(&'a Store);

impl Drop for FloorGuard<'_> {
    fn drop(&mut self) {
        self.0.live_floor.lock().clear();
    }
}

/// A live segment as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveDef {
    /// The segment's name.
    pub name: String,
    /// Which subjects it selects.
    pub kind: SubjectKind,
    /// The filter's text, as it was made live.
    pub filter: String,
    /// Whether its backfill finished. A backfill cut short (a crash) is
    /// finished by [`Store::finish_backfills`].
    pub ready: bool,
}

/// Why a membership changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cause {
    /// A write: events, tag or attribute changes.
    Write,
    /// Time passing (a deadline's sweep).
    Time,
    /// Making the segment live, or saving it again with another filter.
    Backfill,
    /// Deleting the user.
    Delete,
    /// The segment stopped being live (or changed kind): its members
    /// leave, so that the feed replayed still gives the members.
    Stop,
}

impl Cause {
    /// The cause as a word (`write`, `time`, `backfill`, `delete`).
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Write => "write",
            Cause::Time => "time",
            Cause::Backfill => "backfill",
            Cause::Delete => "delete",
            Cause::Stop => "stop",
        }
    }
}

/// The event that made a subject enter a segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryEvent {
    /// Its type.
    pub event_type: String,
    /// Its time, Unix ms.
    pub time: i64,
    /// Its store sequence number.
    pub seq: u64,
    /// Its data, in the order it was sent.
    pub data: Vec<(String, Value)>,
}

impl From<&EventRecord> for EntryEvent {
    fn from(e: &EventRecord) -> EntryEvent {
        EntryEvent {
            event_type: e.event_type.clone(),
            time: e.time,
            seq: e.seq,
            data: e.data.clone(),
        }
    }
}

/// One record of the change feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Its place in the feed: gapless, increasing, never reused.
    pub seq: u64,
    /// The segment's name.
    pub segment: String,
    /// The subject's kind.
    pub kind: SubjectKind,
    /// The subject's ID.
    pub subject: String,
    /// `true` for entered, `false` for left.
    pub entered: bool,
    /// The instant of the change, Unix ms: the write's time, or the
    /// deadline that fell due.
    pub at: i64,
    /// What caused it.
    pub cause: Cause,
    /// For an entry caused by an event, that event.
    pub entry: Option<EntryEvent>,
}

/// One (segment, subject) the hook is asked about, as of `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivePair {
    /// The live segment's id.
    pub segment: u32,
    /// The subject's kind (the segment's).
    pub kind: SubjectKind,
    /// The subject's dense id.
    pub subject: u32,
    /// The instant to decide at, Unix ms.
    pub at: i64,
}

/// The hook's answer for one [`LivePair`].
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Whether the subject is a member at the pair's instant.
    pub member: bool,
    /// The next instant after it at which the answer can change by time
    /// alone, if any (earlier is allowed, later is not).
    pub next: Option<i64>,
    /// For an entry, the event that caused it (one of the write's); boxed,
    /// so that a verdict without one (nearly all) is small to move.
    pub entry: Option<Box<EventRecord>>,
}

/// Decides live memberships; installed by the layer that knows filters.
pub trait LiveHook: Send + Sync {
    /// One answer per pair, in order: a verdict, or `None` when the hook
    /// knows this write cannot change the pair (its bit and deadline
    /// stand; only for [`Cause::Write`]).
    fn decide(&self, ctx: &LiveContext<'_, '_>, pairs: &[LivePair])
        -> Result<Vec<Option<Verdict>>>;

    /// The event types whose arrival can change the segment's answer for
    /// a subject, or `None` when any type can. A write asks
    /// [`LiveHook::decide`] about a (segment, subject) only when one of
    /// its events for the subject has such a type, when it changes a tag
    /// or attribute of the subject, or when the subject was not in the
    /// universe before it; any other pair keeps its bit and deadline, as
    /// for a `None` verdict. The default: any type.
    fn triggers(
        &self,
        ctx: &LiveContext<'_, '_>,
        segment: u32,
    ) -> Result<Option<BTreeSet<String>>> {
        let _ = (ctx, segment);
        Ok(None)
    }

    /// Decides every subject of a live segment at once, as of `at`, from
    /// [`LiveContext::view`]: for a backfill (the store as it is), or for
    /// a bulk load's commit (the store as the commit leaves it; the store
    /// keeps the answers for the commit's subjects). The members, and each
    /// subject's next deadline by the same rule as [`Verdict::next`].
    /// `Ok(None)` when the hook cannot for this segment: the store then
    /// asks [`LiveHook::decide`] subject by subject. The default cannot.
    fn decide_all(
        &self,
        ctx: &LiveContext<'_, '_>,
        segment: u32,
        at: i64,
    ) -> Result<Option<AllVerdicts>> {
        let _ = (ctx, segment, at);
        Ok(None)
    }

    /// For pairs a write makes enter that were decided by
    /// [`LiveHook::decide_all`], the event each entry is credited to (as
    /// [`Verdict::entry`]), in order. The default asks
    /// [`LiveHook::decide`].
    fn entries(
        &self,
        ctx: &LiveContext<'_, '_>,
        pairs: &[LivePair],
    ) -> Result<Vec<Option<EventRecord>>> {
        Ok(self
            .decide(ctx, pairs)?
            .into_iter()
            .map(|v| v.and_then(|v| v.entry).map(|e| *e))
            .collect())
    }
}

/// A whole live segment decided at once ([`LiveHook::decide_all`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllVerdicts {
    /// The members at the instant decided (dense ids of the segment's
    /// kind).
    pub members: RoaringBitmap,
    /// Every subject whose answer can change by time alone, with the next
    /// instant it can (after the instant decided; earlier is allowed,
    /// later is not). A subject not listed has no deadline.
    pub deadlines: BTreeMap<u32, i64>,
}

/// The live segments in memory: definitions and members.
#[derive(Debug, Default, Clone)]
pub(crate) struct LiveState {
    pub defs: BTreeMap<u32, LiveDef>,
    pub members: HashMap<u32, RoaringBitmap>,
    /// For the writer: per segment, the subjects that have a deadline
    /// stored (a superset would do: a bit set only costs a read). A write
    /// reads a pair's old deadline only when its bit is set.
    pub scheduled: HashMap<u32, RoaringBitmap>,
    /// The sequence number the next change record will get.
    pub next_change: u64,
}

/// A write's changes to [`LiveState`], applied with its commit.
#[derive(Default)]
pub(crate) struct LiveDelta {
    /// (segment, subject) → member now.
    pub flips: HashMap<(u32, u32), bool>,
    /// (segment, subject) → has a deadline stored now.
    pub scheduled: HashMap<(u32, u32), bool>,
    /// Definitions set (`Some`) or removed (`None`).
    pub defs: Vec<(u32, Option<LiveDef>)>,
    /// The next change sequence number after this write, if it made any.
    pub next_change: Option<u64>,
    /// Histories that include this write's events, read while deciding:
    /// cached once it commits (`history.rs`); no more events than the
    /// cache holds (a bulk commit decided subject by subject touches far
    /// more), counted in `history_events`.
    pub histories: Vec<(crate::history::Key, crate::history::History)>,
    pub history_events: usize,
}

impl LiveDelta {
    pub fn apply(self, live: &mut LiveState) {
        for (id, def) in self.defs {
            match def {
                Some(def) => {
                    live.members.entry(id).or_default();
                    live.defs.insert(id, def);
                }
                None => {
                    live.defs.remove(&id);
                    live.members.remove(&id);
                    live.scheduled.remove(&id);
                }
            }
        }
        set_bits(&mut live.members, self.flips);
        set_bits(&mut live.scheduled, self.scheduled);
        if let Some(n) = self.next_change {
            live.next_change = n;
        }
    }
}

/// What the hook reads: the store as it will be once the write being
/// sealed commits (its events and profile changes included).
pub struct LiveContext<'p, 's> {
    store: &'p Store,
    pending: &'p Pending<'s>,
    cause: Cause,
    index: &'p WriteIndex,
    /// A bulk commit's view of itself ([`Store::commit_view`]).
    view: Option<&'p View<'p>>,
    /// Histories [`LiveContext::events`] made with this write's events:
    /// the store caches them if the write commits.
    kept: std::sync::Mutex<Vec<(crate::history::Key, History)>>,
}

/// A write's log and profile entries by subject (indexes into the
/// overlay's lists), made once per write: a bulk commit is decided in
/// chunks, and each chunk's context shares it.
#[derive(Default)]
pub(crate) struct WriteIndex {
    new_log: HashMap<(u8, u32), Vec<usize>>,
    new_profile: HashMap<(u8, u32), Vec<usize>>,
}

impl WriteIndex {
    pub(crate) fn of(pending: &Pending<'_>) -> WriteIndex {
        let mut new_log: HashMap<(u8, u32), Vec<usize>> = HashMap::default();
        for (i, e) in pending.o.log.iter().enumerate() {
            if let Some((kind, sid)) = keys::parse_subject_key(&e.key[..5]) {
                new_log.entry((kind.tag(), sid)).or_default().push(i);
            }
        }
        let mut new_profile: HashMap<(u8, u32), Vec<usize>> = HashMap::default();
        for (i, (k, _)) in pending.o.profile.iter().enumerate() {
            if let Some((kind, sid)) = keys::parse_subject_key(&k[..5]) {
                new_profile.entry((kind.tag(), sid)).or_default().push(i);
            }
        }
        WriteIndex {
            new_log,
            new_profile,
        }
    }
}

impl<'p, 's> LiveContext<'p, 's> {
    fn new(
        store: &'p Store,
        pending: &'p Pending<'s>,
        cause: Cause,
        index: &'p WriteIndex,
    ) -> LiveContext<'p, 's> {
        LiveContext {
            store,
            pending,
            cause,
            index,
            view: None,
            kept: std::sync::Mutex::default(),
        }
    }

    /// The histories this context made with the write's events (see
    /// `kept`).
    fn into_kept(self) -> Vec<(crate::history::Key, History)> {
        self.kept.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    /// Calls `f` with a view to decide whole segments from
    /// ([`LiveHook::decide_all`]):
    /// during a bulk load's commit, the store as that commit leaves it;
    /// otherwise the store as it is.
    pub fn with_view<R>(&self, f: impl FnOnce(&View<'_>) -> R) -> R {
        match self.view {
            Some(v) => f(v),
            None => f(&self.store.view()),
        }
    }

    /// Why the hook is asked.
    pub fn cause(&self) -> Cause {
        self.cause
    }

    /// Whether this write changes a tag or attribute of the subject.
    pub fn has_new_profile(&self, kind: SubjectKind, sid: u32) -> bool {
        self.index.new_profile.contains_key(&(kind.tag(), sid))
    }

    /// Whether the subject was in the universe at `at` before this write
    /// (a subject this write introduces was not).
    pub fn was_in_universe(&self, kind: SubjectKind, sid: u32, at: i64) -> bool {
        in_universe_before(self.pending, kind, sid, at)
    }

    /// The store (for saved segments; its events are read through
    /// [`LiveContext::events`], which includes the write being sealed).
    pub fn store(&self) -> &Store {
        self.store
    }

    /// A live segment's definition (as this write leaves it).
    pub fn def(&self, segment: u32) -> Option<&LiveDef> {
        self.pending
            .o
            .live
            .defs
            .iter()
            .rev()
            .find(|(id, _)| *id == segment)
            .map(|(_, d)| d.as_ref())
            .unwrap_or_else(|| self.pending.base.live.defs.get(&segment))
    }

    fn type_name(&self, id: u32) -> Result<String> {
        let (base, new) = (&self.pending.base.types, &self.pending.o.new_types);
        crate::state::name_of(base, new, id)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown event type id {id}")))
    }

    fn key_name(&self, id: u32) -> Result<String> {
        let (base, new) = (&self.pending.base.keys, &self.pending.o.new_keys);
        crate::state::name_of(base, new, id)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown data key id {id}")))
    }

    /// A subject's ID.
    pub fn subject_id(&self, kind: SubjectKind, sid: u32) -> Result<String> {
        let k = kind.tag() as usize;
        let stored = self.pending.base.facts[k].len();
        if let Some(i) = (sid as usize).checked_sub(stored) {
            return self.pending.o.new_subjects[k]
                .names
                .get(i)
                .map(|n| n.to_string())
                .ok_or_else(|| StoreError::Corrupt(format!("{kind} #{sid} has no name")));
        }
        let v = self
            .store
            .db
            .get_pinned_cf(self.store.cf(cf::DICT), keys::subject_rev_key(kind, sid))?
            .ok_or_else(|| StoreError::Corrupt(format!("{kind} #{sid} has no name")))?;
        String::from_utf8(v.to_vec())
            .map_err(|_| StoreError::Corrupt(format!("{kind} #{sid} has a name that is not UTF-8")))
    }

    /// The IDs of many subjects: read together in key order; for a good
    /// share of all of them, when the writer holds every ID in memory, one
    /// pass over that map instead (a bulk load's commit).
    fn subject_ids(
        &self,
        wanted: &std::collections::HashSet<(u8, u32)>,
    ) -> Result<HashMap<(u8, u32), String>> {
        let mut out = HashMap::with_capacity_and_hasher(wanted.len(), Default::default());
        let base = self.pending.base;
        // The pass costs the whole map: it pays for a good share of it,
        // not for a sweep round's thousand — except in a store opened for
        // bulk loads, where it is always taken: each read of the
        // dictionary sorts its whole write buffer.
        let mapped: usize = base.subjects.iter().map(|m| m.len()).sum();
        let pass = self.store.bulk_load || (wanted.len() > 64 && wanted.len() >= mapped / 16);
        if pass && !wanted.is_empty() && base.subject_map_loaded {
            for (k, map) in base.subjects.iter().enumerate() {
                for (name, &sid) in map {
                    if wanted.contains(&(k as u8, sid)) {
                        out.insert((k as u8, sid), name.to_string());
                    }
                }
            }
        }
        // The rest: the stored ones read together, in key order.
        let mut stored = Vec::new();
        for &(k, sid) in wanted {
            if out.contains_key(&(k, sid)) {
                continue;
            }
            let kind = SubjectKind::from_tag(k).expect("a valid kind");
            if (sid as usize) < base.facts[k as usize].len() {
                stored.push((kind, sid));
            } else {
                out.insert((k, sid), self.subject_id(kind, sid)?);
            }
        }
        stored.sort_unstable_by_key(|&(kind, sid)| (kind.tag(), sid));
        let keys: Vec<_> = stored
            .iter()
            .map(|&(kind, sid)| keys::subject_rev_key(kind, sid))
            .collect();
        let found = self
            .store
            .db
            .batched_multi_get_cf(self.store.cf(cf::DICT), &keys, true);
        for ((kind, sid), v) in stored.into_iter().zip(found) {
            let v = v?.ok_or_else(|| StoreError::Corrupt(format!("{kind} #{sid} has no name")))?;
            let id = String::from_utf8(v.to_vec()).map_err(|_| {
                StoreError::Corrupt(format!("{kind} #{sid} has a name that is not UTF-8"))
            })?;
            out.insert((kind.tag(), sid), id);
        }
        Ok(out)
    }

    fn record(&self, key: &[u8], value: &[u8], id: &str) -> Result<EventRecord> {
        let k = keys::parse_log_key(key)
            .ok_or_else(|| StoreError::Corrupt("malformed log key".into()))?;
        let stored: StoredEvent = codec::decode(value, "an event")?;
        Ok(EventRecord {
            subject_kind: k.kind,
            subject_id: id.to_owned(),
            event_type: self.type_name(stored.type_id)?,
            time: k.millis,
            seq: k.seq,
            data: stored
                .data
                .into_iter()
                .map(|(key_id, v)| Ok((self.key_name(key_id)?, v)))
                .collect::<Result<_>>()?,
        })
    }

    /// The events this write adds for the subject, in time order. Their
    /// `subject_id` is left empty, as in [`LiveContext::events`].
    pub fn new_events(&self, kind: SubjectKind, sid: u32) -> Result<Vec<EventRecord>> {
        let Some(entries) = self.index.new_log.get(&(kind.tag(), sid)) else {
            return Ok(Vec::new());
        };
        let id = "";
        let mut out = Vec::with_capacity(entries.len());
        for &i in entries {
            let e = &self.pending.o.log[i];
            out.push(self.record(&e.key, self.pending.log_value(e), id)?);
        }
        out.sort_by_key(|e| (e.time, e.seq));
        Ok(out)
    }

    /// Every event of the subject once this write commits, in time order.
    /// Their `subject_id` is left empty: the hook knows the subject by its
    /// pair, and reading the ID would cost a dictionary read per subject
    /// (during a bulk load, a sort of the dictionary's unsorted write
    /// buffer each time).
    ///
    /// Shared: a subject decided by an earlier write comes from the store's
    /// cache of decoded histories when its event count says the cached one
    /// is whole (`history.rs`), else from the log.
    pub fn events(&self, kind: SubjectKind, sid: u32) -> Result<History> {
        let key = (kind.tag(), sid);
        let new = self.index.new_log.get(&key);
        let cache = &self.store.histories;
        let stored = if !stored_before(self.pending, kind, sid) {
            // A subject this write introduces has nothing stored yet.
            None
        } else {
            let count = self.pending.base.facts[kind.tag() as usize][sid as usize].count;
            // A write adding events takes the entry out: it comes back,
            // with them, only if the write commits.
            let cached = if new.is_some() {
                cache.take(key, count)
            } else {
                cache.get(key, count)
            };
            match cached {
                Some(h) => Some(h),
                None => {
                    let h = Arc::new(self.stored_events(kind, sid)?);
                    if new.is_none() {
                        // The committed history, whatever this write does.
                        cache.put(key, h.clone());
                    }
                    Some(h)
                }
            }
        };
        let Some(entries) = new else {
            return Ok(stored.unwrap_or_default());
        };
        let mut out = match stored {
            // Unshared once the cache let it go: no copy.
            Some(h) => Arc::try_unwrap(h).unwrap_or_else(|h| (*h).clone()),
            None => Vec::with_capacity(entries.len()),
        };
        let stored_len = out.len();
        for &i in entries {
            let e = &self.pending.o.log[i];
            out.push(self.record(&e.key, self.pending.log_value(e), "")?);
        }
        // The stored events are in order; new ones usually follow them in
        // order too, and then nothing is sorted (a long history would be
        // compared through again on every write).
        let order = |e: &EventRecord| (e.time, e.seq);
        let (before, added) = out.split_at(stored_len);
        let follows = before
            .last()
            .zip(added.first())
            .is_none_or(|(a, b)| order(a) <= order(b));
        if !(follows && added.is_sorted_by_key(order)) {
            out.sort_by_key(order);
        }
        let out = Arc::new(out);
        if cache.keeps(out.len()) {
            self.kept
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((key, out.clone()));
        }
        Ok(out)
    }

    /// The subject's committed events, read from the log.
    fn stored_events(&self, kind: SubjectKind, sid: u32) -> Result<Vec<EventRecord>> {
        let visible = self.pending.base.next_seq;
        let mut out = Vec::new();
        let mut opts = rocksdb::ReadOptions::default();
        opts.set_iterate_lower_bound(keys::subject_key(kind, sid).to_vec());
        opts.set_iterate_upper_bound(keys::subject_end(kind, sid));
        let mut it = self
            .store
            .db
            .raw_iterator_cf_opt(self.store.cf(cf::LOG), opts);
        it.seek_to_first();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            // Keys at or past `next_seq` are an unfinished bulk commit's.
            if keys::seq_of(k).is_some_and(|s| s < visible) {
                out.push(self.record(k, v, "")?);
            }
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// The subject's tag and attribute history once this write commits.
    pub fn profile(&self, kind: SubjectKind, sid: u32) -> Result<Profile> {
        let mut profile = Profile::default();
        let mut add = |k: &[u8], v: &[u8]| {
            crate::profile::add_entry(&mut profile, kind, sid, k, v, |id| self.key_name(id).ok())
        };
        // A subject with no profile change stored (its facts say so, as
        // for the universe) has nothing to scan for.
        let stored = self.pending.base.facts[kind.tag() as usize]
            .get(sid as usize)
            .is_some_and(|f| f.profile_first != i64::MAX);
        if stored {
            let prefix = keys::subject_key(kind, sid);
            crate::load::scan_prefix(
                &self.store.db,
                self.store.cf(cf::PROFILE),
                &prefix,
                &mut add,
            )?;
        }
        if let Some(entries) = self.index.new_profile.get(&(kind.tag(), sid)) {
            for &i in entries {
                let (k, v) = &self.pending.o.profile[i];
                add(k, v)?;
            }
            let by_time = |h: &mut Vec<ProfileEntry>| h.sort_by_key(|e| (e.time, e.seq));
            profile.tags.values_mut().for_each(by_time);
            profile.attributes.values_mut().for_each(by_time);
        }
        Ok(profile)
    }
}

/// What [`Store::sweep`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReceipt {
    /// (segment, subject) pairs decided.
    pub decided: usize,
    /// Change records written.
    pub changes: usize,
    /// Whether deadlines at or before the sweep's instant remain (the
    /// round limit was reached).
    pub more: bool,
}

/// What [`Store::make_live`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackfillReceipt {
    /// The live segment's id.
    pub segment: u32,
    /// Subjects decided.
    pub decided: usize,
    /// Members after the backfill.
    pub members: u64,
    /// Change records written.
    pub changes: usize,
}

impl Store {
    /// Installs the hook that decides live memberships. Writes to a store
    /// with live segments are refused until one is installed.
    pub fn set_live_hook(&self, hook: Arc<dyn LiveHook>) {
        *self.live_hook.write().unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    fn live_hook(&self) -> Result<Arc<dyn LiveHook>> {
        self.live_hook
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(StoreError::NoLiveHook)
    }

    /// The live segments: (id, definition), by id.
    pub fn live_segments(&self) -> Vec<(u32, LiveDef)> {
        let state = self.read_state();
        state
            .live
            .defs
            .iter()
            .map(|(id, d)| (*id, d.clone()))
            .collect()
    }

    /// The kind of subjects the live segment named `name` selects.
    pub fn live_kind(&self, name: &str) -> Option<SubjectKind> {
        let state = self.read_state();
        let id = find_live(&state, name)?;
        state.live.defs.get(&id).map(|d| d.kind)
    }

    /// The id of the live segment named `name`.
    pub fn live_segment_id(&self, name: &str) -> Option<u32> {
        let state = self.read_state();
        find_live(&state, name)
    }

    /// Whether a subject is a member of a live segment now (as of the last
    /// committed write or sweep); `None` if no live segment has that name.
    pub fn is_live_member(&self, name: &str, kind: SubjectKind, sid: u32) -> Option<bool> {
        let state = self.read_state();
        let id = find_live(&state, name)?;
        let of_kind = state.live.defs[&id].kind == kind;
        Some(of_kind && state.live.members.get(&id).is_some_and(|b| b.contains(sid)))
    }

    /// When a subject's membership of a live segment is next looked at by
    /// time alone (its deadline; it may find nothing changed), if ever;
    /// `Ok(None)` too if no live segment has that name.
    pub fn live_deadline(&self, name: &str, kind: SubjectKind, sid: u32) -> Result<Option<i64>> {
        let Some(id) = find_live(&self.read_state(), name) else {
            return Ok(None);
        };
        match self
            .db
            .get_pinned_cf(self.cf(cf::LIVE), keys::live::reverse(id, kind, sid))?
        {
            Some(v) => Ok(Some(be_i64(&v)?)),
            None => Ok(None),
        }
    }

    /// The members of a live segment now, as dense ids.
    pub fn live_members(&self, name: &str) -> Option<RoaringBitmap> {
        let state = self.read_state();
        let id = find_live(&state, name)?;
        Some(state.live.members.get(&id).cloned().unwrap_or_default())
    }

    /// The sequence number the next change record will get.
    pub fn next_change_seq(&self) -> u64 {
        self.read_state().live.next_change
    }

    /// Change records after `after` (exclusive; 0 reads from the start),
    /// oldest first, at most `limit`, only those of `segment` when given.
    /// Only records already durable are returned: a record a reader saw
    /// is never taken back by a crash.
    pub fn changes(&self, after: u64, segment: Option<&str>, limit: usize) -> Result<Vec<Change>> {
        let Some(family) = self.db.cf_handle(cf::CHANGES) else {
            return Ok(Vec::new());
        };
        let through = if self.is_read_only() {
            u64::MAX
        } else {
            self.durable_change.load(Ordering::Acquire)
        };
        let mut opts = rocksdb::ReadOptions::default();
        opts.set_iterate_lower_bound(after.saturating_add(1).to_be_bytes().to_vec());
        let mut it = self.db.raw_iterator_cf_opt(family, opts);
        it.seek_to_first();
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if out.len() >= limit {
                break;
            }
            let seq = <[u8; 8]>::try_from(k)
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Corrupt("malformed change key".into()))?;
            if seq >= through {
                break;
            }
            let change: Change = codec::decode(v, "a change record")?;
            if segment.is_none_or(|s| s == change.segment) {
                out.push(change);
            }
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Retention: deletes the change records older than `cutoff` (their
    /// instant), from the oldest up to the first record at or after it
    /// (the feed is in commit order, which is time order but for
    /// backfills of past instants, so nothing newer is ever deleted).
    /// Returns how many were deleted.
    pub fn trim_changes(&self, cutoff: i64) -> Result<u64> {
        let _writer = self.writer.lock();
        self.check_writable()?;
        let family = self.cf(cf::CHANGES);
        let mut it = self.db.raw_iterator_cf(family);
        it.seek_to_first();
        let mut first_kept = None;
        let mut deleted = 0u64;
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let change: Change = codec::decode(v, "a change record")?;
            if change.at >= cutoff {
                first_kept = Some(k.to_vec());
                break;
            }
            deleted += 1;
            it.next();
        }
        it.status()?;
        if deleted == 0 {
            return Ok(0);
        }
        let end = first_kept.unwrap_or_else(|| u64::MAX.to_be_bytes().to_vec());
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(family, &0u64.to_be_bytes()[..], &end[..]);
        let mut w = rocksdb::WriteOptions::default();
        w.set_sync(true);
        self.db.write_opt(batch, &w)?;
        Ok(deleted)
    }

    /// The earliest deadline in the index, if any.
    pub fn next_deadline(&self) -> Result<Option<i64>> {
        let Some(family) = self.db.cf_handle(cf::LIVE) else {
            return Ok(None);
        };
        let mut it = self.db.raw_iterator_cf(family);
        it.seek(self.deadline_scan_start());
        match it.key() {
            Some(k) if k.first() == Some(&keys::live::DEADLINE) => {
                Ok(keys::live::parse_deadline(k).map(|(t, ..)| t))
            }
            _ => {
                it.status()?;
                Ok(None)
            }
        }
    }

    /// Where scans of the deadline index start (see `Store::live_floor`).
    fn deadline_scan_start(&self) -> Vec<u8> {
        let floor = self.live_floor.lock();
        if floor.is_empty() {
            vec![keys::live::DEADLINE]
        } else {
            floor.clone()
        }
    }

    /// No deadline is earlier than this (from the floor of the index).
    fn earliest_possible_deadline(&self) -> i64 {
        let floor = self.live_floor.lock();
        match floor.first() {
            None => i64::MIN,
            Some(&keys::live::DEADLINE) => {
                keys::live::parse_deadline(&floor).map_or(i64::MIN, |d| d.0)
            }
            // Past every deadline key.
            Some(_) => i64::MAX,
        }
    }

    /// Lowers the floor of the deadline index to a deadline key being put.
    fn lower_floor(&self, key: &[u8]) {
        let mut floor = self.live_floor.lock();
        if !floor.is_empty() && key < floor.as_slice() {
            *floor = key.to_vec();
        }
    }

    /// Makes a segment live (or, if it is live already, re-decides every
    /// subject against its new filter): every subject of `kind` is decided
    /// as of `now`, in chunks of [`BACKFILL_CHUNK`], each one batch with
    /// its change records. Writes wait meanwhile.
    pub fn make_live(
        &self,
        name: &str,
        kind: SubjectKind,
        filter: &str,
        now: i64,
    ) -> Result<BackfillReceipt> {
        let _writer = self.writer.lock();
        self.check_writable()?;
        self.live_hook()?;
        // Never decide before an instant already decided at.
        let now = now.max(self.live_clock.load(Ordering::Acquire));
        // What fell due before `now` is recorded first, at its instants.
        self.catch_up_locked(now)?;
        let (id, existing) = {
            let state = self.read_state();
            match find_live(&state, name) {
                Some(id) => (id, state.live.defs.get(&id).cloned()),
                None => (
                    state.live.defs.keys().next_back().map_or(0, |id| id + 1),
                    None,
                ),
            }
        };
        if let Some(old) = &existing {
            if old.kind != kind {
                // Another kind: the old members are of the other kind.
                self.drop_live_locked(id, now)?;
            }
        }
        let def = LiveDef {
            name: name.to_owned(),
            kind,
            filter: filter.to_owned(),
            ready: false,
        };
        self.put_def_locked(id, &def)?;
        let receipt = self.backfill_locked(id, now)?;
        self.put_def_locked(id, &LiveDef { ready: true, ..def })?;
        Ok(receipt)
    }

    /// Finishes every backfill a crash cut short, as of `now`, with the
    /// segment's saved filter as it is now (a save whose refresh was cut
    /// short left it not ready); a segment no longer saved stops being
    /// live.
    pub fn finish_backfills(&self, now: i64) -> Result<usize> {
        let unfinished: Vec<(u32, LiveDef)> = self
            .live_segments()
            .into_iter()
            .filter(|(_, d)| !d.ready)
            .collect();
        for (_, def) in &unfinished {
            match self.segment(&def.name)? {
                Some(saved) => {
                    self.make_live(&def.name, saved.kind, &saved.filter, now)?;
                }
                None => {
                    self.stop_live(&def.name, now)?;
                }
            }
        }
        Ok(unfinished.len())
    }

    /// Marks live segments not ready, durably, before a change to the
    /// saved segments they reach: if the refresh that follows is cut
    /// short, the next open decides them again ([`Store::finish_backfills`]).
    pub fn mark_live_unready(&self, names: &[String]) -> Result<()> {
        let _writer = self.writer.lock();
        self.check_writable()?;
        for (id, def) in self.live_segments() {
            if names.contains(&def.name) && def.ready {
                self.put_def_locked(
                    id,
                    &LiveDef {
                        ready: false,
                        ..def
                    },
                )?;
            }
        }
        Ok(())
    }

    /// Stops keeping a segment live as of `now`: each member gets a `left`
    /// record (cause `stop`), then its definition, members and deadlines
    /// are removed (its earlier records stay in the feed).
    /// Returns whether it was live.
    pub fn stop_live(&self, name: &str, now: i64) -> Result<bool> {
        let _writer = self.writer.lock();
        self.check_writable()?;
        let now = now.max(self.live_clock.load(Ordering::Acquire));
        self.catch_up_locked(now)?;
        let id = {
            let state = self.read_state();
            find_live(&state, name)
        };
        match id {
            Some(id) => self.drop_live_locked(id, now).map(|()| true),
            None => Ok(false),
        }
    }

    fn put_def_locked(&self, id: u32, def: &LiveDef) -> Result<()> {
        self.commit_built(crate::Durability::Sync, |pending, batch| {
            batch.put_cf(self.cf(cf::LIVE), keys::live::def(id), codec::encode(def));
            pending.o.live.defs.push((id, Some(def.clone())));
            Ok(0)
        })?;
        Ok(())
    }

    /// Builds one batch over an overlay of the state as it is (the writer
    /// lock held) and commits it with the overlay's changes; returns what
    /// `build` returned (change records written).
    fn commit_built(
        &self,
        durability: crate::Durability,
        build: impl FnOnce(&mut Pending<'_>, &mut WriteBatch) -> Result<usize>,
    ) -> Result<usize> {
        let state = self.read_state();
        let mut pending = Pending::new(&state, self.limits);
        let mut batch = WriteBatch::default();
        let made = build(&mut pending, &mut batch)?;
        let changes = pending.into_changes();
        drop(state);
        self.commit(batch, durability, changes)?;
        Ok(made)
    }

    fn drop_live_locked(&self, id: u32, now: i64) -> Result<()> {
        let live = self.cf(cf::LIVE);
        let mut batch = WriteBatch::default();
        batch.delete_cf(live, keys::live::def(id));
        // Its members leave, in the same batch: the feed replayed still
        // gives every live segment's members.
        let state = self.read_state();
        let mut pending = Pending::new(&state, self.limits);
        let (name, kind) = match state.live.defs.get(&id) {
            Some(d) => (d.name.clone(), d.kind),
            None => return Ok(()),
        };
        let members: Vec<u32> = state
            .live
            .members
            .get(&id)
            .map(|b| b.iter().collect())
            .unwrap_or_default();
        let wanted = members.iter().map(|&sid| (kind.tag(), sid)).collect();
        let none = WriteIndex::default();
        let names = LiveContext::new(self, &pending, Cause::Stop, &none).subject_ids(&wanted)?;
        let mut next_change = state.live.next_change;
        for sid in &members {
            let change = Change {
                seq: next_change,
                segment: name.clone(),
                kind,
                subject: names[&(kind.tag(), *sid)].clone(),
                entered: false,
                at: now,
                cause: Cause::Stop,
                entry: None,
            };
            batch.put_cf(
                self.cf(cf::CHANGES),
                next_change.to_be_bytes(),
                codec::encode(&change),
            );
            next_change += 1;
        }
        if !members.is_empty() {
            batch.put_cf(
                self.cf(cf::META),
                meta::NEXT_CHANGE,
                next_change.to_be_bytes(),
            );
            pending.o.live.next_change = Some(next_change);
        }
        let mut it = self.db.raw_iterator_cf(live);
        for prefix in [
            keys::live::member_prefix(id),
            keys::live::reverse_prefix(id),
        ] {
            it.seek(prefix);
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                if !k.starts_with(&prefix) {
                    break;
                }
                if k[0] == keys::live::REVERSE {
                    let (_, kind, sid) = keys::live::parse_pair(&k[1..])
                        .ok_or_else(|| StoreError::Corrupt("malformed deadline".into()))?;
                    let at = be_i64(v)?;
                    batch.delete_cf(live, keys::live::deadline(at, id, kind, sid));
                }
                batch.delete_cf(live, k);
                it.next();
            }
            it.status()?;
        }
        pending.o.live.defs.push((id, None));
        let changes = pending.into_changes();
        drop(state);
        self.commit(batch, crate::Durability::Sync, changes)?;
        Ok(())
    }

    fn backfill_locked(&self, id: u32, now: i64) -> Result<BackfillReceipt> {
        let kind = self.read_state().live.defs[&id].kind;
        let subjects = self.read_state().facts[kind.tag() as usize].len() as u32;
        let mut receipt = BackfillReceipt {
            segment: id,
            ..Default::default()
        };
        let all = {
            let state = self.read_state();
            let pending = Pending::new(&state, self.limits);
            let none = WriteIndex::default();
            let ctx = LiveContext::new(self, &pending, Cause::Backfill, &none);
            self.live_hook()?.decide_all(&ctx, id, now)?
        };
        if let Some(all) = all {
            return self.backfill_all_locked(id, kind, subjects, now, all, receipt);
        }
        let mut from = 0u32;
        while from < subjects {
            let to = subjects.min(from.saturating_add(BACKFILL_CHUNK as u32));
            let pairs: Vec<LivePair> = (from..to)
                .map(|subject| LivePair {
                    segment: id,
                    kind,
                    subject,
                    at: now,
                })
                .collect();
            let made = self.commit_decisions(Cause::Backfill, &pairs, crate::Durability::Sync)?;
            receipt.decided += pairs.len();
            receipt.changes += made;
            from = to;
        }
        receipt.members = self
            .read_state()
            .live
            .members
            .get(&id)
            .map_or(0, |b| b.len());
        Ok(receipt)
    }

    /// The backfill of a segment the hook decided at once: only the
    /// subjects whose bit or deadline moves are written, in chunks of
    /// [`BACKFILL_CHUNK`], each one batch, the last synced.
    fn backfill_all_locked(
        &self,
        id: u32,
        kind: SubjectKind,
        subjects: u32,
        now: i64,
        all: AllVerdicts,
        mut receipt: BackfillReceipt,
    ) -> Result<BackfillReceipt> {
        let out_of_range = all.members.max().filter(|&m| m >= subjects).or_else(|| {
            all.deadlines
                .last_key_value()
                .map(|(&s, _)| s)
                .filter(|&s| s >= subjects)
        });
        if let Some(sid) = out_of_range {
            return Err(StoreError::Live(format!(
                "the live hook decided {kind} #{sid}, of {subjects}"
            )));
        }
        if let Some((sid, at)) = all.deadlines.iter().find(|(_, &at)| at <= now) {
            return Err(StoreError::Live(format!(
                "the live hook gave {kind} #{sid} a next deadline ({at}) not after the instant decided ({now})"
            )));
        }
        self.live_clock.fetch_max(now, Ordering::AcqRel);
        let old_members = self
            .read_state()
            .live
            .members
            .get(&id)
            .cloned()
            .unwrap_or_default();
        // Subjects with a deadline now: their deadline may move or go.
        let mut touched = &all.members ^ &old_members;
        let mut old_deadlines = HashMap::default();
        let prefix = keys::live::reverse_prefix(id);
        let mut it = self.db.raw_iterator_cf(self.cf(cf::LIVE));
        it.seek(prefix);
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if !k.starts_with(&prefix) {
                break;
            }
            let (_, _, sid) = keys::live::parse_pair(&k[1..])
                .ok_or_else(|| StoreError::Corrupt("malformed deadline".into()))?;
            touched.insert(sid);
            old_deadlines.insert(sid, be_i64(v)?);
            it.next();
        }
        it.status()?;
        drop(it);
        touched.extend(all.deadlines.keys().copied());
        let touched: Vec<u32> = touched.into_iter().collect();
        let chunks = touched.len().div_ceil(BACKFILL_CHUNK);
        for (n, chunk) in touched.chunks(BACKFILL_CHUNK).enumerate() {
            let pairs: Vec<LivePair> = chunk
                .iter()
                .map(|&subject| LivePair {
                    segment: id,
                    kind,
                    subject,
                    at: now,
                })
                .collect();
            let verdicts = chunk
                .iter()
                .map(|sid| {
                    Some(Verdict {
                        member: all.members.contains(*sid),
                        next: all.deadlines.get(sid).copied(),
                        entry: None,
                    })
                })
                .collect();
            let old = chunk
                .iter()
                .map(|s| old_deadlines.get(s).copied())
                .collect();
            // One sync at the end makes every chunk durable (the log is
            // written in order); until then the segment is not ready, and
            // a crash is followed by deciding it again.
            let durability = if n + 1 == chunks {
                crate::Durability::Sync
            } else {
                crate::Durability::Buffered
            };
            receipt.changes += self.commit_built(durability, |pending, batch| {
                let none = WriteIndex::default();
                self.apply_verdicts(
                    pending,
                    batch,
                    Cause::Backfill,
                    &pairs,
                    verdicts,
                    old,
                    &none,
                )
            })?;
        }
        receipt.decided = subjects as usize;
        receipt.members = all.members.len();
        Ok(receipt)
    }

    /// Decides the pairs whose deadline is at or before `now`, each at its
    /// own instant, in rounds of at most [`SWEEP_ROUND`] pairs (one batch
    /// each), at most `max_rounds` rounds, then makes them durable with
    /// one sync. A pair whose next deadline is also due is decided again
    /// in a later round, so that each change keeps its own instant.
    pub fn sweep(&self, now: i64, max_rounds: usize) -> Result<SweepReceipt> {
        let mut receipt = SweepReceipt::default();
        if self.is_read_only() || self.read_state().live.defs.is_empty() {
            return Ok(receipt);
        }
        let mut caught_up = false;
        let mut failed = None;
        for _ in 0..max_rounds {
            let writer = self.writer.lock();
            let round = self
                .check_writable()
                .and_then(|()| self.sweep_round_locked(now));
            // Handed straight to a write waiting for it, if any: a wave of
            // rounds must not take the lock back before the write runs.
            parking_lot::MutexGuard::unlock_fair(writer);
            match round {
                Ok(Some((decided, changes))) => {
                    receipt.decided += decided;
                    receipt.changes += changes;
                }
                Ok(None) => {
                    caught_up = true;
                    break;
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        // Outside the lock: writes go on while the log is synced, and the
        // records become visible to readers (`Store::changes`) then —
        // those of earlier rounds even if a later one failed.
        if receipt.decided > 0 {
            self.sync()?;
        }
        if let Some(e) = failed {
            return Err(e);
        }
        if !caught_up {
            receipt.more = self.next_deadline()?.is_some_and(|t| t <= now);
        }
        Ok(receipt)
    }

    /// One sweep round, the writer lock held: (pairs decided, changes
    /// made), or `None` when nothing is due.
    fn sweep_round_locked(&self, now: i64) -> Result<Option<(usize, usize)>> {
        let (pairs, next_key) = self.due(now, SWEEP_ROUND)?;
        // Nothing is being written (the writer lock is held): the floor
        // goes past the keys this round takes, to the next one (or past
        // every deadline key) — before the round decides, so that a
        // deadline it puts below lowers it again. If the round fails or
        // panics, the keys it took are still there: the guard puts the
        // floor back to the start.
        *self.live_floor.lock() = next_key.unwrap_or_else(|| vec![keys::live::DEADLINE + 1]);
        if pairs.is_empty() {
            return Ok(None);
        }
        let guard = FloorGuard(self);
        // Not synced: the caller syncs once after its rounds.
        let made = self.commit_decisions(Cause::Time, &pairs, crate::Durability::Buffered)?;
        std::mem::forget(guard);
        Ok(Some((pairs.len(), made)))
    }

    /// Decides `pairs` (no write of events with them: a sweep round or a
    /// backfill chunk) and commits what changed as one batch; returns how
    /// many change records it wrote.
    fn commit_decisions(
        &self,
        cause: Cause,
        pairs: &[LivePair],
        durability: crate::Durability,
    ) -> Result<usize> {
        self.commit_built(durability, |pending, batch| {
            let none = WriteIndex::default();
            self.decide_pairs(pending, batch, cause, pairs, &none, &mut Moved::default())
        })
    }

    /// Before a write at `now` (the writer lock held): every deadline due
    /// by then is swept first, each at its own instant, so that a change
    /// time made is recorded as time's, not swallowed by the write that
    /// decides the same pair later.
    pub(crate) fn catch_up_locked(&self, now: i64) -> Result<()> {
        if self.read_state().live.defs.is_empty() {
            return Ok(());
        }
        let mut swept = false;
        let rounds = loop {
            match self.sweep_round_locked(now) {
                Ok(Some(_)) => swept = true,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        // What earlier rounds committed is made durable (and visible)
        // even if a later one failed.
        if swept {
            self.sync()?;
        }
        rounds
    }

    /// Up to `limit` pairs whose deadline is at or before `now`, earliest
    /// first, and the deadline key after them, if any.
    fn due(&self, now: i64, limit: usize) -> Result<(Vec<LivePair>, Option<Vec<u8>>)> {
        let mut it = self.db.raw_iterator_cf(self.cf(cf::LIVE));
        it.seek(self.deadline_scan_start());
        let mut out = Vec::new();
        let mut next_key = None;
        while let Some(k) = it.key() {
            if k.first() != Some(&keys::live::DEADLINE) {
                break;
            }
            let (at, segment, kind, subject) = keys::live::parse_deadline(k)
                .ok_or_else(|| StoreError::Corrupt("malformed deadline".into()))?;
            if at > now || out.len() >= limit {
                next_key = Some(k.to_vec());
                break;
            }
            out.push(LivePair {
                segment,
                kind,
                subject,
                at,
            });
            it.next();
        }
        it.status()?;
        Ok((out, next_key))
    }

    /// The live part of a write's batch: the live segments of each
    /// touched subject's kind that the write can change (see
    /// [`affected_pairs`]) are decided as of `now`; the others keep their
    /// answer, which holds at `now` too. Called by every
    /// write path before its batch is sealed; with `catch_up`, the touched
    /// subjects' deadlines that fell due by `now` are decided first
    /// ([`Store::catch_up_touched`]; a bulk commit sweeps everything due
    /// before instead). With `view` (a bulk commit's view of itself,
    /// [`Store::commit_view`]), each segment is first offered to
    /// [`LiveHook::decide_all`]: one evaluation of the whole segment
    /// instead of one per subject of the commit; the segments it declines
    /// are decided subject by subject.
    pub(crate) fn put_live(
        &self,
        pending: &mut Pending<'_>,
        batch: &mut WriteBatch,
        now: i64,
        catch_up: bool,
        view: Option<&View<'_>>,
    ) -> Result<()> {
        if pending.base.live.defs.is_empty() || pending.o.facts.is_empty() {
            return Ok(());
        }
        // Never decide before an instant already decided at (a sweep that
        // ran while this write waited for the writer lock).
        let now = now.max(self.live_clock.load(Ordering::Acquire));
        let mut touched: Vec<(u8, u32)> = pending.o.facts.keys().copied().collect();
        touched.sort_unstable();
        let base = pending.base;
        let mut segments: Vec<u32> = base.live.defs.keys().copied().collect();
        let mut moved = Moved::default();
        // Usually nothing at all is due (the sweep keeps up): the floor of
        // the deadline index says so without making or reading a pair.
        let index = WriteIndex::of(pending);
        if catch_up && self.earliest_possible_deadline() <= now {
            // Every pair of the write's subjects (no type rules out a
            // deadline).
            let every = vec![None; segments.len()];
            let pairs = affected_pairs(pending, &index, &touched, &segments, &every, now);
            self.catch_up_touched(pending, batch, pairs, now, &mut moved)?;
        }
        if let Some(view) = view {
            let hook = self.live_hook()?;
            let mut declined = Vec::new();
            for segment in segments {
                // A segment of a kind the commit does not touch has
                // nothing to decide (and nothing to evaluate).
                let kind = base.live.defs[&segment].kind.tag();
                if !touched.iter().any(|&(k, _)| k == kind) {
                    continue;
                }
                let all = {
                    let ctx = LiveContext {
                        view: Some(view),
                        ..LiveContext::new(self, pending, Cause::Write, &index)
                    };
                    hook.decide_all(&ctx, segment, now)?
                };
                match all {
                    Some(all) => {
                        self.settle_all(
                            pending, batch, segment, &touched, &all, now, &index, &mut moved,
                        )?;
                    }
                    None => declined.push(segment),
                }
            }
            segments = declined;
        }
        // Only segments of a kind the write touches (a segment of the
        // other kind is not even compiled).
        segments.retain(|s| {
            let kind = base.live.defs[s].kind.tag();
            touched.iter().any(|&(k, _)| k == kind)
        });
        let triggers = self.write_triggers(pending, &segments, &index)?;
        // A few thousand subjects at a time, each with all its segments
        // (its history is read once): a bulk load's commit touching
        // hundreds of thousands of subjects holds the verdicts of one
        // chunk, not of every pair (and of the histories read, at most the
        // cache's budget, kept for after the commit).
        for chunk in touched.chunks(DECIDE_CHUNK) {
            let pairs = affected_pairs(pending, &index, chunk, &segments, &triggers, now);
            self.decide_pairs(pending, batch, Cause::Write, &pairs, &index, &mut moved)?;
        }
        // Every pair of the write's subjects is decided at `now`, those it
        // cannot change included: no later decision goes before it.
        self.live_clock.fetch_max(now, Ordering::AcqRel);
        Ok(())
    }

    /// Per segment (in `segments`' order), the ids of the event types
    /// whose arrival can change it ([`LiveHook::triggers`]), sorted, or
    /// `None` for any. A name with no id yet cannot be among the write's
    /// types, and is left out.
    fn write_triggers(
        &self,
        pending: &Pending<'_>,
        segments: &[u32],
        index: &WriteIndex,
    ) -> Result<Vec<Option<Vec<u32>>>> {
        let hook = self.live_hook()?;
        let ctx = LiveContext::new(self, pending, Cause::Write, index);
        let id_of = |name: &str| {
            pending
                .base
                .types
                .get(name)
                .or_else(|| pending.o.new_types.get(name))
        };
        segments
            .iter()
            .map(|&segment| {
                Ok(hook.triggers(&ctx, segment)?.map(|names| {
                    let mut ids: Vec<u32> = names.iter().filter_map(|n| id_of(n)).collect();
                    ids.sort_unstable();
                    ids
                }))
            })
            .collect()
    }

    /// Puts a whole segment's verdicts ([`LiveHook::decide_all`]) for a
    /// write's subjects into `batch`, in one go (the change records' IDs
    /// are found in one pass); entries get their entry events from
    /// [`LiveHook::entries`].
    #[allow(clippy::too_many_arguments)]
    fn settle_all(
        &self,
        pending: &mut Pending<'_>,
        batch: &mut WriteBatch,
        segment: u32,
        touched: &[(u8, u32)],
        all: &AllVerdicts,
        at: i64,
        index: &WriteIndex,
        moved: &mut Moved,
    ) -> Result<()> {
        let hook = self.live_hook()?;
        let kind = pending.base.live.defs[&segment].kind;
        let pairs: Vec<LivePair> = touched
            .iter()
            .filter(|(k, _)| *k == kind.tag())
            .map(|&(_, subject)| LivePair {
                segment,
                kind,
                subject,
                at,
            })
            .collect();
        let mut verdicts: Vec<Option<Verdict>> = pairs
            .iter()
            .map(|p| {
                Some(Verdict {
                    member: all.members.contains(p.subject),
                    next: all.deadlines.get(&p.subject).copied(),
                    entry: None,
                })
            })
            .collect();
        let entering: Vec<usize> = (0..pairs.len())
            .filter(|&i| {
                verdicts[i].as_ref().is_some_and(|v| v.member) && !bit_before(pending, &pairs[i])
            })
            .collect();
        if !entering.is_empty() {
            let asked: Vec<LivePair> = entering.iter().map(|&i| pairs[i]).collect();
            let entries = {
                let ctx = LiveContext::new(self, pending, Cause::Write, index);
                hook.entries(&ctx, &asked)?
            };
            if entries.len() != asked.len() {
                return Err(StoreError::Live(format!(
                    "the live hook gave {} entry events for {} entries",
                    entries.len(),
                    asked.len()
                )));
            }
            for (i, entry) in entering.into_iter().zip(entries) {
                if let Some(v) = &mut verdicts[i] {
                    v.entry = entry.map(Box::new);
                }
            }
        }
        self.settle(pending, batch, Cause::Write, &pairs, verdicts, index, moved)?;
        Ok(())
    }

    /// Before a write decides its subjects at `now`: those of their pairs
    /// whose deadline fell due by then and was not swept yet are decided
    /// first, each at its own instant and on the history before the write
    /// (cause `time`), in the write's batch — so a change time made is
    /// recorded as time's, not swallowed by the write. Other subjects'
    /// due deadlines are left to the sweep: a write never waits for a wave
    /// of them (a midnight's birthdays). [`Store::put_live`] calls it only
    /// when the index's floor shows something may be due.
    fn catch_up_touched(
        &self,
        pending: &mut Pending<'_>,
        batch: &mut WriteBatch,
        mut pairs: Vec<LivePair>,
        now: i64,
        moved: &mut Moved,
    ) -> Result<()> {
        // A subject this write introduces has no deadline yet.
        pairs.retain(|p| stored_before(pending, p.kind, p.subject));
        let before = WriteIndex::default();
        let mut first = true;
        while !pairs.is_empty() {
            let deadlines = self.deadlines_of(pending.base, &pairs, moved)?;
            if std::mem::take(&mut first) {
                // The write's own decisions read them from here, not again
                // from the store.
                for (p, d) in pairs.iter().zip(&deadlines) {
                    moved.insert((p.segment, p.subject), *d);
                }
            }
            let due: Vec<LivePair> = pairs
                .iter()
                .zip(deadlines)
                .filter_map(|(p, d)| d.filter(|&d| d <= now).map(|at| LivePair { at, ..*p }))
                .collect();
            if !due.is_empty() {
                self.decide_pairs(pending, batch, Cause::Time, &due, &before, moved)?;
            }
            // Only a pair just decided can be due again.
            pairs = due;
        }
        Ok(())
    }

    /// Each pair's deadline as the batch being built leaves it (`moved`)
    /// or else as stored (its reverse key, read in key order: RocksDB
    /// would sort them otherwise, slower), in the pairs' order.
    fn deadlines_of(
        &self,
        base: &State,
        pairs: &[LivePair],
        moved: &Moved,
    ) -> Result<Vec<Option<i64>>> {
        let mut out = vec![None; pairs.len()];
        let unknown: Vec<usize> = (0..pairs.len())
            .filter(
                |&i| match moved.get(&(pairs[i].segment, pairs[i].subject)) {
                    Some(&d) => {
                        out[i] = d;
                        false
                    }
                    // Not moved by this batch: stored, if its bit says so.
                    None => base
                        .live
                        .scheduled
                        .get(&pairs[i].segment)
                        .is_some_and(|b| b.contains(pairs[i].subject)),
                },
            )
            .collect();
        let reverse: Vec<_> = unknown
            .iter()
            .map(|&i| keys::live::reverse(pairs[i].segment, pairs[i].kind, pairs[i].subject))
            .collect();
        let mut order: Vec<usize> = (0..reverse.len()).collect();
        order.sort_unstable_by_key(|&i| reverse[i]);
        let sorted_keys: Vec<_> = order.iter().map(|&i| reverse[i]).collect();
        let found = self
            .db
            .batched_multi_get_cf(self.cf(cf::LIVE), &sorted_keys, true);
        for (i, found) in order.into_iter().zip(found) {
            out[unknown[i]] = match found? {
                Some(b) => Some(be_i64(&b)?),
                None => None,
            };
        }
        Ok(out)
    }

    /// Asks the hook about `pairs` and puts what changed into `batch`:
    /// flipped membership bits, a change record per flip, moved
    /// deadlines. Returns how many change records it wrote.
    fn decide_pairs(
        &self,
        pending: &mut Pending<'_>,
        batch: &mut WriteBatch,
        cause: Cause,
        pairs: &[LivePair],
        index: &WriteIndex,
        moved: &mut Moved,
    ) -> Result<usize> {
        if pairs.is_empty() {
            return Ok(0);
        }
        let hook = self.live_hook()?;
        let (verdicts, kept) = {
            let ctx = LiveContext::new(self, pending, cause, index);
            let verdicts = hook.decide(&ctx, pairs)?;
            (verdicts, ctx.into_kept())
        };
        let live = &mut pending.o.live;
        for (key, history) in kept {
            let events = crate::history::weight(history.len());
            if live.history_events + events > self.histories.budget() {
                break;
            }
            live.history_events += events;
            live.histories.push((key, history));
        }
        self.settle(pending, batch, cause, pairs, verdicts, index, moved)
    }

    /// Checks the hook's verdicts on `pairs` and puts them into `batch`
    /// (see [`Store::decide_pairs`]). Returns how many change records it
    /// wrote.
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &self,
        pending: &mut Pending<'_>,
        batch: &mut WriteBatch,
        cause: Cause,
        pairs: &[LivePair],
        verdicts: Vec<Option<Verdict>>,
        index: &WriteIndex,
        moved: &mut Moved,
    ) -> Result<usize> {
        let latest = pairs.iter().map(|p| p.at).max().unwrap_or(i64::MIN);
        self.live_clock.fetch_max(latest, Ordering::AcqRel);
        if verdicts.len() != pairs.len() {
            return Err(StoreError::Live(format!(
                "the live hook answered {} pairs of {}",
                verdicts.len(),
                pairs.len()
            )));
        }
        if cause != Cause::Write && verdicts.iter().any(Option::is_none) {
            return Err(StoreError::Live(format!(
                "the live hook left a pair undecided for {}",
                cause.as_str()
            )));
        }
        // Deadlines before, read only where they matter: a pair left
        // unchanged keeps its own (a subject this write introduces has no
        // bit in `scheduled`, so `deadlines_of` reads nothing for it).
        let wanted: Vec<usize> = (0..pairs.len())
            .filter(|&i| verdicts[i].is_some())
            .collect();
        let read: Vec<LivePair> = wanted.iter().map(|&i| pairs[i]).collect();
        let mut old = vec![None; pairs.len()];
        for (i, d) in wanted
            .into_iter()
            .zip(self.deadlines_of(pending.base, &read, moved)?)
        {
            old[i] = d;
        }
        for (p, v) in pairs.iter().zip(&verdicts) {
            if let Some(v) = v {
                moved.insert((p.segment, p.subject), v.next);
            }
        }
        self.apply_verdicts(pending, batch, cause, pairs, verdicts, old, index)
    }

    /// Puts the hook's verdicts on `pairs` into `batch` (see
    /// [`Store::decide_pairs`]), given each pair's deadline before;
    /// returns how many change records it wrote.
    #[allow(clippy::too_many_arguments)]
    fn apply_verdicts(
        &self,
        pending: &mut Pending<'_>,
        batch: &mut WriteBatch,
        cause: Cause,
        pairs: &[LivePair],
        verdicts: Vec<Option<Verdict>>,
        old_deadlines: Vec<Option<i64>>,
        index: &WriteIndex,
    ) -> Result<usize> {
        // Each pair's bit before this decision (an earlier decision of the
        // same batch counts).
        let was: Vec<bool> = pairs.iter().map(|p| bit_before(pending, p)).collect();
        // The IDs of subjects that flip, for their change records.
        let names = {
            let ctx = LiveContext::new(self, pending, cause, index);
            let flipping: std::collections::HashSet<(u8, u32)> = pairs
                .iter()
                .zip(&verdicts)
                .zip(&was)
                .filter(|((_, v), was)| v.as_ref().is_some_and(|v| **was != v.member))
                .map(|((p, _), _)| (p.kind.tag(), p.subject))
                .collect();
            ctx.subject_ids(&flipping)?
        };
        let live = self.cf(cf::LIVE);
        let mut next_change = pending
            .o
            .live
            .next_change
            .unwrap_or(pending.base.live.next_change);
        let mut made = 0;
        // The family `live`'s puts (`Some`) and deletes, put into the
        // batch in key order: RocksDB inserts a run of ascending keys into
        // its memtable far faster than keys that jump about.
        let mut ops: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        for (((p, v), old), was) in pairs.iter().zip(verdicts).zip(old_deadlines).zip(was) {
            let Some(v) = v else {
                continue;
            };
            if v.next.is_some_and(|next| next <= p.at) {
                return Err(StoreError::Live(format!(
                    "the live hook gave a next deadline ({:?}) not after the instant decided ({})",
                    v.next, p.at
                )));
            }
            if was != v.member {
                let member_key = keys::live::member(p.segment, p.kind, p.subject).to_vec();
                ops.push((member_key, v.member.then(Vec::new)));
                let segment = pending
                    .base
                    .live
                    .defs
                    .get(&p.segment)
                    .map(|d| d.name.clone())
                    .or_else(|| {
                        pending
                            .o
                            .live
                            .defs
                            .iter()
                            .rev()
                            .find(|(id, _)| *id == p.segment)
                            .and_then(|(_, d)| d.as_ref().map(|d| d.name.clone()))
                    })
                    .ok_or_else(|| StoreError::Live(format!("no live segment #{}", p.segment)))?;
                let change = Change {
                    seq: next_change,
                    segment,
                    kind: p.kind,
                    subject: names[&(p.kind.tag(), p.subject)].clone(),
                    entered: v.member,
                    at: p.at,
                    cause,
                    entry: v
                        .member
                        .then_some(())
                        .and(v.entry.as_deref())
                        .map(EntryEvent::from),
                };
                batch.put_cf(
                    self.cf(cf::CHANGES),
                    next_change.to_be_bytes(),
                    codec::encode(&change),
                );
                next_change += 1;
                made += 1;
                pending
                    .o
                    .live
                    .flips
                    .insert((p.segment, p.subject), v.member);
            }
            if old != v.next {
                if let Some(at) = old {
                    let key = keys::live::deadline(at, p.segment, p.kind, p.subject);
                    ops.push((key.to_vec(), None));
                }
                match v.next {
                    Some(at) => {
                        let key = keys::live::deadline(at, p.segment, p.kind, p.subject);
                        self.lower_floor(&key);
                        ops.push((key.to_vec(), Some(Vec::new())));
                        ops.push((reverse_key(p).to_vec(), Some(at.to_be_bytes().to_vec())));
                    }
                    None => ops.push((reverse_key(p).to_vec(), None)),
                }
                pending
                    .o
                    .live
                    .scheduled
                    .insert((p.segment, p.subject), v.next.is_some());
            }
        }
        // Stable: a key written twice keeps its last write last.
        ops.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, value) in ops {
            match value {
                Some(v) => batch.put_cf(live, key, v),
                None => batch.delete_cf(live, key),
            }
        }
        if made > 0 {
            batch.put_cf(
                self.cf(cf::META),
                meta::NEXT_CHANGE,
                next_change.to_be_bytes(),
            );
            pending.o.live.next_change = Some(next_change);
        }
        Ok(made)
    }
}

impl Store {
    /// The live part of deleting a user (`delete.rs`): out of every live
    /// segment, no deadline left, and — since no file of the store may keep
    /// their ID or data — every change record about them removed from the
    /// feed. No `left` record is written (it would hold the ID): the
    /// feed replayed shows a deleted user in no segment, and a consumer
    /// stops a deleted user's journeys from the deletion itself.
    pub(crate) fn put_live_removal(
        &self,
        batch: &mut WriteBatch,
        sid: u32,
        id: &str,
    ) -> Result<LiveDelta> {
        let kind = SubjectKind::User;
        let state = self.read_state();
        let mut delta = LiveDelta::default();
        if state.live.defs.is_empty() {
            return Ok(delta);
        }
        let live = self.cf(cf::LIVE);
        for (&segment, def) in &state.live.defs {
            if def.kind != kind {
                continue;
            }
            if state
                .live
                .members
                .get(&segment)
                .is_some_and(|b| b.contains(sid))
            {
                batch.delete_cf(live, keys::live::member(segment, kind, sid));
                delta.flips.insert((segment, sid), false);
            }
            let reverse = keys::live::reverse(segment, kind, sid);
            if let Some(v) = self.db.get_cf(live, reverse)? {
                batch.delete_cf(live, keys::live::deadline(be_i64(&v)?, segment, kind, sid));
                batch.delete_cf(live, reverse);
                delta.scheduled.insert((segment, sid), false);
            }
        }
        let changes = self.cf(cf::CHANGES);
        crate::load::scan_prefix(&self.db, changes, &[], |k, v| {
            let c: Change = codec::decode(v, "a change record")?;
            if c.kind == kind && c.subject == id {
                batch.delete_cf(changes, k);
            }
            Ok(())
        })?;
        Ok(delta)
    }
}

/// The pair's membership bit before this decision (an earlier decision of
/// the same batch counts).
fn bit_before(pending: &Pending<'_>, p: &LivePair) -> bool {
    pending
        .o
        .live
        .flips
        .get(&(p.segment, p.subject))
        .copied()
        .unwrap_or_else(|| {
            pending
                .base
                .live
                .members
                .get(&p.segment)
                .is_some_and(|b| b.contains(p.subject))
        })
}

/// Whether the subject was in the universe at `at` before the write
/// being built.
fn in_universe_before(pending: &Pending<'_>, kind: SubjectKind, sid: u32, at: i64) -> bool {
    pending.base.facts[kind.tag() as usize]
        .get(sid as usize)
        .is_some_and(|f| f.in_universe(at))
}

/// Whether the subject was stored before the write being built: one it
/// introduces has no events, profile, bit or deadline stored to read.
fn stored_before(pending: &Pending<'_>, kind: SubjectKind, sid: u32) -> bool {
    (sid as usize) < pending.base.facts[kind.tag() as usize].len()
}

/// The pairs of `subjects` × `segments` a write can change, decided at
/// `at` (see [`LiveHook::triggers`]; `triggers` is in `segments`' order):
/// a subject the write introduces to the universe or whose profile it
/// changes, with every segment of its kind; any other, with the segments
/// one of its new events' types can change.
fn affected_pairs(
    pending: &Pending<'_>,
    index: &WriteIndex,
    subjects: &[(u8, u32)],
    segments: &[u32],
    triggers: &[Option<Vec<u32>>],
    at: i64,
) -> Vec<LivePair> {
    let kinds: Vec<SubjectKind> = segments
        .iter()
        .map(|s| pending.base.live.defs[s].kind)
        .collect();
    // Per type id, the segments (by position) it can change; `any`: those
    // every type can.
    let mut by_type: HashMap<u32, Vec<usize>> = HashMap::default();
    let mut any = Vec::new();
    for (i, t) in triggers.iter().enumerate() {
        match t {
            None => any.push(i),
            Some(ids) => ids
                .iter()
                .for_each(|&id| by_type.entry(id).or_default().push(i)),
        }
    }
    let mut pairs = Vec::new();
    let mut chosen: Vec<usize> = Vec::new();
    for &(k, sid) in subjects {
        let kind = SubjectKind::from_tag(k).expect("facts are keyed by a valid kind");
        chosen.clear();
        if index.new_profile.contains_key(&(k, sid)) || !in_universe_before(pending, kind, sid, at)
        {
            chosen.extend(0..segments.len());
        } else {
            chosen.extend_from_slice(&any);
            if let Some(entries) = index.new_log.get(&(k, sid)) {
                for &i in entries {
                    if let Some(hit) = by_type.get(&pending.o.log[i].type_id) {
                        chosen.extend_from_slice(hit);
                    }
                }
            }
            chosen.sort_unstable();
            chosen.dedup();
        }
        pairs.extend(
            chosen
                .iter()
                .filter(|&&i| kinds[i] == kind)
                .map(|&i| LivePair {
                    segment: segments[i],
                    kind,
                    subject: sid,
                    at,
                }),
        );
    }
    pairs
}

fn reverse_key(p: &LivePair) -> [u8; keys::live::PAIR_KEY_LEN] {
    keys::live::reverse(p.segment, p.kind, p.subject)
}

fn find_live(state: &State, name: &str) -> Option<u32> {
    state
        .live
        .defs
        .iter()
        .find(|(_, d)| d.name == name)
        .map(|(id, _)| *id)
}

fn be_i64(b: &[u8]) -> Result<i64> {
    <[u8; 8]>::try_from(b)
        .map(i64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt("malformed deadline value".into()))
}

/// Sets or clears each (segment, subject) bit of per-segment bitmaps.
fn set_bits(bitmaps: &mut HashMap<u32, RoaringBitmap>, bits: HashMap<(u32, u32), bool>) {
    for ((seg, sid), on) in bits {
        let bitmap = bitmaps.entry(seg).or_default();
        if on {
            bitmap.insert(sid);
        } else {
            bitmap.remove(sid);
        }
    }
}

/// Loads the live segments into `state` (none when the store predates
/// them and was opened read-only); for a writer, which subjects have
/// deadlines too.
pub(crate) fn load(db: &rocksdb::DB, state: &mut State, writer: bool) -> Result<()> {
    let Some(family) = db.cf_handle(cf::LIVE) else {
        return Ok(());
    };
    crate::load::scan_prefix(db, family, &[keys::live::DEF], |k, v| {
        let id = k
            .get(1..5)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| StoreError::Corrupt("malformed live segment key".into()))?;
        let def: LiveDef = codec::decode(v, "a live segment")?;
        state.live.members.entry(id).or_default();
        state.live.defs.insert(id, def);
        Ok(())
    })?;
    let pair_bits = |prefix: u8, what: &str, bits: &mut HashMap<u32, RoaringBitmap>| {
        crate::load::scan_prefix(db, family, &[prefix], |k, _| {
            let (seg, _, sid) = keys::live::parse_pair(&k[1..])
                .ok_or_else(|| StoreError::Corrupt(format!("malformed {what} key")))?;
            bits.entry(seg).or_default().insert(sid);
            Ok(())
        })
    };
    pair_bits(keys::live::MEMBER, "live member", &mut state.live.members)?;
    if writer {
        pair_bits(keys::live::REVERSE, "deadline", &mut state.live.scheduled)?;
    }
    state.live.next_change = crate::load::meta_u64(db, meta::NEXT_CHANGE)?.unwrap_or(1);
    Ok(())
}
