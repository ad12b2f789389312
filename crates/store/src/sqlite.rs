//! SQLite backend: the embedded default (`sqlite://pdgate.db`).
//!
//! WAL mode so readers never wait for the writer, and `synchronous=FULL` so a commit is on disk —
//! surviving power loss, not only a killed process — before pdgate forwards anything. The cost of
//! that fsync is shared by every intake in a group-commit batch.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::{Cause, Result, StoreError};

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// One connection for every write transaction. SQLite runs one writer at a time anyway,
    /// and a connection drops its whole page cache whenever it finds that another one has
    /// committed since its last transaction: with writes spread over the pool, every commit
    /// began by reading the B-trees' upper pages again. Writers queue here instead of in
    /// SQLite's busy handler, which sleeps in steps of milliseconds.
    writer: SqlitePool,
    /// The checkpointer runs while any clone of the store is alive.
    _alive: Arc<()>,
    /// Where intake batches are in folding the pending index rows (`DEFERRED_INDEX`).
    fold: Arc<std::sync::Mutex<crate::FoldCursor>>,
    /// Set by an erasure: the checkpointer's next pass copies the whole WAL back and truncates
    /// the file, so the frames holding the erased rows' old pages leave it.
    truncate_wal: Arc<AtomicBool>,
}

/// How often the WAL is copied back into the database file, off the writer's path. Often, so each
/// copy (and the database fsync ending it) is short: an intake's commit that lands during one
/// waits for the disk behind it, and during a sweep that wait is the intake's tail latency.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);
/// The longest an erasure waits for the WAL to be truncated when passive passes never catch up,
/// and the least time between two truncations.
const TRUNCATE_WITHIN: Duration = Duration::from_secs(30);
const TRUNCATE_EVERY: Duration = Duration::from_secs(5);

impl SqliteStore {
    pub async fn open(url: &str, max_bytes: u64) -> Result<Self> {
        let mut opts = SqliteConnectOptions::from_str(url)
            .map_err(|_| StoreError::BadUrl)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // The checkpointer below keeps the WAL short; the commit that crosses this many
            // pages (~200 MiB) checkpoints by itself only if the checkpointer falls behind.
            .pragma("wal_autocheckpoint", "50000");
        if max_bytes > 0 {
            // In pages of the default 4 KiB: SQLite then answers SQLITE_FULL past it.
            opts = opts.pragma("max_page_count", (max_bytes / 4096).max(1).to_string());
        }
        // Readers keep a small page cache each (512 KiB, not SQLite's 2 MiB): eight of them at
        // the default grew pdgate by 16 MiB once detokenize calls had read the vault, and a page
        // they miss is a copy from the operating system's cache, not a disk read.
        let readers = opts.clone().pragma("cache_size", "-512");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .after_release(|conn, _| Box::pin(async move { Ok(super::clean(conn)) }))
            .connect_with(readers)
            .await
            .map_err(|e| StoreError::Unavailable(Cause::of(e)))?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .after_release(|conn, _| Box::pin(async move { Ok(super::clean(conn)) }))
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Unavailable(Cause::of(e)))?;
        let alive = Arc::new(());
        let truncate_wal = Arc::new(AtomicBool::new(false));
        tokio::spawn(checkpointer(
            pool.clone(),
            Arc::downgrade(&alive),
            truncate_wal.clone(),
        ));
        Ok(Self {
            pool,
            writer,
            _alive: alive,
            fold: Arc::default(),
            truncate_wal,
        })
    }

    /// The readers (and with them the checkpointer) first, then everything in the WAL is copied
    /// into the database file and the WAL truncated: after a clean stop the file is whole on its
    /// own, so a copy of it is a backup. Best effort: a WAL left behind is replayed on next open.
    pub async fn close(&self) {
        self.pool.close().await;
        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.writer)
            .await
        {
            Ok((0, _, _)) => {}
            Ok(_) => tracing::warn!("WAL not fully checkpointed at close (busy)"),
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint at close failed"),
        }
        self.writer.close().await;
    }

    /// A consistent copy of the whole database in one new file (`VACUUM INTO`), taken beside
    /// live traffic: a read transaction, so writers go on; free pages are not copied.
    /// Returns the KEK versions the copy's keys are wrapped under, read back from the copy.
    pub(crate) async fn vacuum_into(&self, path: &str) -> Result<Vec<i64>> {
        use sqlx::Connection;
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(&self.pool)
            .await?;
        let opts = SqliteConnectOptions::new().filename(path).read_only(true);
        let mut copy = sqlx::SqliteConnection::connect_with(&opts).await?;
        let versions = sqlx::query_scalar(
            "SELECT kek_version FROM keyring \
             UNION SELECT kek_version FROM subjects WHERE length(wrapped_dek) > 0 \
             UNION SELECT kek_version FROM held_keys ORDER BY 1",
        )
        .fetch_all(&mut copy)
        .await?;
        copy.close().await?;
        Ok(versions)
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// After an erasure committed: the WAL is truncated at the checkpointer's next pass.
    fn erased(&self) {
        self.truncate_wal.store(true, Ordering::Relaxed);
    }

    /// The fold cursor the intake batches share: intakes leave index rows pending here.
    fn fold_cursor(&self) -> Option<&std::sync::Mutex<crate::FoldCursor>> {
        Some(&self.fold)
    }

    /// Migrations run on the readers' pool (SQLite has no statement timeout to lift).
    async fn migration_pool(&self) -> Result<SqlitePool> {
        Ok(self.pool.clone())
    }

    fn migrator(&self) -> sqlx::migrate::Migrator {
        crate::migrations::migrator(crate::migrations::SQLITE)
    }
}

/// Room a probe write wants under `sqlite_max_bytes` before it calls writes possible again: about
/// what a batch of intakes allocates (a one-row write would fit long after intakes no longer do).
const PROBE_HEADROOM_PAGES: i64 = 64;

/// Whether the file may still grow by [`PROBE_HEADROOM_PAGES`] (free pages inside it count).
async fn probe_headroom(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>) -> Result<()> {
    let (count, max, free): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT page_count FROM pragma_page_count), (SELECT max_page_count FROM pragma_max_page_count), \
         (SELECT freelist_count FROM pragma_freelist_count)",
    )
    .fetch_one(&mut **tx)
    .await?;
    if max - count + free < PROBE_HEADROOM_PAGES {
        return Err(StoreError::Full(Cause::says(format!(
            "{} pages left under sqlite_max_bytes",
            max - count + free
        ))));
    }
    Ok(())
}

/// A subject's tokens as one space-separated string, for its purge list.
const TOKEN_LIST: &str = "group_concat(token, ' ')";

/// Whether `subject_keys`, `subject_index` and `tokens` keep an index by subject (see the
/// `deferred_purge` migrations): an erasure then deletes their entries by subject, and no
/// `subject_macs` list is written beside the search index.
pub(super) const BY_SUBJECT_INDEXES: bool = false;

/// Whether the search index's new entries wait in `index_pending` to be folded in bulk (see its
/// migration), rather than going into `subject_index` inside the intake's commit. Only where one
/// process writes: with several replicas an erasure could miss an entry another replica's intake
/// appends after the fold, so PostgreSQL writes the index directly.
pub(super) const DEFERRED_INDEX: bool = true;

/// Turning SQLite's `secure_delete` off and on: while on, what a delete frees (a wrapped data
/// key, a ciphertext, on its page or on a page freed) is overwritten with zeros, so an erased
/// subject's key does not stay in the file's free space for a copy of the file to carry. Erasing
/// transactions turn it on for themselves (`zero_deletes`); on for every write it cost intake
/// about 8 % (its deletes are only of pending index rows).
pub(super) const SECURE_DELETE: Option<[&str; 2]> =
    Some(["PRAGMA secure_delete = OFF", "PRAGMA secure_delete = ON"]);

/// Claiming rows for this writer alone: SQLite has one writer at a time anyway.
pub(super) const SKIP_LOCKED: &str = "";

/// What `sql/*.rs`, compiled below for this backend, call the driver and the store.
type Db = sqlx::Sqlite;
type Store = SqliteStore;

/// Opens and closes a query that returns the vault rows of its inner `SELECT` as one JSON array.
const ROWS_AS_JSON: (&str, &str) = (
    "SELECT json_group_array(json_array(id, hex(subject_id), token, kind, action, category, field, purposes, route, \
     hex(ciphertext), collected_at, hex(wrapped_dek), kek_version, restricted_at, last_activity_at, cstate, cat, sealing)) FROM (",
    ") AS q"
);

// The same files are compiled for the other backend too: that is the point of them.
#[expect(
    clippy::duplicate_mod,
    reason = "one source compiled once per sqlx driver"
)]
#[path = "sql/mod.rs"]
mod sql;

/// Copies committed WAL frames back into the database file from a connection of its own.
///
/// Left to SQLite, the commit that fills the WAL to `wal_autocheckpoint` pages does the copy (and
/// its fsyncs) before it returns, and every intake in that group-commit batch waits for it: the
/// tail of the intake latency. A passive checkpoint runs beside the writer without blocking it,
/// and the WAL starts over from its beginning once everything in it has been copied.
///
/// After an erasure a `TRUNCATE` pass follows, which cuts the WAL file to nothing so the frames
/// holding the erased rows' earlier pages leave it. It waits for the writer and the readers and
/// holds new writes back meanwhile, so it runs once a passive pass has copied everything (then it
/// has nothing left to copy), or when it has been owed for [`TRUNCATE_WITHIN`]: on a large WAL
/// under load, right after the erasure, it held intakes back for up to 1.3 s.
async fn checkpointer(pool: SqlitePool, alive: Weak<()>, truncate: Arc<AtomicBool>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut owed: Option<tokio::time::Instant> = None;
    let mut last_cut: Option<tokio::time::Instant> = None;
    loop {
        tick.tick().await;
        if alive.strong_count() == 0 || pool.is_closed() {
            break;
        }
        if truncate.swap(false, Ordering::Relaxed) {
            owed.get_or_insert_with(tokio::time::Instant::now);
        }
        let passive = checkpoint(&pool, "PRAGMA wal_checkpoint(PASSIVE)").await;
        let Some(since) = owed else {
            continue;
        };
        let copied = matches!(passive, Some((0, log, done)) if log == done);
        // A sweep owes one after every slice: at most one every few seconds.
        let rested = last_cut.is_none_or(|t| t.elapsed() >= TRUNCATE_EVERY);
        if rested && (copied || since.elapsed() >= TRUNCATE_WITHIN) {
            last_cut = Some(tokio::time::Instant::now());
            let cut = checkpoint(&pool, "PRAGMA wal_checkpoint(TRUNCATE)").await;
            if matches!(cut, Some((0, _, _))) {
                owed = None;
            }
        }
    }
}

/// One checkpoint pass: (busy, frames in the log, frames copied), or `None` if it failed.
async fn checkpoint(pool: &SqlitePool, sql: &str) -> Option<(i64, i64, i64)> {
    match sqlx::query_as::<_, (i64, i64, i64)>(sql)
        .fetch_one(pool)
        .await
    {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::debug!(error = %e, "WAL checkpoint failed; retrying");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After a full disk or an I/O error SQLite may end the transaction by itself: the `COMMIT`
    /// then fails, so does sqlx's `ROLLBACK`, and sqlx still counts the connection as inside a
    /// transaction. Without the pool's check every later `BEGIN` on the writer failed ("non-zero
    /// transaction depth") until a restart. SQLite's own rollback is played here by a raw one.
    #[tokio::test]
    async fn the_writer_survives_a_failed_commit() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let store = SqliteStore::open(&url, 0).await.unwrap();
        sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .execute(store.writer())
            .await
            .unwrap();
        for _ in 0..2 {
            let mut tx = store.writer().begin_with("BEGIN IMMEDIATE").await.unwrap();
            sqlx::query("INSERT INTO t (id) VALUES (1)")
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::raw_sql("ROLLBACK").execute(&mut *tx).await.unwrap();
            assert!(tx.commit().await.is_err(), "no transaction to commit");
        }
        let mut tx = store.writer().begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("INSERT INTO t (id) VALUES (2)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
}
