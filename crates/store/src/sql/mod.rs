//! The SQL both backends share, written once: SQLite (3.35+) and PostgreSQL accept the same
//! statements (`$n` parameters, `ON CONFLICT … DO`, `RETURNING`).
//!
//! This folder is compiled twice, as a child module of `sqlite.rs` and of `postgres.rs` (`#[path]`),
//! where `Db` and `Store` name that backend's driver and store, and the constants it takes from
//! there say where the two differ. So it is plain Rust that rustfmt and clippy read, without the
//! where-clauses sqlx's generic executor bounds would need on every function.

use super::{
    probe_headroom, Db, Store, BY_SUBJECT_INDEXES, DEFERRED_INDEX, ROWS_AS_JSON, SECURE_DELETE,
    SKIP_LOCKED, TOKEN_LIST,
};

mod keyring;
mod oversight;
mod rights;
mod vault;

/// Turns the backend's zeroing of deleted content on or off for the writer's connection (see
/// `SECURE_DELETE`); nothing where the backend has no such switch.
async fn zero_deletes<'c, E>(conn: E, on: bool) -> crate::Result<()>
where
    E: sqlx::Executor<'c, Database = Db>,
{
    if let Some(sql) = SECURE_DELETE {
        sqlx::query(sql[usize::from(on)]).execute(conn).await?;
    }
    Ok(())
}

impl Store {
    /// After an erasing transaction, committed or not: zeroing goes off again for the writer's
    /// other work, and a committed erasure owes the WAL a truncation (`erased`). Turning zeroing
    /// off is best effort: left on, writes are only slower, and the erasure's outcome stands.
    async fn after_erasing(&self, committed: bool) {
        if let Err(e) = zero_deletes(self.writer(), false).await {
            tracing::debug!(error = %e, "secure_delete left on after an erasure");
        }
        if committed {
            self.erased();
        }
    }
}
