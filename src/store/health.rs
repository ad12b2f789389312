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

/// One line per this many milliseconds while writes keep failing.
const LOG_EVERY_MS: Millis = 10_000;

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

    /// Failed write transactions so far, by reason.
    pub fn failures(&self) -> [(FailureReason, u64); 4] {
        FailureReason::ALL.map(|r| (r, self.failures[r.index()].load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_until_a_commit_counted_by_reason() {
        let h = WriterHealth::default();
        assert_eq!(h.failing(), None);
        h.failed(&StoreError::Full("database or disk is full".into()), 1_000);
        h.failed(&StoreError::Full("database or disk is full".into()), 2_000);
        h.failed(&StoreError::Unavailable("gone".into()), 3_000);
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
