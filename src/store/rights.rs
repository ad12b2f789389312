//! What the rights half of pdgate stores: subject requests, the webhook outbox, destruction acts
//! and retention sweeps — and the one write path for all of them, [`Change`].
//!
//! A change (fulfilling a request, a sweep batch) commits in one transaction together with its
//! audit entries, through the same writer that owns the audit chain, so an erasure without its
//! act, outbox rows and log entry cannot exist.

use std::future::Future;

use crate::audit::{AuditEvent, AuditRow, Chain};
use crate::store::{ConsentRecord, Result, StoreError, SubjectState, VaultValue};
use crate::Millis;

/// A data subject request as stored. Carries no personal data: the subject is known by the blind
/// index of the identifier they gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRow {
    pub id: String,
    pub kind: String,
    pub regime: String,
    pub lookup_mac: Vec<u8>,
    pub lookup_kind: String,
    /// `open`, `fulfilled` or `refused`.
    pub status: String,
    pub received_at: Millis,
    pub due_at: Millis,
    pub original_due_at: Millis,
    pub extension_reason: Option<String>,
    pub extended_at: Option<Millis>,
    pub fulfilled_at: Option<Millis>,
    /// An earlier access request of the same subject within 30 days (152-FZ Art. 14(4)).
    pub repeat_of: Option<String>,
    pub note: Option<String>,
    pub created_by: String,
    pub fulfilled_by: Option<String>,
    /// JSON summary of what fulfilment did.
    pub result: Option<String>,
}

impl RequestRow {
    /// The blind index the request finds its subjects by.
    pub fn lookup_key(&self) -> [u8; 32] {
        self.lookup_mac.as_slice().try_into().unwrap_or([0; 32])
    }
}

/// A webhook to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxWrite {
    pub event_id: String,
    pub request_id: Option<String>,
    pub upstream: String,
    pub url: String,
    pub event: String,
    pub payload: String,
}

/// A queued webhook and its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub event_id: String,
    pub request_id: Option<String>,
    pub upstream: String,
    pub url: String,
    pub event: String,
    pub payload: String,
    pub created_at: Millis,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub delivered_at: Option<Millis>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
}

/// One delivery attempt of a queued webhook: delivered (`delivered_at`) or to retry at
/// `next_attempt_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub id: i64,
    pub delivered_at: Option<Millis>,
    pub next_attempt_at: Millis,
    pub status: Option<i64>,
    pub error: Option<String>,
}

/// Destroying one subject's data: the whole subject (crypto-shredding), or some of its values.
#[derive(Debug, Clone)]
pub struct Erase {
    pub subject_id: Vec<u8>,
    /// The subject's revision the erasure was planned on. If an intake has added to the subject
    /// since (or it is gone), the change is refused with
    /// [`SubjectsMoved`](StoreError::SubjectsMoved): what it would destroy is not what was planned,
    /// acted and announced.
    pub revision: i64,
    /// `Some`: only these value rows (retention of single collections); the key stays.
    pub values: Option<Vec<i64>>,
    /// Categories under a legal hold: their values stay, the subject restricted, until
    /// `hold_until`; everything else goes now.
    pub keep_categories: Vec<String>,
    pub hold_until: Option<Millis>,
    /// An [`AuditEvent::Erasure`]; its `act_id` names the destruction act (in the same change)
    /// whose log extract carries it.
    pub audit: AuditEvent,
}

impl Erase {
    /// The destruction act this erasure belongs to (see `audit`).
    pub fn act_id(&self) -> &str {
        match &self.audit {
            AuditEvent::Erasure { act_id, .. } => act_id,
            _ => "",
        }
    }
}

/// A destruction act naming one or more erasures of the same change.
#[derive(Debug, Clone)]
pub struct ActWrite {
    pub id: String,
    pub request_id: Option<String>,
    pub sweep_id: Option<String>,
    /// The act without its log extract, which is filled from the audit entries of the erasures
    /// whose `act_id` is this act's, as written.
    pub act: serde_json::Value,
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
                .map_err(|e| StoreError::Database(format!("audit entry: {e}")))?,
            hash: data_encoding::HEXLOWER.encode(&row.hash),
        })
    }
}

/// The stored text of an act: `act` (an object) with `log_extract` added. The entries go in as
/// written, not parsed and printed again.
pub fn act_text(act: &serde_json::Value, log_extract: &[LogLine<'_>]) -> Result<String> {
    let mut text = act.to_string();
    let lines =
        serde_json::to_string(log_extract).map_err(|e| StoreError::Database(e.to_string()))?;
    match text.pop() {
        Some('}') if text.len() > 1 => text.push(','),
        Some('}') => {}
        _ => {
            return Err(StoreError::Database(
                "a destruction act is not a JSON object".into(),
            ))
        }
    }
    text.push_str("\"log_extract\":");
    text.push_str(&lines);
    text.push('}');
    Ok(text)
}

/// A retention sweep: what it erased so far, or in all once finished.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepRow {
    pub id: String,
    pub started_at: Millis,
    /// When the row was last written: the end of a finished sweep, the last transaction of a
    /// running or interrupted one.
    pub finished_at: Millis,
    pub subjects_erased: i64,
    pub values_erased: i64,
    pub subjects_restricted: i64,
    pub acts_expired: i64,
    pub status: SweepStatus,
}

/// Where a sweep is: its row is written when it starts and with each of its transactions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepStatus {
    Running,
    #[default]
    Finished,
    /// It failed, or its process stopped, before it finished; the next sweep said so (and
    /// erases what it left).
    Interrupted,
}

impl SweepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Finished => "finished",
            Self::Interrupted => "interrupted",
        }
    }

    /// The stored text; an unknown one reads as interrupted (not running, not done).
    pub fn parse(s: &str) -> Self {
        match s {
            "running" => Self::Running,
            "finished" => Self::Finished,
            _ => Self::Interrupted,
        }
    }
}

/// A rectified subject's search index brought in line with its corrected values.
#[derive(Debug, Clone, Default)]
pub struct Reindex {
    pub subject_id: Vec<u8>,
    /// Search-index MACs none of its values has any more, and new ones.
    pub removed: Vec<[u8; 32]>,
    pub added: Vec<[u8; 32]>,
    /// `(old, new)` index MAC of each corrected value: the subject key moves along with it when
    /// the key was the old value (and the new one is not another subject's key).
    pub key_moves: Vec<([u8; 32], [u8; 32])>,
}

/// Everything one request fulfilment or sweep batch writes, in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub at: Millis,
    /// Inserted or updated by id.
    pub requests: Vec<RequestRow>,
    /// `(subject, Some(since))` restricts, `None` lifts.
    pub restrict: Vec<(Vec<u8>, Option<Millis>)>,
    pub consents: Vec<ConsentRecord>,
    /// `(value row id, new ciphertext, new value mac)`.
    pub rectify: Vec<(i64, Vec<u8>, [u8; 32])>,
    /// Search-index entries (and subject keys) that follow rectified values.
    pub reindex: Vec<Reindex>,
    pub erase: Vec<Erase>,
    pub acts: Vec<ActWrite>,
    pub outbox: Vec<OutboxWrite>,
    /// Deletes destruction acts kept until before this time.
    pub expire_acts_before: Option<Millis>,
    /// A sweep's row, written or brought up to date (upserted by id).
    pub sweep: Option<SweepRow>,
    /// Sweeps still `running` are marked `interrupted`: set by a sweep's first write, when the
    /// sweeper lock says no other sweep runs.
    pub interrupt_sweeps: bool,
    /// Whole-subject erasures leave their key, search-index entries and tokens to a later purge
    /// in key order ([`PurgeStep`]) instead of deleting them now, one random page each. The
    /// sweeper sets this; a request's erasure purges at once. Only where the backend defers
    /// purges ([`super::Store::defers_purge`]); PostgreSQL purges at once regardless.
    pub defer_purge: bool,
    /// Breaches opened or moved on (upserted by id).
    pub breaches: Vec<super::oversight::BreachRow>,
    /// Cross-border notifications recorded or withdrawn (upserted by id).
    pub notifications: Vec<super::oversight::NotificationRow>,
    /// Self-service links minted or revoked.
    pub links: Vec<LinkWrite>,
    pub audit: Vec<AuditEvent>,
}

/// A self-service link's state; its id is the link token's `jti`. The token is never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRow {
    pub id: String,
    pub subject_id: Vec<u8>,
    pub created_at: Millis,
    pub created_by: String,
    pub expires_at: Millis,
    pub revoked_at: Option<Millis>,
    pub revoked_by: Option<String>,
}

/// A change to self-service links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkWrite {
    Mint(LinkRow),
    /// Revokes a link not yet revoked (a conflict otherwise).
    Revoke {
        id: String,
        at: Millis,
        by: String,
    },
}

/// A table of entries keyed by random MACs or tokens that an erased subject leaves behind until
/// purged: its tokens (which become tombstones), search-index entries and subject key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeTable {
    Tokens,
    SubjectIndex,
    SubjectKeys,
}

impl PurgeTable {
    pub const ALL: [PurgeTable; 3] = [Self::Tokens, Self::SubjectIndex, Self::SubjectKeys];
}

/// A position in a [`PurgeTable`]'s key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeKey {
    Token(String),
    Mac(Vec<u8>),
    /// A search-index entry, `(mac, subject)`: one MAC (a shared phone number) may have entries
    /// for many subjects, more than one step should hold.
    Entry(Vec<u8>, Vec<u8>),
}

/// One purge transaction, committed through the writer like any other change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeStep {
    /// Up to `limit` pending subjects, through their subject ids: one random page per entry,
    /// the cheaper way when few subjects are pending.
    Subjects { limit: i64 },
    /// The next `rows` entries of `table` after `after` in key order: the entries of pending
    /// subjects among them go, and each page is written once however many of them it holds.
    Range {
        table: PurgeTable,
        after: Option<PurgeKey>,
        rows: i64,
    },
    /// Every table has been walked: the first `limit` pending subjects are done.
    Finish { limit: i64 },
}

/// What one [`PurgeStep`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeProgress {
    /// Entries deleted or turned into tombstones (`Subjects`: subjects purged).
    pub purged: u64,
    /// Where the next `Range` step of the same table starts; `None` once the table is walked.
    pub next: Option<PurgeKey>,
    /// Nothing is left to do for this kind of step.
    pub done: bool,
}

/// A subject as the retention sweeper sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepSubject {
    pub state: SubjectState,
    /// See [`Erase::revision`].
    pub revision: i64,
    pub created_at: Millis,
    pub erase_after: Option<Millis>,
}

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
    ) -> impl Future<Output = Result<Vec<(Vec<u8>, i64)>>> + Send;
    fn values_of_subjects(
        &self,
        ids: &[&[u8]],
    ) -> impl Future<Output = Result<Vec<VaultValue>>> + Send;
    fn consents_of_subjects(
        &self,
        ids: &[&[u8]],
    ) -> impl Future<Output = Result<Vec<ConsentRecord>>> + Send;
    /// Commits one purge step (through the writer: see [`crate::store::Committer::purge`]).
    fn purge_step<'a>(
        &'a self,
        step: &'a PurgeStep,
        at: Millis,
    ) -> impl Future<Output = Result<PurgeProgress>> + Send + 'a;
    /// Erased subjects whose entries are not purged yet.
    fn purge_pending(&self) -> impl Future<Output = Result<u64>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn act_text_adds_the_log_extract_as_written() {
        let mut chain = Chain::new("w");
        let row = chain.append(
            5,
            &AuditEvent::Restriction {
                request_id: "r".into(),
                subject: "s".into(),
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
