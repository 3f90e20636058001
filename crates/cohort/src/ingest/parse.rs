//! Validating a chunk's lines or requests, in parallel.

use cohort_event::{parse_event, parse_track_request, Event, FieldError, RequestError};
use rayon::prelude::*;

use super::frame::{Chunk, Format, Item, Problem, Tail};
use super::{IngestOptions, Position, Reject};

/// A chunk, validated.
pub(crate) struct Parsed {
    pub events: Vec<Event>,
    pub rejects: Vec<Reject>,
    pub rejected_events: u64,
    pub bytes: u64,
    /// Where the load mark may end after this chunk: its end, or — when
    /// its last item is an unfinished tail that was rejected — before it.
    pub mark_end: Tail,
    /// Rejected events the mark counts (not the re-readable tail's).
    pub mark_rejected: u64,
}

/// What one line or request turned into.
enum Outcome {
    Blank,
    /// A line's event (not a one-element `Vec`: no allocation per line).
    Event(Event),
    Events(Vec<Event>),
    Rejected(Reject, u64),
}

pub(crate) fn parse_chunk(
    chunk: Chunk,
    format: Format,
    input: &str,
    options: &IngestOptions,
) -> Parsed {
    let outcomes: Vec<Outcome> = chunk
        .items
        .par_iter()
        .map(|item| parse_item(&chunk.data, item, format, input, options))
        .collect();
    let mut parsed = Parsed {
        events: Vec::with_capacity(outcomes.len()),
        rejects: Vec::new(),
        rejected_events: 0,
        bytes: chunk.bytes,
        mark_end: Tail {
            offset: chunk.end_offset,
            prefix_hash: chunk.prefix_hash,
            item: chunk.end_item,
        },
        mark_rejected: 0,
    };
    let mut tail_rejected = 0;
    if let (Some(tail), Some(last), Some(Outcome::Rejected(_, n))) =
        (chunk.tail, chunk.items.last(), outcomes.last())
    {
        if last.number == tail.item + 1 {
            parsed.mark_end = tail;
            tail_rejected = *n;
        }
    }
    for outcome in outcomes {
        match outcome {
            Outcome::Blank => {}
            Outcome::Event(event) => parsed.events.push(event),
            Outcome::Events(events) => parsed.events.extend(events),
            Outcome::Rejected(reject, n) => {
                parsed.rejects.push(reject);
                parsed.rejected_events += n;
            }
        }
    }
    parsed.mark_rejected = parsed.rejected_events - tail_rejected;
    parsed
}

fn parse_item(
    data: &[u8],
    item: &Item,
    format: Format,
    input: &str,
    options: &IngestOptions,
) -> Outcome {
    let source = options.source;
    let bytes = &data[item.start..item.end];
    let reject = |position, errors, n| {
        let text = String::from_utf8_lossy(bytes).trim_end().to_owned();
        Outcome::Rejected(
            Reject {
                input: input.to_owned(),
                position,
                errors,
                text,
            },
            n,
        )
    };
    let position = match format {
        Format::Ndjson => Position::Line(item.number),
        Format::Requests => Position::Request(item.number),
    };
    let what = match format {
        Format::Ndjson => "line",
        Format::Requests => "request",
    };
    match &item.problem {
        Some(Problem::TooLong) => {
            let reason = format!(
                "the {what} is longer than the limit of {} bytes; it was skipped",
                options.max_line_bytes
            );
            return reject(position, vec![line_error(&reason)], 1);
        }
        Some(Problem::Unfinished) => {
            return reject(
                position,
                vec![line_error("invalid JSON: the input ends inside this request")],
                0,
            )
        }
        Some(Problem::NotARequest) => {
            return reject(
                position,
                vec![line_error(
                    "invalid JSON: expected `{` to begin a track request; the rest of the input was not read",
                )],
                0,
            )
        }
        None => {}
    }
    match format {
        Format::Ndjson => {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Outcome::Blank;
            }
            match parse_event(bytes, source) {
                Ok(event) => Outcome::Event(event),
                Err(errors) => reject(position, errors, 1),
            }
        }
        Format::Requests => match parse_track_request(bytes, source) {
            Ok(events) => Outcome::Events(events),
            Err(RequestError::Events(invalid)) => {
                let errors = invalid
                    .iter()
                    .flat_map(|e| {
                        e.errors.iter().map(move |f| FieldError {
                            field: match f.field.as_str() {
                                "" => format!("events[{}]", e.index),
                                field => format!("events[{}].{field}", e.index),
                            },
                            reason: f.reason.clone(),
                        })
                    })
                    .collect();
                reject(position, errors, count_events(bytes))
            }
            Err(e) => reject(
                position,
                vec![line_error(&e.to_string())],
                count_events(bytes),
            ),
        },
    }
}

fn line_error(reason: &str) -> FieldError {
    FieldError {
        field: String::new(),
        reason: reason.to_owned(),
    }
}

/// How many events a (rejected) request held, for the rejected count.
fn count_events(bytes: &[u8]) -> u64 {
    #[derive(serde::Deserialize)]
    struct Shape {
        events: Vec<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Shape>(bytes).map_or(0, |s| s.events.len() as u64)
}
