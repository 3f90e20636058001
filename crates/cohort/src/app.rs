//! The application layer: the rules every front end shares — the CLI today,
//! the HTTP service tomorrow. Parsing a time, tracking a request, saving
//! and deleting a segment (validated, canonical, within limits, without
//! breaking the segments that refer to it), evaluating a filter to its
//! members and universe. Front ends turn arguments into these calls and
//! their results into text, JSON or status codes; they decide nothing
//! about data.

use cohort_eval::{
    evaluate_many, resolve, universe, user_profile_in, EvalError, EvalOptions, Executor, Segments,
    StoreSegments,
};
use cohort_event::{RequestError, Source, SubjectKind};
use cohort_filter::{parse, parse_for, Condition, Expr, ParseError, MAX_FILTER_BYTES};
use cohort_store::{AppendReceipt, SavedSegment, Store, StoreError, View};
use roaring::RoaringBitmap;

mod json;
mod live;
mod render;
mod track;
pub use json::{catalog_json, entry_event_json, profile_json, segment_json, tag_key_json};
pub use live::{
    change_json, changes, entry_of_change, is_live_member, make_live, open_store, refresh_live,
    stop_live, sweep_all, trim_feed, DEFAULT_FEED_RETENTION_DAYS,
};
pub use render::{check_template, parse_entry_event, render_message, Entry, Rendered};
pub use track::{
    check_idempotency_key, forget_expired_idempotency_keys, track_durably, Tracked,
    IDEMPOTENCY_TTL_MS, MAX_IDEMPOTENCY_KEY_CHARS,
};

/// What cohort knows of one subject at an instant: its profile as it was
/// then, its event facts, and every profile change (for history).
#[derive(Debug, Clone)]
pub struct SubjectReport {
    /// User or device.
    pub kind: SubjectKind,
    /// The subject's ID.
    pub id: String,
    /// The instant the values are as of.
    pub now: i64,
    /// Events, first and last event time (all the events stored, also
    /// those after `now`).
    pub facts: cohort_store::SubjectFacts,
    /// Every tag and attribute change.
    pub profile: cohort_store::Profile,
}

impl SubjectReport {
    /// The tags with a value at `now`.
    pub fn tags(&self) -> std::collections::BTreeMap<&str, &cohort_event::Value> {
        self.profile.tags_at(self.now)
    }

    /// The attributes with a value at `now`.
    pub fn attributes(&self) -> std::collections::BTreeMap<cohort_event::Attribute, &str> {
        self.profile.attributes_at(self.now)
    }
}

/// The profile and facts of one subject as of `now`, read through one
/// view; `None` when the store holds no such subject.
pub fn subject_report(
    view: &View<'_>,
    kind: SubjectKind,
    id: &str,
    now: i64,
) -> Result<Option<SubjectReport>> {
    let Some(sid) = view.try_subject_dense_id(kind, id)? else {
        return Ok(None);
    };
    let facts = view.facts(kind)[sid as usize];
    Ok(Some(SubjectReport {
        kind,
        id: id.to_owned(),
        now,
        facts,
        profile: view.profile_of(kind, sid)?,
    }))
}

/// The longest description of an event type in the catalog, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 1024;

/// Adds an event type to the catalog by hand (or sets a known type's
/// description; see [`Store::add_catalog_type`]). The description is at
/// most [`MAX_DESCRIPTION_BYTES`]; `@` types (automatic events) are added
/// only from [`Source::System`]: they belong to the platform.
pub fn add_catalog_type(
    store: &Store,
    name: &str,
    description: Option<&str>,
    source: Source,
) -> Result<()> {
    let bad = |reason: String| Error::InvalidCatalogEntry {
        name: name.to_owned(),
        reason,
    };
    if let Some(d) = description.filter(|d| d.len() > MAX_DESCRIPTION_BYTES) {
        return Err(bad(format!(
            "a description must be at most {MAX_DESCRIPTION_BYTES} bytes, not {}",
            d.len()
        )));
    }
    if source == Source::Client && cohort_event::is_automatic_type(name) {
        return Err(bad(
            "`@` types are automatic events, recorded by the platform; they cannot be added by a client"
                .to_owned(),
        ));
    }
    Ok(store.add_catalog_type(name, description)?)
}

/// Deletes a user (see [`Store::delete_user`]): invisible at once,
/// physically gone when this returns; `None` when there is no such user.
pub fn delete_user(store: &Store, id: &str) -> Result<Option<cohort_store::DeleteReceipt>> {
    Ok(store.delete_user(id)?)
}

/// Why an application call failed. Callers tell cases apart by variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A filter does not parse, or breaks a rule of the language.
    #[error("{0}")]
    InvalidFilter(ParseError),
    /// A time is not in a form cohort reads.
    #[error(
        "{text:?} is not a time: use RFC 3339 (2026-06-01T00:00:00Z), a date (2026-06-01) or Unix milliseconds"
    )]
    InvalidTime {
        /// What was given.
        text: String,
    },
    /// A track request was refused; nothing was stored.
    #[error(transparent)]
    InvalidRequest(RequestError),
    /// A segment name breaks the rules.
    #[error("segment name {name:?}: {reason}")]
    InvalidSegmentName {
        /// The name.
        name: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// No segment is saved under this name.
    #[error("no segment named {0:?}")]
    SegmentNotFound(String),
    /// Other saved segments refer to the one being deleted.
    #[error("segment {name:?} is used by {}: delete or change them first", used_by.join(", "))]
    SegmentInUse {
        /// The segment.
        name: String,
        /// The saved segments that refer to it.
        used_by: Vec<String>,
    },
    /// Saving would break a saved segment that refers to this one (make a
    /// cycle, or a chain or a filter too large).
    #[error("saving {name:?} would break the saved segment {broken:?}: {source}")]
    BreaksSegment {
        /// The segment being saved.
        name: String,
        /// The saved segment it would break.
        broken: String,
        /// How.
        source: Box<EvalError>,
    },
    /// A filter's canonical form is longer than a filter may be.
    #[error(
        "the filter's canonical form is {bytes} bytes, over the limit of {limit}; shorten it or split it into segments"
    )]
    CanonicalTooLong {
        /// Its length.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// No such subject in the store.
    #[error("no {kind} {id:?} in this store")]
    SubjectNotFound {
        /// User or device.
        kind: SubjectKind,
        /// The ID asked for.
        id: String,
    },
    /// A template was refused when checked, or its render failed.
    #[error("template: {0}")]
    Template(cohort_liquid::Error),
    /// An entry event given whole is not a valid event.
    #[error("the entry event is not valid: {}", reasons.join("; "))]
    InvalidEntryEvent {
        /// Each invalid field, with why.
        reasons: Vec<String>,
    },
    /// An entry event given whole is another subject's.
    #[error("the entry event is for {found}, not {expected}")]
    EntryEventSubject {
        /// The subject rendered for.
        expected: String,
        /// The event's subject.
        found: String,
    },
    /// An event type or description for the catalog breaks a rule.
    #[error("catalog entry {name:?}: {reason}")]
    InvalidCatalogEntry {
        /// The event type.
        name: String,
        /// The rule it breaks.
        reason: String,
    },
    /// A paging cursor is not one a previous page returned.
    #[error("{text:?} is not a cursor returned as `next` by a previous page")]
    InvalidCursor {
        /// What was given.
        text: String,
    },
    /// An idempotency key is empty or too long.
    #[error("an idempotency key must be 1 to 255 characters, not {chars}")]
    InvalidIdempotencyKey {
        /// Its length in characters.
        chars: usize,
    },
    /// An idempotency key was used before, within its time, for another
    /// request body: nothing was stored.
    #[error("the idempotency key {key:?} was used for a different request; use a new key for a new request")]
    IdempotencyConflict {
        /// The key.
        key: String,
    },
    /// No change record has this sequence number (any more).
    #[error("no change record {0} in the feed (never written, or trimmed by retention)")]
    ChangeNotFound(u64),
    /// The change record has no entry event.
    #[error("change record {seq} has no entry event: {why}")]
    NoEntryEvent {
        /// The record.
        seq: u64,
        /// Why not.
        why: String,
    },
    /// Evaluation failed (an unknown or cyclic segment, a limit, the store).
    #[error(transparent)]
    Eval(EvalError),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::Invalid(r) => Error::InvalidRequest(r),
            other => Error::Store(other),
        }
    }
}

impl From<EvalError> for Error {
    fn from(e: EvalError) -> Error {
        match e {
            EvalError::Store(s) => Error::from(s),
            other => Error::Eval(other),
        }
    }
}

/// The application layer's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Reads a time: RFC 3339 (`2026-06-01T00:00:00Z`, with `Z` or an offset),
/// a date (`2026-06-01`, midnight UTC), or Unix milliseconds.
pub fn parse_time(text: &str) -> Result<i64> {
    let bad = || Error::InvalidTime {
        text: text.to_owned(),
    };
    if let Some(t) = cohort_event::parse_rfc3339(text) {
        return Ok(t.millis);
    }
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad())?;
    let millis = date
        .and_hms_opt(0, 0, 0)
        .ok_or_else(bad)?
        .and_utc()
        .timestamp_millis();
    if !(cohort_event::MIN_MILLIS..=cohort_event::MAX_MILLIS).contains(&millis) {
        return Err(bad());
    }
    Ok(millis)
}

/// Parses a filter.
pub fn parse_filter(text: &str, kind: SubjectKind) -> Result<Expr> {
    parse_for(text, kind).map_err(Error::InvalidFilter)
}

/// Validates a track request and stores it, all or nothing, durably.
pub fn track(store: &Store, body: &[u8], source: Source) -> Result<AppendReceipt> {
    Ok(store.track(body, source)?)
}

/// Checks a name for a saved segment: 1 to 128 bytes, no control characters.
pub fn check_segment_name(name: &str) -> Result<()> {
    let bad = |reason| Error::InvalidSegmentName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() || name.len() > 128 {
        return Err(bad("must be 1 to 128 bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("must not hold control characters"));
    }
    Ok(())
}

/// Saves (or replaces) a named segment: the filter is parsed and stored in
/// canonical form, which must itself be within the length limit; its
/// references must resolve (known, acyclic, within depth and size), and no
/// saved segment that refers to it may break. Live segments that reach it
/// (itself, when live) are decided again for every subject, so the edit
/// reaches their feeds. Returns what was saved.
pub fn save_segment(
    store: &Store,
    name: &str,
    filter: &str,
    kind: SubjectKind,
    description: Option<String>,
) -> Result<SavedSegment> {
    check_segment_name(name)?;
    let expr = parse_filter(filter, kind)?;
    let canonical = expr.to_string();
    if canonical.len() > MAX_FILTER_BYTES {
        return Err(Error::CanonicalTooLong {
            bytes: canonical.len(),
            limit: MAX_FILTER_BYTES,
        });
    }
    let reference = |n: &str| Expr::Cond(Condition::InSegment(n.to_owned()));
    let _changes = store.segment_change_lock();
    let before = StoreSegments::new(store);
    let after = StoreSegments::new(store).with_batch([(name.to_owned(), expr.clone())]);
    // A device segment may not reach `user.`, `age` or `birthday`, through
    // its own filter or the segments it refers to.
    let users_only = |root: &str, kind: SubjectKind, segments: &dyn cohort_eval::Segments| {
        let resolved = resolve(&[reference(root)], segments)?;
        Ok::<_, EvalError>(
            (kind == SubjectKind::Device)
                .then(|| user_profile_in(&[], &resolved))
                .flatten()
                .map(EvalError::UsersOnly),
        )
    };
    if let Some(e) = users_only(name, kind, &after)? {
        return Err(Error::Eval(e));
    }
    for (other, saved) in store.segments()? {
        if other == name {
            continue;
        }
        let broken = match resolve(&[reference(&other)], &after) {
            Err(source) => Some(source),
            Ok(_) => users_only(&other, saved.kind, &after)?,
        };
        if let Some(source) = broken {
            // A segment broken already is not this save's doing.
            let was_fine = resolve(&[reference(&other)], &before).is_ok()
                && users_only(&other, saved.kind, &before).is_ok_and(|e| e.is_none());
            if was_fine {
                return Err(Error::BreaksSegment {
                    name: name.to_owned(),
                    broken: other,
                    source: Box::new(source),
                });
            }
        }
    }
    let saved = SavedSegment {
        filter: canonical,
        kind,
        description,
    };
    // Live segments that reach it (itself among them) follow the edit:
    // marked not ready first, so that a crash before their refresh ends
    // has the next open decide them again.
    let affected = live_reaching(store, name, &after)?;
    store.mark_live_unready(&affected)?;
    store.save_segment(name, &saved)?;
    refresh_live(store, name, cohort_store::now_millis())?;
    Ok(saved)
}

/// Like [`save_segment`], and sets whether the segment is live:
/// `Some(true)` makes it live (if it is not), `Some(false)` stops it
/// (before the save, so that no refresh runs for it), `None` leaves it.
/// Returns what was saved and, when it was made live, its backfill.
pub fn save_segment_live(
    store: &Store,
    name: &str,
    filter: &str,
    kind: SubjectKind,
    description: Option<String>,
    live: Option<bool>,
) -> Result<(SavedSegment, Option<cohort_store::BackfillReceipt>)> {
    if live == Some(false) {
        // Checked first: a filter that does not parse changes nothing.
        parse_filter(filter, kind)?;
        stop_live(store, name)?;
    }
    let saved = save_segment(store, name, filter, kind, description)?;
    let backfill = match live {
        Some(true) if store.live_segment_id(name).is_none() => {
            Some(make_live(store, name, cohort_store::now_millis())?)
        }
        _ => None,
    };
    Ok((saved, backfill))
}

/// The live segments that reach `name` (itself among them, when live),
/// with the segments as `segments` has them.
fn live_reaching(store: &Store, name: &str, segments: &dyn Segments) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (_, def) in store.live_segments() {
        let root = Expr::Cond(Condition::InSegment(def.name.clone()));
        let reaches = def.name == name || resolve(&[root], segments).is_ok_and(|r| r.reaches(name));
        if reaches {
            out.push(def.name);
        }
    }
    Ok(out)
}

/// Deletes a saved segment, unless another saved segment refers to it.
pub fn delete_segment(store: &Store, name: &str) -> Result<()> {
    let _changes = store.segment_change_lock();
    let mut used_by = Vec::new();
    if store.segment(name)?.is_none() {
        return Err(Error::SegmentNotFound(name.to_owned()));
    }
    for (other, saved) in store.segments()? {
        if other != name && parse(&saved.filter).is_ok_and(|e| refers_to(&e, name)) {
            used_by.push(other);
        }
    }
    if !used_by.is_empty() {
        return Err(Error::SegmentInUse {
            name: name.to_owned(),
            used_by,
        });
    }
    // Its feed keeps what it recorded; its live state goes with it.
    store.stop_live(name, cohort_store::now_millis())?;
    store.delete_segment(name)?;
    Ok(())
}

fn refers_to(e: &Expr, name: &str) -> bool {
    match e {
        Expr::Or(items) | Expr::And(items) => items.iter().any(|i| refers_to(i, name)),
        Expr::Not(inner) => refers_to(inner, name),
        Expr::Cond(Condition::InSegment(n)) => n == name,
        Expr::Cond(_) => false,
    }
}

/// One evaluation's answer.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The members' dense ids (see [`View::subject_id`] for their IDs).
    pub members: RoaringBitmap,
    /// How many subjects of the kind were in the universe at `now` (with an
    /// event at or before it).
    pub universe: u64,
}

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalRequest {
    /// The evaluation instant (Unix ms).
    pub now: i64,
    /// Users or devices.
    pub kind: SubjectKind,
    /// Where scans run.
    pub executor: Executor,
}

/// Evaluates filters of one kind in one pass over one view; `segments`
/// resolves `in_segment` (the store's saved segments, and a batch's).
pub fn evaluate(
    view: &View<'_>,
    filters: &[Expr],
    segments: &dyn Segments,
    request: &EvalRequest,
) -> Result<Vec<Evaluation>> {
    let options = EvalOptions {
        now: request.now,
        kind: request.kind,
        executor: request.executor.clone(),
    };
    let members = evaluate_many(view, filters, segments, &options)?;
    let universe = universe(view.facts(request.kind), request.now).len();
    Ok(members
        .into_iter()
        .map(|members| Evaluation { members, universe })
        .collect())
}

/// Evaluates the saved segment `name` at `now` (its own subject kind).
pub fn evaluate_saved(
    store: &Store,
    view: &View<'_>,
    name: &str,
    now: i64,
    executor: Executor,
) -> Result<(SavedSegment, Evaluation)> {
    let saved = store
        .segment(name)?
        .ok_or_else(|| Error::SegmentNotFound(name.to_owned()))?;
    let request = EvalRequest {
        now,
        kind: saved.kind,
        executor,
    };
    let filter = Expr::Cond(Condition::InSegment(name.to_owned()));
    let evaluation = evaluate(view, &[filter], &StoreSegments::new(store), &request)?
        .pop()
        .expect("one result per filter");
    Ok((saved, evaluation))
}

/// Where a listing of members continues: the evaluation instant of the
/// listing (every page of one listing is of one instant) and the last
/// dense id shown. Written `NOW.SID`; opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberCursor {
    /// The listing's evaluation instant (Unix ms).
    pub now: i64,
    /// The last dense id of the previous page.
    pub after: u32,
}

impl std::fmt::Display for MemberCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.now, self.after)
    }
}

impl std::str::FromStr for MemberCursor {
    type Err = Error;

    fn from_str(text: &str) -> Result<MemberCursor> {
        let bad = || Error::InvalidCursor {
            text: text.to_owned(),
        };
        let (now, after) = text.split_once('.').ok_or_else(bad)?;
        Ok(MemberCursor {
            now: now.parse().map_err(|_| bad())?,
            after: after.parse().map_err(|_| bad())?,
        })
    }
}

/// One page of members: their IDs in dense-id order, after `cursor` (from
/// the start without one), at most `limit`; and the cursor of the next
/// page when more remain. `now` is the listing's evaluation instant.
pub fn member_page(
    view: &View<'_>,
    kind: SubjectKind,
    members: &RoaringBitmap,
    now: i64,
    cursor: Option<MemberCursor>,
    limit: usize,
) -> Result<(Vec<String>, Option<MemberCursor>)> {
    let mut iter = match cursor.and_then(|c| c.after.checked_add(1)) {
        Some(start) => members.range(start..),
        None if cursor.is_some() => members.range(0..0),
        None => members.range(..),
    };
    let mut ids = Vec::with_capacity(limit.min(members.len() as usize));
    let mut last = None;
    for sid in iter.by_ref().take(limit) {
        ids.push(view.subject_id(kind, sid)?);
        last = Some(sid);
    }
    let next = match (iter.next(), last) {
        (Some(_), Some(after)) => Some(MemberCursor { now, after }),
        _ => None,
    };
    Ok((ids, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_in_three_forms_and_nothing_else() {
        assert_eq!(parse_time("1970-01-02").unwrap(), 86_400_000);
        assert_eq!(parse_time("1970-01-01T00:00:01Z").unwrap(), 1000);
        assert_eq!(parse_time("-5").unwrap(), -5);
        for bad in ["", "yesterday", "2026-02-30", "2026-01-01T00:00:00"] {
            assert!(
                matches!(parse_time(bad), Err(Error::InvalidTime { .. })),
                "{bad}"
            );
        }
    }
}
