//! End-to-end tests of the intake path: the real binary, a real upstream, real sockets.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use pdgate::store::Backend;
use pdgate_testkit::{get, post, send, Db, Gateway, Opts, Upstream};

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// Values planted in requests; none may appear upstream (where the policy protects them) or in logs.
const EMAIL: &str = "ivan.planted@mail.ru";
const PHONE: &str = "+7 916 555-01-01";
const NAME: &str = "Плантатор Иван";
const ADDRESS: &str = "Москва, ул. Засадная, 7";
const INN: &str = "7707083893";

fn checkout_body(subscribe: bool) -> String {
    serde_json::json!({
        "email": EMAIL, "phone": PHONE, "name": NAME, "address": ADDRESS,
        "comment": format!("позвоните 8 916 555-02-02, ИНН {INN}"),
        "items": [{"sku": "A1", "qty": 2}], "total": 1990,
        "subscribe": if subscribe { "on" } else { "" }, "utm_source": "ads"
    })
    .to_string()
}

async fn start(db: Db) -> Option<(Upstream, Gateway)> {
    let up = Upstream::start(Duration::ZERO).await;
    let gw = Gateway::start(Opts::new(db), &up.url()).await?;
    Some((up, gw))
}

async fn checkout_json_is_pseudonymized_stored_and_forwarded(db: Db) {
    let Some((up, gw)) = start(db).await else {
        return;
    };
    let resp = post(&gw.url("/api/checkout"), JSON, checkout_body(true)).await;
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let receipt = resp.header("x-pdgate-receipt").expect("receipt header");
    let token = resp
        .header("x-pdgate-subject-token")
        .expect("subject token header");
    assert_eq!(token.split('.').count(), 3, "a JWT");

    let reqs = up.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    let body = r.body_str();
    for planted in [EMAIL, "916 555", NAME, ADDRESS, INN] {
        assert!(!body.contains(planted), "upstream got {planted}: {body}");
    }
    assert_eq!(
        r.header("content-length").unwrap(),
        r.body.len().to_string()
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(v["email"]
        .as_str()
        .unwrap()
        .ends_with("@relay.romashka.example"));
    assert!(v["phone"].as_str().unwrap().starts_with("+70"));
    assert!(v["name"].as_str().unwrap().starts_with("pdg2."));
    assert!(v["comment"].as_str().unwrap().starts_with("позвоните tok_"));
    assert_eq!(v["items"], serde_json::json!([{"sku": "A1", "qty": 2}]));
    assert_eq!(v["total"], 1990);
    assert!(
        v.get("utm_source").is_none(),
        "undeclared fields are dropped"
    );
    let subject = r.header("x-pdgate-subject").unwrap();
    assert!(subject.starts_with("sub_"));
    assert_eq!(
        r.header("x-pdgate-purposes").unwrap(),
        "order_fulfilment,marketing"
    );
    assert_eq!(r.header("x-pdgate-consent").unwrap(), "marketing=granted");
    assert!(r.header("x-pdgate-request-id").is_some());
    assert_eq!(r.header("x-forwarded-proto").unwrap(), "http");
    assert_eq!(r.header("x-forwarded-for").unwrap(), "127.0.0.1");

    // The vault holds the originals, encrypted under the subject's key, and the consent record.
    let (store, keys) = gw.vault().await;
    let values = store
        .value_by_token(v["email"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(values.len(), 1);
    let val = &values[0];
    assert!(!String::from_utf8_lossy(&val.ciphertext).contains("ivan"));
    let subj = store.subject(&val.subject_id).await.unwrap().unwrap();
    let subject_keys =
        pdgate::crypto::SubjectKeys::unwrap(&keys, &subj.id, &subj.wrapped_dek, &[]).unwrap();
    assert_eq!(val.field, "email");
    assert_eq!(
        subject_keys
            .open(val.binding(), &val.ciphertext)
            .unwrap()
            .as_slice(),
        EMAIL.as_bytes()
    );
    assert_eq!(pdgate::intake::pseudonym(&subj.id), subject.as_str());
    let all = store.values_of(&subj.id).await.unwrap();
    let kept: Vec<(&str, &str)> = all
        .iter()
        .map(|v| (v.field.as_str(), v.action.as_str()))
        .collect();
    assert_eq!(
        kept,
        [
            ("email", "tokenize"),
            ("phone", "tokenize"),
            ("name", "encrypt"),
            ("address", "encrypt"),
            ("comment", "redact"),
            ("comment", "redact"),
        ],
        "the vault keeps the encrypted values too: {all:?}"
    );
    let consents = store.consents_of(&subj.id).await.unwrap();
    assert_eq!(consents.len(), 1);
    assert_eq!(
        (
            consents[0].receipt_id.as_str(),
            consents[0].purpose.as_str(),
            consents[0].text_version
        ),
        (receipt.as_str(), "marketing", 2)
    );
    assert_eq!(consents[0].text_sha256.len(), 64);
    assert!(consents[0].ip_hash.is_some());
    // The encrypt envelope opens with the subject's key for its category, and carries the
    // category and collection time it is bound to.
    let env = pdgate::intake::Envelope::parse(v["name"].as_str().unwrap()).unwrap();
    assert_eq!(env.subject, subj.id.as_bytes());
    assert_eq!(env.category.as_deref(), Some("identity"));
    assert_eq!(env.collected_at, Some(val.collected_at));
    assert_eq!(
        subject_keys
            .open(env.binding(), &env.sealed)
            .unwrap()
            .as_slice(),
        NAME.as_bytes()
    );
    assert_eq!(
        store.counter("checkout", "dropped_fields").await.unwrap(),
        1
    );
    let claims = pdgate::consent::verify_subject_token(&keys, &token).expect("valid subject token");
    assert_eq!(claims.sub, subject);
}

async fn required_consent_missing_stores_and_forwards_nothing(db: Db) {
    let Some((up, gw)) = start(db).await else {
        return;
    };
    for body in [
        format!("email={EMAIL}&name=Ivan"),
        format!("email={EMAIL}&name=Ivan&consent=off"),
    ] {
        let resp = post(&gw.url("/newsletter/subscribe"), FORM, body).await;
        assert_eq!(resp.status, 422);
        assert_eq!(resp.code(), "consent_required");
        assert!(resp.header("x-pdgate-receipt").is_none());
    }
    // The same form from a browser: a page in the visitor's language, not JSON, and nothing of
    // what was typed on it.
    let browser = |lang: &'static str| {
        Request::post(gw.url("/newsletter/subscribe"))
            .header("content-type", FORM)
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .header("accept-language", lang)
            .body(Full::new(Bytes::from(format!("email={EMAIL}&name=Ivan"))))
            .unwrap()
    };
    let page = pdgate_testkit::send(browser("ru-RU,ru;q=0.9,en;q=0.5")).await;
    assert_eq!(page.status, 422);
    assert_eq!(
        page.header("content-type").unwrap(),
        "text/html; charset=utf-8"
    );
    let html = String::from_utf8(page.body.to_vec()).unwrap();
    assert!(
        html.contains("Нужно ваше согласие") && html.contains("«consent»"),
        "{html}"
    );
    assert!(!html.contains(EMAIL) && !html.contains("Ivan"));
    let en = pdgate_testkit::send(browser("en-US")).await;
    assert!(String::from_utf8_lossy(&en.body).contains("Your consent is needed"));
    assert!(up.requests().is_empty());
    let (store, keys) = gw.vault().await;
    let key = pdgate::actions::blind_index(&keys, pdgate::actions::Kind::Email, EMAIL);
    assert!(
        store.find_subject(&key).await.unwrap().is_none(),
        "nothing stored"
    );

    let resp = post(
        &gw.url("/newsletter/subscribe"),
        FORM,
        format!("email={EMAIL}&name=Ivanko&consent=on"),
    )
    .await;
    assert_eq!(resp.status, 200);
    let r = &up.requests()[0];
    assert!(r.body_str().contains("name=I***ko"), "{}", r.body_str());
    assert!(r.body_str().contains("consent=on"));
    assert!(store.find_subject(&key).await.unwrap().is_some());
}

async fn tokens_are_stable_across_routes_fields_and_restarts(db: Db) {
    let Some((up, mut gw)) = start(db).await else {
        return;
    };
    let resp = post(&gw.url("/api/checkout"), JSON, checkout_body(false)).await;
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("x-pdgate-receipt").is_none(),
        "no consent recorded, no receipt"
    );
    gw.signal("-TERM");
    assert_eq!(gw.wait_exit().await, Some(0));
    gw.spawn().await;
    let resp = post(
        &gw.url("/newsletter/subscribe"),
        FORM,
        format!("email={}&consent=yes", EMAIL.to_uppercase()),
    )
    .await;
    assert_eq!(resp.status, 200);
    let reqs = up.requests();
    let first: serde_json::Value = serde_json::from_slice(&reqs[0].body).unwrap();
    let email_token = first["email"].as_str().unwrap();
    let form: Vec<(String, String)> = form_urlencoded::parse(&reqs[1].body).into_owned().collect();
    assert_eq!(form[0], ("email".to_owned(), email_token.to_owned()));
    assert_eq!(
        reqs[0].header("x-pdgate-subject"),
        reqs[1].header("x-pdgate-subject"),
        "same subject found by blind index"
    );
    // Another subject giving the same phone gets another token.
    let other = serde_json::json!({"email": "someone.else@mail.ru", "phone": PHONE}).to_string();
    assert_eq!(
        post(&gw.url("/api/checkout"), JSON, other).await.status,
        200
    );
    let third: serde_json::Value = serde_json::from_slice(&up.requests()[2].body).unwrap();
    assert_ne!(third["phone"], first["phone"]);
}

async fn multipart_streams_files_and_rewrites_text(db: Db) {
    let Some((up, gw)) = start(db).await else {
        return;
    };
    let file: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut body = Vec::new();
    let part = |body: &mut Vec<u8>, name: &str, value: &[u8], file: Option<&str>| {
        body.extend_from_slice(b"--BOUNDARYxyz\r\n");
        match file {
            Some(f) => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes()),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    };
    part(&mut body, "attachment", &file, Some("scan.bin"));
    part(&mut body, "email", EMAIL.as_bytes(), None);
    part(&mut body, "phone", PHONE.as_bytes(), None);
    part(&mut body, "name", NAME.as_bytes(), None);
    part(
        &mut body,
        "message",
        format!("мой ИНН {INN}").as_bytes(),
        None,
    );
    part(&mut body, "agree", b"on", None);
    part(&mut body, "captcha", b"xyz", None);
    part(&mut body, "secret_upload", b"zzz", Some("x.txt"));
    body.extend_from_slice(b"--BOUNDARYxyz--\r\n");
    let resp = post(
        &gw.url("/contact"),
        "multipart/form-data; boundary=BOUNDARYxyz",
        body,
    )
    .await;
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let r = &up.requests()[0];
    assert_eq!(
        r.header("content-type").unwrap(),
        "multipart/form-data; boundary=BOUNDARYxyz"
    );
    assert_eq!(
        r.header("content-length").unwrap(),
        r.body.len().to_string()
    );
    let text = String::from_utf8_lossy(&r.body);
    for planted in [EMAIL, NAME, INN, "916"] {
        assert!(!text.contains(planted), "{planted} reached the upstream");
    }
    assert!(text.contains("+7 *** ***-**-01"));
    assert!(!text.contains("captcha") && !text.contains("secret_upload"));
    let pos = r
        .body
        .windows(file.len())
        .position(|w| w == file.as_slice());
    assert!(pos.is_some(), "the attachment arrives byte for byte");
}

async fn unknown_fields_reject_and_bad_input_get_json_errors(db: Db) {
    let Some((up, gw)) = start(db).await else {
        return;
    };
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "/newsletter/subscribe",
            FORM,
            format!("email={EMAIL}&consent=on&age=30").into_bytes(),
            422,
            "undeclared_field",
        ),
        (
            "/api/checkout",
            "text/plain",
            b"hello".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "/api/checkout",
            JSON,
            b"{\"email\": ".to_vec(),
            400,
            "malformed_body",
        ),
        (
            "/api/checkout",
            JSON,
            br#"{"email":"a@b.ru","email":"c@d.ru"}"#.to_vec(),
            400,
            "duplicate_field",
        ),
        (
            "/api/checkout",
            JSON,
            format!("{}\"x\"{}", "[".repeat(40), "]".repeat(40)).into_bytes(),
            400,
            "json_too_deep",
        ),
        (
            "/api/checkout",
            FORM,
            b"email=%FF%FE".to_vec(),
            400,
            "invalid_utf8",
        ),
        (
            "/api/checkout",
            FORM,
            (0..300)
                .map(|i| format!("f{i}=1"))
                .collect::<Vec<_>>()
                .join("&")
                .into_bytes(),
            400,
            "too_many_fields",
        ),
        (
            "/api/checkout",
            FORM,
            b"email=not-an-email".to_vec(),
            422,
            "invalid_field",
        ),
        (
            "/api/checkout",
            FORM,
            b"name=x".to_vec(),
            422,
            "subject_required",
        ),
        (
            "/api/checkout",
            FORM,
            format!("email={EMAIL}&phone=12345").into_bytes(),
            422,
            "invalid_field",
        ),
        (
            "/api/checkout",
            "multipart/form-data; boundary=zz",
            b"--zz\r\nbroken".to_vec(),
            400,
            "malformed_body",
        ),
    ];
    for (path, ct, body, status, code) in cases {
        let resp = post(&gw.url(path), ct, body).await;
        assert_eq!(
            (resp.status.as_u16(), resp.code().as_str()),
            (status, code),
            "{path} {ct}"
        );
        assert_eq!(resp.header("content-type").unwrap(), "application/json");
        assert!(resp.header("x-pdgate-request-id").is_some());
    }
    // A declared length over the limit is refused before a byte of the body is read.
    let head = format!("POST /api/checkout HTTP/1.1\r\nhost: x\r\ncontent-type: {JSON}\r\ncontent-length: {}\r\n\r\n", 2 << 20);
    let answer = pdgate_testkit::raw(gw.proxy, head.as_bytes(), Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains(r#"{"error":{"code":"body_too_large""#),
        "{answer}"
    );
    // Chunked body over the limit: refused while streaming, not after buffering it all.
    let chunks: Vec<Result<http_body::Frame<Bytes>, std::io::Error>> = (0..40)
        .map(|_| Ok(http_body::Frame::data(Bytes::from(vec![b' '; 64 * 1024]))))
        .collect();
    let body = http_body_util::StreamBody::new(futures_util::stream::iter(chunks));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let resp = client
        .request(
            Request::post(gw.url("/api/checkout"))
                .header("content-type", JSON)
                .body(body)
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert!(
        up.requests().is_empty(),
        "nothing forwarded on any bad input"
    );
}

async fn pass_through_streams_untouched_with_proxy_headers(db: Db) {
    let Some((up, gw)) = start(db).await else {
        return;
    };
    let big = vec![b'z'; 3 << 20];
    let req = Request::put(gw.url("/files/upload?x=1"))
        .header("content-type", "application/octet-stream")
        .header("connection", "x-hop")
        .header("x-hop", "secret")
        .header("x-pdgate-subject", "forged")
        .header("x-forwarded-for", "198.51.100.4")
        .body(Full::new(Bytes::from(big.clone())))
        .unwrap();
    let resp = send(req).await;
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("x-upstream-private").is_none(),
        "response hop-by-hop fields named in Connection are removed"
    );
    let r = &up.requests()[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("PUT", "/files/upload?x=1")
    );
    assert_eq!(
        r.body.len(),
        big.len(),
        "unmatched routes are not limited or rewritten"
    );
    assert!(r.header("x-hop").is_none());
    assert!(
        r.header("x-pdgate-subject").is_none(),
        "clients cannot forge pdgate headers"
    );
    assert_eq!(
        r.header("x-forwarded-for").unwrap(),
        "198.51.100.4, 127.0.0.1"
    );
    assert_eq!(r.header("x-forwarded-host").unwrap(), gw.proxy.to_string());
    let resp = get(&gw.url("/catalog")).await;
    assert_eq!(resp.status, 200);
}

async fn health_and_readiness(db: Db) {
    let Some((_up, gw)) = start(db).await else {
        return;
    };
    let resp = get(&gw.admin_url("/healthz")).await;
    assert_eq!(resp.status, 200);
    let resp = get(&gw.admin_url("/readyz")).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["database"], "ok");
    assert_eq!(get(&gw.admin_url("/nope")).await.code(), "not_found");
    // The image's HEALTHCHECK: `pdgate health` asks /readyz where the admin listener is.
    let health = |addr: String| {
        std::process::Command::new(pdgate_testkit::bin())
            .arg("health")
            .env("PDGATE_ADMIN_LISTEN", addr)
            .output()
            .unwrap()
    };
    let wildcard = format!("0.0.0.0:{}", gw.admin.port());
    assert!(health(wildcard).status.success(), "asked on loopback");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody = closed.local_addr().unwrap().to_string();
    drop(closed);
    let down = health(nobody);
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("cannot connect"));
    // A person opening the admin address lands on the console.
    let root = get(&gw.admin_url("/")).await;
    assert_eq!(
        (root.status.as_u16(), root.header("location").as_deref()),
        (308, Some("/console/"))
    );
}

async fn commit_survives_kill_9_right_after_the_response(db: Db) {
    let Some((up, mut gw)) = start(db).await else {
        return;
    };
    let resp = post(&gw.url("/api/checkout"), JSON, checkout_body(true)).await;
    assert_eq!(resp.status, 200);
    gw.kill9();
    let token = serde_json::from_slice::<serde_json::Value>(&up.requests()[0].body).unwrap()
        ["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let (store, _) = gw.vault().await;
    assert_eq!(
        store.value_by_token(&token).await.unwrap().len(),
        1,
        "what the upstream holds is in the vault"
    );
    let rows = store.audit_rows(&writer_of(&gw.log())).await.unwrap();
    assert!(rows.iter().any(|r| r.kind == "intake"));
    assert_eq!(pdgate::audit::verify_chain(&rows), Ok(()));
}

/// kill -9 under intake load loses nothing: eight clients post checkouts without pause, pdgate is
/// killed in the middle, and after a restart every e-mail token the upstream received detokenizes
/// to the address sent with it (each order's `total` says which). What the upstream got was
/// committed first, whatever was in flight when the process died.
async fn kill_9_under_intake_load_loses_nothing_the_upstream_got(db: Db) {
    let up = Upstream::start(Duration::ZERO).await;
    let Some(mut gw) = Gateway::start(Opts::new(db).with_admin_tokens(), &up.url()).await else {
        return;
    };
    let url = gw.url("/api/checkout");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (url, stop) = (url.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let order = c * 1_000_000 + n;
                    let body = serde_json::json!({
                        "email": format!("load{order}@mail.ru"), "phone": PHONE, "name": NAME,
                        "address": ADDRESS, "items": [], "total": order, "subscribe": "on",
                    });
                    // Refused or cut off once pdgate is gone: the clients only need to keep it busy.
                    let _ = tokio::time::timeout(
                        Duration::from_secs(2),
                        post(&url, JSON, body.to_string()),
                    )
                    .await;
                    n += 1;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    gw.kill9();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }
    let got: Vec<(String, u64)> = up
        .requests()
        .iter()
        .filter_map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
        .map(|b| {
            (
                b["email"].as_str().unwrap().to_owned(),
                b["total"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        got.len() > 50,
        "the load reached the upstream: {}",
        got.len()
    );
    gw.spawn().await;
    let svc = pdgate_testkit::token(&gw, "service", Some("crm"));
    for chunk in got.chunks(1000) {
        let tokens: Vec<&str> = chunk.iter().map(|(t, _)| t.as_str()).collect();
        let d = pdgate_testkit::detokenize(&gw, &svc, "order_fulfilment", &tokens).await;
        let values = pdgate_testkit::outcomes(&d);
        let expected: Vec<String> = chunk
            .iter()
            .map(|(_, n)| format!("load{n}@mail.ru"))
            .collect();
        assert_eq!(
            values, expected,
            "every value the upstream got is in the vault"
        );
    }
}

fn writer_of(log: &str) -> String {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "vault ready")
        .and_then(|v| v["writer"].as_str().map(str::to_owned))
        .expect("writer in log")
}

async fn logs_never_hold_planted_personal_data(db: Db) {
    let Some((_up, gw)) = start(db).await else {
        return;
    };
    assert_eq!(
        post(&gw.url("/api/checkout"), JSON, checkout_body(true))
            .await
            .status,
        200
    );
    let _ = post(
        &gw.url("/api/checkout"),
        FORM,
        format!("email={EMAIL}&phone=bad{INN}"),
    )
    .await;
    let _ = post(
        &gw.url("/newsletter/subscribe"),
        FORM,
        format!("email={EMAIL}&name={NAME}"),
    )
    .await;
    let _ = post(
        &gw.url("/api/checkout"),
        JSON,
        format!("{{\"email\":\"{EMAIL}\","),
    )
    .await;
    let log = gw.log();
    assert!(
        log.contains("intake stored") && log.contains("intake refused"),
        "the log was written: {log}"
    );
    for planted in [
        EMAIL,
        "ivan.planted",
        "916 555",
        "9165550101",
        NAME,
        "Плантатор",
        ADDRESS,
        INN,
    ] {
        assert!(!log.contains(planted), "log line holds {planted}");
    }
    // The audit log neither.
    let (store, _) = gw.vault().await;
    for row in store.audit_rows(&writer_of(&log)).await.unwrap() {
        for planted in [EMAIL, "Плантатор", INN, "9165550101"] {
            assert!(!row.entry.contains(planted), "audit entry holds {planted}");
        }
    }
}

/// `on_refusal: {redirect: …}`: a browser is sent back to the site's page with the code and the
/// declared field, never with what it typed; an API client still gets JSON.
#[tokio::test]
async fn a_refused_browser_form_is_redirected_to_the_site() {
    let up = Upstream::start(Duration::ZERO).await;
    let mut opts = Opts::new(Db::Sqlite);
    opts.policy_edit = Box::new(|name, t| match name {
        "routes.yaml" => t.replacen(
            "    on_refusal: {page: pages/refusal}\n",
            "    on_refusal: {redirect: \"https://shop.example/contact?sent=no\"}\n",
            2,
        ),
        _ => t.to_owned(),
    });
    let gw = Gateway::start(opts, &up.url()).await.unwrap();
    let typed = "not-an-email";
    let form = |accept: &'static str| {
        Request::post(gw.url("/contact"))
            .header("content-type", FORM)
            .header("accept", accept)
            .body(Full::new(Bytes::from(format!(
                "email={typed}&name=Olga&message=hi&agree=on"
            ))))
            .unwrap()
    };
    let r = send(form("text/html,*/*;q=0.8")).await;
    assert_eq!(r.status, 303);
    let location = r.header("location").unwrap();
    assert!(
        location.starts_with("https://shop.example/contact?sent=no&error=")
            && location.ends_with("&field=email"),
        "{location}"
    );
    assert!(!location.contains(typed) && !location.contains("Olga"));
    let api = send(form("application/json")).await;
    assert_eq!(api.status, 422);
    assert!(api.code() == "invalid_field" || api.code() == "subject_required");
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn phone_fields_take_every_countrys_valid_numbers_and_refuse_the_rest() {
    // `kind: phone` is checked against libphonenumber's plans: a Kazakh or British mobile is a
    // customer's real number (a checkout refusing it is a bug); one valid nowhere gets 422 and
    // nothing is stored or forwarded.
    let Some((up, gw)) = start(Db::Sqlite).await else {
        return;
    };
    for (phone, token_prefix) in [
        ("+7 701 123 4567", "+70"),
        ("8 (701) 123-45-67", "+70"),
        ("+44 7400 123456", "+440"),
        ("+49 151 23456789", "+490"),
    ] {
        let body = serde_json::json!({"email": EMAIL, "phone": phone}).to_string();
        let resp = post(&gw.url("/api/checkout"), JSON, body).await;
        assert_eq!(resp.status, 200, "{phone}: {}", resp.code());
        let sent: serde_json::Value =
            serde_json::from_slice(&up.requests().last().unwrap().body).unwrap();
        let token = sent["phone"].as_str().unwrap();
        assert!(token.starts_with(token_prefix), "{phone} became {token}");
    }
    let forwarded = up.requests().len();
    for phone in [
        "+7 (123) 456-78-90",
        "+1 (123) 456-7890",
        "+44 123",
        "8 800",
    ] {
        let body = serde_json::json!({"email": EMAIL, "phone": phone}).to_string();
        let resp = post(&gw.url("/api/checkout"), JSON, body).await;
        assert_eq!(
            (resp.status.as_u16(), resp.code().as_str()),
            (422, "invalid_field"),
            "{phone}"
        );
    }
    assert_eq!(up.requests().len(), forwarded);
}

both_backends! {
    checkout_json => checkout_json_is_pseudonymized_stored_and_forwarded;
    consent_required => required_consent_missing_stores_and_forwards_nothing;
    token_determinism => tokens_are_stable_across_routes_fields_and_restarts;
    multipart => multipart_streams_files_and_rewrites_text;
    bad_input => unknown_fields_reject_and_bad_input_get_json_errors;
    pass_through => pass_through_streams_untouched_with_proxy_headers;
    health => health_and_readiness;
    kill_9 => commit_survives_kill_9_right_after_the_response;
    kill_9_under_load => kill_9_under_intake_load_loses_nothing_the_upstream_got;
    no_personal_data_in_logs => logs_never_hold_planted_personal_data;
}

/// A minor's consent (GDPR Art. 8; 152-FZ with Civil Code Art. 26, 28): the newsletter form
/// learns age from a birth date; under 16 (both regimes: the higher age) its consent counts only
/// with a parent's, whose name the form carries. Refused: 422, nothing stored or forwarded.
/// Accepted: the parent's name reaches the CRM as an envelope, and the consent record says a
/// guardian consented. Birth dates are counted back from the operator's day, far from the
/// threshold, so the test holds on any date.
#[tokio::test]
async fn a_minors_consent_counts_only_with_a_guardians() {
    let up = Upstream::start(Duration::ZERO).await;
    let mut opts = Opts::new(Db::Sqlite);
    opts.policy_edit = Box::new(|name, t| {
        match name {
        "routes.yaml" => t.replacen(
            "      source: {action: pass}\n",
            "      source: {action: pass}\n      birth_date: {category: identity, action: encrypt}\n      parent_name: {category: identity, action: encrypt}\n    age: {field: birth_date}\n    guardian: {consent: parent_agrees, fields: [parent_name]}\n",
            1,
        ),
        _ => t.to_owned(),
    }
    });
    let gw = Gateway::start(opts, &up.url()).await.unwrap();
    let zone = pdgate::legal_day::LegalZone::moscow();
    let today = zone.day_of(pdgate::now_millis());
    // The first of this month, `years` back: exactly that old today, 29 February included.
    let born = |years: i32| {
        let first = today.replace_day(1).unwrap();
        let d = first.replace_year(today.year() - years).unwrap();
        format!("{d}")
    };
    let form = |extra: &str| {
        format!(
            "email=kid@mail.ru&name=Petya&consent=on&birth_date={}{extra}",
            born(10)
        )
    };
    let r = post(&gw.url("/newsletter/subscribe"), FORM, form("")).await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (422, "guardian_consent_required")
    );
    let r = post(
        &gw.url("/newsletter/subscribe"),
        FORM,
        form("&parent_agrees=on"),
    )
    .await;
    assert_eq!(
        r.code(),
        "guardian_consent_required",
        "the guardian's identity is asked for too"
    );
    assert!(up.requests().is_empty(), "nothing forwarded");
    let (store, keys) = gw.vault().await;
    let key = pdgate::actions::blind_index(&keys, pdgate::actions::Kind::Email, "kid@mail.ru");
    assert!(
        store.find_subject(&key).await.unwrap().is_none(),
        "nothing stored"
    );

    let r = post(
        &gw.url("/newsletter/subscribe"),
        FORM,
        form("&parent_agrees=on&parent_name=Anna+Petrova"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = up.requests()[0].body_str();
    assert!(
        !body.contains("Anna") && !body.contains("Petrova") && body.contains("parent_agrees=on"),
        "{body}"
    );
    let receipt = r.header("x-pdgate-receipt").unwrap();
    let records = store.consents_by_receipt(&receipt).await.unwrap();
    let details: serde_json::Value =
        serde_json::from_str(records[0].details.as_deref().unwrap()).unwrap();
    assert_eq!(
        details["guardian"],
        serde_json::json!({"fields": ["parent_name"], "age_known_by": "birth_date", "age_of_consent": 16})
    );
    // An adult consents alone.
    let adult = format!(
        "email=mum@mail.ru&name=Anna&consent=on&birth_date={}",
        born(30)
    );
    assert_eq!(
        post(&gw.url("/newsletter/subscribe"), FORM, adult)
            .await
            .status,
        200
    );
}
