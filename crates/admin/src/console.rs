//! The DPO console at `/console/`: three static files embedded in the binary (no CDN, nothing to
//! deploy beside pdgate) that call the admin API from the browser with the DPO's own token. The
//! page itself is public; everything it shows comes through the API and its role checks.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use pdgate_http::Body;

const INDEX: &str = include_str!("console/index.html");
const APP_JS: &str = include_str!("console/app.js");
const APP_CSS: &str = include_str!("console/app.css");

/// Scripts only from this origin; inline styles are allowed because the report, register and
/// notice pages shown in sandboxed frames carry their own `<style>`.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data: blob:; connect-src 'self'; frame-src 'self' blob:; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// What the page says the operator's zone is (`[legal] timezone`): the console shows every time
/// and date in it, whatever the DPO's own browser is set to.
const ZONE_SLOT: &str = "{{legal_timezone}}";

/// The response for a `/console…` path, or `None` for a path the console does not have. `zone`
/// is an IANA name (checked at start), so it needs no escaping in the page.
pub(super) fn serve(path: &str, zone: &str) -> Option<Response<Body>> {
    let (body, content_type) = match path {
        // The admin root is where a person opens the listener's address: the console.
        "/" | "/console" => {
            let mut r = Response::new(Body::Empty);
            *r.status_mut() = StatusCode::PERMANENT_REDIRECT;
            r.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/console/"));
            return Some(r);
        }
        "/console/" | "/console/index.html" => (
            Bytes::from(INDEX.replace(ZONE_SLOT, zone)),
            "text/html; charset=utf-8",
        ),
        "/console/app.js" => (
            Bytes::from_static(APP_JS.as_bytes()),
            "text/javascript; charset=utf-8",
        ),
        "/console/app.css" => (
            Bytes::from_static(APP_CSS.as_bytes()),
            "text/css; charset=utf-8",
        ),
        _ => return None,
    };
    let mut r = Response::new(Body::full(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Some(r)
}
