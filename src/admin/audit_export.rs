//! `GET /admin/v1/audit?since=&until=&format=jsonl|csv`: the audit log as the file
//! `pdgate audit verify` checks, streamed page by page (an export can be large).

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};

use super::auth::Principal;
use super::Admin;
use crate::audit::export::{self, Format};
use crate::audit::AuditEvent;
use crate::proxy::respond::query_param;
use crate::proxy::{ApiError, Body};
use crate::store::{Backend, Store};
use crate::Millis;

const PAGE: i64 = 1000;

pub async fn handle<B>(
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
            crate::now_millis(),
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
        .await
        .map_err(|_| ApiError::unavailable("store_unavailable", "the audit log is unavailable"))?;
    let stream = rows(admin.store.clone(), since, until, format);
    let mut resp = Response::new(Body::Chunked(Box::pin(stream)));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The export as a stream of pages; a database error mid-way ends the stream with an error (the
/// client sees a broken transfer, never a silently short file that would still verify).
pub fn rows(
    store: Store,
    since: Option<Millis>,
    until: Option<Millis>,
    format: Format,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let store = Arc::new(store);
    futures_util::stream::unfold(
        (
            Some(format.header().to_owned()),
            None::<(String, i64)>,
            false,
        ),
        move |(header, after, done)| {
            let store = store.clone();
            async move {
                if done {
                    return None;
                }
                let after_ref = after.as_ref().map(|(w, s)| (w.as_str(), *s));
                match store.audit_page(since, until, after_ref, PAGE).await {
                    Err(e) => Some((
                        Err(std::io::Error::other(e.to_string())),
                        (None, after, true),
                    )),
                    Ok(page) => {
                        let mut out = header.unwrap_or_default();
                        for r in &page {
                            out.push_str(&export::line(r, format));
                        }
                        let last = page.last().map(|r| (r.writer.clone(), r.seq));
                        let finished = (page.len() as i64) < PAGE;
                        if out.is_empty() && finished {
                            return None;
                        }
                        Some((Ok(Bytes::from(out)), (None, last.or(after), finished)))
                    }
                }
            }
        },
    )
}

/// `since`/`until`: RFC 3339 (`2026-11-23T00:00:00Z`) or Unix milliseconds.
fn time_param(uri: &http::Uri, name: &str) -> Result<Option<Millis>, ApiError> {
    match query_param(uri, name) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => crate::parse_time(&v).map(Some).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_time",
                format!("{name} must be RFC 3339 (2026-11-23T00:00:00Z) or Unix milliseconds"),
            )
        }),
    }
}
