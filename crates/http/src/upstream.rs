//! The pooled client to upstreams, http and https (rustls, ALPN h2 or http/1.1).

use std::time::Duration;

use http::uri::{PathAndQuery, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::body::Body;

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

/// How much of a committed intake's upstream answer is read before any of it goes to the client.
pub const SETTLE_BYTES: usize = 256 << 10;

/// Reads a committed intake's upstream answer (up to `cap` bytes, within `wait`) before any of it
/// goes to the client: an upstream that resets or stalls mid-answer then gives the client a JSON
/// 502 or 504, and the audit log an `intake_not_delivered`, instead of a truncated page that looks
/// like success. An answer longer than `cap` is passed on as it comes after its first `cap` bytes
/// (a reset past that point aborts the client's connection, as on pass-through).
pub async fn settle(
    resp: http::Response<Body>,
    cap: usize,
    wait: Duration,
) -> Result<http::Response<Body>, crate::ApiError> {
    use futures_util::{StreamExt, TryStreamExt};
    use http_body_util::BodyExt;
    let (parts, mut body) = resp.into_parts();
    let mut head = bytes::BytesMut::new();
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                tracing::warn!(error = %e, "upstream answer broke off");
                crate::ApiError::bad_gateway()
            })?;
            if let Ok(data) = frame.into_data() {
                head.extend_from_slice(&data);
                if head.len() > cap {
                    return Ok(false);
                }
            }
        }
        Ok::<_, crate::ApiError>(true)
    };
    let whole = tokio::time::timeout(wait, read).await.map_err(|_| {
        tracing::warn!("upstream answer stalled");
        crate::ApiError::upstream_timeout()
    })??;
    let head = head.freeze();
    let body = if whole {
        Body::full(head)
    } else {
        let rest = body.into_data_stream().map_err(std::io::Error::other);
        Body::Chunked(Box::pin(
            futures_util::stream::once(async move { Ok(head) }).chain(rest),
        ))
    };
    Ok(http::Response::from_parts(parts, body))
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
