//! End-to-end tests of issue 4: every data subject request type, deadlines, erasure with a legal
//! hold, the signed webhook outbox across failures and a restart, retention sweeps with an
//! injected clock and the one-sweeper rule — the real binary over real sockets, on SQLite and
//! PostgreSQL.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pdgate_testkit::{
    authed, detokenize, outcomes, post, retention, token, Db, Gateway, Opts, Upstream,
};
use sha2::Sha256;

const JSON: &str = "application/json";
const EMAIL: &str = "pavel.planted@mail.ru";
const PHONE: &str = "+7 916 555-07-07";
const NEW_PHONE: &str = "+7 916 555-08-08";
const CARD: &str = "4276";
const SECRET: &str = "test-secret-0123456789abcdef-0123456789";
const HOOK_SECRET: &str = "webhook-secret-0123456789abcdef-0123456789";

/// An erasure webhook receiver that answers 503 to its first `fail` calls.
struct Hook {
    url: String,
    calls: Arc<AtomicUsize>,
    got: Arc<Mutex<Vec<(http::HeaderMap, Bytes)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Hook {
    async fn start(fail: usize) -> Hook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/privacy/erase", listener.local_addr().unwrap());
        let calls = Arc::new(AtomicUsize::new(0));
        let got: Arc<Mutex<Vec<(http::HeaderMap, Bytes)>>> = Arc::default();
        let (c, g) = (calls.clone(), got.clone());
        let task = tokio::spawn(async move {
            loop {
                let (s, _) = listener.accept().await.unwrap();
                let (c, g) = (c.clone(), g.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                        let (c, g) = (c.clone(), g.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await.unwrap().to_bytes();
                            let n = c.fetch_add(1, Ordering::SeqCst);
                            let status = if n < fail { 503 } else { 200 };
                            if status == 200 {
                                g.lock().unwrap().push((parts.headers, body));
                            }
                            Ok::<_, std::convert::Infallible>(
                                http::Response::builder()
                                    .status(status)
                                    .body(Full::new(Bytes::new()))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(s), svc)
                        .await;
                });
            }
        });
        Hook {
            url,
            calls,
            got,
            task,
        }
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Env {
    up: Upstream,
    gw: Gateway,
    hook: Hook,
    _dir: tempfile::TempDir,
}

/// The example shop with the card's last digits kept (payment is under a 402-FZ hold) and the
/// erasure webhook pointed at a receiver that fails its first `fail` calls.
async fn start(db: Db, fail: usize) -> Option<Env> {
    start_polling(db, fail, 200).await
}

/// [`start`], the outbox polled every `poll_ms`.
async fn start_polling(db: Db, fail: usize, poll_ms: u64) -> Option<Env> {
    start_with(db, fail, poll_ms, "tokenize").await
}

/// [`start_polling`], the card's last digits given `card_action`.
async fn start_with(db: Db, fail: usize, poll_ms: u64, card_action: &'static str) -> Option<Env> {
    let up = Upstream::start(Duration::ZERO).await;
    let hook = Hook::start(fail).await;
    let dir = tempfile::tempdir().unwrap();
    let (jwt, whs) = (
        dir.path().join("jwt.secret"),
        dir.path().join("hook.secret"),
    );
    std::fs::write(&jwt, SECRET).unwrap();
    std::fs::write(&whs, HOOK_SECRET).unwrap();
    let mut opts = Opts::new(db);
    opts.extra_config = format!(
        "[admin]\njwt_secret_file = \"{}\"\n[webhooks]\nsecret_file = \"{}\"\npoll_ms = {poll_ms}\n",
        jwt.display(),
        whs.display()
    );
    let hook_url = hook.url.clone();
    opts.policy_edit = Box::new(move |_, t| {
        t.replace(
            "card_last4: {category: payment, action: pass}",
            &format!("card_last4: {{category: payment, action: {card_action}}}"),
        )
        .replace(
            "erasure_webhook: \"/privacy/erase\"",
            &format!("erasure_webhook: \"{hook_url}\""),
        )
    });
    let gw = Gateway::start(opts, &up.url()).await?;
    Some(Env {
        up,
        gw,
        hook,
        _dir: dir,
    })
}

struct Shop {
    email: String,
    phone: String,
    card: String,
    subject: String,
}

async fn checkout(env: &Env, email: &str) -> Shop {
    let body = serde_json::json!({
        "email": email, "phone": PHONE, "name": "Засадный Павел", "address": "Тверь",
        "card_last4": CARD, "items": [], "total": 10, "subscribe": "on"
    });
    let resp = post(&env.gw.url("/api/checkout"), JSON, body.to_string()).await;
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let got = env.up.requests().pop().unwrap();
    let j: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    Shop {
        email: j["email"].as_str().unwrap().into(),
        phone: j["phone"].as_str().unwrap().into(),
        card: j["card_last4"].as_str().unwrap().into(),
        subject: got.header("x-pdgate-subject").unwrap(),
    }
}

async fn create(gw: &Gateway, dpo: &str, kind: &str, email: &str) -> serde_json::Value {
    let r = authed(
        "POST",
        &gw.admin_url("/admin/v1/requests"),
        dpo,
        serde_json::json!({"type": kind, "subject": {"email": email}, "note": "by e-mail"})
            .to_string(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// How many subjects an access request for `{field: value}` finds.
async fn found_by(gw: &Gateway, dpo: &str, field: &str, value: &str) -> u64 {
    let r = authed(
        "POST",
        &gw.admin_url("/admin/v1/requests"),
        dpo,
        serde_json::json!({"type": "access", "subject": {field: value}}).to_string(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let done = fulfil(gw, dpo, &id, "").await;
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    done.json()["result"]["subjects"].as_u64().unwrap()
}

async fn fulfil(gw: &Gateway, dpo: &str, id: &str, body: &str) -> pdgate_testkit::Resp {
    authed(
        "POST",
        &gw.admin_url(&format!("/admin/v1/requests/{id}/fulfil")),
        dpo,
        body.to_owned(),
    )
    .await
}

/// One subject's requests on one gateway, from receipt to erasure: each step below runs on what
/// the ones before it left.
async fn requests_lifecycle(db: Db) {
    let Some(env) = start(db, 0).await else {
        return;
    };
    let s = Lifecycle::begin(&env).await;
    s.refuses_bad_requests().await;
    let (id, received) = s.access_is_due_in_working_days().await;
    s.the_report_waits_for_fulfilment(&id).await;
    s.one_extension_then_fulfilled_once(&id, received).await;
    s.the_report_is_complete_and_audited(&id).await;
    s.restriction_holds_until_lifted().await;
    s.a_withdrawal_takes_effect_when_registered().await;
    s.objection_ends_marketing_only().await;
    s.rectification_keeps_the_token().await;
    let erid = s.erasure_keeps_the_held_category().await;
    s.webhooks_arrive_signed(&erid).await;
    s.a_new_access_finds_only_the_hold().await;
    s.audited_without_planted_values().await;
    s.a_letter_counts_from_its_receipt().await;
}

/// The gateway, the shopper's checkout and the tokens the lifecycle's steps share.
struct Lifecycle<'a> {
    env: &'a Env,
    shop: Shop,
    dpo: String,
    crm: String,
}

impl<'a> Lifecycle<'a> {
    async fn begin(env: &'a Env) -> Lifecycle<'a> {
        let shop = checkout(env, EMAIL).await;
        let dpo = token(&env.gw, "dpo", None);
        let crm = token(&env.gw, "service", Some("crm"));
        Lifecycle {
            env,
            shop,
            dpo,
            crm,
        }
    }

    /// Only DPOs and admins; a bad body or subject is a clear error and stores nothing.
    async fn refuses_bad_requests(&self) {
        let (gw, dpo, crm) = (&self.env.gw, &self.dpo, &self.crm);
        let r = authed("GET", &gw.admin_url("/admin/v1/requests"), crm, "").await;
        assert_eq!(r.status, 403);
        let r = authed(
            "POST",
            &gw.admin_url("/admin/v1/requests"),
            dpo,
            r#"{"type":"forget","subject":{"email":"a@b.ru"}}"#,
        )
        .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (422, "invalid_request_type".to_owned())
        );
        let r = authed(
            "POST",
            &gw.admin_url("/admin/v1/requests"),
            dpo,
            r#"{"type":"access","subject":{"email":"not-an-email"}}"#,
        )
        .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (422, "invalid_subject".to_owned())
        );
        let r = authed(
            "POST",
            &gw.admin_url("/admin/v1/requests"),
            dpo,
            r#"{"type":"access","subject":{}}"#,
        )
        .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (422, "invalid_subject".to_owned())
        );
    }

    /// Access: both regimes, so the 152-FZ 10 working days bind; a repeat within 30 days is flagged.
    /// The request and when it was received.
    async fn access_is_due_in_working_days(&self) -> (String, pdgate::Millis) {
        let (gw, dpo) = (&self.env.gw, &self.dpo);
        let a = create(gw, dpo, "access", &EMAIL.to_uppercase()).await;
        assert_eq!(a["status"], "open");
        assert_eq!(a["regime"], "both");
        let received = pdgate::parse_time(a["received_at"].as_str().unwrap()).unwrap();
        let cal = pdgate::requests::calendar::Calendar::russia();
        let want = pdgate::requests::deadline::due(
            pdgate::requests::deadline::RequestType::Access,
            pdgate::requests::deadline::Regimes::Both,
            received,
            &cal,
        );
        assert_eq!(a["due_at"], pdgate::rfc3339(want).as_str());
        let id = a["id"].as_str().unwrap().to_owned();
        let again = create(gw, dpo, "access", EMAIL).await;
        assert_eq!(again["repeat_of"], id.as_str());
        (id, received)
    }

    /// A request that arrived by letter three days before it is registered: its deadline runs
    /// from the receipt, which the audit entry records beside the registration; a receipt in
    /// the future, a year back or unreadable is refused.
    async fn a_letter_counts_from_its_receipt(&self) {
        let (gw, dpo) = (&self.env.gw, &self.dpo);
        let now = pdgate::now_millis();
        let received = now - 3 * 86_400_000;
        let body = |at: &str| {
            serde_json::json!({"type": "rectification", "subject": {"email": "letter@mail.ru"},
                "received_at": at})
            .to_string()
        };
        let url = gw.admin_url("/admin/v1/requests");
        let r = authed("POST", &url, dpo, body(&pdgate::rfc3339(received))).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let r = r.json();
        assert_eq!(r["received_at"], pdgate::rfc3339(received).as_str());
        let want = pdgate::requests::deadline::due(
            pdgate::requests::deadline::RequestType::Rectification,
            pdgate::requests::deadline::Regimes::Both,
            received,
            &pdgate::requests::calendar::Calendar::russia(),
        );
        assert_eq!(r["due_at"], pdgate::rfc3339(want).as_str());
        let auditor = token(gw, "auditor", None);
        let audit = authed("GET", &gw.admin_url("/admin/v1/audit"), &auditor, "").await;
        let entry = String::from_utf8(audit.body.to_vec())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|e| e["entry"]["event"]["request_id"] == r["id"])
            .unwrap();
        assert_eq!(entry["entry"]["event"]["received_at"], received);
        for at in [
            pdgate::rfc3339(now + 3_600_000),
            pdgate::rfc3339(now - 400 * 86_400_000),
            "yesterday".to_owned(),
        ] {
            let bad = authed("POST", &url, dpo, body(&at)).await;
            assert_eq!(
                (bad.status.as_u16(), bad.code().as_str()),
                (422, "invalid_received_at"),
                "{at}"
            );
        }
    }

    /// Before fulfilment the report, which holds the subject's data in clear, is not served.
    async fn the_report_waits_for_fulfilment(&self, id: &str) {
        let (gw, dpo) = (&self.env.gw, &self.dpo);
        let early = authed(
            "GET",
            &gw.admin_url(&format!("/admin/v1/requests/{id}/report?format=json")),
            dpo,
            "",
        )
        .await;
        assert_eq!(
            (early.status.as_u16(), early.code().as_str()),
            (409, "report_not_ready")
        );
    }

    /// One extension, with a reason, before the due time; then fulfilled once.
    async fn one_extension_then_fulfilled_once(&self, id: &str, received: pdgate::Millis) {
        let cal = pdgate::requests::calendar::Calendar::russia();
        let (gw, dpo) = (&self.env.gw, &self.dpo);
        let ext_url = gw.admin_url(&format!("/admin/v1/requests/{id}/extend"));
        let ext = |body: &'static str| authed("POST", &ext_url, dpo, body);
        assert_eq!(ext(r#"{"reason":"  "}"#).await.code(), "reason_required");
        let e = ext(r#"{"reason":"the archive is being searched"}"#).await;
        assert_eq!(e.status, 200, "{}", String::from_utf8_lossy(&e.body));
        let want = pdgate::requests::deadline::extended_due(
            pdgate::requests::deadline::RequestType::Access,
            pdgate::requests::deadline::Regimes::Both,
            received,
            received,
            &cal,
        )
        .unwrap();
        assert_eq!(e.json()["due_at"], pdgate::rfc3339(want).as_str());
        assert_eq!(
            ext(r#"{"reason":"again"}"#).await.code(),
            "already_extended"
        );
        let notice = &e.json()["extension_notice"];
        assert_eq!(notice["sent_at"], serde_json::Value::Null, "{notice}");
        assert_eq!(notice["late"], false);
        // The draft tells the subject why, in both languages (the request is under both laws).
        let url = gw.admin_url(&format!("/admin/v1/requests/{id}/extension-notice"));
        let draft = authed("GET", &url, dpo, "").await;
        assert_eq!(draft.status, 200);
        let page = String::from_utf8(draft.body.to_vec()).unwrap();
        for part in [
            "the archive is being searched",
            "Article 12(3)",
            "ч. 3 ст. 14",
            "ООО «Ромашка»",
        ] {
            assert!(page.contains(part), "{part}: {page}");
        }
        let sent = authed("POST", &url, dpo, "").await;
        assert_eq!(sent.status, 200, "{}", String::from_utf8_lossy(&sent.body));
        let notice = &sent.json()["extension_notice"];
        assert!(notice["sent_at"].is_string(), "{notice}");
        assert_eq!(notice["late"], false);
        assert_eq!(
            authed("POST", &url, dpo, "").await.code(),
            "notice_already_sent"
        );
        let f = fulfil(gw, dpo, id, "").await;
        assert_eq!(f.status, 200, "{}", String::from_utf8_lossy(&f.body));
        assert_eq!(f.json()["status"], "fulfilled");
        assert_eq!(f.json()["fulfilled_on_time"], true);
    }

    /// Fulfilled: the report, data decrypted with source and retention, consents with receipts,
    /// rights; each rendering is audited with who read it.
    async fn the_report_is_complete_and_audited(&self, id: &str) {
        let (gw, shop, dpo) = (&self.env.gw, &self.shop, &self.dpo);
        let rep = authed(
            "GET",
            &gw.admin_url(&format!("/admin/v1/requests/{id}/report?format=json")),
            dpo,
            "",
        )
        .await;
        assert_eq!(rep.status, 200, "{}", String::from_utf8_lossy(&rep.body));
        let j = rep.json();
        assert_eq!(j["confirmation"]["processing"], true);
        let subject = &j["subjects"][0];
        assert_eq!(subject["pseudonym"], shop.subject.as_str());
        let values: Vec<&str> = subject["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["value"].as_str().unwrap())
            .collect();
        assert!(
            values.contains(&EMAIL) && values.contains(&PHONE) && values.contains(&CARD),
            "{values:?}"
        );
        let email_item = subject["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["value"] == EMAIL)
            .unwrap();
        assert_eq!(email_item["source"]["route"], "checkout");
        assert!(email_item["kept_until"].is_string());
        assert_eq!(subject["consents"][0]["purpose"], "marketing");
        assert!(subject["consents"][0]["receipt"]
            .as_str()
            .unwrap()
            .contains("/receipts/"));
        for key in [
            "purposes",
            "recipients",
            "retention",
            "cross_border_transfers",
            "processors",
            "rights",
            "source",
        ] {
            assert!(!j[key].is_null(), "report lacks {key}");
        }
        assert!(j["purposes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["legal_basis"] == "contract"));
        let html = pdgate_testkit::send(
            http::Request::get(
                gw.admin_url(&format!("/admin/v1/requests/{id}/report?format=html")),
            )
            .header("authorization", format!("Bearer {dpo}"))
            .header("accept-language", "ru-RU,ru;q=0.9,en;q=0.5")
            .body(Full::new(Bytes::new()))
            .unwrap(),
        )
        .await;
        assert_eq!(html.status, 200);
        let page = String::from_utf8(html.body.to_vec()).unwrap();
        assert!(
            page.contains("Отчёт по запросу")
                && page.contains(EMAIL)
                && page.contains("Ваши права")
        );

        let audit = authed(
            "GET",
            &gw.admin_url("/admin/v1/audit"),
            &token(gw, "auditor", None),
            "",
        )
        .await;
        let rendered = String::from_utf8_lossy(&audit.body)
            .lines()
            .filter(|l| l.contains("\"report_rendered\"") && l.contains(id))
            .count();
        assert_eq!(rendered, 2, "the JSON and the HTML rendering");

        let list = authed(
            "GET",
            &gw.admin_url("/admin/v1/requests?status=open"),
            dpo,
            "",
        )
        .await;
        assert_eq!(list.json()["count"], 1);
        let overdue = authed(
            "GET",
            &gw.admin_url("/admin/v1/requests?overdue=true"),
            dpo,
            "",
        )
        .await;
        assert_eq!(overdue.json()["count"], 0);
    }

    /// Restriction: nothing is detokenized until it is lifted.
    async fn restriction_holds_until_lifted(&self) {
        let (gw, shop, dpo, crm) = (&self.env.gw, &self.shop, &self.dpo, &self.crm);
        let r = create(gw, dpo, "restriction", EMAIL).await;
        let rid = r["id"].as_str().unwrap().to_owned();
        assert_eq!(fulfil(gw, dpo, &rid, "").await.status, 200);
        assert_eq!(
            outcomes(&detokenize(gw, crm, "order_fulfilment", &[&shop.email]).await),
            ["restricted"]
        );
        // A new form from the restricted person is refused: nothing stored or forwarded.
        let before = self.env.up.requests().len();
        let body = serde_json::json!({"email": EMAIL, "phone": PHONE, "name": "Засадный Павел",
            "address": "Тверь", "card_last4": CARD, "items": [], "total": 10});
        let again = post(&gw.url("/api/checkout"), JSON, body.to_string()).await;
        assert_eq!(
            (again.status.as_u16(), again.code().as_str()),
            (409, "subject_restricted")
        );
        assert_eq!(self.env.up.requests().len(), before);
        let l = authed(
            "POST",
            &gw.admin_url(&format!("/admin/v1/requests/{rid}/lift")),
            dpo,
            "",
        )
        .await;
        assert_eq!(l.status, 200, "{}", String::from_utf8_lossy(&l.body));
        assert_eq!(
            outcomes(&detokenize(gw, crm, "order_fulfilment", &[&shop.email]).await),
            [EMAIL]
        );
    }

    /// A consent withdrawal that came by letter ends the consent when the DPO registers it, in
    /// the same transaction: the CRM is refused before anyone fulfils the request.
    async fn a_withdrawal_takes_effect_when_registered(&self) {
        let (gw, shop, dpo, crm) = (&self.env.gw, &self.shop, &self.dpo, &self.crm);
        let body = serde_json::json!({"type": "withdraw_consent", "subject": {"email": EMAIL},
            "purposes": ["marketing"]});
        let url = gw.admin_url("/admin/v1/requests");
        let w = authed("POST", &url, dpo, body.to_string()).await;
        assert_eq!(w.status, 201, "{}", String::from_utf8_lossy(&w.body));
        assert_eq!(w.json()["status"], "open");
        // The purposes named are kept for its fulfilment.
        let id = w.json()["id"].as_str().unwrap().to_owned();
        let stored = authed("GET", &format!("{url}/{id}"), dpo, "").await.json();
        assert_eq!(stored["purposes"], serde_json::json!(["marketing"]));
        assert_eq!(
            outcomes(&detokenize(gw, crm, "marketing", &[&shop.email]).await),
            ["consent_withdrawn"]
        );
        let bad = serde_json::json!({"type": "access", "subject": {"email": EMAIL},
            "purposes": ["marketing"]});
        let bad = authed("POST", &url, dpo, bad.to_string()).await;
        assert_eq!(bad.code(), "purposes_not_applicable");
    }

    /// Objection to marketing ends it for the subject; the contract purpose is unaffected.
    async fn objection_ends_marketing_only(&self) {
        let (gw, shop, dpo, crm) = (&self.env.gw, &self.shop, &self.dpo, &self.crm);
        let o = create(gw, dpo, "objection", EMAIL).await;
        // Marketing is direct marketing: the objection ends it when registered (152-FZ
        // Art. 15(2)), before the DPO fulfils the request.
        assert_eq!(
            outcomes(&detokenize(gw, crm, "marketing", &[&shop.email]).await),
            ["objected"]
        );
        let r = fulfil(
            gw,
            dpo,
            o["id"].as_str().unwrap(),
            r#"{"purposes":["marketing"]}"#,
        )
        .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(
            outcomes(&detokenize(gw, crm, "marketing", &[&shop.email]).await),
            ["objected"]
        );
        assert_eq!(
            outcomes(&detokenize(gw, crm, "order_fulfilment", &[&shop.email]).await),
            [EMAIL]
        );
        let o2 = create(gw, dpo, "objection", EMAIL).await;
        let r = fulfil(
            gw,
            dpo,
            o2["id"].as_str().unwrap(),
            r#"{"purposes":["order_fulfilment"]}"#,
        )
        .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (422, "not_applicable".to_owned())
        );
    }

    /// Rectification: the CRM keeps its token and reads the corrected value; the search index
    /// follows.
    async fn rectification_keeps_the_token(&self) {
        let (gw, shop, dpo, crm) = (&self.env.gw, &self.shop, &self.dpo, &self.crm);
        let rc = create(gw, dpo, "rectification", EMAIL).await;
        let rcid = rc["id"].as_str().unwrap().to_owned();
        assert_eq!(
            fulfil(gw, dpo, &rcid, "").await.code(),
            "corrections_required"
        );
        let body = serde_json::json!({"corrections": [{"token": shop.phone, "value": NEW_PHONE}]})
            .to_string();
        let r = fulfil(gw, dpo, &rcid, &body).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(
            outcomes(&detokenize(gw, crm, "order_fulfilment", &[&shop.phone]).await),
            [NEW_PHONE]
        );
        // The search index follows: found by the corrected phone, no longer by the old one.
        assert_eq!(found_by(gw, dpo, "phone", NEW_PHONE).await, 1);
        assert_eq!(found_by(gw, dpo, "phone", PHONE).await, 0);
    }

    /// Erasure: crypto-shredded except the held payment category, with an act and a webhook.
    /// The request's id.
    async fn erasure_keeps_the_held_category(&self) -> String {
        let (gw, shop, dpo, crm) = (&self.env.gw, &self.shop, &self.dpo, &self.crm);
        let er = create(gw, dpo, "erasure", EMAIL).await;
        let erid = er["id"].as_str().unwrap().to_owned();
        let ext = authed(
            "POST",
            &gw.admin_url(&format!("/admin/v1/requests/{erid}/extend")),
            dpo,
            r#"{"reason":"x"}"#,
        )
        .await;
        assert_eq!(ext.code(), "extension_not_provided");
        let r = fulfil(gw, dpo, &erid, "").await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(
            outcomes(
                &detokenize(
                    gw,
                    crm,
                    "order_fulfilment",
                    &[&shop.email, &shop.phone, &shop.card]
                )
                .await
            ),
            ["erased", "erased", "restricted"]
        );
        let rep = authed(
            "GET",
            &gw.admin_url(&format!("/admin/v1/requests/{erid}/report")),
            dpo,
            "",
        )
        .await;
        let j = rep.json();
        // GDPR Art. 19: the CRM was told by webhook; the courier must be told by hand.
        let notified = &j["recipients_notified"];
        assert_eq!(notified["by_webhook"], serde_json::json!(["crm"]), "{j}");
        let by_hand = notified["by_hand"].as_array().unwrap();
        assert!(by_hand.iter().any(|r| r["name"] == "Courier LLC"), "{j}");
        let act = &j["destruction_act"];
        assert_eq!(act["operator"]["name"], "ООО «Ромашка»");
        assert_eq!(act["subjects"][0]["pseudonym"], shop.subject.as_str());
        assert_eq!(act["subjects"][0]["whole_subject"], false);
        assert_eq!(act["held"][0]["subject"], shop.subject.as_str());
        assert_eq!(act["held"][0]["category"], "payment");
        assert_eq!(act["held"][0]["basis"], "402-FZ art. 29");
        assert!(act["held"][0]["until"].is_string());
        assert!(act["categories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "contact"));
        for key in [
            "information_system",
            "method",
            "reason",
            "destroyed_at",
            "destroyed_by",
            "responsible_person",
        ] {
            assert!(act[key].is_string(), "act lacks {key}");
        }
        // An erasure request is 152-FZ Art. 20(3) (7 working days), not Art. 21.
        let reason = act["reason"].as_str().unwrap();
        assert!(reason.contains("152-FZ Art. 20(3)"), "{reason}");
        let logged = &act["log_extract"][0]["entry"]["event"];
        assert_eq!(logged["type"], "erasure");
        assert_eq!(logged["act_id"], act["act_id"]);
        assert_eq!(logged["held_categories"][0], "payment");
        erid
    }

    /// The webhooks arrive signed: the rectification names the corrected token, the erasure the
    /// destroyed ones (and not the held one).
    async fn webhooks_arrive_signed(&self, erid: &str) {
        let (env, gw, shop, dpo) = (self.env, &self.env.gw, &self.shop, &self.dpo);
        // Every change of the subject's rights reaches the upstream, signed, in the order made.
        let events = [
            "restricted",
            "restriction_lifted",
            "consent_withdrawn",
            "objection",
            "rectification",
            "erasure",
        ];
        let deadline = Instant::now() + Duration::from_secs(20);
        while env.hook.got.lock().unwrap().len() < events.len() {
            assert!(Instant::now() < deadline, "webhooks not delivered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let got = env.hook.got.lock().unwrap().clone();
        let payloads: Vec<serde_json::Value> = got
            .iter()
            .map(|(headers, body)| {
                assert_signed(headers, body);
                serde_json::from_slice(body).unwrap()
            })
            .collect();
        let seen: Vec<&str> = payloads
            .iter()
            .map(|p| p["event"].as_str().unwrap())
            .collect();
        assert_eq!(seen, events);
        assert_eq!(payloads[2]["purposes"], serde_json::json!(["marketing"]));
        assert!(payloads[0]["subject"].as_str().unwrap().starts_with("sub_"));
        let p = &payloads[4];
        assert_eq!(p["tokens"][0].as_str(), Some(shop.phone.as_str()));
        let (headers, body) = got[5].clone();
        assert_signed(&headers, &body);
        let p: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(p["event"], "erasure");
        assert_eq!(p["reference"], erid);
        let toks: Vec<&str> = p["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert!(
            toks.contains(&shop.email.as_str()) && !toks.contains(&shop.card.as_str()),
            "{toks:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let st = authed(
                "GET",
                &gw.admin_url(&format!("/admin/v1/requests/{erid}")),
                dpo,
                "",
            )
            .await
            .json();
            if st["deliveries"]["delivered"] == 1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "delivery state never became delivered: {st}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new access request finds only what the hold keeps, restricted.
    async fn a_new_access_finds_only_the_hold(&self) {
        let (gw, dpo) = (&self.env.gw, &self.dpo);
        let a2 = create(gw, dpo, "access", EMAIL).await;
        assert_eq!(
            fulfil(gw, dpo, a2["id"].as_str().unwrap(), "").await.status,
            200
        );
        let rep = authed(
            "GET",
            &gw.admin_url(&format!(
                "/admin/v1/requests/{}/report",
                a2["id"].as_str().unwrap()
            )),
            dpo,
            "",
        )
        .await
        .json();
        let data = rep["subjects"][0]["data"].as_array().unwrap();
        assert_eq!(data.len(), 1, "{data:?}");
        assert_eq!(data[0]["category"], "payment");
        assert_eq!(rep["subjects"][0]["restricted"], true);
    }

    /// Audited, and no planted value anywhere in the log or the audit export.
    async fn audited_without_planted_values(&self) {
        let gw = &self.env.gw;
        let audit = authed(
            "GET",
            &gw.admin_url("/admin/v1/audit"),
            &token(gw, "auditor", None),
            "",
        )
        .await;
        let text = String::from_utf8(audit.body.to_vec()).unwrap();
        for kind in [
            "request_received",
            "request_extended",
            "extension_notice_sent",
            "request_fulfilled",
            "restriction",
            "purpose_objected",
            "rectification",
            "erasure",
        ] {
            assert!(
                text.contains(&format!("\"type\":\"{kind}\"")),
                "no {kind} in the audit log"
            );
        }
        for planted in [EMAIL, PHONE, NEW_PHONE, "Засадный"] {
            assert!(
                !text.contains(planted) && !gw.log().contains(planted),
                "{planted} leaked"
            );
        }
    }
}

fn assert_signed(headers: &http::HeaderMap, body: &[u8]) {
    let sig = headers["x-pdgate-signature"].to_str().unwrap();
    let (t, v1) = sig.split_once(',').unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let want = data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes());
    assert_eq!(v1.strip_prefix("v1=").unwrap(), want, "bad signature");
    assert!(headers.contains_key("x-pdgate-event-id"));
}

/// The receiver fails the first two attempts; pdgate restarts in between and still delivers.
async fn webhook_retries_survive_restart(db: Db) {
    let Some(mut env) = start(db, 2).await else {
        return;
    };
    let shop = checkout(&env, EMAIL).await;
    let dpo = token(&env.gw, "dpo", None);
    let er = create(&env.gw, &dpo, "erasure", EMAIL).await;
    let erid = er["id"].as_str().unwrap().to_owned();
    assert_eq!(fulfil(&env.gw, &dpo, &erid, "").await.status, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while env.hook.calls.load(Ordering::SeqCst) < 1 {
        assert!(Instant::now() < deadline, "no first attempt");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The receiver failing shows in the metrics and does not make pdgate unready.
    let metrics = pdgate_testkit::get(&env.gw.admin_url("/metrics")).await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(text.contains("pdgate_outbox_backlog 1"), "{text}");
    assert!(
        text.contains("pdgate_outbox_oldest_undelivered_seconds "),
        "{text}"
    );
    assert_eq!(
        pdgate_testkit::get(&env.gw.admin_url("/readyz"))
            .await
            .status,
        200
    );
    env.gw.signal("-TERM");
    assert_eq!(env.gw.wait_exit().await, Some(0));
    env.gw.spawn().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while env.hook.got.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "not delivered after the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(env.hook.calls.load(Ordering::SeqCst) >= 3);
    let (headers, body) = env.hook.got.lock().unwrap()[0].clone();
    assert_signed(&headers, &body);
    assert!(String::from_utf8_lossy(&body).contains(&shop.email));
    // The receiver has the body before pdgate has recorded its 200: wait for the record.
    let report_url = env
        .gw
        .admin_url(&format!("/admin/v1/requests/{erid}/report"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let d = loop {
        let rep = authed("GET", &report_url, &dpo, "").await.json();
        let d = rep["deliveries"][0].clone();
        if d["state"] == "delivered" || Instant::now() > deadline {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(d["state"], "delivered");
    assert!(d["attempts"].as_i64().unwrap() >= 3, "{d}");
    // Exactly one delivery: no duplicate after success.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(env.hook.got.lock().unwrap().len(), 1);
    let metrics = pdgate_testkit::get(&env.gw.admin_url("/metrics")).await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(text.contains("pdgate_outbox_backlog 0"), "{text}");
    assert!(
        text.contains("pdgate_outbox_oldest_undelivered_seconds 0"),
        "{text}"
    );
}

/// A sweep queues a webhook per erased subject, more than one poll's batch (32): the outbox
/// drains them in one poll instead of one batch per poll.
async fn a_sweep_backlog_of_webhooks_drains_in_one_poll(db: Db) {
    const POLL_MS: u64 = 8_000;
    let Some(env) = start_polling(db, 0, POLL_MS).await else {
        return;
    };
    let subjects = 40;
    for i in 0..subjects {
        checkout(&env, &format!("drain.{i}@mail.ru")).await;
    }
    // Six years on, past the payment hold too: every subject goes whole.
    let at = (pdgate::now_millis() + 6 * 366 * 24 * 3600 * 1000).to_string();
    let done = retention(&env.gw, &["--now", &at]);
    assert_eq!(done["subjects_erased"], subjects, "{done}");
    let deadline = Instant::now() + Duration::from_millis(3 * POLL_MS);
    while env.hook.got.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no webhook delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The rest arrive well before the next poll would take a second batch.
    let first = Instant::now();
    while env.hook.got.lock().unwrap().len() < subjects {
        let got = env.hook.got.lock().unwrap().len();
        assert!(
            first.elapsed() < Duration::from_millis(POLL_MS * 3 / 4),
            "{got} of {subjects} webhooks delivered; the rest wait for later polls"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (headers, body) = env.hook.got.lock().unwrap()[subjects - 1].clone();
    assert_signed(&headers, &body);
}

/// Retention with an injected clock: contact-form data goes after its year, checkout data
/// after three, the held payment digits stay restricted until the hold ends.
async fn retention_sweep(db: Db) {
    let Some(env) = start(db, 0).await else {
        return;
    };
    let gw = &env.gw;
    let shop = checkout(&env, EMAIL).await;
    let crm = token(gw, "service", Some("crm"));
    let r = post(
        &gw.url("/contact"),
        "application/x-www-form-urlencoded",
        "email=vera.planted%40mail.ru&name=Vera&message=hi&agree=on",
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let got = env.up.requests().pop().unwrap();
    let contact_token = form_urlencoded::parse(&got.body)
        .find(|(k, _)| k == "email")
        .unwrap()
        .1
        .into_owned();
    let now = pdgate::now_millis();
    let day = 24 * 3600 * 1000i64;

    // Today nothing goes.
    let rep = retention(gw, &["--dry-run"]);
    assert_eq!(rep["values_erased"], 0, "{rep}");
    // In 13 months the enquiry (P1Y from collection) would go; a dry run changes nothing.
    let at = (now + 400 * day).to_string();
    let dry = retention(gw, &["--dry-run", "--now", &at]);
    assert_eq!(dry["subjects_erased"], 1, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        outcomes(&detokenize(gw, &crm, "enquiries", &[&contact_token]).await),
        ["vera.planted@mail.ru"]
    );
    let done = retention(gw, &["--now", &at]);
    assert_eq!(done["subjects_erased"], 1, "{done}");
    assert_eq!(
        outcomes(&detokenize(gw, &crm, "enquiries", &[&contact_token]).await),
        ["erased"]
    );
    assert_eq!(
        outcomes(&detokenize(gw, &crm, "order_fulfilment", &[&shop.email]).await),
        [EMAIL]
    );

    // After three years the order data goes, the payment digits stay held (402-FZ, 5 years)…
    let at = (now + 3 * 366 * day).to_string();
    let done = retention(gw, &["--now", &at]);
    assert_eq!(done["subjects_restricted"], 1, "{done}");
    assert_eq!(
        outcomes(&detokenize(gw, &crm, "order_fulfilment", &[&shop.email, &shop.card]).await),
        ["erased", "restricted"]
    );
    // An auditor reads the sweep's act: the subject, what went, what the hold keeps and why.
    let auditor = token(gw, "auditor", None);
    let sweep = done["sweep_id"].as_str().unwrap();
    let sweeps = authed("GET", &gw.admin_url("/admin/v1/sweeps"), &auditor, "").await;
    assert_eq!(sweeps.status, 200);
    let listed = sweeps.json();
    assert_eq!(listed["sweeps"][0]["id"], sweep, "newest first: {listed}");
    assert_eq!(listed["sweeps"][0]["subjects_restricted"], 1);
    assert_eq!(listed["sweeps"][0]["status"], "finished", "{listed}");
    assert!(listed["sweeps"][0]["finished_at"].is_string(), "{listed}");
    assert_eq!(listed["next"], serde_json::Value::Null, "{listed}");
    // Paged: one sweep at a time, newest first, the cursor naming the last one listed.
    let older = listed["sweeps"][1]["id"].as_str().unwrap();
    let first = authed(
        "GET",
        &gw.admin_url("/admin/v1/sweeps?limit=1"),
        &auditor,
        "",
    )
    .await;
    let first = first.json();
    assert_eq!(first["sweeps"].as_array().unwrap().len(), 1);
    assert_eq!(first["next"], sweep, "{first}");
    let url = gw.admin_url(&format!("/admin/v1/sweeps?limit=1&after={sweep}"));
    let second = authed("GET", &url, &auditor, "").await.json();
    assert_eq!(second["sweeps"][0]["id"], older, "{second}");
    let url = gw.admin_url(&format!("/admin/v1/sweeps/{sweep}/acts"));
    let page = authed("GET", &url, &auditor, "").await;
    assert_eq!(page.status, 200, "{}", String::from_utf8_lossy(&page.body));
    let page = page.json();
    assert_eq!(page["next"], serde_json::Value::Null);
    let act = &page["acts"][0];
    assert_eq!(act["reference"], format!("sweep:{sweep}"));
    assert_eq!(act["destroyed_by"], "pdgate retention sweeper");
    // The sweeper is nobody: the act names the policy's responsible person.
    assert_eq!(act["destroyer"]["name"], "И. Иванов", "{act}");
    // Printed for an inspector: in Russian (the policy declares 152-FZ), or in English.
    let html = |q: &str| {
        let url = gw.admin_url(&format!("/admin/v1/sweeps/{sweep}/acts?{q}"));
        let auditor = auditor.clone();
        async move { authed("GET", &url, &auditor, "").await }
    };
    let ru = html("format=html").await;
    assert_eq!(
        ru.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    let ru = String::from_utf8(ru.body.to_vec()).unwrap();
    for part in [
        "приказ Роскомнадзора № 179",
        "402-FZ art. 29",
        "И. Иванов",
        "Дата уничтожения",
    ] {
        assert!(ru.contains(part), "{part}: {ru}");
    }
    let en = String::from_utf8(html("format=html&lang=en").await.body.to_vec()).unwrap();
    assert!(
        en.contains("Destruction act (Roskomnadzor order No. 179)"),
        "{en}"
    );
    assert_eq!(html("format=pdf").await.code(), "invalid_format");
    assert_eq!(html("format=html&lang=de").await.code(), "invalid_lang");
    assert_eq!(act["subjects"][0]["pseudonym"], shop.subject.as_str());
    assert_eq!(act["held"][0]["category"], "payment");
    assert_eq!(act["held"][0]["basis"], "402-FZ art. 29");
    assert_eq!(
        act["log_extract"][0]["entry"]["event"]["act_id"],
        act["act_id"]
    );
    for (path, status, code) in [
        ("/admin/v1/sweeps/swp_none/acts", 404, "sweep_not_found"),
        ("/admin/v1/sweeps?limit=501", 400, "invalid_limit"),
        (
            &format!("/admin/v1/sweeps/{sweep}/acts?limit=0"),
            400,
            "invalid_limit",
        ),
    ] {
        let r = authed("GET", &gw.admin_url(path), &auditor, "").await;
        assert_eq!(r.status, status, "{path}");
        assert_eq!(r.json()["error"]["code"], code);
    }
    // …and go when the hold ends.
    let at = (now + 5 * 366 * day).to_string();
    let done = retention(gw, &["--now", &at]);
    assert_eq!(done["subjects_erased"], 1, "{done}");
    assert_eq!(
        outcomes(&detokenize(gw, &crm, "order_fulfilment", &[&shop.card]).await),
        ["erased"]
    );
    let audit = authed(
        "GET",
        &gw.admin_url("/admin/v1/audit"),
        &token(gw, "auditor", None),
        "",
    )
    .await;
    let text = String::from_utf8(audit.body.to_vec()).unwrap();
    assert!(text.contains("\"type\":\"retention_sweep\"") && text.contains("\"reason\":\"sweep:"));
}

/// Two sweepers on one PostgreSQL database: while one holds the lock the other does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    pdgate_no_test_db,
    ignore = "PDGATE_TEST_DATABASE_URL was not set at build time"
)]
async fn one_sweeper_at_a_time_on_postgres() {
    let Some(env) = start(Db::Postgres, 0).await else {
        return;
    };
    let store = pdgate::store::Store::open(&env.gw.database_url)
        .await
        .unwrap();
    let held = store.leader("retention-sweeper").await.unwrap();
    assert!(held.is_some());
    let rep = retention(&env.gw, &[]);
    assert_eq!(rep["leader"], false, "{rep}");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rep = retention(&env.gw, &[]);
    assert_eq!(rep["leader"], true, "{rep}");
}

/// A withdrawal through self-service reaches the upstreams the subject came through, like one
/// the DPO registers: a signed `consent_withdrawn` webhook naming the receipt, no request.
async fn a_self_service_withdrawal_reaches_the_upstreams(db: Db) {
    let Some(env) = start(db, 0).await else {
        return;
    };
    let body = serde_json::json!({
        "email": "self@mail.ru", "phone": PHONE, "name": "Засадный Павел", "address": "Тверь",
        "card_last4": CARD, "items": [], "total": 10, "subscribe": "on"
    });
    let resp = post(&env.gw.url("/api/checkout"), JSON, body.to_string()).await;
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let token = resp.header("x-pdgate-subject-token").unwrap();
    let subject = env.up.requests().pop().unwrap().header("x-pdgate-subject");
    let url = env
        .gw
        .url("/.well-known/pdgate/v1/consents/marketing/withdraw");
    let w = authed("POST", &url, &token, "").await;
    assert_eq!(w.status, 200, "{}", String::from_utf8_lossy(&w.body));
    let receipt = w.json()["receipt_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    while env.hook.got.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "webhook not delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (headers, body) = env.hook.got.lock().unwrap()[0].clone();
    assert_signed(&headers, &body);
    let p: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (p["event"].as_str(), p["reference"].as_str()),
        (Some("consent_withdrawn"), Some(receipt.as_str()))
    );
    assert_eq!(p["purposes"], serde_json::json!(["marketing"]));
    assert_eq!(p["subject"].as_str(), subject.as_deref());
    withdrawals_start_destruction_clocks(&env, subject.as_deref().unwrap()).await;
}

/// 152-FZ Art. 21(5): each withdrawal starts a thirty-day clock, listed for the DPO. The
/// customer's is met at once (the contract still covers every value); a newsletter subscriber's
/// runs until the sweeper destroys what only marketing covered, and the subject drops off.
async fn withdrawals_start_destruction_clocks(env: &Env, customer: &str) {
    let gw = &env.gw;
    let r = post(
        &gw.url("/newsletter/subscribe"),
        "application/x-www-form-urlencoded",
        "email=news.reader%40mail.ru&name=Vera&consent=on",
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let subject_token = r.header("x-pdgate-subject-token").unwrap();
    let reader = env
        .up
        .requests()
        .pop()
        .unwrap()
        .header("x-pdgate-subject")
        .unwrap();
    let url = gw.url("/.well-known/pdgate/v1/consents/marketing/withdraw");
    assert_eq!(authed("POST", &url, &subject_token, "").await.status, 200);
    let auditor = token(gw, "auditor", None);
    let list = || async {
        let r = authed("GET", &gw.admin_url("/admin/v1/withdrawals"), &auditor, "").await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    };
    let clocks = list().await;
    let of = |j: &serde_json::Value, who: &str| {
        j["clocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["subject"] == who)
            .cloned()
    };
    let c = of(&clocks, &reader).expect("the reader's clock");
    assert_eq!(
        (c["state"].as_str(), c["values_left"].as_u64()),
        (Some("running"), Some(2)),
        "{clocks}"
    );
    assert_eq!(c["purpose"], "marketing");
    assert!(
        c["due_local"].as_str().unwrap().contains("Europe/Moscow"),
        "{c}"
    );
    let c = of(&clocks, customer).expect("the customer's clock");
    assert_eq!(
        (c["state"].as_str(), c["values_left"].as_u64()),
        (Some("met"), Some(0)),
        "{c}"
    );
    // The sweeper meets the reader's clock: nothing of the reader is left.
    let done = retention(gw, &[]);
    assert_eq!(done["subjects_erased"], 1, "{done}");
    let clocks = list().await;
    assert!(of(&clocks, &reader).is_none(), "{clocks}");
    assert!(of(&clocks, customer).is_some(), "{clocks}");
}

/// Erasure under a legal hold when the held category went to the CRM `encrypt`ed (an invoice
/// line in the CRM): its envelope stays readable to pdgate, restricted, and the access report
/// shows it decrypted; every other category's envelope is shredded at once; when the hold
/// ends the sweeper shreds the rest. Before per-category keys, the one subject key went and the
/// held invoice with it, and the report said nothing was held.
async fn held_envelopes_survive_erasure(db: Db) {
    let Some(env) = start_with(db, 0, 200, "encrypt").await else {
        return;
    };
    let gw = &env.gw;
    let crm = token(gw, "service", Some("crm"));
    // The DPO signs in through the identity provider, whose token names the person.
    let dpo = named(&token(gw, "dpo", None), "Анна Смирнова", "DPO");
    let shop = checkout(&env, EMAIL).await;
    assert!(shop.card.starts_with("pdg2."), "{}", shop.card);
    let r = post(
        &gw.url("/api/checkout"),
        JSON,
        serde_json::json!({"email": EMAIL, "name": "Засадный Павел", "card_last4": CARD, "items": [], "total": 1})
            .to_string(),
    )
    .await;
    assert_eq!(r.status, 200);
    let body: serde_json::Value =
        serde_json::from_slice(&env.up.requests().pop().unwrap().body).unwrap();
    let name = body["name"].as_str().unwrap().to_owned();
    let both = [name.as_str(), shop.card.as_str(), shop.email.as_str()];
    assert_eq!(
        outcomes(&detokenize(gw, &crm, "order_fulfilment", &both).await),
        ["Засадный Павел", CARD, EMAIL]
    );

    let name = envelope_rectified(&env, &dpo, &crm, &name).await;
    let er = create(gw, &dpo, "erasure", EMAIL).await;
    let r = fulfil(gw, &dpo, er["id"].as_str().unwrap(), "").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["result"]["subjects_held"], 1, "{}", r.json());
    // The name is gone (its copy left the vault); the held card is there, blocked.
    assert_eq!(
        outcomes(&detokenize(gw, &crm, "order_fulfilment", &both).await),
        ["erased", "restricted", "erased"]
    );
    // Under the blocking, only the held category's key is left: the name's envelope in the CRM
    // can no longer be opened by anyone, the invoice digits can.
    let (store, keys) = gw.vault().await;
    let name_env = pdgate::intake::Envelope::parse(&name).unwrap();
    let card_env = pdgate::intake::Envelope::parse(&shop.card).unwrap();
    let row = pdgate::store::Backend::subject(&store, &name_env.subject)
        .await
        .unwrap()
        .unwrap();
    assert!(row.wrapped_dek.is_empty(), "the data key is shredded");
    let held = pdgate::store::Rights::key_states(&store, &[&name_env.subject[..]])
        .await
        .unwrap();
    let sk = pdgate::crypto::SubjectKeys::unwrap(&keys, &row.id, &row.wrapped_dek, &held[0].held)
        .unwrap();
    assert!(sk.open(name_env.binding(), &name_env.sealed).is_err());
    assert_eq!(
        sk.open(card_env.binding(), &card_env.sealed)
            .unwrap()
            .as_slice(),
        CARD.as_bytes()
    );
    store.close().await;
    let url = gw.admin_url(&format!(
        "/admin/v1/requests/{}/report",
        er["id"].as_str().unwrap()
    ));
    let act = authed("GET", &url, &dpo, "").await.json()["destruction_act"].clone();
    assert_eq!(act["held"][0]["category"], "payment", "{act}");
    assert_eq!(act["held"][0]["basis"], "402-FZ art. 29");
    let key = act["held"][0]["key"].as_str().unwrap();
    assert!(key.starts_with("the category's own key"), "{key}");
    let method = act["method"].as_str().unwrap();
    assert!(
        method.contains("except the categories under a legal hold"),
        "{method}"
    );
    // Order No. 179: who destroyed it, by name and position; when, on the operator's clock.
    assert_eq!(act["destroyer"]["name"], "Анна Смирнова", "{act}");
    assert_eq!(act["destroyer"]["position"], "DPO");
    let local = act["destroyed_local"].as_str().unwrap();
    assert!(local.contains("(Europe/Moscow, UTC+03:00)"), "{local}");
    assert!(
        act["held"][0]["until_local"]
            .as_str()
            .unwrap()
            .contains("Europe/Moscow"),
        "{act}"
    );
    // The act as a Roskomnadzor inspector reads it: in Russian, laid out as order No. 179 asks.
    let page = authed("GET", &format!("{url}?format=html"), &dpo, "").await;
    let page = String::from_utf8(page.body.to_vec()).unwrap();
    for part in [
        "Акт об уничтожении персональных данных (приказ Роскомнадзора № 179)",
        "Анна Смирнова",
        "402-FZ art. 29",
        "криптографическое уничтожение, кроме категорий",
    ] {
        assert!(page.contains(part), "{part}: {page}");
    }

    // The subject asks what is left: the held invoice digits, decrypted, restricted.
    let a = create(gw, &dpo, "access", EMAIL).await;
    let id = a["id"].as_str().unwrap();
    assert_eq!(fulfil(gw, &dpo, id, "").await.status, 200);
    let url = gw.admin_url(&format!("/admin/v1/requests/{id}/report"));
    let rep = authed("GET", &url, &dpo, "").await.json();
    let data = rep["subjects"][0]["data"].as_array().unwrap();
    let held: Vec<(&str, &str, &str)> = data
        .iter()
        .map(|d| {
            (
                d["category"].as_str().unwrap(),
                d["action"].as_str().unwrap(),
                d["value"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        held,
        [("payment", "encrypt", CARD), ("payment", "encrypt", CARD)],
        "{rep}"
    );
    assert!(data[0]["legal_hold_until"].is_string(), "{rep}");
    assert_eq!(rep["subjects"][0]["restricted"], true);
    // A held value can still be corrected (GDPR Art. 16): re-sealed under the held key.
    let rc = create(gw, &dpo, "rectification", EMAIL).await;
    let body = serde_json::json!({"corrections": [{"token": shop.card, "value": "9999"}]});
    let r = fulfil(gw, &dpo, rc["id"].as_str().unwrap(), &body.to_string()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let a = create(gw, &dpo, "access", EMAIL).await;
    let id = a["id"].as_str().unwrap();
    assert_eq!(fulfil(gw, &dpo, id, "").await.status, 200);
    let url = gw.admin_url(&format!("/admin/v1/requests/{id}/report"));
    let rep = authed("GET", &url, &dpo, "").await.json();
    let values: Vec<&str> = rep["subjects"][0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["value"].as_str().unwrap_or("-"))
        .collect();
    assert!(values.contains(&"9999") && values.contains(&CARD), "{rep}");

    // Six years on the 402-FZ hold (five) is over: the sweeper shreds the held key too.
    let at = (pdgate::now_millis() + 6 * 366 * 24 * 3600 * 1000).to_string();
    let done = retention(gw, &["--now", &at]);
    assert_eq!(done["subjects_erased"], 1, "{done}");
    assert_eq!(
        outcomes(&detokenize(gw, &crm, "order_fulfilment", &[&shop.card]).await),
        ["erased"]
    );
}

/// Rectification reaches an `encrypt`ed value: the vault's copy is re-sealed with the correction,
/// and the upstream gets the envelope that replaces its own in a signed webhook. Returns it.
async fn envelope_rectified(env: &Env, dpo: &str, crm: &str, old: &str) -> String {
    let gw = &env.gw;
    let rc = create(gw, dpo, "rectification", EMAIL).await;
    let body = serde_json::json!({"corrections": [{"token": old, "value": "Засадный Пётр"}]});
    let r = fulfil(gw, dpo, rc["id"].as_str().unwrap(), &body.to_string()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let deadline = Instant::now() + Duration::from_secs(20);
    let payload = loop {
        let got = env.hook.got.lock().unwrap().clone();
        let found = got.iter().find_map(|(headers, body)| {
            let p: serde_json::Value = serde_json::from_slice(body).ok()?;
            (p["event"] == "rectification").then(|| {
                assert_signed(headers, body);
                p
            })
        });
        if let Some(p) = found {
            break p;
        }
        assert!(Instant::now() < deadline, "no rectification webhook");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(payload["envelopes"][0]["old"], old, "{payload}");
    let new = payload["envelopes"][0]["new"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    // The old envelope no longer stands for a value: the CRM must not read the old name.
    assert_eq!(
        outcomes(&detokenize(gw, crm, "order_fulfilment", &[&new, old]).await),
        ["Засадный Пётр", "erased"]
    );
    new
}

/// `token` re-signed with the person's `name` and `position` claims added.
fn named(token: &str, name: &str, position: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let raw = data_encoding::BASE64URL_NOPAD
        .decode(payload.as_bytes())
        .unwrap();
    let mut claims: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    claims["name"] = name.into();
    claims["position"] = position.into();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

both_backends! {
    held_envelopes_survive_erasure => held_envelopes_survive_erasure;
    self_service_withdrawal_webhook => a_self_service_withdrawal_reaches_the_upstreams;
    requests_lifecycle => requests_lifecycle;
    webhook_retries_survive_restart => webhook_retries_survive_restart;
    retention_sweep => retention_sweep;
    webhook_backlog => a_sweep_backlog_of_webhooks_drains_in_one_poll;
}
