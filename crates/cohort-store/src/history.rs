//! Decoded subject histories kept between writes, for the live hook.
//!
//! Deciding a write's live pairs reads each touched subject's whole
//! history ([`crate::LiveContext::events`]); under a steady stream of
//! track requests the same active subjects come back again and again, and
//! reading and decoding their events was the largest cost of a request
//! (BENCHMARKS.md, issue 12). This cache keeps those histories decoded.
//!
//! **Exactness.** An entry is a subject's history as a *committed* write
//! left it. It is valid while the subject's event count (its
//! [`crate::SubjectFacts::count`]) equals the entry's length: events are
//! only ever added, except by a user deletion, which clears the cache. So:
//! - a history that includes a write's own events enters the cache only
//!   after that write commits ([`crate::Store::commit`]), and only if its
//!   length is the subject's count then; before, the write takes the old
//!   entry out, so a write that fails leaves no entry behind that another
//!   write could mistake for its own (same count, other events);
//! - a history read for a subject the write adds nothing to is the
//!   committed one, whatever happens to the write, and is kept at once.
//!
//! **Bound.** At most [`crate::StoreOptions::history_cache_events`]
//! events (a history of none counts as one), in two generations of at most
//! half each: new and used entries go to the young one; when the next
//! would not fit, it becomes the old one and the old one is dropped (a
//! cheap approximation of least recently used), freed on a thread of its
//! own — a generation is up to a hundred thousand records, and the write
//! that turned it over should not wait for that. A history longer than
//! half the budget is not kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::read::EventRecord;

/// (subject kind tag, dense subject id).
pub(crate) type Key = (u8, u32);

/// A subject's events in time order, shared with the deciders.
pub(crate) type History = Arc<Vec<EventRecord>>;

/// Decoded histories by subject (see the module docs).
pub(crate) struct HistoryCache {
    /// Events per generation.
    half: usize,
    inner: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    young: HashMap<Key, History>,
    young_events: usize,
    old: HashMap<Key, History>,
}

impl HistoryCache {
    /// A cache of at most `events` events; 0 keeps nothing.
    pub(crate) fn new(events: usize) -> HistoryCache {
        HistoryCache {
            half: events / 2,
            inner: Mutex::new(Generations::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Generations> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a history of `len` events would be kept.
    pub(crate) fn keeps(&self, len: usize) -> bool {
        weight(len) <= self.half
    }

    /// Most events the cache holds.
    pub(crate) fn budget(&self) -> usize {
        2 * self.half
    }

    /// The subject's history if the cache holds it with `count` events;
    /// it stays cached. An entry of another length is stale and goes.
    pub(crate) fn get(&self, key: Key, count: u64) -> Option<History> {
        let mut g = self.lock();
        if let Some(h) = g.young.get(&key) {
            if h.len() as u64 == count {
                return Some(h.clone());
            }
            g.remove(key);
            return None;
        }
        // Taken out of the old generation: back into the young one if
        // whole (used), dropped if stale.
        let h = g.old.remove(&key).filter(|h| h.len() as u64 == count)?;
        let dropped = g.put(key, h.clone(), self.half);
        drop(g);
        free(dropped);
        Some(h)
    }

    /// Takes the subject's history out of the cache if it holds it with
    /// `count` events (a write about to add events to it).
    pub(crate) fn take(&self, key: Key, count: u64) -> Option<History> {
        let mut g = self.lock();
        g.remove(key).filter(|h| h.len() as u64 == count)
    }

    /// Keeps a history (see the module docs for when that is right).
    pub(crate) fn put(&self, key: Key, history: History) {
        if !self.keeps(history.len()) {
            self.lock().remove(key);
            return;
        }
        let dropped = self.lock().put(key, history, self.half);
        free(dropped);
    }

    /// Forgets every history (a user deletion).
    pub(crate) fn clear(&self) {
        let all = std::mem::take(&mut *self.lock());
        free(Some(all.young));
        free(Some(all.old));
    }

    /// How many events the cache holds, as its bound counts them (tests).
    #[cfg(test)]
    fn events(&self) -> usize {
        let g = self.lock();
        g.young
            .values()
            .chain(g.old.values())
            .map(|h| weight(h.len()))
            .sum()
    }
}

/// What a history counts for against the budget: an empty one (a subject
/// with only tags or attributes) takes an entry too.
pub(crate) fn weight(len: usize) -> usize {
    len.max(1)
}

/// Frees a dropped generation on a thread of its own (here, if none can
/// be started).
fn free(generation: Option<HashMap<Key, History>>) {
    let Some(generation) = generation.filter(|g| !g.is_empty()) else {
        return;
    };
    let slot = Arc::new(Mutex::new(Some(generation)));
    let theirs = slot.clone();
    let spawned = std::thread::Builder::new()
        .name("cohort-free".into())
        .spawn(move || drop(theirs.lock().map(|mut g| g.take())));
    if spawned.is_err() {
        drop(slot.lock().map(|mut g| g.take()));
    }
}

impl Generations {
    fn remove(&mut self, key: Key) -> Option<History> {
        let old = self.old.remove(&key);
        match self.young.remove(&key) {
            Some(h) => {
                self.young_events -= weight(h.len());
                Some(h)
            }
            None => old,
        }
    }

    /// Returns the old generation when the young one replaces it, for
    /// the caller to free out of the lock.
    #[must_use]
    fn put(&mut self, key: Key, history: History, half: usize) -> Option<HashMap<Key, History>> {
        self.old.remove(&key);
        if let Some(before) = self.young.remove(&key) {
            self.young_events -= weight(before.len());
        }
        let w = weight(history.len());
        let mut dropped = None;
        if self.young_events + w > half {
            self.young_events = 0;
            let young = std::mem::take(&mut self.young);
            dropped = Some(std::mem::replace(&mut self.old, young));
        }
        self.young.insert(key, history);
        self.young_events += w;
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cohort_event::SubjectKind;

    fn history(len: usize) -> History {
        let e = EventRecord {
            subject_kind: SubjectKind::User,
            subject_id: String::new(),
            event_type: "e".into(),
            time: 0,
            seq: 0,
            data: Vec::new(),
        };
        Arc::new(vec![e; len])
    }

    #[test]
    fn an_entry_is_found_only_with_its_count() {
        let cache = HistoryCache::new(100);
        cache.put((0, 1), history(3));
        assert!(cache.get((0, 1), 3).is_some());
        // Another count: stale, and gone for good.
        assert!(cache.get((0, 1), 4).is_none());
        assert!(cache.get((0, 1), 3).is_none());
        cache.put((0, 1), history(3));
        assert!(cache.take((0, 1), 2).is_none());
        assert!(cache.get((0, 1), 3).is_none(), "take removes, even stale");
        cache.put((0, 2), history(5));
        assert_eq!(cache.take((0, 2), 5).map(|h| h.len()), Some(5));
        assert!(cache.get((0, 2), 5).is_none());
    }

    #[test]
    fn the_cache_holds_at_most_its_budget() {
        let cache = HistoryCache::new(100);
        for sid in 0..1000 {
            cache.put((0, sid), history(7 + sid as usize % 40));
            assert!(cache.events() <= 100, "{} events", cache.events());
        }
        // Subjects with no event count too.
        for sid in 0..1000 {
            cache.put((2, sid), history(0));
            assert!(cache.events() <= 100, "{} events", cache.events());
        }
        // A budget of 0 keeps nothing.
        let none = HistoryCache::new(0);
        none.put((0, 0), history(0));
        assert!(none.get((0, 0), 0).is_none());
        // A history larger than a generation is not kept.
        cache.put((1, 0), history(51));
        assert!(cache.get((1, 0), 51).is_none());
        // Replacing an entry does not count it twice.
        let cache = HistoryCache::new(100);
        for _ in 0..1000 {
            cache.put((0, 0), history(10));
        }
        assert_eq!(cache.events(), 10);
        assert!(cache.get((0, 0), 10).is_some());
    }

    #[test]
    fn used_entries_survive_a_generation() {
        let cache = HistoryCache::new(40);
        cache.put((0, 0), history(10));
        cache.put((0, 1), history(10));
        // The young generation (20 events) is full: it becomes the old one.
        cache.put((0, 2), history(10));
        assert!(cache.get((0, 0), 10).is_some(), "used: promoted");
        // One more turn: (0, 0), used since the last, survives it.
        cache.put((0, 3), history(10));
        assert!(cache.get((0, 0), 10).is_some(), "used: kept");
        assert!(cache.get((0, 1), 10).is_none(), "unused: dropped");
    }
}
