//! The SQL of [`Rights`](crate::rights::Rights), compiled for each backend like `vault.rs`
//! (whose helpers — `select_in`, `push_in_list`, `insert_consents`, `insert_audit` — it uses).

use sqlx::Row;

use super::oversight::apply_oversight;
use super::vault::{
    add_index_entry, consent_record, delete_by_subject, fold_index, insert_audit, insert_consents,
    pend_subjects, purge_subjects, push_in_list, remove_index_entry, select_in, subject_id,
    tokens_of_values, tombstone_orphans, unindex_subjects, vault_value, IN_LIST_MAX,
    ROWS_PER_STATEMENT, STALE_KEY_UPSERT,
};
use super::{zero_deletes, Db, Store, BY_SUBJECT_INDEXES, SKIP_LOCKED};
use crate::audit::{AuditRow, Chain};
use crate::crypto::HeldKey;
use crate::policy::duration::IsoDuration;
use crate::rights::{
    act_text, Attempt, Change, Erase, KeyState, LinkRow, LogLine, OutboxRow, PurgeKey,
    PurgeProgress, PurgeStep, PurgeTable, Rectify, Regimes, RequestRow, RequestStatus, RequestType,
    Rights, SweepRow, SweepStatus, SweepSubject,
};
use crate::{
    now_millis, stored, ConsentRecord, Millis, Result, StoreError, SubjectId, SubjectRow,
    SubjectState, Token, VaultValue, WriteTx,
};

impl Rights for Store {
    async fn apply_change<'a>(&'a self, change: &'a Change, chain: &'a mut Chain) -> Result<i64> {
        let snapshot = chain.clone();
        let r = apply(self.writer(), change, chain).await;
        if r.is_err() {
            *chain = snapshot;
        }
        if !change.erase.is_empty() {
            self.after_erasing(r.is_ok()).await;
        }
        r
    }

    async fn request(&self, id: &str) -> Result<Option<RequestRow>> {
        let row = sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM dsr_requests WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(request_row).transpose()
    }

    async fn requests(
        &self,
        status: Option<&str>,
        overdue_at: Option<Millis>,
        limit: i64,
    ) -> Result<Vec<RequestRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM dsr_requests WHERE ($1 IS NULL OR status = $1) \
             AND ($2 IS NULL OR (status = 'open' AND due_at < $2)) ORDER BY received_at DESC, id LIMIT $3"
        ))
        .bind(status)
        .bind(overdue_at)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(request_row).collect()
    }

    async fn requests_by_lookup(&self, mac: &[u8], since: Millis) -> Result<Vec<RequestRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM dsr_requests WHERE lookup_mac = $1 AND received_at >= $2 ORDER BY received_at, id"
        ))
        .bind(mac)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(request_row).collect()
    }

    async fn outbox_of(&self, request_id: &str) -> Result<Vec<OutboxRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE request_id = $1 ORDER BY id"
        ))
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_row).collect()
    }

    async fn outbox_claim_due(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: i64,
    ) -> Result<Vec<OutboxRow>> {
        // Through the writer's connection: on SQLite, writes queue there instead of in
        // the busy handler.
        let mut rows = sqlx::query(&format!(
            "UPDATE outbox SET next_attempt_at = $1 WHERE id IN (SELECT id FROM outbox WHERE delivered_at IS NULL \
             AND next_attempt_at <= $2 ORDER BY next_attempt_at, id LIMIT $3{SKIP_LOCKED}) RETURNING {OUTBOX_COLUMNS}"
        ))
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(self.writer())
        .await?
        .iter()
        .map(outbox_row)
        .collect::<Result<Vec<_>>>()?;
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    async fn outbox_attempted(&self, attempts: &[Attempt]) -> Result<()> {
        if attempts.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer().begin_with(<Db as WriteTx>::BEGIN).await?;
        for a in attempts {
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, delivered_at = $1, next_attempt_at = $2, last_status = $3, last_error = $4 WHERE id = $5",
            )
            .bind(a.delivered_at)
            .bind(a.next_attempt_at)
            .bind(a.status)
            .bind(a.error.as_deref())
            .bind(a.id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn acts_of(&self, request_id: &str) -> Result<Vec<String>> {
        let rows =
            sqlx::query("SELECT act FROM destruction_acts WHERE request_id = $1 ORDER BY at, id")
                .bind(request_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(Into::into))
            .collect()
    }

    async fn acts_of_sweep(
        &self,
        sweep_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT id, act FROM destruction_acts WHERE sweep_id = $1 AND id > $2 ORDER BY id LIMIT $3")
            .bind(sweep_id)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    async fn subjects_page(&self, after: &[u8], limit: i64) -> Result<Vec<SweepSubject>> {
        let rows = sqlx::query(
            "SELECT id, wrapped_dek, kek_version, restricted_at, last_activity_at, created_at, erase_after, revision FROM subjects \
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SweepSubject {
                    state: SubjectState {
                        row: SubjectRow {
                            id: subject_id(r, 0)?,
                            wrapped_dek: r.try_get(1)?,
                            kek_version: r.try_get(2)?,
                        },
                        restricted_at: r.try_get(3)?,
                        last_activity_at: r.try_get(4)?,
                    },
                    created_at: r.try_get(5)?,
                    erase_after: r.try_get(6)?,
                    revision: r.try_get(7)?,
                })
            })
            .collect()
    }

    async fn subject_revisions(&self, ids: &[&[u8]]) -> Result<Vec<(SubjectId, i64)>> {
        let mut conn = self.pool.acquire().await?;
        let rows = select_in(&mut conn, REVISIONS, "", ids).await?;
        rows.iter()
            .map(|r| Ok((subject_id(r, 0)?, r.try_get(1)?)))
            .collect()
    }

    async fn values_of_subjects(&self, ids: &[&[u8]]) -> Result<Vec<VaultValue>> {
        let mut conn = self.pool.acquire().await?;
        let rows = select_in(
            &mut conn,
            "SELECT subject_id, token, kind, action, category, field, purposes, route, ciphertext, collected_at, id, sealing FROM vault_values WHERE subject_id IN ",
            " ORDER BY id",
            ids,
        )
        .await?;
        rows.iter().map(vault_value).collect()
    }

    async fn withdrawn_since(&self, since: Millis, limit: i64) -> Result<Vec<SubjectId>> {
        // A scan of the ledger: a DPO's page, not a request path.
        let rows = sqlx::query(
            "SELECT DISTINCT subject_id FROM consent_records WHERE state IN ('withdrawn', 'objected') AND at >= $1 \
             ORDER BY subject_id LIMIT $2",
        )
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| subject_id(r, 0)).collect()
    }

    async fn key_states(&self, ids: &[&[u8]]) -> Result<Vec<KeyState>> {
        let mut conn = self.pool.acquire().await?;
        let subjects = select_in(
            &mut conn,
            "SELECT id, key_scheme FROM subjects WHERE id IN ",
            " ORDER BY id",
            ids,
        )
        .await?;
        let held = select_in(
            &mut conn,
            "SELECT subject_id, category, wrapped_key, until, kek_version FROM held_keys WHERE subject_id IN ",
            " ORDER BY subject_id, category",
            ids,
        )
        .await?;
        let mut out = Vec::with_capacity(subjects.len());
        for r in &subjects {
            let id = subject_id(r, 0)?;
            let mut state = KeyState {
                seals_data: r.try_get::<i64, _>(1)? == 1,
                held: Vec::new(),
                subject_id: id,
            };
            for h in &held {
                if subject_id(h, 0)? == state.subject_id {
                    let category: String = h.try_get(1)?;
                    state.held.push(HeldKey {
                        category: (!category.is_empty()).then_some(category),
                        wrapped: h.try_get(2)?,
                        until: h.try_get(3)?,
                        kek_version: h.try_get(4)?,
                    });
                }
            }
            out.push(state);
        }
        Ok(out)
    }

    async fn consents_of_subjects(&self, ids: &[&[u8]]) -> Result<Vec<ConsentRecord>> {
        let mut conn = self.pool.acquire().await?;
        let rows = select_in(
            &mut conn,
            "SELECT receipt_id, subject_id, purpose, text_id, text_version, text_sha256, regimes, method, route, at, \
             ip_hash, ua_hash, origin, state, channel, details FROM consent_records WHERE subject_id IN ",
            " ORDER BY seq",
            ids,
        )
        .await?;
        rows.iter().map(consent_record).collect()
    }

    async fn link(&self, id: &str) -> Result<Option<LinkRow>> {
        let row = sqlx::query(
            "SELECT id, subject_id, created_at, created_by, expires_at, revoked_at, revoked_by FROM subject_links WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(LinkRow {
                id: r.try_get(0)?,
                subject_id: subject_id(&r, 1)?,
                created_at: r.try_get(2)?,
                created_by: r.try_get(3)?,
                expires_at: r.try_get(4)?,
                revoked_at: r.try_get(5)?,
                revoked_by: r.try_get(6)?,
            })
        })
        .transpose()
    }

    async fn sweeps(
        &self,
        id: Option<&str>,
        after: Option<&str>,
        limit: i64,
        finished_only: bool,
    ) -> Result<Vec<SweepRow>> {
        // By start: a running sweep's row is rewritten as it goes, its start stays.
        let rows = sqlx::query(
            "SELECT id, started_at, finished_at, subjects_erased, values_erased, subjects_restricted, acts_expired, status FROM sweeps \
             WHERE ($1 IS NULL OR id = $1) AND ($4 = FALSE OR status = 'finished') \
             AND ($2 IS NULL OR (started_at, id) < (SELECT started_at, id FROM sweeps WHERE id = $2)) \
             ORDER BY started_at DESC, id DESC LIMIT $3",
        )
        .bind(id)
        .bind(after)
        .bind(limit)
        .bind(finished_only)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SweepRow {
                    id: r.try_get(0)?,
                    started_at: r.try_get(1)?,
                    finished_at: r.try_get(2)?,
                    subjects_erased: r.try_get(3)?,
                    values_erased: r.try_get(4)?,
                    subjects_restricted: r.try_get(5)?,
                    acts_expired: r.try_get(6)?,
                    status: SweepStatus::parse(r.try_get(7)?),
                })
            })
            .collect()
    }

    async fn purge_step<'a>(&'a self, step: &'a PurgeStep, at: Millis) -> Result<PurgeProgress> {
        let r = purge(self.writer(), step, at).await;
        self.after_erasing(r.as_ref().is_ok_and(|p| p.done)).await;
        r
    }

    async fn purge_pending(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM purge_pending")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }
}

/// The subjects of `erase` whose revision is not the one their erasure was planned on, or
/// that are gone.
async fn moved_subjects(
    tx: &mut sqlx::Transaction<'_, Db>,
    erase: &[Erase],
) -> Result<Vec<SubjectId>> {
    if erase.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&[u8]> = erase.iter().map(|e| e.subject_id.as_bytes()).collect();
    let mut now: std::collections::HashMap<SubjectId, i64> =
        std::collections::HashMap::with_capacity(ids.len());
    for r in select_in(tx, REVISIONS, "", &ids).await? {
        now.insert(subject_id(&r, 0)?, r.try_get(1)?);
    }
    Ok(erase
        .iter()
        .filter(|e| now.get(&e.subject_id) != Some(&e.revision))
        .map(|e| e.subject_id.clone())
        .collect())
}

/// One step of the purge along `table`'s primary key: deletes (for tokens: tombstones) up to
/// `rows` entries after `after` that belong to pending subjects.
async fn purge_range(
    tx: &mut sqlx::Transaction<'_, Db>,
    table: PurgeTable,
    after: Option<&PurgeKey>,
    rows: i64,
    at: Millis,
) -> Result<PurgeProgress> {
    // The primary key, as columns and as one (row) value.
    let (name, cols, key) = match table {
        PurgeTable::Tokens => ("tokens", "token", "token"),
        PurgeTable::SubjectIndex => ("subject_index", "mac, subject_id", "(mac, subject_id)"),
        PurgeTable::SubjectKeys => ("subject_keys", "mac", "mac"),
    };
    fn bind_key<'k>(qb: &mut sqlx::QueryBuilder<'k, Db>, k: &'k PurgeKey) {
        match k {
            PurgeKey::Token(t) => {
                qb.push_bind(t.as_str());
            }
            PurgeKey::Mac(m) => {
                qb.push_bind(m.as_slice());
            }
            PurgeKey::Entry(m, s) => {
                qb.push("(")
                    .push_bind(m.as_slice())
                    .push(", ")
                    .push_bind(s.as_bytes())
                    .push(")");
            }
        }
    }
    // Where this step ends: `rows` entries on, read along the primary key.
    let mut qb = sqlx::QueryBuilder::<Db>::new(format!("SELECT {cols} FROM {name}"));
    if let Some(a) = after {
        qb.push(format!(" WHERE {key} > "));
        bind_key(&mut qb, a);
    }
    qb.push(format!(" ORDER BY {cols} LIMIT 1 OFFSET "));
    qb.push_bind(rows.max(1) - 1);
    let upper = match qb.build().fetch_optional(&mut **tx).await? {
        None => None,
        Some(r) => Some(match table {
            PurgeTable::Tokens => PurgeKey::Token(Token::from(r.try_get::<String, _>(0)?)),
            PurgeTable::SubjectIndex => PurgeKey::Entry(r.try_get(0)?, subject_id(&r, 1)?),
            PurgeTable::SubjectKeys => PurgeKey::Mac(r.try_get(0)?),
        }),
    };
    let mut qb = match table {
        PurgeTable::Tokens => {
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "UPDATE tokens SET subject_id = NULL, value_mac = NULL, erased_at = ",
            );
            qb.push_bind(at);
            qb.push(" WHERE subject_id IS NOT NULL");
            qb
        }
        _ => sqlx::QueryBuilder::<Db>::new(format!("DELETE FROM {name} WHERE true")),
    };
    if let Some(a) = after {
        qb.push(format!(" AND {key} > "));
        bind_key(&mut qb, a);
    }
    if let Some(u) = &upper {
        qb.push(format!(" AND {key} <= "));
        bind_key(&mut qb, u);
    }
    // A scalar subquery, not `IN`: the planner keeps walking the primary key
    // range and probes the pending list per entry, instead of starting from
    // the pending list and visiting the table at random.
    qb.push(format!(
        " AND (SELECT 1 FROM purge_pending p WHERE p.subject_id = {name}.subject_id) = 1"
    ));
    let purged = qb.build().execute(&mut **tx).await?.rows_affected();
    Ok(PurgeProgress {
        purged,
        done: upper.is_none(),
        next: upper,
    })
}

/// The first `limit` pending subjects, in id order.
async fn first_pending(tx: &mut sqlx::Transaction<'_, Db>, limit: i64) -> Result<Vec<Vec<u8>>> {
    Ok(
        sqlx::query_scalar("SELECT subject_id FROM purge_pending ORDER BY subject_id LIMIT $1")
            .bind(limit)
            .fetch_all(&mut **tx)
            .await?,
    )
}

/// Subjects' revisions, `IN` a list (see `Erase::revision`).
const REVISIONS: &str = "SELECT id, revision FROM subjects WHERE id IN ";

const REQUEST_COLUMNS: &str = "id, type, regime, lookup_mac, lookup_kind, status, received_at, due_at, original_due_at, extension_reason, \
    extended_at, fulfilled_at, repeat_of, note, created_by, fulfilled_by, result, purposes, extension_notice_sent_at, extension_notice_sent_by";
const OUTBOX_COLUMNS: &str = "id, event_id, request_id, upstream, url, event, payload, created_at, attempts, next_attempt_at, \
    delivered_at, last_status, last_error";

fn request_row(r: &<Db as sqlx::Database>::Row) -> Result<RequestRow> {
    Ok(RequestRow {
        id: r.try_get(0)?,
        kind: stored(r.try_get(1)?, RequestType::parse, "request type")?,
        regime: stored(r.try_get(2)?, Regimes::parse, "request regime")?,
        lookup_mac: r.try_get(3)?,
        lookup_kind: r.try_get(4)?,
        status: stored(r.try_get(5)?, RequestStatus::parse, "request status")?,
        received_at: r.try_get(6)?,
        due_at: r.try_get(7)?,
        original_due_at: r.try_get(8)?,
        extension_reason: r.try_get(9)?,
        extended_at: r.try_get(10)?,
        fulfilled_at: r.try_get(11)?,
        repeat_of: r.try_get(12)?,
        note: r.try_get(13)?,
        created_by: r.try_get(14)?,
        fulfilled_by: r.try_get(15)?,
        result: r.try_get(16)?,
        purposes: r
            .try_get::<Option<String>, _>(17)?
            .map(|s| stored(s, |t| serde_json::from_str(t).ok(), "request purposes"))
            .transpose()?,
        notice_sent_at: r.try_get(18)?,
        notice_sent_by: r.try_get(19)?,
    })
}

fn outbox_row(r: &<Db as sqlx::Database>::Row) -> Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.try_get(0)?,
        event_id: r.try_get(1)?,
        request_id: r.try_get(2)?,
        upstream: r.try_get(3)?,
        url: r.try_get(4)?,
        event: r.try_get(5)?,
        payload: r.try_get(6)?,
        created_at: r.try_get(7)?,
        attempts: r.try_get(8)?,
        next_attempt_at: r.try_get(9)?,
        delivered_at: r.try_get(10)?,
        last_status: r.try_get(11)?,
        last_error: r.try_get(12)?,
    })
}

/// The body of `apply_change`, inside one transaction.
async fn apply(pool: &sqlx::Pool<Db>, change: &Change, chain: &mut Chain) -> Result<i64> {
    let at = change.at;
    let mut tx = pool.begin_with(<Db as WriteTx>::BEGIN).await?;
    if !change.erase.is_empty() {
        zero_deletes(&mut *tx, true).await?;
    }
    fold_index(&mut tx).await?;
    upsert_requests(&mut tx, &change.requests).await?;
    for r in &change.restrict {
        sqlx::query("UPDATE subjects SET restricted_at = $1 WHERE id = $2")
            .bind(r.since)
            .bind(r.subject_id.as_bytes())
            .execute(&mut *tx)
            .await?;
    }
    let consents: Vec<&ConsentRecord> = change.consents.iter().collect();
    insert_consents(&mut tx, &consents).await?;
    rectify(&mut tx, change).await?;
    reindex(&mut tx, change).await?;
    // Erasure: whole subjects in set-based statements (tokens become tombstones, key and
    // index rows go, now or in the purge after a sweep; the cascade from `subjects` takes
    // the wrapped key, ciphertext and consent records); partial ones (held categories,
    // single values) one by one.
    let moved = moved_subjects(&mut tx, &change.erase).await?;
    if !moved.is_empty() {
        return Err(StoreError::SubjectsMoved(moved));
    }
    erase_whole(&mut tx, change).await?;
    for e in change
        .erase
        .iter()
        .filter(|e| !e.keep_categories.is_empty() || e.values.is_some())
    {
        erase_part(&mut tx, e, at).await?;
    }
    audit_and_acts(&mut tx, change, chain).await?;
    insert_outbox(&mut tx, change).await?;
    let mut expired = 0;
    if let Some(before) = change.expire_acts_before {
        let done = sqlx::query("DELETE FROM destruction_acts WHERE keep_until < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        expired = done.rows_affected() as i64;
    }
    apply_oversight(&mut tx, change).await?;
    if change.interrupt_sweeps {
        sqlx::query("UPDATE sweeps SET status = 'interrupted' WHERE status = 'running'")
            .execute(&mut *tx)
            .await?;
    }
    upsert_sweep(&mut tx, change).await?;
    tx.commit().await?;
    Ok(expired)
}

/// The body of `purge_step`, inside one transaction that zeroes what it deletes.
async fn purge(pool: &sqlx::Pool<Db>, step: &PurgeStep, at: Millis) -> Result<PurgeProgress> {
    let mut tx = pool.begin_with(<Db as WriteTx>::BEGIN).await?;
    zero_deletes(&mut *tx, true).await?;
    fold_index(&mut tx).await?;
    let progress = match step {
        PurgeStep::Subjects { limit } => {
            let ids = first_pending(&mut tx, *limit).await?;
            let refs: Vec<&[u8]> = ids.iter().map(Vec::as_slice).collect();
            purge_subjects(&mut tx, &refs, at).await?;
            PurgeProgress {
                purged: ids.len() as u64,
                next: None,
                done: (ids.len() as i64) < *limit,
            }
        }
        PurgeStep::Range { table, after, rows } => {
            purge_range(&mut tx, *table, after.as_ref(), *rows, at).await?
        }
        PurgeStep::Finish { limit } => {
            // Every table has been walked: what is left of the first `limit` pending
            // subjects is their list of search-index MACs, in subject order.
            let ids = first_pending(&mut tx, *limit).await?;
            let refs: Vec<&[u8]> = ids.iter().map(Vec::as_slice).collect();
            for chunk in refs.chunks(IN_LIST_MAX) {
                delete_by_subject(&mut tx, &["subject_macs", "purge_pending"], chunk).await?;
            }
            PurgeProgress {
                purged: 0,
                next: None,
                done: (ids.len() as i64) < *limit,
            }
        }
    };
    tx.commit().await?;
    Ok(progress)
}

/// New requests, and the new state of changed ones.
async fn upsert_requests(
    tx: &mut sqlx::Transaction<'_, Db>,
    requests: &[RequestRow],
) -> Result<()> {
    for r in requests {
        sqlx::query(&format!(
            "INSERT INTO dsr_requests ({REQUEST_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) \
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, due_at = excluded.due_at, extension_reason = excluded.extension_reason, \
             extended_at = excluded.extended_at, fulfilled_at = excluded.fulfilled_at, fulfilled_by = excluded.fulfilled_by, result = excluded.result, \
             extension_notice_sent_at = excluded.extension_notice_sent_at, extension_notice_sent_by = excluded.extension_notice_sent_by"
        ))
        .bind(&r.id)
        .bind(r.kind.as_str())
        .bind(r.regime.as_str())
        .bind(&r.lookup_mac)
        .bind(&r.lookup_kind)
        .bind(r.status.as_str())
        .bind(r.received_at)
        .bind(r.due_at)
        .bind(r.original_due_at)
        .bind(&r.extension_reason)
        .bind(r.extended_at)
        .bind(r.fulfilled_at)
        .bind(&r.repeat_of)
        .bind(&r.note)
        .bind(&r.created_by)
        .bind(&r.fulfilled_by)
        .bind(&r.result)
        .bind(r.purposes.as_ref().map(|p| serde_json::Value::from(p.clone()).to_string()))
        .bind(r.notice_sent_at)
        .bind(&r.notice_sent_by)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Corrected values re-encrypted in place, their tokens following them.
async fn rectify(tx: &mut sqlx::Transaction<'_, Db>, change: &Change) -> Result<()> {
    for Rectify {
        value_id: id,
        ciphertext,
        value_mac: mac,
    } in &change.rectify
    {
        // The token keeps pointing at the corrected value (the CRM is told which token
        // changed) and no longer stands for the old one. A later intake of the corrected
        // value finds its own candidate tokens, not this one: it may get a new token.
        sqlx::query("UPDATE tokens SET value_mac = $1 WHERE token = (SELECT token FROM vault_values WHERE id = $2)")
            .bind(&mac[..])
            .bind(*id)
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "UPDATE vault_values SET ciphertext = $1, value_mac = $2, sealing = 2 WHERE id = $3",
        )
        .bind(ciphertext.as_slice())
        .bind(&mac[..])
        .bind(*id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Subject keys and search-index entries following corrected e-mails and phones.
async fn reindex(tx: &mut sqlx::Transaction<'_, Db>, change: &Change) -> Result<()> {
    for r in &change.reindex {
        let sid = r.subject_id.as_bytes();
        for (old, new) in &r.key_moves {
            let moved = sqlx::query("DELETE FROM subject_keys WHERE mac = $1 AND subject_id = $2")
                .bind(&old[..])
                .bind(sid)
                .execute(&mut **tx)
                .await?;
            if moved.rows_affected() == 0 {
                continue;
            }
            // Another subject holding the new value as its key keeps it; this one then
            // has none, and a later intake of that value goes to the other.
            let took = sqlx::query(&format!(
                "INSERT INTO subject_keys (mac, subject_id) VALUES ($1, $2){STALE_KEY_UPSERT}"
            ))
            .bind(&new[..])
            .bind(sid)
            .execute(&mut **tx)
            .await?;
            sqlx::query("UPDATE subjects SET key_mac = $1 WHERE id = $2")
                .bind((took.rows_affected() > 0).then_some(&new[..]))
                .bind(sid)
                .execute(&mut **tx)
                .await?;
        }
        for mac in &r.removed {
            remove_index_entry(tx, sid, mac).await?;
        }
        for mac in &r.added {
            add_index_entry(tx, sid, mac).await?;
        }
    }
    Ok(())
}

/// Whole subjects erased in set-based statements.
async fn erase_whole(tx: &mut sqlx::Transaction<'_, Db>, change: &Change) -> Result<()> {
    let at = change.at;
    let full: Vec<&Erase> = change
        .erase
        .iter()
        .filter(|e| e.keep_categories.is_empty() && e.values.is_none())
        .collect();
    let full_ids: Vec<&[u8]> = full.iter().map(|e| e.subject_id.as_bytes()).collect();
    for chunk in full_ids.chunks(IN_LIST_MAX) {
        // A backend that keeps indexes by subject purges at once (see `if_orphans`).
        if change.defer_purge && !BY_SUBJECT_INDEXES {
            pend_subjects(tx, chunk, at).await?;
        } else {
            unindex_subjects(tx, chunk, at).await?;
        }
        let mut qb = sqlx::QueryBuilder::<Db>::new("DELETE FROM subjects WHERE id IN ");
        push_in_list(&mut qb, chunk);
        qb.build().execute(&mut **tx).await?;
        let mut qb = sqlx::QueryBuilder::<Db>::new("INSERT INTO erased_subjects (id, erased_at) ");
        qb.push_values(chunk, |mut b, id| {
            b.push_bind(*id).push_bind(at);
        });
        qb.push(" ON CONFLICT (id) DO NOTHING");
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Part of a subject erased: single values, or all but the categories a hold keeps.
async fn erase_part(tx: &mut sqlx::Transaction<'_, Db>, e: &Erase, at: Millis) -> Result<()> {
    let sid = e.subject_id.as_bytes();
    if let Some(ids) = &e.values {
        let tokens = tokens_of_values(tx, sid, Some(ids)).await?;
        for chunk in ids.chunks(IN_LIST_MAX) {
            let mut qb =
                sqlx::QueryBuilder::<Db>::new("DELETE FROM vault_values WHERE subject_id = ");
            qb.push_bind(sid);
            qb.push(" AND id IN ");
            push_in_list(&mut qb, chunk);
            qb.build().execute(&mut **tx).await?;
        }
        let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
        tombstone_orphans(tx, &tokens, sid, at).await?;
        return Ok(());
    }
    let tokens = tokens_of_values(tx, sid, None).await?;
    let kept: Vec<&str> = e.keep_categories.iter().map(String::as_str).collect();
    let mut qb = sqlx::QueryBuilder::<Db>::new("DELETE FROM vault_values WHERE subject_id = ");
    qb.push_bind(sid);
    qb.push(" AND (category IS NULL OR category NOT IN ");
    push_in_list(&mut qb, &kept);
    qb.push(")");
    qb.build().execute(&mut **tx).await?;
    let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
    tombstone_orphans(tx, &tokens, sid, at).await?;
    // The consent records stay (what was agreed, when, to which text), but not the hashes of
    // the address and browser they were given from: those identify the person, and what the
    // hold keeps does not rest on consent.
    sqlx::query("UPDATE consent_records SET ip_hash = NULL, ua_hash = NULL WHERE subject_id = $1")
        .bind(sid)
        .execute(&mut **tx)
        .await?;
    // Not findable for new intakes any more (a new post starts a new subject); the
    // search index stays so an access request still finds what the hold keeps.
    sqlx::query("DELETE FROM subject_keys WHERE mac = (SELECT key_mac FROM subjects WHERE id = $1) AND subject_id = $1")
        .bind(sid)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE subjects SET restricted_at = COALESCE(restricted_at, $1), erase_after = $2 WHERE id = $3")
        .bind(at)
        .bind(e.hold_until)
        .bind(sid)
        .execute(&mut **tx)
        .await?;
    for h in &e.held_keys {
        sqlx::query(
            "INSERT INTO held_keys (subject_id, category, wrapped_key, until, kek_version) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (subject_id, category) DO UPDATE SET wrapped_key = excluded.wrapped_key, until = excluded.until, kek_version = excluded.kek_version",
        )
        .bind(sid)
        .bind(h.category.as_deref().unwrap_or_default())
        .bind(h.wrapped.as_slice())
        .bind(h.until)
        .bind(h.kek_version)
        .execute(&mut **tx)
        .await?;
    }
    if e.shred_data_key {
        // Crypto-shredding of every category not held: the data key they derive from goes.
        sqlx::query("UPDATE subjects SET wrapped_dek = $1 WHERE id = $2")
            .bind(&[][..] as &[u8])
            .bind(sid)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The change's audit entries, then its erasures' (each act's log extract is its erasures'
/// entries, as written), then the acts.
async fn audit_and_acts(
    tx: &mut sqlx::Transaction<'_, Db>,
    change: &Change,
    chain: &mut Chain,
) -> Result<()> {
    let at = change.at;
    let mut rows: Vec<AuditRow> = change.audit.iter().map(|e| chain.append(at, e)).collect();
    let first = rows.len();
    rows.extend(change.erase.iter().map(|e| chain.append(at, &e.audit)));
    insert_audit(tx, &rows).await?;
    // Each act's log extract: the audit entries of its erasures, as written.
    let mut extracts: std::collections::HashMap<&str, Vec<LogLine>> =
        std::collections::HashMap::new();
    for (e, row) in change.erase.iter().zip(&rows[first..]) {
        extracts
            .entry(e.act_id())
            .or_default()
            .push(LogLine::of(row)?);
    }
    let acts = change
        .acts
        .iter()
        .map(|a| {
            Ok((
                a,
                act_text(&a.act, &extracts.remove(a.id.as_str()).unwrap_or_default())?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let keep_until = IsoDuration {
        years: 3,
        ..Default::default()
    }
    .after(at);
    for chunk in acts.chunks(ROWS_PER_STATEMENT) {
        let mut qb = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO destruction_acts (id, request_id, sweep_id, at, keep_until, act) ",
        );
        qb.push_values(chunk, |mut b, (a, act)| {
            b.push_bind(a.id.as_str())
                .push_bind(a.request_id.as_deref())
                .push_bind(a.sweep_id.as_deref())
                .push_bind(at)
                .push_bind(keep_until)
                .push_bind(act.as_str());
        });
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// The change's webhooks, due at once.
async fn insert_outbox(tx: &mut sqlx::Transaction<'_, Db>, change: &Change) -> Result<()> {
    let at = change.at;
    // Due at once, even when the change is dated later (a sweep run with `--now`).
    let due = at.min(now_millis());
    for chunk in change.outbox.chunks(ROWS_PER_STATEMENT) {
        let mut qb = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO outbox (event_id, request_id, upstream, url, event, payload, created_at, next_attempt_at) ",
        );
        qb.push_values(chunk, |mut b, o| {
            b.push_bind(o.event_id.as_str())
                .push_bind(o.request_id.as_deref())
                .push_bind(o.upstream.as_str())
                .push_bind(o.url.as_str())
                .push_bind(o.event.as_str())
                .push_bind(o.payload.as_str())
                .push_bind(at)
                .push_bind(due);
        });
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// The sweep's row, written at its start and by every slice.
async fn upsert_sweep(tx: &mut sqlx::Transaction<'_, Db>, change: &Change) -> Result<()> {
    if let Some(s) = &change.sweep {
        sqlx::query(
            "INSERT INTO sweeps (id, started_at, finished_at, subjects_erased, values_erased, subjects_restricted, acts_expired, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET finished_at = excluded.finished_at, \
             subjects_erased = excluded.subjects_erased, values_erased = excluded.values_erased, \
             subjects_restricted = excluded.subjects_restricted, acts_expired = excluded.acts_expired, status = excluded.status",
        )
        .bind(&s.id)
        .bind(s.started_at)
        .bind(s.finished_at)
        .bind(s.subjects_erased)
        .bind(s.values_erased)
        .bind(s.subjects_restricted)
        .bind(s.acts_expired)
        .bind(s.status.as_str())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
