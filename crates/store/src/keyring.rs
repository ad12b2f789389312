//! What a KEK rotation stores (issue 28): the versions of the key ring, the root secret's
//! wrapping, and the data and held keys rewrapped in batches beside live traffic. Rewrites go
//! straight to the database, not through this process's writer, so `pdgate keys rotate` runs as
//! its own process beside the replicas.

use std::future::Future;

use crate::SubjectRow;
use crate::{Millis, Result};

pub use pdgate_core::records::keyring::*;

/// The storage contract of the key ring (both backends).
pub trait KeyRing: Send + Sync {
    fn ring(&self) -> impl Future<Output = Result<Option<RingRow>>> + Send;
    fn kek_versions(&self) -> impl Future<Output = Result<Vec<KekVersion>>> + Send;
    /// Registers the KEK of `check` under `version` (`None`: the next one) unless it is known;
    /// its version, or `None` when another key took that version first.
    fn add_kek(
        &self,
        version: Option<i64>,
        check: &[u8],
        at: Millis,
    ) -> impl Future<Output = Result<Option<i64>>> + Send;
    /// Stores the root secret wrapped under version `to`, if it is still under `from`.
    fn rotate_root(
        &self,
        from: i64,
        to: i64,
        wrapped: &[u8],
        at: Millis,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Up to `limit` subjects after `after`, in id order, with their wrapped data keys.
    fn data_keys_page(
        &self,
        after: &[u8],
        limit: i64,
    ) -> impl Future<Output = Result<Vec<SubjectRow>>> + Send;
    /// Up to `limit` held keys under another version than `current`.
    fn held_keys_not_under(
        &self,
        current: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<HeldRow>>> + Send;
    /// Writes the rewrapped keys in one transaction; how many rows still held what was read.
    fn rewrap(
        &self,
        data: &[Rewrap<SubjectRow>],
        held: &[Rewrap<HeldRow>],
    ) -> impl Future<Output = Result<u64>> + Send;
    fn key_counts(&self) -> impl Future<Output = Result<Vec<KeyCount>>> + Send;
    /// Marks every other version retired at `at` when the root secret and every key are under
    /// `current`; whether it did.
    fn retire_keks(&self, current: i64, at: Millis) -> impl Future<Output = Result<bool>> + Send;
}
