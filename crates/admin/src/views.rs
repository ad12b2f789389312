//! Read-only views the DPO console and auditors use beside the register: consents by purpose
//! with their daily trend, and the flows discovery found.

use std::collections::BTreeMap;

use http::{Method, Request, Response, StatusCode};
use serde_json::json;

use super::Admin;
use pdgate_http::respond;
use pdgate_http::{ApiError, Body};
use pdgate_store::Oversight;

/// `GET /admin/v1/consents?days=N` (1–366, default 30): per purpose, consent records granted,
/// withdrawn and objected per UTC day, zero days included so a chart needs no gap logic.
pub(super) async fn consents<B>(
    admin: &Admin,
    req: &Request<B>,
) -> Result<Response<Body>, ApiError> {
    let days = match respond::query_param(req.uri(), "days") {
        None => 30,
        Some(d) => d
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=366).contains(d))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_days",
                    "days must be a whole number from 1 to 366",
                )
            })?,
    };
    // Days of the operator's calendar (`[legal] timezone`), today the last.
    let zone = admin.calendar.zone();
    let today = zone.day_of(pdgate_core::now_millis());
    let first = today - time::Duration::days(days - 1);
    let rows = admin.store.consent_trend(zone.start_of(first)).await?;
    let mut by: BTreeMap<(&str, time::Date), [i64; 3]> = BTreeMap::new();
    for r in &rows {
        let slot = match r.state.as_str() {
            "granted" => 0,
            "withdrawn" => 1,
            _ => 2,
        };
        by.entry((r.purpose.as_str(), zone.day_of(r.slot)))
            .or_default()[slot] += r.n;
    }
    let dates: Vec<time::Date> = (0..days).map(|i| first + time::Duration::days(i)).collect();
    let purposes: Vec<_> = admin
        .policy
        .purposes
        .iter()
        .map(|p| {
            let id = p.def.id.as_str();
            let daily: Vec<_> = dates
                .iter()
                .map(|&d| {
                    let [g, w, o] = by.get(&(id, d)).copied().unwrap_or_default();
                    json!({"date": d.to_string(), "granted": g, "withdrawn": w, "objected": o})
                })
                .collect();
            let total = |k: &str| {
                daily
                    .iter()
                    .map(|d| d[k].as_i64().unwrap_or(0))
                    .sum::<i64>()
            };
            json!({
                "purpose": id,
                "legal_basis": p.def.legal_basis.as_str(),
                "granted": total("granted"),
                "withdrawn": total("withdrawn"),
                "objected": total("objected"),
                "daily": daily,
            })
        })
        .collect();
    Ok(respond::json(
        StatusCode::OK,
        &json!({"days": days, "purposes": purposes}),
    ))
}

/// `GET /admin/v1/discovery`: undeclared flows found by discovery, most recent first.
pub(super) async fn discovery(admin: &Admin) -> Result<Response<Body>, ApiError> {
    let flows = admin.store.flows(1000).await?;
    let items: Vec<_> = flows
        .iter()
        .map(|f| {
            let mut v = pdgate_app::discovery::flow_json(f);
            let method = f.method.parse().unwrap_or(Method::POST);
            v["status"] = json!(match admin.policy.match_route(&method, &f.path) {
                Some(r) if r.is_blocked() => "blocked",
                Some(r) if !r.fields.is_empty() => "declared",
                _ => "undeclared",
            });
            v
        })
        .collect();
    Ok(respond::json(
        StatusCode::OK,
        &json!({"enabled": admin.policy.discovery, "items": items}),
    ))
}
