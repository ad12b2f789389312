//! `/admin/v1/sweeps…`: the retention sweeps and their destruction acts, for DPOs and auditors.
//! A big sweep writes thousands of acts (one per slice of subjects), so they come in pages with a
//! cursor, each act whole with its log extract.

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::value::RawValue;
use serde_json::Value;

use super::Admin;
use crate::proxy::respond;
use crate::proxy::{ApiError, Body};
use crate::store::Rights;

/// Acts per page unless `limit` asks for fewer (or more, up to [`MAX_ACTS`]).
const DEFAULT_ACTS: i64 = 20;
const MAX_ACTS: i64 = 200;
/// Sweeps listed.
const SWEEPS: i64 = 100;

#[derive(serde::Serialize)]
struct ActsPage<'a> {
    sweep_id: &'a str,
    acts: Vec<Box<RawValue>>,
    /// The `after` of the next page; `null` on the last.
    next: Option<String>,
}

/// Routes `rest` (the path after `/admin/v1/sweeps`).
pub async fn handle(
    admin: &Admin,
    req: Request<Incoming>,
    rest: &str,
) -> Result<Response<Body>, ApiError> {
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (req.method(), segments.as_slice()) {
        (&Method::GET, []) => {
            let sweeps = admin.store.sweeps(None, SWEEPS).await?;
            Ok(respond::json(
                StatusCode::OK,
                &serde_json::json!({"sweeps": sweeps.iter().map(sweep_json).collect::<Vec<_>>()}),
            ))
        }
        (&Method::GET, [id, "acts"]) => {
            let limit = page_limit(respond::query_param(req.uri(), "limit").as_deref())?;
            let after = respond::query_param(req.uri(), "after");
            // One more than asked: whether a next page exists.
            let mut rows = admin
                .store
                .acts_of_sweep(id, after.as_deref(), limit + 1)
                .await?;
            let next = cut_page(&mut rows, limit);
            if rows.is_empty() && after.is_none() && !sweep_known(admin, id).await? {
                return Err(ApiError::not_found("sweep_not_found", "no such sweep"));
            }
            // The acts go out as stored, without being parsed and printed again.
            let acts = rows
                .into_iter()
                .map(|(_, act)| RawValue::from_string(act))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| {
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "act_unreadable",
                        "a stored destruction act is not JSON",
                    )
                })?;
            Ok(respond::json(
                StatusCode::OK,
                &ActsPage {
                    sweep_id: id,
                    acts,
                    next,
                },
            ))
        }
        (_, [] | [_, "acts"]) => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::not_found("not_found", "no such admin endpoint")),
    }
}

/// A sweep with no acts yet may be finished (it erased nothing) or still running (its row is
/// written at the end): unknown only if neither.
async fn sweep_known(admin: &Admin, id: &str) -> Result<bool, ApiError> {
    Ok(!admin.store.sweeps(Some(id), 1).await?.is_empty())
}

/// Cuts `rows` (read with one more than `limit`) to `limit`; the cursor of the next page, if
/// there is one: the last id kept.
fn cut_page(rows: &mut Vec<(String, String)>, limit: i64) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(0);
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(|(id, _)| id.clone())
}

fn sweep_json(s: &crate::store::rights::SweepRow) -> Value {
    serde_json::json!({
        "id": s.id,
        "started_at": crate::rfc3339(s.started_at),
        "finished_at": crate::rfc3339(s.finished_at),
        "subjects_erased": s.subjects_erased,
        "values_erased": s.values_erased,
        "subjects_restricted": s.subjects_restricted,
        "acts_expired": s.acts_expired,
        "acts": format!("/admin/v1/sweeps/{}/acts", s.id),
    })
}

/// `limit`: 1 to [`MAX_ACTS`], [`DEFAULT_ACTS`] when absent.
fn page_limit(raw: Option<&str>) -> Result<i64, ApiError> {
    match raw {
        None => Ok(DEFAULT_ACTS),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_ACTS).contains(n))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {MAX_ACTS}"),
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_with_more_behind_it_names_its_last_act() {
        let rows = |n: usize| -> Vec<(String, String)> {
            (0..n).map(|i| (format!("act_{i}"), "{}".into())).collect()
        };
        let mut full = rows(3);
        assert_eq!(cut_page(&mut full, 2).as_deref(), Some("act_1"));
        assert_eq!(full.len(), 2);
        let mut last = rows(2);
        assert_eq!(cut_page(&mut last, 2), None);
        assert_eq!(last.len(), 2);
        assert_eq!(cut_page(&mut Vec::new(), 2), None);
    }

    #[test]
    fn page_limits_are_bounded() {
        assert_eq!(page_limit(None).unwrap(), DEFAULT_ACTS);
        assert_eq!(page_limit(Some("5")).unwrap(), 5);
        assert_eq!(page_limit(Some("200")).unwrap(), MAX_ACTS);
        for bad in ["0", "201", "-1", "x", ""] {
            assert!(page_limit(Some(bad)).is_err(), "{bad}");
        }
    }
}
