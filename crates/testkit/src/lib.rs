//! pdgate's test kit: the real `pdgate` binary on port 0, a real upstream that records what it gets,
//! and real HTTP clients. SQLite in a temp dir by default; PostgreSQL with a fresh database per test
//! when `PDGATE_TEST_DATABASE_URL` is set.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

pub const KEY_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A test's own place: a temp dir and its database (SQLite in the dir, or a fresh PostgreSQL
/// database). Both go when it is dropped, also when the test fails.
pub struct Scratch {
    tmp: tempfile::TempDir,
    pub url: String,
    _pg: Option<PgDatabase>,
}

impl Scratch {
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }
}

/// A new [`Scratch`], or `None` when PostgreSQL is not configured (outside CI).
pub async fn scratch(db: Db) -> Option<Scratch> {
    let tmp = tempfile::tempdir().unwrap();
    let (url, pg) = match db {
        Db::Sqlite => (
            format!("sqlite://{}", tmp.path().join("pdgate.db").display()),
            None,
        ),
        Db::Postgres => {
            let base = match std::env::var("PDGATE_TEST_DATABASE_URL") {
                Ok(u) => u,
                // Compiled without it, the variants are ignored and never get here.
                Err(_) => {
                    panic!("PDGATE_TEST_DATABASE_URL was set when the tests were built but not now")
                }
            };
            let pg = fresh_pg_database(&base).await;
            (pg.url.clone(), Some(pg))
        }
    };
    Some(Scratch { tmp, url, _pg: pg })
}

/// A `pdgate_t_<random>` database that a test created; dropped (with its connections) on drop.
pub struct PgDatabase {
    base: String,
    name: String,
    pub url: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&base).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .map(|_| ())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("test database {} was not dropped: {dropped:?}", self.name);
        }
    }
}

/// Creates `pdgate_t_<random>` on the server of `base`.
pub async fn fresh_pg_database(base: &str) -> PgDatabase {
    use sqlx::Connection;
    let name = format!("pdgate_t_{}", uuid_like());
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .expect("connect to PDGATE_TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let (head, _) = base.rsplit_once('/').expect("database URL has a path");
    PgDatabase {
        base: base.to_owned(),
        url: format!("{head}/{name}"),
        name,
    }
}

pub fn uuid_like() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", n, std::process::id())
}

/// What the upstream received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The address pdgate's upstream connection came from (one per connection).
    pub peer: SocketAddr,
}

impl Received {
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

/// A recording upstream. `delay` holds every response back (for drain tests).
pub struct Upstream {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub async fn start(delay: Duration) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let rec = received.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    return;
                };
                let rec = rec.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let rec = rec.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let len = body.len();
                            rec.lock().unwrap().push(Received {
                                method: parts.method.to_string(),
                                path: parts.uri.to_string(),
                                headers: parts.headers,
                                body,
                                peer,
                            });
                            if !delay.is_zero() {
                                tokio::time::sleep(delay).await;
                            }
                            // `/echo/{json,html}?body=…` answers with that body (a staff UI page).
                            let path = parts.uri.path().to_owned();
                            let echo = parts.uri.query().and_then(|q| {
                                form_urlencoded::parse(q.as_bytes())
                                    .find(|(k, _)| k == "body")
                                    .map(|(_, v)| v.into_owned())
                            });
                            let (text, ct) = match echo {
                                Some(b) if path.ends_with("/echo/json") => (b, "application/json"),
                                Some(b) if path.ends_with("/echo/html") => {
                                    (b, "text/html; charset=utf-8")
                                }
                                _ => (format!("{{\"ok\":true,\"len\":{len}}}"), "application/json"),
                            };
                            let mut resp = Response::new(Full::new(Bytes::from(text)));
                            resp.headers_mut()
                                .insert("content-type", ct.parse().unwrap());
                            // `…/close` answers and then closes its connection.
                            let connection = if path.ends_with("/close") {
                                "close"
                            } else {
                                "x-upstream-private"
                            };
                            resp.headers_mut()
                                .insert("connection", connection.parse().unwrap());
                            resp.headers_mut()
                                .insert("x-upstream-private", "1".parse().unwrap());
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Upstream {
            addr,
            received,
            task,
        }
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Rewrites one example policy file `(file name, text) -> text`.
pub type PolicyEdit = Box<dyn Fn(&str, &str) -> String + Send>;

/// Options for one gateway process.
pub struct Opts {
    pub db: Db,
    pub extra_config: String,
    /// Edits applied to `routes.yaml` / `shop.yaml` of the example policies.
    pub policy_edit: PolicyEdit,
    pub key: Option<String>,
    /// Write an HS256 secret and an `[admin]` table for it (so `token()` works).
    pub admin_tokens: bool,
    /// A database of the test's own choosing instead of the scratch one (e.g. its own cluster).
    pub database_url: Option<String>,
    /// Environment the process gets beyond the test's own (e.g. a preloaded fake clock); an
    /// empty value removes the variable.
    pub env: Vec<(String, String)>,
}

/// The HS256 secret of gateways started with [`Opts::with_admin_tokens`].
pub const ADMIN_SECRET: &str = "test-secret-0123456789abcdef-0123456789";

impl Opts {
    pub fn new(db: Db) -> Self {
        Self {
            db,
            extra_config: String::new(),
            policy_edit: Box::new(|_, t| t.to_owned()),
            key: Some(KEY_HEX.into()),
            admin_tokens: false,
            env: Vec::new(),
            database_url: None,
        }
    }

    pub fn with_admin_tokens(mut self) -> Self {
        self.admin_tokens = true;
        self
    }
}

/// A running `pdgate serve` and everything it was started with.
pub struct Gateway {
    pub child: Option<Child>,
    pub proxy: SocketAddr,
    pub admin: SocketAddr,
    pub dir: PathBuf,
    pub database_url: String,
    pub config_path: PathBuf,
    pub log_path: PathBuf,
    env: Vec<(String, String)>,
    _tmp: Option<Scratch>,
}

/// The `pdgate` binary cargo built for these tests.
pub fn bin() -> &'static Path {
    // The test binary runs from target/<profile>/deps; cargo builds `pdgate` beside deps/ for
    // every integration test of its package.
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>/deps");
        profile.join(format!("pdgate{}", std::env::consts::EXE_SUFFIX))
    })
}

/// The workspace's root: policies, README and deployment files the tests read.
pub fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Writes config, policies and key into a new temp dir; `None` if the database is not available.
pub async fn prepare(opts: &Opts, upstream: &str) -> Option<(Scratch, PathBuf, String)> {
    let tmp = scratch(opts.db).await?;
    let dir = tmp.path().to_owned();
    let db_url = opts.database_url.clone().unwrap_or_else(|| tmp.url.clone());
    let pol = dir.join("policies");
    std::fs::create_dir_all(pol.join("consents")).unwrap();
    let src = workspace().join("policies");
    for name in ["shop.yaml", "routes.yaml"] {
        let text = std::fs::read_to_string(src.join(name))
            .unwrap()
            .replace("http://127.0.0.1:9000", upstream);
        std::fs::write(pol.join(name), (opts.policy_edit)(name, &text)).unwrap();
    }
    for name in [
        "consents/marketing.md",
        "consents/contact.md",
        "pages/refusal.ru.html",
        "pages/refusal.en.html",
    ] {
        std::fs::create_dir_all(pol.join(name).parent().unwrap()).unwrap();
        std::fs::copy(src.join(name), pol.join(name)).unwrap();
    }
    let mut config = format!(
        "listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\ndatabase_url = \"{db_url}\"\npolicies = \"{}\"\nshutdown_grace_s = 10\n",
        pol.display()
    );
    if let Some(k) = &opts.key {
        std::fs::write(dir.join("kek.hex"), k).unwrap();
        config.push_str(&format!(
            "key_file = \"{}\"\n",
            dir.join("kek.hex").display()
        ));
    }
    // Top-level keys must precede tables in TOML: callers' extras may open tables.
    config.push_str(&opts.extra_config);
    if opts.admin_tokens {
        let secret = dir.join("jwt.secret");
        std::fs::write(&secret, ADMIN_SECRET).unwrap();
        config.push_str(&format!(
            "\n[admin]\njwt_secret_file = \"{}\"\n",
            secret.display()
        ));
    }
    std::fs::write(dir.join("pdgate.toml"), config).unwrap();
    Some((tmp, dir, db_url))
}

impl Gateway {
    /// Starts `pdgate serve` with the example policies pointed at `upstream`.
    pub async fn start(opts: Opts, upstream: &str) -> Option<Gateway> {
        let (tmp, dir, db_url) = prepare(&opts, upstream).await?;
        Some(Gateway::launch(tmp, dir, db_url, opts.env).await)
    }

    /// Starts `pdgate serve` on a directory made by [`prepare`] (possibly edited since).
    pub async fn adopt(tmp: Scratch, dir: PathBuf, database_url: String) -> Gateway {
        Gateway::launch(tmp, dir, database_url, Vec::new()).await
    }

    async fn launch(
        tmp: Scratch,
        dir: PathBuf,
        database_url: String,
        env: Vec<(String, String)>,
    ) -> Gateway {
        let mut g = Gateway {
            env,
            child: None,
            proxy: "0.0.0.0:0".parse().unwrap(),
            admin: "0.0.0.0:0".parse().unwrap(),
            config_path: dir.join("pdgate.toml"),
            log_path: dir.join("pdgate.log"),
            dir,
            database_url,
            _tmp: Some(tmp),
        };
        g.spawn().await;
        g
    }

    /// (Re)starts the process on the same config and database.
    pub async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .unwrap();
        let mut cmd = Command::new(bin());
        cmd.args(["serve", "--config"])
            .arg(&self.config_path)
            .env_remove("PDGATE_KEY")
            .env("PDGATE_LOG", "info");
        for (k, v) in &self.env {
            match v.is_empty() {
                true => cmd.env_remove(k),
                false => cmd.env(k, v),
            };
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn pdgate");
        self.child = Some(child);
        let (proxy, admin) = self.wait_listening().await;
        self.proxy = proxy;
        self.admin = admin;
    }

    async fn wait_listening(&mut self) -> (SocketAddr, SocketAddr) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let starts = self.log().matches("vault ready").count();
        loop {
            let log = self.log();
            // Only lines after the latest start count.
            if log.matches("vault ready").count() > starts || starts == 0 {
                let tail = &log[log.rfind("vault ready").unwrap_or(0)..];
                let mut found: HashMap<String, SocketAddr> = HashMap::new();
                for line in tail.lines() {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                        if v["message"] == "listening" {
                            found.insert(
                                v["listener"].as_str().unwrap().into(),
                                v["addr"].as_str().unwrap().parse().unwrap(),
                            );
                        }
                    }
                }
                if let (Some(p), Some(a)) = (found.get("proxy"), found.get("admin")) {
                    return (*p, *a);
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "pdgate exited with {status} before listening:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "pdgate did not start:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.proxy)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} failed");
    }

    /// Waits for the process to exit and returns its exit code.
    pub async fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "pdgate did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn kill9(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The store and keys the process uses, opened from the test.
    pub async fn vault(&self) -> (pdgate::store::Store, pdgate::crypto::Keys) {
        let store = pdgate::store::Store::open(&self.database_url)
            .await
            .unwrap();
        let keys = pdgate::server::unlock(
            &store,
            pdgate::crypto::Kek::parse(KEY_HEX, 1).unwrap(),
            None,
        )
        .await
        .unwrap();
        (store, keys)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A plain HTTP/1.1 client response.
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

pub async fn send(req: Request<Full<Bytes>>) -> Resp {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let resp = client.request(req).await.expect("request");
    let (parts, body) = resp.into_parts();
    Resp {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

pub async fn post(url: &str, content_type: &str, body: impl Into<Bytes>) -> Resp {
    send(
        Request::post(url)
            .header("content-type", content_type)
            .body(Full::new(body.into()))
            .unwrap(),
    )
    .await
}

pub async fn get(url: &str) -> Resp {
    send(Request::get(url).body(Full::new(Bytes::new())).unwrap()).await
}

/// Runs a test body against SQLite and (when configured) PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident => $body:ident;)*) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$body($crate::Db::Sqlite).await }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(pdgate_no_test_db, ignore = "PDGATE_TEST_DATABASE_URL was not set at build time")]
                async fn $name() { super::$body($crate::Db::Postgres).await }
            )*
        }
    };
}

/// Writes `bytes` on a new connection and returns everything read until the peer closes or
/// `wait` passes.
pub async fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// `pdgate <command> --config <this gateway's> <args>` (the CLI under test); its stdout, once
/// it has exited successfully.
pub fn cli(gw: &Gateway, command: &[&str], args: &[&str]) -> Vec<u8> {
    let out = Command::new(bin())
        .args(command)
        .arg("--config")
        .arg(&gw.config_path)
        .args(args)
        .env_remove("PDGATE_KEY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `pdgate retention run` for this gateway, its JSON report.
pub fn retention(gw: &Gateway, args: &[&str]) -> serde_json::Value {
    serde_json::from_slice(&cli(gw, &["retention", "run"], args)).unwrap()
}

/// A token from `pdgate token issue` (the CLI under test) for this gateway's config.
pub fn token(gw: &Gateway, role: &str, service: Option<&str>) -> String {
    issue_token(gw, role, service, false)
}

/// A staff token (reveal routes) from `pdgate token issue --staff`.
pub fn staff_token(gw: &Gateway, role: &str) -> String {
    issue_token(gw, role, None, true)
}

fn issue_token(gw: &Gateway, role: &str, service: Option<&str>, staff: bool) -> String {
    let mut cmd = Command::new(bin());
    cmd.args(["token", "issue", "--config"])
        .arg(&gw.config_path)
        .args(["--role", role, "--ttl", "1h"]);
    if let Some(s) = service {
        cmd.args(["--service", s]);
    }
    if staff {
        cmd.arg("--staff");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(t.split('.').count(), 3, "the token alone on stdout: {t}");
    t
}

pub async fn authed(method: &str, url: &str, bearer: &str, body: impl Into<Bytes>) -> Resp {
    send(
        Request::builder()
            .method(method)
            .uri(url)
            .header("authorization", format!("Bearer {bearer}"))
            .header("content-type", "application/json")
            .body(Full::new(body.into()))
            .unwrap(),
    )
    .await
}

pub async fn detokenize(gw: &Gateway, bearer: &str, purpose: &str, tokens: &[&str]) -> Resp {
    authed(
        "POST",
        &gw.admin_url("/v1/detokenize"),
        bearer,
        serde_json::json!({"purpose": purpose, "tokens": tokens}).to_string(),
    )
    .await
}

/// `(value or denial code)` per token.
pub fn outcomes(r: &Resp) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["value"]
                .as_str()
                .or(i["denied"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// A test that needs an outside tool (a browser, Schemathesis, libfaketime, PostgreSQL's server
/// binaries), as a libtest-mimic trial: reported as ignored, with the reason, when the tool is
/// missing, except under `CI=true`, where a missing tool is a failure.
pub fn tool_trial<F>(
    name: &str,
    missing: Option<String>,
    test: impl FnOnce() -> F + Send + 'static,
) -> libtest_mimic::Trial
where
    F: std::future::Future<Output = ()>,
{
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if let Some(why) = &missing {
        eprintln!("{name}: ignored: {why}");
    }
    let ignored = missing.is_some() && !in_ci;
    libtest_mimic::Trial::test(name, move || {
        if let Some(why) = missing {
            return Err(
                format!("{why} (CI installs it; a missing tool is a failure there)").into(),
            );
        }
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(test());
        Ok(())
    })
    .with_ignored_flag(ignored)
}

/// A JSON checkout of the example shop for `email` (consent to marketing given); `total` marks
/// which post it was, since the upstream receives the e-mail only as a token.
pub fn checkout_body(email: &str, total: u64) -> String {
    serde_json::json!({
        "email": email, "phone": "+7 916 555-01-01", "name": "Иван",
        "address": "Москва", "items": [], "total": total, "subscribe": "on",
    })
    .to_string()
}

/// The `email` of every JSON body the upstream received in a POST: the tokens a test then
/// detokenizes to prove each forwarded intake has its vault entry.
pub fn forwarded_emails(up: &Upstream) -> Vec<String> {
    up.requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["email"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// What a command prints, trimmed, read as a number (`id -u`, `date +%s`).
pub fn number_from<T: std::str::FromStr>(cmd: &mut Command) -> T
where
    T::Err: std::fmt::Debug,
{
    let out = cmd.output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}
