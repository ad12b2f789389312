//! The admin listener: health, the detokenize API for back-office services, and the admin API
//! under `/admin/v1/` for DPOs and auditors. Everything but `/healthz` and `/readyz` needs a JWT
//! ([`auth`]); a missing or bad token is 401, a good token with the wrong role 403.

mod audit_export;
pub mod auth;
mod breaches;
mod console;
mod detokenize;
mod links;
mod openapi;
mod probe;
mod register;
mod requests;
mod sweeps;
mod transfers;
mod views;

use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::config::Limits;
use crate::crypto::Keys;
use crate::policy::Policy;
use crate::proxy::respond;
use crate::proxy::{ApiError, Body, ConnInfo, Handler};
use crate::store::{Committer, Store};
use auth::{AuthError, Principal, Role, Verifier};
pub use probe::probe_ready;

pub struct Admin {
    pub store: Store,
    pub keys: Arc<Keys>,
    pub policy: Arc<Policy>,
    pub committer: Committer,
    pub verifier: Option<Arc<Verifier>>,
    pub limits: Limits,
    pub calendar: Arc<crate::requests::calendar::Calendar>,
    pub facts: Arc<crate::register::Facts>,
    pub transfers: Arc<crate::transfers::Transfers>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The base of self-service URLs in minted links (`public_url`).
    pub public_url: Option<String>,
    /// Longest (and default) lifetime of a self-service link, in seconds.
    pub link_ttl_s: i64,
    /// The bearer token `/metrics` asks for, when `[admin] metrics_token_file` is set.
    pub metrics_token: Option<Arc<zeroize::Zeroizing<Vec<u8>>>>,
}

impl Handler for Admin {
    async fn handle(
        self: Arc<Self>,
        mut req: Request<Incoming>,
        _conn: ConnInfo,
    ) -> Response<Body> {
        // The proxy's canonical path here too: `//admin/v1/…` or `/admin/./v1/…` is the same call.
        if let Err(e) = crate::proxy::canonicalize(&mut req) {
            return e.into_response();
        }
        let path = req.uri().path().to_owned();
        let result = match (req.method(), path.as_str()) {
            (&Method::GET, "/healthz") => Ok(respond::json(
                StatusCode::OK,
                &serde_json::json!({"status": "ok"}),
            )),
            (&Method::GET, "/readyz") => self.ready().await,
            (&Method::GET, "/metrics") => match self.metrics_allowed(&req) {
                true => self.metrics().await,
                false => Err(unauthorized(
                    "unauthorized",
                    "/metrics needs the metrics token (Authorization: Bearer …)",
                )),
            },
            (&Method::GET, p) if p == "/" || p == "/console" || p.starts_with("/console/") => {
                console::serve(p)
                    .ok_or_else(|| ApiError::not_found("not_found", "no such console page"))
            }
            (&Method::GET, "/admin/openapi.json") => {
                Ok(respond::document("application/json", openapi::json(), None))
            }
            (&Method::POST, "/v1/detokenize") => match self.authorize(&req, &[Role::Service]) {
                Ok(p) => detokenize::handle(&self, p, req).await,
                Err(e) => Err(e),
            },
            (_, p) if p.starts_with("/admin/v1/") => self.api(req, p).await,
            (_, "/healthz" | "/readyz" | "/metrics" | "/admin/openapi.json" | "/v1/detokenize") => {
                Err(ApiError::method_not_allowed())
            }
            _ => Err(ApiError::not_found("not_found", "no such admin endpoint")),
        };
        result.unwrap_or_else(ApiError::into_response)
    }
}

impl Admin {
    /// `/admin/v1/…`: the DPO's, auditor's and services' API, each resource behind its roles.
    async fn api(
        self: &Arc<Self>,
        req: Request<Incoming>,
        path: &str,
    ) -> Result<Response<Body>, ApiError> {
        if let Some((resource, rest)) = Resource::of(path) {
            return self.resource(req, resource, rest).await;
        }
        match (req.method(), path) {
            (&Method::GET, "/admin/v1/audit") => {
                match self.authorize(&req, &[Role::Auditor, Role::Dpo, Role::Admin]) {
                    Ok(p) => audit_export::handle(self, p, &req).await,
                    Err(e) => Err(e),
                }
            }
            (&Method::GET, "/admin/v1/audit/key") => {
                match self.authorize(&req, &[Role::Auditor, Role::Dpo, Role::Admin]) {
                    Ok(_) => Ok(respond::json(
                        StatusCode::OK,
                        &serde_json::json!({
                            "algorithm": "Ed25519",
                            "public_key": data_encoding::HEXLOWER.encode(&self.keys.audit.public_key()),
                        }),
                    )),
                    Err(e) => Err(e),
                }
            }
            (&Method::GET, "/admin/v1/register") => {
                match self.authorize(&req, &[Role::Dpo, Role::Admin, Role::Auditor]) {
                    Ok(_) => register::handle(self, &req).await,
                    Err(e) => Err(e),
                }
            }
            (&Method::GET, "/admin/v1/consents") => {
                match self.authorize(&req, &[Role::Dpo, Role::Admin, Role::Auditor]) {
                    Ok(_) => views::consents(self, &req).await,
                    Err(e) => Err(e),
                }
            }
            (&Method::GET, "/admin/v1/discovery") => {
                match self.authorize(&req, &[Role::Dpo, Role::Admin, Role::Auditor]) {
                    Ok(_) => views::discovery(self).await,
                    Err(e) => Err(e),
                }
            }
            (
                _,
                "/admin/v1/audit"
                | "/admin/v1/audit/key"
                | "/admin/v1/register"
                | "/admin/v1/discovery"
                | "/admin/v1/consents",
            ) => Err(ApiError::method_not_allowed()),
            _ => Err(ApiError::not_found("not_found", "no such admin endpoint")),
        }
    }

    /// A resource with its own router (`rest` is the path after its name).
    async fn resource(
        self: &Arc<Self>,
        req: Request<Incoming>,
        resource: Resource,
        rest: &str,
    ) -> Result<Response<Body>, ApiError> {
        let roles: &[Role] = match resource {
            Resource::Links => &[Role::Service, Role::Dpo, Role::Admin],
            Resource::Sweeps => &[Role::Dpo, Role::Admin, Role::Auditor],
            _ => &[Role::Dpo, Role::Admin],
        };
        let principal = self.authorize(&req, roles)?;
        match resource {
            Resource::Breaches => breaches::handle(self, principal, req, rest).await,
            Resource::Transfers => transfers::handle(self, principal, req, rest).await,
            Resource::Requests => requests::handle(self, principal, req, rest).await,
            Resource::Links => links::handle(self, principal, req, rest).await,
            Resource::Sweeps => sweeps::handle(self, req, rest).await,
        }
    }

    /// Ready when the database answers within [`READY_WITHIN`], is still the one this process
    /// started on (key ring, migrations) and writes commit. After a failed write, one probe write
    /// goes through the writer: readiness returns by itself once it commits (a real write that
    /// fails takes it away again). Not ready answers 503 with the reason.
    async fn ready(&self) -> Result<Response<Body>, ApiError> {
        let not_ready =
            |body: serde_json::Value| Ok(respond::json(StatusCode::SERVICE_UNAVAILABLE, &body));
        let ours = self.keys.root_id();
        let checked =
            tokio::time::timeout(READY_WITHIN, self.committer.check_vault(&self.store, &ours));
        let cause = match checked.await {
            Ok(Ok(None)) => None,
            Ok(Ok(Some(m))) => {
                return not_ready(serde_json::json!({"status": "not_ready", "reason": m.as_str()}))
            }
            Ok(Err(e)) => Some(crate::store::health::FailureReason::of(&e).as_str()),
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
                    "failing_since": crate::rfc3339(since),
                }));
            }
        }
        // Transfers abroad are refused while the notifications cannot be re-read: a replica
        // that refuses them is not ready (one without foreign destinations does not care).
        let abroad = self
            .policy
            .destinations()
            .iter()
            .any(|d| crate::transfers::is_foreign(d.country));
        if abroad && self.transfers.stale(crate::now_millis()) {
            return not_ready(
                serde_json::json!({"status": "not_ready", "reason": "cross_border_cache_stale"}),
            );
        }
        // The key is loaded before the listener opens and never unloaded; that the database's
        // key ring is still the one it opened was checked above.
        Ok(respond::json(
            StatusCode::OK,
            &serde_json::json!({"status": "ready", "database": "ok", "key": "ok", "writes": "ok"}),
        ))
    }

    /// The Prometheus exposition; the store-backed gauges need the database, so an unreachable
    /// one answers 503 like `/readyz`.
    /// Open unless a metrics token is configured; then only its bearer, compared in constant time.
    fn metrics_allowed<B>(&self, req: &Request<B>) -> bool {
        use subtle::ConstantTimeEq;
        match &self.metrics_token {
            None => true,
            Some(want) => auth::bearer(req.headers())
                .is_some_and(|got| bool::from(got.as_bytes().ct_eq(want.as_slice()))),
        }
    }

    async fn metrics(&self) -> Result<Response<Body>, ApiError> {
        use crate::store::{Oversight, Rights};
        self.metrics
            .commit_failures(&self.committer.health().failures());
        let gauges = self.store.gauges(crate::now_millis()).await?;
        let sweep = self
            .store
            .sweeps(None, None, 1, true)
            .await?
            .into_iter()
            .next();
        Ok(respond::document(
            crate::metrics::CONTENT_TYPE,
            self.metrics.render(gauges, sweep.as_ref()),
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
        let token = auth::bearer(req.headers())
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

/// The admin API's resources that route their own sub-paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Breaches,
    Transfers,
    Requests,
    Links,
    Sweeps,
}

impl Resource {
    const ALL: [(Resource, &'static str); 5] = [
        (Resource::Breaches, "/admin/v1/breaches"),
        (Resource::Transfers, "/admin/v1/transfers"),
        (Resource::Requests, "/admin/v1/requests"),
        (Resource::Links, "/admin/v1/subjects/links"),
        (Resource::Sweeps, "/admin/v1/sweeps"),
    ];

    /// The resource `path` is in, and the rest of the path after its name.
    fn of(path: &str) -> Option<(Resource, &str)> {
        Self::ALL.iter().find_map(|(r, prefix)| {
            let rest = path.strip_prefix(prefix)?;
            (rest.is_empty() || rest.starts_with('/')).then_some((*r, rest))
        })
    }
}

pub(crate) fn unauthorized(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}
