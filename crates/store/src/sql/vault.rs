//! The SQL of [`Backend`](crate::Backend): the vault's reads and the intake batch.

use std::sync::{Mutex, PoisonError};

use sqlx::Row;

use super::{
    probe_headroom, zero_deletes, Db, Store, BY_SUBJECT_INDEXES, DEFERRED_INDEX, ROWS_AS_JSON,
    TOKEN_LIST,
};
use crate::audit::{AuditRow, Chain};
use crate::batch::{decide, lookups, Known, Lookups, NewToken};
use crate::health::VaultIdentity;
use crate::json_rows::values_with_subjects;
use crate::{
    now_millis, stored, Backend, Cause, ConsentRecord, ConsentState, ConsentStatus, FoldCursor,
    IntakeOutcome, IntakeWrite, Mac, Millis, Result, StoreError, SubjectId, SubjectRow,
    SubjectState, SubjectWrite, Token, ValueRow, ValueWrite, VaultValue, WriteTx,
};
use pdgate_core::crypto::Sealing;

impl Backend for Store {
    async fn migrate(&self) -> Result<()> {
        let pool = self.migration_pool().await?;
        let done = self.migrator().run(&pool).await;
        done.map_err(|e| StoreError::Migrate(Cause::of(e)))
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn probe_write(&self, at: Millis) -> Result<()> {
        let mut tx = self.writer().begin_with(<Db as WriteTx>::BEGIN).await?;
        probe_headroom(&mut tx).await?;
        sqlx::query("DELETE FROM writer_probe")
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO writer_probe (at, pad) VALUES ($1, $2)")
            .bind(at)
            .bind(vec![0u8; 64])
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn vault_identity(&self) -> Result<VaultIdentity> {
        let ring = sqlx::query("SELECT root_id, kek_version FROM keyring WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        let (root_id, kek_version) = match ring {
            Some(r) => (r.try_get(0)?, Some(r.try_get(1)?)),
            None => (None, None),
        };
        let applied: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(VaultIdentity {
            root_id,
            kek_version,
            applied,
        })
    }

    async fn claim_root_id(&self, id: [u8; 32]) -> Result<()> {
        sqlx::query("UPDATE keyring SET root_id = $1 WHERE id = 1 AND root_id IS NULL")
            .bind(&id[..])
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    fn known_migrations(&self) -> Vec<i64> {
        self.migrator().iter().map(|m| m.version).collect()
    }

    async fn root_secret(&self, candidate: (i64, Vec<u8>)) -> Result<(i64, Vec<u8>)> {
        sqlx::query(
            "INSERT INTO keyring (id, kek_version, wrapped_root, created_at) VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(candidate.0)
        .bind(&candidate.1)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT kek_version, wrapped_root FROM keyring WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    async fn find_subject(&self, key: &Mac) -> Result<Option<SubjectState>> {
        let row = sqlx::query(
            "SELECT s.id, s.wrapped_dek, s.kek_version, s.restricted_at, s.last_activity_at \
             FROM subject_keys k JOIN subjects s ON s.id = k.subject_id WHERE k.mac = $1",
        )
        .bind(&key[..])
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| subject_state(&r)).transpose()
    }

    async fn subject(&self, id: &[u8]) -> Result<Option<SubjectRow>> {
        let row = sqlx::query("SELECT id, wrapped_dek, kek_version FROM subjects WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| subject_row(&r)).transpose()
    }

    async fn commit_batch<'a>(
        &'a self,
        batch: &'a [IntakeWrite],
        chain: &'a mut Chain,
    ) -> Result<Vec<IntakeOutcome>> {
        let snapshot = chain.clone();
        match fast_batch(self.writer(), batch, chain, self.fold_cursor()).await {
            Ok(Some(outcomes)) => Ok(outcomes),
            Ok(None) => {
                *chain = snapshot;
                slow_batch(self.writer(), batch, chain).await
            }
            Err(e) => {
                *chain = snapshot;
                Err(e)
            }
        }
    }

    async fn fold_index(&self) -> Result<u64> {
        if !DEFERRED_INDEX {
            return Ok(0);
        }
        let mut tx = self.writer().begin_with(<Db as WriteTx>::BEGIN).await?;
        let n = fold_index(&mut tx).await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn value_by_token(&self, token: &str) -> Result<Vec<VaultValue>> {
        let arms: Vec<String> = TOKEN_TABLES
            .iter()
            .map(|from| format!(
                "SELECT v.subject_id, v.token, v.kind, v.action, v.category, v.field, v.purposes, v.route, v.ciphertext, v.collected_at, v.id AS id, v.sealing \
                 FROM {from} vault_values v ON v.subject_id = t.subject_id AND v.token = t.token WHERE t.token = $1"
            ))
            .collect();
        let rows = sqlx::query(&format!("{} ORDER BY id", arms.join(" UNION ALL ")))
            .bind(token)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(vault_value).collect()
    }

    async fn values_of(&self, subject_id: &[u8]) -> Result<Vec<VaultValue>> {
        let rows =
            sqlx::query("SELECT subject_id, token, kind, action, category, field, purposes, route, ciphertext, collected_at, id, sealing FROM vault_values WHERE subject_id = $1 ORDER BY id").bind(subject_id).fetch_all(&self.pool).await?;
        rows.iter().map(vault_value).collect()
    }

    async fn subjects_by_index(&self, mac: &Mac) -> Result<Vec<SubjectId>> {
        const SQL: &str = match (DEFERRED_INDEX, BY_SUBJECT_INDEXES) {
            // The entries not folded yet are found by scanning `index_pending` (kept small).
            (true, _) => "SELECT i.subject_id FROM subject_index i JOIN subjects s ON s.id = i.subject_id WHERE i.mac = $1 \
                UNION SELECT p.subject_id FROM index_pending p JOIN subjects s ON s.id = p.subject_id WHERE p.mac = $1 ORDER BY 1",
            (false, false) => "SELECT i.subject_id FROM subject_index i JOIN subjects s ON s.id = i.subject_id WHERE i.mac = $1 ORDER BY i.subject_id",
            (false, true) => "SELECT subject_id FROM subject_index WHERE mac = $1 ORDER BY subject_id",
        };
        let rows = sqlx::query(SQL)
            .bind(&mac[..])
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| subject_id(r, 0)).collect()
    }

    async fn consents_of(&self, subject_id: &[u8]) -> Result<Vec<ConsentRecord>> {
        let rows = sqlx::query(
            "SELECT receipt_id, subject_id, purpose, text_id, text_version, text_sha256, regimes, method, route, at, \
             ip_hash, ua_hash, origin, state, channel, details FROM consent_records WHERE subject_id = $1 ORDER BY seq",
        )
        .bind(subject_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(consent_record).collect()
    }

    async fn audit_rows(&self, writer: &str) -> Result<Vec<AuditRow>> {
        let rows = sqlx::query("SELECT writer, seq, at, kind, entry, prev_hash, hash FROM audit_log WHERE writer = $1 ORDER BY seq")
            .bind(writer)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_row).collect()
    }

    async fn last_audit_row(&self, writer: &str) -> Result<Option<AuditRow>> {
        let row = sqlx::query("SELECT writer, seq, at, kind, entry, prev_hash, hash FROM audit_log WHERE writer = $1 ORDER BY seq DESC LIMIT 1")
            .bind(writer)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(audit_row).transpose()
    }

    async fn signed_heads(&self, writer: &str, limit: i64) -> Result<Vec<crate::audit::SeenHead>> {
        let rows = sqlx::query(
            "SELECT writer, seq, hash, at FROM chain_heads WHERE writer <> $1 ORDER BY at DESC, writer LIMIT $2",
        )
        .bind(writer)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(crate::audit::SeenHead {
                    writer: r.try_get(0)?,
                    seq: r.try_get(1)?,
                    hash: data_encoding::HEXLOWER.encode(&r.try_get::<Vec<u8>, _>(2)?),
                    at: r.try_get(3)?,
                })
            })
            .collect()
    }

    async fn values_with_subjects(&self, tokens: &[&str], purpose: &str) -> Result<Vec<ValueRow>> {
        let mut conn = self.pool.acquire().await?;
        let mut out = Vec::with_capacity(tokens.len());
        for chunk in tokens.chunks(IN_LIST_MAX) {
            // One row holding every match as JSON: a driver hands rows over one by one
            // (sqlx's SQLite driver through a channel, a thread hop each), and a
            // detokenize batch is hundreds of rows. The newest consent record for the
            // purpose rides along: its seq is one seek on the (subject, purpose, seq) index.
            let (open, close) = ROWS_AS_JSON;
            let mut qb = sqlx::QueryBuilder::<Db>::new(open);
            for (i, from) in TOKEN_TABLES.iter().enumerate() {
                if i > 0 {
                    qb.push(" UNION ALL ");
                }
                qb.push(format!(
                    "SELECT v.id AS id, v.subject_id, v.token, v.kind, v.action, v.category, v.field, v.purposes, v.route, v.ciphertext, v.collected_at, \
                     s.wrapped_dek, s.kek_version, s.restricted_at, s.last_activity_at, c.state AS cstate, c.at AS cat, v.sealing \
                     FROM {from} vault_values v ON v.subject_id = t.subject_id AND v.token = t.token \
                     JOIN subjects s ON s.id = v.subject_id \
                     LEFT JOIN consent_records c ON c.seq = \
                     (SELECT max(c2.seq) FROM consent_records c2 WHERE c2.subject_id = v.subject_id AND c2.purpose = "
                ));
                qb.push_bind(purpose);
                qb.push(") WHERE t.token IN ");
                push_in_list(&mut qb, chunk);
            }
            qb.push(" ORDER BY id");
            qb.push(close);
            let row = qb.build().fetch_one(&mut *conn).await?;
            let json: Option<String> = row.try_get(0)?;
            out.extend(values_with_subjects(json.as_deref().unwrap_or("[]"))?);
        }
        Ok(out)
    }

    async fn subject_states(&self, ids: &[&[u8]]) -> Result<Vec<SubjectState>> {
        let mut conn = self.pool.acquire().await?;
        let rows = select_in(
            &mut conn,
            "SELECT id, wrapped_dek, kek_version, restricted_at, last_activity_at FROM subjects WHERE id IN ",
            "",
            ids,
        )
        .await?;
        rows.iter().map(subject_state).collect()
    }

    async fn consent_states(&self, ids: &[&[u8]], purpose: &str) -> Result<Vec<ConsentState>> {
        let mut conn = self.pool.acquire().await?;
        let mut out = Vec::new();
        for chunk in ids.chunks(IN_LIST_MAX) {
            // Records are append-only: the state is the newest record per subject, one
            // seek each on the (subject, purpose, seq) index.
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "SELECT subject_id, state, at FROM consent_records WHERE seq IN \
                 (SELECT max(seq) FROM consent_records WHERE purpose = ",
            );
            qb.push_bind(purpose);
            qb.push(" AND subject_id IN ");
            push_in_list(&mut qb, chunk);
            qb.push(" GROUP BY subject_id)");
            for r in qb.build().fetch_all(&mut *conn).await? {
                out.push(ConsentState {
                    subject_id: subject_id(&r, 0)?,
                    state: stored(r.try_get(1)?, ConsentStatus::parse, "consent state")?,
                    at: r.try_get(2)?,
                });
            }
        }
        Ok(out)
    }

    async fn erased_tokens(&self, tokens: &[&str]) -> Result<Vec<String>> {
        let mut conn = self.pool.acquire().await?;
        let rows = select_in(
            &mut conn,
            if_orphans(
                "SELECT token FROM tokens t WHERE (t.erased_at IS NOT NULL OR NOT EXISTS (SELECT 1 FROM subjects s WHERE s.id = t.subject_id)) \
                 AND t.token IN ",
                "SELECT token FROM tokens WHERE erased_at IS NOT NULL AND token IN ",
            ),
            "",
            tokens,
        ).await?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(Into::into))
            .collect()
    }

    async fn erased_subjects(&self, ids: &[&[u8]]) -> Result<Vec<Vec<u8>>> {
        let mut conn = self.pool.acquire().await?;
        let rows = select_in(
            &mut conn,
            "SELECT id FROM erased_subjects WHERE id IN ",
            "",
            ids,
        )
        .await?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(Into::into))
            .collect()
    }

    async fn set_restricted(&self, id: &[u8], since: Option<Millis>) -> Result<bool> {
        let done = sqlx::query("UPDATE subjects SET restricted_at = $1 WHERE id = $2")
            .bind(since)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn erase_subject(&self, id: &[u8], at: Millis) -> Result<bool> {
        let done = erase_one(self.writer(), id, at).await;
        self.after_erasing(matches!(done, Ok(true))).await;
        done
    }

    async fn audit_page(
        &self,
        since: Option<Millis>,
        until: Option<Millis>,
        after: Option<(&str, i64)>,
        limit: i64,
    ) -> Result<Vec<AuditRow>> {
        let (w, s) = after.unwrap_or(("", 0));
        let rows = sqlx::query(
            "SELECT writer, seq, at, kind, entry, prev_hash, hash FROM audit_log \
             WHERE at >= $1 AND at < $2 AND (writer > $3 OR (writer = $3 AND seq > $4)) ORDER BY writer, seq LIMIT $5",
        )
        .bind(since.unwrap_or(i64::MIN))
        .bind(until.unwrap_or(i64::MAX))
        .bind(w)
        .bind(s)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_row).collect()
    }

    async fn register_consent_text(
        &self,
        id: &str,
        version: i64,
        sha256: &str,
        body: &str,
        at: Millis,
    ) -> Result<String> {
        sqlx::query("INSERT INTO consent_texts (text_id, version, sha256, body, registered_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (text_id, version) DO NOTHING")
            .bind(id)
            .bind(version)
            .bind(sha256)
            .bind(body)
            .bind(at)
            .execute(&self.pool)
            .await?;
        let row =
            sqlx::query("SELECT sha256 FROM consent_texts WHERE text_id = $1 AND version = $2")
                .bind(id)
                .bind(version)
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get(0)?)
    }

    async fn consent_text(&self, id: &str, version: i64) -> Result<Option<(String, String)>> {
        let row = sqlx::query(
            "SELECT sha256, body FROM consent_texts WHERE text_id = $1 AND version = $2",
        )
        .bind(id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    async fn consents_by_receipt(&self, receipt_id: &str) -> Result<Vec<ConsentRecord>> {
        let rows = sqlx::query(
            "SELECT receipt_id, subject_id, purpose, text_id, text_version, text_sha256, regimes, method, route, at, \
             ip_hash, ua_hash, origin, state, channel, details FROM consent_records WHERE receipt_id = $1 ORDER BY seq",
        )
        .bind(receipt_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(consent_record).collect()
    }

    async fn counter(&self, route: &str, name: &str) -> Result<i64> {
        let row = sqlx::query("SELECT value FROM route_counters WHERE route = $1 AND name = $2")
            .bind(route)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get(0)?,
            None => 0,
        })
    }
}

/// A subject id read from column `i`.
pub(super) fn subject_id(r: &<Db as sqlx::Database>::Row, i: usize) -> Result<SubjectId> {
    Ok(SubjectId::from(r.try_get::<Vec<u8>, _>(i)?))
}

pub(super) fn vault_value(r: &<Db as sqlx::Database>::Row) -> Result<VaultValue> {
    Ok(VaultValue {
        subject_id: subject_id(r, 0)?,
        token: Token::from(r.try_get::<String, _>(1)?),
        kind: r.try_get(2)?,
        action: r.try_get(3)?,
        category: r.try_get(4)?,
        field: r.try_get(5)?,
        purposes: r.try_get(6)?,
        route: r.try_get(7)?,
        ciphertext: r.try_get(8)?,
        collected_at: r.try_get(9)?,
        id: r.try_get(10)?,
        sealing: Sealing::from_i64(r.try_get(11)?),
    })
}

pub(super) fn consent_record(r: &<Db as sqlx::Database>::Row) -> Result<ConsentRecord> {
    Ok(ConsentRecord {
        receipt_id: r.try_get(0)?,
        subject_id: subject_id(r, 1)?,
        purpose: r.try_get(2)?,
        text_id: r.try_get(3)?,
        text_version: r.try_get(4)?,
        text_sha256: r.try_get(5)?,
        regimes: r.try_get(6)?,
        method: r.try_get(7)?,
        route: r.try_get(8)?,
        at: r.try_get(9)?,
        ip_hash: r.try_get(10)?,
        ua_hash: r.try_get(11)?,
        origin: r.try_get(12)?,
        state: stored(r.try_get(13)?, ConsentStatus::parse, "consent state")?,
        channel: r.try_get(14)?,
        details: r.try_get(15)?,
    })
}

fn audit_row(r: &<Db as sqlx::Database>::Row) -> Result<AuditRow> {
    Ok(AuditRow {
        writer: r.try_get(0)?,
        seq: r.try_get(1)?,
        at: r.try_get(2)?,
        kind: r.try_get(3)?,
        entry: r.try_get(4)?,
        prev_hash: r.try_get(5)?,
        hash: r.try_get(6)?,
    })
}

/// `id, wrapped_dek, kek_version, restricted_at, last_activity_at`.
fn subject_state(r: &<Db as sqlx::Database>::Row) -> Result<SubjectState> {
    Ok(SubjectState {
        row: subject_row(r)?,
        restricted_at: r.try_get(3)?,
        last_activity_at: r.try_get(4)?,
    })
}

fn subject_row(r: &<Db as sqlx::Database>::Row) -> Result<SubjectRow> {
    Ok(SubjectRow {
        id: subject_id(r, 0)?,
        wrapped_dek: r.try_get(1)?,
        kek_version: r.try_get(2)?,
    })
}

impl Store {
    /// The per-intake path alone (what a batch falls back to when another replica races it);
    /// public so the conformance suite checks both paths.
    #[doc(hidden)]
    pub async fn commit_each(
        &self,
        batch: &[IntakeWrite],
        chain: &mut Chain,
    ) -> Result<Vec<IntakeOutcome>> {
        let snapshot = chain.clone();
        let r = slow_batch(self.writer(), batch, chain).await;
        if r.is_err() {
            *chain = snapshot;
        }
        r
    }
}

/// Turns those of `subject`'s `tokens` that no stored value uses any more into tombstones,
/// in place: the row keeps its page, a later detokenize answers `erased`, and the token
/// is never issued again.
pub(super) async fn tombstone_orphans(
    tx: &mut sqlx::Transaction<'_, Db>,
    tokens: &[&str],
    subject: &[u8],
    at: Millis,
) -> Result<()> {
    for chunk in tokens.chunks(IN_LIST_MAX) {
        let mut qb = sqlx::QueryBuilder::<Db>::new(
            "UPDATE tokens SET subject_id = NULL, value_mac = NULL, erased_at = ",
        );
        qb.push_bind(at);
        qb.push(" WHERE token IN ");
        push_in_list(&mut qb, chunk);
        qb.push(" AND subject_id = ");
        qb.push_bind(subject);
        qb.push(" AND NOT EXISTS (SELECT 1 FROM vault_values v WHERE v.subject_id = tokens.subject_id AND v.token = tokens.token)");
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// The distinct tokens of `subject`'s stored values (all, or those with these row ids).
pub(super) async fn tokens_of_values(
    tx: &mut sqlx::Transaction<'_, Db>,
    subject: &[u8],
    ids: Option<&[i64]>,
) -> Result<Vec<String>> {
    if ids.is_some_and(<[i64]>::is_empty) {
        return Ok(Vec::new());
    }
    let mut qb = sqlx::QueryBuilder::<Db>::new(
        "SELECT DISTINCT token FROM vault_values WHERE subject_id = ",
    );
    qb.push_bind(subject);
    if let Some(ids) = ids {
        qb.push(" AND id IN ");
        push_in_list(&mut qb, ids);
    }
    let rows = qb.build().fetch_all(&mut **tx).await?;
    rows.iter()
        .map(|r| r.try_get(0).map_err(Into::into))
        .collect()
}

/// Removes what of `subjects` (not deleted yet) is keyed by random MACs and tokens, in
/// set-based statements: tokens become tombstones, subject keys and search-index entries
/// (and on SQLite their MAC lists) go, found through the indexes by subject where the
/// backend keeps them, else through the subjects' rows. An erasure that purges at once does this
/// before deleting the subjects; a sweep on SQLite lists them instead (`pend_subjects`).
pub(super) async fn unindex_subjects(
    tx: &mut sqlx::Transaction<'_, Db>,
    subjects: &[&[u8]],
    at: Millis,
) -> Result<()> {
    for chunk in subjects.chunks(IN_LIST_MAX) {
        if BY_SUBJECT_INDEXES {
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "UPDATE tokens SET subject_id = NULL, value_mac = NULL, erased_at = ",
            );
            qb.push_bind(at);
            qb.push(" WHERE subject_id IN ");
            push_in_list(&mut qb, chunk);
            qb.build().execute(&mut **tx).await?;
            delete_by_subject(tx, &["subject_keys", "subject_index"], chunk).await?;
            continue;
        }
        let mut qb = sqlx::QueryBuilder::<Db>::new(
            "UPDATE tokens SET subject_id = NULL, value_mac = NULL, erased_at = ",
        );
        qb.push_bind(at);
        qb.push(" WHERE token IN (SELECT v.token FROM vault_values v WHERE v.subject_id IN ");
        push_in_list(&mut qb, chunk);
        qb.push(") AND subject_id IN ");
        push_in_list(&mut qb, chunk);
        qb.build().execute(&mut **tx).await?;
        let mut qb = sqlx::QueryBuilder::<Db>::new("DELETE FROM subject_keys WHERE mac IN (SELECT s.key_mac FROM subjects s WHERE s.id IN ");
        push_in_list(&mut qb, chunk);
        qb.push(") AND subject_id IN ");
        push_in_list(&mut qb, chunk);
        qb.build().execute(&mut **tx).await?;
        let mut qb = sqlx::QueryBuilder::<Db>::new(
            "DELETE FROM subject_index WHERE (mac, subject_id) IN (SELECT m.mac, m.subject_id FROM subject_macs m WHERE m.subject_id IN ",
        );
        push_in_list(&mut qb, chunk);
        qb.push(")");
        qb.build().execute(&mut **tx).await?;
        delete_by_subject(tx, &["subject_macs"], chunk).await?;
    }
    Ok(())
}

/// Adds `subject`'s search-index entry `mac`, and on SQLite the entry of its MAC list that
/// finds it again for erasure.
pub(super) async fn add_index_entry(
    tx: &mut sqlx::Transaction<'_, Db>,
    subject: &[u8],
    mac: &Mac,
) -> Result<()> {
    sqlx::query("INSERT INTO subject_index (mac, subject_id) VALUES ($1, $2) ON CONFLICT (mac, subject_id) DO NOTHING")
        .bind(&mac[..])
        .bind(subject)
        .execute(&mut **tx)
        .await?;
    if !BY_SUBJECT_INDEXES {
        sqlx::query("INSERT INTO subject_macs (subject_id, mac) VALUES ($1, $2) ON CONFLICT (subject_id, mac) DO NOTHING")
            .bind(subject)
            .bind(&mac[..])
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Removes what [`add_index_entry`] added.
pub(super) async fn remove_index_entry(
    tx: &mut sqlx::Transaction<'_, Db>,
    subject: &[u8],
    mac: &Mac,
) -> Result<()> {
    sqlx::query("DELETE FROM subject_index WHERE mac = $1 AND subject_id = $2")
        .bind(&mac[..])
        .bind(subject)
        .execute(&mut **tx)
        .await?;
    if !BY_SUBJECT_INDEXES {
        sqlx::query("DELETE FROM subject_macs WHERE subject_id = $1 AND mac = $2")
            .bind(subject)
            .bind(&mac[..])
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Deletes the rows of `subjects` (at most `IN_LIST_MAX`) from each of `tables`.
pub(super) async fn delete_by_subject(
    tx: &mut sqlx::Transaction<'_, Db>,
    tables: &[&str],
    subjects: &[&[u8]],
) -> Result<()> {
    for table in tables {
        let mut qb =
            sqlx::QueryBuilder::<Db>::new(format!("DELETE FROM {table} WHERE subject_id IN "));
        push_in_list(&mut qb, subjects);
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Lists `subjects` (about to be deleted) for the purge, with what finds their entries
/// once the subject row and its values are gone: the key and the tokens.
pub(super) async fn pend_subjects(
    tx: &mut sqlx::Transaction<'_, Db>,
    subjects: &[&[u8]],
    at: Millis,
) -> Result<()> {
    for chunk in subjects.chunks(IN_LIST_MAX) {
        let mut qb = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO purge_pending (subject_id, erased_at, key_mac, tokens) SELECT s.id, ",
        );
        qb.push_bind(at);
        qb.push(format!(
            ", s.key_mac, COALESCE((SELECT {TOKEN_LIST} FROM vault_values v WHERE v.subject_id = s.id), '') FROM subjects s WHERE s.id IN "
        ));
        push_in_list(&mut qb, chunk);
        qb.push(" ON CONFLICT (subject_id) DO NOTHING");
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Purges pending `subjects`, already deleted, entry by entry: their tokens become
/// tombstones, their subject keys and search-index entries go (one random page each on
/// SQLite: for a few subjects; a sweep's worth is walked in key order by `purge_step`), and
/// they leave the pending list.
pub(super) async fn purge_subjects(
    tx: &mut sqlx::Transaction<'_, Db>,
    subjects: &[&[u8]],
    at: Millis,
) -> Result<()> {
    for chunk in subjects.chunks(IN_LIST_MAX) {
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut tokens: Vec<String> = Vec::new();
        for r in select_in(
            tx,
            "SELECT key_mac, tokens FROM purge_pending WHERE subject_id IN ",
            "",
            chunk,
        )
        .await?
        {
            keys.extend(r.try_get::<Option<Vec<u8>>, _>(0)?);
            tokens.extend(
                r.try_get::<String, _>(1)?
                    .split_whitespace()
                    .map(str::to_owned),
            );
        }
        tokens.sort_unstable();
        tokens.dedup();
        let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
        // Whose entry it is: any subject that no longer exists (these, and any other
        // erased one sharing a MAC). Not `subject_id IN (…)`: PostgreSQL before 17 probes
        // a primary key for every pair of two such lists.
        const GONE: &str = " AND NOT EXISTS (SELECT 1 FROM subjects s WHERE s.id = t.subject_id)";
        for part in tokens.chunks(IN_LIST_MAX) {
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "UPDATE tokens AS t SET subject_id = NULL, value_mac = NULL, erased_at = ",
            );
            qb.push_bind(at);
            qb.push(" WHERE t.token IN ");
            push_in_list(&mut qb, part);
            qb.push(" AND t.subject_id IS NOT NULL");
            qb.push(GONE);
            qb.build().execute(&mut **tx).await?;
        }
        let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        for part in keys.chunks(IN_LIST_MAX) {
            let mut qb =
                sqlx::QueryBuilder::<Db>::new("DELETE FROM subject_keys AS t WHERE t.mac IN ");
            push_in_list(&mut qb, part);
            qb.push(GONE);
            qb.build().execute(&mut **tx).await?;
        }
        if BY_SUBJECT_INDEXES {
            delete_by_subject(tx, &["subject_index", "purge_pending"], chunk).await?;
            continue;
        }
        // By exact pair: one MAC (a shared phone number) may have entries for many subjects.
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = select_in(
            tx,
            "SELECT mac, subject_id FROM subject_macs WHERE subject_id IN ",
            "",
            chunk,
        )
        .await?
        .iter()
        .map(|r| Ok::<_, sqlx::Error>((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, _>>()?;
        for part in pairs.chunks(ROWS_PER_STATEMENT / 2) {
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "DELETE FROM subject_index WHERE (mac, subject_id) IN (",
            );
            qb.push_values(part, |mut b, (mac, sid)| {
                b.push_bind(mac.as_slice()).push_bind(sid.as_slice());
            });
            qb.push(")");
            qb.build().execute(&mut **tx).await?;
        }
        delete_by_subject(tx, &["subject_macs", "purge_pending"], chunk).await?;
    }
    Ok(())
}

/// The stored tokens among `candidates`, each with the value MAC it stands for (empty for
/// a tombstone: taken, and nobody's).
async fn stored_tokens(
    conn: &mut <Db as sqlx::Database>::Connection,
    candidates: &[&str],
) -> Result<std::collections::HashMap<String, Vec<u8>>> {
    let mut out = std::collections::HashMap::with_capacity(candidates.len());
    let found = select_in(
        conn,
        if_orphans(
            "SELECT t.token, CASE WHEN s.id IS NULL THEN NULL ELSE t.value_mac END FROM tokens t \
             LEFT JOIN subjects s ON s.id = t.subject_id WHERE t.token IN ",
            "SELECT token, value_mac FROM tokens WHERE token IN ",
        ),
        "",
        candidates,
    )
    .await?;
    // Not folded yet: a scan of the few thousand rows `tokens_pending` holds at most.
    let waiting = match DEFERRED_INDEX {
        true => {
            let head = "SELECT token, value_mac FROM tokens_pending WHERE token IN ";
            select_in(conn, head, "", candidates).await?
        }
        false => Vec::new(),
    };
    for row in found.iter().chain(&waiting) {
        out.insert(
            row.try_get(0)?,
            row.try_get::<Option<Vec<u8>>, _>(1)?.unwrap_or_default(),
        );
    }
    Ok(out)
}

/// A subject key still held by an erased subject whose entries are not purged yet is taken
/// over by the new subject; one held by a live subject is not (another replica's intake
/// got there first: no row changes, and the caller sees the race).
pub(super) const STALE_KEY_UPSERT: &str = if_orphans(
    " ON CONFLICT (mac) DO UPDATE SET subject_id = excluded.subject_id \
      WHERE NOT EXISTS (SELECT 1 FROM subjects s WHERE s.id = subject_keys.subject_id)",
    " ON CONFLICT (mac) DO NOTHING",
);

/// `orphan_aware` where a subject's tokens, key and search-index entries can outlive the
/// subject row (a sweep's purge on SQLite comes after its pages: until then such an entry
/// stands for nothing), else `plain`: where an erasure deletes them with the subject
/// (`BY_SUBJECT_INDEXES`), checking the subject on every read only costs the intake a join.
const fn if_orphans(orphan_aware: &'static str, plain: &'static str) -> &'static str {
    if BY_SUBJECT_INDEXES {
        plain
    } else {
        orphan_aware
    }
}

/// Where a token is found, as the start of a `FROM`: the token table, and where intakes defer
/// them, the tokens not folded yet (scanned first: a few thousand rows at most).
const TOKEN_TABLES: &[&str] = if DEFERRED_INDEX {
    &["tokens t JOIN", "tokens_pending t CROSS JOIN"]
} else {
    &["tokens t JOIN"]
};

/// Rows per multi-row statement: well under SQLite's and PostgreSQL's bind limits.
pub(super) const ROWS_PER_STATEMENT: usize = 500;
/// Items per `IN (…)` list (a power of two, see `select_in`).
pub(super) const IN_LIST_MAX: usize = 512;

/// The whole batch in a few multi-row statements. `Ok(None)`: another replica changed what
/// the batch was decided on; nothing was committed and the caller redoes it intake by intake.
async fn fast_batch(
    pool: &sqlx::Pool<Db>,
    batch: &[IntakeWrite],
    chain: &mut Chain,
    fold: Option<&Mutex<FoldCursor>>,
) -> Result<Option<Vec<IntakeOutcome>>> {
    let mut tx = pool.begin_with(<Db as WriteTx>::BEGIN).await?;
    let known = known_to_batch(&mut tx, batch).await?;
    let decided = decide(batch, &known);
    let accepted: Vec<(usize, &IntakeWrite)> = batch
        .iter()
        .enumerate()
        .filter(|(i, _)| matches!(decided.outcomes[*i], IntakeOutcome::Committed(_)))
        .collect();
    let tokens_of = |i: usize| match &decided.outcomes[i] {
        IntakeOutcome::Committed(c) => c.tokens.as_slice(),
        _ => &[],
    };
    if !insert_new_subjects(&mut tx, &accepted).await?
        || !touch_existing(&mut tx, &accepted).await?
    {
        return Ok(None);
    }
    insert_index(&mut tx, &accepted).await?;
    if !insert_tokens(&mut tx, batch, &decided.new_tokens).await? {
        return Ok(None);
    }
    let values: Vec<(&IntakeWrite, &ValueWrite, &str)> = accepted
        .iter()
        .flat_map(|(i, w)| {
            w.values
                .iter()
                .zip(tokens_of(*i))
                .map(move |(v, t)| (*w, v, t.as_str()))
        })
        .collect();
    insert_values(&mut tx, &values).await?;
    let consents: Vec<&ConsentRecord> = accepted
        .iter()
        .flat_map(|(_, w)| w.consents.iter())
        .collect();
    insert_consents(&mut tx, &consents).await?;
    let rows: Vec<AuditRow> = accepted
        .iter()
        .flat_map(|(_, w)| w.audit.iter().map(move |e| (w.at, e)))
        .map(|(at, e)| chain.append(at, e))
        .collect();
    insert_audit(&mut tx, &rows).await?;
    bump_counters(&mut tx, batch, &decided.outcomes).await?;
    let folded = fold_if_due(&mut tx, fold).await?;
    tx.commit().await?;
    if let (Some(m), Some(c)) = (fold, folded) {
        *m.lock().unwrap_or_else(PoisonError::into_inner) = c;
    }
    Ok(Some(decided.outcomes))
}

/// What the store already holds of the batch's subject keys, subject ids and tokens.
async fn known_to_batch(
    tx: &mut sqlx::Transaction<'_, Db>,
    batch: &[IntakeWrite],
) -> Result<Known> {
    let Lookups {
        keys,
        ids,
        candidates,
    } = lookups(batch);
    let mut known = Known::default();
    let known_keys = if_orphans(
        "SELECT k.mac FROM subject_keys k JOIN subjects s ON s.id = k.subject_id WHERE k.mac IN ",
        "SELECT mac FROM subject_keys WHERE mac IN ",
    );
    for row in select_in(tx, known_keys, "", &keys).await? {
        known.subject_keys.insert(row.try_get(0)?);
    }
    for row in select_in(tx, "SELECT id FROM subjects WHERE id IN ", "", &ids).await? {
        known.subject_ids.insert(row.try_get(0)?);
    }
    known.token_macs = stored_tokens(tx, &candidates).await?;
    Ok(known)
}

/// The batch's new subjects and their keys; `false` when a key was taken meanwhile.
async fn insert_new_subjects(
    tx: &mut sqlx::Transaction<'_, Db>,
    accepted: &[(usize, &IntakeWrite)],
) -> Result<bool> {
    let new_subjects: Vec<_> = accepted
        .iter()
        .filter_map(|(_, w)| match &w.subject {
            Some(SubjectWrite::New {
                id,
                key,
                wrapped_dek,
                kek_version,
            }) => Some((id, key, wrapped_dek, *kek_version, w.at)),
            _ => None,
        })
        .collect();
    for chunk in new_subjects.chunks(ROWS_PER_STATEMENT) {
        let mut qb = sqlx::QueryBuilder::<Db>::new("INSERT INTO subjects (id, wrapped_dek, kek_version, created_at, last_activity_at, key_mac, key_scheme) ");
        qb.push_values(chunk, |mut b, (id, key, dek, ver, at)| {
            b.push_bind(id.as_bytes())
                .push_bind(dek.as_slice())
                .push_bind(*ver)
                .push_bind(*at)
                .push_bind(*at)
                .push_bind(key.as_ref().map(|k| &k[..]))
                .push_bind(2_i64);
        });
        qb.build().execute(&mut **tx).await?;
    }
    // In key order, as every other writer inserts them: two replicas taking the same new
    // people wait for each other instead of deadlocking.
    let mut keyed: Vec<_> = new_subjects
        .iter()
        .filter_map(|(id, key, ..)| key.as_ref().map(|k| (*id, k)))
        .collect();
    keyed.sort_by(|a, b| a.1[..].cmp(&b.1[..]));
    for chunk in keyed.chunks(ROWS_PER_STATEMENT) {
        let mut qb = sqlx::QueryBuilder::<Db>::new("INSERT INTO subject_keys (mac, subject_id) ");
        qb.push_values(chunk, |mut b, (id, key)| {
            b.push_bind(&key[..]).push_bind(id.as_bytes());
        });
        qb.push(STALE_KEY_UPSERT);
        if qb.build().execute(&mut **tx).await?.rows_affected() != chunk.len() as u64 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Marks the batch's known subjects active again; `false` when one is gone meanwhile.
async fn touch_existing(
    tx: &mut sqlx::Transaction<'_, Db>,
    accepted: &[(usize, &IntakeWrite)],
) -> Result<bool> {
    let mut existing: Vec<(&[u8], i64)> = accepted
        .iter()
        .filter_map(|(_, w)| match &w.subject {
            Some(SubjectWrite::Existing { id }) => Some((id.as_bytes(), w.at)),
            _ => None,
        })
        .collect();
    existing.sort();
    existing.dedup_by(|a, b| a.0 == b.0);
    for (id, at) in &existing {
        let done = sqlx::query(
            "UPDATE subjects SET last_activity_at = $1, revision = revision + 1 WHERE id = $2",
        )
        .bind(*at)
        .bind(*id)
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The batch's search-index entries (and, without indexes by subject, their reverse).
async fn insert_index(
    tx: &mut sqlx::Transaction<'_, Db>,
    accepted: &[(usize, &IntakeWrite)],
) -> Result<()> {
    let mut index: Vec<(&[u8], &[u8])> = accepted
        .iter()
        .filter_map(|(_, w)| w.subject.as_ref().map(|s| (s.id().as_bytes(), w)))
        .flat_map(|(sid, w)| w.index.iter().map(move |m| (&m[..], sid)))
        .collect();
    // In key order, like every other writer (see `insert_new_subjects`).
    index.sort_unstable();
    for chunk in index.chunks(ROWS_PER_STATEMENT) {
        if DEFERRED_INDEX {
            let mut qb =
                sqlx::QueryBuilder::<Db>::new("INSERT INTO index_pending (mac, subject_id) ");
            qb.push_values(chunk, |mut b, (mac, sid)| {
                b.push_bind(*mac).push_bind(*sid);
            });
            qb.build().execute(&mut **tx).await?;
            continue;
        }
        let mut qb = sqlx::QueryBuilder::<Db>::new("INSERT INTO subject_index (mac, subject_id) ");
        qb.push_values(chunk, |mut b, (mac, sid)| {
            b.push_bind(*mac).push_bind(*sid);
        });
        qb.push(" ON CONFLICT (mac, subject_id) DO NOTHING");
        qb.build().execute(&mut **tx).await?;
        if BY_SUBJECT_INDEXES {
            continue;
        }
        let mut qb = sqlx::QueryBuilder::<Db>::new("INSERT INTO subject_macs (subject_id, mac) ");
        qb.push_values(chunk, |mut b, (mac, sid)| {
            b.push_bind(*sid).push_bind(*mac);
        });
        qb.push(" ON CONFLICT (subject_id, mac) DO NOTHING");
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// The body of `erase_subject`, inside one transaction that zeroes what it deletes.
async fn erase_one(pool: &sqlx::Pool<Db>, id: &[u8], at: Millis) -> Result<bool> {
    let mut tx = pool.begin_with(<Db as WriteTx>::BEGIN).await?;
    zero_deletes(&mut *tx, true).await?;
    fold_index(&mut tx).await?;
    unindex_subjects(&mut tx, &[id], at).await?;
    // Deleting the subject deletes its wrapped key, ciphertext and consent records (ON
    // DELETE CASCADE): every copy of its values is unreadable from here on.
    let done = sqlx::query("DELETE FROM subjects WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO erased_subjects (id, erased_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// A table of rows intakes leave pending, by the key its index is ordered on, and the statements
/// that fold the rows with a key in `($1, $2]` into that index.
struct Pending {
    table: &'static str,
    key: &'static str,
    fold: &'static [&'static str],
}

/// The index entries of subjects gone meanwhile are dropped. Every token is folded, a dead
/// subject's too: it was forwarded, so it is never issued again, and a token whose subject is
/// gone already reads as erased.
const INDEX_PENDING: Pending = Pending {
    table: "index_pending",
    key: "mac",
    fold: &[
        "INSERT INTO subject_index (mac, subject_id) SELECT mac, subject_id FROM index_pending p \
         WHERE mac > $1 AND mac <= $2 AND EXISTS (SELECT 1 FROM subjects s WHERE s.id = p.subject_id) \
         ORDER BY mac, subject_id ON CONFLICT DO NOTHING",
        "INSERT INTO subject_macs (subject_id, mac) SELECT subject_id, mac FROM index_pending p \
         WHERE mac > $1 AND mac <= $2 AND EXISTS (SELECT 1 FROM subjects s WHERE s.id = p.subject_id) \
         ORDER BY subject_id, mac ON CONFLICT DO NOTHING",
    ],
};
const TOKENS_PENDING: Pending = Pending {
    table: "tokens_pending",
    key: "token",
    fold: &[
        "INSERT INTO tokens (token, value_mac, subject_id, shape, created_at) \
         SELECT token, value_mac, subject_id, shape, created_at FROM tokens_pending \
         WHERE token > $1 AND token <= $2 ORDER BY token ON CONFLICT DO NOTHING",
    ],
};

/// A key a pending table is folded by (a MAC, a token), as the driver binds and reads it.
trait Key:
    for<'q> sqlx::Encode<'q, Db> + for<'r> sqlx::Decode<'r, Db> + sqlx::Type<Db> + Send + Sync + Unpin
{
}
impl<T> Key for T where
    T: for<'q> sqlx::Encode<'q, Db>
        + for<'r> sqlx::Decode<'r, Db>
        + sqlx::Type<Db>
        + Send
        + Sync
        + Unpin
{
}

/// Folds the `limit` pending rows of `p` with the smallest keys after `after` (the empty key:
/// from the start); how many rows that was, and the last key folded (`None`: no rows after it).
async fn fold_range<T: Key>(
    tx: &mut sqlx::Transaction<'_, Db>,
    p: &Pending,
    after: &T,
    limit: i64,
) -> Result<(u64, Option<T>)> {
    let (table, key) = (p.table, p.key);
    let upto: Option<T> = sqlx::query_scalar(&format!(
        "SELECT max({key}) FROM (SELECT {key} FROM {table} WHERE {key} > $1 ORDER BY {key} LIMIT $2) AS q"
    ))
    .bind(after)
    .bind(limit)
    .fetch_one(&mut **tx)
    .await?;
    let Some(upto) = upto else {
        return Ok((0, None));
    };
    for sql in p.fold {
        sqlx::query(sql)
            .bind(after)
            .bind(&upto)
            .execute(&mut **tx)
            .await?;
    }
    let done = sqlx::query(&format!(
        "DELETE FROM {table} WHERE {key} > $1 AND {key} <= $2"
    ))
    .bind(after)
    .bind(&upto)
    .execute(&mut **tx)
    .await?;
    Ok((done.rows_affected(), Some(upto)))
}

/// Moves every search-index entry waiting in `index_pending` into `subject_index` and
/// `subject_macs`, and every token waiting in `tokens_pending` into `tokens`, inside `tx`. Every
/// write other than an intake calls this first, so only searches, detokenize and the intake's
/// token look-up ever see the pending rows. Returns how many rows were waiting.
pub(super) async fn fold_index(tx: &mut sqlx::Transaction<'_, Db>) -> Result<u64> {
    if !DEFERRED_INDEX {
        return Ok(0);
    }
    let (index, _) = fold_range(tx, &INDEX_PENDING, &Vec::<u8>::new(), i64::MAX).await?;
    let (tokens, _) = fold_range(tx, &TOKENS_PENDING, &String::new(), i64::MAX).await?;
    Ok(index + tokens)
}

/// Pending index rows past which an intake batch folds a step, and the rows of each pending
/// table a step folds. Searches, detokenize and each batch's token look-up scan the pending rows:
/// a couple of thousand keeps that short. A step of a hundred keys of each table adds a
/// millisecond or two to the batch it rides in, and no fsync of its own.
const FOLD_AT: i64 = 2048;
const FOLD_STEP: i64 = 128;

/// A fold step inside the batch's own transaction, once enough rows wait; the cursor to keep
/// once the batch commits.
async fn fold_if_due(
    tx: &mut sqlx::Transaction<'_, Db>,
    fold: Option<&Mutex<FoldCursor>>,
) -> Result<Option<FoldCursor>> {
    let Some(m) = fold.filter(|_| DEFERRED_INDEX) else {
        return Ok(None);
    };
    let waiting: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM index_pending) + (SELECT count(*) FROM tokens_pending)",
    )
    .fetch_one(&mut **tx)
    .await?;
    if waiting < FOLD_AT {
        return Ok(None);
    }
    // A step takes at least what brings the pending rows back under the mark: a batch of
    // hundreds of intakes adds more rows than a fixed step folds, and every batch's token
    // look-up scans them (an import of 100,000 subjects left batches at 285 ms).
    let limit = FOLD_STEP + (waiting - FOLD_AT) / 2;
    let mut cursor = m.lock().unwrap_or_else(PoisonError::into_inner).clone();
    fold_step(tx, &mut cursor, limit).await?;
    Ok(Some(cursor))
}

/// A fold step: up to `limit` rows of each pending table, the next keys
/// after `cursor`'s, starting over from the smallest once past the largest. A range of keys
/// lands on a range of index pages: keys that share a page write it once, and the pause is short
/// enough to ride in an intake batch. (On an index much larger than the pending rows that is
/// still about a page per key: see BENCHMARKS.)
async fn fold_step(
    tx: &mut sqlx::Transaction<'_, Db>,
    cursor: &mut FoldCursor,
    limit: i64,
) -> Result<u64> {
    let index = fold_next(tx, &INDEX_PENDING, &mut cursor.mac, limit).await?;
    let tokens = fold_next(tx, &TOKENS_PENDING, &mut cursor.token, limit).await?;
    Ok(index + tokens)
}

/// One table's part of a fold step: the next keys after `cursor`, from the smallest again once
/// none are left after it (`None`: from the smallest).
async fn fold_next<T: Key + Default>(
    tx: &mut sqlx::Transaction<'_, Db>,
    p: &Pending,
    cursor: &mut Option<T>,
    limit: i64,
) -> Result<u64> {
    let mut n = 0;
    for _turn in 0..2 {
        let from_start = cursor.is_none();
        let after = cursor.take().unwrap_or_default();
        let (rows, upto) = fold_range(tx, p, &after, limit).await?;
        n += rows;
        *cursor = upto;
        if cursor.is_some() || from_start {
            break;
        }
    }
    Ok(n)
}

/// The tokens issued to the batch; `false` when one was taken meanwhile.
async fn insert_tokens(
    tx: &mut sqlx::Transaction<'_, Db>,
    batch: &[IntakeWrite],
    new_tokens: &[NewToken],
) -> Result<bool> {
    // In key order, like every other writer (see `insert_new_subjects`).
    let mut new_tokens: Vec<&NewToken> = new_tokens.iter().collect();
    new_tokens.sort_unstable_by(|a, b| a.token.cmp(&b.token));
    for chunk in new_tokens.chunks(ROWS_PER_STATEMENT) {
        let mut qb = sqlx::QueryBuilder::<Db>::new(match DEFERRED_INDEX {
            true => "INSERT INTO tokens_pending (token, value_mac, subject_id, shape, created_at) ",
            false => "INSERT INTO tokens (token, value_mac, subject_id, shape, created_at) ",
        });
        qb.push_values(chunk, |mut b, t| {
            let w = &batch[t.item];
            let v = &w.values[t.value];
            b.push_bind(t.token.as_str())
                .push_bind(&v.value_mac[..])
                .push_bind(w.subject.as_ref().map_or(&[][..], |s| s.id().as_bytes()))
                .push_bind(v.shape.as_str())
                .push_bind(w.at);
        });
        qb.push(" ON CONFLICT DO NOTHING");
        if qb.build().execute(&mut **tx).await?.rows_affected() != chunk.len() as u64 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Multi-row insert of the batch's vault values with their tokens.
async fn insert_values(
    tx: &mut sqlx::Transaction<'_, Db>,
    values: &[(&IntakeWrite, &ValueWrite, &str)],
) -> Result<()> {
    for chunk in values.chunks(ROWS_PER_STATEMENT) {
        let mut qb = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO vault_values (subject_id, value_mac, token, kind, action, category, field, purposes, route, ciphertext, collected_at, sealing) ",
        );
        qb.push_values(chunk, |mut b, (w, v, token)| {
            b.push_bind(w.subject.as_ref().map_or(&[][..], |s| s.id().as_bytes()))
                .push_bind(&v.value_mac[..])
                .push_bind(*token)
                .push_bind(v.kind.as_str())
                .push_bind(v.action.as_str())
                .push_bind(v.category.as_deref())
                .push_bind(v.field.as_str())
                .push_bind(v.purposes.as_str())
                .push_bind(w.route.as_str())
                .push_bind(v.ciphertext.as_slice())
                .push_bind(w.at)
                .push_bind(Sealing::Category.as_i64());
        });
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Multi-row insert of consent records.
pub(super) async fn insert_consents(
    tx: &mut sqlx::Transaction<'_, Db>,
    consents: &[&ConsentRecord],
) -> Result<()> {
    for chunk in consents.chunks(ROWS_PER_STATEMENT) {
        let mut qb = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO consent_records (receipt_id, subject_id, purpose, text_id, text_version, text_sha256, regimes, method, route, at, \
             ip_hash, ua_hash, origin, state, channel, details) ",
        );
        qb.push_values(chunk, |mut b, c| {
            b.push_bind(c.receipt_id.as_str())
                .push_bind(c.subject_id.as_bytes())
                .push_bind(c.purpose.as_str())
                .push_bind(c.text_id.as_str())
                .push_bind(c.text_version)
                .push_bind(c.text_sha256.as_str())
                .push_bind(c.regimes.as_str())
                .push_bind(c.method.as_str())
                .push_bind(c.route.as_str())
                .push_bind(c.at)
                .push_bind(c.ip_hash.as_deref())
                .push_bind(c.ua_hash.as_deref())
                .push_bind(c.origin.as_deref())
                .push_bind(c.state.as_str())
                .push_bind(c.channel.as_deref())
                .push_bind(c.details.as_deref());
        });
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Multi-row insert of audit rows already appended to the chain.
pub(super) async fn insert_audit(
    tx: &mut sqlx::Transaction<'_, Db>,
    rows: &[AuditRow],
) -> Result<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut qb = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO audit_log (writer, seq, at, kind, entry, prev_hash, hash) ",
        );
        qb.push_values(chunk, |mut b, r| {
            b.push_bind(r.writer.as_str())
                .push_bind(r.seq)
                .push_bind(r.at)
                .push_bind(r.kind.as_str())
                .push_bind(r.entry.as_str())
                .push_bind(r.prev_hash.as_slice())
                .push_bind(r.hash.as_slice());
        });
        qb.build().execute(&mut **tx).await?;
    }
    // The latest checkpoint of each chain, which a new chain commits to (`signed_heads`).
    for r in rows.iter().filter(|r| r.kind == "checkpoint") {
        sqlx::query(
            "INSERT INTO chain_heads (writer, seq, hash, at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (writer) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = excluded.at \
             WHERE chain_heads.seq < excluded.seq",
        )
        .bind(r.writer.as_str())
        .bind(r.seq)
        .bind(r.hash.as_slice())
        .bind(r.at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// `SELECT … WHERE x IN (…) <tail>` over `items`, chunked (`push_in_list`); no query for
/// an empty list.
pub(super) async fn select_in<'a, T>(
    conn: &mut <Db as sqlx::Database>::Connection,
    head: &str,
    tail: &str,
    items: &'a [T],
) -> Result<Vec<<Db as sqlx::Database>::Row>>
where
    T: sqlx::Encode<'a, Db> + sqlx::Type<Db> + Copy + Send + Sync + 'a,
{
    let mut out = Vec::new();
    for chunk in items.chunks(IN_LIST_MAX) {
        let mut qb = sqlx::QueryBuilder::<'a, Db>::new(head);
        push_in_list(&mut qb, chunk);
        qb.push(tail);
        out.extend(qb.build().fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

/// `(a, b, …)` with `chunk` bound, padded (repeating its first item) to a power of two,
/// so a handful of statement shapes cover every list length and stay in the
/// prepared-statement cache.
pub(super) fn push_in_list<'a, T>(qb: &mut sqlx::QueryBuilder<'a, Db>, chunk: &'a [T])
where
    T: sqlx::Encode<'a, Db> + sqlx::Type<Db> + Copy + Send + Sync + 'a,
{
    let pad = chunk.len().next_power_of_two() - chunk.len();
    qb.push("(");
    let mut sep = qb.separated(", ");
    for item in chunk.iter().chain(std::iter::repeat_n(&chunk[0], pad)) {
        sep.push_bind(*item);
    }
    qb.push(")");
}

/// Per-route intake and drop counters for the committed intakes of a batch.
async fn bump_counters(
    tx: &mut sqlx::Transaction<'_, Db>,
    batch: &[IntakeWrite],
    outcomes: &[IntakeOutcome],
) -> Result<()> {
    let mut counts: std::collections::BTreeMap<&str, (i64, i64)> =
        std::collections::BTreeMap::new();
    for (w, o) in batch.iter().zip(outcomes) {
        if matches!(o, IntakeOutcome::Committed(_)) && !w.route.is_empty() {
            let e = counts.entry(w.route.as_str()).or_default();
            e.0 += 1;
            e.1 += i64::from(w.dropped_fields);
        }
    }
    for (route, (intakes, dropped)) in counts {
        for (name, n) in [("intakes", intakes), ("dropped_fields", dropped)] {
            sqlx::query(
                "INSERT INTO route_counters (route, name, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (route, name) DO UPDATE SET value = route_counters.value + excluded.value",
            )
            .bind(route)
            .bind(name)
            .bind(n)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// Intake by intake, a savepoint each: the path for batches another replica raced with.
async fn slow_batch(
    pool: &sqlx::Pool<Db>,
    batch: &[IntakeWrite],
    chain: &mut Chain,
) -> Result<Vec<IntakeOutcome>> {
    let mut tx = pool.begin_with(<Db as WriteTx>::BEGIN).await?;
    // Intake by intake, tokens are looked up and taken in `tokens` alone.
    fold_index(&mut tx).await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for w in batch {
        sqlx::query("SAVEPOINT intake").execute(&mut *tx).await?;
        let before = chain.clone();
        let outcome = write_one(&mut tx, w, chain).await?;
        if matches!(outcome, IntakeOutcome::Committed(_)) {
            sqlx::query("RELEASE SAVEPOINT intake")
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("ROLLBACK TO SAVEPOINT intake")
                .execute(&mut *tx)
                .await?;
            sqlx::query("RELEASE SAVEPOINT intake")
                .execute(&mut *tx)
                .await?;
            *chain = before;
        }
        outcomes.push(outcome);
    }
    bump_counters(&mut tx, batch, &outcomes).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// The token of one value: the candidate that already stands for it, else the first free
/// one, claimed. Another replica may claim a candidate between the look-up and the insert;
/// the candidate is then read again, so both end on the same token for the same value.
async fn token_for(
    tx: &mut sqlx::Transaction<'_, Db>,
    w: &IntakeWrite,
    sid: &[u8],
    v: &ValueWrite,
) -> Result<Option<Token>> {
    if v.candidates.is_empty() {
        // A collection without a token (`encrypt`, `hash`, `pass`).
        return Ok(Some(Token::from(String::new())));
    }
    let candidates: Vec<&str> = v.candidates.iter().map(Token::as_str).collect();
    let taken = stored_tokens(tx, &candidates).await?;
    if let Some(t) = v.candidates.iter().find(|c| {
        taken
            .get(c.as_str())
            .is_some_and(|m| m[..] == v.value_mac[..])
    }) {
        return Ok(Some(t.clone()));
    }
    for cand in v
        .candidates
        .iter()
        .filter(|c| !taken.contains_key(c.as_str()))
    {
        let done = sqlx::query(
            "INSERT INTO tokens (token, value_mac, subject_id, shape, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(cand.as_str())
        .bind(&v.value_mac[..])
        .bind(sid)
        .bind(&v.shape)
        .bind(w.at)
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(Some(cand.clone()));
        }
        let now = stored_tokens(tx, &[cand.as_str()]).await?;
        if now
            .get(cand.as_str())
            .is_some_and(|m| m[..] == v.value_mac[..])
        {
            return Ok(Some(cand.clone()));
        }
    }
    Ok(None)
}

/// One intake inside the batch's savepoint.
async fn write_one(
    tx: &mut sqlx::Transaction<'_, Db>,
    w: &IntakeWrite,
    chain: &mut Chain,
) -> Result<IntakeOutcome> {
    use crate::Committed;
    let mut tokens = Vec::with_capacity(w.values.len());
    if let Some(subject) = &w.subject {
        let sid = subject.id();
        if !write_subject(tx, w, subject).await? {
            return Ok(IntakeOutcome::SubjectRace);
        }
        for mac in &w.index {
            add_index_entry(tx, sid, mac).await?;
        }
        for v in &w.values {
            let Some(token) = token_for(tx, w, sid, v).await? else {
                return Ok(IntakeOutcome::TokenSpaceExhausted);
            };
            tokens.push(token);
        }
        let values: Vec<_> = w
            .values
            .iter()
            .zip(&tokens)
            .map(|(v, t)| (w, v, t.as_str()))
            .collect();
        insert_values(tx, &values).await?;
    }
    let consents: Vec<&ConsentRecord> = w.consents.iter().collect();
    insert_consents(tx, &consents).await?;
    let rows: Vec<AuditRow> = w.audit.iter().map(|e| chain.append(w.at, e)).collect();
    insert_audit(tx, &rows).await?;
    Ok(IntakeOutcome::Committed(Committed { tokens }))
}

/// An intake's subject: inserted with its key, or marked active again; `false` when
/// another intake created the key first or the subject is gone.
async fn write_subject(
    tx: &mut sqlx::Transaction<'_, Db>,
    w: &IntakeWrite,
    subject: &SubjectWrite,
) -> Result<bool> {
    match subject {
        SubjectWrite::New {
            id,
            key,
            wrapped_dek,
            kek_version,
        } => {
            sqlx::query(
                "INSERT INTO subjects (id, wrapped_dek, kek_version, created_at, last_activity_at, key_mac, key_scheme) VALUES ($1, $2, $3, $4, $4, $5, 2)",
            )
            .bind(id.as_bytes())
            .bind(wrapped_dek)
            .bind(kek_version)
            .bind(w.at)
            .bind(key.as_ref().map(|k| &k[..]))
            .execute(&mut **tx)
            .await?;
            let Some(key) = key else {
                return Ok(true);
            };
            let done = sqlx::query(&format!(
                "INSERT INTO subject_keys (mac, subject_id) VALUES ($1, $2){STALE_KEY_UPSERT}"
            ))
            .bind(&key[..])
            .bind(id.as_bytes())
            .execute(&mut **tx)
            .await?;
            Ok(done.rows_affected() != 0)
        }
        SubjectWrite::Existing { id } => {
            let done = sqlx::query(
                "UPDATE subjects SET last_activity_at = $1, revision = revision + 1 WHERE id = $2",
            )
            .bind(w.at)
            .bind(id.as_bytes())
            .execute(&mut **tx)
            .await?;
            Ok(done.rows_affected() != 0)
        }
    }
}
