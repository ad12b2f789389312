//! `pdgate demo`: the gateway on the example shop policies, a sample CRM in the same process that
//! prints what it receives (tokens and ciphertext, never the data), SQLite in a temporary directory
//! and a throwaway key — one command to see pdgate work.

use std::path::Path;
use std::sync::Arc;

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::net::TcpListener;

use crate::config::{Config, Limits};
use crate::crypto::Kek;
use crate::policy::Policy;
use crate::server::{self, ServeError};
use pdgate_http::auth::{self, Role};
use pdgate_http::{Body, ConnInfo, Handler};

/// The sample CRM: answers 200 and prints each request with pdgate's headers. Its "staff page"
/// (`GET /staff/…`) shows the last JSON body it received, tokens and all — what a back office
/// would display, and what a reveal route turns back into plaintext for staff.
#[derive(Default)]
pub struct SampleCrm {
    last: std::sync::Mutex<Option<bytes::Bytes>>,
}

impl Handler for SampleCrm {
    async fn handle(self: Arc<Self>, req: Request<Incoming>, _conn: ConnInfo) -> Response<Body> {
        if req.method() == http::Method::GET && req.uri().path().starts_with("/staff/") {
            let last = self
                .last
                .lock()
                .map(|l| l.clone())
                .unwrap_or_default()
                .unwrap_or_else(|| bytes::Bytes::from_static(b"{}"));
            let mut resp = Response::new(Body::full(last));
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            return resp;
        }
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let mut out = format!("\n── sample CRM received {} {}\n", parts.method, parts.uri);
        for (name, value) in &parts.headers {
            if name.as_str().starts_with("x-pdgate-") || name == http::header::CONTENT_TYPE {
                out.push_str(&format!("   {name}: {}\n", value.to_str().unwrap_or("?")));
            }
        }
        out.push_str(&format!("   body: {}\n", String::from_utf8_lossy(&body)));
        println!("{out}");
        let is_json = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if is_json {
            if let Ok(mut l) = self.last.lock() {
                *l = Some(body);
            }
        }
        let mut resp = Response::new(Body::full(r#"{"ok":true}"#));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        resp
    }
}

/// `pdgate sample-crm`: the demo's sample CRM on its own, as the upstream of a first `serve` or
/// the sample backend of a container deployment. Stops on SIGTERM or Ctrl-C.
pub async fn run_sample_crm(listen: &str) -> Result<(), ServeError> {
    let setting = "`sample-crm --listen`";
    let bind_error = |e: std::io::Error| ServeError::Bind {
        addr: listen.to_owned(),
        setting,
        source: e,
    };
    let listener = TcpListener::bind(listen).await.map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    println!("sample CRM on http://{addr}: prints every request it receives");
    pdgate_http::serve(
        listener,
        None,
        Limits::default(),
        Arc::new(SampleCrm::default()),
        server::shutdown_signal(),
        std::time::Duration::from_secs(1),
    )
    .await;
    Ok(())
}

pub async fn run(listen: &str, admin_listen: &str, policies: &Path) -> Result<(), ServeError> {
    let dir = tempfile::tempdir().map_err(ServeError::io("cannot create a temporary directory"))?;
    let (crm_addr, crm_stop, crm) = start_sample_crm().await?;
    let mut policy = Policy::load(policies)?;
    let crm_url: http::Uri = format!("http://{crm_addr}")
        .parse()
        .expect("a socket address is a valid authority");
    for u in &mut policy.upstreams {
        u.url = crm_url.clone();
    }
    // A throwaway JWT secret, so the demo can hand out service, DPO and auditor tokens.
    let secret = dir.path().join("jwt.secret");
    let hex = Kek::generate(1).to_hex();
    std::fs::write(&secret, hex.as_bytes())
        .map_err(ServeError::io("cannot write the demo JWT secret"))?;
    let mut config = Config {
        listen: listen.to_owned(),
        admin_listen: admin_listen.to_owned(),
        database_url: format!("sqlite://{}", dir.path().join("demo.db").display()),
        policies: policies.to_owned(),
        shutdown_grace_s: 2,
        ..Config::default()
    };
    config.admin.jwt_secret_file = Some(secret);
    let now = crate::now_millis() / 1000;
    let issue = |use_, role, service| {
        auth::issue(&config.admin, use_, role, service, "demo", now, 12 * 3600)
            .map_err(ServeError::Auth)
    };
    let tokens = DemoTokens {
        service: issue(auth::Use::Admin, Role::Service, Some("crm"))?,
        dpo: issue(auth::Use::Admin, Role::Dpo, None)?,
        auditor: issue(auth::Use::Admin, Role::Auditor, None)?,
        staff: issue(auth::Use::Staff, Role::Dpo, None)?,
    };
    // The examples' own files (an attachment to send, exports to write) stay in the demo's
    // directory: the demo writes nothing where it was started.
    let attachment = dir.path().join("attachment.txt");
    std::fs::write(
        &attachment,
        "A small attachment: it streams to the CRM as it is.\n",
    )
    .map_err(ServeError::io("cannot write the demo attachment"))?;
    let max_body = config.limits.max_body_bytes;
    let server = server::start(config, policy, Kek::generate(1)).await?;
    let places = Places {
        proxy: server.proxy_addr,
        admin: server.admin_addr,
        crm: crm_addr,
        dir: dir.path(),
        max_body,
    };
    print_banner(&places, &tokens);
    server.run(server::shutdown_signal()).await;
    let _ = crm_stop.send(());
    let _ = crm.await;
    Ok(())
}

/// The sample CRM on a port of its own: its address, what stops it, and its task.
async fn start_sample_crm() -> Result<
    (
        std::net::SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ),
    ServeError,
> {
    let bind_error = |source| ServeError::Bind {
        addr: "127.0.0.1:0".into(),
        setting: "the demo's sample CRM",
        source,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(pdgate_http::serve(
        listener,
        None,
        Limits::default(),
        Arc::new(SampleCrm::default()),
        async {
            let _ = stopped.await;
        },
        std::time::Duration::from_secs(1),
    ));
    Ok((addr, stop, task))
}

struct DemoTokens {
    service: String,
    dpo: String,
    auditor: String,
    /// A DPO's staff token for reveal routes (refused by the admin API, as admin tokens are there).
    staff: String,
}

/// Where the demo's parts listen and keep their files.
struct Places<'a> {
    proxy: std::net::SocketAddr,
    admin: std::net::SocketAddr,
    crm: std::net::SocketAddr,
    dir: &'a Path,
    max_body: u64,
}

fn print_banner(at: &Places<'_>, t: &DemoTokens) {
    let (admin, crm) = (at.admin, at.crm);
    let p = format!("http://{}", at.proxy);
    let a = format!("http://{admin}");
    let d = at.dir.display();
    let limit_kib = at.max_body / 1024;
    let (svc, dpo, aud, staff) = (&t.service, &t.dpo, &t.auditor, &t.staff);
    println!(
        r#"
pdgate demo — gateway on {p}, admin on http://{admin}, sample CRM on http://{crm}
SQLite and the examples' files in {d} (removed at exit), a throwaway key (DEV ONLY). Ctrl-C stops.

Try (each prints what the CRM received below):

  # checkout (JSON): e-mail and phone become tokens, name and address pdg2. envelopes, the comment is redacted
  curl -si {p}/api/checkout -H 'content-type: application/json' \
    -d '{{"email":"ivan@mail.ru","phone":"+7 916 123-45-67","name":"Иван Петров","address":"Москва, ул. Ленина, 1","comment":"звоните 8 916 765-43-21","items":[{{"sku":"A1","qty":2}}],"subscribe":"on"}}'

  # newsletter (form): consent is required — without it, 422 consent_required and nothing is stored
  curl -si {p}/newsletter/subscribe -d 'email=ivan@mail.ru&name=Иван&consent=on'
  curl -si {p}/newsletter/subscribe -d 'email=ivan@mail.ru&name=Иван'

  # contact form (multipart) with an attachment that goes through as it is; a whole form post may
  # be up to {limit_kib} KiB ([limits] max_body_bytes): a larger one is refused with 413 body_too_large
  curl -si {p}/contact -F email=olga@mail.ru -F phone=+79161112233 -F name=Ольга -F 'message=мой ИНН 7707083893' -F agree=on -F attachment=@{d}/attachment.txt

  # anything else streams to the CRM untouched
  curl -si {p}/catalog?page=2

  curl -s {a}/readyz

After the checkout above (copy tokens from what the CRM printed):

  # the CRM asks for plaintext for a declared purpose (service JWT); denials carry a reason
  curl -s {a}/v1/detokenize -H 'authorization: Bearer {svc}' \
    -d '{{"purpose":"marketing","tokens":["<t-…@relay.romashka.example>","<pdg2.… of the address>"]}}'

  # the subject manages consent with the X-Pdgate-Subject-Token from the checkout response
  curl -s {p}/.well-known/pdgate/v1/consents -H 'authorization: Bearer <subject token>'
  curl -s -X POST {p}/.well-known/pdgate/v1/consents/marketing/withdraw -H 'authorization: Bearer <subject token>'

  # staff page behind a reveal route: tokens for everyone, plaintext for a DPO's staff token
  curl -s {p}/staff/orders/last
  curl -s {p}/staff/orders/last -H 'authorization: Bearer {staff}'

  # the auditor exports the audit log and verifies it offline
  curl -s '{a}/admin/v1/audit?format=jsonl' -H 'authorization: Bearer {aud}' > {d}/audit.jsonl
  cargo run --release -- audit verify {d}/audit.jsonl

  # the DPO console: open {a}/console/ and sign in with this DPO token
  #   {dpo}
  # the register (152-FZ Art. 22(3) notification), as a page
  curl -s '{a}/admin/v1/register?view=fz152&format=html' -H 'authorization: Bearer {dpo}' > {d}/register.html
  # metrics and the API description
  curl -s {a}/metrics
  curl -s {a}/admin/openapi.json
"#
    );
}
