//! `GET /admin/v1/audit?since=&until=&format=jsonl|csv`: the audit log as the file
//! `pdgate audit verify` checks, streamed page by page (an export can be large).

use http::{header, HeaderValue, Request, Response, StatusCode};

use super::Admin;
use pdgate_app::audit::export::{self, Format};
use pdgate_app::audit::AuditEvent;
use pdgate_core::Millis;
use pdgate_http::auth::Principal;
use pdgate_http::respond::query_param;
use pdgate_http::{ApiError, Body};

pub(super) async fn handle<B>(
    admin: &Admin,
    principal: Principal,
    req: &Request<B>,
) -> Result<Response<Body>, ApiError> {
    let uri = req.uri();
    let format = match query_param(uri, "format").as_deref() {
        None => Format::Jsonl,
        Some(f) => Format::parse(f).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_format",
                "format must be jsonl or csv",
            )
        })?,
    };
    let since = time_param(uri, "since")?;
    let until = time_param(uri, "until")?;
    admin
        .committer
        .audit(
            pdgate_core::now_millis(),
            AuditEvent::AuditExported {
                principal: principal.sub.clone(),
                since,
                until,
                format: if format == Format::Csv {
                    "csv"
                } else {
                    "jsonl"
                }
                .into(),
            },
        )
        .await?;
    let stream = export::stream(admin.store.clone(), since, until, format);
    let mut resp = Response::new(Body::Chunked(Box::pin(stream)));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `since`/`until`: RFC 3339 (`2026-11-23T00:00:00Z`) or Unix milliseconds.
fn time_param(uri: &http::Uri, name: &str) -> Result<Option<Millis>, ApiError> {
    match query_param(uri, name) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => pdgate_core::parse_time(&v).map(Some).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_time",
                format!("{name} must be RFC 3339 (2026-11-23T00:00:00Z) or Unix milliseconds"),
            )
        }),
    }
}
