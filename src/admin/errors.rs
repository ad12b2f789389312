//! The admin listener's domain errors as HTTP: each to its status and stable `code`, with no
//! side effects. (The errors both listeners share — store, intake, forms, transfers, breaches —
//! are mapped in `pdgate_http::ApiError`'s `From` impls, where the orphan rule puts them.)

use http::StatusCode;
use pdgate_http::ApiError;

use crate::purpose::DetokenizeError;
use crate::requests::flow::FlowError;

impl From<FlowError> for ApiError {
    fn from(e: FlowError) -> Self {
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

impl From<DetokenizeError> for ApiError {
    fn from(e: DetokenizeError) -> Self {
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
