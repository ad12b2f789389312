//! Cross-border transfers at the edge: the rule and the cached notifications are
//! [`pdgate_core::transfers`]; here they are read from the store, refreshed in the background,
//! and a refusal is counted and audited.

pub use pdgate_core::transfers::*;

use std::ops::Deref;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::audit::AuditEvent;
use crate::metrics::Metrics;
use pdgate_core::requests::calendar::Calendar;
use pdgate_core::Millis;
use pdgate_store::oversight::NotificationRow;
use pdgate_store::{Change, Committer, Oversight, Store, StoreError};

/// [`Notified`] with the metrics a refusal is counted in.
pub struct Transfers {
    notified: Notified,
    metrics: Arc<Metrics>,
}

impl Deref for Transfers {
    type Target = Notified;
    fn deref(&self) -> &Notified {
        &self.notified
    }
}

impl Transfers {
    pub fn new(adequacy: Adequacy, calendar: Arc<Calendar>, metrics: Arc<Metrics>) -> Transfers {
        Transfers {
            notified: Notified::new(adequacy, calendar),
            metrics,
        }
    }

    /// Re-reads the notifications; on failure the old copy ages until [`STALE_AFTER_MS`].
    pub async fn refresh(&self, store: &Store, now: Millis) -> pdgate_store::Result<()> {
        let rows = store.notifications().await?;
        self.notified.set(rows, now);
        Ok(())
    }

    /// [`Notified::check`] at the edge: a refusal is counted, audited (through the writer,
    /// durably) and returned for the caller to answer with `cross_border_not_allowed`.
    pub async fn enforce(
        &self,
        committer: &Committer,
        via: &str,
        recipient: &str,
        country: &str,
        purpose: &str,
    ) -> Result<(), Refused> {
        let now = pdgate_core::now_millis();
        let Err(refusal) = self.notified.check(country, purpose, now) else {
            return Ok(());
        };
        tracing::warn!(
            via,
            recipient,
            country,
            purpose,
            reason = refusal.reason(),
            "cross-border transfer refused"
        );
        self.metrics.transfer_refused();
        let event = crate::audit::AuditEvent::TransferRefused {
            via: via.into(),
            recipient: recipient.into(),
            country: country.into(),
            purpose: purpose.into(),
            reason: refusal.reason().into(),
        };
        if let Err(e) = committer.audit(now, event).await {
            tracing::error!(error = %e, "could not audit a refused cross-border transfer");
        }
        Err(Refused {
            message: refusal.explain(country, purpose),
        })
    }

    /// Records an Art. 12 notification filed with Roskomnadzor.
    pub async fn file(
        &self,
        (store, committer): (&Store, &Committer),
        policy: &pdgate_core::policy::Policy,
        input: NewNotification,
        who: &str,
        now: Millis,
    ) -> Result<NotificationRow, NotificationError> {
        let n = notification(policy, input, who, now)?;
        self.record((store, committer), n.clone(), who, now).await?;
        Ok(n)
    }

    /// Records when Roskomnadzor received a notification (the Art. 12 wait runs from it).
    pub async fn received(
        &self,
        (store, committer): (&Store, &Committer),
        id: &str,
        input: NewReceipt,
        who: &str,
        now: Millis,
    ) -> Result<NotificationRow, NotificationError> {
        let mut n = in_force(store, id).await?;
        n.received_at = Some(received_at(
            &input.received_by_authority_at,
            n.filed_at,
            now,
        )?);
        self.record((store, committer), n.clone(), who, now).await?;
        Ok(n)
    }

    /// Withdraws a recorded notification: transfers it allowed stop.
    pub async fn withdraw(
        &self,
        (store, committer): (&Store, &Committer),
        id: &str,
        who: &str,
        now: Millis,
    ) -> Result<NotificationRow, NotificationError> {
        let mut n = in_force(store, id).await?;
        n.withdrawn_at = Some(now);
        self.record((store, committer), n.clone(), who, now).await?;
        Ok(n)
    }

    /// Commits `n` with its audit entry, then refreshes this replica's cache.
    async fn record(
        &self,
        (store, committer): (&Store, &Committer),
        n: NotificationRow,
        who: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        let audit = AuditEvent::TransferNotification {
            notification_id: n.id.clone(),
            principal: who.into(),
            country: n.country.clone(),
            purpose: n.purpose.clone(),
            filed_at: n.filed_at,
            received_at: n.received_at,
            withdrawn: n.withdrawn_at.is_some(),
        };
        committer
            .apply(Change {
                at: now,
                audit: vec![audit],
                notifications: vec![n],
                ..Change::default()
            })
            .await?;
        // This replica sees it at once; a failed re-read leaves the cache to age and fail closed.
        if let Err(e) = self.refresh(store, now).await {
            tracing::warn!(error = %e, "cross-border notifications: refresh after a change failed");
        }
        Ok(())
    }

    /// Re-reads every `period` until `stop` resolves.
    pub async fn every(
        self: Arc<Self>,
        store: Store,
        period: std::time::Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let mut stop = std::pin::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(period) => {}
            }
            if let Err(e) = self.refresh(&store, pdgate_core::now_millis()).await {
                tracing::warn!(error = %e, "cross-border notifications: refresh failed");
            }
        }
    }
}

/// A recorded notification not withdrawn.
async fn in_force(store: &Store, id: &str) -> Result<NotificationRow, NotificationError> {
    let rows = store.notifications().await?;
    let n = rows
        .into_iter()
        .find(|n| n.id == *id)
        .ok_or(NotificationError::NotFound)?;
    match n.withdrawn_at {
        Some(_) => Err(NotificationError::AlreadyWithdrawn),
        None => Ok(n),
    }
}

/// An Art. 12 notification as the DPO records it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNotification {
    #[schema(pattern = "^[A-Za-z]{2}$")]
    pub country: String,
    pub purpose: String,
    /// When the notification was sent to Roskomnadzor (RFC 3339 or Unix ms).
    #[schema(value_type = String, format = DateTime)]
    pub filed_at: Value,
    /// When Roskomnadzor received it (RFC 3339 or Unix ms), if known: the 10 working days run
    /// from that day; otherwise from the filing day plus `[transfers] delivery_days`.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub received_by_authority_at: Option<Value>,
    #[serde(default)]
    pub reference: Option<String>,
}

/// The receipt of a recorded notification, once known.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReceipt {
    /// When Roskomnadzor received it (RFC 3339 or Unix ms): not before the filing, not in the
    /// future.
    #[schema(value_type = String, format = DateTime)]
    pub received_by_authority_at: Value,
}

/// A receipt time: valid, not before the filing, not in the future.
fn received_at(v: &Value, filed_at: Millis, now: Millis) -> Result<Millis, NotificationError> {
    let at = pdgate_core::time_value(v).ok_or_else(|| {
        bad(
            "invalid_time",
            "received_by_authority_at must be RFC 3339 or Unix ms",
        )
    })?;
    if at > now + crate::breach::MAX_SKEW_MS {
        return Err(bad(
            "invalid_time",
            "received_by_authority_at is in the future",
        ));
    }
    if at < filed_at {
        return Err(bad(
            "invalid_time",
            "received_by_authority_at is before filed_at",
        ));
    }
    Ok(at)
}

/// Why a notification was not recorded or withdrawn.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("no such notification")]
    NotFound,
    #[error("the notification is already withdrawn")]
    AlreadyWithdrawn,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn bad(code: &'static str, message: impl Into<String>) -> NotificationError {
    NotificationError::Invalid {
        code,
        message: message.into(),
    }
}

/// The notification as recorded, once its fields are valid: a foreign ISO country, a declared
/// purpose, a filing time not in the future, a short reference.
fn notification(
    policy: &pdgate_core::policy::Policy,
    input: NewNotification,
    who: &str,
    now: Millis,
) -> Result<NotificationRow, NotificationError> {
    let country = input.country.trim().to_ascii_uppercase();
    if !pdgate_core::policy::is_country_code(&country) {
        return Err(bad(
            "invalid_country",
            "country must be an ISO 3166-1 alpha-2 code",
        ));
    }
    if !is_foreign(&country) {
        return Err(bad(
            "not_cross_border",
            "transfers within Russia need no Art. 12 notification",
        ));
    }
    if policy.purpose_index(&input.purpose).is_none() {
        return Err(bad(
            "unknown_purpose",
            format!("purpose `{}` is not declared", input.purpose),
        ));
    }
    let filed_at = pdgate_core::time_value(&input.filed_at)
        .ok_or_else(|| bad("invalid_time", "filed_at must be RFC 3339 or Unix ms"))?;
    if filed_at > now + crate::breach::MAX_SKEW_MS {
        return Err(bad("invalid_time", "filed_at is in the future"));
    }
    let received_at = input
        .received_by_authority_at
        .as_ref()
        .map(|v| received_at(v, filed_at, now))
        .transpose()?;
    let reference = input
        .reference
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if reference.as_ref().is_some_and(|r| r.chars().count() > 200) {
        return Err(bad(
            "field_too_long",
            "reference is longer than 200 characters",
        ));
    }
    Ok(NotificationRow {
        id: format!("ntf_{}", uuid::Uuid::now_v7().simple()),
        country,
        purpose: input.purpose,
        filed_at,
        received_at,
        reference,
        recorded_by: who.into(),
        recorded_at: now,
        withdrawn_at: None,
    })
}
