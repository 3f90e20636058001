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
