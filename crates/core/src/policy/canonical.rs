//! One canonical request path before any routing decision, so that a declared route cannot be
//! reached by another spelling (`//api/checkout`, `/api/./checkout`, `/api/%63heckout`) and stream
//! past its field actions to the default upstream. RFC 3986: percent-encoded unreserved characters
//! are decoded (§6.2.2.2), the remaining percent-encodings upper-cased (§6.2.2.1), dot segments
//! removed (§5.2.4); repeated slashes are merged. What cannot be made canonical safely is refused:
//! an encoded `/` or `\` (a segment boundary the upstream may see and the router would not), a
//! literal `\`, `..` above the root, NUL and other control bytes, bytes that do not decode to
//! UTF-8, and malformed percent-encodings.

use std::fmt;

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadPath {
    NotOrigin,
    EncodedSeparator,
    Backslash,
    AboveRoot,
    Control,
    NotUtf8,
    BadEncoding,
}

impl fmt::Display for BadPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadPath::NotOrigin => "the path must start with `/`",
            BadPath::EncodedSeparator => "the path contains an encoded `/` or `\\`",
            BadPath::Backslash => "the path contains `\\`",
            BadPath::AboveRoot => "the path climbs above the root with `..`",
            BadPath::Control => "the path contains NUL or control characters",
            BadPath::NotUtf8 => "the path does not decode to UTF-8",
            BadPath::BadEncoding => "the path has a malformed percent-encoding",
        })
    }
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// One segment with its encodings normalised, and its fully decoded bytes (for the checks).
fn segment(raw: &str) -> Result<(String, Vec<u8>), BadPath> {
    let bytes = raw.as_bytes();
    let (mut out, mut decoded) = (
        String::with_capacity(raw.len()),
        Vec::with_capacity(raw.len()),
    );
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let (hi, lo) = match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => (h, l),
                _ => return Err(BadPath::BadEncoding),
            };
            let v = hi << 4 | lo;
            match v {
                b'/' | b'\\' => return Err(BadPath::EncodedSeparator),
                v if unreserved(v) => out.push(char::from(v)),
                v => out.push_str(&format!("%{v:02X}")),
            }
            decoded.push(v);
            i += 3;
        } else {
            if b == b'\\' {
                return Err(BadPath::Backslash);
            }
            out.push(char::from(b));
            decoded.push(b);
            i += 1;
        }
    }
    if decoded.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Err(BadPath::Control);
    }
    if std::str::from_utf8(&decoded).is_err() {
        return Err(BadPath::NotUtf8);
    }
    Ok((out, decoded))
}

/// The canonical form of an origin-form path (no query). A trailing slash is kept, since an
/// upstream may tell `/dir/` from `/dir`; routes match either ([`crate::policy::Policy::match_route`]).
pub fn canonical_path(raw: &str) -> Result<String, BadPath> {
    if raw == "*" {
        return Ok(raw.to_owned());
    }
    let rest = raw.strip_prefix('/').ok_or(BadPath::NotOrigin)?;
    if !raw.is_ascii() {
        // A request line carries ASCII only; hyper refuses anything else before we see it.
        return Err(BadPath::NotUtf8);
    }
    let mut kept: Vec<String> = Vec::new();
    let mut trailing = raw.len() > 1 && raw.ends_with('/');
    for part in rest.split('/') {
        if part.is_empty() {
            continue;
        }
        let (norm, _) = segment(part)?;
        match norm.as_str() {
            "." => trailing = true,
            ".." => {
                kept.pop().ok_or(BadPath::AboveRoot)?;
                trailing = true;
            }
            _ => {
                kept.push(norm);
                trailing = raw.ends_with('/');
            }
        }
    }
    let mut out = String::with_capacity(raw.len());
    for s in &kept {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() || trailing {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_path_meet() {
        for raw in [
            "/api/checkout",
            "//api/checkout",
            "/api//checkout",
            "/api/./checkout",
            "/x/../api/checkout",
            "/api/%63heckout",
            "/%61pi/checkout",
        ] {
            assert_eq!(canonical_path(raw).as_deref(), Ok("/api/checkout"), "{raw}");
        }
        assert_eq!(
            canonical_path("/api/checkout/").as_deref(),
            Ok("/api/checkout/")
        );
        assert_eq!(
            canonical_path("/api/checkout/.").as_deref(),
            Ok("/api/checkout/")
        );
        assert_eq!(canonical_path("/").as_deref(), Ok("/"));
        assert_eq!(canonical_path("//").as_deref(), Ok("/"));
        assert_eq!(canonical_path("/a/%c3%a9").as_deref(), Ok("/a/%C3%A9"));
        assert_eq!(canonical_path("/a%20b").as_deref(), Ok("/a%20b"));
        assert_eq!(canonical_path("*").as_deref(), Ok("*"));
    }

    #[test]
    fn what_cannot_be_canonical_is_refused() {
        for (raw, why) in [
            ("/api%2Fcheckout", BadPath::EncodedSeparator),
            ("/api%2fcheckout", BadPath::EncodedSeparator),
            ("/api%5Ccheckout", BadPath::EncodedSeparator),
            ("/api\\checkout", BadPath::Backslash),
            ("/../etc/passwd", BadPath::AboveRoot),
            ("/a/../../b", BadPath::AboveRoot),
            ("/a%00b", BadPath::Control),
            ("/a%0Ab", BadPath::Control),
            ("/a%7F", BadPath::Control),
            ("/a%FF", BadPath::NotUtf8),
            ("/a%C3", BadPath::NotUtf8),
            ("/a%2", BadPath::BadEncoding),
            ("/a%zz", BadPath::BadEncoding),
            ("api/checkout", BadPath::NotOrigin),
        ] {
            assert_eq!(canonical_path(raw), Err(why), "{raw}");
        }
    }

    proptest::proptest! {
        /// Canonical is a fixed point, and whatever comes out has no dot segment, no empty
        /// segment and no encoded unreserved character left.
        #[test]
        fn canonical_is_stable(raw in "/[a-zA-Z0-9%./_~-]{0,40}") {
            if let Ok(c) = canonical_path(&raw) {
                let again = canonical_path(&c);
                proptest::prop_assert_eq!(again.as_deref(), Ok(c.as_str()));
                let inner = c.trim_end_matches('/');
                proptest::prop_assert!(!inner.contains("//"));
                for seg in inner.split('/').skip(1) {
                    proptest::prop_assert!(seg != "." && seg != "..", "{}", c);
                }
            }
        }
    }
}
