//! SQLite backend: the embedded default (`sqlite://pdgate.db`).
//!
//! WAL mode so readers never wait for the writer, and `synchronous=FULL` so a commit is on disk —
//! surviving power loss, not only a killed process — before pdgate forwards anything. The cost of
//! that fsync is shared by every intake in a group-commit batch.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::{Result, StoreError};

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn open(url: &str) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|_| StoreError::BadUrl)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // Checkpoint the WAL every ~40 MiB rather than every 4 MiB: fewer copy-backs of the same
            // hot index pages under sustained intake.
            .pragma("wal_autocheckpoint", "10000");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Self { pool })
    }

    fn migrator(&self) -> sqlx::migrate::Migrator {
        sqlx::migrate!("migrations/sqlite")
    }
}

super::sql::impl_backend!(
    SqliteStore,
    sqlx::Sqlite,
    (
        "SELECT json_group_array(json_array(id, hex(subject_id), token, kind, action, category, field, purposes, route, \
         hex(ciphertext), collected_at, hex(wrapped_dek), kek_version, restricted_at, last_activity_at, cstate, cat)) FROM (",
        ") AS q"
    )
);

super::rights_sql::impl_rights!(SqliteStore, sqlx::Sqlite);

super::oversight_sql::impl_oversight!(SqliteStore, sqlx::Sqlite);
