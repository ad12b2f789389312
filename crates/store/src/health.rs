//! Whether the writer can commit. Every write transaction reports its outcome here: failures are
//! counted by reason (a metric), logged at most once per interval while they last (a full disk
//! must not fill the next one with log lines), and readiness is false from the first failure until
//! a write commits again.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};

use super::StoreError;
use crate::Millis;

/// Why a write did not commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// The disk, or SQLite's `sqlite_max_bytes`, is full.
    DiskFull,
    /// The database refuses writes (a PostgreSQL standby after a failover, a read-only file).
    ReadOnly,
    /// The database is unreachable, busy or timed out.
    Unavailable,
    Other,
}

impl FailureReason {
    pub const ALL: [FailureReason; 4] = [
        Self::DiskFull,
        Self::ReadOnly,
        Self::Unavailable,
        Self::Other,
    ];

    pub fn of(e: &StoreError) -> Self {
        match e {
            StoreError::Full(_) => Self::DiskFull,
            StoreError::ReadOnly(_) => Self::ReadOnly,
            StoreError::Unavailable(_) => Self::Unavailable,
            _ => Self::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DiskFull => "disk_full",
            Self::ReadOnly => "read_only",
            Self::Unavailable => "unavailable",
            Self::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What a running replica reads back from its database to know it is still the one it started on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultIdentity {
    /// The key ring's root-secret fingerprint (`None`: the ring has none — it was replaced).
    pub root_id: Option<Vec<u8>>,
    /// The version of the KEK the root secret is wrapped under.
    pub kek_version: Option<i64>,
    /// The migrations applied, by version.
    pub applied: Vec<i64>,
}

/// Why this replica must not write to its database although the database answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// The database's key ring is not the one this process unlocked (restored or switched
    /// underneath it): what it wrote would be keyed to a secret the database does not hold.
    KeyRingChanged,
    /// The database lacks migrations this binary carries (an older backup restored underneath).
    MigrationsPending,
    /// The key ring was rotated to a KEK this process does not hold: new keys it wrapped would
    /// be lost with the old KEK (the database refuses them), and keys already rewrapped no
    /// longer open here. Restart it with the new key.
    KekRotated,
}

impl Mismatch {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeyRingChanged => "key_unavailable",
            Self::MigrationsPending => "migrations_pending",
            Self::KekRotated => "key_rotated",
        }
    }

    fn code(this: Option<Self>) -> u8 {
        match this {
            None => 0,
            Some(Self::KeyRingChanged) => 1,
            Some(Self::MigrationsPending) => 2,
            Some(Self::KekRotated) => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::KeyRingChanged),
            2 => Some(Self::MigrationsPending),
            3 => Some(Self::KekRotated),
            _ => None,
        }
    }
}

/// What this process runs on: the root secret it unlocked and the KEK versions it holds.
#[derive(Debug, Clone)]
pub struct Ours {
    pub root_id: [u8; 32],
    pub kek_versions: Vec<i64>,
}

impl Ours {
    pub fn of(keys: &pdgate_core::crypto::Keys) -> Self {
        Self {
            root_id: keys.root_id(),
            kek_versions: keys.kek_versions().into_iter().map(i64::from).collect(),
        }
    }
}

/// Compares what the database holds with what this process runs on. Migrations newer than the
/// binary (a newer replica of a rolling upgrade migrated first) are not a mismatch: migrations
/// only add, and refusing would take every old replica out at once.
pub fn mismatch(ours: &Ours, known: &[i64], seen: &VaultIdentity) -> Option<Mismatch> {
    use subtle::ConstantTimeEq;
    let same_ring = seen
        .root_id
        .as_deref()
        .is_some_and(|id| bool::from(id.ct_eq(&ours.root_id)));
    if !same_ring {
        return Some(Mismatch::KeyRingChanged);
    }
    if seen
        .kek_version
        .is_some_and(|v| !ours.kek_versions.contains(&v))
    {
        return Some(Mismatch::KekRotated);
    }
    known
        .iter()
        .any(|v| seen.applied.binary_search(v).is_err())
        .then_some(Mismatch::MigrationsPending)
}

/// One line per this many milliseconds while writes keep failing.
const LOG_EVERY_MS: Millis = 10_000;

/// Logs a request refused for a store error at most once per interval, with how many were not
/// logged: a database that is down for an hour must not write one line per refused request.
pub fn log_refusal(e: &StoreError, what: &'static str) {
    static LAST: AtomicI64 = AtomicI64::new(0);
    static UNLOGGED: AtomicU64 = AtomicU64::new(0);
    let now = crate::now_millis();
    let last = LAST.load(Ordering::Relaxed);
    if (last != 0 && now - last < LOG_EVERY_MS)
        || LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        UNLOGGED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let more = UNLOGGED.swap(0, Ordering::Relaxed);
    tracing::error!(error = %e, refused_since_last_line = more, "{what}");
}

#[derive(Debug, Default)]
pub struct WriterHealth {
    /// When the current run of failures began; 0 while writes commit.
    failing_since: AtomicI64,
    /// The reason of the last failure (an index into [`FailureReason::ALL`]).
    last_reason: AtomicU8,
    last_logged: AtomicI64,
    /// Failures since the last line logged.
    unlogged: AtomicU64,
    failures: [AtomicU64; 4],
    /// A [`Mismatch`] found by the last check (its code; 0: none): the writer refuses every job
    /// without touching the database until a check finds none.
    mismatch: AtomicU8,
}

impl WriterHealth {
    /// A write transaction failed with `e` at `at`.
    pub fn failed(&self, e: &StoreError, at: Millis) {
        let reason = FailureReason::of(e);
        self.failures[reason.index()].fetch_add(1, Ordering::Relaxed);
        self.last_reason
            .store(reason.index() as u8, Ordering::Relaxed);
        let _ =
            self.failing_since
                .compare_exchange(0, at.max(1), Ordering::Relaxed, Ordering::Relaxed);
        let last = self.last_logged.load(Ordering::Relaxed);
        if last != 0 && at - last < LOG_EVERY_MS {
            self.unlogged.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.last_logged.store(at, Ordering::Relaxed);
        let more = self.unlogged.swap(0, Ordering::Relaxed);
        tracing::error!(
            error = %e,
            reason = reason.as_str(),
            failures_since_last_line = more,
            "vault writes fail; intakes are refused (503) until a write commits"
        );
    }

    /// A write transaction committed: readiness returns, and the recovery is logged once.
    pub fn committed(&self) {
        let since = self.failing_since.swap(0, Ordering::Relaxed);
        if since != 0 {
            self.last_logged.store(0, Ordering::Relaxed);
            let more = self.unlogged.swap(0, Ordering::Relaxed);
            tracing::warn!(
                failing_since = %crate::rfc3339(since),
                failures_not_logged = more,
                "vault writes commit again"
            );
        }
    }

    /// Since when writes fail, and why the last one did; `None` while they commit.
    pub fn failing(&self) -> Option<(Millis, FailureReason)> {
        let since = self.failing_since.load(Ordering::Relaxed);
        (since != 0).then(|| {
            let i = usize::from(self.last_reason.load(Ordering::Relaxed));
            (since, FailureReason::ALL[i.min(3)])
        })
    }

    /// Records the outcome of the latest [`mismatch`] check; logs when it changes.
    pub fn checked(&self, found: Option<Mismatch>) {
        let before =
            Mismatch::from_code(self.mismatch.swap(Mismatch::code(found), Ordering::Relaxed));
        match (before, found) {
            (None, Some(m)) => tracing::error!(
                reason = m.as_str(),
                "the database is not the one this replica started on; writes are refused (503)"
            ),
            (Some(_), None) => tracing::warn!("the database matches again; writes resume"),
            _ => {}
        }
    }

    /// Why writes are refused without being tried, if they are.
    pub fn mismatched(&self) -> Option<Mismatch> {
        Mismatch::from_code(self.mismatch.load(Ordering::Relaxed))
    }

    /// Failed write transactions so far, by reason.
    pub fn failures(&self) -> [(FailureReason, u64); 4] {
        FailureReason::ALL.map(|r| (r, self.failures[r.index()].load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_key_ring_or_missing_migration_is_a_mismatch() {
        let ours = Ours {
            root_id: [7u8; 32],
            kek_versions: vec![2, 1],
        };
        let seen = |root_id: Option<[u8; 32]>, applied: &[i64]| VaultIdentity {
            root_id: root_id.map(|r| r.to_vec()),
            kek_version: Some(1),
            applied: applied.to_vec(),
        };
        let known = [1, 2, 3];
        assert_eq!(
            mismatch(&ours, &known, &seen(Some(ours.root_id), &[1, 2, 3])),
            None
        );
        // A newer replica migrated further: still ours.
        assert_eq!(
            mismatch(&ours, &known, &seen(Some(ours.root_id), &[1, 2, 3, 4])),
            None
        );
        assert_eq!(
            mismatch(&ours, &known, &seen(Some(ours.root_id), &[1, 2])),
            Some(Mismatch::MigrationsPending)
        );
        assert_eq!(
            mismatch(&ours, &known, &seen(Some([8; 32]), &[1, 2, 3])),
            Some(Mismatch::KeyRingChanged)
        );
        assert_eq!(
            mismatch(&ours, &known, &seen(None, &[1, 2, 3])),
            Some(Mismatch::KeyRingChanged)
        );
        // Rotated to a KEK this process does not hold.
        let rotated = VaultIdentity {
            kek_version: Some(3),
            ..seen(Some(ours.root_id), &[1, 2, 3])
        };
        assert_eq!(
            mismatch(&ours, &known, &rotated),
            Some(Mismatch::KekRotated)
        );
        let h = WriterHealth::default();
        h.checked(Some(Mismatch::MigrationsPending));
        assert_eq!(h.mismatched(), Some(Mismatch::MigrationsPending));
        h.checked(None);
        assert_eq!(h.mismatched(), None);
    }

    #[test]
    fn failing_until_a_commit_counted_by_reason() {
        let h = WriterHealth::default();
        assert_eq!(h.failing(), None);
        h.failed(
            &StoreError::Full(crate::Cause::says("database or disk is full")),
            1_000,
        );
        h.failed(
            &StoreError::Full(crate::Cause::says("database or disk is full")),
            2_000,
        );
        h.failed(&StoreError::Unavailable(crate::Cause::says("gone")), 3_000);
        assert_eq!(h.failing(), Some((1_000, FailureReason::Unavailable)));
        assert_eq!(h.failures()[0], (FailureReason::DiskFull, 2));
        assert_eq!(h.failures()[2], (FailureReason::Unavailable, 1));
        // Within the interval only the first failure is logged.
        assert_eq!(h.unlogged.load(Ordering::Relaxed), 2);
        h.committed();
        assert_eq!(h.failing(), None);
        assert_eq!(h.failures()[0].1, 2, "counts stay for the metric");
    }
}
