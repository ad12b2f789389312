//! Request-smuggling guard for HTTP/1 connections.
//!
//! hyper resolves a request carrying both `Content-Length` and `Transfer-Encoding` the safe way
//! (chunked wins, connection closed afterwards) but hands the service a request with the length
//! header already removed, so the conflict cannot be seen there. SPEC 12 asks for the request to be
//! refused outright, so the connection's reads pass through this tracker, which follows request
//! heads and `Content-Length` bodies and flags the connection when a head carries both. Once framing
//! becomes chunked (or unparseable, e.g. HTTP/2) it stops: hyper closes such a connection after a
//! conflicting request anyway, so nothing after it is ever served.

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
    Off,
}

impl Tracker {
    pub fn new() -> Self {
        Tracker::Head(Vec::new())
    }

    /// Feeds bytes read from the client; sets the flag when a head carries both length headers.
    pub fn feed(&mut self, mut bytes: &[u8], flags: &ConnFlags, max_head: usize) {
        while !bytes.is_empty() {
            match self {
                Tracker::Off => return,
                Tracker::Body(n) => {
                    let take = usize::try_from(*n).unwrap_or(usize::MAX).min(bytes.len());
                    *n -= take as u64;
                    bytes = &bytes[take..];
                    if *n == 0 {
                        *self = Tracker::Head(Vec::new());
                    }
                }
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

fn next_state(head: &[u8], flags: &ConnFlags) -> Tracker {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut headers);
    if !matches!(req.parse(head), Ok(httparse::Status::Complete(_))) {
        return Tracker::Off;
    }
    let mut te = false;
    let mut cl = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            te = true;
        } else if h.name.eq_ignore_ascii_case("content-length") {
            cl = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .or(Some(u64::MAX));
        }
    }
    match (te, cl) {
        (true, Some(_)) => {
            flags.conflicting_length.store(true, Ordering::Relaxed);
            Tracker::Off
        }
        (true, None) | (false, Some(u64::MAX)) => Tracker::Off,
        (false, Some(0)) | (false, None) => Tracker::Head(Vec::new()),
        (false, Some(n)) => Tracker::Body(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> bool {
        let flags = ConnFlags::default();
        let mut t = Tracker::new();
        for c in chunks {
            t.feed(c, &flags, 1 << 14);
        }
        flags.conflicting_length()
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
    fn bodies_mentioning_the_headers_are_not_heads() {
        let body = b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let head = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len());
        assert!(!run(&[head.as_bytes(), body, b"GET / HTTP/1.1\r\n\r\n"]));
        assert!(!run(&[b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04"]));
    }
}
