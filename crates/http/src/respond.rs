//! JSON in and out for pdgate's own endpoints (admin API, self-service), with the same error shape
//! as everything else.

use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::body::{Body, Lingering};
use crate::error::ApiError;

/// `value` as a JSON response, never cached (it may hold personal data).
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut r = Response::new(Body::full(bytes));
            *r.status_mut() = status;
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the response could not be encoded",
        )
        .into_response(),
    }
}

/// `value` as a `201 Created` JSON response whose `Location` is `location`.
pub fn created<T: Serialize + ?Sized>(location: &str, value: &T) -> Response<Body> {
    let mut r = json(StatusCode::CREATED, value);
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// A generated document (HTML, CSV, Markdown) with its type, never cached; with a file name it
/// downloads as an attachment.
pub fn document(
    content_type: &'static str,
    body: impl Into<bytes::Bytes>,
    filename: Option<&str>,
) -> Response<Body> {
    let mut r = Response::new(Body::full(body.into()));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(v) =
        filename.and_then(|f| HeaderValue::from_str(&format!("attachment; filename=\"{f}\"")).ok())
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// The whole body, refused with 413 past `max` bytes (a refused body is drained, see
/// [`Lingering`]).
pub async fn collect_limited<B>(body: B, max: u64) -> Result<bytes::Bytes, ApiError>
where
    B: http_body::Body<Data = bytes::Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Limited::new(body, usize::try_from(max).unwrap_or(usize::MAX))
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::body_too_large(max)
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "body_read_failed",
                    "the request body could not be read",
                )
            }
        })
}

/// Reads a JSON request body of at most `max` bytes into `T`.
pub async fn read_json<T: DeserializeOwned>(body: Incoming, max: u64) -> Result<T, ApiError> {
    let bytes = collect_limited(Lingering::new(body), max).await?;
    parse_json(&bytes)
}

/// Like [`read_json`], for endpoints whose body is optional: an empty body is `T::default()`.
pub async fn read_json_or_default<T: DeserializeOwned + Default>(
    body: Incoming,
    max: u64,
) -> Result<T, ApiError> {
    let bytes = collect_limited(Lingering::new(body), max).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_json(&bytes)
}

/// `bytes` as JSON `T`, or the `malformed_body` error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde's message can quote the offending value (a token, an e-mail): say where, not what.
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_body",
            format!(
                "the body is not the expected JSON ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ),
        )
    })
}

/// Query parameter `name` (percent-decoded), if present.
pub fn query_param(uri: &http::Uri, name: &str) -> Option<String> {
    form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Replaces the request's path by its canonical form; a target that cannot be canonical, or an
/// absolute-form target naming another host than `Host`, is refused with 400 `bad_path`.
pub fn canonicalize<B>(req: &mut Request<B>) -> Result<(), ApiError> {
    let bad = |why: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_path", why);
    if let (Some(authority), Some(host)) = (req.uri().authority(), req.headers().get(header::HOST))
    {
        if !host
            .as_bytes()
            .eq_ignore_ascii_case(authority.as_str().as_bytes())
        {
            return Err(bad(
                "the request target names another host than `Host`".into()
            ));
        }
    }
    let path = req.uri().path();
    let canonical =
        pdgate_core::policy::canonical::canonical_path(path).map_err(|e| bad(e.to_string()))?;
    if canonical != path {
        let pq = match req.uri().query() {
            Some(q) => format!("{canonical}?{q}"),
            None => canonical,
        };
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = Some(
            pq.parse()
                .map_err(|_| bad("the path cannot be rebuilt".into()))?,
        );
        *req.uri_mut() =
            http::Uri::from_parts(parts).map_err(|_| bad("the path cannot be rebuilt".into()))?;
    }
    Ok(())
}

/// The answer to a failed request, its cause logged: what each listener calls where it answers.
pub fn failure(e: ApiError) -> Response<Body> {
    e.log_cause();
    e.into_response()
}

/// 405 `method_not_allowed` with the `Allow` header listing what the path takes.
pub fn method_not_allowed(allow: &[http::Method]) -> Response<Body> {
    let list = allow
        .iter()
        .map(http::Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let mut resp = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("this path takes {list} only"),
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&list) {
        resp.headers_mut().insert(header::ALLOW, v);
    }
    resp
}
