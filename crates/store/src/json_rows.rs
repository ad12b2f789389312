//! Decoding of result sets that a backend returns aggregated as one JSON row (see
//! `values_with_subjects` in `sql/vault.rs`); blobs travel as hex.

use super::{
    Cause, ConsentState, Result, StoreError, SubjectId, SubjectRow, SubjectState, VaultValue,
};

/// One aggregated row: a JSON array in this field order (serde reads structs from arrays).
#[derive(serde::Deserialize)]
struct Row {
    id: i64,
    subject_id: String,
    token: String,
    kind: String,
    action: String,
    category: Option<String>,
    field: String,
    purposes: String,
    route: String,
    ciphertext: String,
    collected_at: i64,
    wrapped_dek: String,
    kek_version: i64,
    restricted_at: Option<i64>,
    last_activity_at: i64,
    consent_state: Option<pdgate_core::records::ConsentStatus>,
    consent_at: Option<i64>,
    sealing: i64,
}

fn hex(s: &str) -> Result<Vec<u8>> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(s.as_bytes())
        .map_err(|_| StoreError::Database(Cause::says("malformed hex in an aggregated row")))
}

/// Rows in collection order (the aggregate's own order is not relied on).
pub(crate) fn values_with_subjects(json: &str) -> Result<Vec<super::ValueRow>> {
    let mut rows: Vec<Row> =
        serde_json::from_str(json).map_err(|e| StoreError::Database(Cause::of(e)))?;
    rows.sort_by_key(|r| r.id);
    rows.into_iter()
        .map(|r| {
            let subject_id = SubjectId::from(hex(&r.subject_id)?);
            let consent = r
                .consent_state
                .zip(r.consent_at)
                .map(|(state, at)| ConsentState {
                    subject_id: subject_id.clone(),
                    state,
                    at,
                });
            let state = SubjectState {
                row: SubjectRow {
                    id: subject_id.clone(),
                    wrapped_dek: hex(&r.wrapped_dek)?,
                    kek_version: r.kek_version,
                },
                restricted_at: r.restricted_at,
                last_activity_at: r.last_activity_at,
            };
            let value = VaultValue {
                id: r.id,
                subject_id,
                token: r.token.into(),
                kind: r.kind,
                action: r.action,
                category: r.category,
                field: r.field,
                purposes: r.purposes,
                route: r.route,
                ciphertext: hex(&r.ciphertext)?,
                collected_at: r.collected_at,
                sealing: pdgate_core::crypto::Sealing::from_i64(r.sealing),
            };
            Ok(super::ValueRow {
                value,
                subject: state,
                consent,
            })
        })
        .collect()
}
