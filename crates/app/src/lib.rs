//! # pdgate-app
//!
//! The use cases both listeners and the binary call, each a function over the store that returns
//! its own error: subject requests ([`requests`]: create, extend, fulfil, lift, reports, links, the
//! webhook outbox), retention sweeps ([`retention`]), purpose-bound detokenize ([`purpose`]),
//! breaches ([`breach`]), cross-border control ([`transfers`]), the processing register
//! ([`register`]), undeclared flows ([`discovery`]), audit export and its verifier ([`audit`]),
//! body codecs ([`forms`]) and the Prometheus [`metrics`]. No status codes here: each listener maps
//! these errors to HTTP in its own `errors` file.
#![forbid(unsafe_code)]

pub mod audit;
pub mod breach;
pub mod discovery;
pub mod forms;
pub mod keys;
pub mod metrics;
pub mod purpose;
pub mod register;
pub mod requests;
pub mod retention;
pub mod transfers;
