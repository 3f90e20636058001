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
}

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
    loop {
        let mut chunk = Chunk {
            data: Vec::with_capacity(options.chunk_bytes + 4096),
            items: Vec::new(),
            bytes: 0,
            end_offset: 0,
            prefix_hash: 0,
            end_item: 0,
        };
        let mut done = false;
        while chunk.data.len() < options.chunk_bytes {
            let start = chunk.data.len();
            let read = match format {
                Format::Ndjson => read_line(&mut reader, &mut chunk.data, options.max_line_bytes)?,
                Format::Requests => {
                    read_request(&mut reader, &mut chunk.data, options.max_line_bytes)?
                }
            };
            let Some(problem) = read else {
                done = true;
                break;
            };
            number += 1;
            done = problem == Some(Problem::NotARequest) || problem == Some(Problem::Unfinished);
            chunk.items.push(Item {
                number,
                start,
                end: chunk.data.len(),
                problem,
            });
            if done {
                break;
            }
        }
        chunk.bytes = counter.load(Ordering::Relaxed);
        chunk.end_offset = reader.offset();
        chunk.prefix_hash = reader.digest();
        chunk.end_item = number;
        if !chunk.items.is_empty() && tx.send(Ok(chunk)).is_err() {
            return Ok(());
        }
        if done {
            return Ok(());
        }
    }
}

/// Appends one line (without its newline) to `out`; `None` at the end of
/// the input. A line longer than `max` keeps only its first `max` bytes.
fn read_line(
    reader: &mut impl BufRead,
    out: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<Option<Problem>>> {
    let start = out.len();
    let mut any = false;
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(any.then_some(too_long.then_some(Problem::TooLong)));
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
            return Ok(Some(too_long.then_some(Problem::TooLong)));
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
) -> io::Result<Option<Option<Problem>>> {
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
        return Ok(Some(Some(Problem::NotARequest)));
    }
    let start = out.len();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(Some(Some(if too_long {
                Problem::TooLong
            } else {
                Problem::Unfinished
            })));
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
            return Ok(Some(too_long.then_some(Problem::TooLong)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_framed_by_their_braces_outside_strings() {
        let text = br#"{"events":[{"a":"}{\"]"}]}
 {"events":[]}   {"x""#;
        let mut r = Hashing::new(&text[..]);
        let mut out = Vec::new();
        assert_eq!(read_request(&mut r, &mut out, 1000).unwrap(), Some(None));
        assert_eq!(out, br#"{"events":[{"a":"}{\"]"}]}"#);
        out.clear();
        assert_eq!(read_request(&mut r, &mut out, 1000).unwrap(), Some(None));
        assert_eq!(out, br#"{"events":[]}"#);
        out.clear();
        assert_eq!(
            read_request(&mut r, &mut out, 1000).unwrap(),
            Some(Some(Problem::Unfinished))
        );
        assert_eq!(read_request(&mut r, &mut out, 1000).unwrap(), None);
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
            read_request(&mut r, &mut out, 100).unwrap(),
            Some(Some(Problem::TooLong))
        );
        assert_eq!(out.len(), 100);
        out.clear();
        assert_eq!(read_request(&mut r, &mut out, 100).unwrap(), Some(None));
        assert_eq!(out, br#"{"events":[]}"#);
    }

    #[test]
    fn an_oversized_line_keeps_only_the_limit() {
        let text = format!("{}\nshort\nlast", "x".repeat(5000));
        let mut r = Hashing::new(text.as_bytes());
        let mut out = Vec::new();
        assert_eq!(
            read_line(&mut r, &mut out, 10).unwrap(),
            Some(Some(Problem::TooLong))
        );
        assert_eq!(out, b"xxxxxxxxxx");
        out.clear();
        assert_eq!(read_line(&mut r, &mut out, 10).unwrap(), Some(None));
        assert_eq!(out, b"short");
        out.clear();
        assert_eq!(read_line(&mut r, &mut out, 10).unwrap(), Some(None));
        assert_eq!(out, b"last");
        assert_eq!(read_line(&mut r, &mut out, 10).unwrap(), None);
    }
}
