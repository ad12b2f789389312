//! The admin listener's domain errors as HTTP: each to its status and stable `code`, with no
//! side effects. Handlers answer with `.map_err(IntoHttp::into_http)?`. (The errors both
//! listeners share — store, intake, forms, transfers, breaches — are mapped in
//! `pdgate_http::ApiError`'s `From` impls, where the orphan rule puts them.)

use http::StatusCode;
use pdgate_http::ApiError;

use pdgate_app::breach::BreachError;
use pdgate_app::purpose::DetokenizeError;
use pdgate_app::requests::flow::FlowError;
use pdgate_app::requests::links::LinkError;
use pdgate_app::transfers::NotificationError;

/// A domain error of the admin API as its HTTP answer.
pub(crate) trait IntoHttp {
    fn into_http(self) -> ApiError;
}

impl IntoHttp for FlowError {
    fn into_http(self) -> ApiError {
        let e = self;
        match e {
            FlowError::Invalid { code, message } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            }
            FlowError::Conflict { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            FlowError::NotFound => ApiError::not_found("request_not_found", "no such request"),
            FlowError::KeyUnavailable => {
                ApiError::unavailable("key_unavailable", "the subject key cannot be opened")
            }
            FlowError::Store(e) => e.into(),
        }
    }
}

impl IntoHttp for DetokenizeError {
    fn into_http(self) -> ApiError {
        let e = self;
        match e {
            DetokenizeError::TooManyTokens => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_tokens",
                e.to_string(),
            ),
            DetokenizeError::UnknownPurpose(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_purpose",
                e.to_string(),
            ),
            DetokenizeError::Refused(r) => r.into(),
            DetokenizeError::Store(s) => s.into(),
        }
    }
}

impl IntoHttp for BreachError {
    fn into_http(self) -> ApiError {
        let e = self;
        match e {
            BreachError::NotFound => ApiError::not_found("breach_not_found", "no such breach"),
            BreachError::Unreadable => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the stored breach is unreadable",
            ),
            BreachError::Invalid(i) => i.into(),
            BreachError::Store(s) => s.into(),
        }
    }
}

impl IntoHttp for LinkError {
    fn into_http(self) -> ApiError {
        let e = self;
        let message = e.to_string();
        match e {
            LinkError::InvalidTtl { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_ttl", message)
            }
            LinkError::SubjectNotFound => ApiError::not_found("subject_not_found", &message),
            LinkError::AmbiguousSubject => {
                ApiError::new(StatusCode::CONFLICT, "ambiguous_subject", message)
            }
            LinkError::NotFound => ApiError::not_found("link_not_found", &message),
            LinkError::AlreadyRevoked => {
                ApiError::new(StatusCode::CONFLICT, "already_revoked", message)
            }
            LinkError::Subject(f) => f.into_http(),
            LinkError::Store(s) => s.into(),
        }
    }
}

impl IntoHttp for NotificationError {
    fn into_http(self) -> ApiError {
        let e = self;
        match e {
            NotificationError::Invalid { code, message } => {
                ApiError::new(StatusCode::BAD_REQUEST, code, message)
            }
            NotificationError::NotFound => {
                ApiError::not_found("notification_not_found", "no such notification")
            }
            NotificationError::AlreadyWithdrawn => ApiError::new(
                StatusCode::CONFLICT,
                "already_withdrawn",
                "the notification is already withdrawn",
            ),
            NotificationError::Store(s) => s.into(),
        }
    }
}
