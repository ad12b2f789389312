//! # pdgate-core
//!
//! pdgate's decisions as plain functions and types, with no network, database or runtime
//! dependency: what the gateway, the store and the admin API decide, they decide here.
//!
//! - [`policy`] — the YAML policies, validated into an immutable [`policy::Policy`].
//! - [`forms`] — body leaves and the urlencoded and JSON codecs (multipart streams, at the edge).
//! - [`intake`] — the decision for one matched request: consent, minimization, field actions.
//! - [`actions`] — the seven field actions and the identifier detectors with their checksums.
//! - [`crypto`] — the key hierarchy (KEK, root secret, per-subject DEKs) and AES-256-GCM;
//!   [`keyring`] — a KEK rotation's decisions over the stored keys.
//! - [`consent`] — what counts as given consent, the subject token, receipts.
//! - [`audit`] — typed, hash-chained audit entries.
//! - [`records`] — the rows the vault stores and returns, as the store's traits speak them.
//! - [`legal_day`] — the operator's time zone: which day an instant falls on, when a day ends.
//! - [`requests`], [`retention`], [`purpose`] — deadlines and calendar, erasure plans and acts,
//!   reports, the retention rule, the purpose-limitation rule.
//! - [`register`], [`breach`], [`transfers`], [`html`] — the processing register, breach clocks and
//!   notices, cross-border rules, the HTML shell of rendered documents.
#![forbid(unsafe_code)]

pub mod actions;
pub mod audit;
pub mod breach;
pub mod consent;
pub mod crypto;
pub mod forms;
pub mod html;
pub mod ids;
pub mod intake;
pub mod keyring;
pub mod legal_day;
pub mod policy;
pub mod purpose;
pub mod records;
pub mod register;
pub mod requests;
pub mod retention;
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

/// [`parse_time`] of a JSON body's value: an RFC 3339 string or a number of Unix milliseconds.
pub fn time_value(v: &serde_json::Value) -> Option<Millis> {
    match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => parse_time(s),
        _ => None,
    }
}

/// RFC 3339 (`2026-11-23T10:00:00Z`) or Unix milliseconds, as query parameters and CLI flags take.
pub fn parse_time(s: &str) -> Option<Millis> {
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}
