//! Cross-border transfers at the edge: the rule and the cached notifications are
//! [`pdgate_core::transfers`]; here they are read from the store, refreshed in the background,
//! and a refusal is counted and audited.

pub use pdgate_core::transfers::*;

use std::ops::Deref;
use std::sync::Arc;

use crate::metrics::Metrics;
use crate::store::{Committer, Oversight, Store};
use crate::Millis;
use pdgate_core::requests::calendar::Calendar;

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
    pub async fn refresh(&self, store: &Store, now: Millis) -> crate::store::Result<()> {
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
        let now = crate::now_millis();
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
            if let Err(e) = self.refresh(&store, crate::now_millis()).await {
                tracing::warn!(error = %e, "cross-border notifications: refresh failed");
            }
        }
    }
}
