//! Validating a chunk's lines or requests, in parallel.

use cohort_event::{
    parse_line, parse_track_request, AttributeChange, Event, FieldError, Line, TagChange,
    TrackRequest,
};
use rayon::prelude::*;

use super::frame::{Chunk, Format, Item, Problem, Tail};
use super::{IngestOptions, Position, Reject};

/// A chunk, validated.
pub(crate) struct Parsed {
    pub events: Vec<Event>,
    /// The tag and attribute changes of the chunk's track requests.
    pub tags: Vec<TagChange>,
    pub attributes: Vec<AttributeChange>,
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
    Request(TrackRequest),
    Rejected(Reject, u64),
}

pub(crate) fn parse_chunk(
    chunk: Chunk,
    format: Format,
    input: &str,
    options: &IngestOptions,
) -> Parsed {
    // A `dob` may not be later than the day the load runs (or the time
    // the load gives its events).
    let received_at = options.received_at.unwrap_or_else(cohort_store::now_millis);
    let outcomes: Vec<Outcome> = chunk
        .items
        .par_iter()
        .map(|item| parse_item(&chunk.data, item, format, input, options, received_at))
        .collect();
    let mut parsed = Parsed {
        events: Vec::with_capacity(outcomes.len()),
        tags: Vec::new(),
        attributes: Vec::new(),
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
            Outcome::Request(request) => {
                parsed.events.extend(request.events);
                parsed.tags.extend(request.tags);
                parsed.attributes.extend(request.attributes);
            }
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
    received_at: i64,
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
            match parse_line(bytes, source, received_at) {
                Ok(Line::Event(event)) => Outcome::Event(event),
                Ok(Line::Request(request)) => Outcome::Request(request),
                Err(e) if e.is_request => reject(position, e.errors, count_events(bytes)),
                Err(e) => reject(position, e.errors, 1),
            }
        }
        Format::Requests => match parse_track_request(bytes, source, received_at) {
            Ok(request) => Outcome::Request(request),
            Err(e) => reject(position, e.field_errors(), count_events(bytes)),
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
