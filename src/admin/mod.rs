//! The admin listener. For now: liveness and readiness; the admin API (requests, audit export,
//! detokenize) lands here behind JWT auth in later work.

use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::proxy::{ApiError, Body, ConnInfo, Handler};
use crate::store::{Backend, Store};

pub struct Admin {
    pub store: Store,
}

impl Handler for Admin {
    async fn handle(self: Arc<Self>, req: Request<Incoming>, _conn: ConnInfo) -> Response<Body> {
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/healthz") => json(StatusCode::OK, r#"{"status":"ok"}"#),
            (&Method::GET, "/readyz") => match self.store.ping().await {
                // The key is loaded before the listener opens and never unloaded, so a reachable
                // database is the remaining condition.
                Ok(()) => json(
                    StatusCode::OK,
                    r#"{"status":"ready","database":"ok","key":"ok"}"#,
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "readiness: database unreachable");
                    ApiError::unavailable("store_unavailable", "the database is unreachable")
                        .into_response()
                }
            },
            _ => ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such admin endpoint")
                .into_response(),
        }
    }
}

fn json(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}
