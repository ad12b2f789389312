//! Subject requests, the webhook outbox, destruction acts and retention sweeps as stored, and
//! [`Change`], the one write of the rights half: committed in one transaction with its audit entries.

use crate::audit::AuditEvent;
use crate::records::{ConsentRecord, Mac, SubjectId, SubjectState, Token};
use crate::Millis;

/// What a data subject asks for (SPEC 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestType {
    Access,
    Portability,
    Rectification,
    Erasure,
    Restriction,
    Objection,
    WithdrawConsent,
}

impl RequestType {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestType::Access => "access",
            RequestType::Portability => "portability",
            RequestType::Rectification => "rectification",
            RequestType::Erasure => "erasure",
            RequestType::Restriction => "restriction",
            RequestType::Objection => "objection",
            RequestType::WithdrawConsent => "withdraw_consent",
        }
    }

    pub fn parse(s: &str) -> Option<RequestType> {
        Some(match s {
            "access" => RequestType::Access,
            "portability" => RequestType::Portability,
            "rectification" => RequestType::Rectification,
            "erasure" => RequestType::Erasure,
            "restriction" => RequestType::Restriction,
            "objection" => RequestType::Objection,
            "withdraw_consent" => RequestType::WithdrawConsent,
            _ => return None,
        })
    }

    /// Whether its report lists the data held (access and portability).
    pub fn reports_data(self) -> bool {
        matches!(self, RequestType::Access | RequestType::Portability)
    }
}

/// Which laws' deadlines a request runs under: one, or both (the earlier date is due).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Regimes {
    Fz152,
    Gdpr,
    Both,
}

impl Regimes {
    pub fn as_str(self) -> &'static str {
        match self {
            Regimes::Fz152 => "fz152",
            Regimes::Gdpr => "gdpr",
            Regimes::Both => "both",
        }
    }

    pub fn parse(s: &str) -> Option<Regimes> {
        Some(match s {
            "fz152" => Regimes::Fz152,
            "gdpr" => Regimes::Gdpr,
            "both" => Regimes::Both,
            _ => return None,
        })
    }
}

/// Where a data subject request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Open,
    Fulfilled,
    /// A restriction that was lifted after its fulfilment.
    Lifted,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Open => "open",
            RequestStatus::Fulfilled => "fulfilled",
            RequestStatus::Lifted => "lifted",
        }
    }

    pub fn parse(s: &str) -> Option<RequestStatus> {
        match s {
            "open" => Some(RequestStatus::Open),
            "fulfilled" => Some(RequestStatus::Fulfilled),
            "lifted" => Some(RequestStatus::Lifted),
            _ => None,
        }
    }
}

/// A data subject request as stored. Carries no personal data: the subject is known by the blind
/// index of the identifier they gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRow {
    pub id: String,
    pub kind: RequestType,
    pub regime: Regimes,
    pub lookup_mac: Vec<u8>,
    pub lookup_kind: String,
    pub status: RequestStatus,
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
    /// The purposes an objection or a consent withdrawal named when it was registered.
    pub purposes: Option<Vec<String>>,
    /// When the DPO recorded the extension's notice to the subject sent, and who.
    pub notice_sent_at: Option<Millis>,
    pub notice_sent_by: Option<String>,
}

impl RequestRow {
    /// The blind index the request finds its subjects by.
    pub fn lookup_key(&self) -> Mac {
        Mac::from(<[u8; 32]>::try_from(self.lookup_mac.as_slice()).unwrap_or([0; 32]))
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
    pub subject_id: SubjectId,
    /// The subject's revision the erasure was planned on. If an intake has added to the subject
    /// since (or it is gone), the change is refused with
    /// the store's `SubjectsMoved`: what it would destroy is not what was planned,
    /// acted and announced.
    pub revision: i64,
    /// `Some`: only these value rows (retention of single collections); the key stays.
    pub values: Option<Vec<i64>>,
    /// Categories under a legal hold: their values stay, the subject restricted, until
    /// `hold_until`; everything else goes now.
    pub keep_categories: Vec<String>,
    pub hold_until: Option<Millis>,
    /// The held categories' keys, wrapped on their own (stored with the hold).
    pub held_keys: Vec<crate::crypto::HeldKey>,
    /// Whether the data key goes now (the held categories stay readable through `held_keys`).
    /// `false` for subjects whose data key sealed data itself before category keys existed:
    /// their held `pdg1.` envelopes would become unreadable with it.
    pub shred_data_key: bool,
    /// An [`AuditEvent::Erasure`]; its `act_id` names the destruction act (in the same change)
    /// whose log extract carries it.
    pub audit: AuditEvent,
}

/// How a subject's keys stand: whether its data key sealed data itself (a subject from before
/// category keys), and the category keys a legal hold keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    pub subject_id: SubjectId,
    pub seals_data: bool,
    pub held: Vec<crate::crypto::HeldKey>,
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
#[derive(Debug, Clone)]
pub struct Reindex {
    pub subject_id: SubjectId,
    /// Search-index MACs none of its values has any more, and new ones.
    pub removed: Vec<Mac>,
    pub added: Vec<Mac>,
    /// `(old, new)` index MAC of each corrected value: the subject key moves along with it when
    /// the key was the old value (and the new one is not another subject's key).
    pub key_moves: Vec<(Mac, Mac)>,
}

/// Everything one request fulfilment or sweep batch writes, in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub at: Millis,
    /// Inserted or updated by id.
    pub requests: Vec<RequestRow>,
    pub restrict: Vec<Restrict>,
    pub consents: Vec<ConsentRecord>,
    pub rectify: Vec<Rectify>,
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

/// A subject's processing restricted from `since`, or (`None`) no longer restricted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restrict {
    pub subject_id: SubjectId,
    pub since: Option<Millis>,
}

/// One stored value replaced by its correction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rectify {
    /// The vault row corrected.
    pub value_id: i64,
    pub ciphertext: Vec<u8>,
    pub value_mac: Mac,
}

/// A self-service link's state; its id is the link token's `jti`. The token is never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRow {
    pub id: String,
    pub subject_id: SubjectId,
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
    Token(Token),
    Mac(Vec<u8>),
    /// A search-index entry, `(mac, subject)`: one MAC (a shared phone number) may have entries
    /// for many subjects, more than one step should hold.
    Entry(Vec<u8>, SubjectId),
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
