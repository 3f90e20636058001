//! Bulk ingestion of NDJSON and track-request files.
//!
//! Input is streamed through three stages so that memory stays bounded
//! however large the file:
//!
//! 1. a reader thread cuts the input into chunks of whole lines (or whole
//!    track requests) of about [`IngestOptions::chunk_bytes`];
//! 2. a parser thread validates each chunk's lines in parallel with rayon;
//! 3. the calling thread appends each chunk's valid events as one atomic
//!    batch ([`Durability::Buffered`]) and reports progress and rejects.
//!
//! Bounded channels between the stages keep at most a few chunks in
//! flight. When [`ingest_reader`] returns `Ok`, the write-ahead log has
//! been synced: everything it reports as stored is durable. A crash before
//! that may lose the most recent batches, but never part of one.
//!
//! Gzip input is recognised by its magic bytes, whatever the file is
//! called. A file whose first bytes are `{"events"` is read as a sequence
//! of track requests (each all or nothing); anything else as NDJSON, one
//! event per line, blank lines skipped.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cohort_event::{parse_event, parse_track_request, Event, FieldError, RequestError, Source};
use cohort_store::{AppendOptions, Durability, Store, StoreError};
use crossbeam_channel::bounded;
use flate2::bufread::MultiGzDecoder;
use rayon::prelude::*;

/// How to ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Who is sending: only [`Source::System`] may send `@` events.
    /// Default [`Source::Client`].
    pub source: Source,
    /// Input bytes per chunk; each chunk's valid events are one write batch.
    /// Default 4 MiB.
    pub chunk_bytes: usize,
    /// Longest accepted line; longer lines are rejected without being
    /// buffered whole. Default 16 MiB.
    pub max_line_bytes: usize,
    /// The time given to events without `createdAt`. Default: the clock at
    /// each batch's write.
    pub received_at: Option<i64>,
}

impl Default for IngestOptions {
    fn default() -> IngestOptions {
        IngestOptions {
            source: Source::Client,
            chunk_bytes: 4 << 20,
            max_line_bytes: 16 << 20,
            received_at: None,
        }
    }
}

/// Where a rejected event was in its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// An NDJSON line (1-based).
    Line(u64),
    /// A track request in a request file (1-based); its errors name the
    /// events at fault (`events[2].subjectId`).
    Request(u64),
}

/// An event (or a whole track request) that was not stored, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// The input's name (a file path, or `-` for stdin).
    pub input: String,
    /// Where in the input.
    pub position: Position,
    /// Every broken rule.
    pub errors: Vec<FieldError>,
    /// The rejected text (the line, or the request), for fixing and
    /// ingesting again.
    pub text: String,
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Position::Line(n) => write!(f, "{}:{n}: ", self.input)?,
            Position::Request(n) => write!(f, "{} request {n}: ", self.input)?,
        }
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Progress so far, reported after each batch is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes consumed (compressed bytes for gzip input).
    pub bytes: u64,
    /// Events stored so far.
    pub stored: u64,
    /// Events rejected so far.
    pub rejected: u64,
}

/// Callbacks for what ingestion finds as it goes.
pub struct Observer<'a> {
    /// Called once per rejected event (or rejected track request), in input order.
    pub on_reject: &'a mut dyn FnMut(Reject),
    /// Called after each batch is written.
    pub on_progress: &'a mut dyn FnMut(&Progress),
}

/// The outcome of ingesting one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestReport {
    /// Events stored from the input.
    pub stored: u64,
    /// Events rejected (for a rejected track request, all its events).
    pub rejected: u64,
    /// `@first_session` events the store recorded for new devices.
    pub first_sessions: u64,
    /// Input bytes read.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl IngestReport {
    /// Adds another input's report to this one.
    pub fn merge(&mut self, other: &IngestReport) {
        self.stored += other.stored;
        self.rejected += other.rejected;
        self.first_sessions += other.first_sessions;
        self.bytes += other.bytes;
        self.elapsed += other.elapsed;
    }
}

/// Why ingestion stopped. Batches written before the error stay stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Reading the input failed.
    #[error("reading {input}: {source}")]
    Io {
        /// The input's name.
        input: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One unit of work: a chunk of whole lines or whole requests.
struct Chunk {
    data: Vec<u8>,
    items: Vec<Item>,
    /// Input bytes consumed when the chunk was complete.
    bytes: u64,
}

/// A line or request inside a chunk's `data`.
struct Item {
    number: u64,
    start: usize,
    end: usize,
    /// Longer than the limit: its bytes were skipped, not kept.
    oversized: bool,
}

struct Parsed {
    events: Vec<Event>,
    rejects: Vec<Reject>,
    rejected_events: u64,
    bytes: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Ndjson,
    Requests,
}

/// Ingests one input (NDJSON or track requests, plain or gzip) into the
/// store, then syncs the write-ahead log. See the module docs.
pub fn ingest_reader<'r, R: Read + Send + 'r>(
    store: &Store,
    input: &str,
    reader: R,
    options: &IngestOptions,
    observer: &mut Observer<'_>,
) -> Result<IngestReport, IngestError> {
    let started = Instant::now();
    let io_err = |source| IngestError::Io {
        input: input.to_owned(),
        source,
    };
    let counter = Arc::new(AtomicU64::new(0));
    let counted = CountingReader {
        inner: reader,
        count: Arc::clone(&counter),
    };
    let mut raw = BufReader::with_capacity(1 << 20, counted);
    let is_gzip = raw.fill_buf().map_err(io_err)?.starts_with(&[0x1f, 0x8b]);
    let mut text: Box<dyn BufRead + Send + 'r> = if is_gzip {
        Box::new(BufReader::with_capacity(1 << 20, MultiGzDecoder::new(raw)))
    } else {
        Box::new(raw)
    };
    let format = sniff(&mut text).map_err(io_err)?;

    let mut report = IngestReport::default();
    std::thread::scope(|scope| -> Result<(), IngestError> {
        let (chunk_tx, chunk_rx) = bounded::<io::Result<Chunk>>(2);
        let (parsed_tx, parsed_rx) = bounded::<io::Result<Parsed>>(2);
        let counter = &counter;
        scope.spawn(move || {
            let result = match format {
                Format::Ndjson => read_lines(text, options, counter, &chunk_tx),
                Format::Requests => read_requests(text, options, counter, &chunk_tx),
            };
            if let Err(e) = result {
                let _ = chunk_tx.send(Err(e));
            }
        });
        scope.spawn(move || {
            for chunk in chunk_rx {
                let parsed = chunk.map(|c| parse_chunk(c, format, input, options));
                if parsed_tx.send(parsed).is_err() {
                    break;
                }
            }
        });
        for parsed in parsed_rx {
            let parsed = parsed.map_err(io_err)?;
            let receipt = store.append(
                &parsed.events,
                AppendOptions {
                    durability: Durability::Buffered,
                    received_at: options.received_at,
                },
            )?;
            report.stored += receipt.stored as u64;
            report.first_sessions += receipt.first_sessions as u64;
            report.rejected += parsed.rejected_events;
            report.bytes = parsed.bytes;
            for r in parsed.rejects {
                (observer.on_reject)(r);
            }
            (observer.on_progress)(&Progress {
                bytes: parsed.bytes,
                stored: report.stored,
                rejected: report.rejected,
            });
        }
        Ok(())
    })?;
    store.sync()?;
    report.bytes = counter.load(Ordering::Relaxed);
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Counts the bytes read through it, for progress.
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A request file starts with `{` and then the key `"events"`.
fn sniff(reader: &mut dyn BufRead) -> io::Result<Format> {
    let buf = reader.fill_buf()?;
    let mut rest = buf.iter().skip_while(|b| b.is_ascii_whitespace());
    if rest.next() != Some(&b'{') {
        return Ok(Format::Ndjson);
    }
    let after: Vec<u8> = rest
        .skip_while(|b| b.is_ascii_whitespace())
        .take(8)
        .copied()
        .collect();
    Ok(if after == b"\"events\"" {
        Format::Requests
    } else {
        Format::Ndjson
    })
}

fn read_lines(
    mut reader: Box<dyn BufRead + Send + '_>,
    options: &IngestOptions,
    counter: &AtomicU64,
    tx: &crossbeam_channel::Sender<io::Result<Chunk>>,
) -> io::Result<()> {
    let mut line_no = 0u64;
    loop {
        let mut chunk = Chunk {
            data: Vec::with_capacity(options.chunk_bytes + 4096),
            items: Vec::new(),
            bytes: 0,
        };
        let mut eof = false;
        while chunk.data.len() < options.chunk_bytes {
            let start = chunk.data.len();
            let limit = options.max_line_bytes as u64 + 1;
            let n = (&mut reader)
                .take(limit)
                .read_until(b'\n', &mut chunk.data)?;
            if n == 0 {
                eof = true;
                break;
            }
            line_no += 1;
            let oversized = n as u64 == limit && chunk.data.last() != Some(&b'\n');
            if oversized {
                chunk.data.truncate(start);
                skip_line(&mut reader)?;
            }
            chunk.items.push(Item {
                number: line_no,
                start,
                end: chunk.data.len(),
                oversized,
            });
        }
        chunk.bytes = counter.load(Ordering::Relaxed);
        if !chunk.items.is_empty() && tx.send(Ok(chunk)).is_err() {
            return Ok(());
        }
        if eof {
            return Ok(());
        }
    }
}

/// Discards input up to and including the next newline.
fn skip_line(reader: &mut dyn BufRead) -> io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match memchr::memchr(b'\n', buf) {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

fn read_requests(
    reader: Box<dyn BufRead + Send + '_>,
    options: &IngestOptions,
    counter: &AtomicU64,
    tx: &crossbeam_channel::Sender<io::Result<Chunk>>,
) -> io::Result<()> {
    let stream = serde_json::Deserializer::from_reader(reader)
        .into_iter::<Box<serde_json::value::RawValue>>();
    let mut chunk = Chunk {
        data: Vec::new(),
        items: Vec::new(),
        bytes: 0,
    };
    for (number, request) in (1u64..).zip(stream) {
        let start = chunk.data.len();
        match request {
            Ok(raw) => chunk.data.extend_from_slice(raw.get().as_bytes()),
            Err(e) if e.is_io() => return Err(e.into()),
            Err(e) => {
                // A syntax error ends the stream: the rest cannot be framed.
                chunk.data.extend_from_slice(format!("\u{0}{e}").as_bytes());
                chunk.items.push(Item {
                    number,
                    start,
                    end: chunk.data.len(),
                    oversized: false,
                });
                break;
            }
        }
        chunk.items.push(Item {
            number,
            start,
            end: chunk.data.len(),
            oversized: false,
        });
        if chunk.data.len() >= options.chunk_bytes {
            chunk.bytes = counter.load(Ordering::Relaxed);
            if tx
                .send(Ok(std::mem::replace(
                    &mut chunk,
                    Chunk {
                        data: Vec::new(),
                        items: Vec::new(),
                        bytes: 0,
                    },
                )))
                .is_err()
            {
                return Ok(());
            }
        }
    }
    chunk.bytes = counter.load(Ordering::Relaxed);
    if !chunk.items.is_empty() {
        let _ = tx.send(Ok(chunk));
    }
    Ok(())
}

/// What one line or request turned into.
enum Outcome {
    Blank,
    Events(Vec<Event>),
    Rejected(Reject, u64),
}

fn parse_chunk(chunk: Chunk, format: Format, input: &str, options: &IngestOptions) -> Parsed {
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
    };
    for outcome in outcomes {
        match outcome {
            Outcome::Blank => {}
            Outcome::Events(events) => parsed.events.extend(events),
            Outcome::Rejected(reject, n) => {
                parsed.rejects.push(reject);
                parsed.rejected_events += n;
            }
        }
    }
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
    match format {
        Format::Ndjson => {
            let position = Position::Line(item.number);
            if item.oversized {
                let reason = format!(
                    "the line is longer than the limit of {} bytes",
                    options.max_line_bytes
                );
                return reject(position, vec![line_error(&reason)], 1);
            }
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Outcome::Blank;
            }
            match parse_event(bytes, source) {
                Ok(event) => Outcome::Events(vec![event]),
                Err(errors) => reject(position, errors, 1),
            }
        }
        Format::Requests => {
            let position = Position::Request(item.number);
            if let Some(message) = bytes.strip_prefix(b"\0") {
                let message = String::from_utf8_lossy(message);
                let reason = format!("invalid JSON: {message}; the rest of the input was not read");
                return reject(position, vec![line_error(&reason)], 0);
            }
            match parse_track_request(bytes, source) {
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
            }
        }
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
