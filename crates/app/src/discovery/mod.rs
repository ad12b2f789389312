//! Discovery (issue 5): with `discovery: true` in the policies, bodies on routes no policy covers
//! are sampled as they stream past — never held back, never changed — and scanned by the same
//! detectors as `redact`, so the DPO learns which undeclared endpoints carry personal data and
//! can declare or block them. Only the method, a normalized path, the kinds found and counts are
//! kept; the sample is dropped right after the scan.
//!
//! The proxy copies at most [`SAMPLE_BYTES`] of a body into a sample and hands it over with a
//! non-blocking send; when the scanner falls behind, samples are dropped, not queued. The
//! scanner folds findings in memory and writes them every few seconds, so discovery costs one
//! small write per flush, not one per request.

use std::collections::{BTreeSet, HashMap};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::mpsc;

use crate::forms::{json, urlencoded, CodecLimits, Leaf};
use pdgate_core::actions::detect;
use pdgate_core::Millis;
use pdgate_store::{Oversight, Store};

/// The most of one body that is scanned.
pub const SAMPLE_BYTES: usize = 64 * 1024;
/// Samples waiting for the scanner; more are dropped.
const QUEUE: usize = 256;
/// Distinct flows kept between flushes; more are dropped until the next flush.
const MAX_FLOWS: usize = 1000;

/// A body seen on an undeclared route.
#[derive(Debug)]
pub struct Sample {
    pub method: String,
    pub path: String,
    pub content_type: String,
    pub body: BytesMut,
    pub at: Millis,
}

/// The proxy's handle: taps bodies into samples.
#[derive(Clone)]
pub struct Discovery {
    tx: mpsc::Sender<Sample>,
}

impl Discovery {
    /// The handle and the receiver [`run`] consumes.
    pub fn new() -> (Discovery, mpsc::Receiver<Sample>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Discovery { tx }, rx)
    }

    /// `body` forwarded unchanged while its first bytes are copied into a sample. Empty bodies
    /// and content types the detectors cannot read are not worth a copy.
    pub fn tap(&self, parts: &http::request::Parts, body: Incoming) -> Tapped {
        let content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let sample = (textual(&content_type) && !body.is_end_stream()).then(|| Sample {
            method: parts.method.as_str().to_owned(),
            path: normalize_path(parts.uri.path()),
            content_type,
            body: BytesMut::new(),
            at: pdgate_core::now_millis(),
        });
        Tapped {
            inner: body,
            sample,
            tx: self.tx.clone(),
        }
    }
}

/// A request body on its way upstream with a sample being taken.
pub struct Tapped {
    inner: Incoming,
    sample: Option<Sample>,
    tx: mpsc::Sender<Sample>,
}

impl Tapped {
    fn hand_over(&mut self) {
        if let Some(s) = self.sample.take() {
            // Never wait: a full queue means the sample is not needed that badly.
            let _ = self.tx.try_send(s);
        }
    }
}

impl HttpBody for Tapped {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        match &r {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(s), Some(data)) = (this.sample.as_mut(), frame.data_ref()) {
                    let room = SAMPLE_BYTES - s.body.len();
                    s.body.extend_from_slice(&data[..data.len().min(room)]);
                    if s.body.len() >= SAMPLE_BYTES {
                        this.hand_over();
                    }
                }
            }
            Poll::Ready(None) => this.hand_over(),
            // A broken body is not scanned: half a form says little and may mislead.
            Poll::Ready(Some(Err(_))) => this.sample = None,
            Poll::Pending => {}
        }
        if this.inner.is_end_stream() {
            this.hand_over();
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Replaces path segments that look like identifiers (numbers, UUIDs, long hex or tokens, or
/// anything a detector finds — percent-encoded or not) by `{id}`, so `/users/42/notes` and
/// `/users/43/notes` are one flow and no identifier is stored.
pub fn normalize_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, raw) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let seg = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
        let digits = seg.bytes().filter(u8::is_ascii_digit).count();
        let idish = !seg.is_empty()
            && (seg.bytes().all(|b| b.is_ascii_digit())
                || (seg.len() >= 16 && seg.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
                || (seg.len() >= 8 && digits * 2 >= seg.len())
                || seg.contains('@')
                || !pdgate_core::actions::detect::detect(&seg, "").is_empty());
        out.push_str(if idish { "{id}" } else { raw });
    }
    out
}

/// The kinds of personal data in a sample: form and JSON bodies leaf by leaf, anything else that
/// is text as a whole.
pub fn kinds(s: &Sample, token_domain: &str) -> BTreeSet<&'static str> {
    let limits = CodecLimits {
        max_fields: 10_000,
        max_json_depth: 64,
        max_parts: 0,
        max_body_bytes: SAMPLE_BYTES as u64,
    };
    let ct = s.content_type.to_ascii_lowercase();
    let leaves: Option<Vec<Leaf>> = if ct.starts_with("application/x-www-form-urlencoded") {
        urlencoded::parse(&s.body, &limits).ok()
    } else if ct.starts_with("application/json") || ct.contains("+json") {
        json::parse(&s.body, &limits).ok().map(|(_, l)| l)
    } else {
        None
    };
    let mut found = BTreeSet::new();
    let mut scan = |text: &str| {
        for f in detect::detect(text, token_domain) {
            found.insert(f.kind.as_str());
        }
    };
    match leaves {
        Some(leaves) => leaves.iter().for_each(|l| scan(&l.value)),
        None if textual(&ct) => scan(&String::from_utf8_lossy(&s.body)),
        None => {}
    }
    found
}

/// Whether a body of this (lower-case) content type can carry text the detectors read; other
/// bodies (images, archives, octet streams) are not sampled at all.
fn textual(ct: &str) -> bool {
    ct.starts_with("application/x-www-form-urlencoded")
        || ct.starts_with("text/")
        || ct.starts_with("multipart/")
        || ct.contains("json")
        || ct.contains("xml")
}

/// A flow as the API and the register show it.
pub fn flow_json(f: &pdgate_store::oversight::FlowRow) -> serde_json::Value {
    serde_json::json!({
        "method": f.method,
        "path": f.path,
        "kinds": f.kinds,
        "count": f.count,
        "first_seen": pdgate_core::rfc3339(f.first_seen),
        "last_seen": pdgate_core::rfc3339(f.last_seen),
    })
}

#[derive(Debug, Default)]
struct Seen {
    kinds: BTreeSet<&'static str>,
    count: i64,
    at: Millis,
}

/// Scans samples and writes what it found every `flush`, until the channel closes or `stop`.
pub async fn run(
    mut rx: mpsc::Receiver<Sample>,
    store: Store,
    token_domain: String,
    flush: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut stop = std::pin::pin!(stop);
    let mut pending: HashMap<(String, String), Seen> = HashMap::new();
    let mut tick = tokio::time::interval(flush);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            s = rx.recv() => match s {
                Some(s) => {
                    let k = kinds(&s, &token_domain);
                    if k.is_empty() {
                        continue;
                    }
                    let key = (s.method, s.path);
                    if pending.len() >= MAX_FLOWS && !pending.contains_key(&key) {
                        continue;
                    }
                    let e = pending.entry(key).or_default();
                    e.kinds.extend(k);
                    e.count += 1;
                    e.at = e.at.max(s.at);
                }
                None => break,
            },
            _ = tick.tick() => write(&store, &mut pending).await,
            () = &mut stop => break,
        }
    }
    write(&store, &mut pending).await;
}

async fn write(store: &Store, pending: &mut HashMap<(String, String), Seen>) {
    for ((method, path), seen) in pending.drain() {
        let kinds: Vec<String> = seen.kinds.iter().map(|k| (*k).to_owned()).collect();
        if let Err(e) = store
            .record_flow(&method, &path, &kinds, seen.count, seen.at)
            .await
        {
            tracing::warn!(error = %e, "discovery: could not record a flow");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ct: &str, body: &str) -> Sample {
        Sample {
            method: "POST".into(),
            path: "/x".into(),
            content_type: ct.into(),
            body: BytesMut::from(body),
            at: 0,
        }
    }

    #[test]
    fn finds_kinds_in_forms_json_and_text() {
        let k = kinds(
            &sample(
                "application/x-www-form-urlencoded",
                "mail=anna%40mail.ru&tel=%2B7+916+123-45-67&n=3",
            ),
            "relay.example",
        );
        assert_eq!(k.into_iter().collect::<Vec<_>>(), ["email", "phone"]);
        let k = kinds(
            &sample(
                "application/json; charset=utf-8",
                r#"{"card": "4111 1111 1111 1111", "note": "hi"}"#,
            ),
            "relay.example",
        );
        assert_eq!(k.into_iter().collect::<Vec<_>>(), ["card"]);
        let k = kinds(
            &sample("text/plain", "write to anna@mail.ru"),
            "relay.example",
        );
        assert_eq!(k.into_iter().collect::<Vec<_>>(), ["email"]);
    }

    #[test]
    fn checksums_tokens_and_binary_bodies_find_nothing() {
        let none = |ct: &str, b: &str| kinds(&sample(ct, b), "relay.example").is_empty();
        assert!(
            none("application/json", r#"{"card": "4111 1111 1111 1112"}"#),
            "Luhn fails"
        );
        assert!(
            none("application/json", r#"{"email": "t_4f2a@relay.example"}"#),
            "pdgate's own token"
        );
        assert!(none("image/png", "anna@mail.ru"), "not text");
        assert!(
            !none("application/json", "{broken anna@mail.ru"),
            "a JSON body that does not parse is scanned as text"
        );
    }

    #[test]
    fn identifiers_in_paths_are_folded() {
        assert_eq!(normalize_path("/users/42/notes"), "/users/{id}/notes");
        assert_eq!(
            normalize_path("/o/3f2a9c1e-8b7d-4c6a-9e1f-0a2b3c4d5e6f"),
            "/o/{id}"
        );
        assert_eq!(normalize_path("/u/anna@mail.ru"), "/u/{id}");
        // Encoded, or found by a detector only (a phone with separators, an INN).
        assert_eq!(normalize_path("/u/anna%40mail.ru/x"), "/u/{id}/x");
        assert_eq!(normalize_path("/call/+7%20916%20555-01-01"), "/call/{id}");
        assert_eq!(normalize_path("/org/inn-7707083893"), "/org/{id}");
        assert_eq!(normalize_path("/catalog/page"), "/catalog/page");
        assert_eq!(normalize_path("/api/v2/feedback"), "/api/v2/feedback");
        assert_eq!(normalize_path("/"), "/");
    }
}
