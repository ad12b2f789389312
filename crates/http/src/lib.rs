//! # pdgate-http
//!
//! What both of pdgate's listeners share: the one [`Body`] type, [`ApiError`] and JSON responses,
//! the accept loop with TLS, timeouts and drain ([`listener`]), the CL/TE smuggling guard
//! ([`framing`]), RFC 9110 header rules ([`headers`]), the canonical request path, and the
//! upstream side: a pool of plain-http connections driven by the request's own task ([`h1pool`])
//! and the shared client for TLS upstreams ([`upstream`]).
#![forbid(unsafe_code)]

pub mod auth;
mod body;
mod error;
pub mod framing;
pub mod h1pool;
pub mod headers;
mod limits;
pub mod listener;
pub mod respond;
pub mod upstream;

pub use body::{Body, Lingering};
pub use error::ApiError;
pub use limits::Limits;
pub use listener::{serve, tls_acceptor, ConnInfo, Handler, Tls, TlsError};
pub use upstream::{client, Client};

/// The error type of bodies and upstream sends.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
