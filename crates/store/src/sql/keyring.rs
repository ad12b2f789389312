//! The SQL of [`KeyRing`](crate::keyring::KeyRing), compiled for each backend like `vault.rs`.

use sqlx::Row;

use super::vault::subject_id;
use super::{Db, Store};

/// Keys rewrapped per statement: 5 parameters each, well inside both backends' limits.
const REWRAPS_PER_STATEMENT: usize = 500;
use crate::keyring::{HeldRow, KekVersion, KeyCount, KeyRing, Rewrap, RingRow};
use crate::{Millis, Result, SubjectRow, WriteTx};

impl KeyRing for Store {
    async fn ring(&self) -> Result<Option<RingRow>> {
        let row = sqlx::query(
            "SELECT kek_version, wrapped_root, created_at, rotated_at FROM keyring WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(RingRow {
                kek_version: r.try_get(0)?,
                wrapped_root: r.try_get(1)?,
                created_at: r.try_get(2)?,
                rotated_at: r.try_get(3)?,
            })
        })
        .transpose()
    }

    async fn kek_versions(&self) -> Result<Vec<KekVersion>> {
        let rows = sqlx::query(
            "SELECT version, kek_check, added_at, retired_at FROM kek_versions ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(KekVersion {
                    version: r.try_get(0)?,
                    check: r.try_get(1)?,
                    added_at: r.try_get(2)?,
                    retired_at: r.try_get(3)?,
                })
            })
            .collect()
    }

    async fn add_kek(&self, version: Option<i64>, check: &[u8], at: Millis) -> Result<Option<i64>> {
        sqlx::query(
            "INSERT INTO kek_versions (version, kek_check, added_at) \
             SELECT COALESCE($1, (SELECT COALESCE(MAX(version), 0) + 1 FROM kek_versions)), $2, $3 \
             ON CONFLICT DO NOTHING",
        )
        .bind(version)
        .bind(check)
        .bind(at)
        .execute(self.writer())
        .await?;
        let row = sqlx::query("SELECT version FROM kek_versions WHERE kek_check = $1")
            .bind(check)
            .fetch_optional(self.writer())
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn rotate_root(&self, from: i64, to: i64, wrapped: &[u8], at: Millis) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE keyring SET wrapped_root = $1, kek_version = $2, rotated_at = $3 \
             WHERE id = 1 AND kek_version = $4",
        )
        .bind(wrapped)
        .bind(to)
        .bind(at)
        .bind(from)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn data_keys_page(&self, after: &[u8], limit: i64) -> Result<Vec<SubjectRow>> {
        let rows = sqlx::query(
            "SELECT id, wrapped_dek, kek_version FROM subjects WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SubjectRow {
                    id: subject_id(r, 0)?,
                    wrapped_dek: r.try_get(1)?,
                    kek_version: r.try_get(2)?,
                })
            })
            .collect()
    }

    async fn held_keys_not_under(&self, current: i64, limit: i64) -> Result<Vec<HeldRow>> {
        let rows = sqlx::query(
            "SELECT subject_id, category, wrapped_key, kek_version FROM held_keys \
             WHERE kek_version <> $1 ORDER BY subject_id, category LIMIT $2",
        )
        .bind(current)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let category: String = r.try_get(1)?;
                Ok(HeldRow {
                    subject_id: subject_id(r, 0)?,
                    category: (!category.is_empty()).then_some(category),
                    wrapped: r.try_get(2)?,
                    kek_version: r.try_get(3)?,
                })
            })
            .collect()
    }

    async fn rewrap(&self, data: &[Rewrap<SubjectRow>], held: &[Rewrap<HeldRow>]) -> Result<u64> {
        let mut tx = self.writer().begin_with(<Db as WriteTx>::BEGIN).await?;
        let mut n = 0;
        // One statement per chunk: a statement per key cost a thread hand-off each and held the
        // write lock ~4x longer. VALUES columns are `column1`… on both backends.
        for chunk in data.chunks(REWRAPS_PER_STATEMENT) {
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "UPDATE subjects SET wrapped_dek = r.column4, kek_version = r.column5 FROM (",
            );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(&r.key.id[..])
                    .push_bind(r.key.kek_version)
                    .push_bind(r.key.wrapped_dek.as_slice())
                    .push_bind(r.wrapped.as_slice())
                    .push_bind(r.kek_version);
            });
            qb.push(
                ") AS r WHERE subjects.id = r.column1 AND subjects.kek_version = r.column2 \
                 AND subjects.wrapped_dek = r.column3",
            );
            n += qb.build().execute(&mut *tx).await?.rows_affected();
        }
        for r in held {
            n += sqlx::query(
                "UPDATE held_keys SET wrapped_key = $1, kek_version = $2 \
                 WHERE subject_id = $3 AND category = $4 AND kek_version = $5 AND wrapped_key = $6",
            )
            .bind(r.wrapped.as_slice())
            .bind(r.kek_version)
            .bind(&r.key.subject_id[..])
            .bind(r.key.category.as_deref().unwrap_or_default())
            .bind(r.key.kek_version)
            .bind(r.key.wrapped.as_slice())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn key_counts(&self) -> Result<Vec<KeyCount>> {
        let rows = sqlx::query(
            "SELECT kek_version, SUM(d), SUM(h) FROM ( \
               SELECT kek_version, 1 AS d, 0 AS h FROM subjects WHERE length(wrapped_dek) > 0 \
               UNION ALL SELECT kek_version, 0, 1 FROM held_keys \
             ) k GROUP BY kek_version ORDER BY kek_version",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(KeyCount {
                    kek_version: r.try_get(0)?,
                    data_keys: r.try_get(1)?,
                    held_keys: r.try_get(2)?,
                })
            })
            .collect()
    }

    async fn retire_keks(&self, current: i64, at: Millis) -> Result<bool> {
        let mut tx = self.writer().begin_with(<Db as WriteTx>::BEGIN).await?;
        let left = sqlx::query(
            "SELECT 1 FROM keyring WHERE kek_version <> $1 \
             UNION ALL SELECT 1 FROM subjects WHERE kek_version <> $1 AND length(wrapped_dek) > 0 \
             UNION ALL SELECT 1 FROM held_keys WHERE kek_version <> $1 LIMIT 1",
        )
        .bind(current)
        .fetch_optional(&mut *tx)
        .await?;
        if left.is_some() {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE kek_versions SET retired_at = $1 WHERE version <> $2 AND retired_at IS NULL",
        )
        .bind(at)
        .bind(current)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
