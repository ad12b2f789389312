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
use crate::admin::auth::{self, Principal};
use crate::audit::AuditEvent;
use crate::policy::{Reveal, Route};
use crate::purpose::{self, Outcome};

/// Largest upstream response rewritten.
pub const MAX_REVEAL_BYTES: usize = 8 << 20;
/// The cookie a staff UI behind a reveal route carries its JWT in (or `Authorization: Bearer`).
pub const STAFF_COOKIE: &str = "pdgate_staff";

/// Every shape of token pdgate issues: envelopes, generic and e-mail tokens, phone tokens.
pub fn token_pattern(token_domain: &str) -> regex::Regex {
    regex::Regex::new(&format!(
        r"pdg1\.[A-Za-z0-9_-]{{20,}}|tok_[a-z2-7]{{16}}|t-[a-z2-7]{{16}}@{}|\+[1-9][0-9]{{0,2}}0[0-9]{{3,14}}",
        regex::escape(token_domain)
    ))
    .expect("the token pattern is valid")
}

/// The staff member behind the request, if their token is valid and has a reveal role; and
/// whether the token came in `Authorization` (then it is not passed upstream).
fn staff(gw: &Gateway, reveal: &Reveal, req: &Request<Incoming>) -> Option<(Principal, bool)> {
    let verifier = gw.verifier.as_ref()?;
    let (token, from_header) = match auth::bearer(req.headers()) {
        Some(t) => (t.to_owned(), true),
        None => (cookie(req.headers(), STAFF_COOKIE)?, false),
    };
    let p = verifier.verify(&token).ok()?;
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

pub async fn handle(
    gw: &Gateway,
    route: &Route,
    reveal: &Reveal,
    req: Request<Incoming>,
    conn: ConnInfo,
) -> Response<Body> {
    let upstream = gw.policy.upstream(route.upstream);
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
            return e.into_response();
        }
    };
    gw.metrics.request(&route.id, resp.status().as_u16(), true);
    match rewrite(gw, route, reveal, &principal, &request_id, resp).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
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
    let ct = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let context = if ct.starts_with("application/json") || ct.contains("+json") {
        Context::Json
    } else if ct.starts_with("text/html") {
        Context::Html
    } else {
        return Ok(resp);
    };
    let encoded = resp
        .headers()
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() != b"identity");
    let declared = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if encoded || declared.is_some_and(|n| n > MAX_REVEAL_BYTES) {
        return Ok(resp);
    }
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
    let outcomes = purpose::resolve(
        &gw.store,
        &gw.keys,
        &gw.policy,
        reveal.purpose,
        &found,
        crate::now_millis(),
    )
    .await?;
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
    gw.committer
        .audit(
            crate::now_millis(),
            AuditEvent::Reveal {
                request_id: request_id.to_owned(),
                route: route.id.clone(),
                principal: principal.sub.clone(),
                purpose: gw.policy.purpose(reveal.purpose).def.id.clone(),
                granted,
                denied,
            },
        )
        .await?;
    let out = pattern.replace_all(text, |c: &regex::Captures<'_>| {
        let t = c.get(0).map_or("", |m| m.as_str());
        plain.get(t).cloned().unwrap_or_else(|| t.to_owned())
    });
    let out = Bytes::from(out.into_owned());
    let h = &mut parts.headers;
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(out.len()));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.remove(header::ETAG);
    Ok(Response::from_parts(parts, Body::full(out)))
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
        let p = token_pattern("relay.example");
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
    fn values_are_escaped_for_their_context() {
        assert_eq!(escape(&Context::Json, "a\"b\\c\n"), "a\\\"b\\\\c\\n");
        assert_eq!(
            escape(&Context::Html, "<script>&'\""),
            "&lt;script&gt;&amp;&#39;&quot;"
        );
    }
}
