//! No other door: hostile spellings of declared routes, over real sockets, against a recording
//! upstream that keeps everything it receives. Whatever the spelling, a form post to a declared
//! route is pseudonymized (or refused) — a raw personal value never reaches the upstream; nor does
//! one of pdgate's credentials, and each token opens only its own door. The doors that need the
//! ledger's fixtures are tested beside it in `tests/it/ledger.rs` (a subject token's scope and
//! self-service links, reveal contexts, JWT attacks), the smuggling guard and slow clients in
//! `tests/it/edge.rs` too, and the parsers are fuzzed in `tests/it/fuzz.rs`.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use pdgate_testkit::{raw, Db, Gateway, Opts, Upstream};

const EMAIL: &str = "door.keeper@mail.ru";

fn checkout() -> String {
    serde_json::json!({"email": EMAIL, "name": "Привратник", "subscribe": "on"}).to_string()
}

/// One raw HTTP/1.1 request with the checkout body; the status line's code.
async fn send(gw: &Gateway, method: &str, target: &str, host: Option<&str>) -> (u16, String) {
    let body = checkout();
    let host = host.map_or_else(|| gw.proxy.to_string(), str::to_owned);
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let resp = raw(gw.proxy, req.as_bytes(), Duration::from_secs(5)).await;
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, resp)
}

fn assert_no_raw_value(up: &Upstream) {
    for r in up.requests() {
        let all = format!("{} {:?} {}", r.path, r.headers, r.body_str());
        assert!(
            !all.contains(EMAIL) && !all.contains("Привратник"),
            "raw value upstream: {all}"
        );
    }
}

async fn spellings_of_a_declared_route_meet_its_field_actions(db: Db) {
    let up = Upstream::start(Duration::ZERO).await;
    let Some(gw) = Gateway::start(Opts::new(db), &up.url()).await else {
        return;
    };
    for target in [
        "/api/checkout",
        "/api/checkout/",
        "//api/checkout",
        "/api//checkout",
        "/API/Checkout",
        "/api/./checkout",
        "/x/../api/checkout",
        "/api/%63heckout",
        "/%61pi/checkout?x=1",
    ] {
        let (code, resp) = send(&gw, "POST", target, None).await;
        assert_eq!(code, 200, "{target}: {resp}");
        let got = up.requests().pop().unwrap();
        // Canonical: no empty or dot segment, unreserved characters decoded (case is kept).
        assert!(
            got.path.to_lowercase().starts_with("/api/checkout"),
            "{target} forwarded as {}",
            got.path
        );
        assert!(
            got.body_str().contains("@relay."),
            "{target}: not tokenized: {}",
            got.body_str()
        );
    }
    // An absolute-form target for this host is the same request.
    let own = format!("http://{}/api/checkout", gw.proxy);
    assert_eq!(send(&gw, "POST", &own, None).await.0, 200);
    assert_no_raw_value(&up);
}

async fn what_cannot_be_canonical_or_allowed_is_refused(db: Db) {
    let up = Upstream::start(Duration::ZERO).await;
    let Some(gw) = Gateway::start(Opts::new(db), &up.url()).await else {
        return;
    };
    for (method, target, host, want) in [
        ("POST", "/api%2Fcheckout", None, (400, "bad_path")),
        ("POST", "/api%2fcheckout", None, (400, "bad_path")),
        ("POST", "/api%5Ccheckout", None, (400, "bad_path")),
        ("POST", "/../api/checkout", None, (400, "bad_path")),
        ("POST", "/api/checkout%00", None, (400, "bad_path")),
        ("POST", "/api/checkout%0A", None, (400, "bad_path")),
        ("POST", "/api/%FFcheckout", None, (400, "bad_path")),
        (
            "POST",
            "http://evil.example/api/checkout",
            Some("shop.example"),
            (400, "bad_path"),
        ),
        ("PUT", "/api/checkout", None, (405, "method_not_allowed")),
        ("PATCH", "/API/checkout/", None, (405, "method_not_allowed")),
        (
            "DELETE",
            "/newsletter/subscribe",
            None,
            (405, "method_not_allowed"),
        ),
    ] {
        let (code, resp) = send(&gw, method, target, host).await;
        assert_eq!(code, want.0, "{method} {target}: {resp}");
        assert!(
            resp.contains(&format!("\"code\":\"{}\"", want.1)),
            "{method} {target}: {resp}"
        );
        if want.0 == 405 {
            assert!(resp.to_ascii_lowercase().contains("allow: post"), "{resp}");
        }
    }
    // A compressed form cannot be read for its fields: refused, never forwarded re-labelled.
    for encoding in ["gzip", "deflate", "br", "gzip, identity"] {
        let body = checkout();
        let req = format!(
            "POST /api/checkout HTTP/1.1\r\nHost: {}\r\ncontent-type: application/json\r\ncontent-encoding: {encoding}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            gw.proxy,
            body.len()
        );
        let resp = raw(gw.proxy, req.as_bytes(), Duration::from_secs(5)).await;
        assert!(
            resp.starts_with("HTTP/1.1 415") && resp.contains("unsupported_encoding"),
            "{encoding}: {resp}"
        );
    }
    assert!(
        up.requests().is_empty(),
        "nothing forwarded: {:?}",
        up.requests()
    );
    // Smuggling: a length two parsers may read differently, or CL with TE on any request of a
    // keep-alive connection (here after a chunked one), is refused and the connection closed.
    let host = gw.proxy;
    for wire in [
        format!("POST /catalog HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
        format!("POST /catalog HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5, 5\r\n\r\nhello"),
        format!(
            "POST /catalog HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n\
             POST /api/checkout HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        ),
    ] {
        let resp = raw(gw.proxy, wire.as_bytes(), Duration::from_secs(3)).await;
        assert!(resp.contains("conflicting_length") || resp.starts_with("HTTP/1.1 400"), "{wire}: {resp}");
    }
    let forwarded = up.requests();
    assert!(
        forwarded.iter().all(|r| r.path != "/api/checkout"),
        "{forwarded:?}"
    );
    // Without a body, other methods still pass through (a GET of the same path, OPTIONS).
    let get = format!(
        "GET /api/checkout HTTP/1.1\r\nHost: {}\r\nconnection: close\r\n\r\n",
        gw.proxy
    );
    assert!(raw(gw.proxy, get.as_bytes(), Duration::from_secs(5))
        .await
        .starts_with("HTTP/1.1 200"));
    assert_eq!(up.requests().len(), 1);
    // The admin listener takes the same canonical form.
    let admin = format!(
        "GET //./healthz HTTP/1.1\r\nHost: {}\r\nconnection: close\r\n\r\n",
        gw.admin
    );
    assert!(raw(gw.admin, admin.as_bytes(), Duration::from_secs(5))
        .await
        .starts_with("HTTP/1.1 200"));
    let bad = format!(
        "GET /admin/%2e%2e/%2e%2e/healthz HTTP/1.1\r\nHost: {}\r\nconnection: close\r\n\r\n",
        gw.admin
    );
    assert!(raw(gw.admin, bad.as_bytes(), Duration::from_secs(5))
        .await
        .contains("bad_path"));
}

/// `match: {case_sensitive: true}`: only the declared spelling is the route.
#[tokio::test]
async fn a_case_sensitive_route_matches_its_own_spelling_only() {
    let up = Upstream::start(Duration::ZERO).await;
    let mut opts = Opts::new(Db::Sqlite);
    opts.policy_edit = Box::new(|name, t| match name {
        "routes.yaml" => t.replace(
            "match: {method: POST, path: /api/checkout}",
            "match: {method: POST, path: /api/checkout, case_sensitive: true}",
        ),
        _ => t.to_owned(),
    });
    let gw = Gateway::start(opts, &up.url()).await.unwrap();
    assert_eq!(send(&gw, "POST", "/api/checkout", None).await.0, 200);
    assert!(up.requests().pop().unwrap().body_str().contains("@relay."));
    // Another case is another path: it goes to the default upstream as it is.
    assert_eq!(send(&gw, "POST", "/API/checkout", None).await.0, 200);
    assert!(up.requests().pop().unwrap().body_str().contains(EMAIL));
}

/// The query string of a declared route is part of the form: declared parameters get their
/// action, undeclared ones follow `unknown_fields`, a field in both places is a duplicate.
async fn the_query_string_is_part_of_the_form(db: Db) {
    let up = Upstream::start(Duration::ZERO).await;
    let Some(gw) = Gateway::start(Opts::new(db), &up.url()).await else {
        return;
    };
    let post = |target: String, body: &'static str| {
        format!(
            "POST {target} HTTP/1.1\r\nHost: {}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            gw.proxy,
            body.len()
        )
    };
    let resp = raw(
        gw.proxy,
        post(
            "/contact?phone=%2B79161112233&utm_source=mail".into(),
            "email=query.door%40mail.ru&name=Olga&message=hi&agree=on",
        )
        .as_bytes(),
        Duration::from_secs(5),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let got = up.requests().pop().unwrap();
    assert!(
        !got.path.contains("9161112233") && !got.path.contains("utm_source"),
        "{}",
        got.path
    );
    assert!(
        got.path.starts_with("/contact?phone=%2B7+***+***-**-33"),
        "masked in the query: {}",
        got.path
    );
    // The checkout's e-mail both in the body and the query: one field twice, refused.
    let (code, resp) = send(&gw, "POST", "/api/checkout?email=second%40mail.ru", None).await;
    assert_eq!(code, 400, "{resp}");
    assert!(resp.contains("duplicate_field"), "{resp}");
    // The newsletter rejects undeclared fields, in the query too.
    let r = raw(
        gw.proxy,
        post(
            "/newsletter/subscribe?tracking=abc".into(),
            "email=n%40mail.ru&consent=on",
        )
        .as_bytes(),
        Duration::from_secs(5),
    )
    .await;
    assert!(r.contains("undeclared_field"), "{r}");
    assert_eq!(
        up.requests().len(),
        1,
        "only the accepted contact form went"
    );
    assert_no_raw_value(&up);
}

/// pdgate's credentials never reach the upstream: the staff cookie and any bearer token that
/// verifies as pdgate's own are removed from intake, pass-through and reveal requests alike; the
/// site's own cookies and tokens pass.
async fn pdgate_credentials_never_leave_pdgate(db: Db) {
    let up = Upstream::start(Duration::ZERO).await;
    let Some(gw) = Gateway::start(Opts::new(db).with_admin_tokens(), &up.url()).await else {
        return;
    };
    let dpo = pdgate_testkit::token(&gw, "dpo", None);
    let svc = pdgate_testkit::token(&gw, "service", Some("crm"));
    let staff = pdgate_testkit::staff_token(&gw, "dpo");
    // Each token opens its own door only: a staff token is refused by the admin API (a CRM that
    // saw one could not replay it there), an admin token is no staff token.
    let r = pdgate_testkit::authed("GET", &gw.admin_url("/admin/v1/register"), &staff, "").await;
    assert_eq!(r.status, 401, "a staff token on the admin API");
    let r = pdgate_testkit::authed("GET", &gw.admin_url("/admin/v1/register"), &dpo, "").await;
    assert_eq!(r.status, 200);
    let (code, resp) = send(&gw, "POST", "/api/checkout", None).await;
    assert_eq!(code, 200, "{resp}");
    let subject_token = resp
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("x-pdgate-subject-token: ")
                .map(|_| l[24..].trim().to_owned())
        })
        .expect("a subject token");
    let body = checkout();
    for (method, target, bearer) in [
        ("POST", "/api/checkout", dpo.as_str()),
        ("POST", "/api/checkout", subject_token.as_str()),
        ("GET", "/catalog", svc.as_str()),
        ("GET", "/staff/orders/1", dpo.as_str()),
        ("GET", "/staff/orders/1", staff.as_str()),
        ("GET", "/catalog", staff.as_str()),
        ("GET", "/staff/orders/1", "site-own-token"),
    ] {
        let (len, payload) = match method {
            "POST" => (body.len(), body.as_str()),
            _ => (0, ""),
        };
        let req = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nauthorization: Bearer {bearer}\r\ncookie: theme=dark; pdgate_staff={staff}; cart=7\r\ncontent-type: application/json\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n{payload}",
            gw.proxy
        );
        let resp = raw(gw.proxy, req.as_bytes(), Duration::from_secs(5)).await;
        assert!(
            resp.starts_with("HTTP/1.1 200"),
            "{method} {target}: {resp}"
        );
        let got = up.requests().pop().unwrap();
        let everything = format!("{:?} {}", got.headers, got.body_str());
        for secret in [
            dpo.as_str(),
            svc.as_str(),
            staff.as_str(),
            subject_token.as_str(),
        ] {
            assert!(
                !everything.contains(secret),
                "{method} {target}: a pdgate credential upstream"
            );
        }
        assert_eq!(
            got.header("cookie").as_deref(),
            Some("theme=dark; cart=7"),
            "{target}"
        );
        let site_own = bearer == "site-own-token";
        assert_eq!(
            got.header("authorization").is_some(),
            site_own,
            "{method} {target} {bearer}"
        );
    }
}

/// Self-service links come from `public_url`, never from the request's `Host`.
#[tokio::test]
async fn self_service_links_never_come_from_the_host_header() {
    for (public, want) in [
        (
            Some("https://privacy.shop.example/"),
            "https://privacy.shop.example/.well-known/pdgate/v1/",
        ),
        (None, "/.well-known/pdgate/v1/"),
    ] {
        let up = Upstream::start(Duration::ZERO).await;
        let mut opts = Opts::new(Db::Sqlite);
        if let Some(p) = public {
            opts.extra_config = format!("public_url = \"{p}\"\n");
        }
        let gw = Gateway::start(opts, &up.url()).await.unwrap();
        let (code, resp) = send(&gw, "POST", "/api/checkout", Some("evil.example")).await;
        assert_eq!(code, 200, "{resp}");
        let receipt = resp
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .starts_with("x-pdgate-receipt:")
                    .then(|| l[17..].trim().to_owned())
            })
            .expect("a receipt");
        let get = format!(
            "GET /.well-known/pdgate/v1/receipts/{receipt} HTTP/1.1\r\nHost: evil.example\r\nconnection: close\r\n\r\n"
        );
        let r = raw(gw.proxy, get.as_bytes(), Duration::from_secs(5)).await;
        let body = &r[r.find("\r\n\r\n").unwrap() + 4..];
        let j: serde_json::Value = serde_json::from_str(body).unwrap();
        let url = j["consentText"]["url"].as_str().unwrap();
        assert!(
            url.starts_with(want) && !r.contains("evil.example"),
            "{url}"
        );
    }
}

/// Slow clients and slow upstreams have deadlines, and connections a cap.
#[tokio::test]
async fn slow_clients_slow_upstreams_and_too_many_connections_are_bounded() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = Upstream::start(Duration::from_millis(1500)).await;
    let mut opts = Opts::new(Db::Sqlite);
    opts.extra_config =
        "[limits]\nbody_timeout_ms = 400\nupstream_timeout_ms = 500\nmax_connections = 2\n".into();
    let gw = Gateway::start(opts, &up.url()).await.unwrap();

    // A body that trickles: 408 within the deadline, nothing forwarded.
    let mut s = tokio::net::TcpStream::connect(gw.proxy).await.unwrap();
    let head = format!("POST /api/checkout HTTP/1.1\r\nHost: {}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"email\"", gw.proxy);
    s.write_all(head.as_bytes()).await.unwrap();
    let mut out = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut out))
        .await
        .unwrap()
        .unwrap();
    let resp = String::from_utf8_lossy(&out[..n]).into_owned();
    assert!(
        resp.starts_with("HTTP/1.1 408") && resp.contains("request_timeout"),
        "{resp}"
    );
    drop(s);
    assert!(up.requests().is_empty());

    // An upstream slower than upstream_timeout_ms: 504.
    let (code, resp) = send(&gw, "POST", "/api/checkout", None).await;
    assert_eq!(code, 504, "{resp}");
    assert!(resp.contains("upstream_timeout"));

    // Two connections held open fill the cap: a third is not served until one goes.
    let a = tokio::net::TcpStream::connect(gw.proxy).await.unwrap();
    let _b = tokio::net::TcpStream::connect(gw.proxy).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut c = tokio::net::TcpStream::connect(gw.proxy).await.unwrap();
    let get = format!(
        "GET /healthz-not-here HTTP/1.1\r\nHost: {}\r\nconnection: close\r\n\r\n",
        gw.proxy
    );
    c.write_all(get.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let waited = tokio::time::timeout(Duration::from_millis(700), c.read(&mut buf)).await;
    assert!(waited.is_err(), "served beyond max_connections");
    drop(a);
    let n = tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 "),
        "served once a slot is free"
    );
}

both_backends! {
    query => the_query_string_is_part_of_the_form;
    credentials => pdgate_credentials_never_leave_pdgate;
    spellings => spellings_of_a_declared_route_meet_its_field_actions;
    refused => what_cannot_be_canonical_or_allowed_is_refused;
}
