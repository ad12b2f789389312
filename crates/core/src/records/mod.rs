//! The rows the vault stores and returns: what an intake writes, what detokenize, reports and
//! the sweeper read back, and the records of requests, acts, sweeps, breaches and notifications.
//! The store crate implements the traits that speak them; the decisions here build and read them.

pub mod oversight;
pub mod rights;

use crate::audit::AuditEvent;
use crate::Millis;

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

/// A subject's id: random, time-ordered bytes that stand for one person in the vault, derived
/// from nothing about them. Upstreams and tokens carry it only as its [`pseudonym`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectId(Vec<u8>);

impl SubjectId {
    /// A new id: a UUIDv7, so every subject-keyed index grows at its end instead of splitting
    /// random pages. The CRM learns nothing it did not already know: when it first heard of the
    /// subject.
    pub fn new_v7() -> SubjectId {
        SubjectId(uuid::Uuid::now_v7().into_bytes().to_vec())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// An id as stored.
impl From<Vec<u8>> for SubjectId {
    fn from(bytes: Vec<u8>) -> Self {
        SubjectId(bytes)
    }
}

/// A UUID's bytes.
impl From<[u8; 16]> for SubjectId {
    fn from(bytes: [u8; 16]) -> Self {
        SubjectId(bytes.to_vec())
    }
}

/// Compared with the bytes it is made of (the store's columns, a test's expectation).
impl PartialEq<[u8]> for SubjectId {
    fn eq(&self, other: &[u8]) -> bool {
        self.0 == other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for SubjectId {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.0 == other
    }
}

impl PartialEq<Vec<u8>> for SubjectId {
    fn eq(&self, other: &Vec<u8>) -> bool {
        &self.0 == other
    }
}

impl From<&[u8]> for SubjectId {
    fn from(bytes: &[u8]) -> Self {
        SubjectId(bytes.to_vec())
    }
}

/// Found in maps by its bytes (the hash and order are the bytes').
impl std::borrow::Borrow<[u8]> for SubjectId {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

/// The bytes, for keys' associated data and the store's columns.
impl std::ops::Deref for SubjectId {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// Shown as its pseudonym: logs and test failures never print raw id bytes.
impl std::fmt::Debug for SubjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SubjectId({})", pseudonym(self))
    }
}

/// An HMAC-SHA-256 under one of pdgate's derived keys, as the vault stores it: a blind index (a
/// subject found by e-mail or phone), a value's MAC (its token found again), a request's lookup
/// key. Without the key it reveals nothing and cannot be recomputed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac([u8; 32]);

impl Mac {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<[u8; 32]> for Mac {
    fn from(bytes: [u8; 32]) -> Self {
        Mac(bytes)
    }
}

/// The bytes, for the store's columns and the token derivation.
impl std::ops::Deref for Mac {
    type Target = [u8; 32];
    fn deref(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Found in sets of stored MACs by its bytes.
impl std::borrow::Borrow<[u8]> for Mac {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

/// Its first bytes only: enough to tell two apart in a test failure.
impl std::fmt::Debug for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d, ..] = self.0;
        write!(f, "Mac({a:02x}{b:02x}{c:02x}{d:02x}…)")
    }
}

/// A token pdgate issued for one value (`tok_…`, or a format-preserving one shaped like the
/// value): what upstreams hold instead of it, and what detokenize and erasure find it by.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(String);

impl Token {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for Token {
    fn from(s: String) -> Self {
        Token(s)
    }
}

impl From<&str> for Token {
    fn from(s: &str) -> Self {
        Token(s.to_owned())
    }
}

/// The text, for bodies, columns and comparisons.
impl std::ops::Deref for Token {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// Found in maps of tokens by its text.
impl std::borrow::Borrow<str> for Token {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Token {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Token {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A token stands for a value without revealing it: it may appear in test failures.
impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({})", self.0)
    }
}

/// As its text: reports list the tokens the subject's values went out as.
impl serde::Serialize for Token {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// `sub_<base32>` of a [`SubjectId`]: what upstreams, subject tokens, reports and the audit log
/// call a subject.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Pseudonym(String);

impl Pseudonym {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The text, for headers, claims and comparisons.
impl std::ops::Deref for Pseudonym {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Pseudonym {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Pseudonym {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for Pseudonym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `sub_<base32>`: the pseudonym the upstream and the subject token carry.
pub fn pseudonym(subject_id: &SubjectId) -> Pseudonym {
    Pseudonym(format!(
        "sub_{}",
        data_encoding::BASE32_NOPAD
            .encode(subject_id.as_bytes())
            .to_lowercase()
    ))
}

/// The subject id behind a pseudonym.
pub fn subject_id_of(pseudonym: &str) -> Option<SubjectId> {
    data_encoding::BASE32_NOPAD
        .decode(
            pseudonym
                .strip_prefix("sub_")?
                .to_ascii_uppercase()
                .as_bytes(),
        )
        .ok()
        .map(SubjectId)
}
