//! Live segments in the application layer: opening a store with its live
//! engine, making a saved segment live, keeping live segments that reach
//! an edited segment current, reading the change feed.

use std::path::Path;
use std::sync::Arc;

use cohort_eval::{resolve, LiveEngine, StoreSegments};
use cohort_filter::{Condition, Expr};
use cohort_store::{BackfillReceipt, Change, Store, StoreError, StoreOptions, SweepReceipt};
use serde_json::{json, Value as Json};

use super::{Error, Result};

/// Opens a store the way every front end should: with the live engine
/// installed, and — when opened for writing — live segments caught up:
/// a backfill a crash cut short is finished, and the deadlines that fell
/// due while nothing ran are swept, each change at its own instant.
pub fn open_store(
    path: impl AsRef<Path>,
    options: StoreOptions,
) -> std::result::Result<Store, StoreError> {
    let store = Store::open(path, options)?;
    store.set_live_hook(Arc::new(LiveEngine::new()));
    if !store.is_read_only() && !store.live_segments().is_empty() {
        let now = cohort_store::now_millis();
        store.finish_backfills(now)?;
        sweep_all(&store, now)?;
    }
    Ok(store)
}

/// Sweeps every deadline due at `now`, round after round.
pub fn sweep_all(store: &Store, now: i64) -> std::result::Result<SweepReceipt, StoreError> {
    let mut total = SweepReceipt::default();
    loop {
        let r = store.sweep(now, 64)?;
        total.decided += r.decided;
        total.changes += r.changes;
        if !r.more {
            return Ok(total);
        }
    }
}

/// Makes the saved segment `name` live as of `now`: its members are
/// decided from the store's whole history, then kept current.
pub fn make_live(store: &Store, name: &str, now: i64) -> Result<BackfillReceipt> {
    let saved = store
        .segment(name)?
        .ok_or_else(|| Error::SegmentNotFound(name.to_owned()))?;
    Ok(store.make_live(name, saved.kind, &saved.filter, now)?)
}

/// Stops keeping `name` live; returns whether it was.
pub fn stop_live(store: &Store, name: &str) -> Result<bool> {
    Ok(store.stop_live(name, cohort_store::now_millis())?)
}

/// After `name` was saved with a new filter: every live segment that
/// reaches it (itself included) is decided again for every subject, so
/// that the edit's effect enters the feed as entries and exits.
pub fn refresh_live(store: &Store, name: &str, now: i64) -> Result<usize> {
    let mut refreshed = 0;
    for (_, def) in store.live_segments() {
        let reaches = if def.name == name {
            true
        } else {
            let root = Expr::Cond(Condition::InSegment(def.name.clone()));
            let resolved = resolve(&[root], &StoreSegments::new(store))?;
            resolved.reaches(name)
        };
        if reaches {
            let saved = store
                .segment(&def.name)?
                .ok_or_else(|| Error::SegmentNotFound(def.name.clone()))?;
            store.make_live(&def.name, saved.kind, &saved.filter, now)?;
            refreshed += 1;
        }
    }
    Ok(refreshed)
}

/// Whether a subject of the live segment's kind is a member of it now,
/// from memory. `Ok(None)`: the segment is not live. An unknown subject is
/// no member.
pub fn is_live_member(store: &Store, name: &str, id: &str) -> Result<Option<bool>> {
    let Some(kind) = store.live_kind(name) else {
        return Ok(None);
    };
    let view = store.view();
    Ok(match view.try_subject_dense_id(kind, id)? {
        Some(sid) => store.is_live_member(name, kind, sid),
        None => Some(false),
    })
}

/// A change record as JSON: `seq`, `segment`, `subjectType`, `subjectId`,
/// `change` (`entered`/`left`), `at`, `cause`, and `entryEvent` (type,
/// `createdAt`, data) for an entry caused by an event.
pub fn change_json(c: &Change) -> Json {
    let entry = c.entry.as_ref().map(|e| {
        json!({
            "type": e.event_type,
            "createdAt": cohort_event::format_millis(e.time),
            "data": cohort_event::data_json(e.data.iter().map(|(k, v)| (k.as_str(), v))),
        })
    });
    json!({
        "seq": c.seq,
        "segment": c.segment,
        "subjectType": c.kind.as_str(),
        "subjectId": c.subject,
        "change": if c.entered { "entered" } else { "left" },
        "at": cohort_event::format_millis(c.at),
        "cause": c.cause.as_str(),
        "entryEvent": entry,
    })
}

/// Change records after `after`, at most `limit`, of one segment or all.
/// A segment that is neither live nor saved is an error (its feed would
/// stay empty forever).
pub fn changes(
    store: &Store,
    after: u64,
    segment: Option<&str>,
    limit: usize,
) -> Result<Vec<Change>> {
    if let Some(name) = segment {
        if store.live_segment_id(name).is_none() && store.segment(name)?.is_none() {
            return Err(Error::SegmentNotFound(name.to_owned()));
        }
    }
    Ok(store.changes(after, segment, limit)?)
}

/// The subject and entry event of the change record `seq`, to render the
/// message its journey starts with (`cohort render --change SEQ`): an
/// entry caused by an event. A record that does not exist (or was trimmed
/// from the feed), or has no entry event, is an error saying which.
pub fn entry_of_change(store: &Store, seq: u64) -> Result<(Change, cohort_event::Event)> {
    let change = store
        .changes(seq.saturating_sub(1), None, 1)?
        .into_iter()
        .find(|c| c.seq == seq)
        .ok_or(Error::ChangeNotFound(seq))?;
    let Some(entry) = &change.entry else {
        return Err(Error::NoEntryEvent {
            seq,
            why: if change.entered {
                format!(
                    "its entry was caused by {}, not by an event",
                    change.cause.as_str()
                )
            } else {
                "it records an exit".to_owned()
            },
        });
    };
    let event = cohort_event::Event {
        subject_kind: change.kind,
        subject_id: change.subject.clone(),
        event_type: entry.event_type.clone(),
        time: Some(entry.time),
        data: entry.data.clone(),
    };
    Ok((change, event))
}

/// How long the change feed keeps a record by default (`cohort serve
/// --feed-retention-days`).
pub const DEFAULT_FEED_RETENTION_DAYS: u64 = 30;

/// Retention of the change feed: deletes the records older than
/// `retention_ms` before `now`; returns how many.
pub fn trim_feed(store: &Store, retention_ms: i64, now: i64) -> Result<u64> {
    Ok(store.trim_changes(now.saturating_sub(retention_ms))?)
}
