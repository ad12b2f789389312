//! The proxy listener: unmatched requests stream through untouched; matched routes with declared
//! fields go through the intake pipeline ([`intake`]) and are forwarded only after the vault commit.

mod intake;
mod refusal;
mod reveal;
pub(crate) mod selfservice;

use std::sync::Arc;

use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use hyper::body::Incoming;

use http_body_util::BodyExt;
pub use pdgate_core::actions::token_pattern as reveal_pattern;
use pdgate_core::crypto::Keys;
use pdgate_core::policy::{Policy, Route, RouteKind, Upstream};
use pdgate_http::respond::{canonicalize, method_not_allowed};
use pdgate_http::{h1pool, headers, upstream, ApiError, Body, Client, ConnInfo, Handler, Limits};
use pdgate_store::{Committer, Store};

/// Everything the proxy listener needs, shared by all connections.
pub struct Gateway {
    pub policy: Arc<Policy>,
    pub keys: Arc<Keys>,
    pub store: Store,
    pub committer: Committer,
    pub client: Client,
    /// Idle connections to plain-http upstreams.
    pub h1pool: Arc<h1pool::Pool<Body>>,
    pub limits: Limits,
    pub subject_token_ttl_s: i64,
    /// `public_url` without its trailing `/`: the origin of self-service links.
    pub public_url: Option<String>,
    /// Staff tokens on reveal routes are checked like admin tokens.
    pub verifier: Option<Arc<pdgate_http::auth::Verifier>>,
    /// Finds pdgate's tokens in upstream responses on reveal routes.
    pub token_pattern: regex::Regex,
    /// Recorded cross-border notifications (152-FZ Art. 12).
    pub transfers: Arc<pdgate_app::transfers::Transfers>,
    /// Samples bodies on unmatched routes when the policies ask for discovery.
    pub discovery: Option<pdgate_app::discovery::Discovery>,
    pub metrics: Arc<pdgate_app::metrics::Metrics>,
}

/// The metrics label of requests no route matches.
const UNMATCHED: &str = "unmatched";

impl Handler for Gateway {
    async fn handle(self: Arc<Self>, req: Request<Incoming>, conn: ConnInfo) -> Response<Body> {
        // Request smuggling (RFC 9112 §6.3): never guess which length is meant. hyper removes the
        // length header before we see the request, so the connection's reader flags it (framing.rs).
        if conn.flags.conflicting_length() {
            let mut resp = ApiError::new(
                StatusCode::BAD_REQUEST,
                "conflicting_length",
                "the request carries both Content-Length and Transfer-Encoding",
            )
            .into_response();
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return resp;
        }
        // Every decision below (block, intake, reveal, self-service) and the upstream see one
        // canonical path: no other spelling reaches a declared route's upstream unrewritten.
        let mut req = req;
        if let Err(e) = canonicalize(&mut req) {
            self.metrics.request(UNMATCHED, 400, false);
            return e.into_response();
        }
        if req.uri().path().starts_with(selfservice::PREFIX) {
            let resp = selfservice::handle(&self, req).await;
            self.metrics
                .request("self_service", resp.status().as_u16(), false);
            return resp;
        }
        let policy = &self.policy;
        match policy.match_route(req.method(), req.uri().path()) {
            Some(route) => self.routed(route, req, conn).await,
            // A body sent to a declared path with a method the route does not take would stream
            // to the default upstream untouched: refused, with the methods that are taken.
            None => {
                let allow = match has_body(&req) {
                    true => policy.methods_at(req.uri().path()),
                    false => Vec::new(),
                };
                if !allow.is_empty() {
                    self.metrics.request(UNMATCHED, 405, false);
                    return method_not_allowed(&allow);
                }
                self.unmatched(req, conn).await
            }
        }
    }
}

impl Gateway {
    /// A request its route takes, by the route's kind.
    async fn routed(
        self: &Arc<Self>,
        route: &Route,
        req: Request<Incoming>,
        conn: ConnInfo,
    ) -> Response<Body> {
        match &route.kind {
            RouteKind::Blocked { .. } => {
                self.metrics.request(&route.id, 403, false);
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    "route_blocked",
                    "this endpoint is closed by the operator's privacy policy",
                )
                .into_response()
            }
            // Counted inside: only the intake and reveal know whether they forwarded.
            RouteKind::Intake { upstream } => {
                intake::handle(self, route, *upstream, req, conn).await
            }
            RouteKind::Reveal { upstream, reveal } => {
                reveal::handle(self, route, *upstream, reveal, req, conn).await
            }
            RouteKind::Pass { upstream } => {
                let upstream = self.policy.upstream(*upstream);
                self.pass_through(&route.id, upstream, req, conn).await
            }
        }
    }

    /// A request no route takes: to the default upstream untouched, or 404.
    async fn unmatched(&self, req: Request<Incoming>, conn: ConnInfo) -> Response<Body> {
        let policy = &self.policy;
        match policy.default_upstream {
            Some(u) => {
                self.pass_through(UNMATCHED, policy.upstream(u), req, conn)
                    .await
            }
            None => {
                self.metrics.request(UNMATCHED, 404, false);
                ApiError::no_route().into_response()
            }
        }
    }
}

impl Gateway {
    /// Streams the request to `upstream` and the response back, neither buffered; `label` is
    /// the route id, or `unmatched` for the default upstream (whose bodies discovery samples).
    async fn pass_through(
        &self,
        label: &str,
        upstream: &Upstream,
        req: Request<Incoming>,
        conn: ConnInfo,
    ) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let body = match &self.discovery {
            Some(d) if label == UNMATCHED => {
                Body::Boxed(d.tap(&parts, body).map_err(Into::into).boxed_unsync())
            }
            _ => Body::Incoming(body),
        };
        let (resp, forwarded) = match self.forward(upstream, parts, body, conn, &[]).await {
            Ok(resp) => (resp, true),
            Err(e) => (pdgate_http::respond::failure(e), false),
        };
        self.metrics
            .request(label, resp.status().as_u16(), forwarded);
        resp
    }

    /// pdgate's credentials never leave pdgate: the staff cookie goes from every forwarded
    /// request, and so does a bearer token that verifies as pdgate's own (a staff, admin, DPO,
    /// auditor or service JWT, or a subject token), which the upstream could replay against the
    /// admin API or self-service. Other bearer tokens (the site's own) pass.
    fn strip_credentials(&self, h: &mut http::HeaderMap) {
        headers::strip_cookie(h, reveal::STAFF_COOKIE);
        let ours = pdgate_http::auth::bearer(h).is_some_and(|t| {
            self.verifier.as_ref().is_some_and(|v| v.is_own(t))
                || pdgate_core::consent::verify_subject_token(&self.keys, t).is_some()
        });
        if ours {
            h.remove(header::AUTHORIZATION);
        }
    }

    /// Sends a request upstream with proxy headers set; `extra` are pdgate's own headers.
    async fn forward(
        &self,
        upstream: &Upstream,
        mut parts: http::request::Parts,
        body: Body,
        conn: ConnInfo,
        extra: &[(&HeaderName, HeaderValue)],
    ) -> Result<Response<Body>, ApiError> {
        let original_host = parts.headers.get(header::HOST).cloned().or_else(|| {
            parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        parts.uri = upstream::uri(&upstream.url, parts.uri.path_and_query())
            .map_err(|_| ApiError::bad_gateway())?;
        parts.version = Version::HTTP_11;
        let h = &mut parts.headers;
        headers::strip_hop_by_hop(h);
        headers::strip_pdgate(h);
        self.strip_credentials(h);
        headers::set_forwarded(h, conn.peer.ip(), conn.tls, original_host);
        if let Some(auth) = upstream.url.authority() {
            if let Ok(v) = HeaderValue::from_str(auth.as_str()) {
                h.insert(header::HOST, v);
            }
        }
        for (name, value) in extra {
            h.insert((*name).clone(), value.clone());
        }
        let failed = |e: &dyn std::fmt::Display| {
            tracing::warn!(upstream = %upstream.id, error = %e, "upstream request failed");
            ApiError::bad_gateway()
        };
        // Plain-http upstreams on connections this task drives (h1pool.rs), TLS ones on the
        // shared client; the response head within `upstream_timeout_ms`.
        let wait = std::time::Duration::from_millis(self.limits.upstream_timeout_ms);
        let send = async {
            Ok::<_, ApiError>(match (upstream.url.scheme_str(), parts.uri.authority()) {
                (Some("http"), Some(a)) => {
                    let a = a.clone();
                    parts.uri = origin_form(&parts.uri);
                    h1pool::send(&self.h1pool, &a, Request::from_parts(parts, body))
                        .await
                        .map_err(|e| failed(&e))?
                        .map(|b| Body::Upstream(Box::new(b)))
                }
                _ => self
                    .client
                    .request(Request::from_parts(parts, body))
                    .await
                    .map_err(|e| failed(&e))?
                    .map(Body::Incoming),
            })
        };
        let mut resp = tokio::time::timeout(wait, send).await.map_err(|_| {
            tracing::warn!(upstream = %upstream.id, "upstream response head timed out");
            ApiError::upstream_timeout()
        })??;
        headers::strip_hop_by_hop(resp.headers_mut());
        Ok(resp)
    }
}

/// Whether a request carries a body: a length above zero, chunked, or an HTTP/2 stream that
/// did not end with its headers.
fn has_body(req: &Request<Incoming>) -> bool {
    !http_body::Body::is_end_stream(req.body())
}

/// The request target as an HTTP/1.1 origin server expects it: path and query only.
fn origin_form(uri: &http::Uri) -> http::Uri {
    uri.path_and_query()
        .map_or_else(|| http::Uri::from_static("/"), |pq| pq.clone().into())
}
