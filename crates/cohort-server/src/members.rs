//! The member check (`GET /segments/{name}/members/{subjectId}`) sits on
//! other services' request paths, so it answers from a cached evaluation
//! of the segment instead of evaluating per request.
//!
//! Freshness: an answer is from an evaluation made at most `max_age`
//! (default 1 s) before the request, as a rule. When the cache is older,
//! the request still gets the cached answer (if it is younger than five
//! times `max_age`) and one refresh starts in the background, so that no
//! request waits for an evaluation while a recent one exists; a request
//! that finds none, or one too old, waits for a fresh evaluation. Each
//! answer carries `asOf`, the instant its evaluation was made at. Saving
//! or deleting a segment, and deleting a user, drop the project's cache:
//! their effect is seen at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use cohort::SubjectKind;
use roaring::RoaringBitmap;

/// One evaluation of a segment.
pub(crate) struct Snapshot {
    pub members: RoaringBitmap,
    pub kind: SubjectKind,
    /// The evaluation instant (Unix ms).
    pub now: i64,
    made: Instant,
}

impl Snapshot {
    /// An evaluation at `now` whose reading began at `made` (its age
    /// counts from then, not from when it finished).
    pub fn new(members: RoaringBitmap, kind: SubjectKind, now: i64, made: Instant) -> Snapshot {
        Snapshot {
            members,
            kind,
            now,
            made,
        }
    }
}

#[derive(Default)]
pub(crate) struct Entry {
    current: RwLock<Option<Arc<Snapshot>>>,
    refreshing: AtomicBool,
    /// Held while evaluating, so that waiting requests share one.
    computing: tokio::sync::Mutex<()>,
}

/// A project's cached segment evaluations, by segment name.
#[derive(Default)]
pub(crate) struct MemberCache {
    entries: Mutex<HashMap<String, Arc<Entry>>>,
}

/// What to do for one request.
pub(crate) enum Plan {
    /// Answer from this snapshot.
    Answer(Arc<Snapshot>),
    /// Answer from this snapshot, and refresh the entry in the background.
    AnswerAndRefresh(Arc<Snapshot>, Arc<Entry>),
    /// Evaluate (holding the entry's lock), then answer.
    Wait(Arc<Entry>),
}

impl MemberCache {
    fn entry(&self, name: &str) -> Arc<Entry> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(entries.entry(name.to_owned()).or_default())
    }

    /// Forgets one segment's entry (its evaluation failed: the segment is
    /// gone, say), so that names asked for in vain leave nothing behind.
    pub fn forget(&self, name: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }

    /// Forgets every cached evaluation.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn plan(&self, name: &str, max_age: Duration) -> Plan {
        let entry = self.entry(name);
        let current = entry
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match current {
            Some(s) if s.made.elapsed() < max_age => Plan::Answer(s),
            Some(s) if s.made.elapsed() < max_age.saturating_mul(5) => {
                if entry.refreshing.swap(true, Ordering::AcqRel) {
                    Plan::Answer(s)
                } else {
                    Plan::AnswerAndRefresh(s, entry)
                }
            }
            _ => Plan::Wait(entry),
        }
    }
}

impl Entry {
    /// Evaluates with `evaluate` unless another caller did while this one
    /// waited for the lock; returns the snapshot to answer from.
    pub async fn refresh<F>(
        &self,
        max_age: Duration,
        evaluate: F,
    ) -> Result<Arc<Snapshot>, crate::ApiError>
    where
        F: FnOnce() -> Result<Snapshot, crate::ApiError> + Send + 'static,
    {
        let _computing = self.computing.lock().await;
        let current = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(s) = current.filter(|s| s.made.elapsed() < max_age) {
            self.refreshing.store(false, Ordering::Release);
            return Ok(s);
        }
        let result = tokio::task::spawn_blocking(evaluate)
            .await
            .map_err(crate::ApiError::internal)
            .and_then(|r| r);
        self.refreshing.store(false, Ordering::Release);
        let snapshot = Arc::new(result?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&snapshot));
        Ok(snapshot)
    }
}
