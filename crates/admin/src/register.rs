//! `GET /admin/v1/register?view=gdpr|fz152&format=json|csv|md|html|form` (SPEC 9) for DPOs, admins
//! and auditors: the live register, built on each call from the policies, the running
//! configuration and the store's figures.

use http::{Request, Response, StatusCode};

use super::Admin;
use pdgate_app::register::render::Format;
use pdgate_app::register::{self as reg, Inputs, View};
use pdgate_http::respond;
use pdgate_http::{ApiError, Body};

pub(super) async fn handle<B>(admin: &Admin, req: &Request<B>) -> Result<Response<Body>, ApiError> {
    let view = match respond::query_param(req.uri(), "view").as_deref() {
        None => View::Gdpr,
        Some(v) => View::parse(v).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_view",
                "view must be gdpr or fz152",
            )
        })?,
    };
    let format = match respond::query_param(req.uri(), "format").as_deref() {
        None => Format::Json,
        Some(f) => Format::parse(f).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_format",
                "format must be json, csv, md, html or form",
            )
        })?,
    };
    let now = pdgate_core::now_millis();
    let live = reg::read_live(&admin.store, &admin.policy, now).await?;
    let inputs = Inputs {
        policy: &admin.policy,
        facts: &admin.facts,
        live: &live,
        adequacy: &admin.transfers.adequacy,
        calendar: &admin.calendar,
        now,
    };
    let body = reg::document(view, format, &inputs).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_format",
            "format=form is Roskomnadzor's notification form: ask it of view=fz152",
        )
    })?;
    let name = format!(
        "register-{}-{}.{}",
        if view == View::Gdpr { "gdpr" } else { "fz152" },
        admin.calendar.zone().date_string(now),
        format.extension()
    );
    let download = matches!(format, Format::Csv | Format::Markdown).then_some(name.as_str());
    Ok(respond::document(format.content_type(), body, download))
}
