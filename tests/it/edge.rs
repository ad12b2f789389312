//! The HTTP edge under stress and failure: TLS with HTTP/2, smuggling, timeouts, graceful drain,
//! fail-closed behaviour, the policy checker and the CLI's refusal to run without a key.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use pdgate_testkit::{get, post, raw, Db, Gateway, Opts, Upstream};

const JSON: &str = "application/json";

fn checkout() -> String {
    serde_json::json!({"email": "edge.case@mail.ru", "name": "Эдж Кейс", "subscribe": "on"})
        .to_string()
}

async fn tls_with_http2_and_http1(db: Db) {
    let up = Upstream::start(Duration::ZERO).await;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(tmp.path().join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let mut opts = Opts::new(db);
    opts.extra_config = format!(
        "[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        tmp.path().join("cert.pem").display(),
        tmp.path().join("key.pem").display()
    );
    let Some(gw) = Gateway::start(opts, &up.url()).await else {
        return;
    };

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    for (alpn, version) in [
        (b"h2".to_vec(), http::Version::HTTP_2),
        (b"http/1.1".to_vec(), http::Version::HTTP_11),
    ] {
        let mut cfg = rustls::ClientConfig::builder()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        cfg.alpn_protocols = vec![alpn];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
        let tcp = tokio::net::TcpStream::connect(gw.proxy).await.unwrap();
        let tls = connector
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .unwrap();
        let req = Request::post("https://localhost/api/checkout")
            .header("content-type", JSON)
            .body(Full::new(Bytes::from(checkout())))
            .unwrap();
        let resp = if version == http::Version::HTTP_2 {
            let (mut send, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            send.send_request(req).await.unwrap()
        } else {
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .unwrap();
            tokio::spawn(conn);
            send.send_request(req).await.unwrap()
        };
        assert_eq!(resp.version(), version);
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().contains_key("x-pdgate-receipt"));
        let _ = resp.into_body().collect().await.unwrap();
    }
    let reqs = up.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.header("x-forwarded-proto").unwrap(), "https");
        assert!(!r.body_str().contains("edge.case@"));
    }
}

async fn cleartext_http2_prior_knowledge(db: Db) {
    let up = Upstream::start(Duration::ZERO).await;
    let Some(gw) = Gateway::start(Opts::new(db), &up.url()).await else {
        return;
    };
    let tcp = tokio::net::TcpStream::connect(gw.proxy).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::get(format!("http://{}/catalog", gw.proxy))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(
        (resp.version(), resp.status().as_u16()),
        (http::Version::HTTP_2, 200)
    );
}

async fn conflicting_length_headers_are_refused_and_the_connection_closed(db: Db) {
    let up = Upstream::start(Duration::ZERO).await;
    let Some(gw) = Gateway::start(Opts::new(db), &up.url()).await else {
        return;
    };
    for path in ["/api/checkout", "/anything"] {
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        let started = Instant::now();
        let answer = raw(gw.proxy, req.as_bytes(), Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(
            answer.contains(r#""code":"conflicting_length""#),
            "{answer}"
        );
        assert_eq!(
            answer.matches("HTTP/1.1").count(),
            1,
            "the smuggled request is never answered: {answer}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "the connection is closed, not kept alive"
        );
    }
    assert!(up.requests().is_empty());
}

async fn header_and_idle_timeouts_close_connections(db: Db) {
    let up = Upstream::start(Duration::ZERO).await;
    let mut opts = Opts::new(db);
    opts.extra_config = "[limits]\nheader_timeout_ms = 300\nidle_timeout_ms = 500\n".into();
    let Some(gw) = Gateway::start(opts, &up.url()).await else {
        return;
    };
    // Slowloris: headers never finish.
    let started = Instant::now();
    let answer = raw(
        gw.proxy,
        b"GET /catalog HTTP/1.1\r\nHost: x\r\n",
        Duration::from_secs(5),
    )
    .await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "header timeout not enforced ({took:?}): {answer}"
    );
    assert!(!answer.contains("200 OK"));
    // Idle keep-alive connection after a complete exchange.
    let started = Instant::now();
    let answer = raw(
        gw.proxy,
        b"GET /catalog HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "idle connection closed after {took:?}"
    );
}

async fn sigterm_drains_in_flight_requests(db: Db) {
    let up = Upstream::start(Duration::from_millis(1500)).await;
    let Some(mut gw) = Gateway::start(Opts::new(db), &up.url()).await else {
        return;
    };
    let url = gw.url("/api/checkout");
    let in_flight = tokio::spawn(async move { post(&url, JSON, checkout()).await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    gw.signal("-TERM");
    let resp = in_flight.await.unwrap();
    assert_eq!(resp.status, 200, "the in-flight request completes");
    assert_eq!(gw.wait_exit().await, Some(0));
    assert!(
        tokio::net::TcpStream::connect(gw.proxy).await.is_err(),
        "no new connections after shutdown"
    );
    if let Some(file) = gw.database_url.strip_prefix("sqlite://") {
        // A clean stop leaves the database whole in its file: nothing is left in the WAL.
        let wal = std::fs::metadata(format!("{file}-wal")).map_or(0, |m| m.len());
        assert_eq!(
            wal,
            0,
            "the WAL was checkpointed into the database at shutdown; the gateway's log:\n{}",
            std::fs::read_to_string(&gw.log_path).unwrap_or_default()
        );
    }
}

async fn no_default_upstream_gives_json_404(db: Db) {
    let up = Upstream::start(Duration::ZERO).await;
    let mut opts = Opts::new(db);
    opts.policy_edit = Box::new(|name, text| {
        if name == "shop.yaml" {
            text.replace("default_upstream: crm", "")
        } else {
            text.to_owned()
        }
    });
    let Some(gw) = Gateway::start(opts, &up.url()).await else {
        return;
    };
    let resp = get(&gw.url("/nowhere")).await;
    assert_eq!(
        (resp.status.as_u16(), resp.code().as_str()),
        (404, "no_route")
    );
}

async fn database_unavailable_fails_closed(db: Db) {
    let up = Upstream::start(Duration::ZERO).await;
    match db {
        Db::Sqlite => {
            let Some(gw) = Gateway::start(Opts::new(db), &up.url()).await else {
                return;
            };
            // Another process holds the write lock: the vault cannot commit.
            use sqlx::Connection;
            let mut lock = sqlx::SqliteConnection::connect(&gw.database_url)
                .await
                .unwrap();
            sqlx::query("BEGIN EXCLUSIVE")
                .execute(&mut lock)
                .await
                .unwrap();
            let resp = post(&gw.url("/api/checkout"), JSON, checkout()).await;
            assert_eq!(
                (resp.status.as_u16(), resp.code().as_str()),
                (503, "store_unavailable")
            );
            assert!(
                up.requests().is_empty(),
                "nothing forwarded while the vault is down"
            );
            sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
            assert_eq!(
                post(&gw.url("/api/checkout"), JSON, checkout())
                    .await
                    .status,
                200,
                "recovers once the database is back"
            );
        }
        Db::Postgres => {
            let base = std::env::var("PDGATE_TEST_DATABASE_URL").expect("set when built");
            let pg = pdgate_testkit::fresh_pg_database(&base).await;
            let url = pg.url.clone();
            let target = url
                .split('@')
                .nth(1)
                .and_then(|r| r.split('/').next())
                .unwrap()
                .to_owned();
            let relay = Relay::start(&target).await;
            let via_relay = url.replacen(&target, &relay.addr.to_string(), 1);
            // The config's own database is replaced by the one behind the relay.
            let opts = Opts::new(Db::Sqlite);
            let Some((tmp, dir, _)) = pdgate_testkit::prepare(&opts, &up.url()).await else {
                return;
            };
            let cfg = std::fs::read_to_string(dir.join("pdgate.toml")).unwrap();
            let cfg = cfg
                .lines()
                .map(|l| {
                    if l.starts_with("database_url") {
                        format!("database_url = \"{via_relay}\"")
                    } else {
                        l.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            std::fs::write(dir.join("pdgate.toml"), cfg).unwrap();
            let mut gw = Gateway::adopt(tmp, dir, via_relay).await;
            assert_eq!(
                post(&gw.url("/api/checkout"), JSON, checkout())
                    .await
                    .status,
                200
            );
            relay.cut();
            let resp = post(&gw.url("/api/checkout"), JSON, checkout()).await;
            assert_eq!(
                (resp.status.as_u16(), resp.code().as_str()),
                (503, "store_unavailable")
            );
            assert_eq!(
                up.requests().len(),
                1,
                "nothing forwarded while the vault is down"
            );
            let ready = get(&gw.admin_url("/readyz")).await;
            assert_eq!(ready.status, 503);
            gw.kill9();
        }
    }
}

/// A TCP relay to PostgreSQL that the test can cut.
struct Relay {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: &str) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns = Arc::new(std::sync::Mutex::new(Vec::new()));
        let c = conns.clone();
        let target = target.to_owned();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let h = tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                c.lock().unwrap().push(h);
            }
        });
        Relay { addr, task, conns }
    }

    fn cut(&self) {
        self.task.abort();
        for h in self.conns.lock().unwrap().drain(..) {
            h.abort();
        }
    }
}

both_backends! {
    tls_h2 => tls_with_http2_and_http1;
    h2c => cleartext_http2_prior_knowledge;
    smuggling => conflicting_length_headers_are_refused_and_the_connection_closed;
    timeouts => header_and_idle_timeouts_close_connections;
    graceful_shutdown => sigterm_drains_in_flight_requests;
    no_default_upstream => no_default_upstream_gives_json_404;
    fail_closed_database => database_unavailable_fails_closed;
}

/// One HTTP/1.1 client connection on a raw socket (keep-alive), driven in the background.
async fn h1_client(
    addr: std::net::SocketAddr,
) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    send
}

async fn on(
    c: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &'static [u8],
) -> (u16, Bytes) {
    c.ready().await.unwrap();
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host.to_string())
        .body(Full::new(Bytes::from_static(body)))
        .unwrap();
    let resp = c.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

/// Upstream connections are pooled across client connections and given back after bodies and
/// body-less answers alike; one the upstream closed, whether it said so or went away while idle,
/// is replaced without failing a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_connections_are_reused_and_replaced_when_closed() {
    let up = Upstream::start(Duration::ZERO).await;
    let Some(gw) = Gateway::start(Opts::new(Db::Sqlite), &up.url()).await else {
        return;
    };
    let (mut a, mut b) = (h1_client(gw.proxy).await, h1_client(gw.proxy).await);
    let p = gw.proxy;
    assert_eq!(on(&mut a, p, "GET", "/a1", b"").await.0, 200);
    assert_eq!(on(&mut b, p, "GET", "/b1", b"").await.0, 200);
    let (status, body) = on(&mut a, p, "HEAD", "/a2", b"").await;
    assert_eq!((status, body.len()), (200, 0));
    let (status, body) = on(&mut b, p, "POST", "/b2", b"x=1").await;
    assert_eq!((status, &body[..]), (200, &b"{\"ok\":true,\"len\":3}"[..]));
    assert_eq!(on(&mut a, p, "GET", "/a3/close", b"").await.0, 200);
    assert_eq!(on(&mut b, p, "GET", "/b3", b"").await.0, 200);
    let peer = |path: &str| {
        up.requests()
            .iter()
            .find(|r| r.path == path)
            .unwrap_or_else(|| panic!("{path} reached the upstream"))
            .peer
    };
    for path in ["/b1", "/a2", "/b2", "/a3/close"] {
        assert_eq!(peer(path), peer("/a1"), "{path} reused the idle connection");
    }
    assert_ne!(
        peer("/b3"),
        peer("/a3/close"),
        "a connection that said close is replaced"
    );

    // Many clients at once: each request gets a connection of its own, and all are answered.
    let gets = (0..24).map(|i| async move {
        let mut c = h1_client(p).await;
        on(&mut c, p, "GET", &format!("/many/{i}"), b"").await.0
    });
    let statuses = futures_util::future::join_all(gets).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    // An upstream that closes idle connections without a word (a keep-alive timeout).
    let quiet = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let quiet_addr = quiet.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = quiet.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                }
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            });
        }
    });
    let Some(gw) = Gateway::start(Opts::new(Db::Sqlite), &format!("http://{quiet_addr}")).await
    else {
        return;
    };
    let mut c = h1_client(gw.proxy).await;
    for path in ["/q1", "/q2", "/q3"] {
        let (status, body) = on(&mut c, gw.proxy, "GET", path, b"").await;
        assert_eq!((status, &body[..]), (200, &b"ok"[..]), "{path}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
}

fn pdgate(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(pdgate_testkit::bin())
        .args(args)
        .current_dir(dir)
        .env_remove("PDGATE_KEY")
        .output()
        .unwrap()
}

#[tokio::test]
async fn serve_refuses_to_start_without_a_key_or_with_the_wrong_key() {
    let up = Upstream::start(Duration::ZERO).await;
    let mut opts = Opts::new(Db::Sqlite);
    opts.key = None;
    let (_tmp, dir, _) = pdgate_testkit::prepare(&opts, &up.url()).await.unwrap();
    let out = pdgate(&["serve", "--config", "pdgate.toml"], &dir);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no key configured"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // First start creates the key ring under key A; key B must not open it.
    let Some(mut gw) = Gateway::start(Opts::new(Db::Sqlite), &up.url()).await else {
        return;
    };
    gw.signal("-TERM");
    assert_eq!(gw.wait_exit().await, Some(0));
    std::fs::write(gw.dir.join("kek.hex"), "ff".repeat(32)).unwrap();
    let out = pdgate(&["serve", "--config", "pdgate.toml"], &gw.dir);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not open this database"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(gw.dir.join("kek.hex"), "not a key").unwrap();
    let out = pdgate(&["serve", "--config", "pdgate.toml"], &gw.dir);
    assert!(!out.status.success());
}

#[test]
fn policy_check_reports_every_error_with_file_and_line() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = pdgate(&["policy", "check", "policies"], root);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (4 routes"));

    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root.join("policies/routes.yaml"))
        .unwrap()
        .replace(
            "action: tokenize, kind: email}\n      phone",
            "action: tokenise, kind: email}\n      phone",
        )
        .replace(
            "upstream: crm\n    purposes: [marketing]",
            "upstream: nowhere\n    purposes: [marketing]",
        );
    std::fs::write(tmp.path().join("routes.yaml"), text).unwrap();
    std::fs::copy(
        root.join("policies/shop.yaml"),
        tmp.path().join("shop.yaml"),
    )
    .unwrap();
    let out = pdgate(&["policy", "check", tmp.path().to_str().unwrap()], root);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("routes.yaml:9: unknown variant `tokenise`"),
        "{err}"
    );
    assert!(
        err.contains("routes.yaml:23: unknown upstream `nowhere`"),
        "{err}"
    );
    assert!(
        !err.contains("subject field"),
        "a typo is reported once: {err}"
    );
    assert!(
        err.contains("shop.yaml:46: cannot read consent text"),
        "consent texts are resolved against the checked directory: {err}"
    );

    // A foreign-looking upstream without a country: valid, with a warning naming the line.
    let shop = std::fs::read_to_string(root.join("policies/shop.yaml"))
        .unwrap()
        .replace("http://127.0.0.1:9000", "https://crm.example.com");
    let dir = tmp.path().join("abroad");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("shop.yaml"), shop).unwrap();
    std::os::unix::fs::symlink(root.join("policies/consents"), dir.join("consents")).unwrap();
    let out = pdgate(&["policy", "check", "policies"], root);
    assert!(
        String::from_utf8_lossy(&out.stderr).is_empty(),
        "the examples earn no warning"
    );
    let out = pdgate(&["policy", "check", dir.to_str().unwrap()], root);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: ")
            && err
                .contains("shop.yaml:67: upstream `crm` at `crm.example.com` declares no country"),
        "{err}"
    );

    // The same CRM declared in the US: every readable personal field it would get is refused by
    // its line, under 152-FZ Art. 18(5), and so is forwarding the rest to it untouched.
    let us = std::fs::read_to_string(root.join("policies/shop.yaml"))
        .unwrap()
        .replace(
            "safeguards: scc}\n\ndefault",
            "safeguards: scc, country: US}\n\ndefault",
        );
    std::fs::write(dir.join("shop.yaml"), us).unwrap();
    std::fs::copy(root.join("policies/routes.yaml"), dir.join("routes.yaml")).unwrap();
    std::os::unix::fs::symlink(root.join("policies/pages"), dir.join("pages")).unwrap();
    let out = pdgate(&["policy", "check", dir.to_str().unwrap()], root);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for line in [
        "routes.yaml:13: 152-FZ Art. 18(5): route `checkout` sends `card_last4`",
        "routes.yaml:28: 152-FZ Art. 18(5): route `newsletter` sends `name`",
        "routes.yaml:45: 152-FZ Art. 18(5): route `contact` sends `phone`",
        "routes.yaml:58: 152-FZ Art. 18(5): route `staff_orders` forwards its requests untouched",
        "shop.yaml:69: 152-FZ Art. 18(5): the default upstream `crm` is in US",
    ] {
        assert!(err.contains(line), "{line} in {err}");
    }
    assert!(
        !err.contains("visitor_id"),
        "a field without a category is not declared personal"
    );
}

/// `pdgate demo` on the shipped policies, from `cwd`, its proxy on `listen`, stdout piped.
fn demo(cwd: &std::path::Path, listen: &str) -> Command {
    let policies = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let mut c = Command::new(pdgate_testkit::bin());
    c.args(["demo", "--listen", listen, "--admin-listen", "127.0.0.1:0"])
        .arg("--policies")
        .arg(policies)
        .current_dir(cwd)
        .env_remove("PDGATE_LOG")
        .stdout(std::process::Stdio::piped());
    c
}

#[tokio::test]
async fn demo_runs_the_shop_and_the_sample_crm_sees_tokens_only() {
    use std::io::{BufRead, BufReader};
    let mut child = demo(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
        "127.0.0.1:0",
    )
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let gateway = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .unwrap()
            .unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.strip_prefix("pdgate demo — gateway on http://") {
            break rest.split(',').next().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no banner: {seen}");
    };
    let body = r#"{"email":"demo.person@mail.ru","name":"Демо Персона","subscribe":"on"}"#;
    let resp = post(&format!("http://{gateway}/api/checkout"), JSON, body).await;
    assert_eq!(resp.status, 200);
    let mut crm = String::new();
    while !crm.contains("body:") {
        let line = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        crm.push_str(&line);
        crm.push('\n');
    }
    assert!(
        crm.contains("curl -si http://"),
        "the banner prints curl lines: {seen}{crm}"
    );
    assert!(
        crm.contains("sample CRM received POST /api/checkout"),
        "{crm}"
    );
    assert!(
        crm.contains("@relay.romashka.example") && crm.contains("pdg2."),
        "{crm}"
    );
    assert!(
        !crm.contains("demo.person@") && !crm.contains("Демо"),
        "the CRM never sees the data: {crm}"
    );
    // The printed DPO token opens the staff page's plaintext through the reveal route.
    let dpo = crm
        .lines()
        .find(|l| l.contains("/staff/orders/last -H 'authorization: Bearer "))
        .and_then(|l| l.split("Bearer ").nth(1))
        .map(|t| t.trim_end_matches('\'').to_owned())
        .expect("the banner prints a DPO token");
    let staff = |bearer: Option<String>| {
        let url = format!("http://{gateway}/staff/orders/last");
        async move {
            let mut b = Request::get(url);
            if let Some(t) = bearer {
                b = b.header("authorization", format!("Bearer {t}"));
            }
            pdgate_testkit::send(b.body(Full::new(Bytes::new())).unwrap()).await
        }
    };
    let plain = String::from_utf8(staff(Some(dpo)).await.body.to_vec()).unwrap();
    assert!(
        plain.contains("demo.person@mail.ru") && plain.contains("Демо Персона"),
        "{plain}"
    );
    let tokens = String::from_utf8(staff(None).await.body.to_vec()).unwrap();
    assert!(
        !tokens.contains("demo.person@") && tokens.contains("pdg2."),
        "{tokens}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn policy_check_names_missing_art_9_4_elements_of_a_consent_text() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("consents")).unwrap();
    std::fs::create_dir_all(tmp.path().join("pages")).unwrap();
    for f in [
        "shop.yaml",
        "routes.yaml",
        "consents/contact.md",
        "pages/refusal.ru.html",
        "pages/refusal.en.html",
    ] {
        std::fs::copy(root.join("policies").join(f), tmp.path().join(f)).unwrap();
    }
    let text = std::fs::read_to_string(root.join("policies/consents/marketing.md")).unwrap();
    let broken: String = text
        .lines()
        .filter(|l| !l.starts_with("withdrawal:"))
        .map(|l| {
            if l.starts_with("term:") {
                "term: \"\"\n".to_owned()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(tmp.path().join("consents/marketing.md"), broken).unwrap();
    let out = pdgate(&["policy", "check", tmp.path().to_str().unwrap()], root);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("consent text `consents/marketing.md` lacks 152-FZ Art. 9(4) element(s) in its front matter: term, withdrawal"),
        "{err}"
    );
}

/// The demo as a newcomer runs it, from a directory of its own: the banner's examples read and
/// write only inside the demo's temporary directory (removed at exit), the attachment example
/// works as printed, the admin root opens the console, the log carries no terminal colours when
/// it is not a terminal, and the working directory stays empty.
#[tokio::test]
async fn the_demo_writes_nothing_where_it_runs() {
    use std::io::{BufRead, Read};
    let cwd = tempfile::tempdir().unwrap();
    let mut child = demo(cwd.path(), "127.0.0.1:0")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The banner comes first; the sample CRM then prints what it receives, so stdout is read on
    // to the end (a closed pipe would fail the demo's prints).
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("openapi.json") {
                let _ = tx.send(lines.join("\n"));
            }
            lines.push(line);
        }
    });
    let banner = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the demo prints its banner");
    let after = |s: &str, key: &str| {
        let rest = &s[s.find(key).unwrap_or_else(|| panic!("{key} in {s}")) + key.len()..];
        rest.split(|c: char| c == ',' || c.is_whitespace())
            .next()
            .unwrap()
            .to_owned()
    };
    let proxy = after(&banner, "gateway on ");
    let admin = after(&banner, "admin on ");
    let dir = after(&banner, "examples' files in ");
    let attachment = after(&banner, "attachment=@");
    assert!(attachment.starts_with(&dir), "{banner}");
    for redirect in banner.match_indices("> ").map(|(i, _)| &banner[i + 2..]) {
        assert!(
            redirect.starts_with(&dir),
            "an example writes outside {dir}: {redirect}"
        );
    }

    // The contact example as printed: the attachment file exists and goes through.
    let file = std::fs::read(&attachment).unwrap();
    let mut body = Vec::new();
    for (name, value, filename) in [
        ("email", &b"olga@mail.ru"[..], None),
        ("name", "Ольга".as_bytes(), None),
        ("agree", b"on", None),
        ("attachment", &file, Some("attachment.txt")),
    ] {
        body.extend_from_slice(b"--BOUNDARYxyz\r\nContent-Disposition: form-data; name=\"");
        body.extend_from_slice(name.as_bytes());
        if let Some(f) = filename {
            body.extend_from_slice(format!("\"; filename=\"{f}").as_bytes());
        }
        body.extend_from_slice(b"\"\r\n\r\n");
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--BOUNDARYxyz--\r\n");
    let r = post(
        &format!("{proxy}/contact"),
        "multipart/form-data; boundary=BOUNDARYxyz",
        body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let root = get(&format!("{admin}/")).await;
    assert_eq!(
        (root.status.as_u16(), root.header("location").as_deref()),
        (308, Some("/console/"))
    );

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || {
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (child.wait().unwrap(), err)
    });
    let (status, stderr) = tokio::time::timeout(Duration::from_secs(30), status)
        .await
        .expect("the demo stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("INFO"), "the demo logs: {stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in a piped log: {stderr}"
    );
    assert!(
        !std::path::Path::new(&dir).exists(),
        "the demo's directory is removed"
    );
    let left: Vec<_> = std::fs::read_dir(cwd.path()).unwrap().collect();
    assert!(
        left.is_empty(),
        "the demo wrote into its working directory: {left:?}"
    );
}

/// An address in use names the setting to change.
#[tokio::test]
async fn an_address_in_use_names_its_setting() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let up = Upstream::start(Duration::ZERO).await;
    let (_tmp, dir, _) = pdgate_testkit::prepare(&Opts::new(Db::Sqlite), &up.url())
        .await
        .unwrap();
    let cfg = std::fs::read_to_string(dir.join("pdgate.toml"))
        .unwrap()
        .replace(
            "listen = \"127.0.0.1:0\"\nadmin",
            &format!("listen = \"{addr}\"\nadmin"),
        );
    std::fs::write(dir.join("pdgate.toml"), cfg).unwrap();
    let out = pdgate(&["serve", "--config", "pdgate.toml"], &dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("cannot listen on {addr}")) && err.contains("`listen` in the config"),
        "{err}"
    );
    let out = demo(&dir, &addr).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("`demo --listen`"),
        "{err}"
    );
}

/// `[admin.tls]`: the admin listener speaks TLS with its own certificate, refuses cleartext, and
/// `pdgate health` (the container's health check) still reaches it, trusting exactly that
/// certificate.
#[tokio::test]
async fn the_admin_listener_has_its_own_tls() {
    let up = Upstream::start(Duration::ZERO).await;
    let cert = rcgen::generate_simple_self_signed(vec!["pdgate-admin.internal".into()]).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (tmp.path().join("admin.pem"), tmp.path().join("admin.key"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let mut opts = Opts::new(Db::Sqlite);
    opts.extra_config = format!(
        "[admin.tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        cert_path.display(),
        key_path.display()
    );
    let gw = Gateway::start(opts, &up.url()).await.unwrap();

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(gw.admin).await.unwrap();
    let tls = connector
        .connect("pdgate-admin.internal".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::get("https://pdgate-admin.internal/healthz")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);

    // Cleartext gets no answer from the admin API; the proxy listener stays as configured.
    let plain = raw(
        gw.admin,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(!plain.contains("\"ok\""), "{plain}");
    assert_eq!(get(&gw.url("/catalog")).await.status, 200);

    let health = Command::new(pdgate_testkit::bin())
        .args(["health", "--config"])
        .arg(&gw.config_path)
        .env("PDGATE_ADMIN_LISTEN", gw.admin.to_string())
        .output()
        .unwrap();
    assert!(
        health.status.success(),
        "{}",
        String::from_utf8_lossy(&health.stderr)
    );
    // A probe that trusts another certificate fails: the pin is the configured certificate.
    let other = rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap();
    std::fs::write(&cert_path, other.cert.pem()).unwrap();
    let health = Command::new(pdgate_testkit::bin())
        .args(["health", "--config"])
        .arg(&gw.config_path)
        .env("PDGATE_ADMIN_LISTEN", gw.admin.to_string())
        .output()
        .unwrap();
    assert!(!health.status.success());
}

/// A key given in `PDGATE_KEY` leaves the process's environment: `serve` executes itself once
/// more with the key on stdin, so `/proc/PID/environ` (the block the process was started with,
/// readable by the same user, root and core dumps) no longer shows it. The second start unwraps
/// the vault's stored root secret, so the key read from stdin is the key that was given.
#[tokio::test]
async fn a_key_given_in_the_environment_leaves_it() {
    let up = Upstream::start(Duration::ZERO).await;
    let mut opts = Opts::new(Db::Sqlite);
    opts.key = None;
    opts.env
        .push(("PDGATE_KEY".into(), pdgate_testkit::KEY_HEX.into()));
    let Some(mut gw) = Gateway::start(opts, &up.url()).await else {
        return;
    };
    for start in 1..=2 {
        let environ = std::fs::read(format!("/proc/{}/environ", gw.pid())).unwrap();
        let environ = String::from_utf8_lossy(&environ);
        assert!(
            !environ.contains(pdgate_testkit::KEY_HEX),
            "start {start}: the key is in /proc/PID/environ"
        );
        assert!(
            !environ.split('\0').any(|v| v.starts_with("PDGATE_KEY=")),
            "start {start}: PDGATE_KEY is in /proc/PID/environ"
        );
        let ready = get(&gw.admin_url("/readyz")).await;
        assert_eq!(ready.status, 200, "start {start}: {}", ready.json());
        gw.kill9();
        gw.spawn().await;
    }
}
