//! `/admin/v1/breaches…` (SPEC 10a) for DPOs and admins: HTTP around [`crate::breach`]. Every
//! opening and state change is one `Change` with its audit entry.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::Admin;
use crate::audit::AuditEvent;
use crate::auth::Principal;
use crate::breach::{self, notice, Breach, NewBreach, StateChange};
use crate::store::{Change, Oversight};
use crate::Millis;
use pdgate_http::respond;
use pdgate_http::{ApiError, Body};

/// Opens a breach: validated, its affected records estimated from the vault, recorded with its
/// audit entry.
async fn open(admin: &Admin, input: NewBreach, who: &str, now: Millis) -> Result<Breach, ApiError> {
    let (detected_at, mut body) = breach::validate(input, &admin.policy, now)?;
    body.estimate = admin
        .store
        .affected(Some(&body.categories), body.window_from, body.window_until)
        .await?;
    let id = format!("brc_{}", uuid::Uuid::now_v7().simple());
    let b = breach::open(id, detected_at, body, who, now);
    let audit = AuditEvent::BreachOpened {
        breach_id: b.id.clone(),
        principal: who.into(),
        detected_at,
        categories: b.body.categories.clone(),
        subjects_estimate: b.body.estimate.subjects,
        records_estimate: b.body.estimate.records,
    };
    let change = Change {
        at: now,
        breaches: vec![b.to_row()],
        audit: vec![audit],
        ..Change::default()
    };
    admin.committer.apply(change).await?;
    Ok(b)
}

/// Moves a breach on (forward only), refused if another change was recorded since it was read.
async fn advance(
    admin: &Admin,
    id: &str,
    change: StateChange,
    who: &str,
    now: Millis,
) -> Result<Breach, ApiError> {
    let mut b = load(admin, id).await?;
    let read_at = b.updated_at;
    let from = breach::advance(&mut b, change, who, now)?;
    let mut row = b.to_row();
    row.expected_updated_at = Some(read_at);
    let audit = AuditEvent::BreachState {
        breach_id: b.id.clone(),
        principal: who.into(),
        from: from.as_str().into(),
        to: b.state.as_str().into(),
    };
    let change = Change {
        at: now,
        breaches: vec![row],
        audit: vec![audit],
        ..Change::default()
    };
    admin.committer.apply(change).await?;
    Ok(b)
}

/// The draft notice for `?regime=&stage=`, as JSON or HTML (`?format=`).
async fn notice(
    admin: &Admin,
    req: &Request<Incoming>,
    id: &str,
    now: Millis,
) -> Result<Response<Body>, ApiError> {
    let regime = respond::query_param(req.uri(), "regime").unwrap_or_default();
    let stage = respond::query_param(req.uri(), "stage");
    let kind = notice::NoticeKind::parse(&regime, stage.as_deref())?;
    let b = load(admin, id).await?;
    let n = notice::draft(&b, &admin.policy, kind, now)?;
    match respond::query_param(req.uri(), "format").as_deref() {
        None | Some("json") => Ok(respond::json(StatusCode::OK, &n)),
        Some("html") => Ok(respond::document(
            "text/html; charset=utf-8",
            notice::html(&n),
            None,
        )),
        Some(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_format",
            "format must be json or html",
        )),
    }
}

async fn load(admin: &Admin, id: &str) -> Result<Breach, ApiError> {
    let row = admin
        .store
        .breach(id)
        .await?
        .ok_or_else(|| ApiError::not_found("breach_not_found", "no such breach"))?;
    decode(&row).ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the stored breach is unreadable",
        )
    })
}

/// A stored breach, or `None` (logged) when its JSON no longer decodes.
fn decode(row: &crate::store::oversight::BreachRow) -> Option<Breach> {
    Breach::from_row(row)
        .inspect_err(
            |e| tracing::error!(breach = %row.id, error = %e, "a stored breach does not decode"),
        )
        .ok()
}

/// The operations on breaches (the route table in `routes.rs` maps method and path to them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Create,
    List,
    Get,
    State,
    Notice,
}

/// Runs `op` on `/admin/v1/breaches` (`id` is the path's id segment, empty when it has none).
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
            let input: NewBreach =
                respond::read_json(req.into_body(), admin.limits.max_body_bytes).await?;
            let b = open(admin, input, who, now).await?;
            let location = format!("/admin/v1/breaches/{}", b.id);
            Ok(respond::created(&location, &b.to_json(now)))
        }
        Op::List => {
            let rows = admin.store.breaches(500).await?;
            let items: Vec<_> = rows
                .iter()
                .filter_map(decode)
                .map(|b| b.to_json(now))
                .collect();
            Ok(respond::json(
                StatusCode::OK,
                &serde_json::json!({ "items": items }),
            ))
        }
        Op::Get => Ok(respond::json(
            StatusCode::OK,
            &load(admin, id).await?.to_json(now),
        )),
        Op::State => {
            let change: StateChange =
                respond::read_json(req.into_body(), admin.limits.max_body_bytes).await?;
            let b = advance(admin, id, change, who, now).await?;
            Ok(respond::json(StatusCode::OK, &b.to_json(now)))
        }
        Op::Notice => notice(admin, &req, id, now).await,
    }
}
