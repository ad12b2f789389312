//! # pdgate
//!
//! A privacy-compliance gateway for 152-FZ and the GDPR: a reverse proxy in front of web forms and
//! CRMs that records consent, pseudonymizes and encrypts personal fields before they leave, and keeps
//! the originals in a vault under per-subject keys.
//!
//! # Layout
//!
//! The tree follows the request path of SPEC 2 (see `docs/ARCHITECTURE.md`):
//!
//! - [`proxy`] — the HTTP edge: listeners, TLS, pass-through streaming, the intake pipeline for
//!   matched routes, hop-by-hop headers, errors as JSON.
//! - [`forms`] — body codecs (urlencoded, multipart, JSON) turning bodies into addressable leaves and back.
//! - [`policy`] — the YAML policies, validated into an immutable [`policy::Policy`].
//! - [`intake`] — the pure decision for one matched request: consent, minimization, field actions.
//! - [`actions`] — the seven field actions and the identifier detectors with their checksums.
//! - [`crypto`] — the key hierarchy (KEK, root secret, per-subject DEKs) and AES-256-GCM.
//! - [`store`] — the vault behind one trait, SQLite and PostgreSQL backends, group commit.
//! - [`consent`] — what counts as given consent and the subject token.
//! - [`audit`] — typed, hash-chained audit entries.
//! - [`requests`], [`retention`], [`purpose`] — subject requests, enforced retention, purpose limitation.
//! - [`register`], [`breach`], [`transfers`], [`discovery`] — the DPO's oversight: the processing
//!   register, breach clocks and notices, cross-border control, undeclared flows.
//! - [`admin`], [`metrics`] — the admin listener (health, metrics, the admin API, the DPO console).
//! - [`config`], [`server`], [`demo`] — configuration, wiring of a running gateway, the demo.
#![forbid(unsafe_code)]

pub use pdgate_core::{
    actions, consent, crypto, html, intake, now_millis, parse_time, policy, records, rfc3339,
    utc_date, Millis,
};

pub use pdgate_admin as admin;
pub use pdgate_app::{
    audit, breach, discovery, forms, metrics, purpose, register, requests, retention, transfers,
};
pub use pdgate_gateway as proxy;
pub use pdgate_http::auth;
pub use pdgate_store as store;

pub mod config;
pub mod demo;
pub mod server;
