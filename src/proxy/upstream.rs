//! The pooled client to upstreams, http and https (rustls, ALPN h2 or http/1.1).

use std::time::Duration;

use http::uri::{PathAndQuery, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::body::Body;

pub type Client = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Body>;

/// One client for all upstreams; connections are pooled per host and reused.
pub fn client() -> Client {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let https = match builder.with_native_roots() {
        Ok(b) => b
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http),
        Err(e) => {
            tracing::warn!(error = %e, "no system CA certificates found; https upstreams will fail verification");
            let cfg = rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(cfg)
                .https_or_http()
                .enable_http1()
                .enable_http2()
                .wrap_connector(http)
        }
    };
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(https)
}

/// The upstream URI for a request path: the upstream's base path joined with the request's.
pub fn uri(base: &Uri, pq: Option<&PathAndQuery>) -> Result<Uri, http::Error> {
    let base_path = base.path().trim_end_matches('/');
    let pq = pq.map_or("/", PathAndQuery::as_str);
    let mut b = Uri::builder();
    if let Some(s) = base.scheme() {
        b = b.scheme(s.clone());
    }
    if let Some(a) = base.authority() {
        b = b.authority(a.clone());
    }
    b.path_and_query(format!("{base_path}{pq}")).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_base_path_and_query() {
        let base: Uri = "http://127.0.0.1:9000".parse().unwrap();
        let pq: PathAndQuery = "/a/b?x=1".parse().unwrap();
        assert_eq!(
            uri(&base, Some(&pq)).unwrap().to_string(),
            "http://127.0.0.1:9000/a/b?x=1"
        );
        let base: Uri = "https://crm.example/api/".parse().unwrap();
        assert_eq!(
            uri(&base, Some(&pq)).unwrap().to_string(),
            "https://crm.example/api/a/b?x=1"
        );
    }
}
