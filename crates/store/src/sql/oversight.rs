//! The SQL of [`Oversight`](crate::oversight::Oversight), compiled for each backend like
//! `vault.rs`; the audited writes (breaches, notifications) are in `rights.rs`'s `apply`.

use sqlx::Row;

use super::{Db, Store};
use crate::oversight::{
    Affected, BreachRow, Count, Figures, FlowRow, Gauges, NotificationRow, Oversight,
    RequestCounts, TrendRow,
};
use crate::rights::{Change, LinkWrite};
use crate::{Millis, Result, StoreError, WriteTx};

impl Oversight for Store {
    async fn figures(&self, purposes: &[&str], now: Millis) -> Result<Figures> {
        let subjects: i64 = sqlx::query("SELECT COUNT(*) FROM subjects")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let rows = sqlx::query(
            "SELECT COALESCE(category, 'free_text'), COUNT(*) FROM vault_values GROUP BY COALESCE(category, 'free_text') ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?;
        let values_by_category = rows
            .iter()
            .map(|r| {
                Ok(Count {
                    key: r.try_get(0)?,
                    n: r.try_get(1)?,
                })
            })
            .collect::<Result<_>>()?;
        let mut subjects_by_purpose = Vec::with_capacity(purposes.len());
        for p in purposes {
            let n: i64 = sqlx::query("SELECT COUNT(DISTINCT subject_id) FROM vault_values WHERE ',' || purposes || ',' LIKE $1")
                .bind(format!("%,{p},%"))
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?;
            subjects_by_purpose.push(Count {
                key: (*p).to_owned(),
                n,
            });
        }
        let rows = sqlx::query("SELECT purpose, state, COUNT(*) FROM consent_records GROUP BY purpose, state ORDER BY 1, 2")
            .fetch_all(&self.pool)
            .await?;
        let consents = rows
            .iter()
            .map(|r| {
                let (p, s): (String, String) = (r.try_get(0)?, r.try_get(1)?);
                Ok(Count {
                    key: format!("{p}/{s}"),
                    n: r.try_get(2)?,
                })
            })
            .collect::<Result<_>>()?;
        let requests = request_counts(&self.pool, now).await?;
        let first_entry_at: Option<i64> = sqlx::query("SELECT MIN(at) FROM audit_log")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let key = sqlx::query(
            "SELECT kek_version, COALESCE(rotated_at, created_at) FROM keyring WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        let (kek_version, keyring_at) = match key {
            Some(r) => (r.try_get(0)?, Some(r.try_get(1)?)),
            None => (0, None),
        };
        Ok(Figures {
            subjects,
            values_by_category,
            subjects_by_purpose,
            consents,
            requests,
            first_entry_at,
            kek_version,
            keyring_at,
        })
    }

    async fn consent_trend(&self, since: Millis) -> Result<Vec<TrendRow>> {
        let rows = sqlx::query(
            "SELECT at / 900000 * 900000, purpose, state, COUNT(*) FROM consent_records \
             WHERE at >= $1 GROUP BY at / 900000, purpose, state ORDER BY 1, 2, 3",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TrendRow {
                    slot: r.try_get(0)?,
                    purpose: r.try_get(1)?,
                    state: r.try_get(2)?,
                    n: r.try_get(3)?,
                })
            })
            .collect()
    }

    async fn gauges(&self, now: Millis) -> Result<Gauges> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM dsr_requests WHERE status = 'open'), \
             (SELECT COUNT(*) FROM dsr_requests WHERE status = 'open' AND due_at < $1), \
             (SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL), \
             (SELECT COUNT(*) FROM breaches WHERE state <> 'closed'), \
             (SELECT MIN(created_at) FROM outbox WHERE delivered_at IS NULL)",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(Gauges {
            requests_open: row.try_get(0)?,
            requests_overdue: row.try_get(1)?,
            outbox_backlog: row.try_get(2)?,
            breaches_open: row.try_get(3)?,
            outbox_oldest_age_s: row
                .try_get::<Option<i64>, _>(4)?
                .map_or(0, |oldest| (now - oldest).max(0) / 1000),
        })
    }

    async fn affected(
        &self,
        categories: Option<&[String]>,
        from: Option<Millis>,
        until: Millis,
    ) -> Result<Affected> {
        let mut qb = sqlx::QueryBuilder::<Db>::new(
            "SELECT COUNT(*), COUNT(DISTINCT subject_id) FROM vault_values WHERE collected_at <= ",
        );
        qb.push_bind(until);
        if let Some(f) = from {
            qb.push(" AND collected_at >= ");
            qb.push_bind(f);
        }
        if let Some(cats) = categories {
            if cats.is_empty() {
                return Ok(Affected::default());
            }
            qb.push(" AND COALESCE(category, 'free_text') IN (");
            let mut sep = qb.separated(", ");
            for c in cats {
                sep.push_bind(c.as_str());
            }
            qb.push(")");
        }
        let row = qb.build().fetch_one(&self.pool).await?;
        Ok(Affected {
            records: row.try_get(0)?,
            subjects: row.try_get(1)?,
        })
    }

    async fn breach(&self, id: &str) -> Result<Option<BreachRow>> {
        let row = sqlx::query(&format!(
            "SELECT {BREACH_COLUMNS} FROM breaches WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(breach_row).transpose()
    }

    async fn breaches(&self, limit: i64) -> Result<Vec<BreachRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {BREACH_COLUMNS} FROM breaches ORDER BY detected_at DESC, id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(breach_row).collect()
    }

    async fn notifications(&self) -> Result<Vec<NotificationRow>> {
        let rows = sqlx::query(
            "SELECT id, country, purpose, filed_at, reference, recorded_by, recorded_at, withdrawn_at, received_at FROM transfer_notifications \
             ORDER BY recorded_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(NotificationRow {
                    id: r.try_get(0)?,
                    country: r.try_get(1)?,
                    purpose: r.try_get(2)?,
                    filed_at: r.try_get(3)?,
                    reference: r.try_get(4)?,
                    recorded_by: r.try_get(5)?,
                    recorded_at: r.try_get(6)?,
                    withdrawn_at: r.try_get(7)?,
                    received_at: r.try_get(8)?,
                })
            })
            .collect()
    }

    async fn record_flow(
        &self,
        method: &str,
        path: &str,
        kinds: &[String],
        n: i64,
        at: Millis,
    ) -> Result<()> {
        // Kinds seen before stay listed, merged in Rust. The row is written first, so the
        // transaction holds its lock (SQLite: the write lock; PostgreSQL: the row) before
        // reading the kinds: two replicas cannot lose each other's counts or kinds.
        let mut tx = self.writer().begin_with(<Db as WriteTx>::BEGIN).await?;
        sqlx::query(
            "INSERT INTO discovered_flows (method, path, kinds, count, first_seen, last_seen) VALUES ($1, $2, '', $3, $4, $4) \
             ON CONFLICT (method, path) DO UPDATE SET count = discovered_flows.count + excluded.count, last_seen = excluded.last_seen",
        )
        .bind(method)
        .bind(path)
        .bind(n)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let old: String =
            sqlx::query("SELECT kinds FROM discovered_flows WHERE method = $1 AND path = $2")
                .bind(method)
                .bind(path)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
        let mut all: Vec<&str> = kinds
            .iter()
            .map(String::as_str)
            .chain(old.split(','))
            .filter(|k| !k.is_empty())
            .collect();
        all.sort_unstable();
        all.dedup();
        let merged = all.join(",");
        if merged != old {
            sqlx::query("UPDATE discovered_flows SET kinds = $1 WHERE method = $2 AND path = $3")
                .bind(merged)
                .bind(method)
                .bind(path)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn flows(&self, limit: i64) -> Result<Vec<FlowRow>> {
        let rows = sqlx::query(
            "SELECT method, path, kinds, count, first_seen, last_seen FROM discovered_flows ORDER BY last_seen DESC, method, path LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let kinds: String = r.try_get(2)?;
                Ok(FlowRow {
                    method: r.try_get(0)?,
                    path: r.try_get(1)?,
                    kinds: kinds
                        .split(',')
                        .filter(|k| !k.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    count: r.try_get(3)?,
                    first_seen: r.try_get(4)?,
                    last_seen: r.try_get(5)?,
                })
            })
            .collect()
    }
}

const BREACH_COLUMNS: &str =
    "id, detected_at, opened_at, opened_by, state, body, history, updated_at";

fn breach_row(r: &<Db as sqlx::Database>::Row) -> Result<BreachRow> {
    Ok(BreachRow {
        id: r.try_get(0)?,
        detected_at: r.try_get(1)?,
        opened_at: r.try_get(2)?,
        opened_by: r.try_get(3)?,
        state: r.try_get(4)?,
        body: r.try_get(5)?,
        history: r.try_get(6)?,
        updated_at: r.try_get(7)?,
        expected_updated_at: None,
    })
}

/// Writes the breaches, notifications and self-service links of a change (inside its transaction): new rows
/// are inserted, changes apply only to the row as the caller read it.
pub(super) async fn apply_oversight(
    tx: &mut sqlx::Transaction<'_, Db>,
    change: &Change,
) -> Result<()> {
    for b in &change.breaches {
        let done = match b.expected_updated_at {
            None => sqlx::query(&format!("INSERT INTO breaches ({BREACH_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
                .bind(&b.id)
                .bind(b.detected_at)
                .bind(b.opened_at)
                .bind(&b.opened_by)
                .bind(&b.state)
                .bind(&b.body)
                .bind(&b.history)
                .bind(b.updated_at)
                .execute(&mut **tx)
                .await?,
            Some(expected) => sqlx::query(
                "UPDATE breaches SET state = $1, body = $2, history = $3, updated_at = $4 WHERE id = $5 AND updated_at = $6",
            )
            .bind(&b.state)
            .bind(&b.body)
            .bind(&b.history)
            .bind(b.updated_at)
            .bind(&b.id)
            .bind(expected)
            .execute(&mut **tx)
            .await?,
        };
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!(
                "breach {} changed meanwhile",
                b.id
            )));
        }
    }
    for n in &change.notifications {
        // A new notification, or the receipt of one recorded later; nothing changes a withdrawn one.
        let done = match n.withdrawn_at {
            None => sqlx::query(
                "INSERT INTO transfer_notifications (id, country, purpose, filed_at, reference, recorded_by, recorded_at, withdrawn_at, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8) \
                 ON CONFLICT (id) DO UPDATE SET received_at = excluded.received_at WHERE transfer_notifications.withdrawn_at IS NULL",
            )
            .bind(&n.id)
            .bind(&n.country)
            .bind(&n.purpose)
            .bind(n.filed_at)
            .bind(&n.reference)
            .bind(&n.recorded_by)
            .bind(n.recorded_at)
            .bind(n.received_at)
            .execute(&mut **tx)
            .await?,
            Some(at) => sqlx::query("UPDATE transfer_notifications SET withdrawn_at = $1 WHERE id = $2 AND withdrawn_at IS NULL")
                .bind(at)
                .bind(&n.id)
                .execute(&mut **tx)
                .await?,
        };
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!(
                "notification {} is already withdrawn",
                n.id
            )));
        }
    }
    apply_links(tx, change).await
}

/// Mints and revokes the self-service links of a change (inside its transaction).
async fn apply_links(tx: &mut sqlx::Transaction<'_, Db>, change: &Change) -> Result<()> {
    for l in &change.links {
        let done = match l {
            LinkWrite::Mint(r) => sqlx::query(
                "INSERT INTO subject_links (id, subject_id, created_at, created_by, expires_at, revoked_at, revoked_by) \
                 VALUES ($1, $2, $3, $4, $5, NULL, NULL)",
            )
            .bind(&r.id)
            .bind(r.subject_id.as_bytes())
            .bind(r.created_at)
            .bind(&r.created_by)
            .bind(r.expires_at)
            .execute(&mut **tx)
            .await?,
            LinkWrite::Revoke { id, at, by } => sqlx::query(
                "UPDATE subject_links SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL",
            )
            .bind(*at)
            .bind(by)
            .bind(id)
            .execute(&mut **tx)
            .await?,
        };
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict("the link is already revoked".into()));
        }
    }
    Ok(())
}

/// Requests received, fulfilled (on time), open and overdue at `now`, by type.
async fn request_counts(pool: &sqlx::Pool<Db>, now: Millis) -> Result<Vec<RequestCounts>> {
    let rows = sqlx::query(
        "SELECT type, COUNT(*), \
         SUM(CASE WHEN status <> 'open' THEN 1 ELSE 0 END), \
         SUM(CASE WHEN status <> 'open' AND fulfilled_at <= due_at THEN 1 ELSE 0 END), \
         SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END), \
         SUM(CASE WHEN status = 'open' AND due_at < $1 THEN 1 ELSE 0 END) \
         FROM dsr_requests GROUP BY type ORDER BY type",
    )
    .bind(now)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(RequestCounts {
                kind: r.try_get(0)?,
                received: r.try_get(1)?,
                fulfilled: r.try_get::<Option<i64>, _>(2)?.unwrap_or(0),
                on_time: r.try_get::<Option<i64>, _>(3)?.unwrap_or(0),
                open: r.try_get::<Option<i64>, _>(4)?.unwrap_or(0),
                overdue: r.try_get::<Option<i64>, _>(5)?.unwrap_or(0),
            })
        })
        .collect()
}
