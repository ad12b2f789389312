//! End-to-end tests of issue 3: consent ledger and self-service, detokenize with every denial,
//! service/admin JWTs and their attacks, and the verifiable audit log — the real binary over real
//! sockets, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use pdgate::store::{Backend, Rights};
use pdgate_testkit::{
    authed, detokenize, get, outcomes, post, send, token, Db, Gateway, Opts, Upstream,
};

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";
const EMAIL: &str = "olga.planted@mail.ru";
const PHONE: &str = "+7 916 555-03-03";
const NAME: &str = "Засадная Ольга";
const ADDRESS: &str = "Тверь, ул. Секретная, 9";
const SECRET: &str = "test-secret-0123456789abcdef-0123456789";

struct Env {
    up: Upstream,
    gw: Gateway,
    _secret: tempfile::TempDir,
}

fn secret_config(dir: &Path, extra: &str) -> String {
    let p = dir.join("jwt.secret");
    std::fs::write(&p, SECRET).unwrap();
    format!(
        "[admin]\njwt_secret_file = \"{}\"\n{extra}[audit]\ncheckpoint_interval_s = 1\n",
        p.display()
    )
}

async fn start_with(
    db: Db,
    admin_extra: &str,
    edit: impl Fn(&str, &str) -> String + Send + 'static,
) -> Option<Env> {
    let up = Upstream::start(Duration::ZERO).await;
    let secret = tempfile::tempdir().unwrap();
    let mut opts = Opts::new(db);
    opts.extra_config = secret_config(secret.path(), admin_extra);
    opts.policy_edit = Box::new(edit);
    let gw = Gateway::start(opts, &up.url()).await?;
    Some(Env {
        up,
        gw,
        _secret: secret,
    })
}

async fn start(db: Db) -> Option<Env> {
    start_with(db, "", |_, t| t.to_owned()).await
}

struct Checkout {
    email: String,
    phone: String,
    name: String,
    address: String,
    comment_token: String,
    subject: String,
    subject_token: Option<String>,
    receipt: Option<String>,
}

async fn checkout(env: &Env, email: &str, subscribe: bool) -> Checkout {
    let body = serde_json::json!({
        "email": email, "phone": PHONE, "name": NAME, "address": ADDRESS,
        "comment": "звоните 8 916 555-04-04", "items": [], "total": 10,
        "subscribe": if subscribe { "on" } else { "" }
    });
    let resp = post(&env.gw.url("/api/checkout"), JSON, body.to_string()).await;
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let got = env.up.requests().pop().unwrap();
    let j: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    let comment = j["comment"].as_str().unwrap();
    Checkout {
        email: j["email"].as_str().unwrap().into(),
        phone: j["phone"].as_str().unwrap().into(),
        name: j["name"].as_str().unwrap().into(),
        address: j["address"].as_str().unwrap().into(),
        comment_token: comment.split_whitespace().last().unwrap().into(),
        subject: got.header("x-pdgate-subject").unwrap(),
        subject_token: resp.header("x-pdgate-subject-token"),
        receipt: resp.header("x-pdgate-receipt"),
    }
}

/// Consent from grant to withdrawal, in five steps: listed as granted, the receipt and its exact
/// text, bad tokens change nothing, withdrawn in one call (by the intake's token, then by a link for
/// the person), and the ledger keeps every grant and withdrawal.
async fn consent_lifecycle(db: Db) {
    let Some(env) = start(db).await else { return };
    // Two orders, two marketing receipts of one subject: a withdrawal must end both.
    let first = checkout(&env, EMAIL, true).await;
    let c = checkout(&env, EMAIL, true).await;
    assert_eq!(first.subject, c.subject);
    assert_ne!(first.receipt, c.receipt);
    let subject_token = c.subject_token.clone().unwrap();
    let crm = token(&env.gw, "service", Some("crm"));
    granted_and_listed(&env.gw, &c, &crm).await;
    the_receipt_and_its_exact_text(&env.gw, &c).await;
    bad_tokens_change_nothing(&env.gw, &subject_token).await;
    withdrawn_in_one_call(&env.gw, [&first, &c], &crm).await;
    the_ledger_is_append_only(&env.gw, &c).await;
}

async fn granted_and_listed(gw: &Gateway, c: &Checkout, crm: &str) {
    let subject_token = c.subject_token.clone().unwrap();
    // Given: listed as granted, and the CRM may read the e-mail for marketing.
    let list = self_service(gw, "GET", "consents", &subject_token).await;
    assert_eq!(list.status, 200, "{}", String::from_utf8_lossy(&list.body));
    let j = list.json();
    assert_eq!(j["subject"], c.subject.as_str());
    let marketing = &j["consents"][0];
    assert_eq!(marketing["purpose"], "marketing");
    assert_eq!(marketing["state"], "granted");
    assert_eq!(marketing["text_id"], "consents/marketing.md");
    assert_eq!(marketing["text_version"], 2);
    assert_eq!(marketing["receipt_id"], c.receipt.clone().unwrap().as_str());
    assert_eq!(
        outcomes(&detokenize(gw, crm, "marketing", &[&c.email]).await),
        [EMAIL]
    );
}

async fn the_receipt_and_its_exact_text(gw: &Gateway, c: &Checkout) {
    // The receipt: Kantara CR 1.1 fields, and the exact text it points to.
    let receipt = get(&gw.url(&format!(
        "/.well-known/pdgate/v1/receipts/{}",
        c.receipt.clone().unwrap()
    )))
    .await;
    assert_eq!(receipt.status, 200);
    let r = receipt.json();
    for key in [
        "version",
        "jurisdiction",
        "consentTimestamp",
        "collectionMethod",
        "consentReceiptID",
        "language",
        "piiPrincipalId",
        "piiControllers",
        "policyUrl",
        "services",
        "sensitive",
        "spiCat",
    ] {
        assert!(!r[key].is_null(), "receipt lacks {key}: {r}");
    }
    assert_eq!(r["piiPrincipalId"], c.subject.as_str());
    assert_eq!(r["piiControllers"][0]["piiController"], "ООО «Ромашка»");
    let p = &r["services"][0]["purposes"][0];
    for key in [
        "purpose",
        "purposeCategory",
        "consentType",
        "piiCategory",
        "termination",
        "thirdPartyDisclosure",
    ] {
        assert!(!p[key].is_null(), "purpose lacks {key}: {p}");
    }
    assert_eq!(r["state"], "granted");
    let text_path = r["consentText"]["url"]
        .as_str()
        .unwrap()
        .split_once("/.well-known")
        .unwrap()
        .1
        .to_owned();
    let text = get(&gw.url(&format!("/.well-known{text_path}"))).await;
    assert_eq!(text.status, 200);
    let file = std::fs::read(gw.dir.join("policies/consents/marketing.md")).unwrap();
    assert_eq!(text.body.as_ref(), file.as_slice(), "the exact text shown");
    // The id is a path: typed as it reads, unencoded, it names the same text.
    let plain = get(&gw.url("/.well-known/pdgate/v1/texts/consents/marketing.md")).await;
    assert_eq!(
        plain.status,
        200,
        "{}",
        String::from_utf8_lossy(&plain.body)
    );
    assert_eq!(plain.body, text.body);
    assert_eq!(
        text.header("x-pdgate-text-sha256").unwrap(),
        r["consentText"]["sha256"].as_str().unwrap()
    );
}

async fn bad_tokens_change_nothing(gw: &Gateway, subject_token: &str) {
    // No or bad token: 401, nothing changes.
    let none = get(&gw.url("/.well-known/pdgate/v1/consents")).await;
    assert_eq!(
        (none.status.as_u16(), none.code().as_str()),
        (401, "unauthorized")
    );
    let mut forged = subject_token.to_owned();
    forged.pop();
    let bad = self_service(gw, "POST", "consents/marketing/withdraw", &forged).await;
    assert_eq!(bad.status, 401);
    let admin_token = token(gw, "admin", None);
    let wrong_kind = self_service(gw, "GET", "consents", &admin_token).await;
    assert_eq!(
        wrong_kind.status, 401,
        "an admin token is not a subject token"
    );
}

async fn withdrawn_in_one_call(gw: &Gateway, [first, c]: [&Checkout; 2], crm: &str) {
    let subject_token = c.subject_token.clone().unwrap();
    // Withdrawn in one call: detokenize for marketing stops at once; the contract purpose stays.
    // The intake's token ends what that intake recorded, not the other order's receipt.
    let w = self_service(gw, "POST", "consents/marketing/withdraw", &subject_token).await;
    assert_eq!(w.status, 200, "{}", String::from_utf8_lossy(&w.body));
    assert_eq!(w.json()["state"], "withdrawn");
    assert_eq!(
        outcomes(&detokenize(gw, crm, "marketing", &[&c.email]).await),
        ["consent_withdrawn"]
    );
    assert_eq!(
        outcomes(&detokenize(gw, crm, "order_fulfilment", &[&c.email]).await),
        [EMAIL]
    );
    let j = self_service(gw, "GET", "consents", &subject_token)
        .await
        .json();
    assert_eq!(j["consents"][0]["state"], "withdrawn");
    assert!(j["consents"][0]["withdrawn_at"].is_string());
    let receipt_state = |id: Option<String>| async move {
        get(&gw.url(&format!("/.well-known/pdgate/v1/receipts/{}", id.unwrap())))
            .await
            .json()
    };
    assert_eq!(
        receipt_state(first.receipt.clone()).await["state"],
        "granted"
    );
    // A link the operator sent opens every consent of the person: withdrawing ends the rest.
    let dpo = token(gw, "dpo", None);
    let link = authed(
        "POST",
        &gw.admin_url("/admin/v1/subjects/links"),
        &dpo,
        serde_json::json!({"subject": {"email": EMAIL}}).to_string(),
    )
    .await;
    assert_eq!(link.status, 201, "{}", String::from_utf8_lossy(&link.body));
    let link_token = link.json()["token"].as_str().unwrap().to_owned();
    let w = self_service(gw, "POST", "consents/marketing/withdraw", &link_token).await;
    assert_eq!(w.status, 200, "{}", String::from_utf8_lossy(&w.body));
    for receipt in [&first.receipt, &c.receipt] {
        let r = receipt_state(receipt.clone()).await;
        assert_eq!(r["state"], "withdrawn", "{r}");
        assert_eq!(r["withdrawalChannel"], "self_service");
    }
}

async fn the_ledger_is_append_only(gw: &Gateway, c: &Checkout) {
    let subject_token = c.subject_token.clone().unwrap();
    // The ledger is append-only: grants and withdrawals are all there.
    let (store, _) = gw.vault().await;
    let id = pdgate::intake::subject_id_of(&c.subject).unwrap();
    let records = store.consents_of(&id).await.unwrap();
    let states: Vec<&str> = records.iter().map(|r| r.state.as_str()).collect();
    assert_eq!(states, ["granted", "granted", "withdrawn", "withdrawn"]);
    assert_eq!(records[0].text_sha256, records[2].text_sha256);
    let unknown = self_service(gw, "POST", "consents/enquiries/withdraw", &subject_token).await;
    assert_eq!(
        (unknown.status.as_u16(), unknown.code().as_str()),
        (404, "no_consent")
    );
}

/// A subject token is a key to what its bearer did, not to a person: typing someone's e-mail into
/// a consent form yields a token for that form's consents only. The person's full self-service is
/// a link the operator mints, which expires, is revoked, and whose every use is audited.
async fn subject_tokens_open_their_intake_and_links_the_person(db: Db) {
    let Some(env) = start(db).await else { return };
    let gw = &env.gw;
    let victim = checkout(&env, EMAIL, true).await;
    let forger = checkout(&env, EMAIL, true).await;
    assert_eq!(victim.subject, forger.subject);
    let forged_token = forger.subject_token.clone().unwrap();
    let consents = |token: String| async move {
        let r = self_service(gw, "GET", "consents", &token).await;
        (r.status.as_u16(), r.json())
    };
    let (code, j) = consents(forged_token.clone()).await;
    assert_eq!(code, 200);
    assert!(
        !j.to_string().contains(victim.receipt.as_deref().unwrap()),
        "{j}"
    );
    assert_eq!(
        j["consents"][0]["receipt_id"],
        forger.receipt.as_deref().unwrap()
    );
    let w = self_service(gw, "POST", "consents/marketing/withdraw", &forged_token).await;
    assert_eq!(w.status, 200);
    let receipt = |id: String| async move {
        get(&gw.url(&format!("/.well-known/pdgate/v1/receipts/{id}")))
            .await
            .json()["state"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(receipt(forger.receipt.clone().unwrap()).await, "withdrawn");
    assert_eq!(
        receipt(victim.receipt.clone().unwrap()).await,
        "granted",
        "not the forger's to end"
    );

    // The operator mints a link (service or DPO); unknown people and too long lives are refused.
    let crm = token(gw, "service", Some("crm"));
    let mint = |body: serde_json::Value| {
        let crm = crm.clone();
        async move {
            authed(
                "POST",
                &gw.admin_url("/admin/v1/subjects/links"),
                &crm,
                body.to_string(),
            )
            .await
        }
    };
    let r = mint(serde_json::json!({"subject": {"email": "nobody@mail.ru"}})).await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (404, "subject_not_found")
    );
    let r = mint(serde_json::json!({"subject": {"email": EMAIL}, "ttl_s": 400 * 86_400})).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (400, "invalid_ttl"));
    let r = mint(serde_json::json!({"subject": {"email": EMAIL}})).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let link = r.json();
    let (link_id, link_token) = (
        link["id"].as_str().unwrap(),
        link["token"].as_str().unwrap().to_owned(),
    );
    assert!(link["manage_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/manage#token={link_token}")));
    assert_eq!(link["subject"], victim.subject.as_str());
    // The page it opens: same-origin script only, no Referer, never cached.
    let page = get(&gw.url("/.well-known/pdgate/v1/manage")).await;
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("script-src 'self'"));
    assert_eq!(
        page.header("referrer-policy").as_deref(),
        Some("no-referrer")
    );
    // With the link: every consent of the person; withdrawing ends the victim's receipt too.
    let (code, j) = consents(link_token.clone()).await;
    assert_eq!(
        (code, j["subject"].as_str()),
        (200, Some(victim.subject.as_str()))
    );
    let w = self_service(gw, "POST", "consents/marketing/withdraw", &link_token).await;
    assert_eq!(w.status, 200);
    assert_eq!(receipt(victim.receipt.clone().unwrap()).await, "withdrawn");
    // It is no admin token, and a revoked link opens nothing.
    let r = authed(
        "GET",
        &gw.admin_url(&format!("/admin/v1/subjects/links/{link_id}")),
        &link_token,
        "",
    )
    .await;
    assert_eq!(r.status, 401);
    let dpo = token(gw, "dpo", None);
    let url = gw.admin_url(&format!("/admin/v1/subjects/links/{link_id}"));
    let r = authed("DELETE", &url, &dpo, "").await;
    assert_eq!(
        (r.status.as_u16(), r.json()["active"].as_bool()),
        (200, Some(false))
    );
    assert_eq!(authed("DELETE", &url, &dpo, "").await.status, 409);
    let r = self_service(gw, "GET", "consents", &link_token).await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (401, "link_revoked")
    );
    // Minting, each use and the revocation are in the audit log, with no identifier of the person.
    let (links, audit) = audited(gw, |k| k.starts_with("link_")).await;
    let kinds: Vec<&str> = links.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["link_minted", "link_used", "link_used", "link_revoked"]
    );
    assert!(!audit.contains(EMAIL) && !audit.contains(&link_token));
    assert!(!gw.log().contains(&link_token) && !gw.log().contains(&forged_token));
    // Erasing the subject deletes its links (the store's cascade, on both backends).
    let (store, _) = gw.vault().await;
    let live = mint(serde_json::json!({"subject": {"email": EMAIL}}))
        .await
        .json();
    let live_id = live["id"].as_str().unwrap();
    assert!(store.link(live_id).await.unwrap().is_some());
    let sid = pdgate::intake::subject_id_of(&victim.subject).unwrap();
    assert!(store
        .erase_subject(&sid, pdgate::now_millis())
        .await
        .unwrap());
    assert!(store.link(live_id).await.unwrap().is_none());
    assert!(store.link(link_id).await.unwrap().is_none());
}

async fn detokenize_grants_and_each_denial(db: Db) {
    let Some(env) = start(db).await else { return };
    let gw = &env.gw;
    let crm = token(gw, "service", Some("crm"));
    let with = checkout(&env, EMAIL, true).await;
    let without = checkout(&env, "no.consent@mail.ru", false).await;

    // Every kind of protected value comes back for a lawful purpose: tokenize, redact, encrypt.
    let all = [
        with.email.as_str(),
        with.phone.as_str(),
        with.comment_token.as_str(),
        with.name.as_str(),
        with.address.as_str(),
    ];
    let got = outcomes(&detokenize(gw, &crm, "order_fulfilment", &all).await);
    assert_eq!(got[0], EMAIL);
    assert_eq!(got[1], PHONE, "values come back as entered");
    assert_eq!(got[2], "8 916 555-04-04");
    assert_eq!(got[3], NAME);
    assert_eq!(got[4], ADDRESS);

    // Mask: the CRM gets the mask in the field and the token in X-Pdgate-Refs.
    let form = "email=masked%40mail.ru&phone=%2B79161234567&name=Anna&message=hi&agree=on";
    let r = post(&gw.url("/contact"), FORM, form).await;
    assert_eq!(r.status, 200);
    let refs = env
        .up
        .requests()
        .pop()
        .unwrap()
        .header("x-pdgate-refs")
        .unwrap();
    let mask_token = refs.strip_prefix("phone=").unwrap().to_owned();
    assert_eq!(
        outcomes(&detokenize(gw, &crm, "enquiries", &[&mask_token]).await),
        ["+79161234567"]
    );

    // service_not_declared: a service the policies do not declare for the purpose.
    let mailer = token(gw, "service", Some("mailer"));
    assert_eq!(
        outcomes(&detokenize(gw, &mailer, "marketing", &[&with.email]).await),
        ["service_not_declared"]
    );
    // category_not_in_purpose: the address is not a marketing category.
    assert_eq!(
        outcomes(&detokenize(gw, &crm, "marketing", &[&with.address]).await),
        ["category_not_in_purpose"]
    );
    // no_legal_basis: no consent to marketing was ever given by this subject.
    assert_eq!(
        outcomes(&detokenize(gw, &crm, "marketing", &[&without.email]).await),
        ["no_legal_basis"]
    );
    // unknown_token.
    assert_eq!(
        outcomes(&detokenize(gw, &crm, "marketing", &["tok_aaaaaaaaaaaaaaaaaaaaaaaaaa"]).await),
        ["unknown_token"]
    );
    // restricted, then lifted.
    let (store, _) = gw.vault().await;
    let sid = pdgate::intake::subject_id_of(&with.subject).unwrap();
    assert!(store
        .set_restricted(&sid, Some(pdgate::now_millis()))
        .await
        .unwrap());
    assert_eq!(
        outcomes(&detokenize(gw, &crm, "order_fulfilment", &[&with.email, &with.name]).await),
        ["restricted", "restricted"]
    );
    assert!(store.set_restricted(&sid, None).await.unwrap());
    assert_eq!(
        outcomes(&detokenize(gw, &crm, "order_fulfilment", &[&with.email]).await),
        [EMAIL]
    );
    // erased: vault tokens and envelopes alike.
    assert!(store
        .erase_subject(&sid, pdgate::now_millis())
        .await
        .unwrap());
    assert_eq!(
        outcomes(
            &detokenize(
                gw,
                &crm,
                "order_fulfilment",
                &[&with.email, &with.name, &with.comment_token]
            )
            .await
        ),
        ["erased", "erased", "erased"]
    );

    // Whole-call errors.
    let many: Vec<String> = (0..1001).map(|i| format!("tok_{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let r = detokenize(gw, &crm, "marketing", &many).await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (413, "too_many_tokens")
    );
    let r = detokenize(gw, &crm, "astrology", &[&without.email]).await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (422, "unknown_purpose")
    );
    let dpo = token(gw, "dpo", None);
    let r = detokenize(gw, &dpo, "marketing", &[&without.email]).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (403, "forbidden"));
    let r = post(&gw.admin_url("/v1/detokenize"), JSON, "{}").await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (401, "unauthorized")
    );
    let r = authed(
        "POST",
        &gw.admin_url("/v1/detokenize"),
        &crm,
        "{\"purpose\": 1}",
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (400, "malformed_body")
    );

    // Audited with counts and reasons, never values.
    let (det, audit) = audited(gw, |k| k == "detokenize").await;
    assert_eq!(det.len(), 9, "every answered call audited");
    assert!(det
        .iter()
        .any(|l| l["entry"]["event"]["denied"]["restricted"] == 2));
    for planted in [EMAIL, "5550303", NAME, ADDRESS, "555-04-04", "1234567"] {
        assert!(!audit.contains(planted), "audit holds {planted}");
        assert!(!gw.log().contains(planted), "log holds {planted}");
    }
}

async fn expired_by_retention(db: Db) {
    // order_fulfilment kept for two seconds only.
    let Some(env) = start_with(db, "", |name, t| {
        if name == "shop.yaml" {
            t.replace(
                "retention: {keep: P3Y, from: collected}",
                "retention: {keep: PT2S, from: collected}",
            )
        } else {
            t.to_owned()
        }
    })
    .await
    else {
        return;
    };
    let gw = &env.gw;
    let crm = token(gw, "service", Some("crm"));
    let c = checkout(&env, EMAIL, false).await;
    assert_eq!(
        outcomes(&detokenize(gw, &crm, "order_fulfilment", &[&c.email]).await),
        [EMAIL]
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        outcomes(&detokenize(gw, &crm, "order_fulfilment", &[&c.email]).await),
        ["expired"]
    );
}

/// A self-service call (`path` under `/.well-known/pdgate/v1/`) with a subject token.
async fn self_service(gw: &Gateway, method: &str, path: &str, token: &str) -> pdgate_testkit::Resp {
    authed(
        method,
        &gw.url(&format!("/.well-known/pdgate/v1/{path}")),
        token,
        "",
    )
    .await
}

/// The exported audit entries whose kind `keep` accepts, and the whole export (to search it).
async fn audited(gw: &Gateway, keep: impl Fn(&str) -> bool) -> (Vec<serde_json::Value>, String) {
    let audit = export(gw, "jsonl").await;
    let entries = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["kind"].as_str().is_some_and(&keep))
        .collect();
    (entries, audit)
}

async fn export(gw: &Gateway, format: &str) -> String {
    let auditor = token(gw, "auditor", None);
    let r = authed(
        "GET",
        &gw.admin_url(&format!("/admin/v1/audit?format={format}")),
        &auditor,
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    String::from_utf8(r.body.to_vec()).unwrap()
}

fn verify(file: &Path, key: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(pdgate_testkit::bin());
    cmd.args(["audit", "verify"]).arg(file);
    if let Some(k) = key {
        cmd.args(["--public-key", k]);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn audit_export_and_offline_verification(db: Db) {
    let Some(env) = start(db).await else { return };
    let gw = &env.gw;
    let crm = token(gw, "service", Some("crm"));
    for i in 0..3 {
        let c = checkout(&env, &format!("audit{i}@mail.ru"), i % 2 == 0).await;
        detokenize(gw, &crm, "order_fulfilment", &[&c.email]).await;
    }
    // Checkpoints are signed every second while entries come.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    checkout(&env, "late@mail.ru", false).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let auditor = token(gw, "auditor", None);
    let key = authed("GET", &gw.admin_url("/admin/v1/audit/key"), &auditor, "")
        .await
        .json();
    let key = key["public_key"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    for format in ["jsonl", "csv"] {
        let text = export(gw, format).await;
        let file = dir.path().join(format!("audit.{format}"));
        std::fs::write(&file, &text).unwrap();
        let (ok, out) = verify(&file, Some(&key));
        assert!(ok, "{out}");
        assert!(out.contains("intact"), "{out}");
        assert!(
            !out.contains("0 checkpoint(s)"),
            "checkpoints were written and verified: {out}"
        );
        for kind in [
            "chain_started",
            "intake",
            "consent_given",
            "detokenize",
            "checkpoint",
        ] {
            assert!(text.contains(kind), "{kind} missing from the export");
        }
        for planted in [PHONE, NAME, ADDRESS, "audit0@mail.ru"] {
            assert!(!text.contains(planted), "audit holds {planted}");
        }
        let (ok, out) = verify(&file, Some(&"ab".repeat(32)));
        assert!(!ok, "another pinned key must fail: {out}");
        tamper_checks(&text, format, dir.path(), &key);
    }

    // The CLI writes the same file (plus what happened since: the API export is its prefix).
    let api = export(gw, "jsonl").await;
    let out = dir.path().join("cli.jsonl");
    let status = Command::new(pdgate_testkit::bin())
        .args(["audit", "export", "--config"])
        .arg(&gw.config_path)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let cli = std::fs::read_to_string(&out).unwrap();
    assert!(
        cli.starts_with(api.trim_end_matches('\n').rsplit_once('\n').unwrap().0),
        "CLI export differs"
    );
    assert!(verify(&out, Some(&key)).0);
    // Time windows export a contiguous part of the chain that still verifies.
    let lines: Vec<serde_json::Value> = api
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mid = lines[lines.len() / 2]["at"].as_i64().unwrap();
    let window = authed(
        "GET",
        &gw.admin_url(&format!("/admin/v1/audit?since={mid}&format=jsonl")),
        &auditor,
        "",
    )
    .await;
    let wfile = dir.path().join("window.jsonl");
    std::fs::write(&wfile, &window.body).unwrap();
    let (ok, out) = verify(&wfile, Some(&key));
    assert!(ok, "{out}");

    // Roles: a service may not read the audit log; garbage parameters are 400.
    let r = authed("GET", &gw.admin_url("/admin/v1/audit"), &crm, "").await;
    assert_eq!(r.status, 403);
    let r = authed(
        "GET",
        &gw.admin_url("/admin/v1/audit?format=xml"),
        &auditor,
        "",
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (400, "bad_format"));
    let r = authed(
        "GET",
        &gw.admin_url("/admin/v1/audit?since=yesterday"),
        &auditor,
        "",
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (400, "bad_time"));
}

/// Edits, removals, reorders and insertions each fail verification, naming the line.
fn tamper_checks(text: &str, format: &str, dir: &Path, key: &str) {
    let header = usize::from(format == "csv");
    let lines: Vec<&str> = text.lines().collect();
    let body = &lines[header..];
    assert!(body.len() >= 6);
    let write = |name: &str, ls: Vec<&str>| -> PathBuf {
        let p = dir.join(format!("{name}.{format}"));
        let mut all: Vec<&str> = lines[..header].to_vec();
        all.extend(ls);
        std::fs::write(&p, all.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
        p
    };
    let target = 3; // the fourth entry
    let edited_line = body[target]
        .replacen("\"route\":\"checkout\"", "\"route\":\"contact\"", 1)
        .replacen(
            "\"\"route\"\":\"\"checkout\"\"",
            "\"\"route\"\":\"\"contact\"\"",
            1,
        );
    let edited_line = if edited_line == body[target] {
        body[target].replacen(":1", ":2", 1)
    } else {
        edited_line
    };
    let mut edited = body.to_vec();
    edited[target] = &edited_line;
    let mut removed = body.to_vec();
    removed.remove(target);
    let mut reordered = body.to_vec();
    reordered.swap(target, target + 1);
    let mut inserted = body.to_vec();
    inserted.insert(target, body[1]);
    for (name, ls) in [
        ("edited", edited),
        ("removed", removed),
        ("reordered", reordered),
        ("inserted", inserted),
    ] {
        let p = write(name, ls);
        let (ok, out) = verify(&p, Some(key));
        assert!(!ok, "{name} {format} must fail: {out}");
        let want = format!("line {}", target + 1 + header);
        assert!(
            out.contains(&want),
            "{name} {format}: expected {want}: {out}"
        );
    }
}

/// JWTs on the admin API with an ES256 and an RS256 key in a JWKS beside the HS256 secret, issuer
/// and audience required. In five steps: each key under its own algorithm only, a named holder, a
/// JWKS without issuer and audience refused at start, forged tokens, time and claims.
async fn jwt_attacks_are_refused(db: Db) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let point = key.public_key_raw();
    let rsa = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let (n, e) = rsa_public_numbers(rsa.public_key_raw());
    let jwks = serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
        "x": b64(&point[1..33]), "y": b64(&point[33..65])
    }, {
        "kty": "RSA", "kid": "r1", "use": "sig", "alg": "RS256", "n": b64(n), "e": b64(e)
    }]});
    let jwks_dir = tempfile::tempdir().unwrap();
    let jwks_path = jwks_dir.path().join("jwks.json");
    std::fs::write(&jwks_path, jwks.to_string()).unwrap();
    let extra = format!(
        "jwks_file = \"{}\"\nissuer = \"https://id.example\"\naudience = \"pdgate\"\n",
        jwks_path.display()
    );
    let Some(env) = start_with(db, &extra, |_, t| t.to_owned()).await else {
        return;
    };
    let jwt = Jwt {
        url: env.gw.admin_url("/admin/v1/audit/key"),
        now: pdgate::now_millis() / 1000,
        key,
        rsa,
    };
    each_key_under_its_own_algorithm(&jwt, &env.gw).await;
    a_token_names_its_holder(&jwt).await;
    a_jwks_needs_issuer_and_audience(&env.gw);
    forged_tokens(&jwt).await;
    time_and_claims(&jwt).await;
    let r = get(&jwt.url).await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (401, "unauthorized")
    );
    assert!(!env.gw.log().contains(SECRET));
}

fn b64(b: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(b)
}

fn claims(exp: i64, nbf: i64, iss: &str, aud: &str) -> serde_json::Value {
    serde_json::json!({"sub": "a", "roles": ["auditor"], "exp": exp, "nbf": nbf, "iss": iss, "aud": aud})
}

fn hs(c: &serde_json::Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        c,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

/// The keys of the JWKS, the endpoint tried and the time the claims are counted from.
struct Jwt {
    key: rcgen::KeyPair,
    rsa: rcgen::KeyPair,
    url: String,
    now: i64,
}

impl Jwt {
    fn good(&self) -> serde_json::Value {
        claims(self.now + 600, self.now - 1, "https://id.example", "pdgate")
    }

    fn es(&self, c: &serde_json::Value, kid: Option<&str>) -> String {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        h.kid = kid.map(str::to_owned);
        let pem = self.key.serialize_pem();
        let key = jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
        jsonwebtoken::encode(&h, c, &key).unwrap()
    }

    fn rs(&self, c: &serde_json::Value, kid: &str) -> String {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        h.kid = Some(kid.to_owned());
        let pem = self.rsa.serialize_pem();
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        jsonwebtoken::encode(&h, c, &key).unwrap()
    }

    async fn status(&self, t: String) -> u16 {
        authed("GET", &self.url, &t, "").await.status.as_u16()
    }
}

/// Every key kind works when everything is right (the CLI's token carries iss and aud too); a
/// key used with another algorithm than its own is refused.
async fn each_key_under_its_own_algorithm(jwt: &Jwt, gw: &Gateway) {
    let good = jwt.good();
    assert_eq!(jwt.status(hs(&good, SECRET.as_bytes())).await, 200);
    assert_eq!(jwt.status(jwt.es(&good, Some("k1"))).await, 200);
    assert_eq!(jwt.status(jwt.rs(&good, "r1")).await, 200);
    assert_eq!(jwt.status(jwt.rs(&good, "k1")).await, 401);
    let rsa_public = jwt.rsa.public_key_pem();
    assert_eq!(jwt.status(hs(&good, rsa_public.as_bytes())).await, 401);
    assert_eq!(jwt.status(token(gw, "auditor", None)).await, 200);
}

/// A token must name its holder: without `sub`, or with an empty one, refused.
async fn a_token_names_its_holder(jwt: &Jwt) {
    let mut anonymous = jwt.good();
    anonymous.as_object_mut().unwrap().remove("sub");
    assert_eq!(
        jwt.status(jwt.es(&anonymous, Some("k1"))).await,
        401,
        "no sub"
    );
    anonymous["sub"] = serde_json::json!(" ");
    let empty = hs(&anonymous, SECRET.as_bytes());
    assert_eq!(jwt.status(empty).await, 401, "empty sub");
}

/// A JWKS without both issuer and audience: serve refuses to start.
fn a_jwks_needs_issuer_and_audience(gw: &Gateway) {
    let cfg = std::fs::read_to_string(&gw.config_path).unwrap();
    let open = gw.dir.join("open.toml");
    std::fs::write(&open, cfg.replace("audience = \"pdgate\"\n", "")).unwrap();
    let out = std::process::Command::new(pdgate_testkit::bin())
        .args(["serve", "--config"])
        .arg(&open)
        .env_remove("PDGATE_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("issuer and audience are required"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `alg: none`, algorithm confusion (HS256 "signed" with public key material), a wrong secret,
/// an unknown kid and tampered claims.
async fn forged_tokens(jwt: &Jwt) {
    let good = jwt.good();
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(good.to_string().as_bytes())
    );
    assert_eq!(jwt.status(none).await, 401, "alg none");
    let ec_public = jwt.key.public_key_pem();
    assert_eq!(jwt.status(hs(&good, ec_public.as_bytes())).await, 401);
    assert_eq!(jwt.status(hs(&good, jwt.key.public_key_raw())).await, 401);
    let wrong = hs(&good, b"another-secret-0123456789abcdef-xx");
    assert_eq!(jwt.status(wrong).await, 401);
    assert_eq!(jwt.status(jwt.es(&good, Some("k2"))).await, 401);
    let t = hs(&good, SECRET.as_bytes());
    let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
    let mut c = good.clone();
    c["roles"] = serde_json::json!(["admin"]);
    parts[1] = b64(c.to_string().as_bytes());
    assert_eq!(jwt.status(parts.join(".")).await, 401, "tampered claims");
    assert_eq!(jwt.status("not-a-jwt".into()).await, 401);
}

/// Expired and not yet valid beyond the 5 s leeway, accepted within it; wrong issuer or
/// audience; a checked claim missing; no exp; no role.
async fn time_and_claims(jwt: &Jwt) {
    let (now, iss) = (jwt.now, "https://id.example");
    let status = |c: serde_json::Value| jwt.status(hs(&c, SECRET.as_bytes()));
    assert_eq!(
        status(claims(now - 60, now - 600, iss, "pdgate")).await,
        401
    );
    assert_eq!(
        status(claims(now + 600, now + 60, iss, "pdgate")).await,
        401
    );
    assert_eq!(status(claims(now - 2, now - 600, iss, "pdgate")).await, 200);
    let evil = claims(now + 600, now, "https://evil.example", "pdgate");
    assert_eq!(status(evil).await, 401);
    assert_eq!(status(claims(now + 600, now, iss, "crm")).await, 401);
    for missing in ["aud", "iss", "sub"] {
        let mut c = claims(now + 600, now, iss, "pdgate");
        c.as_object_mut().unwrap().remove(missing);
        assert_eq!(status(c).await, 401, "no {missing}");
    }
    let no_exp = serde_json::json!({"roles": ["auditor"], "iss": iss, "aud": "pdgate"});
    assert_eq!(status(no_exp).await, 401);
    let no_role = serde_json::json!({"exp": now + 600, "iss": iss, "aud": "pdgate"});
    assert_eq!(status(no_role).await, 401);
}

/// `(n, e)` from a PKCS#1 RSAPublicKey (`SEQUENCE { INTEGER n, INTEGER e }`), leading zeros off.
fn rsa_public_numbers(der: &[u8]) -> (&[u8], &[u8]) {
    fn tlv(b: &[u8]) -> (&[u8], &[u8]) {
        let (len, at) = match b[1] {
            l if l < 0x80 => (usize::from(l), 2),
            0x81 => (usize::from(b[2]), 3),
            0x82 => (usize::from(b[2]) << 8 | usize::from(b[3]), 4),
            _ => panic!("unexpected DER length"),
        };
        (&b[at..at + len], &b[at + len..])
    }
    let (seq, _) = tlv(der);
    let (n, rest) = tlv(seq);
    let (e, _) = tlv(rest);
    let trim = |x: &[u8]| -> usize { x.iter().position(|&b| b != 0).unwrap_or(0) };
    (&n[trim(n)..], &e[trim(e)..])
}

async fn edited_consent_text_needs_a_new_version(db: Db) {
    let Some(mut env) = start(db).await else {
        return;
    };
    env.gw.signal("-TERM");
    assert_eq!(env.gw.wait_exit().await, Some(0));
    let text = env.gw.dir.join("policies/consents/marketing.md");
    let edited = std::fs::read_to_string(&text)
        .unwrap()
        .replace("2 года", "5 лет");
    std::fs::write(&text, edited).unwrap();
    let out = Command::new(pdgate_testkit::bin())
        .args(["serve", "--config"])
        .arg(&env.gw.config_path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("consents/marketing.md") && err.contains("new version"),
        "{err}"
    );
    // A new version is accepted.
    let shop = env.gw.dir.join("policies/shop.yaml");
    let s = std::fs::read_to_string(&shop)
        .unwrap()
        .replace("version: 2", "version: 3");
    std::fs::write(&shop, s).unwrap();
    env.gw.spawn().await;
    let c = checkout(&env, EMAIL, true).await;
    let r = get(&env.gw.url(&format!(
        "/.well-known/pdgate/v1/receipts/{}",
        c.receipt.unwrap()
    )))
    .await
    .json();
    assert_eq!(r["consentText"]["version"], 3);
}

async fn reveal_shows_plaintext_only_to_staff_with_the_role(db: Db) {
    let Some(env) = start(db).await else { return };
    let gw = &env.gw;
    let c = checkout(&env, EMAIL, true).await;
    let page = serde_json::json!({
        "customer": c.email, "phone": c.phone, "name": c.name, "address": c.address,
        "note": format!("call {}", c.comment_token), "other": "tok_aaaaaaaaaaaaaaaa"
    })
    .to_string();
    let q = |body: &str| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("body", body)
            .finish()
    };
    let json_url = gw.url(&format!("/staff/orders/echo/json?{}", q(&page)));
    let staff_get = |url: String, bearer: Option<String>, cookie: bool| async move {
        let mut b = Request::get(url);
        if let Some(t) = bearer {
            b = if cookie {
                b.header("cookie", format!("theme=dark; pdgate_staff={t}"))
            } else {
                b.header("authorization", format!("Bearer {t}"))
            };
        }
        send(b.body(Full::new(Bytes::new())).unwrap()).await
    };

    // Without a token, or with a role the route does not name: tokens stay.
    for bearer in [
        None,
        Some(token(gw, "auditor", None)),
        Some("garbage.token.x".to_owned()),
    ] {
        let r = staff_get(json_url.clone(), bearer, false).await;
        assert_eq!(r.status, 200);
        let body = String::from_utf8(r.body.to_vec()).unwrap();
        assert_eq!(body, page, "unchanged without the role");
    }
    // An admin-listener token is not a staff token, even with the role: tokens stay.
    let admin_dpo = token(gw, "dpo", None);
    let r = staff_get(json_url.clone(), Some(admin_dpo), false).await;
    assert_eq!(String::from_utf8(r.body.to_vec()).unwrap(), page);
    // With the role: plaintext for order fulfilment, escaped for JSON; unknown tokens stay.
    let dpo = pdgate_testkit::staff_token(gw, "dpo");
    let r = staff_get(json_url.clone(), Some(dpo.clone()), false).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let j = r.json();
    assert_eq!(j["customer"], EMAIL);
    assert_eq!(j["phone"], PHONE);
    assert_eq!(j["name"], NAME);
    assert_eq!(j["address"], ADDRESS);
    assert_eq!(j["note"], "call 8 916 555-04-04");
    assert_eq!(j["other"], "tok_aaaaaaaaaaaaaaaa");
    let got = env.up.requests().pop().unwrap();
    assert!(
        got.header("authorization").is_none(),
        "the staff token is not passed upstream"
    );
    // A cookie works too (page navigations), and HTML is escaped for HTML.
    let html = format!("<p>{}</p><p>{}</p>", c.name, c.email);
    let r = staff_get(
        gw.url(&format!("/staff/orders/echo/html?{}", q(&html))),
        Some(dpo.clone()),
        true,
    )
    .await;
    let body = String::from_utf8(r.body.to_vec()).unwrap();
    assert_eq!(body, format!("<p>{NAME}</p><p>{EMAIL}</p>"));
    assert_eq!(r.header("content-length").unwrap(), body.len().to_string());
    // Plaintext only where it is inert: text and quoted plain attributes, escaped for them; in
    // scripts, styles, comments, event handlers and URLs the token stays.
    let e = &c.email;
    let contexts = [
        (format!("<b>{e}</b>"), format!("<b>{EMAIL}</b>")),
        (
            format!("<input value=\"{e}\">"),
            format!("<input value=\"{EMAIL}\">"),
        ),
        (format!("<script>var m = '{e}';</script>"), String::new()),
        (format!("<style>/* {e} */</style>"), String::new()),
        (format!("<a onclick=\"send('{e}')\">x</a>"), String::new()),
        (format!("<a href=\"mailto:{e}\">x</a>"), String::new()),
        (format!("<!-- {e} -->"), String::new()),
    ];
    for (html, want) in contexts {
        let r = staff_get(
            gw.url(&format!("/staff/orders/echo/html?{}", q(&html))),
            Some(dpo.clone()),
            true,
        )
        .await;
        let body = String::from_utf8(r.body.to_vec()).unwrap();
        let want = if want.is_empty() { html.clone() } else { want };
        assert_eq!(body, want, "{html}");
    }
    let name_token = &c.name;
    let r = staff_get(
        gw.url(&format!(
            "/staff/orders/echo/html?{}",
            q(&format!("<p title='{name_token}'>{name_token}</p>"))
        )),
        Some(dpo.clone()),
        true,
    )
    .await;
    let body = String::from_utf8(r.body.to_vec()).unwrap();
    assert_eq!(body, format!("<p title='{NAME}'>{NAME}</p>"));

    // The same checks as detokenize: restricted subjects stay tokens.
    let (store, _) = gw.vault().await;
    let sid = pdgate::intake::subject_id_of(&c.subject).unwrap();
    store
        .set_restricted(&sid, Some(pdgate::now_millis()))
        .await
        .unwrap();
    let r = staff_get(json_url, Some(dpo), false).await;
    assert_eq!(r.json()["customer"], c.email.as_str());
    let (reveals, audit) = audited(gw, |k| k == "reveal").await;
    assert_eq!(reveals.len(), 11, "each reveal with the role is audited");
    assert_eq!(reveals[10]["entry"]["event"]["denied"]["restricted"], 5);
    assert!(!audit.contains(EMAIL) && !audit.contains(NAME));
}

both_backends! {
    reveal => reveal_shows_plaintext_only_to_staff_with_the_role;
    consent_lifecycle => consent_lifecycle;
    subject_token_scope => subject_tokens_open_their_intake_and_links_the_person;
    detokenize => detokenize_grants_and_each_denial;
    expired => expired_by_retention;
    audit_export => audit_export_and_offline_verification;
    jwt_attacks => jwt_attacks_are_refused;
    consent_text_versions => edited_consent_text_needs_a_new_version;
}
