//! The vault: one trait, a backend per database, and group commit in front of both.
//!
//! SQLite (the embedded default) and PostgreSQL (for several replicas) run the same SQL through the
//! same code (`sql/*.rs`, compiled once per driver), so the conformance suite in `tests/it/storage.rs` checks one behaviour twice.
//! The rows it speaks are [`pdgate_core::records`]; migrations are the workspace's `migrations/`.
//! Every intake — subject, vault values, consent records, counters and its audit entry — commits in
//! one durable transaction before anything is forwarded. To keep durability (SQLite
//! `synchronous=FULL`, PostgreSQL's default `synchronous_commit=on`) without paying one fsync per
//! request, the [`Committer`] batches concurrent intakes into one transaction with a savepoint each:
//! a failing intake rolls back alone, and nobody is answered before the batch is on disk.

mod batch;
pub mod health;
mod json_rows;
pub mod keyring;
mod migrations;
pub mod oversight;
mod postgres;
pub mod rights;
mod sqlite;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

// The core's modules under their own names, so the SQL macros can say `$crate::audit::…`.
pub(crate) use pdgate_core::{audit, crypto, now_millis, policy, rfc3339, Millis};

use crate::audit::{AuditEvent, AuditRow, Chain};
pub use keyring::KeyRing;
pub use oversight::Oversight;
pub use postgres::PgStore;
pub use rights::{Change, Rights};
pub use sqlite::SqliteStore;

/// Why the store could not do something. Never carries personal data or SQL text to clients:
/// the HTTP layer answers 503 or 409 and keeps the cause for its log.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// The disk (or `sqlite_max_bytes`) is full: no write commits until space is freed.
    #[error("database full: {0}")]
    Full(#[source] Cause),
    /// The database refuses writes (a PostgreSQL standby, a read-only file).
    #[error("database read-only: {0}")]
    ReadOnly(#[source] Cause),
    #[error("database error: {0}")]
    Database(#[source] Cause),
    #[error("unsupported database URL (use sqlite://… or postgres://…)")]
    BadUrl,
    #[error("migration failed: {0}")]
    Migrate(#[source] Cause),
    /// A record changed since the caller read it (another admin or replica was faster); nothing
    /// of the change was written. The text is the answer's message.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Subjects of an erasure changed since it was planned (an intake added to them) or are gone:
    /// nothing of the change was written. The ids are random, not personal data; the message
    /// gives only their number.
    #[error("conflict: {} subject(s) changed since the erasure was planned", .0.len())]
    SubjectsMoved(Vec<SubjectId>),
}

/// How the store is opened, beyond its URL.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// SQLite only: the most the database file may grow to (0: as far as the disk allows). Past
    /// it, writes fail as on a full disk until space inside the file is freed.
    pub sqlite_max_bytes: u64,
    /// PostgreSQL only: the longest a statement may run before the server cancels it (0: no
    /// limit). [`Options::default`] has none; `serve` passes the configured one.
    pub pg_statement_timeout_ms: u64,
}

/// Whether a connection handed back to its pool may be used again: one still inside a
/// transaction (its `COMMIT` failed, e.g. on a full disk, and the rollback did not clear it) is
/// closed instead, and the pool opens a fresh one — or every later `BEGIN` fails with "non-zero
/// transaction depth" until a restart.
fn clean<C: sqlx::Connection>(conn: &mut C) -> bool {
    if conn.is_in_transaction() {
        // Also after an ordinary rollback still queued when the connection comes back: rare
        // (a failed write), and a new connection costs a file open.
        tracing::debug!("a database connection handed back inside a transaction is replaced");
        return false;
    }
    true
}

/// What failed underneath a [`StoreError`], kept whole for the log and shared: one failed batch
/// answers every intake in it with the same cause.
#[derive(Clone)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    pub fn of(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(e))
    }

    /// A cause the store itself states, where no lower error exists (a stopped writer).
    pub fn says(what: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        Self::of(Stated(what.into()))
    }

    /// The database aborted this transaction for another's sake (PostgreSQL: deadlock_detected,
    /// serialization_failure): run again, it commits or meets what the other wrote.
    fn lost_to_another(&self) -> bool {
        self.0
            .downcast_ref::<sqlx::Error>()
            .and_then(|e| e.as_database_error())
            .and_then(|db| db.code())
            .is_some_and(|c| c == "40P01" || c == "40001")
    }
}

impl StoreError {
    fn lost_to_another(&self) -> bool {
        matches!(self, StoreError::Database(c) if c.lost_to_another())
    }
}

impl std::fmt::Debug for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

/// Transparent: its own source is the wrapped error's.
impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Stated(std::borrow::Cow<'static, str>);

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        let kind: fn(Cause) -> Self = match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable,
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                database_kind(&code)
            }
            _ => StoreError::Database,
        };
        kind(Cause::of(e))
    }
}

/// Which kind of failure a database error code means.
fn database_kind(code: &str) -> fn(Cause) -> StoreError {
    // SQLITE_FULL (13) and PostgreSQL's disk_full; SQLITE_READONLY (8 and its extended codes)
    // and read_only_sql_transaction, as on a standby after failover.
    if code == "13" || code == "53100" {
        return StoreError::Full;
    }
    if matches!(
        code,
        "8" | "264" | "520" | "776" | "1032" | "1288" | "1544" | "25006"
    ) {
        return StoreError::ReadOnly;
    }
    // SQLITE_BUSY / LOCKED and PostgreSQL connection-class errors (and a cancelled statement or
    // a server shutting down) mean "not now".
    if matches!(code, "5" | "6" | "517" | "261")
        || code.starts_with("08")
        || code == "57014"
        || code.starts_with("57P")
    {
        StoreError::Unavailable
    } else {
        StoreError::Database
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A stored state (`what`, for the error) read back into its enum; a value the code does not
/// know means the database was written by something else.
pub(crate) fn stored<T>(s: String, parse: fn(&str) -> Option<T>, what: &str) -> Result<T> {
    parse(&s).ok_or_else(|| StoreError::Database(Cause::says(format!("unknown {what} `{s}`"))))
}

/// How a backend opens a transaction that will write.
///
/// SQLite's default `BEGIN` is deferred: a transaction that reads first and writes later must
/// upgrade its lock, and in WAL mode that upgrade fails at once with "database is locked" if any
/// other connection committed since the read (the busy timeout does not apply). Taking the write
/// lock at `BEGIN` makes such transactions wait their turn instead. PostgreSQL locks rows as it
/// writes them and needs nothing special.
pub(crate) trait WriteTx {
    const BEGIN: &'static str;
}

impl WriteTx for sqlx::Sqlite {
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
}

impl WriteTx for sqlx::Postgres {
    const BEGIN: &'static str = "BEGIN";
}

pub use pdgate_core::records::{
    Committed, ConsentRecord, ConsentState, ConsentStatus, IntakeOutcome, IntakeWrite, Mac,
    SubjectId, SubjectRow, SubjectState, SubjectWrite, Token, ValueRow, ValueWrite, VaultValue,
};

/// The storage contract both backends fulfil.
pub trait Backend: Send + Sync {
    fn migrate(&self) -> impl Future<Output = Result<()>> + Send;
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;
    /// A write of no consequence on the writer (one row rewritten), to learn whether writes
    /// commit: a `SELECT 1` succeeds on a full disk or a read-only standby.
    fn probe_write(&self, at: Millis) -> impl Future<Output = Result<()>> + Send;
    /// What this process checks its database against while it runs: the key ring's fingerprint
    /// and the migrations applied.
    fn vault_identity(&self) -> impl Future<Output = Result<health::VaultIdentity>> + Send;
    /// Stores the root secret's fingerprint beside the key ring if none is there yet.
    fn claim_root_id(&self, id: [u8; 32]) -> impl Future<Output = Result<()>> + Send;
    /// The migrations this binary carries, by version.
    fn known_migrations(&self) -> Vec<i64>;
    /// The wrapped root secret, storing `candidate` first if there is none (race-safe).
    fn root_secret(
        &self,
        candidate: (i64, Vec<u8>),
    ) -> impl Future<Output = Result<(i64, Vec<u8>)>> + Send;
    /// The subject a blind index names, with whether its processing is restricted.
    fn find_subject(&self, key: &Mac) -> impl Future<Output = Result<Option<SubjectState>>> + Send;
    /// Commits a batch in one transaction, a savepoint per intake, appending audit rows to `chain`.
    fn commit_batch<'a>(
        &'a self,
        batch: &'a [IntakeWrite],
        chain: &'a mut Chain,
    ) -> impl Future<Output = Result<Vec<IntakeOutcome>>> + Send + 'a;
    /// Folds every search-index entry and token intakes left pending into their indexes, in a
    /// transaction of its own (intake batches fold a step at a time); the number of rows folded,
    /// always 0 where intakes write the indexes directly.
    fn fold_index(&self) -> impl Future<Output = Result<u64>> + Send;
    fn value_by_token(&self, token: &str) -> impl Future<Output = Result<Vec<VaultValue>>> + Send;
    fn values_of(&self, subject_id: &[u8]) -> impl Future<Output = Result<Vec<VaultValue>>> + Send;
    fn subject(&self, subject_id: &[u8])
        -> impl Future<Output = Result<Option<SubjectRow>>> + Send;
    fn subjects_by_index(&self, mac: &Mac) -> impl Future<Output = Result<Vec<SubjectId>>> + Send;
    fn consents_of(
        &self,
        subject_id: &[u8],
    ) -> impl Future<Output = Result<Vec<ConsentRecord>>> + Send;
    fn audit_rows(&self, writer: &str) -> impl Future<Output = Result<Vec<AuditRow>>> + Send;
    /// The last entry `writer` has in the log.
    fn last_audit_row(&self, writer: &str)
        -> impl Future<Output = Result<Option<AuditRow>>> + Send;
    /// The latest checkpoint entry of up to `limit` chains other than `writer`'s, most recently
    /// signed first.
    fn signed_heads(
        &self,
        writer: &str,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<audit::SeenHead>>> + Send;
    fn counter(&self, route: &str, name: &str) -> impl Future<Output = Result<i64>> + Send;
    fn subject_states(
        &self,
        ids: &[&[u8]],
    ) -> impl Future<Output = Result<Vec<SubjectState>>> + Send;
    /// Every stored collection of the given tokens, oldest first, with its subject's state and the
    /// subject's newest consent record for `purpose`.
    fn values_with_subjects(
        &self,
        tokens: &[&str],
        purpose: &str,
    ) -> impl Future<Output = Result<Vec<ValueRow>>> + Send;
    /// The newest consent record per subject for `purpose` (subjects without one are absent).
    fn consent_states(
        &self,
        ids: &[&[u8]],
        purpose: &str,
    ) -> impl Future<Output = Result<Vec<ConsentState>>> + Send;
    /// Which of `tokens` belonged to erased subjects.
    fn erased_tokens(&self, tokens: &[&str]) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Which of `ids` are erased subjects.
    fn erased_subjects(&self, ids: &[&[u8]]) -> impl Future<Output = Result<Vec<Vec<u8>>>> + Send;
    /// Restricts (`Some(since)`) or lifts the restriction of a subject; `false` if there is none.
    fn set_restricted(
        &self,
        id: &[u8],
        since: Option<Millis>,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Crypto-shreds a subject: its wrapped key, index rows, tokens and ciphertexts go, tombstones
    /// stay. `false` if there was no such subject.
    fn erase_subject(&self, id: &[u8], at: Millis) -> impl Future<Output = Result<bool>> + Send;
    /// Records a consent text version; returns the hash stored for it (the first one registered).
    fn register_consent_text(
        &self,
        id: &str,
        version: i64,
        sha256: &str,
        body: &str,
        at: Millis,
    ) -> impl Future<Output = Result<String>> + Send;
    /// `(sha256, body)` of a registered consent text version.
    fn consent_text(
        &self,
        id: &str,
        version: i64,
    ) -> impl Future<Output = Result<Option<(String, String)>>> + Send;
    fn consents_by_receipt(
        &self,
        receipt_id: &str,
    ) -> impl Future<Output = Result<Vec<ConsentRecord>>> + Send;
    /// Audit rows with `since <= at < until`, ordered by writer and sequence, after `after`.
    fn audit_page(
        &self,
        since: Option<Millis>,
        until: Option<Millis>,
        after: Option<(&str, i64)>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<AuditRow>>> + Send;
}

/// The configured backend.
#[derive(Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// Opens `sqlite://…` or `postgres://…` (the database must be reachable; a SQLite file is created).
    pub async fn open(url: &str) -> Result<Store> {
        Self::open_with(url, &Options::default()).await
    }

    pub async fn open_with(url: &str, options: &Options) -> Result<Store> {
        if url.starts_with("sqlite:") {
            Ok(Store::Sqlite(
                SqliteStore::open(url, options.sqlite_max_bytes).await?,
            ))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(
                PgStore::open(url, options.pg_statement_timeout_ms).await?,
            ))
        } else {
            Err(StoreError::BadUrl)
        }
    }

    /// See the backends' `commit_each`.
    #[doc(hidden)]
    pub async fn commit_each(
        &self,
        batch: &[IntakeWrite],
        chain: &mut Chain,
    ) -> Result<Vec<IntakeOutcome>> {
        match self {
            Store::Sqlite(s) => s.commit_each(batch, chain).await,
            Store::Postgres(s) => s.commit_each(batch, chain).await,
        }
    }

    /// Leadership for a job only one replica may run at a time (the retention sweeper): a
    /// PostgreSQL session advisory lock, held while the returned guard lives (a crashed holder's
    /// session ends and frees it). SQLite serves one process, which always leads. `None`: another
    /// replica leads.
    pub async fn leader(&self, job: &str) -> Result<Option<Leader>> {
        match self {
            Store::Sqlite(_) => Ok(Some(Leader(None))),
            Store::Postgres(s) => s.try_advisory_lock(job).await,
        }
    }

    /// `pdgate backup` on SQLite: a consistent copy into the new file `path`, and the KEK
    /// versions its keys are wrapped under. PostgreSQL is backed up with its own tools (pg_dump,
    /// pg_basebackup), so this refuses there.
    pub async fn backup_into(&self, path: &str) -> Result<Vec<i64>> {
        match self {
            Store::Sqlite(s) => s.vacuum_into(path).await,
            Store::Postgres(_) => Err(StoreError::Database(Cause::says(
                "pdgate backup copies SQLite; back PostgreSQL up with pg_dump or pg_basebackup (README, Backups)",
            ))),
        }
    }

    /// Closes the store's connections and waits until they are closed (so no query may still be
    /// running on them). On SQLite the checkpointer stops first and the WAL is copied into the
    /// database file and truncated: the file alone is then the whole database.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(s) => s.close().await,
            Store::Postgres(s) => s.close().await,
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Whether a sweep leaves its erased subjects' tokens, keys and search-index entries to a
    /// purge in key order ([`rights::PurgeStep::Range`]). SQLite rewrites a B-tree page for every
    /// entry deleted, so deleting them subject by subject writes one random page each. PostgreSQL
    /// marks heap tuples dead, and those lie in insertion (subject) order while index entries
    /// wait for vacuum: subject by subject is the cheap order there, and walking in key order
    /// would touch the heap at random (measured: 1M-value sweep 40-55 s against 112 s).
    pub fn defers_purge(&self) -> bool {
        // Where erasures find entries through indexes by subject, they purge with the subject.
        match self {
            Store::Sqlite(_) => !sqlite::BY_SUBJECT_INDEXES,
            Store::Postgres(_) => !postgres::BY_SUBJECT_INDEXES,
        }
    }
}

/// Held leadership (see [`Store::leader`]); dropping it gives leadership up.
pub struct Leader(#[allow(dead_code)] Option<sqlx::PgConnection>);

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Sqlite($s) => $e.await,
            Store::Postgres($s) => $e.await,
        }
    };
}

impl Backend for Store {
    async fn migrate(&self) -> Result<()> {
        delegate!(self, s => s.migrate())
    }
    async fn ping(&self) -> Result<()> {
        delegate!(self, s => s.ping())
    }
    async fn probe_write(&self, at: Millis) -> Result<()> {
        delegate!(self, s => s.probe_write(at))
    }
    async fn fold_index(&self) -> Result<u64> {
        delegate!(self, s => s.fold_index())
    }
    async fn vault_identity(&self) -> Result<health::VaultIdentity> {
        delegate!(self, s => s.vault_identity())
    }
    async fn claim_root_id(&self, id: [u8; 32]) -> Result<()> {
        delegate!(self, s => s.claim_root_id(id))
    }
    fn known_migrations(&self) -> Vec<i64> {
        match self {
            Store::Sqlite(s) => s.known_migrations(),
            Store::Postgres(s) => s.known_migrations(),
        }
    }
    async fn root_secret(&self, candidate: (i64, Vec<u8>)) -> Result<(i64, Vec<u8>)> {
        delegate!(self, s => s.root_secret(candidate))
    }
    async fn find_subject(&self, key: &Mac) -> Result<Option<SubjectState>> {
        delegate!(self, s => s.find_subject(key))
    }
    async fn commit_batch<'a>(
        &'a self,
        batch: &'a [IntakeWrite],
        chain: &'a mut Chain,
    ) -> Result<Vec<IntakeOutcome>> {
        delegate!(self, s => s.commit_batch(batch, chain))
    }
    async fn value_by_token(&self, token: &str) -> Result<Vec<VaultValue>> {
        delegate!(self, s => s.value_by_token(token))
    }
    async fn values_of(&self, subject_id: &[u8]) -> Result<Vec<VaultValue>> {
        delegate!(self, s => s.values_of(subject_id))
    }
    async fn subject(&self, subject_id: &[u8]) -> Result<Option<SubjectRow>> {
        delegate!(self, s => s.subject(subject_id))
    }
    async fn subjects_by_index(&self, mac: &Mac) -> Result<Vec<SubjectId>> {
        delegate!(self, s => s.subjects_by_index(mac))
    }
    async fn consents_of(&self, subject_id: &[u8]) -> Result<Vec<ConsentRecord>> {
        delegate!(self, s => s.consents_of(subject_id))
    }
    async fn audit_rows(&self, writer: &str) -> Result<Vec<AuditRow>> {
        delegate!(self, s => s.audit_rows(writer))
    }
    async fn last_audit_row(&self, writer: &str) -> Result<Option<AuditRow>> {
        delegate!(self, s => s.last_audit_row(writer))
    }
    async fn signed_heads(&self, writer: &str, limit: i64) -> Result<Vec<audit::SeenHead>> {
        delegate!(self, s => s.signed_heads(writer, limit))
    }
    async fn counter(&self, route: &str, name: &str) -> Result<i64> {
        delegate!(self, s => s.counter(route, name))
    }
    async fn subject_states(&self, ids: &[&[u8]]) -> Result<Vec<SubjectState>> {
        delegate!(self, s => s.subject_states(ids))
    }
    async fn values_with_subjects(&self, tokens: &[&str], purpose: &str) -> Result<Vec<ValueRow>> {
        delegate!(self, s => s.values_with_subjects(tokens, purpose))
    }
    async fn consent_states(&self, ids: &[&[u8]], purpose: &str) -> Result<Vec<ConsentState>> {
        delegate!(self, s => s.consent_states(ids, purpose))
    }
    async fn erased_tokens(&self, tokens: &[&str]) -> Result<Vec<String>> {
        delegate!(self, s => s.erased_tokens(tokens))
    }
    async fn erased_subjects(&self, ids: &[&[u8]]) -> Result<Vec<Vec<u8>>> {
        delegate!(self, s => s.erased_subjects(ids))
    }
    async fn set_restricted(&self, id: &[u8], since: Option<Millis>) -> Result<bool> {
        delegate!(self, s => s.set_restricted(id, since))
    }
    async fn erase_subject(&self, id: &[u8], at: Millis) -> Result<bool> {
        delegate!(self, s => s.erase_subject(id, at))
    }
    async fn register_consent_text(
        &self,
        id: &str,
        version: i64,
        sha256: &str,
        body: &str,
        at: Millis,
    ) -> Result<String> {
        delegate!(self, s => s.register_consent_text(id, version, sha256, body, at))
    }
    async fn consent_text(&self, id: &str, version: i64) -> Result<Option<(String, String)>> {
        delegate!(self, s => s.consent_text(id, version))
    }
    async fn consents_by_receipt(&self, receipt_id: &str) -> Result<Vec<ConsentRecord>> {
        delegate!(self, s => s.consents_by_receipt(receipt_id))
    }
    async fn audit_page(
        &self,
        since: Option<Millis>,
        until: Option<Millis>,
        after: Option<(&str, i64)>,
        limit: i64,
    ) -> Result<Vec<AuditRow>> {
        delegate!(self, s => s.audit_page(since, until, after, limit))
    }
}

impl Rights for Store {
    async fn apply_change<'a>(&'a self, change: &'a Change, chain: &'a mut Chain) -> Result<i64> {
        delegate!(self, s => s.apply_change(change, chain))
    }
    async fn request(&self, id: &str) -> Result<Option<rights::RequestRow>> {
        delegate!(self, s => s.request(id))
    }
    async fn requests(
        &self,
        status: Option<&str>,
        overdue_at: Option<Millis>,
        limit: i64,
    ) -> Result<Vec<rights::RequestRow>> {
        delegate!(self, s => s.requests(status, overdue_at, limit))
    }
    async fn requests_by_lookup(
        &self,
        mac: &[u8],
        since: Millis,
    ) -> Result<Vec<rights::RequestRow>> {
        delegate!(self, s => s.requests_by_lookup(mac, since))
    }
    async fn outbox_of(&self, request_id: &str) -> Result<Vec<rights::OutboxRow>> {
        delegate!(self, s => s.outbox_of(request_id))
    }
    async fn outbox_claim_due(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: i64,
    ) -> Result<Vec<rights::OutboxRow>> {
        delegate!(self, s => s.outbox_claim_due(now, lease_until, limit))
    }
    async fn outbox_attempted(&self, attempts: &[rights::Attempt]) -> Result<()> {
        delegate!(self, s => s.outbox_attempted(attempts))
    }
    async fn acts_of(&self, request_id: &str) -> Result<Vec<String>> {
        delegate!(self, s => s.acts_of(request_id))
    }
    async fn acts_of_sweep(
        &self,
        sweep_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(String, String)>> {
        delegate!(self, s => s.acts_of_sweep(sweep_id, after, limit))
    }
    async fn subjects_page(&self, after: &[u8], limit: i64) -> Result<Vec<rights::SweepSubject>> {
        delegate!(self, s => s.subjects_page(after, limit))
    }
    async fn subject_revisions(&self, ids: &[&[u8]]) -> Result<Vec<(SubjectId, i64)>> {
        delegate!(self, s => s.subject_revisions(ids))
    }
    async fn values_of_subjects(&self, ids: &[&[u8]]) -> Result<Vec<VaultValue>> {
        delegate!(self, s => s.values_of_subjects(ids))
    }
    async fn withdrawn_since(&self, since: Millis, limit: i64) -> Result<Vec<SubjectId>> {
        delegate!(self, s => s.withdrawn_since(since, limit))
    }
    async fn key_states(&self, ids: &[&[u8]]) -> Result<Vec<rights::KeyState>> {
        delegate!(self, s => s.key_states(ids))
    }
    async fn consents_of_subjects(&self, ids: &[&[u8]]) -> Result<Vec<ConsentRecord>> {
        delegate!(self, s => s.consents_of_subjects(ids))
    }
    async fn link(&self, id: &str) -> Result<Option<rights::LinkRow>> {
        delegate!(self, s => s.link(id))
    }
    async fn sweeps(
        &self,
        id: Option<&str>,
        after: Option<&str>,
        limit: i64,
        finished_only: bool,
    ) -> Result<Vec<rights::SweepRow>> {
        delegate!(self, s => s.sweeps(id, after, limit, finished_only))
    }
    async fn purge_step<'a>(
        &'a self,
        step: &'a rights::PurgeStep,
        at: Millis,
    ) -> Result<rights::PurgeProgress> {
        delegate!(self, s => s.purge_step(step, at))
    }
    async fn purge_pending(&self) -> Result<u64> {
        delegate!(self, s => s.purge_pending())
    }
}

impl Oversight for Store {
    async fn figures(&self, purposes: &[&str], now: Millis) -> Result<oversight::Figures> {
        delegate!(self, s => s.figures(purposes, now))
    }
    async fn consent_trend(&self, since: Millis) -> Result<Vec<oversight::TrendRow>> {
        delegate!(self, s => s.consent_trend(since))
    }
    async fn gauges(&self, now: Millis) -> Result<oversight::Gauges> {
        delegate!(self, s => s.gauges(now))
    }
    async fn affected(
        &self,
        categories: Option<&[String]>,
        from: Option<Millis>,
        until: Millis,
    ) -> Result<oversight::Affected> {
        delegate!(self, s => s.affected(categories, from, until))
    }
    async fn breach(&self, id: &str) -> Result<Option<oversight::BreachRow>> {
        delegate!(self, s => s.breach(id))
    }
    async fn breaches(&self, limit: i64) -> Result<Vec<oversight::BreachRow>> {
        delegate!(self, s => s.breaches(limit))
    }
    async fn notifications(&self) -> Result<Vec<oversight::NotificationRow>> {
        delegate!(self, s => s.notifications())
    }
    async fn record_flow(
        &self,
        method: &str,
        path: &str,
        kinds: &[String],
        n: i64,
        at: Millis,
    ) -> Result<()> {
        delegate!(self, s => s.record_flow(method, path, kinds, n, at))
    }
    async fn flows(&self, limit: i64) -> Result<Vec<oversight::FlowRow>> {
        delegate!(self, s => s.flows(limit))
    }
}

impl KeyRing for Store {
    async fn ring(&self) -> Result<Option<keyring::RingRow>> {
        delegate!(self, s => s.ring())
    }
    async fn kek_versions(&self) -> Result<Vec<keyring::KekVersion>> {
        delegate!(self, s => s.kek_versions())
    }
    async fn add_kek(&self, version: Option<i64>, check: &[u8], at: Millis) -> Result<Option<i64>> {
        delegate!(self, s => s.add_kek(version, check, at))
    }
    async fn rotate_root(&self, from: i64, to: i64, wrapped: &[u8], at: Millis) -> Result<bool> {
        delegate!(self, s => s.rotate_root(from, to, wrapped, at))
    }
    async fn data_keys_page(&self, after: &[u8], limit: i64) -> Result<Vec<SubjectRow>> {
        delegate!(self, s => s.data_keys_page(after, limit))
    }
    async fn held_keys_not_under(&self, current: i64, limit: i64) -> Result<Vec<keyring::HeldRow>> {
        delegate!(self, s => s.held_keys_not_under(current, limit))
    }
    async fn rewrap(
        &self,
        data: &[keyring::Rewrap<SubjectRow>],
        held: &[keyring::Rewrap<keyring::HeldRow>],
    ) -> Result<u64> {
        delegate!(self, s => s.rewrap(data, held))
    }
    async fn key_counts(&self) -> Result<Vec<keyring::KeyCount>> {
        delegate!(self, s => s.key_counts())
    }
    async fn retire_keks(&self, current: i64, at: Millis) -> Result<bool> {
        delegate!(self, s => s.retire_keks(current, at))
    }
}

/// Largest number of intakes sharing one transaction.
const MAX_BATCH: usize = 256;

enum Job {
    Intake(Box<IntakeWrite>, oneshot::Sender<Result<IntakeOutcome>>),
    Change(Box<Change>, oneshot::Sender<Result<(i64, Duration)>>),
    Purge(
        rights::PurgeStep,
        Millis,
        oneshot::Sender<Result<(rights::PurgeProgress, Duration)>>,
    ),
    /// A write of no consequence, to learn whether writes commit again.
    Probe(oneshot::Sender<Result<()>>),
    /// Panics inside the writer's batch (tests of its recovery).
    #[cfg(test)]
    Panic(oneshot::Sender<Result<()>>),
}

/// Group commit: a single writer task that owns this process's audit chain and commits whatever
/// intakes are waiting as one transaction.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Job>,
    writer: Arc<str>,
    health: Arc<health::WriterHealth>,
}

impl Committer {
    /// Starts the writer task; it ends when every `Committer` clone is dropped.
    ///
    /// The handle finishes after the last clone is dropped and the final checkpoint is written.
    pub fn start(
        store: Store,
        chain: Chain,
        checkpoints: Option<Checkpoints>,
    ) -> (Committer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        let writer: Arc<str> = chain.writer().into();
        let health = Arc::new(health::WriterHealth::default());
        let w = Writer {
            store,
            chain,
            health: health.clone(),
            unsure: false,
        };
        let task = tokio::spawn(run(w, rx, checkpoints));
        (Committer { tx, writer, health }, task)
    }

    /// Whether write transactions commit (see [`health::WriterHealth`]).
    pub fn health(&self) -> &health::WriterHealth {
        &self.health
    }

    /// Writes a probe row through the writer: `Ok` once writes commit again.
    pub async fn probe(&self) -> Result<()> {
        self.send(Job::Probe).await
    }

    /// Makes the writer panic inside a batch.
    #[cfg(test)]
    pub(crate) async fn panic_in_batch(&self) -> Result<()> {
        self.send(Job::Panic).await
    }

    pub fn writer(&self) -> &str {
        &self.writer
    }

    /// Reads back whether the database is still the one this process started on (key ring
    /// `ours`, every migration applied) and records it: on a mismatch the writer refuses every
    /// job until a check finds none.
    pub async fn check_vault(
        &self,
        store: &Store,
        ours: &health::Ours,
    ) -> Result<Option<health::Mismatch>> {
        let seen = store.vault_identity().await?;
        let found = health::mismatch(ours, &store.known_migrations(), &seen);
        self.health.checked(found);
        Ok(found)
    }

    /// [`check_vault`](Self::check_vault) every `every` until `stop`. A database that does not
    /// answer is left to the writer's health and readiness, which already report it.
    pub async fn guard(
        self,
        store: Store,
        ours: health::Ours,
        every: Duration,
        stop: impl Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => {}
            }
            let _ = self.check_vault(&store, &ours).await;
        }
    }

    /// Commits one intake durably; returns once it is on disk (or failed).
    pub async fn commit(&self, write: IntakeWrite) -> Result<IntakeOutcome> {
        self.send(|reply| Job::Intake(Box::new(write), reply)).await
    }

    /// Commits a request fulfilment or sweep batch with its audit entries, in one transaction;
    /// returns the number of destruction acts it expired.
    pub async fn apply(&self, change: Change) -> Result<i64> {
        Ok(self.apply_timed(change).await?.0)
    }

    /// [`apply`](Self::apply), also returning how long the change held the writer (its wait
    /// in the queue not included): what an intake arriving meanwhile waited for.
    pub async fn apply_timed(&self, change: Change) -> Result<(i64, Duration)> {
        self.send(|reply| Job::Change(Box::new(change), reply))
            .await
    }

    /// Commits one purge step of erased subjects' leftover entries; also returns how long it
    /// held the writer.
    pub async fn purge(
        &self,
        step: rights::PurgeStep,
        at: Millis,
    ) -> Result<(rights::PurgeProgress, Duration)> {
        self.send(|reply| Job::Purge(step, at, reply)).await
    }

    /// Queues a job for the writer and waits for its answer.
    async fn send<T>(&self, job: impl FnOnce(oneshot::Sender<Result<T>>) -> Job) -> Result<T> {
        let stopped = || StoreError::Unavailable(Cause::says("writer stopped"));
        let (reply, rx) = oneshot::channel();
        self.tx.send(job(reply)).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Appends a bare audit event (no intake) durably.
    pub async fn audit(&self, at: Millis, event: AuditEvent) -> Result<()> {
        let write = IntakeWrite {
            at,
            audit: vec![event],
            ..IntakeWrite::default()
        };
        self.commit(write).await.map(|_| ())
    }
}

/// Where the circular fold of the pending index rows is: the last key folded of each pending
/// table (`None`: from the smallest).
#[derive(Debug, Default, Clone)]
pub struct FoldCursor {
    pub mac: Option<Vec<u8>>,
    pub token: Option<String>,
}

/// When the writer signs its chain: every `entries` entries and at least every `interval` while
/// entries keep coming, and once more when it stops.
pub struct Checkpoints {
    pub keys: Arc<crate::crypto::Keys>,
    pub entries: i64,
    pub interval: std::time::Duration,
    /// Hears each checkpoint once committed, to publish it outside the database.
    pub publish: Option<mpsc::UnboundedSender<audit::SignedHead>>,
}

/// The writer task's state: the store, the audit chain it extends, and how its writes go.
struct Writer {
    store: Store,
    chain: Chain,
    health: Arc<health::WriterHealth>,
    /// A write failed: its `COMMIT` may still have reached the database (the connection broke
    /// after the server made it durable, before the answer came back). Before the next write the
    /// chain is read back from the log, or every later entry would collide with the one that
    /// landed and no write would ever commit again.
    unsure: bool,
}

impl Writer {
    /// After a failed write, takes the chain's head from the log when the log is ahead of it.
    async fn resync(&mut self) {
        if !self.unsure {
            return;
        }
        // Still unreachable: the next write fails too, and this is tried again before it.
        if let Ok(last) = self.store.last_audit_row(self.chain.writer()).await {
            if let Some(row) = last.filter(|r| r.seq > self.chain.seq()) {
                tracing::warn!(
                    from = self.chain.seq(),
                    to = row.seq,
                    "a write reported as failed had committed; the audit chain goes on from the log"
                );
                self.chain = Chain::resume(&row);
            }
            self.unsure = false;
        }
    }

    /// Notes the outcome of a write transaction for readiness, the metric and the log.
    fn outcome<T>(&self, r: &Result<T>) {
        match r {
            Ok(_) => self.health.committed(),
            // A conflict is an answer (the data moved on; the caller retries), not a failed write.
            Err(StoreError::Conflict(_) | StoreError::SubjectsMoved(_)) => {}
            Err(e) => self.health.failed(e, crate::now_millis()),
        }
    }

    /// [`Writer::outcome`], and after a failure the chain is checked before the next write.
    fn settle<T>(&mut self, r: &Result<T>) {
        self.outcome(r);
        if matches!(r, Err(e) if !matches!(e, StoreError::Conflict(_) | StoreError::SubjectsMoved(_)))
        {
            self.unsure = true;
        }
    }
}

async fn run(mut w: Writer, mut rx: mpsc::Receiver<Job>, checkpoints: Option<Checkpoints>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    let period = checkpoints
        .as_ref()
        .map_or(std::time::Duration::from_secs(3600), |c| c.interval);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut signed_seq = 0i64;
    loop {
        let timed = tokio::select! {
            n = rx.recv_many(&mut jobs, MAX_BATCH) => {
                if n == 0 {
                    break;
                }
                false
            }
            _ = tick.tick() => true,
        };
        if let Some(m) = w.health.mismatched() {
            jobs.drain(..).for_each(|job| refuse(job, m));
            continue;
        }
        // A panic inside a batch drops its transaction (rolled back; the pool replaces a
        // connection left inside one) and its callers' replies (they get 503); the writer and
        // its chain go on from before the batch instead of stopping every later write.
        w.resync().await;
        let snapshot = w.chain.clone();
        let batch = std::panic::AssertUnwindSafe(process(&mut w, &mut jobs));
        if futures_util::FutureExt::catch_unwind(batch).await.is_err() {
            jobs.clear();
            w.chain = snapshot;
            w.unsure = true;
            let e = StoreError::Database(Cause::says("a write batch panicked"));
            w.health.failed(&e, crate::now_millis());
            tracing::error!(
                "a write batch panicked; its requests were refused and the writer goes on"
            );
        }
        if let Some(c) = &checkpoints {
            let due =
                w.chain.seq() - signed_seq >= c.entries || (timed && w.chain.seq() > signed_seq);
            if due {
                signed_seq = checkpoint(&mut w, c).await.unwrap_or(signed_seq);
            }
        }
    }
    if let Some(c) = &checkpoints {
        if w.chain.seq() > signed_seq {
            let _ = checkpoint(&mut w, c).await;
        }
    }
}

/// Runs one receive's jobs in arrival order: runs of intakes share a transaction, each other job
/// has its own.
async fn process(w: &mut Writer, jobs: &mut Vec<Job>) {
    let mut intakes = Vec::new();
    for job in jobs.drain(..) {
        if let Job::Intake(write, reply) = job {
            intakes.push((write, reply));
            continue;
        }
        commit(w, &mut intakes).await;
        run_one(w, job).await;
    }
    commit(w, &mut intakes).await;
}

/// Answers a job without trying it: the database is not the one this process started on.
fn refuse(job: Job, m: health::Mismatch) {
    let e = || StoreError::Unavailable(Cause::says(format!("writes refused: {}", m.as_str())));
    match job {
        Job::Intake(_, reply) => drop(reply.send(Err(e()))),
        Job::Change(_, reply) => drop(reply.send(Err(e()))),
        Job::Purge(_, _, reply) => drop(reply.send(Err(e()))),
        Job::Probe(reply) => drop(reply.send(Err(e()))),
        #[cfg(test)]
        Job::Panic(reply) => drop(reply.send(Err(e()))),
    }
}

/// A job with a transaction of its own (not an intake).
async fn run_one(w: &mut Writer, job: Job) {
    let started = Instant::now();
    match job {
        Job::Change(c, reply) => {
            let done = w.store.apply_change(&c, &mut w.chain).await;
            w.settle(&done);
            let _ = reply.send(done.map(|n| (n, started.elapsed())));
        }
        Job::Purge(step, at, reply) => {
            let done = w.store.purge_step(&step, at).await;
            w.settle(&done);
            let _ = reply.send(done.map(|p| (p, started.elapsed())));
        }
        Job::Probe(reply) => {
            let done = w.store.probe_write(crate::now_millis()).await;
            w.settle(&done);
            let _ = reply.send(done);
        }
        #[cfg(test)]
        Job::Panic(_reply) => panic!("a test's panic inside a write batch"),
        Job::Intake(..) => unreachable!("intakes are batched by the caller"),
    }
}

/// Appends a signed checkpoint; returns the sequence number it covers (its own, since a checkpoint
/// entry is itself part of what the next one covers).
async fn checkpoint(w: &mut Writer, c: &Checkpoints) -> Option<i64> {
    let snapshot = w.chain.clone();
    let event = w.chain.checkpoint(&c.keys.audit);
    let write = IntakeWrite {
        at: crate::now_millis(),
        audit: vec![event.clone()],
        ..IntakeWrite::default()
    };
    let done = w
        .store
        .commit_batch(std::slice::from_ref(&write), &mut w.chain)
        .await;
    w.settle(&done);
    match done {
        Ok(_) => {
            if let Some(out) = &c.publish {
                let head = audit::SignedHead::of(w.chain.writer(), write.at, &event);
                let _ = out.send(head.expect("a checkpoint event"));
            }
            Some(w.chain.seq())
        }
        Err(e) => {
            w.chain = snapshot;
            tracing::debug!(error = %e, "audit checkpoint not written; retrying later");
            None
        }
    }
}

type IntakeJob = (Box<IntakeWrite>, oneshot::Sender<Result<IntakeOutcome>>);

/// How often a batch the database aborted for another transaction's sake runs again.
const CONTENDED_RETRIES: usize = 3;

async fn commit(w: &mut Writer, jobs: &mut Vec<IntakeJob>) {
    if jobs.is_empty() {
        return;
    }
    let (writes, replies): (Vec<IntakeWrite>, Vec<_>) =
        jobs.drain(..).map(|(w, r)| (*w, r)).unzip();
    let snapshot = w.chain.clone();
    let started = std::time::Instant::now();
    let mut done = w.store.commit_batch(&writes, &mut w.chain).await;
    // Two replicas committing the same new people can deadlock on their unique keys; PostgreSQL
    // aborts one. Its batch runs again after a short random pause (so the two do not meet in
    // step again) and then finds what the other committed.
    for _ in 0..CONTENDED_RETRIES {
        if !done.as_ref().is_err_and(StoreError::lost_to_another) {
            break;
        }
        w.chain = snapshot.clone();
        let jitter = u64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos(),
        ) % 20;
        tokio::time::sleep(Duration::from_millis(1 + jitter)).await;
        done = w.store.commit_batch(&writes, &mut w.chain).await;
    }
    w.settle(&done);
    match done {
        Ok(outcomes) => {
            tracing::debug!(
                batch = writes.len(),
                micros = started.elapsed().as_micros() as u64,
                "batch committed"
            );
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(e) => {
            // Logged by the health record, once per interval: not per batch.
            w.chain = snapshot;
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A migrated SQLite store in a temporary directory (kept while the result lives) and a
    /// committer writing as `w`.
    async fn writer_w() -> (tempfile::TempDir, Store, Committer) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("pdgate.db").display());
        let store = Store::open(&url).await.unwrap();
        store.migrate().await.unwrap();
        let (committer, _task) = Committer::start(store.clone(), Chain::new("w"), None);
        (dir, store, committer)
    }

    fn event() -> crate::audit::AuditEvent {
        crate::audit::AuditEvent::ChainStarted {
            version: "test".into(),
            policy_sha256: "0".repeat(64),
            seen: Vec::new(),
        }
    }

    /// A panic inside a write batch refuses that batch's callers and leaves the writer running:
    /// the next write commits and extends the audit chain from where it stood.
    #[tokio::test]
    async fn the_writer_survives_a_panic_in_a_batch() {
        let (_dir, _store, committer) = writer_w().await;
        committer.audit(1_000, event()).await.unwrap();
        let refused = committer.panic_in_batch().await;
        assert!(
            matches!(refused, Err(StoreError::Unavailable(_))),
            "{refused:?}"
        );
        assert!(committer.health().failing().is_some());
        committer.audit(2_000, event()).await.unwrap();
        assert_eq!(committer.health().failing(), None);
        committer.probe().await.unwrap();
    }

    /// A write reported as failed may have committed (the connection broke after the database
    /// made it durable): the writer reads the chain back before its next write instead of
    /// reusing the sequence number, which would fail every write from then on.
    #[tokio::test]
    async fn a_write_that_committed_unseen_does_not_stop_the_writer() {
        let (_dir, store, committer) = writer_w().await;
        committer.audit(1_000, event()).await.unwrap();
        // The unseen commit: entry 2 of writer `w`, written past the committer.
        let last = store.last_audit_row("w").await.unwrap().unwrap();
        let mut ghost = Chain::resume(&last);
        let write = IntakeWrite {
            at: 1_500,
            audit: vec![event()],
            ..IntakeWrite::default()
        };
        store.commit_batch(&[write], &mut ghost).await.unwrap();
        // Then a failure, as the broken connection gave; the next write goes on from entry 2.
        let _ = committer.panic_in_batch().await;
        committer.audit(2_000, event()).await.unwrap();
        let rows = store.audit_rows("w").await.unwrap();
        assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(
            rows[2].prev_hash, rows[1].hash,
            "the chain links through the unseen entry"
        );
    }
}
