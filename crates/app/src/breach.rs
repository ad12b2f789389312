//! Breaches at the edge: the rules, clocks and notices are [`pdgate_core::breach`]; here a breach
//! is opened and moved on against the store, each step one `Change` with its audit entry.

pub use pdgate_core::breach::*;

use crate::audit::AuditEvent;
use pdgate_core::policy::Policy;
use pdgate_core::Millis;
use pdgate_store::oversight::BreachRow;
use pdgate_store::{Change, Committer, Oversight, Store, StoreError};

/// Why a breach operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BreachError {
    #[error("no such breach")]
    NotFound,
    /// The stored JSON no longer decodes (logged where it is read).
    #[error("the stored breach is unreadable")]
    Unreadable,
    #[error("{}", .0.message)]
    Invalid(Invalid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Invalid> for BreachError {
    fn from(e: Invalid) -> Self {
        Self::Invalid(e)
    }
}

/// Opens a breach: validated, its affected records estimated from the vault, recorded with its
/// audit entry.
pub async fn open(
    store: &Store,
    committer: &Committer,
    policy: &Policy,
    input: NewBreach,
    who: &str,
    now: Millis,
) -> Result<Breach, BreachError> {
    let (detected_at, mut body) = validate(input, policy, now)?;
    body.estimate = store
        .affected(Some(&body.categories), body.window_from, body.window_until)
        .await?;
    let id = format!("brc_{}", uuid::Uuid::now_v7().simple());
    let b = pdgate_core::breach::open(id, detected_at, body, who, now);
    let audit = AuditEvent::BreachOpened {
        breach_id: b.id.clone(),
        principal: who.into(),
        detected_at,
        categories: b.body.categories.clone(),
        subjects_estimate: b.body.estimate.subjects,
        records_estimate: b.body.estimate.records,
    };
    let change = Change {
        at: now,
        breaches: vec![b.to_row()],
        audit: vec![audit],
        ..Change::default()
    };
    committer.apply(change).await?;
    Ok(b)
}

/// Moves a breach on (forward only), refused if another change was recorded since it was read.
pub async fn advance(
    store: &Store,
    committer: &Committer,
    id: &str,
    change: StateChange,
    who: &str,
    now: Millis,
) -> Result<Breach, BreachError> {
    let mut b = load(store, id).await?;
    let read_at = b.updated_at;
    let from = pdgate_core::breach::advance(&mut b, change, who, now)?;
    let audit = AuditEvent::BreachState {
        breach_id: b.id.clone(),
        principal: who.into(),
        from: from.as_str().into(),
        to: b.state.as_str().into(),
    };
    save(committer, &b, read_at, audit, now).await?;
    Ok(b)
}

/// Writes a changed breach with its audit entry, refused if the stored one moved since `read_at`.
async fn save(
    committer: &Committer,
    b: &Breach,
    read_at: Millis,
    audit: AuditEvent,
    now: Millis,
) -> Result<(), StoreError> {
    let mut row = b.to_row();
    row.expected_updated_at = Some(read_at);
    let change = Change {
        at: now,
        breaches: vec![row],
        audit: vec![audit],
        ..Change::default()
    };
    committer.apply(change).await.map(|_| ())
}

/// Records a GosSOPKA notice or the communication to the subjects as sent, refused if another
/// change was recorded since the breach was read.
pub async fn sent(
    store: &Store,
    committer: &Committer,
    id: &str,
    input: NoticeSent,
    who: &str,
    now: Millis,
) -> Result<Breach, BreachError> {
    let mut b = load(store, id).await?;
    let read_at = b.updated_at;
    let notice = input.notice.clone();
    let late = record_sent(&mut b, input, who, now)?;
    let audit = AuditEvent::BreachNoticeSent {
        breach_id: b.id.clone(),
        principal: who.into(),
        notice,
        late,
    };
    save(committer, &b, read_at, audit, now).await?;
    Ok(b)
}

/// One breach as stored.
pub async fn load(store: &Store, id: &str) -> Result<Breach, BreachError> {
    let row = store.breach(id).await?.ok_or(BreachError::NotFound)?;
    decode(&row).ok_or(BreachError::Unreadable)
}

/// The latest breaches (at most `limit`) that still decode.
pub async fn list(store: &Store, limit: i64) -> Result<Vec<Breach>, StoreError> {
    Ok(store
        .breaches(limit)
        .await?
        .iter()
        .filter_map(decode)
        .collect())
}

/// A stored breach, or `None` (logged) when its JSON no longer decodes.
fn decode(row: &BreachRow) -> Option<Breach> {
    Breach::from_row(row)
        .inspect_err(
            |e| tracing::error!(breach = %row.id, error = %e, "a stored breach does not decode"),
        )
        .ok()
}
