//! A request's report at the edge: reads what [`pdgate_core::requests::report::build`] needs.

pub use pdgate_core::requests::report::*;

use crate::requests::flow::{Ctx, FlowError};
use pdgate_core::records::rights::RequestStatus;
use pdgate_core::Millis;
use pdgate_store::rights::RequestRow;
use pdgate_store::{Backend, Rights, Store, StoreError};

/// Builds the report for `row` at `now`.
pub async fn build(
    ctx: &Ctx<'_>,
    row: &RequestRow,
    now: Millis,
) -> Result<serde_json::Value, StoreError> {
    let store = ctx.store;
    let mut facts = Holdings {
        outbox: store.outbox_of(&row.id).await?,
        acts: store.acts_of(&row.id).await?,
        subjects: Vec::new(),
    };
    if lists_data(row) {
        facts.subjects = held(store, row).await?;
    }
    Ok(pdgate_core::requests::report::build(
        &facts,
        ctx.keys,
        ctx.policy,
        row,
        now,
        ctx.calendar,
    ))
}

/// The subjects found by the request's identifier, with their values and consent records.
async fn held(store: &Store, row: &RequestRow) -> Result<Vec<Held>, StoreError> {
    let ids = store.subjects_by_index(&row.lookup_key()).await?;
    let id_refs: Vec<&[u8]> = ids.iter().map(|id| id.as_bytes()).collect();
    let mut key_states = store.key_states(&id_refs).await?;
    let mut out = Vec::new();
    for state in store.subject_states(&id_refs).await? {
        let values = store.values_of(&state.row.id).await?;
        let records = store.consents_of(&state.row.id).await?;
        let held_keys = key_states
            .iter_mut()
            .find(|k| k.subject_id == state.row.id)
            .map(|k| std::mem::take(&mut k.held))
            .unwrap_or_default();
        out.push(Held {
            state,
            values,
            records,
            held_keys,
        });
    }
    Ok(out)
}

/// A request's report, read by `who` as `format` (`"json"` or `"html"`). For access and
/// portability it carries the subject's data in clear, so it is built only once the request is
/// fulfilled (the data is then what the subject is given), and every rendering is an audit entry:
/// who read which request's report, when, in what form.
pub async fn rendered(
    ctx: &Ctx<'_>,
    id: &str,
    (who, format): (&str, &'static str),
    now: Millis,
) -> Result<(RequestRow, serde_json::Value), FlowError> {
    let row = ctx.store.request(id).await?.ok_or(FlowError::NotFound)?;
    if row.kind.reports_data() && row.status != RequestStatus::Fulfilled {
        return Err(FlowError::Conflict {
            code: "report_not_ready",
            message: "the report with the subject's data is served once the request is fulfilled"
                .into(),
        });
    }
    let report = build(ctx, &row, now).await?;
    let event = crate::audit::AuditEvent::ReportRendered {
        request_id: row.id.clone(),
        principal: who.to_owned(),
        format: format.into(),
    };
    ctx.committer.audit(now, event).await?;
    Ok((row, report))
}
