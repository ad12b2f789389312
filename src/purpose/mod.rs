//! Purpose limitation at the edge: reads from the store what the rule
//! ([`pdgate_core::purpose`]) needs for a batch of tokens, in a few set-based queries.

pub use pdgate_core::purpose::*;

use crate::crypto::Keys;
use crate::policy::Policy;
use crate::store::{Backend, Store, StoreError};
use crate::Millis;

/// Resolves `tokens` for `purpose` (a policy index): reads the facts, applies the rule, decrypts
/// what passes. Results are in the order of `tokens`.
pub async fn resolve(
    store: &Store,
    keys: &Keys,
    policy: &Policy,
    purpose: usize,
    tokens: &[&str],
    now: Millis,
) -> Result<Vec<Outcome>, StoreError> {
    let batch = Batch::parse(tokens);
    let facts = lookup(store, &batch, &policy.purpose(purpose).def.id).await?;
    Ok(pdgate_core::purpose::resolve(
        &batch, &facts, keys, policy, purpose, now,
    ))
}

async fn lookup(store: &Store, batch: &Batch<'_>, purpose: &str) -> Result<Lookup, StoreError> {
    let mut f = Lookup::default();
    let vault = batch.vault_tokens();
    if !vault.is_empty() {
        f.rows = store.values_with_subjects(&vault, purpose).await?;
    }
    let missing = f.missing(batch);
    if !missing.is_empty() {
        f.erased_tokens = store.erased_tokens(&missing).await?.into_iter().collect();
    }
    let ids = batch.envelope_subjects();
    if ids.is_empty() {
        return Ok(f);
    }
    for s in store.subject_states(&ids).await? {
        f.envelope_subjects.insert(s.row.id.clone(), s);
    }
    let (live, gone): (Vec<&[u8]>, Vec<&[u8]>) = ids
        .iter()
        .partition(|id| f.envelope_subjects.contains_key(**id));
    if !live.is_empty() {
        for c in store.consent_states(&live, purpose).await? {
            f.envelope_consents.insert(c.subject_id.clone(), c);
        }
    }
    if !gone.is_empty() {
        f.erased_subjects
            .extend(store.erased_subjects(&gone).await?);
    }
    Ok(f)
}
