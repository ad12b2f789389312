//! `/admin/v1/transfers…` (SPEC 10a, 152-FZ Art. 12) for DPOs and admins: the recorded
//! cross-border notifications and what they allow now. Recording or withdrawing one is audited
//! and reaches this replica's cache at once, other replicas' within `[transfers] refresh_s`.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};

use super::Admin;
use crate::errors::IntoHttp;
use pdgate_app::transfers::NewNotification;
use pdgate_core::Millis;
use pdgate_http::auth::Principal;
use pdgate_http::respond;
use pdgate_http::{ApiError, Body};
use pdgate_store::oversight::NotificationRow;
use pdgate_store::Oversight;

fn view(admin: &Admin, n: &NotificationRow, now: Millis) -> Value {
    let wait = admin.transfers.wait(n);
    let receipt = admin.transfers.receipt(n);
    let zone = admin.transfers.zone();
    json!({
        "id": n.id,
        "country": n.country,
        "purpose": n.purpose,
        "filed_at": pdgate_core::rfc3339(n.filed_at),
        "received_by_authority_at": n.received_at.map(pdgate_core::rfc3339),
        // The operator's day the wait counts from: recorded, or assumed from the filing.
        "received_on": receipt.day(zone).to_string(),
        "receipt_assumed": n.received_at.is_none(),
        "reference": n.reference,
        "recorded_by": n.recorded_by,
        "recorded_at": pdgate_core::rfc3339(n.recorded_at),
        "withdrawn_at": n.withdrawn_at.map(pdgate_core::rfc3339),
        "adequate": admin.transfers.adequacy.contains(&n.country),
        "allowed_from": pdgate_core::rfc3339(wait.allowed_from),
        "calendar_unverified": wait.uncovered.is_some(),
        "active": n.withdrawn_at.is_none_or(|w| w > now) && wait.over(now),
    })
}

/// Every foreign destination in the policies, per purpose, and whether it may receive data now.
fn destinations(admin: &Admin, now: Millis) -> Vec<Value> {
    use pdgate_core::policy::DestinationKind;
    let mut out = Vec::new();
    for d in admin.policy.destinations() {
        if !pdgate_app::transfers::is_foreign(d.country) {
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

/// The operations on transfers (the route table in `routes.rs` maps method and path to them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Create,
    List,
    Received,
    Withdraw,
}

/// Runs `op` on `/admin/v1/transfers` (`id` is the path's id segment, empty when it has none).
pub(super) async fn handle(
    admin: &Admin,
    principal: Principal,
    req: Request<Incoming>,
    op: Op,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let now = pdgate_core::now_millis();
    let who = principal.sub.as_str();
    match op {
        Op::Create => {
            let input: NewNotification =
                respond::read_json(req.into_body(), admin.limits.max_body_bytes).await?;
            let deps = (&admin.store, &admin.committer);
            let n = admin
                .transfers
                .file(deps, &admin.policy, input, who, now)
                .await
                .map_err(IntoHttp::into_http)?;
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
        Op::Received => {
            let input: pdgate_app::transfers::NewReceipt =
                respond::read_json(req.into_body(), admin.limits.max_body_bytes).await?;
            let deps = (&admin.store, &admin.committer);
            let n = admin
                .transfers
                .received(deps, id, input, who, now)
                .await
                .map_err(IntoHttp::into_http)?;
            Ok(respond::json(StatusCode::OK, &view(admin, &n, now)))
        }
        Op::Withdraw => {
            let deps = (&admin.store, &admin.committer);
            let n = admin
                .transfers
                .withdraw(deps, id, who, now)
                .await
                .map_err(IntoHttp::into_http)?;
            Ok(respond::json(StatusCode::OK, &view(admin, &n, now)))
        }
    }
}
