//! Bulk ingestion of NDJSON and track-request files.
//!
//! Input is streamed through three stages so that memory stays bounded
//! however large the file:
//!
//! 1. a reader thread cuts the input into chunks of whole lines (or whole
//!    track requests) of about [`IngestOptions::chunk_bytes`], never
//!    buffering more than [`IngestOptions::max_line_bytes`] of one line or
//!    request (`frame.rs`);
//! 2. a parser thread validates each chunk's lines in parallel with rayon;
//! 3. the calling thread stages each chunk's valid events into one
//!    [`cohort_store::BulkLoad`] and reports progress and rejects; it
//!    commits — one atomic, synced write of sorted table files, with the
//!    load mark — whenever the staged events reach
//!    [`IngestOptions::commit_bytes`] or [`IngestOptions::commit_interval`]
//!    has passed, and at the end.
//!
//! Bounded channels between the stages keep at most a few chunks in
//! flight, and the staged events at most `commit_bytes`. When
//! [`ingest_reader`] returns `Ok`, everything it reports as stored is
//! durable. When it stops on an error, it first commits what was staged
//! before the error (a chunk that failed in the store leaves no trace),
//! and the error says how much was stored.
//!
//! **Resuming.** Each commit also records, atomically with its events, how
//! far into the input it got ([`LoadMark`], keyed by a fingerprint of the
//! input's first 64 KiB). A load of an input that starts with the same
//! bytes as a recorded one skips what is already stored — after a crash, an
//! I/O error or a kill, the same command resumes exactly where the last
//! durable batch ended, and a repeated load stores nothing twice. An input
//! that has grown since (a log appended to) loads only what is new.
//! [`Resume::Never`] loads everything again.
//!
//! Gzip input is recognised by its magic bytes, whatever the file is
//! called. A UTF-8 byte-order mark at the start is skipped. A file whose
//! first bytes are `{"events"` is read as a sequence of track requests (each
//! all or nothing); anything else as NDJSON, one event per line, blank
//! lines skipped.

mod frame;
mod parse;

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cohort_event::{FieldError, Source};
use cohort_store::{now_millis, LoadMark, Store, StoreError};
use crossbeam_channel::{bounded, RecvTimeoutError};
use flate2::bufread::MultiGzDecoder;

use frame::{Chunk, Hashing};

/// How to ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Who is sending: only [`Source::System`] may send `@` events.
    /// Default [`Source::Client`].
    pub source: Source,
    /// Input bytes per chunk; each chunk's valid events are one write batch.
    /// Default 4 MiB.
    pub chunk_bytes: usize,
    /// Longest accepted line (or track request); longer ones are rejected
    /// as soon as they cross it, without being buffered. Default 16 MiB.
    pub max_line_bytes: usize,
    /// The time given to events without `createdAt`. Default: the clock at
    /// each batch's write.
    pub received_at: Option<i64>,
    /// Whether to skip what an earlier load of the same input stored.
    /// Default [`Resume::Auto`].
    pub resume: Resume,
    /// Staged memory at which the chunks read so far are committed (one
    /// atomic, durable write of table files with their load mark). Larger
    /// loads faster; a crash loses the work since the last commit (the
    /// same command then resumes after it). Default 512 MiB.
    pub commit_bytes: usize,
    /// The longest time staged chunks wait for a commit, so that a slow
    /// input (a pipe) is stored as it arrives: a chunk is sent on when it
    /// holds `chunk_bytes`, when the input ends, or when half this
    /// interval has passed since it began and the input was read again.
    /// (The first 64 KiB are read before anything, for the fingerprint.)
    /// Default 10 s.
    pub commit_interval: Duration,
}

impl Default for IngestOptions {
    fn default() -> IngestOptions {
        IngestOptions {
            source: Source::Client,
            chunk_bytes: 4 << 20,
            max_line_bytes: 16 << 20,
            received_at: None,
            resume: Resume::Auto,
            commit_bytes: 512 << 20,
            commit_interval: Duration::from_secs(10),
        }
    }
}

/// What to do with an input that was loaded (in part or whole) before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resume {
    /// Skip what is stored already and load the rest.
    #[default]
    Auto,
    /// Load the whole input again (its events are stored a second time).
    Never,
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
    /// ingesting again; cut short for a line or request over the limit.
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
    /// Events stored, durably, so far by this load.
    pub stored: u64,
    /// Events read and valid, to be stored by the next commit.
    pub staged: u64,
    /// Events rejected so far by this load.
    pub rejected: u64,
}

/// Callbacks for what ingestion finds as it goes.
pub struct Observer<'a> {
    /// Called once per rejected event (or rejected track request), in input order.
    pub on_reject: &'a mut dyn FnMut(Reject),
    /// Called after each batch is written.
    pub on_progress: &'a mut dyn FnMut(&Progress),
}

/// The outcome of ingesting one input (or of its part before an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestReport {
    /// Events stored from the input by this load.
    pub stored: u64,
    /// Events rejected (for a rejected track request, all its events).
    pub rejected: u64,
    /// `@first_session` events the store recorded for new devices.
    pub first_sessions: u64,
    /// Tag and attribute changes stored (one per key or attribute).
    pub profile_changes: u64,
    /// Input bytes read.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Whether everything counted in `stored` is durable (synced to disk).
    /// Always true for a report returned as `Ok`.
    pub durable: bool,
    /// What an earlier load of the same input had stored, and this load
    /// skipped (zero for a new input).
    pub skipped: Skipped,
}

/// What a resumed load found stored already and skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Skipped {
    /// Lines (or requests) skipped.
    pub items: u64,
    /// Events the earlier load stored from them.
    pub stored: u64,
    /// Events the earlier load rejected from them.
    pub rejected: u64,
}

impl IngestReport {
    /// Adds another input's report to this one.
    pub fn merge(&mut self, other: &IngestReport) {
        self.stored += other.stored;
        self.rejected += other.rejected;
        self.first_sessions += other.first_sessions;
        self.profile_changes += other.profile_changes;
        self.bytes += other.bytes;
        self.elapsed += other.elapsed;
        self.durable = self.durable && other.durable;
        self.skipped.items += other.skipped.items;
        self.skipped.stored += other.skipped.stored;
        self.skipped.rejected += other.skipped.rejected;
    }
}

/// Why ingestion stopped. Batches written before the error stay stored,
/// and are synced before the error is returned (see `stored`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// Reading the input failed.
    #[error("reading {input}: {source}; {}", stopped(.partial))]
    Io {
        /// The input's name.
        input: String,
        /// The I/O error.
        source: io::Error,
        /// What was stored before the error.
        partial: Box<IngestReport>,
    },
    /// The store failed.
    #[error("{source}; {}", stopped(.partial))]
    Store {
        /// The store's error.
        source: StoreError,
        /// What was stored before the error.
        partial: Box<IngestReport>,
    },
    /// The input starts like one loaded before, but differs from it (or
    /// ends) before the point that load reached: it cannot be resumed.
    #[error(
        "{input} starts with the same 64 KiB as {previous:?}, loaded before, but {} \
         the first {offset} bytes that load stored; it cannot be resumed, only loaded again \
         in full (Resume::Never)",
        if *.ended { "is shorter than" } else { "differs from it within" }
    )]
    Diverged {
        /// The input's name.
        input: String,
        /// The name of the earlier input.
        previous: String,
        /// How far the earlier load got.
        offset: u64,
        /// The input ended before `offset` (a truncated copy), rather than
        /// differing within it.
        ended: bool,
    },
}

fn stopped(partial: &IngestReport) -> String {
    let durable = if partial.durable {
        "durable"
    } else {
        "NOT known to be durable (the sync failed too)"
    };
    format!(
        "{} events of this input were stored before the error ({durable}); \
         the same command resumes after them",
        partial.stored
    )
}

impl IngestError {
    /// What was stored before the error (zero for [`IngestError::Diverged`]).
    pub fn partial(&self) -> IngestReport {
        match self {
            IngestError::Io { partial, .. } | IngestError::Store { partial, .. } => **partial,
            IngestError::Diverged { .. } => IngestReport::default(),
        }
    }
}

/// Bytes of the input's start its fingerprint covers.
pub const FINGERPRINT_BYTES: usize = 64 << 10;

/// The fingerprint a load mark of an input is kept under: a hash of its
/// first [`FINGERPRINT_BYTES`] (decompressed, after any byte-order mark),
/// or all of a shorter input. See [`Store::load_mark`].
pub fn fingerprint(head: &[u8]) -> [u8; 16] {
    xxhash_rust::xxh3::xxh3_128(&head[..head.len().min(FINGERPRINT_BYTES)]).to_be_bytes()
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
    let mut report = IngestReport {
        durable: true,
        ..IngestReport::default()
    };
    let io_err = |source, partial: IngestReport| IngestError::Io {
        input: input.to_owned(),
        source,
        partial: Box::new(partial),
    };
    let counter = Arc::new(AtomicU64::new(0));
    let counted = CountingReader {
        inner: reader,
        count: Arc::clone(&counter),
    };
    let mut raw = BufReader::with_capacity(1 << 20, counted);
    // Peek by reading (a pipe may give one byte at a time), then put back.
    let magic = read_up_to(&mut raw, 2).map_err(|e| io_err(e, report))?;
    let is_gzip = magic == [0x1f, 0x8b];
    let raw = io::Cursor::new(magic).chain(raw);
    let mut text: Box<dyn BufRead + Send + 'r> = if is_gzip {
        Box::new(BufReader::with_capacity(1 << 20, MultiGzDecoder::new(raw)))
    } else {
        Box::new(raw)
    };
    // The head: enough for the fingerprint (after a byte-order mark, which
    // is not part of the text).
    let mut head =
        read_up_to(&mut text, FINGERPRINT_BYTES + BOM.len()).map_err(|e| io_err(e, report))?;
    if head.starts_with(BOM) {
        head.drain(..BOM.len());
    }
    let key = fingerprint(&head);
    let format = frame::sniff(&head);

    let previous = match options.resume {
        Resume::Auto => find_mark(store, &key, &head).map_err(|source| IngestError::Store {
            source,
            partial: Box::new(report),
        })?,
        Resume::Never => None,
    };
    let mut text = Hashing::new(io::Cursor::new(head).chain(text));
    let mut mark = LoadMark {
        input: input.to_owned(),
        ..LoadMark::default()
    };
    if let Some(prev) = previous.filter(|p| p.offset > 0) {
        text.skip(prev.offset).map_err(|e| io_err(e, report))?;
        if text.offset() != prev.offset || text.digest() != prev.prefix_hash {
            return Err(IngestError::Diverged {
                input: input.to_owned(),
                previous: prev.input,
                offset: prev.offset,
                ended: text.offset() < prev.offset,
            });
        }
        report.skipped = Skipped {
            items: prev.items,
            stored: prev.stored,
            rejected: prev.rejected,
        };
        mark = LoadMark {
            input: input.to_owned(),
            ..prev
        };
    }

    let stage = || -> Result<(), IngestError> {
        std::thread::scope(|scope| -> Result<(), IngestError> {
            let (chunk_tx, chunk_rx) = bounded::<io::Result<Chunk>>(2);
            let (parsed_tx, parsed_rx) = bounded::<io::Result<parse::Parsed>>(2);
            let counter = &counter;
            let first_item = mark.items;
            scope.spawn(move || {
                let result =
                    frame::read_chunks(text, format, first_item, options, counter, &chunk_tx);
                if let Err(e) = result {
                    let _ = chunk_tx.send(Err(e));
                }
            });
            scope.spawn(move || {
                for chunk in chunk_rx {
                    let parsed = chunk.map(|c| parse::parse_chunk(c, format, input, options));
                    if parsed_tx.send(parsed).is_err() {
                        break;
                    }
                }
            });
            // Chunks are staged into one bulk load and committed together
            // (`cohort_store::BulkLoad`): as table files, with the load mark
            // of the last chunk, when the staged events reach
            // `commit_bytes`, every `commit_interval`, at the end, and
            // before any error is returned.
            let mut bulk = store.bulk_load().map_err(store_err(report))?;
            let mut staged = IngestReport::default();
            let mut last_commit = Instant::now();
            let commit = |bulk: &mut cohort_store::BulkLoad<'_>,
                          report: &mut IngestReport,
                          staged: &mut IngestReport|
             -> Result<(), IngestError> {
                bulk.commit().map_err(store_err(*report))?;
                report.stored += staged.stored;
                report.first_sessions += staged.first_sessions;
                report.profile_changes += staged.profile_changes;
                report.rejected += staged.rejected;
                *staged = IngestReport::default();
                Ok(())
            };
            loop {
                // Wait for the next chunk no longer than the commit interval:
                // a slow input's staged events are stored as time passes.
                let wait = options
                    .commit_interval
                    .saturating_sub(last_commit.elapsed());
                let parsed = match parsed_rx.recv_timeout(wait) {
                    Ok(parsed) => parsed,
                    Err(RecvTimeoutError::Disconnected) => break,
                    Err(RecvTimeoutError::Timeout) => {
                        if bulk.staged_events() > 0 || bulk.staged_changes() > 0 {
                            commit(&mut bulk, &mut report, &mut staged)?;
                            (observer.on_progress)(&Progress {
                                bytes: report.bytes,
                                stored: report.stored,
                                staged: 0,
                                rejected: report.rejected,
                            });
                        }
                        last_commit = Instant::now();
                        continue;
                    }
                };
                let parsed = match parsed {
                    Ok(p) => p,
                    Err(e) => {
                        // What was staged before the error is stored; if even
                        // that fails, the read error is still the one to
                        // report, with what was stored before.
                        let _ = commit(&mut bulk, &mut report, &mut staged);
                        return Err(io_err(e, report));
                    }
                };
                let mut next = mark.clone();
                next.offset = parsed.mark_end.offset;
                next.prefix_hash = parsed.mark_end.prefix_hash;
                next.items = parsed.mark_end.item;
                next.stored += parsed.events.len() as u64;
                next.rejected += parsed.mark_rejected;
                next.updated_at = now_millis();
                let profile = cohort_store::ProfileChanges {
                    tags: &parsed.tags,
                    attributes: &parsed.attributes,
                };
                let receipt = match bulk.append(
                    &parsed.events,
                    profile,
                    options.received_at,
                    Some((&key, &next)),
                ) {
                    Ok(r) => r,
                    Err(source) => {
                        // The chunk left no trace; what came before it is
                        // kept (and this error reported, whatever happens
                        // to that commit).
                        let _ = commit(&mut bulk, &mut report, &mut staged);
                        return Err(IngestError::Store {
                            source,
                            partial: Box::new(report),
                        });
                    }
                };
                mark = next;
                staged.stored += receipt.stored as u64;
                staged.first_sessions += receipt.first_sessions as u64;
                staged.profile_changes += receipt.profile_changes as u64;
                staged.rejected += parsed.rejected_events;
                report.bytes = parsed.bytes;
                // The chunk's events are freed on the parsers' pool, not on
                // this thread, whose staging is the pipeline's serial part.
                let events = parsed.events;
                rayon::spawn(move || drop(events));
                for r in parsed.rejects {
                    (observer.on_reject)(r);
                }
                if bulk.staged_bytes() >= options.commit_bytes
                    || last_commit.elapsed() >= options.commit_interval
                {
                    commit(&mut bulk, &mut report, &mut staged)?;
                    last_commit = Instant::now();
                }
                (observer.on_progress)(&Progress {
                    bytes: parsed.bytes,
                    stored: report.stored,
                    staged: staged.stored,
                    rejected: report.rejected + staged.rejected,
                });
            }
            commit(&mut bulk, &mut report, &mut staged)?;
            Ok(())
        })
    };
    // Every commit is synced: what `report` counts is durable, and an
    // error's partial report counts what was committed before it.
    let outcome = stage();
    report.bytes = counter.load(Ordering::Relaxed);
    report.elapsed = started.elapsed();
    outcome.map(|()| report).map_err(|mut e| {
        if let IngestError::Io { partial, .. } | IngestError::Store { partial, .. } = &mut e {
            partial.bytes = report.bytes;
            partial.elapsed = report.elapsed;
        }
        e
    })
}

/// Wraps a store error with what was stored before it.
fn store_err(partial: IngestReport) -> impl FnOnce(StoreError) -> IngestError {
    move |source| IngestError::Store {
        source,
        partial: Box::new(partial),
    }
}

/// A UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads (and consumes) up to `n` bytes, fewer only at the end of the input.
fn read_up_to(reader: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    reader.take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// The mark of an earlier load of this input: under its fingerprint; or,
/// when the input was shorter than the fingerprint's 64 KiB when it was
/// loaded (so its fingerprint covered less), the mark whose stored bytes
/// are exactly where this input starts — the longest such.
fn find_mark(store: &Store, key: &[u8; 16], head: &[u8]) -> Result<Option<LoadMark>, StoreError> {
    if let Some(mark) = store.load_mark(key)? {
        return Ok(Some(mark));
    }
    Ok(store
        .load_marks()?
        .into_iter()
        .map(|(_, mark)| mark)
        .filter(|m| {
            m.offset > 0
                && m.offset < FINGERPRINT_BYTES as u64
                && m.offset <= head.len() as u64
                && xxhash_rust::xxh3::xxh3_128(&head[..m.offset as usize]) == m.prefix_hash
        })
        .max_by_key(|m| m.offset))
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
