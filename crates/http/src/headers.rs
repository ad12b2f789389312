//! Header rules of a reverse proxy (RFC 9110 §7.6.1): hop-by-hop fields — the fixed list plus any
//! named in `Connection` — never cross pdgate; `X-Forwarded-*` are set; client-supplied `X-Pdgate-*`
//! headers are removed so nobody can forge what pdgate asserts to the upstream.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Removes hop-by-hop fields (and `Upgrade`, since pdgate does not tunnel upgrades).
pub fn strip_hop_by_hop(h: &mut HeaderMap) {
    let listed: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in listed.iter().chain(HOP_BY_HOP.iter()) {
        h.remove(n);
    }
    h.remove(header::UPGRADE);
}

/// Removes every `x-pdgate-*` header a client sent.
pub fn strip_pdgate(h: &mut HeaderMap) {
    let names: Vec<HeaderName> = h
        .keys()
        .filter(|k| k.as_str().starts_with("x-pdgate-"))
        .cloned()
        .collect();
    for n in names {
        h.remove(n);
    }
}

/// Removes the cookie `name` from every `Cookie` header, keeping the others in their order; a
/// header left empty goes.
pub fn strip_cookie(h: &mut HeaderMap, name: &str) {
    let values: Vec<HeaderValue> = h.get_all(http::header::COOKIE).iter().cloned().collect();
    if !values.iter().any(|v| {
        v.to_str().map_or(true, |s| {
            s.split(';')
                .any(|c| c.trim().split('=').next() == Some(name))
        })
    }) {
        return;
    }
    h.remove(http::header::COOKIE);
    for v in values {
        // A value that is not text cannot be inspected: dropped rather than passed unread.
        let Ok(text) = v.to_str() else { continue };
        let kept: Vec<&str> = text
            .split(';')
            .map(str::trim)
            .filter(|c| !c.is_empty() && c.split('=').next() != Some(name))
            .collect();
        if let Ok(v) = HeaderValue::from_str(&kept.join("; ")) {
            if !kept.is_empty() {
                h.append(http::header::COOKIE, v);
            }
        }
    }
}

pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub static X_PDGATE_SUBJECT: HeaderName = HeaderName::from_static("x-pdgate-subject");
pub static X_PDGATE_PURPOSES: HeaderName = HeaderName::from_static("x-pdgate-purposes");
pub static X_PDGATE_CONSENT: HeaderName = HeaderName::from_static("x-pdgate-consent");
pub static X_PDGATE_REFS: HeaderName = HeaderName::from_static("x-pdgate-refs");
pub static X_PDGATE_REQUEST_ID: HeaderName = HeaderName::from_static("x-pdgate-request-id");
pub static X_PDGATE_RECEIPT: HeaderName = HeaderName::from_static("x-pdgate-receipt");
pub static X_PDGATE_SUBJECT_TOKEN: HeaderName = HeaderName::from_static("x-pdgate-subject-token");

/// Appends the client to `X-Forwarded-For` and sets `-Proto` and `-Host`.
pub fn set_forwarded(h: &mut HeaderMap, client: IpAddr, tls: bool, host: Option<HeaderValue>) {
    let ip = client.to_string();
    let xff = match h.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.trim().is_empty() => format!("{prev}, {ip}"),
        _ => ip,
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        h.insert(X_FORWARDED_FOR.clone(), v);
    }
    h.insert(
        X_FORWARDED_PROTO.clone(),
        HeaderValue::from_static(if tls { "https" } else { "http" }),
    );
    if let Some(host) = host {
        h.insert(X_FORWARDED_HOST.clone(), host);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_listed_fields_go() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key(header::CONTENT_TYPE));
    }

    #[test]
    fn forwarded_headers_append() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.1"));
        h.insert("x-pdgate-subject", HeaderValue::from_static("forged"));
        strip_pdgate(&mut h);
        set_forwarded(
            &mut h,
            "203.0.113.9".parse().unwrap(),
            true,
            Some(HeaderValue::from_static("shop.example")),
        );
        assert_eq!(h["x-forwarded-for"], "198.51.100.1, 203.0.113.9");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "shop.example");
        assert!(!h.contains_key("x-pdgate-subject"));
    }
}

#[cfg(test)]
mod cookie_tests {
    use super::*;

    #[test]
    fn the_staff_cookie_goes_and_the_others_stay() {
        let mut h = HeaderMap::new();
        h.append(
            http::header::COOKIE,
            HeaderValue::from_static("a=1; pdgate_staff=eyJ.x.y; b=2"),
        );
        h.append(
            http::header::COOKIE,
            HeaderValue::from_static("pdgate_staff=z"),
        );
        strip_cookie(&mut h, "pdgate_staff");
        let all: Vec<&str> = h
            .get_all(http::header::COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(all, ["a=1; b=2"]);
        let mut other = HeaderMap::new();
        other.append(
            http::header::COOKIE,
            HeaderValue::from_static("pdgate_staffx=1"),
        );
        strip_cookie(&mut other, "pdgate_staff");
        assert_eq!(other[http::header::COOKIE], "pdgate_staffx=1");
    }
}
