//! Request-smuggling guard for HTTP/1 connections.
//!
//! hyper resolves a request carrying both `Content-Length` and `Transfer-Encoding` the safe way
//! (chunked wins, connection closed afterwards) but hands the service a request with the length
//! header already removed, so the conflict cannot be seen there. The request is to be refused
//! outright, so the connection's reads pass through this tracker, which follows request
//! heads and bodies (`Content-Length` and chunked) and flags the connection when any head on it
//! carries both, or a length that two parsers could read differently (two `Content-Length`
//! headers, a list, a sign). A flagged connection's requests are refused and it is closed. When
//! framing becomes unparseable (e.g. HTTP/2, an over-long chunk line) the tracker stops.

use std::sync::atomic::{AtomicBool, Ordering};

/// Shared between the connection's reader and its requests.
#[derive(Debug, Default)]
pub struct ConnFlags {
    conflicting_length: AtomicBool,
}

impl ConnFlags {
    pub fn conflicting_length(&self) -> bool {
        self.conflicting_length.load(Ordering::Relaxed)
    }
}

/// Where in the byte stream the tracker is.
#[derive(Debug)]
pub enum Tracker {
    Head(Vec<u8>),
    Body(u64),
    /// A chunked body: the size line being read.
    ChunkSize(Vec<u8>),
    /// A chunk's data and its CRLF still to pass.
    ChunkData(u64),
    /// After the last chunk: trailer lines until an empty one.
    Trailer(Vec<u8>),
    Off,
}

/// Longest chunk-size line followed (size, extensions); a longer one stops the tracker.
const MAX_CHUNK_LINE: usize = 1024;

/// Whether a connection that reads `chunks` in this order gets flagged (16 KiB heads): the whole
/// tracker on one input, for tests and the fuzz harness.
pub fn verdict(chunks: &[&[u8]]) -> bool {
    let flags = ConnFlags::default();
    let mut t = Tracker::new();
    for c in chunks {
        t.feed(c, &flags, 1 << 14);
    }
    flags.conflicting_length()
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker::Head(Vec::new())
    }
}

impl Tracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes read from the client; sets the flag when a head carries both length headers.
    pub fn feed(&mut self, mut bytes: &[u8], flags: &ConnFlags, max_head: usize) {
        while !bytes.is_empty() {
            match self {
                Tracker::Off => return,
                Tracker::Body(n) => {
                    if skip(n, &mut bytes) {
                        *self = Tracker::Head(Vec::new());
                    }
                }
                Tracker::ChunkData(n) => {
                    if skip(n, &mut bytes) {
                        *self = Tracker::ChunkSize(Vec::new());
                    }
                }
                Tracker::ChunkSize(line) => match read_line(line, &mut bytes, MAX_CHUNK_LINE) {
                    Line::Partial => return,
                    Line::TooLong => *self = Tracker::Off,
                    Line::Complete => *self = chunk_size(line),
                },
                Tracker::Trailer(buf) => match read_line(buf, &mut bytes, max_head) {
                    Line::Partial => return,
                    Line::TooLong => *self = Tracker::Off,
                    // An empty line ends the trailers and the request; a trailer line is skipped.
                    Line::Complete if buf.is_empty() || buf == b"\r" => {
                        *self = Tracker::Head(Vec::new());
                    }
                    Line::Complete => buf.clear(),
                },
                Tracker::Head(buf) => {
                    let start = buf.len().saturating_sub(3);
                    buf.extend_from_slice(bytes);
                    let Some(end) = buf[start..]
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .map(|p| start + p + 4)
                    else {
                        if buf.len() > max_head {
                            *self = Tracker::Off;
                        }
                        return;
                    };
                    let consumed = bytes.len() - (buf.len() - end);
                    bytes = &bytes[consumed..];
                    match next_state(&buf[..end], flags) {
                        // Reuse the head buffer: no allocation per request on a keep-alive connection.
                        Tracker::Head(_) => buf.clear(),
                        next => *self = next,
                    }
                }
            }
        }
    }
}

/// Passes up to `n` body bytes; whether the body is done.
fn skip(n: &mut u64, bytes: &mut &[u8]) -> bool {
    let take = usize::try_from(*n).unwrap_or(usize::MAX).min(bytes.len());
    *n -= take as u64;
    *bytes = &bytes[take..];
    *n == 0
}

enum Line {
    Complete,
    Partial,
    TooLong,
}

/// Appends `bytes` up to the next `\n` to `line` (without it).
fn read_line(line: &mut Vec<u8>, bytes: &mut &[u8], max: usize) -> Line {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(nl) => {
            line.extend_from_slice(&bytes[..nl]);
            *bytes = &bytes[nl + 1..];
            Line::Complete
        }
        None => {
            line.extend_from_slice(bytes);
            *bytes = &[];
            match line.len() > max {
                true => Line::TooLong,
                false => Line::Partial,
            }
        }
    }
}

fn next_state(head: &[u8], flags: &ConnFlags) -> Tracker {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut headers);
    if !matches!(req.parse(head), Ok(httparse::Status::Complete(_))) {
        return Tracker::Off;
    }
    let mut te = false;
    let mut chunked = false;
    let mut lengths = 0;
    let mut cl = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            te = true;
            chunked = std::str::from_utf8(h.value).is_ok_and(|v| {
                v.rsplit(',')
                    .next()
                    .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
            });
        } else if h.name.eq_ignore_ascii_case("content-length") {
            lengths += 1;
            // Digits only: `5, 5` or `+5` is a length two parsers may read differently.
            cl = std::str::from_utf8(h.value)
                .ok()
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok());
        }
    }
    let ambiguous = (te && lengths > 0) || lengths > 1 || (lengths == 1 && cl.is_none());
    if ambiguous {
        flags.conflicting_length.store(true, Ordering::Relaxed);
        return Tracker::Off;
    }
    match (te, cl) {
        (true, _) if chunked => Tracker::ChunkSize(Vec::new()),
        (true, _) => Tracker::Off,
        (false, Some(0)) | (false, None) => Tracker::Head(Vec::new()),
        (false, Some(n)) => Tracker::Body(n),
    }
}

/// The state after a chunk-size line: the chunk's data and CRLF, or the trailers after the last.
fn chunk_size(line: &[u8]) -> Tracker {
    let text = std::str::from_utf8(line).unwrap_or("");
    let size = text.split(';').next().unwrap_or("").trim();
    match u64::from_str_radix(size, 16) {
        Ok(0) => Tracker::Trailer(Vec::new()),
        Ok(n) => n.checked_add(2).map_or(Tracker::Off, Tracker::ChunkData),
        Err(_) => Tracker::Off,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> bool {
        verdict(chunks)
    }

    #[test]
    fn flags_conflicts_in_any_head_it_can_frame() {
        assert!(run(&[b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"]));
        assert!(run(&[
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r",
            b"\nContent-Length: 4\r\n\r",
            b"\n"
        ]));
        // Second request on a keep-alive connection, after a framed body.
        assert!(run(&[
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
        ]));
    }

    #[test]
    fn every_request_of_a_keep_alive_connection_is_checked() {
        // After a chunked body (with an extension and a trailer), split anywhere.
        let chunked: &[u8] = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nX-T: 1\r\n\r\n";
        let smuggled: &[u8] =
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let whole = [chunked, smuggled].concat();
        for split in 1..whole.len() {
            assert!(run(&[&whole[..split], &whole[split..]]), "split at {split}");
        }
        // A clean chunked request followed by a clean one: nothing flagged.
        assert!(!run(&[chunked, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]));
    }

    #[test]
    fn duplicate_or_listed_lengths_are_ambiguous() {
        assert!(run(&[
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"
        ]));
        assert!(run(&[b"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n"]));
        assert!(run(&[b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n"]));
        assert!(!run(&[
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
        ]));
    }

    #[test]
    fn bodies_mentioning_the_headers_are_not_heads() {
        let body = b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let head = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len());
        assert!(!run(&[head.as_bytes(), body, b"GET / HTTP/1.1\r\n\r\n"]));
        assert!(!run(&[b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04"]));
    }
}
