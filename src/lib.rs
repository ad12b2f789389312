//! # pdgate
//!
//! A privacy-compliance gateway for 152-FZ and the GDPR: a reverse proxy in front of web forms and
//! CRMs that records consent, pseudonymizes and encrypts personal fields before they leave, and keeps
//! the originals in a vault under per-subject keys.
//!
//! # Layout
//!
//! This crate is the binary's: [`config`], [`server`] (wiring a running gateway) and [`demo`].
//! The rest lives in the workspace's crates (see `docs/ARCHITECTURE.md`), re-exported here under
//! the names the integration tests use:
//!
//! - [`proxy`] — pdgate-gateway, the proxy listener: routing, forwarding, intake, reveal,
//!   self-service.
//! - [`admin`] — pdgate-admin, the admin listener: health, metrics, the admin API, the console.
//! - [`requests`], [`retention`], [`purpose`], [`breach`], [`transfers`], [`register`],
//!   [`discovery`], [`audit`], [`forms`], [`metrics`] — pdgate-app, the use cases on the store.
//! - [`auth`] and the shared HTTP layer — pdgate-http; [`store`] — pdgate-store.
//! - [`policy`], [`intake`], [`actions`], [`crypto`], [`consent`], [`records`] — pdgate-core, the
//!   decisions without I/O.
#![forbid(unsafe_code)]

pub use pdgate_core::{
    actions, consent, crypto, html, intake, keyring, legal_day, now_millis, parse_time, policy,
    records, rfc3339, Millis,
};

pub use pdgate_admin as admin;
pub use pdgate_app::{
    audit, breach, discovery, forms, keys, metrics, purpose, register, requests, retention,
    transfers,
};
pub use pdgate_gateway as proxy;
pub use pdgate_http::auth;
pub use pdgate_store as store;

pub mod config;
pub mod demo;
pub mod server;
