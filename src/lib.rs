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

pub mod actions;
pub mod admin;
pub mod audit;
pub mod breach;
pub mod config;
pub mod consent;
pub mod crypto;
pub mod demo;
pub mod discovery;
pub mod forms;
pub mod html;
pub mod intake;
pub mod metrics;
pub mod policy;
pub mod proxy;
pub mod purpose;
pub mod register;
pub mod requests;
pub mod retention;
pub mod server;
pub mod store;
pub mod transfers;

/// Milliseconds since the Unix epoch: the one clock type stored and compared everywhere.
pub type Millis = i64;

/// Wall-clock now in milliseconds.
pub fn now_millis() -> Millis {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// RFC 3339 UTC rendering of a stored time.
pub fn rfc3339(ms: Millis) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The UTC calendar date (`2026-11-23`) of a stored time.
pub fn utc_date(ms: Millis) -> String {
    let mut s = rfc3339(ms);
    s.truncate(10);
    s
}

/// RFC 3339 (`2026-11-23T10:00:00Z`) or Unix milliseconds, as query parameters and CLI flags take.
pub fn parse_time(s: &str) -> Option<Millis> {
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}
