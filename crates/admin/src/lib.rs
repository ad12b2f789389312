//! The admin listener: health, the detokenize API for back-office services, and the admin API
//! under `/admin/v1/` for DPOs and auditors. Everything but `/healthz` and `/readyz` needs a JWT
//! ([`auth`]); a missing or bad token is 401, a good token with the wrong role 403.

mod audit_export;
mod breaches;
mod console;
mod detokenize;
mod errors;
mod links;
mod openapi;
mod probe;
mod register;
mod requests;
mod routes;
mod sweeps;
mod transfers;
mod views;

use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use pdgate_core::crypto::Keys;
use pdgate_core::policy::Policy;
use pdgate_http::auth::{unauthorized, AuthError, Principal, Role, Verifier};
use pdgate_http::respond;
use pdgate_http::Limits;
use pdgate_http::{ApiError, Body, ConnInfo, Handler};
use pdgate_store::{Committer, Store};
pub use probe::probe_ready;
use routes::{Api, Endpoint, Matched, Public};

pub struct Admin {
    pub store: Store,
    pub keys: Arc<Keys>,
    pub policy: Arc<Policy>,
    pub committer: Committer,
    pub verifier: Option<Arc<Verifier>>,
    pub limits: Limits,
    pub calendar: Arc<pdgate_app::requests::calendar::Calendar>,
    pub facts: Arc<pdgate_app::register::SecurityFacts>,
    pub transfers: Arc<pdgate_app::transfers::Transfers>,
    pub metrics: Arc<pdgate_app::metrics::Metrics>,
    /// The base of self-service URLs in minted links (`public_url`).
    pub public_url: Option<String>,
    /// Longest (and default) lifetime of a self-service link, in seconds.
    pub link_ttl_s: i64,
    /// The bearer token `/metrics` asks for, when `[admin] metrics_token_file` is set.
    pub metrics_token: Option<Arc<zeroize::Zeroizing<Vec<u8>>>>,
    /// Detokenize calls worked on at once ([`detokenize_slots`]); the others wait their turn.
    pub detokenize_slots: Arc<tokio::sync::Semaphore>,
}

/// How many detokenize calls run at once: two per core. A call of 1,000 tokens holds its
/// values, rows and answer in memory at once; more calls at once than the cores can work on only
/// add memory (32 at once took pdgate from 39 to 91 MiB) and time spent switching between them.
pub fn detokenize_slots() -> Arc<tokio::sync::Semaphore> {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    Arc::new(tokio::sync::Semaphore::new(2 * cores))
}

impl Handler for Admin {
    async fn handle(
        self: Arc<Self>,
        mut req: Request<Incoming>,
        _conn: ConnInfo,
    ) -> Response<Body> {
        // The proxy's canonical path here too: `//admin/v1/…` or `/admin/./v1/…` is the same call.
        if let Err(e) = pdgate_http::respond::canonicalize(&mut req) {
            return e.into_response();
        }
        let path = req.uri().path().to_owned();
        let is_console = path == "/" || path == "/console" || path.starts_with("/console/");
        let result = match routes::find(req.method(), &path) {
            Matched::Route(route, id) => self.call(route.endpoint, req, id).await,
            Matched::WrongMethod(allow) => return pdgate_http::respond::method_not_allowed(&allow),
            Matched::NotFound if is_console && req.method() == Method::GET => {
                console::serve(&path, self.calendar.zone().name())
                    .ok_or_else(|| ApiError::not_found("not_found", "no such console page"))
            }
            Matched::NotFound => Err(ApiError::not_found("not_found", "no such admin endpoint")),
        };
        result.unwrap_or_else(respond::failure)
    }
}

impl Admin {
    /// Runs a route's handler: open ones at once, the API's once the caller holds one of its roles.
    async fn call(
        self: &Arc<Self>,
        endpoint: Endpoint,
        req: Request<Incoming>,
        id: &str,
    ) -> Result<Response<Body>, ApiError> {
        match endpoint {
            Endpoint::Public(op) => self.public(op, &req).await,
            Endpoint::Api(roles, op) => {
                let principal = self.authorize(&req, roles)?;
                self.api(op, principal, req, id).await
            }
        }
    }

    async fn public(
        &self,
        op: Public,
        req: &Request<Incoming>,
    ) -> Result<Response<Body>, ApiError> {
        match op {
            Public::Healthz => Ok(respond::json(
                StatusCode::OK,
                &serde_json::json!({"status": "ok"}),
            )),
            Public::Readyz => self.ready().await,
            Public::Metrics if self.metrics_allowed(req) => self.metrics().await,
            Public::Metrics => Err(unauthorized(
                "unauthorized",
                "/metrics needs the metrics token (Authorization: Bearer …)",
            )),
            Public::OpenApi => Ok(respond::document("application/json", openapi::json(), None)),
        }
    }

    /// The DPO's, auditor's and services' API (`principal` holds one of the route's roles).
    async fn api(
        self: &Arc<Self>,
        op: Api,
        principal: Principal,
        req: Request<Incoming>,
        id: &str,
    ) -> Result<Response<Body>, ApiError> {
        match op {
            Api::Detokenize => detokenize::handle(self, principal, req).await,
            Api::AuditExport => audit_export::handle(self, principal, &req).await,
            Api::AuditKey => Ok(respond::json(
                StatusCode::OK,
                &serde_json::json!({
                    "algorithm": "Ed25519",
                    "public_key": data_encoding::HEXLOWER.encode(&self.keys.audit.public_key()),
                }),
            )),
            Api::Register => register::handle(self, &req).await,
            Api::Consents => views::consents(self, &req).await,
            Api::Discovery => views::discovery(self).await,
            Api::Requests(op) => requests::handle(self, principal, req, op, id).await,
            Api::Breaches(op) => breaches::handle(self, principal, req, op, id).await,
            Api::Transfers(op) => transfers::handle(self, principal, req, op, id).await,
            Api::Links(op) => links::handle(self, principal, req, op, id).await,
            Api::Sweeps(op) => sweeps::handle(self, req, op, id).await,
        }
    }

    /// Ready when the database answers within [`READY_WITHIN`], is still the one this process
    /// started on (key ring, migrations) and writes commit. After a failed write, one probe write
    /// goes through the writer: readiness returns by itself once it commits (a real write that
    /// fails takes it away again). Not ready answers 503 with the reason.
    async fn ready(&self) -> Result<Response<Body>, ApiError> {
        let not_ready =
            |body: serde_json::Value| Ok(respond::json(StatusCode::SERVICE_UNAVAILABLE, &body));
        let ours = pdgate_store::health::Ours::of(&self.keys);
        let checked =
            tokio::time::timeout(READY_WITHIN, self.committer.check_vault(&self.store, &ours));
        let cause = match checked.await {
            Ok(Ok(None)) => None,
            Ok(Ok(Some(m))) => {
                return not_ready(serde_json::json!({"status": "not_ready", "reason": m.as_str()}))
            }
            Ok(Err(e)) => Some(pdgate_store::health::FailureReason::of(&e).as_str()),
            Err(_) => Some("timeout"),
        };
        if let Some(cause) = cause {
            tracing::debug!(cause, "readiness: database unreachable");
            return not_ready(serde_json::json!({
                "status": "not_ready",
                "reason": "store_unavailable",
                "cause": cause,
            }));
        }
        if let Some((since, reason)) = self.committer.health().failing() {
            let probe = tokio::time::timeout(READY_WITHIN, self.committer.probe()).await;
            if !matches!(probe, Ok(Ok(()))) {
                return not_ready(serde_json::json!({
                    "status": "not_ready",
                    "reason": "vault_cannot_commit",
                    "cause": reason.as_str(),
                    "failing_since": pdgate_core::rfc3339(since),
                }));
            }
        }
        // Transfers abroad are refused while the notifications cannot be re-read: a replica
        // that refuses them is not ready (one without foreign destinations does not care).
        let abroad = self
            .policy
            .destinations()
            .iter()
            .any(|d| pdgate_app::transfers::is_foreign(d.country));
        if abroad && self.transfers.stale(pdgate_core::now_millis()) {
            return not_ready(
                serde_json::json!({"status": "not_ready", "reason": "cross_border_cache_stale"}),
            );
        }
        // The key is loaded before the listener opens and never unloaded; that the database's
        // key ring is still the one it opened was checked above.
        let mut body =
            serde_json::json!({"status": "ready", "database": "ok", "key": "ok", "writes": "ok"});
        if let Some(year) = self.calendar.next_year_missing(pdgate_core::now_millis()) {
            // Ready still: deadlines into that year are flagged `calendar_unverified`.
            body["warnings"] = serde_json::json!([{
                "code": "calendar_next_year_missing",
                "message": format!("the production calendar does not cover {year}: add its days off and `covers {year}` ([requests] calendar_file)"),
            }]);
        }
        Ok(respond::json(StatusCode::OK, &body))
    }

    /// The Prometheus exposition; the store-backed gauges need the database, so an unreachable
    /// one answers 503 like `/readyz`.
    /// Open unless a metrics token is configured; then only its bearer, compared in constant time.
    fn metrics_allowed<B>(&self, req: &Request<B>) -> bool {
        use subtle::ConstantTimeEq;
        match &self.metrics_token {
            None => true,
            Some(want) => pdgate_http::auth::bearer(req.headers())
                .is_some_and(|got| bool::from(got.as_bytes().ct_eq(want.as_slice()))),
        }
    }

    async fn metrics(&self) -> Result<Response<Body>, ApiError> {
        /// The newest breaches whose clocks `/metrics` reports.
        const BREACHES_WATCHED: i64 = 200;
        use pdgate_store::{Oversight, Rights};
        self.metrics
            .commit_failures(&self.committer.health().failures());
        let now = pdgate_core::now_millis();
        let gauges = self.store.gauges(now).await?;
        let sweep = self
            .store
            .sweeps(None, None, 1, true)
            .await?
            .into_iter()
            .next();
        // Open breaches are few; a row that does not parse is left out here and shown by the API.
        let breaches: Vec<_> = self
            .store
            .breaches(BREACHES_WATCHED)
            .await?
            .iter()
            .filter_map(|r| pdgate_core::breach::Breach::from_row(r).ok())
            .collect();
        let clocks = pdgate_core::breach::clock_gauges(&breaches, now);
        Ok(respond::document(
            pdgate_app::metrics::CONTENT_TYPE,
            self.metrics.render(gauges, sweep.as_ref(), clocks),
            None,
        ))
    }

    /// The caller, if its bearer token is valid and carries one of `roles`.
    fn authorize<B>(&self, req: &Request<B>, roles: &[Role]) -> Result<Principal, ApiError> {
        let verifier = self.verifier.as_ref().ok_or_else(|| {
            unauthorized(
                "no_auth_configured",
                "the admin API needs [admin] jwt_secret_file or jwks_file",
            )
        })?;
        let token = pdgate_http::auth::bearer(req.headers())
            .ok_or_else(|| unauthorized("unauthorized", "a bearer token is required"))?;
        let principal = verifier.verify(token).map_err(|AuthError::Invalid| {
            tracing::info!(path = req.uri().path(), "admin token refused");
            unauthorized("unauthorized", "the bearer token is not valid")
        })?;
        if !principal.has_any(roles) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this endpoint needs the role {}",
                    roles
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            ));
        }
        Ok(principal)
    }
}

/// How long each of readiness's database checks may take: a probe answered after its caller gave
/// up (Kubernetes waits 1 s by default) is no answer, and a database that slow is not ready.
const READY_WITHIN: Duration = Duration::from_secs(2);
