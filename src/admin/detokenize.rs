//! `POST /v1/detokenize` (SPEC 6): a declared service asks for plaintext for one purpose; every
//! token gets its value or a denial with a reason, and the call is audited (counts, never values).

use std::collections::BTreeMap;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use super::Admin;
use crate::audit::AuditEvent;
use crate::auth::Principal;
use crate::purpose::{self, Denial, Outcome};
use pdgate_http::respond;
use pdgate_http::{ApiError, Body};

/// Most tokens in one call.
pub const MAX_TOKENS: usize = 1000;

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

pub async fn handle(
    admin: &Admin,
    principal: Principal,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body: DetokenizeRequest =
        respond::read_json(req.into_body(), admin.limits.max_body_bytes).await?;
    if body.tokens.len() > MAX_TOKENS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_tokens",
            format!("at most {MAX_TOKENS} tokens per call"),
        ));
    }
    let policy = &admin.policy;
    let Some(purpose_idx) = policy
        .purposes
        .iter()
        .position(|p| p.def.id == body.purpose)
    else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_purpose",
            format!("purpose `{}` is not declared in the policies", body.purpose),
        ));
    };
    let service = principal.service.as_deref().unwrap_or_default();
    // A service abroad receives plaintext only under a notification in order (152-FZ Art. 12).
    if let Some(s) = policy.services.iter().find(|s| s.id == service) {
        let (committer, country) = (&admin.committer, s.country());
        admin
            .transfers
            .enforce(committer, "detokenize", service, country, &body.purpose)
            .await?;
    }
    let tokens: Vec<&str> = body.tokens.iter().map(String::as_str).collect();
    let now = crate::now_millis();
    let outcomes = if purpose::service_declared(policy, service, &body.purpose) {
        purpose::resolve(&admin.store, &admin.keys, policy, purpose_idx, &tokens, now).await?
    } else {
        tokens
            .iter()
            .map(|_| Outcome::Denied(Denial::ServiceNotDeclared))
            .collect()
    };
    let (results, granted, denied) = tally(&tokens, &outcomes);
    let denied_total = denied.values().sum();
    admin.metrics.detokenized(granted, &denied);
    // Audited durably before any value leaves: no trace, no plaintext.
    let event = AuditEvent::Detokenize {
        service: if service.is_empty() {
            format!("(none; sub {})", principal.sub)
        } else {
            service.to_owned()
        },
        purpose: body.purpose.clone(),
        requested: u32::try_from(tokens.len()).unwrap_or(u32::MAX),
        granted,
        denied,
    };
    admin.committer.audit(now, event).await?;
    tracing::info!(service, purpose = %body.purpose, requested = tokens.len(), granted, denied = denied_total, "detokenize");
    Ok(respond::json(
        StatusCode::OK,
        &DetokenizeResponse {
            purpose: &body.purpose,
            granted,
            denied: denied_total,
            results,
        },
    ))
}

/// Each token's result, how many were granted, and the denials by reason.
fn tally<'a>(
    tokens: &[&'a str],
    outcomes: &'a [Outcome],
) -> (Vec<Item<'a>>, u32, BTreeMap<String, u32>) {
    let mut granted = 0u32;
    let mut denied: BTreeMap<String, u32> = BTreeMap::new();
    let mut results = Vec::with_capacity(tokens.len());
    for (token, outcome) in tokens.iter().zip(outcomes) {
        match outcome {
            Outcome::Granted(v) => {
                granted += 1;
                results.push(Item {
                    token,
                    value: Some(v.as_str()),
                    denied: None,
                });
            }
            Outcome::Denied(d) => {
                *denied.entry(d.code().to_owned()).or_default() += 1;
                results.push(Item {
                    token,
                    value: None,
                    denied: Some(d.code()),
                });
            }
        }
    }
    (results, granted, denied)
}
