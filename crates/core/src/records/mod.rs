//! The rows the vault stores and returns: what an intake writes, what detokenize, reports and
//! the sweeper read back, and the records of requests, acts, sweeps, breaches and notifications.
//! The store crate implements the traits that speak them; the decisions here build and read them.

pub mod keyring;
pub mod oversight;
pub mod rights;

use crate::audit::AuditEvent;
use crate::Millis;

pub use crate::ids::{pseudonym, subject_id_of, Mac, Pseudonym, SubjectId, Token};

/// A subject as stored: pseudonymous id and its wrapped data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectRow {
    pub id: SubjectId,
    pub wrapped_dek: Vec<u8>,
    pub kek_version: i64,
}

/// Everything one intake writes.
#[derive(Debug, Clone, Default)]
pub struct IntakeWrite {
    pub at: Millis,
    pub route: String,
    /// `None` for a bare audit event.
    pub subject: Option<SubjectWrite>,
    /// Blind-index entries for searching the subject by e-mail or phone later.
    pub index: Vec<Mac>,
    pub values: Vec<ValueWrite>,
    pub consents: Vec<ConsentRecord>,
    pub dropped_fields: u32,
    pub audit: Vec<AuditEvent>,
}

#[derive(Debug, Clone)]
pub enum SubjectWrite {
    /// First sight of this subject: `key` is the blind index of the identifying field (absent when
    /// the route names no subject field — every post is then its own subject).
    New {
        id: SubjectId,
        key: Option<Mac>,
        wrapped_dek: Vec<u8>,
        kek_version: i64,
    },
    Existing {
        id: SubjectId,
    },
}

impl SubjectWrite {
    pub fn id(&self) -> &SubjectId {
        match self {
            SubjectWrite::New { id, .. } | SubjectWrite::Existing { id } => id,
        }
    }
}

/// One value kept in the vault, with the token candidates to issue for it.
#[derive(Debug, Clone)]
pub struct ValueWrite {
    pub value_mac: Mac,
    pub candidates: Vec<Token>,
    pub shape: String,
    pub kind: String,
    pub action: String,
    pub category: Option<String>,
    pub field: String,
    pub purposes: String,
    pub ciphertext: Vec<u8>,
}

/// Where a purpose stands in a subject's ledger; the newest record for it decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    Granted,
    Withdrawn,
    /// An objection (GDPR Art. 21, 152-FZ Art. 21(5.1)): the purpose may not be pursued.
    Objected,
}

impl ConsentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentStatus::Granted => "granted",
            ConsentStatus::Withdrawn => "withdrawn",
            ConsentStatus::Objected => "objected",
        }
    }

    pub fn parse(s: &str) -> Option<ConsentStatus> {
        match s {
            "granted" => Some(ConsentStatus::Granted),
            "withdrawn" => Some(ConsentStatus::Withdrawn),
            "objected" => Some(ConsentStatus::Objected),
            _ => None,
        }
    }

    /// Whether the purpose ends here (a withdrawal or an objection).
    pub fn ends(self) -> bool {
        matches!(self, ConsentStatus::Withdrawn | ConsentStatus::Objected)
    }
}

/// A consent record (SPEC 5). Append-only: a withdrawal is another record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub receipt_id: String,
    pub subject_id: SubjectId,
    pub purpose: String,
    pub text_id: String,
    pub text_version: i64,
    pub text_sha256: String,
    pub regimes: String,
    pub method: String,
    pub route: String,
    pub at: Millis,
    pub ip_hash: Option<Vec<u8>>,
    pub ua_hash: Option<Vec<u8>>,
    pub origin: Option<String>,
    pub state: ConsentStatus,
    pub channel: Option<String>,
    /// JSON: `guardian` (who consented for a minor: the fields that identify them, how the age
    /// was known) and the `conditions` and `bans` of a consent to distribution.
    pub details: Option<String>,
}

/// What a committed intake got: the token issued for each [`ValueWrite`], in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub tokens: Vec<Token>,
}

/// Per-intake outcome inside a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntakeOutcome {
    Committed(Committed),
    /// Another intake created this subject first (or it was erased meanwhile): decide again.
    SubjectRace,
    /// Every token candidate was taken (practically impossible; refuse rather than reuse).
    TokenSpaceExhausted,
}

/// A stored vault value, as the detokenize path and tests read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultValue {
    /// Row id: one collection of the value (the same token may be collected many times).
    pub id: i64,
    pub subject_id: SubjectId,
    pub token: Token,
    pub kind: String,
    pub action: String,
    pub category: Option<String>,
    pub field: String,
    pub purposes: String,
    pub route: String,
    pub ciphertext: Vec<u8>,
    pub collected_at: Millis,
    pub sealing: crate::crypto::Sealing,
}

impl VaultValue {
    /// What its ciphertext is bound to.
    pub fn binding(&self) -> crate::crypto::Binding<'_> {
        crate::crypto::Binding {
            subject: self.subject_id.as_bytes(),
            field: &self.field,
            purposes: &self.purposes,
            category: self.category.as_deref(),
            collected_at: self.collected_at,
            sealing: self.sealing,
        }
    }

    /// Whether the upstream holds a token for it (`encrypt`, `hash` and `pass` collections have
    /// none: the upstream holds an envelope, a hash or the value as sent).
    pub fn has_token(&self) -> bool {
        !self.token.as_str().is_empty()
    }

    /// Whether pdgate holds the value itself (`hash` and `pass` collections are noted by name).
    pub fn is_kept(&self) -> bool {
        !self.ciphertext.is_empty()
    }
}

/// A subject's key and the states that gate any use of its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectState {
    pub row: SubjectRow,
    /// Set while processing is restricted (GDPR Art. 18, 152-FZ Art. 21 blocking).
    pub restricted_at: Option<Millis>,
    pub last_activity_at: Millis,
}

/// The newest consent record of one subject for one purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentState {
    pub subject_id: SubjectId,
    pub state: ConsentStatus,
    pub at: Millis,
}

/// One stored collection of a token with its subject's state and, for the purpose asked about,
/// the subject's newest consent record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueRow {
    pub value: VaultValue,
    pub subject: SubjectState,
    pub consent: Option<ConsentState>,
}
