//! The JSON forms every front end shows: a subject's profile and the
//! catalog. One place, so that `cohort profile --format json` and
//! `GET /users/{id}` say the same thing the same way.

use cohort_event::{format_millis, Value};
use cohort_liquid::EntryEvent;
use cohort_store::{CatalogEntry, ProfileEntry, SavedSegment, TagKeyEntry};
use serde_json::{json, Map, Value as Json};

use super::SubjectReport;

/// A subject's profile at the report's instant: tags and attributes with
/// their values then, event facts, and every change (oldest first).
pub fn profile_json(r: &SubjectReport) -> Json {
    let history = |entries: &[ProfileEntry]| -> Vec<Json> {
        entries
            .iter()
            .map(|e| {
                json!({
                    "time": format_millis(e.time),
                    "value": e.value.as_ref().map_or(Json::Null, Value::to_json),
                })
            })
            .collect()
    };
    let tags: Map<String, Json> = r
        .tags()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_json()))
        .collect();
    let attributes: Map<String, Json> = r
        .attributes()
        .into_iter()
        .map(|(a, v)| (a.as_str().to_owned(), v.into()))
        .collect();
    let mut changes = Map::new();
    for (k, h) in &r.profile.tags {
        changes.insert(format!("tags.{k}"), history(h).into());
    }
    for (a, h) in &r.profile.attributes {
        changes.insert(a.as_str().to_owned(), history(h).into());
    }
    json!({
        "subjectType": r.kind.as_str(),
        "subjectId": r.id,
        "now": format_millis(r.now),
        "events": {
            "count": r.facts.count,
            "first": (r.facts.count > 0).then(|| format_millis(r.facts.first_seen)),
            "last": (r.facts.count > 0).then(|| format_millis(r.facts.last_seen)),
        },
        "tags": tags,
        "attributes": attributes,
        "changes": changes,
    })
}

/// One tag key of the catalog.
pub fn tag_key_json(t: &TagKeyEntry) -> Json {
    let kinds: Map<String, Json> = t
        .kinds
        .iter()
        .map(|(k, n)| (k.as_str().to_owned(), (*n).into()))
        .collect();
    json!({
        "key": t.key,
        "subjectType": t.kind.as_str(),
        "kinds": kinds,
        "deletes": t.deletes,
        "holdersNow": t.holders,
    })
}

/// The integrated events catalog: event types, then tag keys.
pub fn catalog_json(types: &[CatalogEntry], tags: &[TagKeyEntry]) -> Json {
    let types: Vec<Json> = types.iter().map(CatalogEntry::to_json).collect();
    let tags: Vec<Json> = tags.iter().map(tag_key_json).collect();
    json!({"eventTypes": types, "tagKeys": tags})
}

/// A saved segment: its name, canonical filter, subject kind and
/// description.
pub fn segment_json(name: &str, s: &SavedSegment) -> Json {
    json!({
        "name": name,
        "filter": s.filter,
        "subjectType": s.kind.as_str(),
        "description": s.description,
    })
}

/// The entry event a message was rendered with: type, time, data.
pub fn entry_event_json(e: &EntryEvent) -> Json {
    let data: Map<String, Json> = e
        .data
        .iter()
        .map(|(k, v)| (k.clone(), v.to_json()))
        .collect();
    json!({
        "type": e.event_type,
        "createdAt": format_millis(e.time),
        "data": data,
    })
}
