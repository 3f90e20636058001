//! Cutting the input into chunks of whole lines or whole track requests,
//! without ever buffering more of one than the limit allows, and hashing
//! every byte as it passes (for the load marks that make a load resumable).

use std::io::{self, BufRead, Read};
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::Sender;
use xxhash_rust::xxh3::Xxh3;

use super::IngestOptions;

/// NDJSON lines, or a sequence of track requests.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Format {
    Ndjson,
    Requests,
}

/// A request file starts with `{` and then the key `"events"`.
pub(crate) fn sniff(head: &[u8]) -> Format {
    let mut rest = head.iter().skip_while(|b| b.is_ascii_whitespace());
    if rest.next() != Some(&b'{') {
        return Format::Ndjson;
    }
    let after: Vec<u8> = rest
        .skip_while(|b| b.is_ascii_whitespace())
        .take(8)
        .copied()
        .collect();
    if after == b"\"events\"" {
        Format::Requests
    } else {
        Format::Ndjson
    }
}

/// A reader that hashes (XXH3-128) and counts every byte consumed.
pub(crate) struct Hashing<R> {
    inner: R,
    hasher: Xxh3,
    offset: u64,
}

impl<R: BufRead> Hashing<R> {
    pub fn new(inner: R) -> Hashing<R> {
        Hashing {
            inner,
            hasher: Xxh3::new(),
            offset: 0,
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The hash of the bytes consumed so far.
    pub fn digest(&self) -> u128 {
        self.hasher.digest128()
    }

    /// Where the input stands: offset and hash state (a few hundred bytes,
    /// copied), to go back to for the mark when the next item turns out
    /// to be an unfinished tail.
    fn position(&self) -> (u64, Xxh3) {
        (self.offset, self.hasher.clone())
    }

    /// Consumes `n` bytes (fewer at the end of the input).
    pub fn skip(&mut self, mut n: u64) -> io::Result<()> {
        while n > 0 {
            let available = self.fill_buf()?.len();
            if available == 0 {
                return Ok(());
            }
            let take = available.min(n.try_into().unwrap_or(usize::MAX));
            self.consume(take);
            n -= take as u64;
        }
        Ok(())
    }
}

impl<R: BufRead> Read for Hashing<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let buf = self.fill_buf()?;
        let n = buf.len().min(out.len());
        out[..n].copy_from_slice(&buf[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Hashing<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        // The bytes being consumed are the front of the buffer just filled.
        if let Ok(buf) = self.inner.fill_buf() {
            self.hasher.update(&buf[..n.min(buf.len())]);
        }
        self.offset += n as u64;
        self.inner.consume(n);
    }
}

/// One unit of work: a chunk of whole lines or whole requests.
pub(crate) struct Chunk {
    pub data: Vec<u8>,
    pub items: Vec<Item>,
    /// Raw input bytes consumed when the chunk was complete (for progress).
    pub bytes: u64,
    /// Text bytes consumed through the chunk's last item, and their hash.
    pub end_offset: u64,
    pub prefix_hash: u128,
    /// The number of the chunk's last item.
    pub end_item: u64,
    /// When the chunk's last item ends the input unfinished — a last line
    /// without a newline, a request the input ends inside, something that
    /// is not a request — where the input stood before it. If that item
    /// is rejected, the load mark ends there instead: a later load of the
    /// input (completed by then, perhaps) reads it again.
    pub tail: Option<Tail>,
}

/// A position in the input: offset, hash of the bytes before it, and the
/// number of the last item before it.
#[derive(Clone, Copy)]
pub(crate) struct Tail {
    pub offset: u64,
    pub prefix_hash: u128,
    pub item: u64,
}

/// Each item costs at least this much of a chunk's byte budget, so that a
/// file of blank or two-byte lines still makes chunks of bounded size.
const MIN_ITEM_COST: usize = 64;

/// Most items in one chunk.
const MAX_ITEMS: usize = 1 << 16;

/// A line or request inside a chunk's `data`.
pub(crate) struct Item {
    pub number: u64,
    pub start: usize,
    pub end: usize,
    pub problem: Option<Problem>,
}

/// Why an item cannot be parsed as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// Longer than the limit: only its start was kept.
    TooLong,
    /// The input ended inside it.
    Unfinished,
    /// Not the start of a request; the rest of the input was not read.
    NotARequest,
}

/// Reads chunks until the input ends, sending each. `first_item` is the
/// number of the last item already stored (0 for a fresh load).
pub(crate) fn read_chunks<R: BufRead>(
    mut reader: Hashing<R>,
    format: Format,
    first_item: u64,
    options: &IngestOptions,
    counter: &AtomicU64,
    tx: &Sender<io::Result<Chunk>>,
) -> io::Result<()> {
    let mut number = first_item;
    let budget = options.chunk_bytes.max(1);
    loop {
        let mut chunk = Chunk {
            data: Vec::with_capacity(budget.min(64 << 20) + 4096),
            items: Vec::new(),
            bytes: 0,
            end_offset: 0,
            prefix_hash: 0,
            end_item: 0,
            tail: None,
        };
        let chunk_first = number;
        let mut spent = 0;
        let mut done = false;
        // A slow input (a pipe that trickles) sends what it has once half
        // the commit interval has passed, so that it is committed as it
        // arrives. The clock is read only when the input was read again
        // (the byte counter moved), not once per line.
        let opened = std::time::Instant::now();
        let mut seen = counter.load(Ordering::Relaxed);
        while spent < budget && chunk.items.len() < MAX_ITEMS {
            let now = counter.load(Ordering::Relaxed);
            if now != seen {
                seen = now;
                if !chunk.items.is_empty() && opened.elapsed() >= options.commit_interval / 2 {
                    break;
                }
            }
            let start = chunk.data.len();
            let (before, state) = reader.position();
            let read = match format {
                Format::Ndjson => read_line(&mut reader, &mut chunk.data, options.max_line_bytes)?,
                Format::Requests => {
                    read_request(&mut reader, &mut chunk.data, options.max_line_bytes)?
                }
            };
            let Some(Framed { problem, finished }) = read else {
                done = true;
                break;
            };
            number += 1;
            spent += ((reader.offset() - before) as usize).max(MIN_ITEM_COST);
            if !finished {
                chunk.tail = Some(Tail {
                    offset: before,
                    prefix_hash: state.digest128(),
                    item: number - 1,
                });
                done = true;
            }
            let blank =
                problem.is_none() && chunk.data[start..].iter().all(u8::is_ascii_whitespace);
            if blank {
                // Counted (line numbers stay true) but not kept.
                chunk.data.truncate(start);
            } else {
                chunk.items.push(Item {
                    number,
                    start,
                    end: chunk.data.len(),
                    problem,
                });
            }
            if done {
                break;
            }
        }
        chunk.bytes = counter.load(Ordering::Relaxed);
        chunk.end_offset = reader.offset();
        chunk.prefix_hash = reader.digest();
        chunk.end_item = number;
        // A chunk of blank lines still moves the mark.
        let moved = number > chunk_first;
        if moved && tx.send(Ok(chunk)).is_err() {
            return Ok(());
        }
        if done {
            return Ok(());
        }
    }
}

/// What reading one item found.
pub(crate) struct Framed {
    problem: Option<Problem>,
    /// The item ended (a newline, a closing brace): it is whole, and the
    /// input may go on after it.
    finished: bool,
}

/// Appends one line (without its newline) to `out`; `None` at the end of
/// the input. A line longer than `max` keeps only its first `max` bytes.
fn read_line(
    reader: &mut impl BufRead,
    out: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<Framed>> {
    let start = out.len();
    let mut any = false;
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(any.then_some(Framed {
                problem: too_long.then_some(Problem::TooLong),
                finished: false,
            }));
        }
        any = true;
        let (take, end) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i, true),
            None => (buf.len(), false),
        };
        let room = (start + max).saturating_sub(out.len());
        if take > room {
            too_long = true;
        }
        out.extend_from_slice(&buf[..take.min(room)]);
        reader.consume(take + usize::from(end));
        if end {
            return Ok(Some(Framed {
                problem: too_long.then_some(Problem::TooLong),
                finished: true,
            }));
        }
    }
}

/// Appends one track request (a JSON object, found by its braces outside
/// strings) to `out`; `None` at the end of the input. Whitespace between
/// requests is skipped. A request longer than `max` keeps only its first
/// `max` bytes, and is read to its end without keeping the rest.
fn read_request(
    reader: &mut impl BufRead,
    out: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<Framed>> {
    // Skip whitespace to the next value.
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        let ws = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        if ws < buf.len() {
            reader.consume(ws);
            break;
        }
        let n = buf.len();
        reader.consume(n);
    }
    if reader.fill_buf()?[0] != b'{' {
        // Keep a little of what is there, for the reject's text.
        let buf = reader.fill_buf()?;
        out.extend_from_slice(&buf[..buf.len().min(64)]);
        return Ok(Some(Framed {
            problem: Some(Problem::NotARequest),
            finished: false,
        }));
    }
    let start = out.len();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(Some(Framed {
                problem: Some(if too_long {
                    Problem::TooLong
                } else {
                    Problem::Unfinished
                }),
                finished: false,
            }));
        }
        let mut end = None;
        for (i, &b) in buf.iter().enumerate() {
            if in_string {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = Some(i + 1);
                        break;
                    }
                }
                _ => {}
            }
        }
        let take = end.unwrap_or(buf.len());
        let room = (start + max).saturating_sub(out.len());
        if take > room {
            too_long = true;
        }
        out.extend_from_slice(&buf[..take.min(room)]);
        reader.consume(take);
        if end.is_some() {
            return Ok(Some(Framed {
                problem: too_long.then_some(Problem::TooLong),
                finished: true,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(problem: Option<Problem>) -> Option<(Option<Problem>, bool)> {
        Some((problem, true))
    }

    fn cut(problem: Option<Problem>) -> Option<(Option<Problem>, bool)> {
        Some((problem, false))
    }

    trait Parts {
        fn parts(self) -> Option<(Option<Problem>, bool)>;
    }

    impl Parts for Option<Framed> {
        fn parts(self) -> Option<(Option<Problem>, bool)> {
            self.map(|r| (r.problem, r.finished))
        }
    }

    #[test]
    fn requests_are_framed_by_their_braces_outside_strings() {
        let text = br#"{"events":[{"a":"}{\"]"}]}
 {"events":[]}   {"x""#;
        let mut r = Hashing::new(&text[..]);
        let mut out = Vec::new();
        assert_eq!(
            read_request(&mut r, &mut out, 1000).unwrap().parts(),
            whole(None)
        );
        assert_eq!(out, br#"{"events":[{"a":"}{\"]"}]}"#);
        out.clear();
        assert_eq!(
            read_request(&mut r, &mut out, 1000).unwrap().parts(),
            whole(None)
        );
        assert_eq!(out, br#"{"events":[]}"#);
        out.clear();
        assert_eq!(
            read_request(&mut r, &mut out, 1000).unwrap().parts(),
            cut(Some(Problem::Unfinished))
        );
        assert!(read_request(&mut r, &mut out, 1000)
            .unwrap()
            .parts()
            .is_none());
        assert_eq!(r.offset(), text.len() as u64);
        assert_eq!(r.digest(), xxhash_rust::xxh3::xxh3_128(text));
    }

    #[test]
    fn an_oversized_request_keeps_only_the_limit() {
        let big = format!(
            r#"{{"events":[{}]}} {{"events":[]}}"#,
            "1,".repeat(10_000) + "1"
        );
        let mut r = Hashing::new(big.as_bytes());
        let mut out = Vec::new();
        assert_eq!(
            read_request(&mut r, &mut out, 100).unwrap().parts(),
            whole(Some(Problem::TooLong))
        );
        assert_eq!(out.len(), 100);
        out.clear();
        assert_eq!(
            read_request(&mut r, &mut out, 100).unwrap().parts(),
            whole(None)
        );
        assert_eq!(out, br#"{"events":[]}"#);
    }

    /// Blank (or tiny) lines cost a chunk at least `MIN_ITEM_COST` each
    /// and are not kept: a gigabyte of newlines makes bounded chunks.
    #[test]
    fn blank_lines_make_bounded_chunks() {
        let text = "\n".repeat(100_000) + "{}\n";
        let (tx, rx) = crossbeam_channel::unbounded();
        let options = IngestOptions {
            chunk_bytes: 4096,
            ..Default::default()
        };
        let counter = AtomicU64::new(0);
        read_chunks(
            Hashing::new(text.as_bytes()),
            Format::Ndjson,
            0,
            &options,
            &counter,
            &tx,
        )
        .unwrap();
        drop(tx);
        let chunks: Vec<Chunk> = rx.into_iter().map(Result::unwrap).collect();
        assert!(chunks.len() >= 100_000 * MIN_ITEM_COST / 4096);
        assert!(chunks
            .iter()
            .all(|c| c.data.len() <= 4096 && c.end_item - c.items.len() as u64 <= 100_001));
        let kept: Vec<&Item> = chunks.iter().flat_map(|c| &c.items).collect();
        assert_eq!(kept.len(), 1, "only the one non-blank line");
        assert_eq!(kept[0].number, 100_001);
        assert_eq!(chunks.last().unwrap().end_item, 100_001);
        assert!(chunks.iter().all(|c| c.tail.is_none()));
    }

    #[test]
    fn an_oversized_line_keeps_only_the_limit() {
        let text = format!("{}\nshort\nlast", "x".repeat(5000));
        let mut r = Hashing::new(text.as_bytes());
        let mut out = Vec::new();
        assert_eq!(
            read_line(&mut r, &mut out, 10).unwrap().parts(),
            whole(Some(Problem::TooLong))
        );
        assert_eq!(out, b"xxxxxxxxxx");
        out.clear();
        assert_eq!(
            read_line(&mut r, &mut out, 10).unwrap().parts(),
            whole(None)
        );
        assert_eq!(out, b"short");
        out.clear();
        // The last line has no newline: read, but not known to be whole.
        assert_eq!(read_line(&mut r, &mut out, 10).unwrap().parts(), cut(None));
        assert_eq!(out, b"last");
        assert_eq!(read_line(&mut r, &mut out, 10).unwrap().parts(), None);
    }
}
