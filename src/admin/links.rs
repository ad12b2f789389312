//! `/admin/v1/subjects/links` for services (the CRM) and DPOs: self-service links. The token an
//! intake returns opens only what that intake recorded; a person's full self-service (every
//! consent, withdraw any, their receipts) needs a link the operator sends through a channel it
//! trusts — its newsletter, its account page. A link is minted for the subject found by e-mail or
//! phone, lives up to `subject_link_ttl_s` (so the "withdraw" link in a newsletter keeps working
//! for the consent's term), carries a `jti` checked on every use, and can be revoked. Minting,
//! revoking and every use are audited; the token is returned once and never stored.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{json, Value};

use super::Admin;
use crate::audit::AuditEvent;
use crate::auth::Principal;
use crate::consent::SELF_SERVICE_PREFIX as PREFIX;
use crate::requests::flow::{lookup, SubjectRef};
use crate::store::rights::{LinkRow, LinkWrite};
use crate::store::{Backend, Change, Rights};
use crate::Millis;
use pdgate_http::respond;
use pdgate_http::{ApiError, Body};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewLink {
    /// The person, by one e-mail address or phone number.
    subject: SubjectRef,
    /// Lifetime in seconds; default and maximum `subject_link_ttl_s` (366 days unless configured).
    #[serde(default)]
    ttl_s: Option<i64>,
}

fn view(row: &LinkRow, now: Millis) -> Value {
    json!({
        "id": row.id,
        "subject": crate::intake::pseudonym(&row.subject_id),
        "created_at": crate::rfc3339(row.created_at),
        "created_by": row.created_by,
        "expires_at": crate::rfc3339(row.expires_at),
        "revoked_at": row.revoked_at.map(crate::rfc3339),
        "revoked_by": row.revoked_by,
        "active": row.revoked_at.is_none() && row.expires_at > now,
    })
}

/// The operations on links (the route table in `routes.rs` maps method and path to them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Create,
    Get,
    Revoke,
}

/// Runs `op` on `/admin/v1/subjects/links` (`id` is the path's id segment, empty when it has none).
pub async fn handle(
    admin: &Admin,
    principal: Principal,
    req: Request<Incoming>,
    op: Op,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let now = crate::now_millis();
    match op {
        Op::Create => {
            let input: NewLink =
                respond::read_json(req.into_body(), admin.limits.max_body_bytes).await?;
            mint(admin, &principal, input, now).await
        }
        Op::Get => Ok(respond::json(
            StatusCode::OK,
            &view(&found(admin, id).await?, now),
        )),
        Op::Revoke => revoke(admin, &principal, id, now).await,
    }
}

async fn found(admin: &Admin, id: &str) -> Result<LinkRow, ApiError> {
    admin
        .store
        .link(id)
        .await?
        .ok_or_else(|| ApiError::not_found("link_not_found", "no such link"))
}

async fn mint(
    admin: &Admin,
    principal: &Principal,
    input: NewLink,
    now: Millis,
) -> Result<Response<Body>, ApiError> {
    let ttl_s = input.ttl_s.unwrap_or(admin.link_ttl_s);
    if ttl_s < 60 || ttl_s > admin.link_ttl_s {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_ttl",
            format!("ttl_s must be from 60 to {} seconds", admin.link_ttl_s),
        ));
    }
    let (mac, _) = lookup(&admin.keys, &input.subject)?;
    let subject_id = match admin.store.subjects_by_index(&mac).await?.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(ApiError::not_found(
                "subject_not_found",
                "no subject is on record with this identifier",
            ))
        }
        // A shared phone number names several people: a link must open one person's data.
        _ => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "ambiguous_subject",
                "several subjects share this identifier; use another (their e-mail)",
            ))
        }
    };
    let row = LinkRow {
        id: format!("lnk_{}", uuid::Uuid::new_v4().simple()),
        subject_id,
        created_at: now,
        created_by: principal.sub.clone(),
        expires_at: now.saturating_add(ttl_s.saturating_mul(1000)),
        revoked_at: None,
        revoked_by: None,
    };
    let subject = crate::intake::pseudonym(&row.subject_id);
    admin
        .committer
        .apply(Change {
            at: now,
            audit: vec![AuditEvent::LinkMinted {
                link_id: row.id.clone(),
                subject: subject.clone(),
                principal: principal.sub.clone(),
                expires_at: row.expires_at,
            }],
            links: vec![LinkWrite::Mint(row.clone())],
            ..Change::default()
        })
        .await?;
    let token = crate::consent::issue_link_token(
        &admin.keys,
        &subject,
        &row.id,
        now / 1000,
        row.expires_at / 1000,
    );
    let base = format!("{}{PREFIX}", admin.public_url.as_deref().unwrap_or(""));
    let mut out = view(&row, now);
    out["token"] = json!(token);
    // The page reads the token from the fragment, which browsers never send to a server or in
    // a Referer: the link's secret stays out of access logs on the way.
    out["manage_url"] = json!(format!("{base}/manage#token={token}"));
    out["consents_url"] = json!(format!("{base}/consents"));
    tracing::info!(link = %row.id, subject = %subject, "self-service link minted");
    Ok(respond::json(StatusCode::CREATED, &out))
}

async fn revoke(
    admin: &Admin,
    principal: &Principal,
    id: &str,
    now: Millis,
) -> Result<Response<Body>, ApiError> {
    let mut row = found(admin, id).await?;
    if row.revoked_at.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_revoked",
            "the link is already revoked",
        ));
    }
    admin
        .committer
        .apply(Change {
            at: now,
            audit: vec![AuditEvent::LinkRevoked {
                link_id: row.id.clone(),
                subject: crate::intake::pseudonym(&row.subject_id),
                principal: principal.sub.clone(),
            }],
            links: vec![LinkWrite::Revoke {
                id: row.id.clone(),
                at: now,
                by: principal.sub.clone(),
            }],
            ..Change::default()
        })
        .await?;
    row.revoked_at = Some(now);
    row.revoked_by = Some(principal.sub.clone());
    Ok(respond::json(StatusCode::OK, &view(&row, now)))
}
