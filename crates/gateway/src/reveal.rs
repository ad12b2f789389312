//! Reveal routes (SPEC 6, outbound): a staff UI behind pdgate sees plaintext in upstream responses
//! where the CRM only holds tokens — for a staff member whose JWT carries one of the route's roles,
//! and for each value only if the same purpose checks as detokenize pass. Anyone else gets the
//! response untouched, tokens and all.
//!
//! Only JSON and HTML responses up to [`MAX_REVEAL_BYTES`] are rewritten (buffered to find tokens);
//! the upstream is asked for an unencoded body, and the rewritten response is never cached.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::{ApiError, Body, ConnInfo, Gateway};
use pdgate_app::audit::AuditEvent;
use pdgate_app::purpose::{self, Outcome};
use pdgate_core::policy::{Reveal, Route};
use pdgate_http::auth::{self, Principal};

/// Largest upstream response rewritten.
pub(super) const MAX_REVEAL_BYTES: usize = 8 << 20;
/// The cookie a staff UI behind a reveal route carries its JWT in (or `Authorization: Bearer`).
pub(super) const STAFF_COOKIE: &str = "pdgate_staff";

/// The staff member behind the request, if their token is valid and has a reveal role; and
/// whether the token came in `Authorization` (then it is not passed upstream).
fn staff(gw: &Gateway, reveal: &Reveal, req: &Request<Incoming>) -> Option<(Principal, bool)> {
    let verifier = gw.verifier.as_ref()?;
    let (token, from_header) = match auth::bearer(req.headers()) {
        Some(t) => (t.to_owned(), true),
        None => (cookie(req.headers(), STAFF_COOKIE)?, false),
    };
    let p = verifier.verify_for(&token, auth::Use::Staff).ok()?;
    p.has_any(&reveal.roles).then_some((p, from_header))
}

fn cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

pub(super) async fn handle(
    gw: &Gateway,
    route: &Route,
    upstream: usize,
    reveal: &Reveal,
    req: Request<Incoming>,
    conn: ConnInfo,
) -> Response<Body> {
    let upstream = gw.policy.upstream(upstream);
    let Some((principal, from_header)) = staff(gw, reveal, &req) else {
        return gw.pass_through(&route.id, upstream, req, conn).await;
    };
    let (mut parts, body) = req.into_parts();
    if from_header {
        parts.headers.remove(header::AUTHORIZATION);
    }
    parts.headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let resp = match gw
        .forward(upstream, parts, Body::Incoming(body), conn, &[])
        .await
    {
        Ok(r) => r,
        Err(e) => {
            gw.metrics.request(&route.id, e.status.as_u16(), false);
            return pdgate_http::respond::failure(e);
        }
    };
    gw.metrics.request(&route.id, resp.status().as_u16(), true);
    match rewrite(gw, route, reveal, &principal, &request_id, resp).await {
        Ok(r) => r,
        Err(e) => pdgate_http::respond::failure(e),
    }
}

enum Context {
    Json,
    Html,
}

async fn rewrite(
    gw: &Gateway,
    route: &Route,
    reveal: &Reveal,
    principal: &Principal,
    request_id: &str,
    resp: Response<Body>,
) -> Result<Response<Body>, ApiError> {
    let Some(context) = revealable(&resp) else {
        return Ok(resp);
    };
    let (mut parts, body) = resp.into_parts();
    let bytes = Limited::new(body, MAX_REVEAL_BYTES)
        .collect()
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "reveal_failed",
                "the upstream response could not be read for reveal",
            )
        })?
        .to_bytes();
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(Response::from_parts(parts, Body::full(bytes)));
    };
    let pattern = &gw.token_pattern;
    let mut found: Vec<&str> = pattern.find_iter(text).map(|m| m.as_str()).collect();
    found.sort_unstable();
    found.dedup();
    if found.is_empty() {
        return Ok(Response::from_parts(parts, Body::full(bytes)));
    }
    let now = pdgate_core::now_millis();
    let outcomes =
        purpose::resolve(&gw.store, &gw.keys, &gw.policy, reveal.purpose, &found, now).await?;
    let mut granted = 0u32;
    let mut denied: BTreeMap<String, u32> = BTreeMap::new();
    let mut plain: BTreeMap<&str, String> = BTreeMap::new();
    for (token, outcome) in found.iter().zip(outcomes) {
        match outcome {
            Outcome::Granted(v) => {
                granted += 1;
                plain.insert(token, escape(&context, &v));
            }
            Outcome::Denied(d) => *denied.entry(d.code().to_owned()).or_default() += 1,
        }
    }
    // Phone-shaped strings that are not our tokens are ordinary text, not a denial worth a line.
    denied.remove("unknown_token");
    let event = AuditEvent::Reveal {
        request_id: request_id.to_owned(),
        route: route.id.clone(),
        principal: principal.sub.clone(),
        purpose: gw.policy.purpose(reveal.purpose).def.id.clone(),
        granted,
        denied,
    };
    gw.committer.audit(pdgate_core::now_millis(), event).await?;
    let out = Bytes::from(replace(pattern, text, &context, &plain));
    let h = &mut parts.headers;
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(out.len()));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.remove(header::ETAG);
    Ok(Response::from_parts(parts, Body::full(out)))
}

/// How a response's tokens may be revealed: JSON and HTML within [`MAX_REVEAL_BYTES`], not
/// compressed; anything else goes to the staff member as it came.
fn revealable(resp: &Response<Body>) -> Option<Context> {
    let headers = resp.headers();
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let context = if ct.starts_with("application/json") || ct.contains("+json") {
        Context::Json
    } else if ct.starts_with("text/html") {
        Context::Html
    } else {
        return None;
    };
    let encoded = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() != b"identity");
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let too_large = declared.is_some_and(|n| n > MAX_REVEAL_BYTES);
    (!encoded && !too_large).then_some(context)
}

/// `text` with each granted token replaced by its (escaped) value where that is inert: in HTML,
/// text and quoted values of plain attributes only; in scripts, styles, comments, event
/// handlers and URLs the token stays.
fn replace(
    pattern: &regex::Regex,
    text: &str,
    context: &Context,
    plain: &BTreeMap<&str, String>,
) -> String {
    let inert: Vec<std::ops::Range<usize>> = match context {
        Context::Json => std::iter::once(0..text.len()).collect(),
        Context::Html => inert_html(text),
    };
    let out = pattern.replace_all(text, |c: &regex::Captures<'_>| {
        let m = c.get(0).expect("a match has its whole");
        let t = m.as_str();
        let allowed = inert
            .iter()
            .any(|r| r.start <= m.start() && m.end() <= r.end);
        match (allowed, plain.get(t)) {
            (true, Some(v)) => v.clone(),
            _ => t.to_owned(),
        }
    });
    out.into_owned()
}

/// Attributes whose values are URLs or code: a token there stays a token.
fn active_attribute(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("on")
        || matches!(
            n.as_str(),
            "href"
                | "src"
                | "srcset"
                | "action"
                | "formaction"
                | "data"
                | "poster"
                | "background"
                | "cite"
                | "longdesc"
                | "manifest"
                | "ping"
                | "style"
                | "xlink:href"
                | "content"
        )
}

/// Byte ranges of an HTML document where text is inert: between tags (outside `<script>`,
/// `<style>` and comments) and inside quoted values of attributes that are neither URLs nor code.
/// A document it cannot follow (an unclosed tag, quote or comment) ends the inert ranges there.
fn inert_html(html: &str) -> Vec<std::ops::Range<usize>> {
    let b = html.as_bytes();
    let find = |from: usize, needle: &str| {
        b.get(from..)?
            .windows(needle.len())
            .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
            .map(|i| from + i)
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let Some(lt) = html[i..].find('<').map(|p| i + p) else {
            out.push(i..b.len());
            break;
        };
        out.push(i..lt);
        if html[lt..].starts_with("<!--") {
            let Some(end) = find(lt + 4, "-->") else {
                break;
            };
            i = end + 3;
            continue;
        }
        // A tag: its name, then attributes up to the closing `>`.
        let mut j = lt + 1;
        while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' {
            j += 1;
        }
        // A closing tag (`</script>`) keeps its slash: only an opening one starts a script.
        let name = html[lt + 1..j].to_ascii_lowercase();
        let Some(end) = tag_end(html, j, &mut out) else {
            break;
        };
        i = end + 1;
        if matches!(name.as_str(), "script" | "style") {
            let Some(close) = find(i, &format!("</{name}")) else {
                break;
            };
            i = close;
        }
    }
    out
}

/// Walks a tag's attributes from `j` to its `>` (returned), pushing the inert quoted values.
fn tag_end(html: &str, mut j: usize, out: &mut Vec<std::ops::Range<usize>>) -> Option<usize> {
    let b = html.as_bytes();
    let mut attr_start = None;
    let mut attr = "";
    while j < b.len() {
        match b[j] {
            b'>' => return Some(j),
            q @ (b'"' | b'\'') => {
                let close = html[j + 1..].find(char::from(q)).map(|p| j + 1 + p)?;
                if !attr.is_empty() && !active_attribute(attr) {
                    out.push(j + 1..close);
                }
                attr = "";
                j = close + 1;
                continue;
            }
            b'=' => {
                if let Some(s) = attr_start.take() {
                    attr = html[s..j].trim();
                }
            }
            c if c.is_ascii_whitespace() => {
                if let Some(s) = attr_start.take() {
                    attr = html[s..j].trim();
                }
            }
            _ if attr_start.is_none() => {
                attr_start = Some(j);
                attr = "";
            }
            _ => {}
        }
        j += 1;
    }
    None
}

/// The value as it must appear where the token stood: inside a JSON string, or in HTML text.
fn escape(context: &Context, v: &str) -> String {
    match context {
        Context::Json => {
            // A JSON string literal minus its quotes (serialising a string cannot fail).
            let quoted = serde_json::to_string(v).unwrap_or_else(|_| "\"\"".into());
            quoted[1..quoted.len() - 1].to_owned()
        }
        Context::Html => {
            let mut s = String::with_capacity(v.len());
            for c in v.chars() {
                match c {
                    '&' => s.push_str("&amp;"),
                    '<' => s.push_str("&lt;"),
                    '>' => s.push_str("&gt;"),
                    '"' => s.push_str("&quot;"),
                    '\'' => s.push_str("&#39;"),
                    c => s.push(c),
                }
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_finds_every_token_shape() {
        let p = pdgate_core::actions::token_pattern("relay.example");
        let text = r#"{"e":"t-abcdefghijklmnop@relay.example","p":"+7012345678","g":"tok_abcdefgh23456777","n":"pdg1.AAAAAAAAAAAAAAAAAAAAAAAA","real":"+79161234567","x":"t-abcdefghijklmnop@other.example"}"#;
        let found: Vec<&str> = p.find_iter(text).map(|m| m.as_str()).collect();
        assert_eq!(
            found,
            [
                "t-abcdefghijklmnop@relay.example",
                "+7012345678",
                "tok_abcdefgh23456777",
                "pdg1.AAAAAAAAAAAAAAAAAAAAAAAA"
            ]
        );
    }

    #[test]
    fn html_is_inert_only_in_text_and_plain_quoted_attributes() {
        let html = r#"<p title="alpha">bravo</p><script>var a = "charlie";</script><a href="/x?delta" onclick='go("echo")' data-x="foxtrot">golf</a><!-- hotel --><STYLE>.india{}</STYLE><input value=juliet>kilo"#;
        let inert = inert_html(html);
        let words = [
            "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
            "juliet", "kilo",
        ];
        let replaced: Vec<&str> = words
            .into_iter()
            .filter(|w| {
                let at = html.find(w).unwrap();
                inert.iter().any(|r| r.start <= at && at + w.len() <= r.end)
            })
            .collect();
        assert_eq!(replaced, ["alpha", "bravo", "foxtrot", "golf", "kilo"]);
        // A document cut inside a tag or comment stops being inert there.
        for cut in ["ok<p title=\"x", "ok<!-- x"] {
            let r = inert_html(cut);
            assert_eq!((r.len(), r[0].start, r[0].end), (1, 0, 2), "{cut}");
        }
    }

    #[test]
    fn values_are_escaped_for_their_context() {
        assert_eq!(escape(&Context::Json, "a\"b\\c\n"), "a\\\"b\\\\c\\n");
        assert_eq!(
            escape(&Context::Html, "<script>&'\""),
            "&lt;script&gt;&amp;&#39;&quot;"
        );
    }
}
