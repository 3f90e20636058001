//! Rendering a personalised message for one subject: its profile at `now`
//! and the entry event, read through one view, into a checked template.

use cohort_event::{parse_event, Event, Source, SubjectKind};
use cohort_liquid::{Context, EntryEvent, Subject, Template};
use cohort_store::{Profile, View};

use super::{Error, Result};

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
    let Some(sid) = view.try_subject_dense_id(kind, id)? else {
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
        Entry::LatestOfType(event_type) => view
            .events(kind, id, ..=now)?
            .into_iter()
            .rev()
            .find(|e| &e.event_type == event_type)
            .map(|e| EntryEvent {
                event_type: e.event_type,
                time: e.time,
                subject: subject.clone(),
                data: e.data,
            }),
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
    let profile: Profile = view.profile_of(kind, sid)?;
    let context = Context {
        subject: Some(subject),
        entry_event: entry_event.clone(),
        tags: profile
            .tags_at(now)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .collect(),
        attributes: profile
            .attributes_at(now)
            .into_iter()
            .map(|(a, v)| (a, v.to_owned()))
            .collect(),
        now,
    };
    let text = template.render(&context).map_err(Error::Template)?;
    Ok(Rendered { text, entry_event })
}
