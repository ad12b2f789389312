//! `/admin/v1/breaches…` (SPEC 10a) for DPOs and admins: HTTP around [`pdgate_app::breach`]'s use
//! cases.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::Admin;
use crate::errors::IntoHttp;
use pdgate_app::breach::{self, notice, NewBreach, StateChange};
use pdgate_core::Millis;
use pdgate_http::auth::Principal;
use pdgate_http::respond;
use pdgate_http::{ApiError, Body};

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
    let b = breach::load(&admin.store, id)
        .await
        .map_err(IntoHttp::into_http)?;
    let n = notice::draft(&b, &admin.policy, kind, (now, admin.calendar.zone()))?;
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

/// The operations on breaches (the route table in `routes.rs` maps method and path to them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Create,
    List,
    Get,
    State,
    Sent,
    Notice,
}

/// Runs `op` on `/admin/v1/breaches` (`id` is the path's id segment, empty when it has none).
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
            let input: NewBreach =
                respond::read_json(req.into_body(), admin.limits.max_body_bytes).await?;
            let b = breach::open(
                &admin.store,
                &admin.committer,
                &admin.policy,
                input,
                who,
                now,
            )
            .await
            .map_err(IntoHttp::into_http)?;
            let location = format!("/admin/v1/breaches/{}", b.id);
            Ok(respond::created(&location, &b.to_json(now)))
        }
        Op::List => {
            let breaches = breach::list(&admin.store, 500).await?;
            let items: Vec<_> = breaches.iter().map(|b| b.to_json(now)).collect();
            Ok(respond::json(
                StatusCode::OK,
                &serde_json::json!({ "items": items }),
            ))
        }
        Op::Get => Ok(respond::json(
            StatusCode::OK,
            &breach::load(&admin.store, id)
                .await
                .map_err(IntoHttp::into_http)?
                .to_json(now),
        )),
        Op::State => {
            let change: StateChange =
                respond::read_json(req.into_body(), admin.limits.max_body_bytes).await?;
            let b = breach::advance(&admin.store, &admin.committer, id, change, who, now)
                .await
                .map_err(IntoHttp::into_http)?;
            Ok(respond::json(StatusCode::OK, &b.to_json(now)))
        }
        Op::Sent => {
            let input: breach::NoticeSent =
                respond::read_json(req.into_body(), admin.limits.max_body_bytes).await?;
            let b = breach::sent(&admin.store, &admin.committer, id, input, who, now)
                .await
                .map_err(IntoHttp::into_http)?;
            Ok(respond::json(StatusCode::OK, &b.to_json(now)))
        }
        Op::Notice => notice(admin, &req, id, now).await,
    }
}
