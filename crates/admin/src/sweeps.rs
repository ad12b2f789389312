//! `/admin/v1/sweeps…`: the retention sweeps and their destruction acts, for DPOs and auditors.
//! A big sweep writes thousands of acts (one per slice of subjects), and the sweeper runs every
//! few minutes, so both come in pages with a cursor; each act whole with its log extract.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::value::RawValue;
use serde_json::Value;

use super::Admin;
use pdgate_http::respond;
use pdgate_http::{ApiError, Body};
use pdgate_store::Rights;

/// Acts per page unless `limit` asks for fewer (or more, up to [`MAX_ACTS`]).
const DEFAULT_ACTS: i64 = 20;
const MAX_ACTS: i64 = 200;
/// Sweeps per page unless `limit` asks otherwise (up to [`MAX_SWEEPS`]).
const DEFAULT_SWEEPS: i64 = 100;
const MAX_SWEEPS: i64 = 500;

#[derive(serde::Serialize)]
struct ActsPage<'a> {
    sweep_id: &'a str,
    acts: Vec<Box<RawValue>>,
    /// The `after` of the next page; `null` on the last.
    next: Option<String>,
}

/// The operations on sweeps (the route table in `routes.rs` maps method and path to them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    List,
    Acts,
    /// The destruction clocks withdrawals started.
    Withdrawals,
}

/// Runs `op` on `/admin/v1/sweeps` (`id` is the path's id segment, empty when it has none).
pub(super) async fn handle(
    admin: &Admin,
    req: Request<Incoming>,
    op: Op,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    match op {
        Op::Withdrawals => {
            let now = pdgate_core::now_millis();
            let clocks = pdgate_app::retention::clocks(&admin.store, &admin.policy, now).await?;
            let zone = admin.calendar.zone();
            let clocks: Vec<Value> = clocks
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "subject": c.subject,
                        "purpose": c.purpose,
                        "record": c.record,
                        "ended_at": pdgate_core::rfc3339(c.ended_at),
                        "due_at": pdgate_core::rfc3339(c.due_at),
                        "due_local": zone.readable(c.due_at),
                        "values_left": c.values_left,
                        "state": c.state,
                    })
                })
                .collect();
            Ok(respond::json(
                StatusCode::OK,
                &serde_json::json!({"law": "152-FZ Art. 21(5)", "within_days": 30, "clocks": clocks}),
            ))
        }
        Op::List => {
            let (limit, after) = page(&req, DEFAULT_SWEEPS, MAX_SWEEPS)?;
            let mut sweeps = admin
                .store
                .sweeps(None, after.as_deref(), limit + 1, false)
                .await?;
            let next = cut_page(&mut sweeps, limit, |s| &s.id);
            Ok(respond::json(
                StatusCode::OK,
                &serde_json::json!({
                    "sweeps": sweeps.iter().map(sweep_json).collect::<Vec<_>>(),
                    "next": next,
                }),
            ))
        }
        Op::Acts => {
            let (limit, after) = page(&req, DEFAULT_ACTS, MAX_ACTS)?;
            // One more than asked: whether a next page exists.
            let mut rows = admin
                .store
                .acts_of_sweep(id, after.as_deref(), limit + 1)
                .await?;
            let next = cut_page(&mut rows, limit, |(id, _)| id);
            if rows.is_empty() && after.is_none() && !sweep_known(admin, id).await? {
                return Err(ApiError::not_found("sweep_not_found", "no such sweep"));
            }
            if let Some(russian) = html_language(admin, &req)? {
                return acts_page(id, &rows, russian);
            }
            // The acts go out as stored, without being parsed and printed again.
            let acts = rows
                .into_iter()
                .map(|(_, act)| RawValue::from_string(act))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| act_unreadable())?;
            Ok(respond::json(
                StatusCode::OK,
                &ActsPage {
                    sweep_id: id,
                    acts,
                    next,
                },
            ))
        }
    }
}

/// A sweep with no acts (it erased nothing, or has not yet) is known by its row, written when
/// it starts.
async fn sweep_known(admin: &Admin, id: &str) -> Result<bool, ApiError> {
    Ok(!admin
        .store
        .sweeps(Some(id), None, 1, false)
        .await?
        .is_empty())
}

/// Cuts `rows` (read with one more than `limit`) to `limit`; the cursor of the next page, if
/// there is one: the `id` of the last row kept.
fn cut_page<T>(rows: &mut Vec<T>, limit: i64, id: impl Fn(&T) -> &String) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(0);
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(|r| id(r).clone())
}

fn sweep_json(s: &pdgate_store::rights::SweepRow) -> Value {
    use pdgate_store::rights::SweepStatus;
    serde_json::json!({
        "id": s.id,
        "started_at": pdgate_core::rfc3339(s.started_at),
        "status": s.status,
        // A running or interrupted sweep has not finished: its row says when it last wrote.
        "finished_at": (s.status == SweepStatus::Finished).then(|| pdgate_core::rfc3339(s.finished_at)),
        "updated_at": pdgate_core::rfc3339(s.finished_at),
        "subjects_erased": s.subjects_erased,
        "values_erased": s.values_erased,
        "subjects_restricted": s.subjects_restricted,
        "acts_expired": s.acts_expired,
        "acts": format!("/admin/v1/sweeps/{}/acts", s.id),
    })
}

/// The page a request asks for: its `limit` (see [`page_limit`]) and the `after` cursor.
/// `format=html`: the language the acts are printed in (`lang=ru|en`; Russian when the policy
/// declares 152-FZ, the state language for Roskomnadzor-facing documents); `None` for JSON.
fn html_language<B>(admin: &Admin, req: &Request<B>) -> Result<Option<bool>, ApiError> {
    match respond::query_param(req.uri(), "format").as_deref() {
        None | Some("json") => return Ok(None),
        Some("html") => {}
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_format",
                "format must be json or html",
            ))
        }
    }
    match respond::query_param(req.uri(), "lang").as_deref() {
        None => Ok(Some(
            admin.policy.has_regime(pdgate_core::policy::Regime::Fz152),
        )),
        Some("ru") => Ok(Some(true)),
        Some("en") => Ok(Some(false)),
        Some(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_lang",
            "lang must be ru or en",
        )),
    }
}

fn act_unreadable() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "act_unreadable",
        "a stored destruction act is not JSON",
    )
}

/// One page of a sweep's acts as a printable document.
fn acts_page(
    sweep: &str,
    rows: &[(String, String)],
    russian: bool,
) -> Result<Response<Body>, ApiError> {
    let acts = rows
        .iter()
        .map(|(_, a)| serde_json::from_str::<Value>(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| act_unreadable())?;
    let title = if russian {
        format!("Акты об уничтожении персональных данных: {sweep}")
    } else {
        format!("Destruction acts: {sweep}")
    };
    let page = pdgate_core::requests::report::acts_html(&title, &acts, russian);
    Ok(respond::document("text/html; charset=utf-8", page, None))
}

fn page<B>(req: &Request<B>, default: i64, max: i64) -> Result<(i64, Option<String>), ApiError> {
    let limit = page_limit(
        respond::query_param(req.uri(), "limit").as_deref(),
        default,
        max,
    )?;
    Ok((limit, respond::query_param(req.uri(), "after")))
}

/// `limit`: 1 to `max`, `default` when absent.
fn page_limit(raw: Option<&str>, default: i64, max: i64) -> Result<i64, ApiError> {
    match raw {
        None => Ok(default),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {max}"),
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
        fn id((id, _): &(String, String)) -> &String {
            id
        }
        let mut full = rows(3);
        assert_eq!(cut_page(&mut full, 2, id).as_deref(), Some("act_1"));
        assert_eq!(full.len(), 2);
        let mut last = rows(2);
        assert_eq!(cut_page(&mut last, 2, id), None);
        assert_eq!(last.len(), 2);
        assert_eq!(cut_page(&mut Vec::new(), 2, id), None);
    }

    #[test]
    fn page_limits_are_bounded() {
        let acts = |raw| page_limit(raw, DEFAULT_ACTS, MAX_ACTS);
        assert_eq!(acts(None).unwrap(), DEFAULT_ACTS);
        assert_eq!(acts(Some("5")).unwrap(), 5);
        assert_eq!(acts(Some("200")).unwrap(), MAX_ACTS);
        for bad in ["0", "201", "-1", "x", ""] {
            assert!(acts(Some(bad)).is_err(), "{bad}");
        }
    }
}
