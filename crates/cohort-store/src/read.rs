//! Reading: a subject's events, recent events, the catalog.

use std::fmt;
use std::ops::{Bound, RangeBounds};
use std::str::FromStr;

use cohort_event::{data_json, format_millis, is_automatic_type, SubjectKind, Value, ValueKind};
use rocksdb::{DBRawIteratorWithThreadMode, DB};
use serde_json::json;

use crate::codec::{self, StoredEvent};
use crate::db::cf;
use crate::error::{Result, StoreError};
use crate::keys;
use crate::store::Store;
use crate::view::View;

/// One stored event, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// User or device.
    pub subject_kind: SubjectKind,
    /// The subject's ID.
    pub subject_id: String,
    /// The event type.
    pub event_type: String,
    /// Unix milliseconds.
    pub time: i64,
    /// The store-wide sequence number (arrival order; breaks time ties).
    pub seq: u64,
    /// The data entries in the order they were sent.
    pub data: Vec<(String, Value)>,
}

impl EventRecord {
    /// The event in track-API form (`subjectType`, `subjectId`, `type`,
    /// `createdAt`, `data`), so that exported events can be ingested again.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "subjectType": self.subject_kind.as_str(),
            "subjectId": self.subject_id,
            "type": self.event_type,
            "createdAt": format_millis(self.time),
            "data": data_json(self.data.iter().map(|(k, v)| (k.as_str(), v))),
        })
    }

    /// Where this event stands in recent-events order: pass it as
    /// [`RecentQuery::before`] to read the events older than it.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            time: self.time,
            seq: self.seq,
        }
    }
}

/// A position in recent-events order (newest first): a page continues with
/// the events strictly older than its cursor. Written as `TIME.SEQ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// Unix milliseconds.
    pub time: i64,
    /// Sequence number.
    pub seq: u64,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.time, self.seq)
    }
}

impl FromStr for Cursor {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Cursor> {
        let bad = || StoreError::BadCursor(s.to_owned());
        let (t, q) = s.split_once('.').ok_or_else(bad)?;
        Ok(Cursor {
            time: t.parse().map_err(|_| bad())?,
            seq: q.parse().map_err(|_| bad())?,
        })
    }
}

/// Which recent events to read.
#[derive(Debug, Clone, Default)]
pub struct RecentQuery {
    /// One subject's events, or everyone's (`None`, the default).
    pub subject: Option<(SubjectKind, String)>,
    /// At most this many events; 0 means the default of 20.
    pub limit: usize,
    /// Continue after this cursor (events strictly older); `None` starts
    /// from the newest.
    pub before: Option<Cursor>,
}

/// A page of recent events, newest first.
#[derive(Debug, Clone, Default)]
pub struct RecentPage {
    /// The events, newest first (by event time, then arrival).
    pub events: Vec<EventRecord>,
    /// Where the next page starts, when there are older events.
    pub next: Option<Cursor>,
}

/// One event type in the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogEntry {
    /// The event type.
    pub name: String,
    /// Set by hand with [`Store::add_catalog_type`].
    pub description: Option<String>,
    /// Whether it is an automatic (`@`) event.
    pub automatic: bool,
    /// Earliest event time (None before any event arrived).
    pub first_seen: Option<i64>,
    /// Latest event time.
    pub last_seen: Option<i64>,
    /// Events stored.
    pub count: u64,
    /// Every data key seen, in order of first appearance.
    pub keys: Vec<KeyStats>,
}

/// A data key of one event type: which kinds of value arrived, how often.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyStats {
    /// The data key.
    pub key: String,
    /// Kinds observed (only those seen), with their counts.
    pub kinds: Vec<(ValueKind, u64)>,
}

impl CatalogEntry {
    /// The entry as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let keys: serde_json::Map<String, serde_json::Value> = self
            .keys
            .iter()
            .map(|k| {
                let kinds = k
                    .kinds
                    .iter()
                    .map(|(kind, n)| (kind.as_str().to_owned(), json!(n)))
                    .collect();
                (k.key.clone(), serde_json::Value::Object(kinds))
            })
            .collect();
        json!({
            "type": self.name,
            "description": self.description,
            "automatic": self.automatic,
            "firstSeen": self.first_seen.map(format_millis),
            "lastSeen": self.last_seen.map(format_millis),
            "count": self.count,
            "keys": keys,
        })
    }
}

type RawIter<'a> = DBRawIteratorWithThreadMode<'a, DB>;

impl Store {
    /// One subject's events with times in `range` (Unix ms), oldest first.
    /// An unknown subject has no events. Reads through a fresh [`View`].
    pub fn events(
        &self,
        kind: SubjectKind,
        id: &str,
        range: impl RangeBounds<i64>,
    ) -> Result<Vec<EventRecord>> {
        self.view().events(kind, id, range)
    }

    /// Recent events, newest first; see [`View::recent`].
    pub fn recent(&self, query: &RecentQuery) -> Result<RecentPage> {
        self.view().recent(query)
    }

    /// The catalog: every event type seen or added, by name, each with its
    /// data keys (read from the store now: they are not kept in memory).
    pub fn catalog(&self) -> Result<Vec<CatalogEntry>> {
        let state = self.read_state();
        let key_name = |id: u32| state.keys.name(id).unwrap_or("?").to_owned();
        let stats = |key_id: u32, counts: &[u64; 7]| KeyStats {
            key: key_name(key_id),
            kinds: ValueKind::ALL
                .iter()
                .zip(counts)
                .filter(|(_, &n)| n > 0)
                .map(|(k, &n)| (*k, n))
                .collect(),
        };
        let mut entries: Vec<Option<CatalogEntry>> = state
            .catalog
            .iter()
            .enumerate()
            .map(|(type_id, t)| {
                let name = state.types.name(type_id as u32)?.to_owned();
                let rec = &t.record;
                Some(CatalogEntry {
                    automatic: is_automatic_type(&name),
                    name,
                    description: rec.description.clone(),
                    first_seen: rec.first_seen,
                    last_seen: rec.last_seen,
                    count: rec.count,
                    // Format 2 kept them here; format 3 in `catalog_keys`.
                    keys: rec.keys.iter().map(|(k, c)| stats(*k, c)).collect(),
                })
            })
            .collect();
        if let Some(cf) = self.db.cf_handle(cf::CATALOG_KEYS) {
            let mut it = self.db.raw_iterator_cf(cf);
            it.seek_to_first();
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                let (type_id, key_id) = keys::parse_catalog_key_key(k)
                    .ok_or_else(|| StoreError::Corrupt("malformed catalog key entry".into()))?;
                let counts: [u64; 7] = codec::decode(v, "catalog key counts")?;
                // Entries written after this state was read are skipped.
                if let Some(Some(entry)) = entries.get_mut(type_id as usize) {
                    entry.keys.push(stats(key_id, &counts));
                }
                it.next();
            }
            it.status()?;
        }
        let mut entries: Vec<CatalogEntry> = entries.into_iter().flatten().collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }
}

impl View<'_> {
    /// One subject's events with times in `range` (Unix ms), oldest first.
    /// An unknown subject has no events.
    pub fn events(
        &self,
        kind: SubjectKind,
        id: &str,
        range: impl RangeBounds<i64>,
    ) -> Result<Vec<EventRecord>> {
        let Some(sid) = self.try_subject_dense_id(kind, id)? else {
            return Ok(Vec::new());
        };
        let lower = match range.start_bound() {
            Bound::Included(&t) => keys::log_key(kind, sid, t, 0).to_vec(),
            Bound::Excluded(&t) if t == i64::MAX => return Ok(Vec::new()),
            Bound::Excluded(&t) => keys::log_key(kind, sid, t + 1, 0).to_vec(),
            Bound::Unbounded => keys::subject_key(kind, sid).to_vec(),
        };
        let upper = match range.end_bound() {
            Bound::Excluded(&t) => keys::log_key(kind, sid, t, 0).to_vec(),
            Bound::Included(&t) if t == i64::MAX => keys::subject_end(kind, sid),
            Bound::Included(&t) => keys::log_key(kind, sid, t + 1, 0).to_vec(),
            Bound::Unbounded => keys::subject_end(kind, sid),
        };
        let mut opts = self.read_options();
        opts.set_iterate_lower_bound(lower);
        opts.set_iterate_upper_bound(upper);
        let mut it = self
            .store
            .db
            .raw_iterator_cf_opt(self.store.cf(cf::LOG), opts);
        it.seek_to_first();
        let mut out = Vec::new();
        while let Some(k) = it.key() {
            if self.visible(k) {
                out.push(self.record_at(&it, Some(id))?);
            }
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Recent events, newest first (by event time, ties by arrival), for
    /// everyone or one subject, one page at a time.
    pub fn recent(&self, query: &RecentQuery) -> Result<RecentPage> {
        let limit = if query.limit == 0 { 20 } else { query.limit };
        let mut page = RecentPage::default();
        let store = self.store;
        match &query.subject {
            Some((kind, id)) => {
                let Some(sid) = self.try_subject_dense_id(*kind, id)? else {
                    return Ok(page);
                };
                let mut opts = self.read_options();
                opts.set_iterate_lower_bound(keys::subject_key(*kind, sid).to_vec());
                opts.set_iterate_upper_bound(match query.before {
                    Some(c) => keys::log_key(*kind, sid, c.time, c.seq).to_vec(),
                    None => keys::subject_end(*kind, sid),
                });
                let mut it = store.db.raw_iterator_cf_opt(store.cf(cf::LOG), opts);
                it.seek_to_last();
                while it.valid() && page.events.len() < limit {
                    if self.visible(it.key().unwrap_or_default()) {
                        page.events.push(self.record_at(&it, Some(id))?);
                    }
                    it.prev();
                }
                it.status()?;
                page.next = next_cursor(it.valid(), &page.events);
            }
            None => {
                let mut opts = self.read_options();
                if let Some(c) = query.before {
                    opts.set_iterate_upper_bound(keys::time_key(c.time, c.seq).to_vec());
                }
                let mut it = store.db.raw_iterator_cf_opt(store.cf(cf::TIME), opts);
                it.seek_to_last();
                let log = store.cf(cf::LOG);
                while it.valid() && page.events.len() < limit {
                    let (k, v) = (it.key().unwrap_or_default(), it.value().unwrap_or_default());
                    let (time, seq) = keys::parse_time_key(k)
                        .ok_or_else(|| StoreError::Corrupt("malformed time key".into()))?;
                    if seq >= self.next_seq() {
                        it.prev();
                        continue;
                    }
                    let (kind, sid) = keys::parse_subject_key(v)
                        .ok_or_else(|| StoreError::Corrupt("malformed time index value".into()))?;
                    let log_key = keys::log_key(kind, sid, time, seq);
                    let value = store
                        .db
                        .get_pinned_cf_opt(log, log_key, &self.read_options())?
                        .ok_or_else(|| {
                            StoreError::Corrupt(format!(
                                "the time index names an event the log lacks ({time}.{seq})"
                            ))
                        })?;
                    page.events
                        .push(self.decode_record(&log_key, &value, None)?);
                    it.prev();
                }
                it.status()?;
                page.next = next_cursor(it.valid(), &page.events);
            }
        }
        Ok(page)
    }

    /// Whether an entry of `log` or `time` is part of this view: a bulk
    /// commit's table files are in place a moment before its `next_seq`
    /// is (`bulk.rs`).
    fn visible(&self, key: &[u8]) -> bool {
        keys::seq_of(key).is_some_and(|s| s < self.next_seq())
    }

    /// A subject's ID from its dense id.
    pub fn subject_id(&self, kind: SubjectKind, sid: u32) -> Result<String> {
        let key = keys::subject_rev_key(kind, sid);
        let v = self
            .store
            .db
            .get_pinned_cf_opt(self.store.cf(cf::DICT), key, &self.read_options())?
            .filter(|_| sid < self.subject_count(kind))
            .ok_or_else(|| StoreError::Corrupt(format!("{kind} #{sid} has no name")))?;
        String::from_utf8(v.to_vec())
            .map_err(|_| StoreError::Corrupt(format!("{kind} #{sid} has a name that is not UTF-8")))
    }

    fn record_at(&self, it: &RawIter<'_>, id: Option<&str>) -> Result<EventRecord> {
        self.decode_record(
            it.key().unwrap_or_default(),
            it.value().unwrap_or_default(),
            id,
        )
    }

    fn decode_record(&self, key: &[u8], value: &[u8], id: Option<&str>) -> Result<EventRecord> {
        let k = keys::parse_log_key(key)
            .ok_or_else(|| StoreError::Corrupt("malformed log key".into()))?;
        let stored: StoredEvent = codec::decode(value, "an event")?;
        let unknown = |what: &str, id: u32| StoreError::Corrupt(format!("unknown {what} id {id}"));
        Ok(EventRecord {
            subject_kind: k.kind,
            subject_id: match id {
                Some(id) => id.to_owned(),
                None => self.subject_id(k.kind, k.subject)?,
            },
            event_type: self
                .type_name(stored.type_id)
                .ok_or_else(|| unknown("event type", stored.type_id))?,
            time: k.millis,
            seq: k.seq,
            data: stored
                .data
                .into_iter()
                .map(|(key_id, v)| {
                    Ok((
                        self.key_name(key_id)
                            .ok_or_else(|| unknown("data key", key_id))?,
                        v,
                    ))
                })
                .collect::<Result<_>>()?,
        })
    }
}

/// Where the next page starts: after the last event of this one, when the
/// iterator still had events to give.
fn next_cursor(more: bool, events: &[EventRecord]) -> Option<Cursor> {
    if more {
        events.last().map(EventRecord::cursor)
    } else {
        None
    }
}
