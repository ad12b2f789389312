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
use crate::proxy::{self, Body, ConnInfo, Handler};
use crate::server::{self, ServeError};

/// The sample CRM: answers 200 and prints each request with pdgate's headers.
pub struct SampleCrm;

impl Handler for SampleCrm {
    async fn handle(self: Arc<Self>, req: Request<Incoming>, _conn: ConnInfo) -> Response<Body> {
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
        let mut resp = Response::new(Body::full(r#"{"ok":true}"#));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        resp
    }
}

pub async fn run(listen: &str, admin_listen: &str, policies: &Path) -> Result<(), ServeError> {
    let dir = tempfile::tempdir()
        .map_err(|e| ServeError::Io(format!("cannot create a temporary directory: {e}")))?;
    let crm_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| ServeError::Bind {
            addr: "127.0.0.1:0".into(),
            reason: e.to_string(),
        })?;
    let crm_addr = crm_listener.local_addr().map_err(|e| ServeError::Bind {
        addr: "127.0.0.1:0".into(),
        reason: e.to_string(),
    })?;
    let (crm_stop, crm_rx) = tokio::sync::oneshot::channel::<()>();
    let crm = tokio::spawn(proxy::serve(
        crm_listener,
        None,
        Limits::default(),
        Arc::new(SampleCrm),
        async {
            let _ = crm_rx.await;
        },
        std::time::Duration::from_secs(1),
    ));

    let mut policy = Policy::load(policies)?;
    let crm_url: http::Uri = format!("http://{crm_addr}")
        .parse()
        .expect("a socket address is a valid authority");
    for u in &mut policy.upstreams {
        u.url = crm_url.clone();
    }
    let config = Config {
        listen: listen.to_owned(),
        admin_listen: admin_listen.to_owned(),
        database_url: format!("sqlite://{}", dir.path().join("demo.db").display()),
        policies: policies.to_owned(),
        shutdown_grace_s: 2,
        ..Config::default()
    };
    let server = server::start(config, policy, Kek::generate(1)).await?;
    print_banner(server.proxy_addr, server.admin_addr, crm_addr);
    server.run(server::shutdown_signal()).await;
    let _ = crm_stop.send(());
    let _ = crm.await;
    Ok(())
}

fn print_banner(
    proxy: std::net::SocketAddr,
    admin: std::net::SocketAddr,
    crm: std::net::SocketAddr,
) {
    let p = format!("http://{proxy}");
    println!(
        r#"
pdgate demo — gateway on {p}, admin on http://{admin}, sample CRM on http://{crm}
SQLite in a temporary directory, a throwaway key (DEV ONLY). Ctrl-C stops.

Try (each prints what the CRM received below):

  # checkout (JSON): e-mail and phone become tokens, name and address pdg1. envelopes, the comment is redacted
  curl -si {p}/api/checkout -H 'content-type: application/json' \
    -d '{{"email":"ivan@mail.ru","phone":"+7 916 123-45-67","name":"Иван Петров","address":"Москва, ул. Ленина, 1","comment":"звоните 8 916 765-43-21","items":[{{"sku":"A1","qty":2}}],"subscribe":"on"}}'

  # newsletter (form): consent is required — without it, 422 consent_required and nothing is stored
  curl -si {p}/newsletter/subscribe -d 'email=ivan@mail.ru&name=Иван&consent=on'
  curl -si {p}/newsletter/subscribe -d 'email=ivan@mail.ru&name=Иван'

  # contact form (multipart) with an attachment that streams through
  curl -si {p}/contact -F email=olga@mail.ru -F phone=+79161112233 -F name=Ольга -F 'message=мой ИНН 7707083893' -F agree=on -F attachment=@README.md

  # anything else streams to the CRM untouched
  curl -si {p}/catalog?page=2

  curl -s http://{admin}/readyz
"#
    );
}
