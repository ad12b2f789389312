//! Breaches, cross-border notifications, discovered flows and the register's live figures as stored.

use crate::Millis;

/// A personal-data breach as stored; `body` is the incident as described plus the figures
/// computed at opening (JSON), `history` every state change (JSON array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreachRow {
    pub id: String,
    pub detected_at: Millis,
    pub opened_at: Millis,
    pub opened_by: String,
    pub state: String,
    pub body: String,
    pub history: String,
    pub updated_at: Millis,
    /// For a change to a stored breach: the `updated_at` it was read with. The write fails with
    /// the store's `Conflict` if the row has moved on since; `None`
    /// inserts a new breach.
    pub expected_updated_at: Option<Millis>,
}

/// A filed Art. 12 152-FZ notification of cross-border transfer for one country and purpose. In a
/// change, a row without `withdrawn_at` is inserted; one with it withdraws the stored row, and
/// fails with a conflict if that row was already withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotificationRow {
    pub id: String,
    pub country: String,
    pub purpose: String,
    pub filed_at: Millis,
    /// When Roskomnadzor received it (`received_by_authority_at`), once the DPO knows.
    pub received_at: Option<Millis>,
    pub reference: Option<String>,
    pub recorded_by: String,
    pub recorded_at: Millis,
    pub withdrawn_at: Option<Millis>,
}

/// A body on an undeclared route in which the detectors found personal data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FlowRow {
    pub method: String,
    pub path: String,
    pub kinds: Vec<String>,
    pub count: i64,
    pub first_seen: Millis,
    pub last_seen: Millis,
}

/// Counts by one key.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Count {
    pub key: String,
    pub n: i64,
}

/// Requests of one type: received, fulfilled, fulfilled by their due time, open and overdue.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct RequestCounts {
    pub kind: String,
    pub received: i64,
    pub fulfilled: i64,
    pub on_time: i64,
    pub open: i64,
    pub overdue: i64,
}

/// The live figures of the register, read at one time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Figures {
    pub subjects: i64,
    /// Stored values per category (`free_text` for identifiers found by `redact`).
    pub values_by_category: Vec<Count>,
    /// Subjects holding a value collected for each purpose.
    pub subjects_by_purpose: Vec<Count>,
    /// Ledger records per `purpose/state` (`marketing/granted`, `marketing/withdrawn`, …).
    pub consents: Vec<Count>,
    pub requests: Vec<RequestCounts>,
    /// The first audited operation: when pdgate started processing.
    pub first_entry_at: Option<Millis>,
    /// The key-encryption key in use: version and when the keyring was written with it.
    pub kek_version: i64,
    pub keyring_at: Option<Millis>,
}

/// Consent records of one purpose and state on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TrendRow {
    /// Start of the quarter hour the records fall in (every zone's offset is a whole number of
    /// quarter hours, so the reader can fold them into the operator's days).
    pub slot: crate::Millis,
    pub purpose: String,
    pub state: String,
    pub n: i64,
}

/// Cheap counts for `/metrics` (index-backed, fine to read on every scrape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gauges {
    pub requests_open: i64,
    pub requests_overdue: i64,
    pub outbox_backlog: i64,
    /// Seconds the oldest undelivered webhook has waited (0 when none waits).
    pub outbox_oldest_age_s: i64,
    pub breaches_open: i64,
}

/// How much a breach may touch: values and distinct subjects in the categories, collected in
/// the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Affected {
    pub subjects: i64,
    pub records: i64,
}
