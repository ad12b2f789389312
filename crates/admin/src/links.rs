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
use crate::errors::IntoHttp;
use pdgate_app::requests::flow::SubjectRef;
use pdgate_app::requests::links::{self, Minted};
use pdgate_core::consent::SELF_SERVICE_PREFIX as PREFIX;
use pdgate_core::Millis;
use pdgate_http::auth::Principal;
use pdgate_http::respond;
use pdgate_http::{ApiError, Body};
use pdgate_store::rights::LinkRow;

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
        "subject": pdgate_core::intake::pseudonym(&row.subject_id),
        "created_at": pdgate_core::rfc3339(row.created_at),
        "created_by": row.created_by,
        "expires_at": pdgate_core::rfc3339(row.expires_at),
        "revoked_at": row.revoked_at.map(pdgate_core::rfc3339),
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
pub(super) async fn handle(
    admin: &Admin,
    principal: Principal,
    req: Request<Incoming>,
    op: Op,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let now = pdgate_core::now_millis();
    match op {
        Op::Create => {
            let input: NewLink =
                respond::read_json(req.into_body(), admin.limits.max_body_bytes).await?;
            mint(admin, &principal, input, now).await
        }
        Op::Get => Ok(respond::json(
            StatusCode::OK,
            &view(
                &links::find(&admin.store, id)
                    .await
                    .map_err(IntoHttp::into_http)?,
                now,
            ),
        )),
        Op::Revoke => {
            let deps = (&admin.store, &admin.committer);
            let row = links::revoke(deps, id, &principal.sub, now)
                .await
                .map_err(IntoHttp::into_http)?;
            Ok(respond::json(StatusCode::OK, &view(&row, now)))
        }
    }
}

async fn mint(
    admin: &Admin,
    principal: &Principal,
    input: NewLink,
    now: Millis,
) -> Result<Response<Body>, ApiError> {
    let deps = (&admin.store, &admin.committer, &*admin.keys);
    let who = (principal.sub.as_str(), now);
    let Minted { row, token } =
        links::mint(deps, &input.subject, input.ttl_s, admin.link_ttl_s, who)
            .await
            .map_err(IntoHttp::into_http)?;
    let base = format!("{}{PREFIX}", admin.public_url.as_deref().unwrap_or(""));
    let mut out = view(&row, now);
    out["token"] = json!(token);
    // The page reads the token from the fragment, which browsers never send to a server or in
    // a Referer: the link's secret stays out of access logs on the way.
    out["manage_url"] = json!(format!("{base}/manage#token={token}"));
    out["consents_url"] = json!(format!("{base}/consents"));
    Ok(respond::json(StatusCode::CREATED, &out))
}
