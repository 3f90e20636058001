//! Helpers shared by the store's tests.
#![allow(dead_code, missing_docs)]

use cohort_store::{Event, SubjectKind, Value};

pub fn event(
    kind: SubjectKind,
    id: &str,
    event_type: &str,
    time: i64,
    data: &[(&str, Value)],
) -> Event {
    Event {
        subject_kind: kind,
        subject_id: id.to_owned(),
        event_type: event_type.to_owned(),
        time: Some(time),
        data: data
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    }
}

pub fn user(id: &str, event_type: &str, time: i64) -> Event {
    event(SubjectKind::User, id, event_type, time, &[])
}

pub fn device(id: &str, event_type: &str, time: i64) -> Event {
    event(SubjectKind::Device, id, event_type, time, &[])
}

/// Checks every structure derived from the log against the log itself, as
/// of one view: per-subject facts (with the first profile change), the
/// catalog's counts and times, the
/// event blocks (every event in exactly one block row, in the right week),
/// and the time index behind recent events. Returns the number of events.
pub fn check_derived(store: &cohort_store::Store) -> Result<u64, String> {
    use std::collections::HashMap;
    let view = store.view();
    let mut per_type: HashMap<String, (u64, i64, i64)> = HashMap::new();
    // (kind, subject, type) → event count, from the log.
    let mut from_log: HashMap<(u8, u32, String), u64> = HashMap::new();
    let mut total = 0u64;
    for kind in SubjectKind::ALL {
        let facts = view.facts(kind);
        for sid in 0..view.subject_count(kind) {
            let id = view.subject_id(kind, sid).map_err(|e| e.to_string())?;
            let events = view.events(kind, &id, ..).map_err(|e| e.to_string())?;
            let f = facts[sid as usize];
            let first = events.iter().map(|e| e.time).min();
            let last = events.iter().map(|e| e.time).max();
            let times_agree = if f.count == 0 {
                first.is_none()
            } else {
                Some(f.first_seen) == first && Some(f.last_seen) == last
            };
            if f.count != events.len() as u64 || !times_agree {
                return Err(format!(
                    "{kind} {id}: facts {f:?} but the log has {} events from {first:?} to {last:?}",
                    events.len()
                ));
            }
            let profile = view.profile_of(kind, sid).map_err(|e| e.to_string())?;
            let profile_first = profile
                .tags
                .values()
                .chain(profile.attributes.values())
                .flatten()
                .map(|e| e.time)
                .min()
                .unwrap_or(i64::MAX);
            if f.profile_first != profile_first {
                return Err(format!(
                    "{kind} {id}: facts {f:?} but the first profile change is at {profile_first}"
                ));
            }
            for e in &events {
                total += 1;
                let t = per_type
                    .entry(e.event_type.clone())
                    .or_insert((0, i64::MAX, i64::MIN));
                t.0 += 1;
                t.1 = t.1.min(e.time);
                t.2 = t.2.max(e.time);
                *from_log
                    .entry((kind.tag(), sid, e.event_type.clone()))
                    .or_default() += 1;
            }
        }
    }
    for entry in store.catalog().unwrap() {
        let (count, first, last) = per_type
            .remove(&entry.name)
            .unwrap_or((0, i64::MAX, i64::MIN));
        let times = (count > 0).then_some((first, last));
        if entry.count != count || entry.first_seen.zip(entry.last_seen) != times {
            return Err(format!(
                "catalog {}: {} events {:?}..{:?}, the log {count} {times:?}",
                entry.name, entry.count, entry.first_seen, entry.last_seen
            ));
        }
    }
    if !per_type.is_empty() {
        return Err(format!(
            "types in the log but not the catalog: {:?}",
            per_type.keys()
        ));
    }
    let mut from_blocks: HashMap<(u8, u32, String), u64> = HashMap::new();
    for kind in SubjectKind::ALL {
        for type_id in view.type_ids() {
            let name = view.type_name(type_id).ok_or("a type without a name")?;
            let blocks = view
                .blocks(
                    kind,
                    type_id,
                    i64::MIN / cohort_store::BUCKET_MILLIS - 1
                        ..=i64::MAX / cohort_store::BUCKET_MILLIS,
                )
                .map_err(|e| e.to_string())?;
            for b in blocks {
                for (row, (&sid, &t)) in b.subjects().iter().zip(b.times()).enumerate() {
                    if cohort_store::bucket_of(t) != b.bucket {
                        return Err(format!(
                            "row {row} of a block of week {} is at {t}",
                            b.bucket
                        ));
                    }
                    *from_blocks
                        .entry((kind.tag(), sid, name.clone()))
                        .or_default() += 1;
                }
            }
        }
    }
    if from_blocks != from_log {
        let diff: Vec<_> = from_log
            .iter()
            .filter(|(k, v)| from_blocks.get(*k) != Some(*v))
            .take(5)
            .collect();
        return Err(format!("blocks and log differ: {diff:?}"));
    }
    let mut recent = 0u64;
    let mut before = None;
    loop {
        let page = view
            .recent(&cohort_store::RecentQuery {
                limit: 1000,
                before,
                ..Default::default()
            })
            .map_err(|e| e.to_string())?;
        recent += page.events.len() as u64;
        match page.next {
            Some(c) => before = Some(c),
            None => break,
        }
    }
    if recent != total {
        return Err(format!(
            "the time index has {recent} events, the log {total}"
        ));
    }
    Ok(total)
}
