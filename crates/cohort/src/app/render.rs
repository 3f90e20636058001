//! Rendering a personalised message for one subject: its profile at `now`
//! and the entry event, read through one view, into a checked template.

use cohort_event::{parse_event, Event, Source, SubjectKind};
use cohort_liquid::{Context, EntryEvent, Subject, Template};
use cohort_store::{Cursor, EventRecord, RecentQuery, View};

use super::{subject_report, Error, Result};

/// Which event started the journey (`entry_event` in the template).
#[derive(Debug, Clone)]
pub enum Entry {
    /// No entry event: `entry_event` is missing.
    None,
    /// The subject's latest event of this type at or before `now` (ties:
    /// the later arrival).
    LatestOfType(String),
    /// This event, given whole (its subject must be the one rendered for;
    /// without `createdAt` it is taken as happening at `now`).
    Given(Event),
}

/// A rendered message and what it was rendered from.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The message.
    pub text: String,
    /// The entry event used; `None` when none was asked for, or none of
    /// the type asked for was found (then `entry_event` rendered as
    /// missing).
    pub entry_event: Option<EntryEvent>,
}

/// Checks a template (see [`Template::parse`]).
pub fn check_template(text: &str) -> Result<Template> {
    Template::parse(text).map_err(Error::Template)
}

/// Reads a whole event in track-API form (one JSON object) to use as an
/// entry event; errors name each invalid field.
pub fn parse_entry_event(json: &[u8]) -> Result<Event> {
    // The event is only read, never stored, so automatic (`@`) types are
    // as welcome as any: journeys start on them too.
    parse_event(json, Source::System).map_err(|errors| Error::InvalidEntryEvent {
        reasons: errors.iter().map(|e| e.to_string()).collect(),
    })
}

/// Renders `template` for one subject as of `now`: its tags and (for
/// users) attributes with their values at `now`, the entry event, and the
/// subject. A subject the store does not hold is an error.
pub fn render_message(
    view: &View<'_>,
    kind: SubjectKind,
    id: &str,
    now: i64,
    entry: &Entry,
    template: &Template,
) -> Result<Rendered> {
    let Some(report) = subject_report(view, kind, id, now)? else {
        return Err(Error::SubjectNotFound {
            kind,
            id: id.to_owned(),
        });
    };
    let subject = Subject {
        kind,
        id: id.to_owned(),
    };
    let entry_event = match entry {
        Entry::None => None,
        Entry::LatestOfType(event_type) => {
            latest_of_type(view, kind, id, now, event_type)?.map(|e| EntryEvent {
                event_type: e.event_type,
                time: e.time,
                subject: subject.clone(),
                data: e.data,
            })
        }
        Entry::Given(e) => {
            if e.subject_kind != kind || e.subject_id != id {
                return Err(Error::EntryEventSubject {
                    expected: format!("{kind} {id:?}"),
                    found: format!("{} {:?}", e.subject_kind, e.subject_id),
                });
            }
            Some(EntryEvent {
                event_type: e.event_type.clone(),
                time: e.time.unwrap_or(now),
                subject: subject.clone(),
                data: e.data.clone(),
            })
        }
    };
    let context = Context {
        subject: Some(subject),
        entry_event,
        tags: report
            .tags()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .collect(),
        attributes: report
            .attributes()
            .into_iter()
            .map(|(a, v)| (a, v.to_owned()))
            .collect(),
        now,
    };
    let text = template.render(&context).map_err(Error::Template)?;
    Ok(Rendered {
        text,
        entry_event: context.entry_event,
    })
}

/// The subject's latest event of `event_type` at or before `now` (ties:
/// the later arrival), read newest first through the recent-events order
/// a page at a time, so it stops at the first match instead of reading
/// the subject's whole history.
fn latest_of_type(
    view: &View<'_>,
    kind: SubjectKind,
    id: &str,
    now: i64,
    event_type: &str,
) -> Result<Option<EventRecord>> {
    let mut query = RecentQuery {
        subject: Some((kind, id.to_owned())),
        limit: 256,
        // Strictly older than (now + 1 ms, seq 0): every event at or before now.
        before: Some(Cursor {
            time: now.saturating_add(1),
            seq: 0,
        }),
    };
    loop {
        let page = view.recent(&query)?;
        if let Some(e) = page.events.into_iter().find(|e| e.event_type == event_type) {
            return Ok(Some(e));
        }
        match page.next {
            Some(next) => query.before = Some(next),
            None => return Ok(None),
        }
    }
}
