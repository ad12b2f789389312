//! The audit log: typed events, hash-chained per writer process (SPEC 10).
//!
//! Every entry is canonical JSON of `{writer, seq, at, event}` and its hash is
//! `SHA-256(previous hash || canonical entry)`; the first entry of a chain follows 32 zero bytes.
//! One process is one writer, so concurrent replicas never interleave a chain. Events carry ids,
//! counts and pseudonyms only — never a personal value — which the type system makes hard to get
//! wrong: no event has a field that could hold one.
//!
//! A chain alone proves order and integrity but not who wrote it, and not that its tail was not
//! cut: so the writer also appends signed checkpoints (Ed25519 over writer, sequence and head hash;
//! the key is derived from the root secret, its public half is in every checkpoint and at
//! `/admin/v1/audit/key`), and an auditor pins that public key when verifying an export.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::ids::Pseudonym;
use crate::Millis;

/// What happened. Each variant is one kind of processing operation.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditEvent {
    /// A matched form post was stored and is about to be forwarded.
    Intake {
        request_id: String,
        route: String,
        subject: Pseudonym,
        purposes: Vec<String>,
        consents: Vec<String>,
        stored_values: u32,
        dropped_fields: u32,
    },
    /// A committed intake's forward failed (upstream down, reset or too slow): the client got
    /// `status`, the upstream nothing usable.
    IntakeNotDelivered {
        request_id: String,
        route: String,
        status: u16,
    },
    /// A consent was recorded at intake.
    ConsentGiven {
        receipt_id: String,
        subject: Pseudonym,
        purpose: String,
        text_version: u32,
        method: String,
    },
    /// A process started writing a new chain. `seen` are the latest signed checkpoints of the
    /// other chains it could see (at most [`SEEN_HEADS`]), so a chain dropped or cut later no
    /// longer matches what a successor recorded.
    ChainStarted {
        version: String,
        policy_sha256: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        seen: Vec<SeenHead>,
    },
    /// A consent was withdrawn (the ledger appended a `withdrawn` record).
    ConsentWithdrawn {
        receipt_id: String,
        subject: Pseudonym,
        purpose: String,
        channel: String,
    },
    /// A detokenize call, granted or not: who asked, for what, and how it went — never values.
    Detokenize {
        service: String,
        purpose: String,
        requested: u32,
        granted: u32,
        denied: BTreeMap<String, u32>,
    },
    /// Plaintext shown to staff in an upstream response on a reveal route.
    Reveal {
        request_id: String,
        route: String,
        principal: String,
        purpose: String,
        granted: u32,
        denied: BTreeMap<String, u32>,
    },
    /// Somebody read a subject request's report (with the subject's data, for access and
    /// portability).
    ReportRendered {
        request_id: String,
        principal: String,
        format: String,
    },
    /// A self-service link was minted for a subject (found by a DPO or service by e-mail or
    /// phone, never recorded here).
    LinkMinted {
        link_id: String,
        subject: Pseudonym,
        principal: String,
        expires_at: Millis,
    },
    /// A self-service link was revoked.
    LinkRevoked {
        link_id: String,
        subject: Pseudonym,
        principal: String,
    },
    /// A self-service link was used: which link, for which subject, to do what.
    LinkUsed {
        link_id: String,
        subject: Pseudonym,
        action: String,
    },
    /// Somebody exported the audit log.
    AuditExported {
        principal: String,
        since: Option<Millis>,
        until: Option<Millis>,
        format: String,
    },
    /// A DPO registered a data subject request.
    RequestReceived {
        request_id: String,
        request_type: String,
        regime: String,
        due_at: Millis,
        principal: String,
        subjects_found: u32,
        repeat_of: Option<String>,
        /// When the request reached the operator, if earlier than its registration (a letter);
        /// the entry's own time is the registration. Absent in entries written before it existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        received_at: Option<Millis>,
    },
    /// The one extension of a request's deadline (the reason is in the request, not here).
    RequestExtended {
        request_id: String,
        due_at: Millis,
        principal: String,
    },
    /// The DPO recorded the extension's notice to the subject as sent; `on_time` whether before
    /// the original due time, by which the law wants it.
    ExtensionNoticeSent {
        request_id: String,
        principal: String,
        on_time: bool,
    },
    /// A request was fulfilled; `outcome` counts what was done.
    RequestFulfilled {
        request_id: String,
        request_type: String,
        principal: String,
        outcome: BTreeMap<String, u32>,
    },
    /// Processing of a subject restricted or the restriction lifted.
    Restriction {
        request_id: String,
        subject: Pseudonym,
        restricted: bool,
    },
    /// The subject objected to a purpose: it ends for them (a ledger record says so).
    PurposeObjected {
        request_id: String,
        subject: Pseudonym,
        purpose: String,
    },
    /// Stored values of a subject corrected (re-encrypted under its key).
    Rectification {
        request_id: String,
        subject: Pseudonym,
        values: u32,
        tokens: u32,
    },
    /// Personal data destroyed: a whole subject (crypto-shredded) or some of its values.
    Erasure {
        act_id: String,
        /// A request id, or `sweep:<id>` for retention.
        reason: String,
        subject: Pseudonym,
        categories: Vec<String>,
        values: u32,
        whole_subject: bool,
        held_categories: Vec<String>,
    },
    /// A retention sweep finished.
    RetentionSweep {
        sweep_id: String,
        subjects_erased: u32,
        values_erased: u32,
        subjects_restricted: u32,
        acts_expired: u32,
    },
    /// A DPO opened a breach; the estimate is what the vault held in the affected categories
    /// and window (counts only; the description stays in the breach record).
    BreachOpened {
        breach_id: String,
        principal: String,
        detected_at: Millis,
        categories: Vec<String>,
        subjects_estimate: i64,
        records_estimate: i64,
    },
    /// A breach moved on (notified, closed).
    BreachState {
        breach_id: String,
        principal: String,
        from: String,
        to: String,
    },
    /// A breach's notice outside the state moves was sent: to GosSOPKA or to the subjects.
    BreachNoticeSent {
        breach_id: String,
        principal: String,
        notice: String,
        late: bool,
    },
    /// A 152-FZ Art. 12 cross-border notification was recorded or withdrawn.
    TransferNotification {
        notification_id: String,
        principal: String,
        country: String,
        purpose: String,
        filed_at: Millis,
        /// When Roskomnadzor received it, once recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        received_at: Option<Millis>,
        withdrawn: bool,
    },
    /// Data for `purpose` was not sent to `recipient` abroad (route or detokenizing service).
    TransferRefused {
        via: String,
        recipient: String,
        country: String,
        purpose: String,
        reason: String,
    },
    /// A KEK rotation ran (`pdgate keys rotate`): the root secret and `data_keys` data keys and
    /// `held_keys` held keys were wrapped anew under version `to`; `retired` says whether every
    /// older version was left with nothing and retired.
    KekRotated {
        to: i64,
        root_rewrapped: bool,
        data_keys: u64,
        held_keys: u64,
        unopenable: u64,
        retired: bool,
    },
    /// A signed statement of the chain so far: `signature` is Ed25519 by `public_key` over
    /// [`checkpoint_message`]`(writer, seq, head)`, where `head` is the hash of entry `seq`.
    Checkpoint {
        seq: i64,
        head: String,
        public_key: String,
        signature: String,
    },
}

impl AuditEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            AuditEvent::Intake { .. } => "intake",
            AuditEvent::ConsentGiven { .. } => "consent_given",
            AuditEvent::ChainStarted { .. } => "chain_started",
            AuditEvent::ConsentWithdrawn { .. } => "consent_withdrawn",
            AuditEvent::Detokenize { .. } => "detokenize",
            AuditEvent::Reveal { .. } => "reveal",
            AuditEvent::AuditExported { .. } => "audit_exported",
            AuditEvent::ReportRendered { .. } => "report_rendered",
            AuditEvent::IntakeNotDelivered { .. } => "intake_not_delivered",
            AuditEvent::LinkMinted { .. } => "link_minted",
            AuditEvent::LinkRevoked { .. } => "link_revoked",
            AuditEvent::LinkUsed { .. } => "link_used",
            AuditEvent::Checkpoint { .. } => "checkpoint",
            AuditEvent::KekRotated { .. } => "kek_rotated",
            AuditEvent::RequestReceived { .. } => "request_received",
            AuditEvent::RequestExtended { .. } => "request_extended",
            AuditEvent::ExtensionNoticeSent { .. } => "extension_notice_sent",
            AuditEvent::RequestFulfilled { .. } => "request_fulfilled",
            AuditEvent::Restriction { .. } => "restriction",
            AuditEvent::Rectification { .. } => "rectification",
            AuditEvent::PurposeObjected { .. } => "purpose_objected",
            AuditEvent::Erasure { .. } => "erasure",
            AuditEvent::RetentionSweep { .. } => "retention_sweep",
            AuditEvent::BreachOpened { .. } => "breach_opened",
            AuditEvent::BreachState { .. } => "breach_state",
            AuditEvent::BreachNoticeSent { .. } => "breach_notice_sent",
            AuditEvent::TransferNotification { .. } => "transfer_notification",
            AuditEvent::TransferRefused { .. } => "transfer_refused",
        }
    }
}

/// One stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub writer: String,
    pub seq: i64,
    pub at: Millis,
    pub kind: String,
    pub entry: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// The head of this process's chain.
#[derive(Debug, Clone)]
pub struct Chain {
    writer: String,
    seq: i64,
    head: [u8; 32],
    last_at: Millis,
}

#[derive(Serialize)]
struct Canonical<'a> {
    writer: &'a str,
    seq: i64,
    at: Millis,
    event: &'a AuditEvent,
}

impl Chain {
    /// A new chain for a new writer process.
    pub fn new(writer: impl Into<String>) -> Self {
        Self {
            writer: writer.into(),
            seq: 0,
            head: [0; 32],
            last_at: Millis::MIN,
        }
    }

    /// The chain as the log holds it, from its last entry: after a write whose outcome was not
    /// known turned out to have committed.
    pub fn resume(last: &AuditRow) -> Self {
        let mut head = [0; 32];
        if last.hash.len() == 32 {
            head.copy_from_slice(&last.hash);
        }
        Self {
            writer: last.writer.clone(),
            seq: last.seq,
            head,
            last_at: last.at,
        }
    }

    /// Sequence number of the last entry (0 before the first).
    pub fn seq(&self) -> i64 {
        self.seq
    }

    /// Hash of the last entry.
    pub fn head(&self) -> [u8; 32] {
        self.head
    }

    /// A checkpoint event over the chain as it stands.
    pub fn checkpoint(&self, signer: &crate::crypto::AuditSigner) -> AuditEvent {
        let msg = checkpoint_message(&self.writer, self.seq, &self.head);
        AuditEvent::Checkpoint {
            seq: self.seq,
            head: hex(&self.head),
            public_key: hex(&signer.public_key()),
            signature: hex(&signer.sign(&msg)),
        }
    }

    pub fn writer(&self) -> &str {
        &self.writer
    }

    /// Appends `event` and returns the row to store; the caller keeps a clone of the chain to roll
    /// back to if the transaction holding the row fails.
    ///
    /// Times never go backwards within a chain (a batch may hold requests that arrived slightly
    /// out of order), so a time window of an export is always a contiguous run of each chain.
    pub fn append(&mut self, at: Millis, event: &AuditEvent) -> AuditRow {
        let at = at.max(self.last_at);
        let seq = self.seq + 1;
        let entry = serde_json::to_string(&Canonical {
            writer: &self.writer,
            seq,
            at,
            event,
        })
        .expect("audit events serialize");
        let hash = link(&self.head, &entry);
        let row = AuditRow {
            writer: self.writer.clone(),
            seq,
            at,
            kind: event.kind().to_owned(),
            entry,
            prev_hash: self.head.to_vec(),
            hash: hash.to_vec(),
        };
        self.seq = seq;
        self.head = hash;
        self.last_at = at;
        row
    }
}

/// How many other chains' heads a new chain commits to: the most recently signed.
pub const SEEN_HEADS: i64 = 64;

/// Another chain's checkpoint entry as a new chain saw it: its sequence number and hash.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct SeenHead {
    pub writer: String,
    pub seq: i64,
    /// Hex of the checkpoint entry's hash.
    pub hash: String,
    pub at: Millis,
}

/// A signed checkpoint as written outside the database (`[audit] checkpoint_file`, the
/// checkpoint webhook): one JSON line each, checked by `pdgate audit verify --checkpoints`.
/// `seq` and `head` are what the signature covers (the entry before the checkpoint entry).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SignedHead {
    pub writer: String,
    pub seq: i64,
    pub head: String,
    pub at: Millis,
    pub public_key: String,
    pub signature: String,
}

impl SignedHead {
    /// The line of a checkpoint `event` the chain of `writer` committed at `at`.
    pub fn of(writer: &str, at: Millis, event: &AuditEvent) -> Option<Self> {
        let AuditEvent::Checkpoint {
            seq,
            head,
            public_key,
            signature,
        } = event
        else {
            return None;
        };
        Some(Self {
            writer: writer.to_owned(),
            seq: *seq,
            head: head.clone(),
            at,
            public_key: public_key.clone(),
            signature: signature.clone(),
        })
    }
}

/// What a checkpoint signs: a domain tag, the writer, the sequence number and the head hash.
pub fn checkpoint_message(writer: &str, seq: i64, head: &[u8]) -> Vec<u8> {
    let mut m = b"pdgate-audit-checkpoint/v1\0".to_vec();
    m.extend_from_slice(writer.as_bytes());
    m.push(0);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(head);
    m
}

pub fn hex(b: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(b)
}

/// `SHA-256(prev || entry)`.
pub fn link(prev: &[u8], entry: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(entry.as_bytes());
    h.finalize().into()
}

/// Checks that `rows` (one writer, in order) form an unbroken chain from its start; returns the
/// sequence number of the first bad entry.
pub fn verify_chain(rows: &[AuditRow]) -> Result<(), i64> {
    let mut prev = [0u8; 32].to_vec();
    for (i, r) in rows.iter().enumerate() {
        let expected_seq = i as i64 + 1;
        if r.seq != expected_seq
            || r.prev_hash != prev
            || link(&prev, &r.entry).as_slice() != r.hash.as_slice()
        {
            return Err(expected_seq);
        }
        prev.clone_from(&r.hash);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u32) -> AuditEvent {
        AuditEvent::Intake {
            request_id: format!("r{n}"),
            route: "checkout".into(),
            subject: crate::records::pseudonym(&vec![7u8; 16].into()),
            purposes: vec!["order_fulfilment".into()],
            consents: vec![],
            stored_values: n,
            dropped_fields: 0,
        }
    }

    #[test]
    fn chain_links_and_detects_edits() {
        let mut c = Chain::new("w1");
        let mut rows: Vec<_> = (1..=4)
            .map(|n| c.append(1000 + i64::from(n), &ev(n)))
            .collect();
        assert_eq!(verify_chain(&rows), Ok(()));
        assert!(
            rows[0]
                .entry
                .starts_with(r#"{"writer":"w1","seq":1,"at":1001,"event":{"type":"intake""#),
            "{}",
            rows[0].entry
        );
        rows[2].entry = rows[2]
            .entry
            .replace("\"stored_values\":3", "\"stored_values\":9");
        assert_eq!(verify_chain(&rows), Err(3));
        rows.remove(2);
        assert_eq!(verify_chain(&rows), Err(3));
    }
}
