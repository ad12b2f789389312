//! `/admin/v1/requests…` (SPEC 7) for DPOs and admins: HTTP in and out around
//! [`pdgate_app::requests::flow`] and [`pdgate_app::requests::report`].

use http::{header, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;

use super::Admin;
use crate::errors::IntoHttp;
use pdgate_app::requests::flow::{self, Ctx, Fulfil, NewRequest};
use pdgate_app::requests::report;
use pdgate_core::Millis;
use pdgate_http::auth::Principal;
use pdgate_http::respond;
use pdgate_http::{ApiError, Body};
use pdgate_store::rights::RequestStatus;
use pdgate_store::Rights;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Extend {
    reason: String,
}

fn ctx(admin: &Admin) -> Ctx<'_> {
    Ctx {
        store: &admin.store,
        committer: &admin.committer,
        keys: &admin.keys,
        policy: &admin.policy,
        calendar: &admin.calendar,
    }
}

/// The operations on requests (the route table in `routes.rs` maps method and path to them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Create,
    List,
    Get,
    Extend,
    Fulfil,
    Lift,
    Report,
    /// The extension's notice to the subject: the draft (GET), recorded as sent (POST).
    Notice,
    NoticeSent,
}

/// Runs `op` on `/admin/v1/requests` (`id` is the path's id segment, empty when it has none).
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
            let input: NewRequest =
                respond::read_json(req.into_body(), admin.limits.max_body_bytes).await?;
            let row = flow::create(&ctx(admin), input, who, now)
                .await
                .map_err(IntoHttp::into_http)?;
            Ok(respond::created(
                &format!("/admin/v1/requests/{}", row.id),
                &report::request_json(&row, now, &admin.calendar),
            ))
        }
        Op::List => list(admin, &req, now).await,
        Op::Get => get(admin, id, now).await,
        Op::Extend => {
            let body: Extend =
                respond::read_json(req.into_body(), admin.limits.max_body_bytes).await?;
            let row = flow::extend(&ctx(admin), id, &body.reason, who, now)
                .await
                .map_err(IntoHttp::into_http)?;
            Ok(respond::json(
                StatusCode::OK,
                &report::request_json(&row, now, &admin.calendar),
            ))
        }
        Op::Fulfil => {
            // The body is optional (most types need nothing but the request).
            let input: Fulfil =
                respond::read_json_or_default(req.into_body(), admin.limits.max_body_bytes).await?;
            let row = flow::fulfil(
                &ctx(admin),
                id,
                input,
                pdgate_core::requests::erasure::Destroyer {
                    account: who,
                    name: principal.name.as_deref(),
                    position: principal.position.as_deref(),
                },
                now,
            )
            .await
            .map_err(IntoHttp::into_http)?;
            Ok(respond::json(
                StatusCode::OK,
                &report::request_json(&row, now, &admin.calendar),
            ))
        }
        Op::Lift => {
            let row = flow::lift(&ctx(admin), id, who, now)
                .await
                .map_err(IntoHttp::into_http)?;
            Ok(respond::json(
                StatusCode::OK,
                &report::request_json(&row, now, &admin.calendar),
            ))
        }
        Op::Report => report_of(admin, &principal, &req, id, now).await,
        Op::Notice => notice(admin, id).await,
        Op::NoticeSent => {
            let row = flow::notice_sent(&ctx(admin), id, who, now)
                .await
                .map_err(IntoHttp::into_http)?;
            Ok(respond::json(
                StatusCode::OK,
                &report::request_json(&row, now, &admin.calendar),
            ))
        }
    }
}

/// `GET …/extension-notice`: the draft notice of an extended request.
async fn notice(admin: &Admin, id: &str) -> Result<Response<Body>, ApiError> {
    let row = admin
        .store
        .request(id)
        .await?
        .ok_or_else(|| ApiError::not_found("request_not_found", "no such request"))?;
    let zone = admin.calendar.zone();
    let page = pdgate_core::requests::notice::extension_notice(&admin.policy, &row, zone)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "not_extended",
                "only an extended request has an extension notice",
            )
        })?;
    Ok(respond::document("text/html; charset=utf-8", page, None))
}

/// `GET /admin/v1/requests?status=&overdue=`.
async fn list(
    admin: &Admin,
    req: &Request<Incoming>,
    now: Millis,
) -> Result<Response<Body>, ApiError> {
    let status = match respond::query_param(req.uri(), "status") {
        None => None,
        Some(s) => Some(RequestStatus::parse(&s).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_status",
                "status must be open, fulfilled or lifted",
            )
        })?),
    };
    let overdue = match respond::query_param(req.uri(), "overdue").as_deref() {
        None | Some("false") => None,
        Some("true") => Some(now),
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_overdue",
                "overdue must be true or false",
            ))
        }
    };
    let rows = admin
        .store
        .requests(status.map(RequestStatus::as_str), overdue, 1000)
        .await?;
    let items: Vec<_> = rows
        .iter()
        .map(|r| report::request_json(r, now, &admin.calendar))
        .collect();
    Ok(respond::json(
        StatusCode::OK,
        &serde_json::json!({"requests": items, "count": items.len()}),
    ))
}

/// `GET /admin/v1/requests/{id}`, with its webhook deliveries counted.
async fn get(admin: &Admin, id: &str, now: Millis) -> Result<Response<Body>, ApiError> {
    let row = admin
        .store
        .request(id)
        .await?
        .ok_or_else(|| ApiError::not_found("request_not_found", "no such request"))?;
    let mut v = report::request_json(&row, now, &admin.calendar);
    let deliveries = admin.store.outbox_of(id).await?;
    v["deliveries"] = serde_json::json!({
        "total": deliveries.len(),
        "delivered": deliveries.iter().filter(|d| d.delivered_at.is_some()).count(),
        "pending": deliveries.iter().filter(|d| d.delivered_at.is_none()).count(),
    });
    Ok(respond::json(StatusCode::OK, &v))
}

/// A request's report as JSON or HTML (`?format=`), in the subject's language for HTML.
async fn report_of(
    admin: &Admin,
    principal: &Principal,
    req: &Request<Incoming>,
    id: &str,
    now: pdgate_core::Millis,
) -> Result<Response<Body>, ApiError> {
    let html = match respond::query_param(req.uri(), "format").as_deref() {
        None | Some("json") => false,
        Some("html") => true,
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_format",
                "format must be json or html",
            ))
        }
    };
    let format = if html { "html" } else { "json" };
    let (row, rep) = report::rendered(&ctx(admin), id, (&principal.sub, format), now)
        .await
        .map_err(IntoHttp::into_http)?;
    if !html {
        return Ok(respond::json(StatusCode::OK, &rep));
    }
    let lang = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let russian = report::report_in_russian(lang, row.regime);
    let mut r = respond::document(
        "text/html; charset=utf-8",
        report::html(&rep, russian),
        None,
    );
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(if russian { "ru" } else { "en" }),
    );
    h.insert(header::VARY, HeaderValue::from_static("Accept-Language"));
    Ok(r)
}
