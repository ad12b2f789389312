//! PostgreSQL backend: the store for more than one replica. Every replica writes its own audit
//! chain; leader-only jobs (later: the retention sweeper) take an advisory lock.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};

use super::{Cause, Result, StoreError};

/// PostgreSQL has no size cap of pdgate's: the probe's own write is the test.
async fn probe_headroom(_tx: &mut sqlx::Transaction<'_, sqlx::Postgres>) -> Result<()> {
    Ok(())
}

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The same server without a statement timeout, for migrations (one may rebuild a table).
    untimed: Box<PgConnectOptions>,
}

impl PgStore {
    pub async fn open(url: &str, statement_timeout_ms: u64) -> Result<Self> {
        let mut opts: PgConnectOptions = url.parse().map_err(|_| StoreError::BadUrl)?;
        let untimed = Box::new(opts.clone());
        if statement_timeout_ms > 0 {
            // A statement that hangs (a lock held elsewhere, a stuck server) ends with an error
            // the caller maps to 503, instead of holding the writer and every intake behind it.
            opts = opts.options([("statement_timeout", statement_timeout_ms.to_string())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .after_release(|conn, _| Box::pin(async move { Ok(super::clean(conn)) }))
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Unavailable(Cause::of(e)))?;
        Ok(Self { pool, untimed })
    }

    /// A one-connection pool without the statement timeout, closed when the migrations are done.
    async fn migration_pool(&self) -> Result<PgPool> {
        PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with((*self.untimed).clone())
            .await
            .map_err(|e| StoreError::Unavailable(Cause::of(e)))
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Write transactions share the pool: PostgreSQL runs them side by side.
    fn writer(&self) -> &PgPool {
        &self.pool
    }

    /// After an erasure committed: nothing to do here. What PostgreSQL keeps of deleted rows
    /// (dead tuples until vacuum, WAL until recycled) is described in the deployment docs.
    #[allow(clippy::unused_self)]
    fn erased(&self) {}

    /// None: intakes write the indexes directly here (`DEFERRED_INDEX`).
    #[allow(clippy::unused_self)]
    fn fold_cursor(&self) -> Option<&std::sync::Mutex<crate::FoldCursor>> {
        None
    }

    fn migrator(&self) -> sqlx::migrate::Migrator {
        crate::migrations::migrator(crate::migrations::POSTGRES)
    }

    /// `pg_try_advisory_lock` on a connection taken out of the pool, so the lock lives exactly as
    /// long as the returned guard (dropping the connection ends the session and frees it).
    pub(super) async fn try_advisory_lock(&self, job: &str) -> Result<Option<super::Leader>> {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(format!("pdgate:{job}"));
        let key = i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        let mut conn = self.pool.acquire().await?.detach();
        let row = sqlx::query("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut conn)
            .await?;
        let got: bool = row.try_get(0)?;
        Ok(got.then(|| super::Leader(Some(conn))))
    }
}

/// A subject's tokens as one space-separated string, for its purge list.
const TOKEN_LIST: &str = "string_agg(token, ' ')";

/// Whether `subject_keys`, `subject_index` and `tokens` keep an index by subject (see the
/// `deferred_purge` migrations): an erasure then deletes their entries by subject, and no
/// `subject_macs` list is written beside the search index.
pub(super) const BY_SUBJECT_INDEXES: bool = true;

/// No such switch: a deleted row stays in its page as a dead tuple until vacuum (see the
/// deployment docs on what PostgreSQL keeps).
pub(super) const SECURE_DELETE: Option<[&str; 2]> = None;

/// The search index is written inside the intake's commit (see the SQLite store's).
pub(super) const DEFERRED_INDEX: bool = false;

/// Claiming rows: replicas polling the same outbox skip the rows another one is claiming instead
/// of both claiming them.
pub(super) const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";

/// What `sql/*.rs`, compiled below for this backend, call the driver and the store.
type Db = sqlx::Postgres;
type Store = PgStore;

/// Opens and closes a query that returns the vault rows of its inner `SELECT` as one JSON array.
const ROWS_AS_JSON: (&str, &str) = (
    "SELECT json_agg(json_build_array(id, encode(subject_id, 'hex'), token, kind, action, category, field, purposes, route, \
     encode(ciphertext, 'hex'), collected_at, encode(wrapped_dek, 'hex'), kek_version, restricted_at, last_activity_at, \
     cstate, cat, sealing) ORDER BY id)::text FROM (",
    ") AS q"
);

// The same files are compiled for the other backend too: that is the point of them.
#[expect(
    clippy::duplicate_mod,
    reason = "one source compiled once per sqlx driver"
)]
#[path = "sql/mod.rs"]
mod sql;
