//! Purpose limitation at the edge: reads from the store what the rule
//! ([`pdgate_core::purpose`]) needs for a batch of tokens, in a few set-based queries; and
//! [`detokenize`], the use case behind `POST /v1/detokenize`.

pub use pdgate_core::purpose::*;

use std::collections::BTreeMap;

use crate::audit::AuditEvent;
use pdgate_core::crypto::Keys;
use pdgate_core::policy::Policy;
use pdgate_core::Millis;
use pdgate_store::{Backend, Committer, Store, StoreError};

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
        let values = pdgate_store::Rights::values_of_subjects(store, &live).await?;
        f.envelope_copies.extend(
            values
                .into_iter()
                .filter(|v| v.action == "encrypt")
                .map(|v| v.ciphertext),
        );
    }
    if !gone.is_empty() {
        f.erased_subjects
            .extend(store.erased_subjects(&gone).await?);
    }
    Ok(f)
}

/// Most tokens in one detokenize call.
pub const MAX_TOKENS: usize = 1000;

/// What detokenizing needs of the running gateway.
pub struct Detokenizer<'a> {
    pub store: &'a Store,
    pub keys: &'a Keys,
    pub policy: &'a Policy,
    pub committer: &'a Committer,
    pub transfers: &'a crate::transfers::Transfers,
    pub metrics: &'a crate::metrics::Metrics,
}

/// Who asks: the declared service a token speaks for (empty without one), and the token's subject.
pub struct Caller<'a> {
    pub service: &'a str,
    pub sub: &'a str,
}

/// Every token's outcome, in order, with the counts the audit entry holds.
pub struct Detokenized {
    pub outcomes: Vec<Outcome>,
    pub granted: u32,
    /// Denials by reason code.
    pub denied: BTreeMap<String, u32>,
}

/// Why a detokenize call was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum DetokenizeError {
    #[error("at most {MAX_TOKENS} tokens per call")]
    TooManyTokens,
    #[error("purpose `{0}` is not declared in the policies")]
    UnknownPurpose(String),
    /// A service abroad without a notification in order (152-FZ Art. 12).
    #[error("{}", .0.message)]
    Refused(crate::transfers::Refused),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::transfers::Refused> for DetokenizeError {
    fn from(r: crate::transfers::Refused) -> Self {
        DetokenizeError::Refused(r)
    }
}

/// Turns `tokens` back into values for `purpose` where the rule allows: a service abroad only
/// under a notification in order (152-FZ Art. 12), a service not declared for the purpose gets
/// nothing; counted, and audited durably before any value is returned (no trace, no plaintext).
pub async fn detokenize(
    d: &Detokenizer<'_>,
    caller: Caller<'_>,
    purpose: &str,
    tokens: &[&str],
    now: Millis,
) -> Result<Detokenized, DetokenizeError> {
    if tokens.len() > MAX_TOKENS {
        return Err(DetokenizeError::TooManyTokens);
    }
    let index = d
        .policy
        .purpose_index(purpose)
        .ok_or_else(|| DetokenizeError::UnknownPurpose(purpose.to_owned()))?;
    let service = caller.service;
    if let Some(s) = d.policy.services.iter().find(|s| s.id == service) {
        let country = s.country();
        d.transfers
            .enforce(d.committer, "detokenize", service, country, purpose)
            .await?;
    }
    let outcomes = if service_declared(d.policy, service, purpose) {
        resolve(d.store, d.keys, d.policy, index, tokens, now).await?
    } else {
        tokens
            .iter()
            .map(|_| Outcome::Denied(Denial::ServiceNotDeclared))
            .collect()
    };
    let mut granted = 0u32;
    let mut denied: BTreeMap<String, u32> = BTreeMap::new();
    for outcome in &outcomes {
        match outcome {
            Outcome::Granted(_) => granted += 1,
            Outcome::Denied(r) => *denied.entry(r.code().to_owned()).or_default() += 1,
        }
    }
    d.metrics.detokenized(granted, &denied);
    let event = AuditEvent::Detokenize {
        service: if service.is_empty() {
            format!("(none; sub {})", caller.sub)
        } else {
            service.to_owned()
        },
        purpose: purpose.to_owned(),
        requested: u32::try_from(tokens.len()).unwrap_or(u32::MAX),
        granted,
        denied: denied.clone(),
    };
    d.committer.audit(now, event).await?;
    Ok(Detokenized {
        outcomes,
        granted,
        denied,
    })
}
