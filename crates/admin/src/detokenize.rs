//! `POST /v1/detokenize` (SPEC 6): a declared service asks for plaintext for one purpose; every
//! token gets its value or a denial with a reason, and the call is audited (counts, never values).

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use super::Admin;
use crate::errors::IntoHttp;
use pdgate_app::purpose::{self, Outcome};
use pdgate_http::auth::Principal;
use pdgate_http::respond;
use pdgate_http::{ApiError, Body};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DetokenizeRequest {
    purpose: String,
    tokens: Vec<String>,
}

#[derive(Serialize)]
struct Item<'a> {
    token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    denied: Option<&'static str>,
}

#[derive(Serialize)]
struct DetokenizeResponse<'a> {
    purpose: &'a str,
    granted: u32,
    denied: u32,
    results: Vec<Item<'a>>,
}

pub(super) async fn handle(
    admin: &Admin,
    principal: Principal,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    // Never closed, so `acquire` only waits.
    let _slot = admin.detokenize_slots.acquire().await.ok();
    let body: DetokenizeRequest =
        respond::read_json(req.into_body(), admin.limits.max_body_bytes).await?;
    let tokens: Vec<&str> = body.tokens.iter().map(String::as_str).collect();
    let d = purpose::Detokenizer {
        store: &admin.store,
        keys: &admin.keys,
        policy: &admin.policy,
        committer: &admin.committer,
        transfers: &admin.transfers,
        metrics: &admin.metrics,
    };
    let service = principal.service.as_deref().unwrap_or_default();
    let caller = purpose::Caller {
        service,
        sub: &principal.sub,
    };
    let now = pdgate_core::now_millis();
    let done = purpose::detokenize(&d, caller, &body.purpose, &tokens, now)
        .await
        .map_err(IntoHttp::into_http)?;
    let denied_total = done.denied.values().sum();
    tracing::info!(service, purpose = %body.purpose, requested = tokens.len(), granted = done.granted, denied = denied_total, "detokenize");
    let results = tokens
        .iter()
        .zip(&done.outcomes)
        .map(|(token, outcome)| match outcome {
            Outcome::Granted(v) => Item {
                token,
                value: Some(v.as_str()),
                denied: None,
            },
            Outcome::Denied(d) => Item {
                token,
                value: None,
                denied: Some(d.code()),
            },
        })
        .collect();
    Ok(respond::json(
        StatusCode::OK,
        &DetokenizeResponse {
            purpose: &body.purpose,
            granted: done.granted,
            denied: denied_total,
            results,
        },
    ))
}
