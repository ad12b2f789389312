//! End-to-end tests of issue 5: the processing-activity register over the admin API and the CLI,
//! breach clocks and notices, and cross-border control — the real binary over real sockets, on
//! SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use pdgate_testkit::{authed, post, token, Db, Gateway, Opts, Upstream};
use serde_json::{json, Value};

const JSON: &str = "application/json";

struct Env {
    up: Upstream,
    gw: Gateway,
    dpo: String,
}

/// A gateway on the example policies with HS256 admin tokens; `edit` changes the policies.
async fn start(db: Db, edit: fn(&str, &str) -> String) -> Option<Env> {
    start_with(db, edit, "[transfers]\nrefresh_s = 1\n").await
}

async fn start_with(db: Db, edit: fn(&str, &str) -> String, extra: &str) -> Option<Env> {
    let up = Upstream::start(Duration::ZERO).await;
    let mut opts = Opts::new(db).with_admin_tokens();
    opts.extra_config = extra.to_owned();
    opts.policy_edit = Box::new(edit);
    let gw = Gateway::start(opts, &up.url()).await?;
    let dpo = token(&gw, "dpo", None);
    Some(Env { up, gw, dpo })
}

fn unchanged(_: &str, t: &str) -> String {
    t.to_owned()
}

async fn checkout(env: &Env, email: &str) -> pdgate_testkit::Resp {
    let body = json!({
        "email": email, "phone": "+7 916 555-07-07", "name": "Павел", "address": "Тверь",
        "card_last4": "4276", "items": [], "total": 10, "subscribe": "on"
    });
    post(&env.gw.url("/api/checkout"), JSON, body.to_string()).await
}

fn item<'a>(doc: &'a Value, key: &str) -> &'a Value {
    doc["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["items"].as_array().unwrap())
        .find(|i| i["key"] == key)
        .map(|i| &i["value"])
        .unwrap_or_else(|| panic!("no item {key} in {doc}"))
}

/// The register from a running gateway after three checkouts, in five steps: the 152-FZ view's
/// items and live figures, the consent trend by day, the other formats, who may read it, and the
/// CLI's export of the same document.
async fn register_reflects_the_running_gateway(db: Db) {
    // The day the gateway started and the day the checks end: equal unless the test crosses
    // midnight (Moscow time, the operator's legal day), when "today" may be either.
    let first_day = legal_today();
    let Some(env) = start(db, unchanged).await else {
        return;
    };
    for i in 0..3 {
        let r = checkout(&env, &format!("buyer{i}@mail.ru")).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let refs = fz152_items_and_live_figures(&env, db, &first_day).await;
    consent_trend_by_day(&env, &first_day).await;
    register_formats(&env).await;
    who_may_read_the_register(&env).await;
    the_cli_exports_the_same_register(&env, &refs);
    drop(env.up);
}

/// Today on the operator's calendar (the default `[legal] timezone`, Europe/Moscow).
fn legal_today() -> String {
    pdgate::legal_day::LegalZone::moscow().date_string(pdgate::now_millis())
}

fn register_url(env: &Env, q: &str) -> String {
    env.gw.admin_url(&format!("/admin/v1/register{q}"))
}

/// Returns the refs of the view's items.
async fn fz152_items_and_live_figures(env: &Env, db: Db, first_day: &str) -> Vec<String> {
    let url = |q: &str| register_url(env, q);
    let r = authed("GET", &url("?view=fz152&format=json"), &env.dpo, "").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let doc = r.json();
    let refs: Vec<String> = doc["sections"][0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["ref"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(refs.len(), 13, "{refs:?}");
    assert_eq!(item(&doc, "subjects"), &json!(3));
    let marketing = item(&doc, "purposes")
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "marketing")
        .unwrap()
        .clone();
    assert_eq!(marketing["figures"]["consents_granted"], 3);
    assert_eq!(marketing["figures"]["subjects"], 3);
    let contact = item(&doc, "values_by_category")
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["category"] == "contact")
        .unwrap()
        .clone();
    assert_eq!(contact["values"], 6, "email and phone of three buyers");
    let start_date = item(&doc, "start_date")["date"]
        .as_str()
        .unwrap()
        .to_owned();
    let last_day = legal_today();
    assert!(
        start_date == first_day || start_date == last_day,
        "the first audit entry: {start_date}"
    );
    let security = item(&doc, "security").to_string();
    assert!(
        security.contains("version 1") && security.contains("plain HTTP"),
        "{security}"
    );
    assert_eq!(
        item(&doc, "database_location")["database"]
            .as_str()
            .unwrap()
            .split(' ')
            .next(),
        Some(if db == Db::Sqlite {
            "SQLite"
        } else {
            "PostgreSQL"
        })
    );

    refs
}

async fn consent_trend_by_day(env: &Env, first_day: &str) {
    let trend = authed(
        "GET",
        &env.gw.admin_url("/admin/v1/consents?days=7"),
        &env.dpo,
        "",
    )
    .await
    .json();
    let m = trend["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["purpose"] == "marketing")
        .unwrap()
        .clone();
    assert_eq!(
        (m["granted"].as_i64(), m["daily"].as_array().unwrap().len()),
        (Some(3), 7)
    );
    let same_day = first_day == legal_today();
    let last_two =
        m["daily"][5]["granted"].as_i64().unwrap() + m["daily"][6]["granted"].as_i64().unwrap();
    match same_day {
        true => assert_eq!(m["daily"][6]["granted"], 3, "today is the last day"),
        false => assert_eq!(last_two, 3, "yesterday and today"),
    }
    let bad = authed(
        "GET",
        &env.gw.admin_url("/admin/v1/consents?days=0"),
        &env.dpo,
        "",
    )
    .await;
    assert_eq!(bad.code(), "invalid_days");
}

async fn register_formats(env: &Env) {
    let url = |q: &str| register_url(env, q);
    let csv = authed("GET", &url("?view=gdpr&format=csv"), &env.dpo, "").await;
    assert_eq!(csv.status, 200);
    assert_eq!(
        csv.header("content-type").as_deref(),
        Some("text/csv; charset=utf-8")
    );
    assert!(csv
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment; filename=\"register-gdpr-"));
    let text = String::from_utf8(csv.body.to_vec()).unwrap();
    for r in [
        "30(1)(a)", "30(1)(b)", "30(1)(c)", "30(1)(d)", "30(1)(e)", "30(1)(f)", "30(1)(g)",
    ] {
        assert!(text.contains(&format!("art30,{r},")), "{r} in {text}");
    }
    let html = authed("GET", &url("?view=fz152&format=html"), &env.dpo, "").await;
    assert_eq!(
        html.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert!(String::from_utf8_lossy(&html.body).contains("22(3)(10.1)"));
    let md = authed("GET", &url("?view=gdpr&format=md"), &env.dpo, "").await;
    assert!(String::from_utf8_lossy(&md.body).contains("### 30(1)(g) — "));
    // Roskomnadzor's notification form, in Russian, field by field; only of the 152-FZ view.
    let form = authed("GET", &url("?view=fz152&format=form"), &env.dpo, "").await;
    let page = String::from_utf8_lossy(&form.body);
    assert_eq!(form.status, 200);
    for cell in [
        "<th>ИНН</th><td>7707083893</td>",
        "<h2>Цель обработки 3: Answer questions sent through the contact form</h2>",
        "<th>Город</th><td>Moscow</td>",
    ] {
        assert!(page.contains(cell), "{cell} in {page}");
    }
    let bad = authed("GET", &url("?view=gdpr&format=form"), &env.dpo, "").await;
    assert_eq!(
        (bad.status.as_u16(), bad.code()),
        (400, "invalid_format".to_owned())
    );
}

/// Auditors may read it; services may not; bad parameters are named.
async fn who_may_read_the_register(env: &Env) {
    let url = |q: &str| register_url(env, q);
    let auditor = token(&env.gw, "auditor", None);
    assert_eq!(authed("GET", &url(""), &auditor, "").await.status, 200);
    let service = token(&env.gw, "service", Some("crm"));
    assert_eq!(authed("GET", &url(""), &service, "").await.status, 403);
    assert_eq!(pdgate_testkit::get(&url("")).await.status, 401);
    let bad = authed("GET", &url("?view=ccpa"), &env.dpo, "").await;
    assert_eq!(
        (bad.status.as_u16(), bad.code()),
        (400, "invalid_view".to_owned())
    );
    let bad = authed("GET", &url("?format=pdf"), &env.dpo, "").await;
    assert_eq!(
        (bad.status.as_u16(), bad.code()),
        (400, "invalid_format".to_owned())
    );
}

/// The CLI writes the same document from the same database.
fn the_cli_exports_the_same_register(env: &Env, refs: &[String]) {
    let out_file = env.gw.dir.join("register.md");
    pdgate_testkit::cli(
        &env.gw,
        &["register", "export"],
        &[
            "--view",
            "fz152",
            "--format",
            "md",
            "--out",
            out_file.to_str().unwrap(),
        ],
    );
    let md = std::fs::read_to_string(&out_file).unwrap();
    for r in refs {
        assert!(md.contains(&format!("### {r} — ")), "{r} in the CLI export");
    }
    let out = pdgate_testkit::cli(&env.gw, &["register", "export"], &["--view", "fz152"]);
    let cli: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(item(&cli, "subjects"), &json!(3));
}

async fn audit_kinds(env: &Env) -> Vec<Value> {
    let r = authed(
        "GET",
        &env.gw.admin_url("/admin/v1/audit?format=jsonl"),
        &env.dpo,
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    String::from_utf8(r.body.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect()
}

fn entries<'a>(log: &'a [Value], kind: &str) -> Vec<&'a Value> {
    log.iter().filter(|l| l["kind"] == kind).collect()
}

/// A breach from opening to closing on one gateway: each step below runs on what the ones before
/// it left.
async fn breaches_have_clocks_estimates_notices_and_history(db: Db) {
    let Some(env) = start(db, unchanged).await else {
        return;
    };
    for i in 0..3 {
        assert_eq!(checkout(&env, &format!("b{i}@mail.ru")).await.status, 200);
    }
    let now = pdgate::now_millis();
    let id = a_breach_opens_with_its_estimate_and_clocks(&env, now).await;
    what_is_outside_the_window_is_not_counted(&env, now).await;
    bad_input_stores_no_breach(&env).await;
    gossopka_and_the_subjects_are_told_apart(&env, &id).await;
    notices_and_states_in_order(&env, &id).await;
    opening_and_moves_are_audited(&env).await;
    drop(env.up);
}

/// Opened on the vault's estimate (the three buyers' e-mail and phone), with the 24 h and 72 h
/// clocks from detection. The breach's id.
async fn a_breach_opens_with_its_estimate_and_clocks(env: &Env, now: pdgate::Millis) -> String {
    let url = |p: &str| env.gw.admin_url(&format!("/admin/v1/breaches{p}"));
    let detected = now - 3_600_000;
    let r = authed(
        "POST",
        &url(""),
        &env.dpo,
        json!({
            "detected_at": pdgate::rfc3339(detected),
            "categories": ["contact"],
            "window": {"from": now - 86_400_000, "until": now + 60_000},
            "description": "CRM export on a public share",
            "causes": "misconfigured bucket",
        })
        .to_string(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let b = r.json();
    let id = b["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.header("location"),
        Some(format!("/admin/v1/breaches/{id}"))
    );
    assert_eq!(b["state"], "open");
    assert_eq!(
        b["estimate"],
        json!({"subjects": 3, "records": 6}),
        "email and phone of three buyers"
    );
    let clocks: Vec<(&str, &str)> = b["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["due_at"].as_str().unwrap()))
        .collect();
    let due = |h: i64| pdgate::rfc3339(detected + h * 3_600_000);
    assert_eq!(
        clocks,
        [
            ("fz152_24h", due(24).as_str()),
            ("gossopka_24h", due(24).as_str()),
            ("fz152_72h", due(72).as_str()),
            ("gossopka_72h", due(72).as_str()),
            ("gdpr_72h", due(72).as_str())
        ],
        "a computer incident unless said otherwise: GosSOPKA's clocks too"
    );
    let left = b["clocks"][0]["remaining_s"].as_i64().unwrap();
    assert!((82_700..=82_800).contains(&left), "about 23 h left: {left}");
    id
}

/// The GosSOPKA notice (152-FZ Art. 19(12)) and, once the breach is assessed as high risk, the
/// communication to the subjects (GDPR Art. 34): drafted, recorded as sent, audited.
async fn gossopka_and_the_subjects_are_told_apart(env: &Env, id: &str) {
    let url = |p: &str| env.gw.admin_url(&format!("/admin/v1/breaches/{id}{p}"));
    let n = authed(
        "GET",
        &url("/notice?regime=gossopka&stage=24h"),
        &env.dpo,
        "",
    )
    .await
    .json();
    assert_eq!(n["addressee"], "НКЦКИ (ГосСОПКА)");
    assert_eq!(n["missing"], json!(["consequences", "measures"]));
    let sent_url = url("/sent");
    let sent = |body: Value| authed("POST", &sent_url, &env.dpo, body.to_string());
    let r = sent(json!({"notice": "gossopka_24h", "reference": "NCCCI-77"})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let b = r.json();
    let met = b["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "gossopka_24h")
        .unwrap()
        .clone();
    assert!(met["met_at"].is_string() && met["late"] == false, "{met}");
    let again = sent(json!({"notice": "gossopka_24h"})).await;
    assert_eq!(
        (again.status.as_u16(), again.code()),
        (409, "already_recorded".to_owned())
    );
    assert_eq!(b["subjects_notice"]["required"], false);
    // A breach opened as high risk: the subjects are to be told, without undue delay.
    let r = authed(
        "POST",
        &env.gw.admin_url("/admin/v1/breaches"),
        &env.dpo,
        json!({"categories": ["contact"], "description": "stolen laptop", "high_risk": true, "computer_incident": false, "measures": "disk wiped remotely"}).to_string(),
    )
    .await
    .json();
    assert_eq!(r["subjects_notice"]["pending"], true);
    assert!(
        !r["clocks"].to_string().contains("gossopka"),
        "not a computer incident"
    );
    let other = r["id"].as_str().unwrap();
    let url2 = |p: &str| env.gw.admin_url(&format!("/admin/v1/breaches/{other}{p}"));
    let d = authed(
        "GET",
        &url2("/notice?regime=gdpr&stage=subjects&format=html"),
        &env.dpo,
        "",
    )
    .await;
    let page = String::from_utf8_lossy(&d.body);
    assert!(
        page.contains("What happened") && page.contains("without undue delay"),
        "{page}"
    );
    let r = authed(
        "POST",
        &url2("/sent"),
        &env.dpo,
        json!({"notice": "subjects", "channel": "email", "recipients": 3}).to_string(),
    )
    .await;
    assert_eq!(r.json()["subjects_notice"]["pending"], false);
    let bad = sent(json!({"notice": "pigeon"})).await;
    assert_eq!(
        (bad.status.as_u16(), bad.code()),
        (400, "invalid_notice".to_owned())
    );
    let log = audit_kinds(env).await;
    let notes: Vec<(String, bool)> = entries(&log, "breach_notice_sent")
        .iter()
        .map(|e| {
            (
                e["entry"]["event"]["notice"].as_str().unwrap().to_owned(),
                e["entry"]["event"]["late"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        notes,
        [
            ("gossopka_24h".to_owned(), false),
            ("subjects".to_owned(), false)
        ]
    );
}

/// Categories outside the window or others are not counted.
async fn what_is_outside_the_window_is_not_counted(env: &Env, now: pdgate::Millis) {
    let url = |p: &str| env.gw.admin_url(&format!("/admin/v1/breaches{p}"));
    let r = authed(
        "POST",
        &url(""),
        &env.dpo,
        json!({"categories": ["payment"], "window": {"until": now - 86_400_000}, "description": "old backup"}).to_string(),
    )
    .await;
    assert_eq!(r.json()["estimate"], json!({"subjects": 0, "records": 0}));
}

/// Bad input: a code, nothing stored.
async fn bad_input_stores_no_breach(env: &Env) {
    let url = |p: &str| env.gw.admin_url(&format!("/admin/v1/breaches{p}"));
    for (body, code) in [
        (
            json!({"categories": ["dna"], "description": "x"}),
            "unknown_category",
        ),
        (
            json!({"categories": [], "description": "x"}),
            "categories_required",
        ),
        (json!({"categories": ["contact"]}), "malformed_body"),
        (
            json!({"categories": ["contact"], "description": "x", "colour": "red"}),
            "malformed_body",
        ),
    ] {
        let r = authed("POST", &url(""), &env.dpo, body.to_string()).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, code.to_owned()),
            "{body}"
        );
    }
    assert_eq!(
        authed("GET", &url(""), &env.dpo, "").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

/// The 24 h notice draft, then notified, then the 72 h follow-up with the investigation; the
/// history names who moved it.
async fn notices_and_states_in_order(env: &Env, id: &str) {
    let url = |p: &str| env.gw.admin_url(&format!("/admin/v1/breaches{p}"));
    let n = authed(
        "GET",
        &url(&format!("/{id}/notice?regime=fz152&stage=24h")),
        &env.dpo,
        "",
    )
    .await;
    assert_eq!(n.status, 200);
    let n = n.json();
    assert_eq!(n["missing"], json!(["harm", "measures"]));
    assert_eq!(n["fields"][3]["value"]["estimate"]["subjects_approx"], 3);
    let other = token(&env.gw, "admin", None);
    let r = authed(
        "POST",
        &url(&format!("/{id}/state")),
        &other,
        json!({"state": "notified-24h", "note": "sent via pd.rkn.gov.ru", "reference": "RKN-1"})
            .to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["clocks"][0]["late"], false);
    let back = authed(
        "POST",
        &url(&format!("/{id}/state")),
        &env.dpo,
        json!({"state": "open"}).to_string(),
    )
    .await;
    assert_eq!(
        (back.status.as_u16(), back.code()),
        (409, "invalid_transition".to_owned())
    );
    let r = authed(
        "POST",
        &url(&format!("/{id}/state")),
        &env.dpo,
        json!({"state": "notified-72h", "investigation": "bucket policy reviewed", "responsible_persons": "none identified"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200);
    let f = authed(
        "GET",
        &url(&format!("/{id}/notice?regime=fz152&stage=72h")),
        &env.dpo,
        "",
    )
    .await
    .json();
    assert_eq!(f["missing"], json!([]));
    let g = authed(
        "GET",
        &url(&format!("/{id}/notice?regime=gdpr&format=html")),
        &env.dpo,
        "",
    )
    .await;
    assert_eq!(
        g.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert!(String::from_utf8_lossy(&g.body).contains("Art. 33(3)(a)"));
    let bad = authed(
        "GET",
        &url(&format!("/{id}/notice?regime=fz152")),
        &env.dpo,
        "",
    )
    .await;
    assert_eq!(bad.code(), "invalid_stage");
    let closed = authed(
        "POST",
        &url(&format!("/{id}/state")),
        &env.dpo,
        json!({"state": "closed"}).to_string(),
    )
    .await;
    assert_eq!(closed.code(), "note_required");
    let closed = authed(
        "POST",
        &url(&format!("/{id}/state")),
        &env.dpo,
        json!({"state": "closed", "note": "done"}).to_string(),
    )
    .await;
    assert_eq!(closed.status, 200);
    let b = authed("GET", &url(&format!("/{id}")), &env.dpo, "")
        .await
        .json();
    let history: Vec<(&str, &str)> = b["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["state"].as_str().unwrap(), h["by"].as_str().unwrap()))
        .collect();
    assert_eq!(
        history,
        [
            ("open", "dpo"),
            ("notified-24h", "admin"),
            ("notified-72h", "dpo"),
            ("closed", "dpo")
        ]
    );
    assert_eq!(
        authed("GET", &url("/brc_nope"), &env.dpo, "").await.status,
        404
    );
    let auditor = token(&env.gw, "auditor", None);
    assert_eq!(authed("GET", &url(""), &auditor, "").await.status, 403);
}

/// Audited: opening (counts, not the description) and each move.
async fn opening_and_moves_are_audited(env: &Env) {
    let log = audit_kinds(env).await;
    let opened = entries(&log, "breach_opened");
    assert_eq!(opened.len(), 3);
    assert!(
        !opened[0].to_string().contains("public share"),
        "no free text in the audit log"
    );
    let moves: Vec<&str> = entries(&log, "breach_state")
        .iter()
        .map(|e| e["entry"]["event"]["to"].as_str().unwrap())
        .collect();
    assert_eq!(moves, ["notified-24h", "notified-72h", "closed"]);
}

/// The CRM runs in the US (not adequate), the detokenizing service in Germany (adequate). Under
/// 152-FZ Art. 18(5) the CRM may then receive tokens and envelopes only: the routes' readable
/// personal fields are tokenized or encrypted instead, and the policies state that what no route
/// declares carries nothing personal.
fn abroad(name: &str, t: &str) -> String {
    if name == "routes.yaml" {
        return t
            .replace(
                "card_last4: {category: payment, action: pass}",
                "card_last4: {category: payment, action: tokenize}",
            )
            .replace(
                "name:  {category: identity, action: mask}",
                "name:  {category: identity, action: encrypt}",
            )
            .replace(
                "phone:      {category: contact, action: mask, kind: phone}",
                "phone:      {category: contact, action: tokenize, kind: phone}",
            );
    }
    if name != "shop.yaml" {
        return t.to_owned();
    }
    format!("{t}allow_unmatched_abroad: true\n")
        .replace(
            "erasure_webhook: \"/privacy/erase\", safeguards: scc}",
            "erasure_webhook: \"/privacy/erase\", safeguards: scc, country: US}",
        )
        .replace(
            "{id: crm, purposes: [order_fulfilment, marketing, enquiries], safeguards: scc}",
            "{id: crm, purposes: [order_fulfilment, marketing, enquiries], country: DE}",
        )
}

async fn notify(env: &Env, country: &str, purpose: &str, filed_at: i64) -> pdgate_testkit::Resp {
    authed(
        "POST",
        &env.gw.admin_url("/admin/v1/transfers"),
        &env.dpo,
        json!({"country": country, "purpose": purpose, "filed_at": pdgate::rfc3339(filed_at), "reference": "RKN-77"}).to_string(),
    )
    .await
}

/// Cross-border transfers (152-FZ Art. 12) in five steps: a route abroad waits for the notice and
/// its 10 working days, detokenize to an adequate country needs the notice only, withdrawing stops
/// the route again, bad notices are named, and the register, audit log and metrics show it all.
async fn cross_border_needs_a_notification_and_the_wait(db: Db) {
    // The shipped calendar covers only the years whose decrees it holds, and a wait that runs
    // past them is not over; so that the test expects the same in every year, its calendar says
    // it covers the years around today (the shipped days off, weekends elsewhere).
    let now = pdgate::now_millis();
    let year: i32 = pdgate::rfc3339(now)[..4].parse().unwrap();
    let text = format!(
        "{}\ncovers {} {year} {}\n",
        pdgate::requests::calendar::RUSSIA,
        year - 1,
        year + 1
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("calendar.txt");
    std::fs::write(&file, &text).unwrap();
    let extra = format!(
        "[transfers]\nrefresh_s = 1\n[requests]\ncalendar_file = \"{}\"\n",
        file.display()
    );
    let Some(env) = start_with(db, abroad, &extra).await else {
        return;
    };
    let cal = pdgate::requests::calendar::Calendar::parse(&text).unwrap();
    let email_token = refused_until_notified_and_waited(&env, now, &cal).await;
    detokenize_abroad_needs_the_notice(&env, &email_token, now).await;
    withdrawing_stops_the_route(&env).await;
    bad_notifications_are_named(&env, now).await;
    register_audit_and_metrics_show_transfers(&env).await;
}

/// Returns the email token of the checkout that went through once notified and waited.
async fn refused_until_notified_and_waited(
    env: &Env,
    now: i64,
    cal: &pdgate::requests::calendar::Calendar,
) -> String {
    let month_ago = now - 30 * 86_400_000;
    // Nothing recorded: refused with 451, nothing forwarded or stored.
    let r = checkout(env, "abroad@mail.ru").await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (451, "cross_border_not_allowed".to_owned())
    );
    assert!(env.up.requests().is_empty());

    // US is not adequate: filed today it must wait 10 working days.
    let n = notify(env, "US", "order_fulfilment", now).await;
    assert_eq!(n.status, 201, "{}", String::from_utf8_lossy(&n.body));
    let n = n.json();
    let n = &n;
    assert_eq!(
        (n["adequate"].as_bool(), n["active"].as_bool()),
        (Some(false), Some(false))
    );
    // The expectation comes from the same production calendar, not from "about two weeks": ten
    // working days are 12 calendar days from a Sunday, 14 from a weekday, more across holidays.
    // The wait runs from Roskomnadzor's receipt (152-FZ Art. 12): not recorded yet, it is
    // assumed `[transfers] delivery_days` (7) after the filing day.
    use pdgate::transfers::{allowed_from, Adequacy, Receipt};
    let adequacy = Adequacy::shipped();
    let receipt = |received_at| Receipt {
        filed_at: now,
        received_at,
        delivery_days: 7,
    };
    let expected = allowed_from("US", receipt(None), &adequacy, cal);
    assert_eq!(n["allowed_from"], pdgate::rfc3339(expected));
    assert_eq!(n["receipt_assumed"], true);
    assert!(expected > now + 18 * 86_400_000);
    // Recorded as received today, the wait is counted from today.
    let id = n["id"].as_str().unwrap();
    let received_url = env
        .gw
        .admin_url(&format!("/admin/v1/transfers/{id}/received"));
    let r = authed(
        "POST",
        &received_url,
        &env.dpo,
        json!({"received_by_authority_at": pdgate::rfc3339(now)}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = r.json();
    let expected = allowed_from("US", receipt(Some(now)), &adequacy, cal);
    assert_eq!(r["allowed_from"], pdgate::rfc3339(expected));
    assert_eq!(
        (
            r["receipt_assumed"].as_bool(),
            r["received_by_authority_at"].as_str()
        ),
        (Some(false), Some(pdgate::rfc3339(now).as_str()))
    );
    assert!(expected > now + 11 * 86_400_000);
    for (at, why) in [
        (now - 86_400_000, "before filed_at"),
        (now + 86_400_000, "in the future"),
    ] {
        let bad = authed(
            "POST",
            &received_url,
            &env.dpo,
            json!({"received_by_authority_at": pdgate::rfc3339(at)}).to_string(),
        )
        .await;
        assert_eq!(
            (bad.status.as_u16(), bad.code()),
            (400, "invalid_time".to_owned()),
            "{why}"
        );
    }
    assert_eq!(
        notify(env, "us", "marketing", month_ago).await.json()["active"],
        true
    );
    let r = checkout(env, "abroad@mail.ru").await;
    assert_eq!(r.status, 451);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("10 working days"));
    let early = notify(env, "US", "order_fulfilment", month_ago)
        .await
        .json();
    assert_eq!(early["active"], true);
    let r = checkout(env, "abroad@mail.ru").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let got = env.up.requests().pop().unwrap();
    // Abroad goes nothing readable: every personal value of the form is a token or an envelope.
    let body = got.body_str();
    for raw in ["abroad@mail.ru", "555", "Павел", "Тверь", "4276"] {
        assert!(
            !body.contains(raw),
            "{raw} reached the CRM in the US: {body}"
        );
    }
    let email_token = serde_json::from_slice::<Value>(&got.body).unwrap()["email"]
        .as_str()
        .unwrap()
        .to_owned();
    email_token
}

async fn detokenize_abroad_needs_the_notice(env: &Env, email_token: &str, now: i64) {
    // Detokenizing to the service in Germany: refused until notified, then at once (adequate).
    let svc = token(&env.gw, "service", Some("crm"));
    let d = pdgate_testkit::detokenize(&env.gw, &svc, "order_fulfilment", &[email_token]).await;
    assert_eq!(
        (d.status.as_u16(), d.code()),
        (451, "cross_border_not_allowed".to_owned())
    );
    let de = notify(env, "DE", "order_fulfilment", now).await.json();
    assert_eq!(
        (de["adequate"].as_bool(), de["active"].as_bool()),
        (Some(true), Some(true))
    );
    let d = pdgate_testkit::detokenize(&env.gw, &svc, "order_fulfilment", &[email_token]).await;
    assert_eq!(pdgate_testkit::outcomes(&d), ["abroad@mail.ru"]);
}

async fn withdrawing_stops_the_route(env: &Env) {
    // Withdrawing the US notifications for order fulfilment stops the route again.
    let list = authed(
        "GET",
        &env.gw.admin_url("/admin/v1/transfers"),
        &env.dpo,
        "",
    )
    .await
    .json();
    let ids: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["country"] == "US" && n["purpose"] == "order_fulfilment")
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    let dest = list["destinations"].as_array().unwrap();
    assert!(dest
        .iter()
        .any(|d| d["via"] == "route" && d["country"] == "US" && d["allowed"] == true));
    assert!(dest.iter().any(|d| d["via"] == "detokenize"
        && d["purpose"] == "enquiries"
        && d["reason"] == "not_notified"));
    for id in &ids {
        let w = authed(
            "POST",
            &env.gw
                .admin_url(&format!("/admin/v1/transfers/{id}/withdraw")),
            &env.dpo,
            "",
        )
        .await;
        assert_eq!(w.status, 200);
    }
    let again = authed(
        "POST",
        &env.gw
            .admin_url(&format!("/admin/v1/transfers/{}/withdraw", ids[0])),
        &env.dpo,
        "",
    )
    .await;
    assert_eq!(again.code(), "already_withdrawn");
    assert_eq!(checkout(env, "abroad@mail.ru").await.status, 451);
}

async fn bad_notifications_are_named(env: &Env, now: i64) {
    // Bad notifications are named.
    for (body, code) in [
        (
            json!({"country": "USA", "purpose": "marketing", "filed_at": now}),
            "invalid_country",
        ),
        (
            json!({"country": "RU", "purpose": "marketing", "filed_at": now}),
            "not_cross_border",
        ),
        (
            json!({"country": "US", "purpose": "spam", "filed_at": now}),
            "unknown_purpose",
        ),
        (
            json!({"country": "US", "purpose": "marketing", "filed_at": now + 86_400_000}),
            "invalid_time",
        ),
    ] {
        let r = authed(
            "POST",
            &env.gw.admin_url("/admin/v1/transfers"),
            &env.dpo,
            body.to_string(),
        )
        .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, code.to_owned()),
            "{body}"
        );
    }
}

async fn register_audit_and_metrics_show_transfers(env: &Env) {
    // The register shows the transfer; the audit log every refusal and notification.
    let reg = authed(
        "GET",
        &env.gw.admin_url("/admin/v1/register?view=fz152"),
        &env.dpo,
        "",
    )
    .await
    .json();
    assert_eq!(item(&reg, "cross_border")["present"], true);
    let log = audit_kinds(env).await;
    let refused = entries(&log, "transfer_refused");
    let vias: Vec<String> = refused.iter().map(|e| e.to_string()).collect();
    assert_eq!(refused.len(), 4, "{vias:?}");
    assert!(vias.iter().any(|v| v.contains("\"detokenize\"")));
    // Six notifications recorded or withdrawn, one receipt.
    assert_eq!(entries(&log, "transfer_notification").len(), 7);
    let m = pdgate_testkit::get(&env.gw.admin_url("/metrics")).await;
    let text = String::from_utf8(m.body.to_vec()).unwrap();
    assert!(
        text.contains("pdgate_cross_border_refused_total 4"),
        "{text}"
    );
    assert!(!log.iter().any(|l| l.to_string().contains("abroad@mail.ru")));
}

/// Discovery on, and one route the DPO has closed.
fn discovering(name: &str, t: &str) -> String {
    match name {
        "shop.yaml" => format!("{t}\ndiscovery: true\n"),
        _ => format!("{t}\n  - id: legacy_signup\n    match: {{method: POST, prefix: /legacy/}}\n    block: true\n"),
    }
}

async fn discovery_lists_undeclared_flows_without_touching_them(db: Db) {
    let Some(Env { up, gw, dpo }) =
        start_with(db, discovering, "[discovery]\nflush_ms = 100\n").await
    else {
        return;
    };
    let form = "email=anna%40mail.ru&phone=%2B7+916+123-45-67&text=hello";
    for id in [41, 42] {
        let r = post(
            &gw.url(&format!("/users/{id}/feedback")),
            "application/x-www-form-urlencoded",
            form,
        )
        .await;
        assert_eq!(r.status, 200);
    }
    let r = post(&gw.url("/api/search"), JSON, r#"{"q": "red shoes"}"#).await;
    assert_eq!(r.status, 200);
    let blocked = post(
        &gw.url("/legacy/signup"),
        "application/x-www-form-urlencoded",
        form,
    )
    .await;
    assert_eq!(
        (blocked.status.as_u16(), blocked.code()),
        (403, "route_blocked".to_owned())
    );
    let got = up.requests();
    assert_eq!(got.len(), 3, "the blocked route forwarded nothing");
    assert_eq!(got[0].body_str(), form, "forwarded untouched");

    let mut items = Value::Null;
    for _ in 0..50 {
        let r = authed("GET", &gw.admin_url("/admin/v1/discovery"), &dpo, "").await;
        assert_eq!(r.status, 200);
        items = r.json()["items"].clone();
        // Both posts are in (a flush may have come between their scans).
        if items
            .as_array()
            .is_some_and(|a| !a.is_empty() && a[0]["count"] == 2)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let items = items.as_array().unwrap();
    assert_eq!(
        items.len(),
        1,
        "a search without personal data is no finding: {items:?}"
    );
    assert_eq!(
        (
            &items[0]["method"],
            &items[0]["path"],
            &items[0]["kinds"],
            &items[0]["count"]
        ),
        (
            &json!("POST"),
            &json!("/users/{id}/feedback"),
            &json!(["email", "phone"]),
            &json!(2)
        )
    );
    let reg = authed(
        "GET",
        &gw.admin_url("/admin/v1/register?view=gdpr"),
        &dpo,
        "",
    )
    .await
    .json();
    assert_eq!(item(&reg, "flows")[0]["path"], "/users/{id}/feedback");
    let log = std::fs::read_to_string(&gw.log_path).unwrap();
    assert!(!log.contains("anna"), "no values in the logs");
    drop(up);
}

async fn metrics_count_what_happened(db: Db) {
    let Some(env) = start(db, unchanged).await else {
        return;
    };
    let ok = checkout(&env, "m@mail.ru").await;
    assert_eq!(ok.status, 200);
    let refused = post(
        &env.gw.url("/newsletter/subscribe"),
        "application/x-www-form-urlencoded",
        "email=n%40mail.ru",
    )
    .await;
    assert_eq!(refused.status, 422);
    assert_eq!(
        post(&env.gw.url("/elsewhere"), JSON, "{}").await.status,
        200
    );
    let email = serde_json::from_slice::<Value>(&env.up.requests()[0].body).unwrap()["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let svc = token(&env.gw, "service", Some("crm"));
    let d = pdgate_testkit::detokenize(&env.gw, &svc, "order_fulfilment", &[&email, "nope"]).await;
    assert_eq!(d.status, 200);
    let r = authed(
        "POST",
        &env.gw.admin_url("/admin/v1/requests"),
        &env.dpo,
        json!({"type": "access", "subject": {"email": "m@mail.ru"}}).to_string(),
    )
    .await;
    assert_eq!(r.status, 201);
    // Found by the fuzzer: an empty phone number used to panic the handler.
    let r = authed(
        "POST",
        &env.gw.admin_url("/admin/v1/requests"),
        &env.dpo,
        json!({"type": "access", "subject": {"phone": ""}, "regime": "fz152"}).to_string(),
    )
    .await;
    assert!(r.status.is_client_error(), "{}", r.status);

    let m = pdgate_testkit::get(&env.gw.admin_url("/metrics")).await;
    assert_eq!(m.status, 200);
    assert!(m
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = String::from_utf8(m.body.to_vec()).unwrap();
    for line in [
        "pdgate_http_requests_total{route=\"checkout\",outcome=\"forwarded\"} 1",
        "pdgate_http_requests_total{route=\"newsletter\",outcome=\"refused\"} 1",
        "pdgate_http_requests_total{route=\"unmatched\",outcome=\"forwarded\"} 1",
        "pdgate_intake_duration_seconds_count{route=\"checkout\"} 1",
        "pdgate_detokenize_tokens_total{outcome=\"granted\",reason=\"\"} 1",
        "pdgate_subject_requests_open 1",
        "pdgate_subject_requests_overdue 0",
        "pdgate_outbox_backlog 0",
        "pdgate_breaches_open 0",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    assert!(text.contains("pdgate_detokenize_tokens_total{outcome=\"denied\",reason=\""));
    assert!(!text.contains("m@mail.ru"));
}

/// The document lists every endpoint the admin listener serves, and each answers. In four steps:
/// other methods on a documented path are refused with the documented ones in `Allow`, the
/// schemas are there, every documented operation answers with real ids, and the document is valid.
async fn openapi_lists_every_endpoint_and_each_answers(db: Db) {
    let Some(env) = start(db, unchanged).await else {
        return;
    };
    assert_eq!(checkout(&env, "o@mail.ru").await.status, 200);
    let doc = pdgate_testkit::get(&env.gw.admin_url("/admin/openapi.json")).await;
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut listed: Vec<String> = Vec::new();
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            listed.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    // The admin router's table is the only list of routes; from outside, the document and the
    // router agree when every documented operation answers and every other method on a
    // documented path is refused with the documented ones in `Allow`.
    assert_eq!(listed.len(), 35, "{listed:?}");
    other_methods_are_refused_with_allow(&env, &doc).await;
    schemas_are_named(&doc);
    let ids = Ids::create(&env).await;
    for op in &listed {
        each_operation_answers(&env, &ids, op).await;
    }
    the_document_is_valid(&env, &doc);
}

async fn other_methods_are_refused_with_allow(env: &Env, doc: &Value) {
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let mut documented: Vec<String> = ops
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        documented.sort();
        let concrete = path.replace("{id}", "x_1");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if documented.iter().any(|m| m == method) {
                continue;
            }
            let r = authed(method, &env.gw.admin_url(&concrete), &env.dpo, "").await;
            assert_eq!(r.status, 405, "{method} {path}");
            assert_eq!(r.json()["error"]["code"], "method_not_allowed");
            let allow = r.headers["allow"].to_str().unwrap();
            let mut allowed: Vec<String> = allow.split(", ").map(str::to_owned).collect();
            allowed.sort();
            assert_eq!(allowed, documented, "{method} {path}: Allow: {allow}");
        }
    }
}

fn schemas_are_named(doc: &Value) {
    for schema in [
        "NewBreach",
        "NewRequest",
        "StateChange",
        "NewNotification",
        "DetokenizeRequest",
        "Error",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
    assert_eq!(
        doc["components"]["schemas"]["NewBreach"]["additionalProperties"],
        false
    );
}

/// Real ids for the `{id}` paths, and the tokens and time the calls use.
struct Ids {
    request: String,
    breach: String,
    notification: String,
    link: String,
    sweep: String,
    service: String,
    now: i64,
}

impl Ids {
    async fn create(env: &Env) -> Ids {
        let now = pdgate::now_millis();
        let request = json!({"type": "access", "subject": {"email": "o@mail.ru"}});
        let breach = json!({"categories": ["contact"], "description": "x"});
        let notification = json!({"country": "US", "purpose": "marketing", "filed_at": now});
        let request = created(env, "/admin/v1/requests", request).await;
        let breach = created(env, "/admin/v1/breaches", breach).await;
        let notification = created(env, "/admin/v1/transfers", notification).await;
        assert_eq!(checkout(env, "l@mail.ru").await.status, 200);
        let link = created(env, "/admin/v1/subjects/links", Ids::subject()).await;
        let sweep = pdgate_testkit::retention(&env.gw, &[])["sweep_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let service = token(&env.gw, "service", Some("crm"));
        Ids {
            request,
            breach,
            notification,
            link,
            sweep,
            service,
            now,
        }
    }

    fn subject() -> Value {
        json!({"subject": {"email": "l@mail.ru"}})
    }

    fn path(&self, template: &str) -> String {
        let id = if template.starts_with("/admin/v1/requests/") {
            &self.request
        } else if template.starts_with("/admin/v1/breaches/") {
            &self.breach
        } else if template.starts_with("/admin/v1/sweeps/") {
            &self.sweep
        } else if template.starts_with("/admin/v1/subjects/links/") {
            &self.link
        } else {
            &self.notification
        };
        template.replace("{id}", id)
    }
}

async fn created(env: &Env, path: &str, body: Value) -> String {
    let r = authed("POST", &env.gw.admin_url(path), &env.dpo, body.to_string()).await;
    let text = String::from_utf8_lossy(&r.body);
    assert_eq!(r.status, 201, "{path}: {text}");
    r.json()["id"].as_str().unwrap().to_owned()
}

/// One documented operation (`METHOD /path`) answers 2xx (a lift of a request not restricted:
/// 409).
async fn each_operation_answers(env: &Env, ids: &Ids, op: &str) {
    let (method, template) = op.split_once(' ').unwrap();
    let now = ids.now;
    let (query, body, bearer) = match (method, template) {
        ("POST", "/v1/detokenize") => (
            "",
            json!({"purpose": "order_fulfilment", "tokens": []}),
            &ids.service,
        ),
        ("POST", "/admin/v1/requests") => (
            "",
            json!({"type": "access", "subject": {"email": "p@mail.ru"}}),
            &env.dpo,
        ),
        ("POST", "/admin/v1/requests/{id}/extend") => {
            ("", json!({"reason": "archive search"}), &env.dpo)
        }
        ("POST", "/admin/v1/breaches") => (
            "",
            json!({"categories": ["identity"], "description": "y"}),
            &env.dpo,
        ),
        ("POST", "/admin/v1/breaches/{id}/sent") => {
            ("", json!({"notice": "gossopka_24h"}), &env.dpo)
        }
        ("POST", "/admin/v1/breaches/{id}/state") => {
            ("", json!({"state": "notified-24h"}), &env.dpo)
        }
        ("POST", "/admin/v1/transfers") => (
            "",
            json!({"country": "DE", "purpose": "marketing", "filed_at": now}),
            &env.dpo,
        ),
        ("POST", "/admin/v1/transfers/{id}/received") => {
            ("", json!({"received_by_authority_at": now}), &env.dpo)
        }
        ("GET", "/admin/v1/breaches/{id}/notice") => ("?regime=gdpr", Value::Null, &env.dpo),
        ("POST", "/admin/v1/subjects/links") => ("", Ids::subject(), &ids.service),
        ("POST", _) => ("", json!({}), &env.dpo),
        _ => ("", Value::Null, &env.dpo),
    };
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let url = env.gw.admin_url(&format!("{}{query}", ids.path(template)));
    let r = authed(method, &url, bearer, body).await;
    let code = r.status.as_u16();
    assert!(
        (200..300).contains(&code) || (op.ends_with("/lift") && code == 409),
        "{op}: {code} {}",
        String::from_utf8_lossy(&r.body)
    );
}

/// Where the OpenAPI validator is installed (CI installs it), it checks the document too.
fn the_document_is_valid(env: &Env, doc: &Value) {
    let file = env.gw.dir.join("openapi.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    match Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
    {
        Ok(out) if out.status.success() => {}
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("No module named") => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must install openapi-spec-validator"
            );
            eprintln!("openapi-spec-validator not installed: document validation skipped");
        }
        Ok(out) => panic!(
            "the OpenAPI document is invalid: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("python3: {e}"),
    }
}

both_backends! {
    register => register_reflects_the_running_gateway;
    breaches => breaches_have_clocks_estimates_notices_and_history;
    cross_border => cross_border_needs_a_notification_and_the_wait;
    discovery => discovery_lists_undeclared_flows_without_touching_them;
    metrics => metrics_count_what_happened;
    openapi => openapi_lists_every_endpoint_and_each_answers;
}

/// `[admin] metrics_token_file`: `/metrics` answers only its bearer; health stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_require_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metrics.token");
    let secret = "metrics-scraper-0123456789abcdef-0123";
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let extra = format!("[admin]\nmetrics_token_file = \"{}\"\n", file.display());
    let up = Upstream::start(Duration::ZERO).await;
    let mut opts = Opts::new(Db::Sqlite);
    opts.extra_config = extra;
    let gw = Gateway::start(opts, &up.url()).await.unwrap();
    let url = gw.admin_url("/metrics");
    let none = pdgate_testkit::get(&url).await;
    assert_eq!(
        (none.status.as_u16(), none.code().as_str()),
        (401, "unauthorized")
    );
    assert_eq!(
        authed("GET", &url, "metrics-scraper-wrong", "")
            .await
            .status,
        401
    );
    let ok = authed("GET", &url, secret, "").await;
    assert_eq!(ok.status, 200);
    assert!(String::from_utf8_lossy(&ok.body).contains("pdgate_http_requests_total"));
    assert_eq!(
        pdgate_testkit::get(&gw.admin_url("/readyz")).await.status,
        200
    );
}
