//! End-to-end tests of issue 5: the processing-activity register over the admin API and the CLI,
//! breach clocks and notices, and cross-border control — the real binary over real sockets, on
//! SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::process::Command;
use std::time::Duration;

use common::{authed, post, token, Db, Gateway, Opts, Upstream};
use serde_json::{json, Value};

const JSON: &str = "application/json";
const SECRET: &str = "test-secret-0123456789abcdef-0123456789";

struct Env {
    up: Upstream,
    gw: Gateway,
    dpo: String,
    _dir: tempfile::TempDir,
}

/// A gateway on the example policies with HS256 admin tokens; `edit` changes the policies.
async fn start(db: Db, edit: fn(&str, &str) -> String) -> Option<Env> {
    let up = Upstream::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let jwt = dir.path().join("jwt.secret");
    std::fs::write(&jwt, SECRET).unwrap();
    let mut opts = Opts::new(db);
    opts.extra_config = format!(
        "[admin]\njwt_secret_file = \"{}\"\n[transfers]\nrefresh_s = 1\n",
        jwt.display()
    );
    opts.policy_edit = Box::new(edit);
    let gw = Gateway::start(opts, &up.url()).await?;
    let dpo = token(&gw, "dpo", None);
    Some(Env {
        up,
        gw,
        dpo,
        _dir: dir,
    })
}

fn unchanged(_: &str, t: &str) -> String {
    t.to_owned()
}

async fn checkout(env: &Env, email: &str) -> common::Resp {
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

async fn register_reflects_the_running_gateway(db: Db) {
    let Some(env) = start(db, unchanged).await else {
        return;
    };
    for i in 0..3 {
        let r = checkout(&env, &format!("buyer{i}@mail.ru")).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let url = |q: &str| env.gw.admin_url(&format!("/admin/v1/register{q}"));

    let r = authed("GET", &url("?view=fz152&format=json"), &env.dpo, "").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let doc = r.json();
    let refs: Vec<&str> = doc["sections"][0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["ref"].as_str().unwrap())
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
    let today = &pdgate::rfc3339(pdgate::now_millis())[..10];
    assert_eq!(
        item(&doc, "start_date")["date"],
        *today,
        "the first audit entry"
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

    // Auditors may read it; services may not; bad parameters are named.
    let auditor = token(&env.gw, "auditor", None);
    assert_eq!(authed("GET", &url(""), &auditor, "").await.status, 200);
    let service = token(&env.gw, "service", Some("crm"));
    assert_eq!(authed("GET", &url(""), &service, "").await.status, 403);
    assert_eq!(common::get(&url("")).await.status, 401);
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

    // The CLI writes the same document from the same database.
    let out_file = env.gw.dir.join("register.md");
    let out = Command::new(common::bin())
        .args(["register", "export", "--config"])
        .arg(&env.gw.config_path)
        .args(["--view", "fz152", "--format", "md", "--out"])
        .arg(&out_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(&out_file).unwrap();
    for r in refs {
        assert!(md.contains(&format!("### {r} — ")), "{r} in the CLI export");
    }
    let out = Command::new(common::bin())
        .args(["register", "export", "--config"])
        .arg(&env.gw.config_path)
        .args(["--view", "fz152"])
        .output()
        .unwrap();
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(item(&cli, "subjects"), &json!(3));
    drop(env.up);
}

both_backends! {
    register_reflects_the_running_gateway => register_reflects_the_running_gateway;
}
