//! Errors at the HTTP edge: a status and a stable `code`, rendered as
//! `{"error": {"code": "...", "message": "..."}}`. Messages are written for the caller and never
//! carry database, crypto or personal details.

use std::sync::Arc;

use http::{header, HeaderValue, Response, StatusCode};
use serde::Serialize;

use crate::body::Body;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The declared field a refused form post is about, for a browser's refusal page.
    pub field: Option<String>,
    /// What caused it, for the listener's log ([`ApiError::log_cause`]); never sent.
    pub cause: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

/// Equal when the caller would see the same answer; the cause is not part of it.
impl PartialEq for ApiError {
    fn eq(&self, other: &Self) -> bool {
        (self.status, self.code, &self.message, &self.field)
            == (other.status, other.code, &other.message, &other.field)
    }
}

impl Eq for ApiError {}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            cause: None,
        }
    }

    /// The same answer, remembering what caused it (logged by the listener, never sent).
    pub fn because(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.cause = Some(Arc::new(cause));
        self
    }

    /// Logs the cause, if any, where the listener answers: a store that is down is logged at
    /// most once per interval (`store::health::log_refusal`), anything else once per request.
    pub fn log_cause(&self) {
        let Some(cause) = &self.cause else {
            return;
        };
        match cause.downcast_ref::<pdgate_store::StoreError>() {
            Some(e) => pdgate_store::health::log_refusal(e, "store unavailable; refusing requests"),
            None => tracing::warn!(code = self.code, error = %cause, "request failed"),
        }
    }

    pub fn no_route() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "no_route",
            "no route matches this request and no default upstream is configured",
        )
    }

    pub fn not_found(code: &'static str, message: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not accept that method",
        )
    }

    pub fn body_too_large(max: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body exceeds {max} bytes"),
        )
    }

    pub fn unavailable(code: &'static str, message: &str) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    pub fn bad_gateway() -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "upstream_unavailable",
            "the upstream did not answer",
        )
    }

    pub fn upstream_timeout() -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            "the upstream did not answer in time",
        )
    }

    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::to_vec(&Envelope {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        })
        .unwrap_or_default();
        let mut resp = Response::new(Body::full(body));
        *resp.status_mut() = self.status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

impl From<pdgate_core::transfers::Refused> for ApiError {
    /// 451: the law, not the client, stands in the way until the notification is in order.
    fn from(r: pdgate_core::transfers::Refused) -> Self {
        ApiError::new(
            StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
            "cross_border_not_allowed",
            r.message,
        )
    }
}

/// A conflict is 409; anything else means the vault or audit log could not be reached: 503, with
/// the store's error as its cause (which names no value).
impl From<pdgate_store::StoreError> for ApiError {
    fn from(e: pdgate_store::StoreError) -> Self {
        use pdgate_store::StoreError::{Conflict, SubjectsMoved};
        let conflict = match &e {
            Conflict(what) => Some(format!("{what}; read it again and retry")),
            SubjectsMoved(_) => Some(
                "new data for the subject kept arriving while the request was fulfilled; retry"
                    .to_owned(),
            ),
            _ => None,
        };
        if let Some(message) = conflict {
            return Self::new(StatusCode::CONFLICT, "conflict", message);
        }
        Self::unavailable("store_unavailable", "the vault is unavailable").because(e)
    }
}

impl From<pdgate_core::intake::Refusal> for ApiError {
    fn from(r: pdgate_core::intake::Refusal) -> Self {
        Self {
            status: StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST),
            code: r.code,
            message: r.message,
            field: r.field,
            cause: None,
        }
    }
}

impl From<pdgate_core::forms::FormError> for ApiError {
    fn from(e: pdgate_core::forms::FormError) -> Self {
        let status = match e.code {
            "body_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
            "undeclared_field" => StatusCode::UNPROCESSABLE_ENTITY,
            "spool_failed" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(status, e.code, e.message)
    }
}

/// A breach record or state change the rules refuse: 409 for a closed breach, a transition its
/// state does not allow or a notice already recorded, 400 for the rest.
impl From<pdgate_core::breach::Invalid> for ApiError {
    fn from(e: pdgate_core::breach::Invalid) -> Self {
        let conflict = ["breach_closed", "invalid_transition", "already_recorded"];
        let status = if conflict.contains(&e.code) {
            StatusCode::CONFLICT
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(status, e.code, e.message)
    }
}
