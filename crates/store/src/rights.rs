//! What the rights half of pdgate stores: subject requests, the webhook outbox, destruction acts
//! and retention sweeps — and the one write path for all of them, [`Change`].
//!
//! A change (fulfilling a request, a sweep batch) commits in one transaction together with its
//! audit entries, through the same writer that owns the audit chain, so an erasure without its
//! act, outbox rows and log entry cannot exist.

use std::future::Future;

use crate::audit::{AuditRow, Chain};
use crate::Millis;
use crate::{Cause, ConsentRecord, Result, StoreError, SubjectId, VaultValue};

pub use pdgate_core::records::rights::*;

/// The storage contract of requests, outbox, acts and sweeps (both backends).
pub trait Rights: Send + Sync {
    /// Commits `change` and its audit entries (appended to `chain`) in one transaction; returns
    /// the number of acts deleted by `expire_acts_before`. Nothing is written if a subject to
    /// erase has moved on since it was planned ([`StoreError::SubjectsMoved`]).
    fn apply_change<'a>(
        &'a self,
        change: &'a Change,
        chain: &'a mut Chain,
    ) -> impl Future<Output = Result<i64>> + Send + 'a;
    fn request(&self, id: &str) -> impl Future<Output = Result<Option<RequestRow>>> + Send;
    /// Newest first; `overdue_at`: open requests due before that time only.
    fn requests(
        &self,
        status: Option<&str>,
        overdue_at: Option<Millis>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<RequestRow>>> + Send;
    /// Requests by the same identifier received at or after `since`, oldest first.
    fn requests_by_lookup(
        &self,
        mac: &[u8],
        since: Millis,
    ) -> impl Future<Output = Result<Vec<RequestRow>>> + Send;
    fn outbox_of(&self, request_id: &str) -> impl Future<Output = Result<Vec<OutboxRow>>> + Send;
    /// Takes up to `limit` undelivered webhooks due at `now` (oldest first), in id order, for
    /// one delivery attempt each: their next attempt moves to `lease_until`, so no other replica
    /// takes them meanwhile. One statement, whatever the number.
    fn outbox_claim_due(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<OutboxRow>>> + Send;
    /// Records delivery attempts, in one transaction.
    fn outbox_attempted(&self, attempts: &[Attempt]) -> impl Future<Output = Result<()>> + Send;
    /// The destruction acts (JSON) recorded for a request.
    fn acts_of(&self, request_id: &str) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Up to `limit` destruction acts (JSON) of a retention sweep, in id (time) order after the
    /// act `after`.
    fn acts_of_sweep(
        &self,
        sweep_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<(String, String)>>> + Send;
    /// Sweeps (or the one with `id`; with `finished_only`, only finished ones), newest first by
    /// start; with `after`, those that come after the sweep of that id in this order (none if
    /// there is no such sweep).
    /// A self-service link by id (its token's `jti`).
    fn link(&self, id: &str) -> impl Future<Output = Result<Option<LinkRow>>> + Send;
    fn sweeps(
        &self,
        id: Option<&str>,
        after: Option<&str>,
        limit: i64,
        finished_only: bool,
    ) -> impl Future<Output = Result<Vec<SweepRow>>> + Send;
    /// Subjects in id order after `after`.
    fn subjects_page(
        &self,
        after: &[u8],
        limit: i64,
    ) -> impl Future<Output = Result<Vec<SweepSubject>>> + Send;
    /// The revisions of those of `ids` that exist (see [`Erase::revision`]), read before the
    /// subjects' data is read for an erasure.
    fn subject_revisions(
        &self,
        ids: &[&[u8]],
    ) -> impl Future<Output = Result<Vec<(SubjectId, i64)>>> + Send;
    fn values_of_subjects(
        &self,
        ids: &[&[u8]],
    ) -> impl Future<Output = Result<Vec<VaultValue>>> + Send;
    /// The subjects with a consent withdrawn or objected to since `since`, at most `limit`.
    fn withdrawn_since(
        &self,
        since: Millis,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<SubjectId>>> + Send;
    /// How the subjects' keys stand (subjects not found are left out).
    fn key_states(&self, ids: &[&[u8]]) -> impl Future<Output = Result<Vec<KeyState>>> + Send;
    fn consents_of_subjects(
        &self,
        ids: &[&[u8]],
    ) -> impl Future<Output = Result<Vec<ConsentRecord>>> + Send;
    /// Commits one purge step (through the writer: see [`crate::Committer::purge`]).
    fn purge_step<'a>(
        &'a self,
        step: &'a PurgeStep,
        at: Millis,
    ) -> impl Future<Output = Result<PurgeProgress>> + Send + 'a;
    /// Erased subjects whose entries are not purged yet.
    fn purge_pending(&self) -> impl Future<Output = Result<u64>> + Send;
}

/// One line of a destruction act's log extract: an audit entry as written, with its hash.
#[derive(Debug, serde::Serialize)]
pub struct LogLine<'a> {
    pub seq: i64,
    pub at: String,
    pub entry: &'a serde_json::value::RawValue,
    pub hash: String,
}

impl<'a> LogLine<'a> {
    pub fn of(row: &'a AuditRow) -> Result<Self> {
        Ok(Self {
            seq: row.seq,
            at: crate::rfc3339(row.at),
            entry: serde_json::from_str(&row.entry)
                .map_err(|e| StoreError::Database(Cause::of(e)))?,
            hash: data_encoding::HEXLOWER.encode(&row.hash),
        })
    }
}

/// The stored text of an act: `act` (an object) with `log_extract` added. The entries go in as
/// written, not parsed and printed again.
pub fn act_text(act: &serde_json::Value, log_extract: &[LogLine<'_>]) -> Result<String> {
    let mut text = act.to_string();
    let lines =
        serde_json::to_string(log_extract).map_err(|e| StoreError::Database(Cause::of(e)))?;
    match text.pop() {
        Some('}') if text.len() > 1 => text.push(','),
        Some('}') => {}
        _ => {
            return Err(StoreError::Database(Cause::says(
                "a destruction act is not a JSON object",
            )))
        }
    }
    text.push_str("\"log_extract\":");
    text.push_str(&lines);
    text.push('}');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn act_text_adds_the_log_extract_as_written() {
        let mut chain = Chain::new("w");
        let row = chain.append(
            5,
            &crate::audit::AuditEvent::Restriction {
                request_id: "r".into(),
                subject: pdgate_core::records::pseudonym(&vec![7u8; 16].into()),
                restricted: true,
            },
        );
        let line = LogLine::of(&row).unwrap();
        let text = act_text(&serde_json::json!({"act_id": "a"}), &[line]).unwrap();
        let act: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(act["act_id"], "a");
        assert_eq!(act["log_extract"][0]["seq"], 1);
        // The entry is the stored text byte for byte, so its hash can be checked against it.
        assert!(text.contains(&row.entry));
        let empty = act_text(&serde_json::json!({}), &[]).unwrap();
        assert_eq!(empty, r#"{"log_extract":[]}"#);
        assert!(act_text(&serde_json::json!([1]), &[]).is_err());
    }
}
