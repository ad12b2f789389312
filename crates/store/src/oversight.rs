//! What the DPO's oversight stores (issue 5): breaches and their notice clocks, the Art. 12
//! 152-FZ cross-border notifications, flows found by discovery, and the live figures the
//! processing-activity register shows. Writes that must be audited (breaches, notifications)
//! travel in a [`Change`](super::Change) like every other admin write; the figures are reads.

use std::future::Future;

use crate::Millis;
use crate::Result;

pub use pdgate_core::records::oversight::*;

/// The storage contract of the oversight records (both backends).
pub trait Oversight: Send + Sync {
    fn figures(
        &self,
        purposes: &[&str],
        now: Millis,
    ) -> impl Future<Output = Result<Figures>> + Send;
    /// Consent records per day, purpose and state since `since`, oldest first.
    fn consent_trend(&self, since: Millis) -> impl Future<Output = Result<Vec<TrendRow>>> + Send;
    fn gauges(&self, now: Millis) -> impl Future<Output = Result<Gauges>> + Send;
    /// Values (and their subjects) of `categories` (`None`: all) collected in `[from, until]`.
    fn affected(
        &self,
        categories: Option<&[String]>,
        from: Option<Millis>,
        until: Millis,
    ) -> impl Future<Output = Result<Affected>> + Send;
    fn breach(&self, id: &str) -> impl Future<Output = Result<Option<BreachRow>>> + Send;
    /// Newest first.
    fn breaches(&self, limit: i64) -> impl Future<Output = Result<Vec<BreachRow>>> + Send;
    /// All recorded notifications, withdrawn ones too, oldest first.
    fn notifications(&self) -> impl Future<Output = Result<Vec<NotificationRow>>> + Send;
    /// Adds `n` sightings of personal data of `kinds` on an undeclared route.
    fn record_flow(
        &self,
        method: &str,
        path: &str,
        kinds: &[String],
        n: i64,
        at: Millis,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Most recently seen first.
    fn flows(&self, limit: i64) -> impl Future<Output = Result<Vec<FlowRow>>> + Send;
}
