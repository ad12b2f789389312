//! `/admin/v1/transfers…` (SPEC 10a, 152-FZ Art. 12) for DPOs and admins: the recorded
//! cross-border notifications and what they allow now. Recording or withdrawing one is audited
//! and reaches this replica's cache at once, other replicas' within `[transfers] refresh_s`.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{json, Value};

use super::Admin;
use crate::audit::AuditEvent;
use crate::auth::Principal;
use crate::store::oversight::NotificationRow;
use crate::store::{Change, Oversight};
use crate::Millis;
use pdgate_http::respond;
use pdgate_http::{ApiError, Body};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewNotification {
    #[schema(pattern = "^[A-Za-z]{2}$")]
    country: String,
    purpose: String,
    /// When the notification was sent to Roskomnadzor (RFC 3339 or Unix ms).
    #[schema(value_type = String, format = DateTime)]
    filed_at: Value,
    #[serde(default)]
    reference: Option<String>,
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

fn view(admin: &Admin, n: &NotificationRow, now: Millis) -> Value {
    let allowed_from = admin.transfers.allowed_from(&n.country, n.filed_at);
    json!({
        "id": n.id,
        "country": n.country,
        "purpose": n.purpose,
        "filed_at": crate::rfc3339(n.filed_at),
        "reference": n.reference,
        "recorded_by": n.recorded_by,
        "recorded_at": crate::rfc3339(n.recorded_at),
        "withdrawn_at": n.withdrawn_at.map(crate::rfc3339),
        "adequate": admin.transfers.adequacy.contains(&n.country),
        "allowed_from": crate::rfc3339(allowed_from),
        "active": n.withdrawn_at.is_none_or(|w| w > now) && allowed_from <= now,
    })
}

/// Every foreign destination in the policies, per purpose, and whether it may receive data now.
fn destinations(admin: &Admin, now: Millis) -> Vec<Value> {
    use crate::policy::DestinationKind;
    let mut out = Vec::new();
    for d in admin.policy.destinations() {
        if !crate::transfers::is_foreign(d.country) {
            continue;
        }
        let via = match d.kind {
            DestinationKind::Recipient => "recipient",
            DestinationKind::Upstream => "route",
            DestinationKind::Service => "detokenize",
        };
        for purpose in &d.purposes {
            let ok = admin.transfers.check(d.country, purpose, now);
            out.push(json!({
                "via": via, "recipient": d.name, "country": d.country, "purpose": purpose,
                "allowed": ok.is_ok(), "reason": ok.err().map(|r| r.reason()),
            }));
        }
    }
    out
}

async fn record(admin: &Admin, n: NotificationRow, who: &str, now: Millis) -> Result<(), ApiError> {
    admin
        .committer
        .apply(Change {
            at: now,
            audit: vec![AuditEvent::TransferNotification {
                notification_id: n.id.clone(),
                principal: who.into(),
                country: n.country.clone(),
                purpose: n.purpose.clone(),
                filed_at: n.filed_at,
                withdrawn: n.withdrawn_at.is_some(),
            }],
            notifications: vec![n],
            ..Change::default()
        })
        .await?;
    // This replica sees it at once; a failed re-read leaves the cache to age and fail closed.
    if let Err(e) = admin.transfers.refresh(&admin.store, now).await {
        tracing::warn!(error = %e, "cross-border notifications: refresh after a change failed");
    }
    Ok(())
}

/// The operations on transfers (the route table in `routes.rs` maps method and path to them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Create,
    List,
    Withdraw,
}

/// Runs `op` on `/admin/v1/transfers` (`id` is the path's id segment, empty when it has none).
pub async fn handle(
    admin: &Admin,
    principal: Principal,
    req: Request<Incoming>,
    op: Op,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let now = crate::now_millis();
    let who = principal.sub.as_str();
    match op {
        Op::Create => {
            let input: NewNotification =
                respond::read_json(req.into_body(), admin.limits.max_body_bytes).await?;
            let n = notification(&admin.policy, input, who, now)?;
            record(admin, n.clone(), who, now).await?;
            Ok(respond::json(StatusCode::CREATED, &view(admin, &n, now)))
        }
        Op::List => {
            let rows = admin.store.notifications().await?;
            Ok(respond::json(
                StatusCode::OK,
                &json!({
                    "items": rows.iter().map(|n| view(admin, n, now)).collect::<Vec<_>>(),
                    "destinations": destinations(admin, now),
                }),
            ))
        }
        Op::Withdraw => {
            let rows = admin.store.notifications().await?;
            let mut n = rows.into_iter().find(|n| n.id == *id).ok_or_else(|| {
                ApiError::not_found("notification_not_found", "no such notification")
            })?;
            if n.withdrawn_at.is_some() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "already_withdrawn",
                    "the notification is already withdrawn",
                ));
            }
            n.withdrawn_at = Some(now);
            record(admin, n.clone(), who, now).await?;
            Ok(respond::json(StatusCode::OK, &view(admin, &n, now)))
        }
    }
}

/// The notification as recorded, once its fields are valid: a foreign ISO country, a declared
/// purpose, a filing time not in the future, a short reference.
fn notification(
    policy: &crate::policy::Policy,
    input: NewNotification,
    who: &str,
    now: Millis,
) -> Result<NotificationRow, ApiError> {
    let country = input.country.trim().to_ascii_uppercase();
    if !crate::policy::is_country_code(&country) {
        return Err(bad(
            "invalid_country",
            "country must be an ISO 3166-1 alpha-2 code",
        ));
    }
    if !crate::transfers::is_foreign(&country) {
        return Err(bad(
            "not_cross_border",
            "transfers within Russia need no Art. 12 notification",
        ));
    }
    if policy.purpose_index(&input.purpose).is_none() {
        return Err(bad(
            "unknown_purpose",
            format!("purpose `{}` is not declared", input.purpose),
        ));
    }
    let filed_at = match &input.filed_at {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => crate::parse_time(s),
        _ => None,
    }
    .ok_or_else(|| bad("invalid_time", "filed_at must be RFC 3339 or Unix ms"))?;
    if filed_at > now + crate::breach::MAX_SKEW_MS {
        return Err(bad("invalid_time", "filed_at is in the future"));
    }
    let reference = input
        .reference
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if reference.as_ref().is_some_and(|r| r.chars().count() > 200) {
        return Err(bad(
            "field_too_long",
            "reference is longer than 200 characters",
        ));
    }
    Ok(NotificationRow {
        id: format!("ntf_{}", uuid::Uuid::now_v7().simple()),
        country,
        purpose: input.purpose,
        filed_at,
        reference,
        recorded_by: who.into(),
        recorded_at: now,
        withdrawn_at: None,
    })
}
