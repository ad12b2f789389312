//! Purpose limitation (SPEC 6): whether a stored value may be turned back into plaintext for a
//! purpose, asked by the detokenize API and by reveal routes alike.
//!
//! [`check`] is the whole rule as a plain function over facts already read; [`resolve`] applies it
//! to a [`Batch`] of tokens with the [`Lookup`] the store gave for it, and decrypts what is granted.
//! A denial names its reason and never the value.

use std::collections::{HashMap, HashSet};

use zeroize::Zeroizing;

use crate::crypto::{Binding, Keys, SubjectKeys};
use crate::intake::Envelope;
use crate::policy::model::RetentionAnchor;
use crate::policy::{LegalBasis, Policy};
use crate::records::{ConsentState, ConsentStatus, SubjectId, SubjectState, ValueRow};
use crate::Millis;

/// Why a token was not turned back into its value. The codes are part of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Denial {
    ServiceNotDeclared,
    CategoryNotInPurpose,
    NoLegalBasis,
    ConsentWithdrawn,
    Restricted,
    Erased,
    Expired,
    UnknownToken,
    /// The subject objected to this purpose (GDPR Art. 21, 152-FZ Art. 21(5.1)).
    Objected,
}

impl Denial {
    pub fn code(self) -> &'static str {
        match self {
            Denial::ServiceNotDeclared => "service_not_declared",
            Denial::CategoryNotInPurpose => "category_not_in_purpose",
            Denial::NoLegalBasis => "no_legal_basis",
            Denial::ConsentWithdrawn => "consent_withdrawn",
            Denial::Restricted => "restricted",
            Denial::Erased => "erased",
            Denial::Expired => "expired",
            Denial::UnknownToken => "unknown_token",
            Denial::Objected => "objected",
        }
    }
}

/// Whether `service` is declared for the purpose (policy `services:`).
pub fn service_declared(policy: &Policy, service: &str, purpose: &str) -> bool {
    policy
        .services
        .iter()
        .any(|s| s.id == service && s.purposes.iter().any(|p| p == purpose))
}

/// One stored collection of a value, as the rule sees it.
#[derive(Debug, Clone, Copy)]
pub struct Collected<'a> {
    /// `None` for values without a declared category (detected inside redacted free text).
    pub category: Option<&'a str>,
    /// The purposes the value was collected for (comma-separated, as stored).
    pub purposes: &'a str,
    /// `None` when unknown (a `pdg1.` envelope, from before category keys, carries no time).
    pub at: Option<Millis>,
}

/// The rule of SPEC 6 for one value and one purpose (by index into the policy), in this order:
/// restriction, category, legal basis, retention.
pub fn check(
    policy: &Policy,
    purpose: usize,
    value: Collected<'_>,
    subject: &SubjectState,
    consent: Option<&ConsentState>,
    now: Millis,
) -> Result<(), Denial> {
    let p = policy.purpose(purpose);
    if subject.restricted_at.is_some() {
        return Err(Denial::Restricted);
    }
    let collected_for = value.purposes.split(',').any(|x| x == p.def.id);
    let category_ok = match value.category {
        Some(c) => p.def.categories.iter().any(|x| x == c),
        None => collected_for,
    };
    if !category_ok {
        return Err(Denial::CategoryNotInPurpose);
    }
    if consent.is_some_and(|c| c.state == ConsentStatus::Objected) {
        return Err(Denial::Objected);
    }
    let anchor_from_consent = match p.def.legal_basis {
        LegalBasis::Consent => match consent {
            Some(c) if c.state == ConsentStatus::Granted => Some(c.at),
            Some(c) if c.state == ConsentStatus::Withdrawn => return Err(Denial::ConsentWithdrawn),
            _ => return Err(Denial::NoLegalBasis),
        },
        // Another basis covers only what was collected under it.
        _ if !collected_for => return Err(Denial::NoLegalBasis),
        _ => None,
    };
    if let (Some(keep), Some(ret)) = (p.retention, p.def.retention.as_ref()) {
        let anchor = match ret.from {
            RetentionAnchor::Collected => value.at,
            RetentionAnchor::Consent => anchor_from_consent.or(value.at),
            RetentionAnchor::LastActivity => Some(subject.last_activity_at),
            RetentionAnchor::PurposeEnd => None,
        };
        if anchor.is_some_and(|a| keep.after(a) <= now) {
            return Err(Denial::Expired);
        }
    }
    Ok(())
}

/// The answer for one token.
pub enum Outcome {
    Granted(Zeroizing<String>),
    Denied(Denial),
}

/// Which tokens look like what: envelopes carry their subject, the rest are looked up.
enum Parsed {
    Envelope(Envelope),
    Vault,
}

/// A batch of tokens to resolve, parsed once: which need a vault look-up, which subjects the
/// envelopes name.
pub struct Batch<'t> {
    tokens: &'t [&'t str],
    parsed: Vec<Parsed>,
}

impl<'t> Batch<'t> {
    pub fn parse(tokens: &'t [&'t str]) -> Batch<'t> {
        let parsed = tokens
            .iter()
            .map(|t| Envelope::parse(t).map_or(Parsed::Vault, Parsed::Envelope))
            .collect();
        Batch { tokens, parsed }
    }

    /// The tokens that are looked up in the vault.
    pub fn vault_tokens(&self) -> Vec<&'t str> {
        self.tokens
            .iter()
            .zip(&self.parsed)
            .filter(|(_, p)| matches!(p, Parsed::Vault))
            .map(|(t, _)| *t)
            .collect()
    }

    /// The subjects the envelopes name, each once.
    pub fn envelope_subjects(&self) -> Vec<&[u8]> {
        let mut ids: Vec<&[u8]> = self
            .parsed
            .iter()
            .filter_map(|p| match p {
                Parsed::Envelope(e) => Some(e.subject.as_slice()),
                Parsed::Vault => None,
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// What the store said about a [`Batch`], read in a few set-based queries (not one per token — a
/// CRM sends hundreds at a time).
#[derive(Debug, Default)]
pub struct Lookup {
    /// Each collection of a vault token with its subject and consent state (a value without its
    /// subject is gone, and its token is in the tombstones).
    pub rows: Vec<ValueRow>,
    /// Vault tokens not found in `rows` that were erased.
    pub erased_tokens: HashSet<String>,
    /// The live subjects the envelopes name, by id.
    pub envelope_subjects: HashMap<SubjectId, SubjectState>,
    /// Their newest consent record for the purpose asked about (any basis: an objection is a
    /// ledger record too).
    pub envelope_consents: HashMap<SubjectId, ConsentState>,
    /// Envelope subjects that were erased.
    pub erased_subjects: HashSet<Vec<u8>>,
    /// The ciphertexts of the live envelope subjects' `encrypt` collections as the vault keeps
    /// them: a `pdg2.` envelope whose ciphertext is not among them was rectified (replaced by
    /// another) or its collection destroyed, and no longer stands for a value.
    pub envelope_copies: HashSet<Vec<u8>>,
}

impl Lookup {
    /// The vault tokens of `batch` that `rows` did not find: erased or unknown.
    pub fn missing<'t>(&self, batch: &Batch<'t>) -> Vec<&'t str> {
        let found: HashSet<&str> = self.rows.iter().map(|r| r.value.token.as_str()).collect();
        batch
            .vault_tokens()
            .into_iter()
            .filter(|t| !found.contains(t))
            .collect()
    }
}

/// Applies [`check`] to every token of `batch` for `purpose` (a policy index) and decrypts what
/// passes. Results are in the order of the batch's tokens.
pub fn resolve(
    batch: &Batch<'_>,
    facts: &Lookup,
    keys: &Keys,
    policy: &Policy,
    purpose: usize,
    now: Millis,
) -> Vec<Outcome> {
    let mut by_token: HashMap<&str, Vec<&ValueRow>> = HashMap::new();
    for row in &facts.rows {
        by_token
            .entry(row.value.token.as_str())
            .or_default()
            .push(row);
    }
    // A subject's key is unwrapped once, and only when one of its values is granted.
    let mut deks: HashMap<SubjectId, Option<SubjectKeys>> = HashMap::new();
    let mut out = Vec::with_capacity(batch.tokens.len());
    for (token, parsed) in batch.tokens.iter().zip(&batch.parsed) {
        let outcome = match parsed {
            Parsed::Envelope(e) => match facts.envelope_subjects.get(e.subject.as_slice()) {
                None if facts.erased_subjects.contains(&e.subject) => {
                    Outcome::Denied(Denial::Erased)
                }
                None => Outcome::Denied(Denial::UnknownToken),
                Some(_)
                    if e.collected_at.is_some() && !facts.envelope_copies.contains(&e.sealed) =>
                {
                    Outcome::Denied(Denial::Erased)
                }
                Some(s) => {
                    // A `pdg2.` envelope carries its category and collection time, so the
                    // category rule and retention apply to it as to a vault value.
                    let value = Collected {
                        category: e.category.as_deref(),
                        purposes: &e.purposes,
                        at: e.collected_at,
                    };
                    let consent = facts.envelope_consents.get(e.subject.as_slice());
                    match check(policy, purpose, value, s, consent, now) {
                        Err(d) => Outcome::Denied(d),
                        Ok(()) => open(dek(&mut deks, keys, s), e.binding(), &e.sealed),
                    }
                }
            },
            Parsed::Vault => match by_token.get(token) {
                None if facts.erased_tokens.contains(*token) => Outcome::Denied(Denial::Erased),
                None => Outcome::Denied(Denial::UnknownToken),
                Some(found) => newest_granted(found, &mut deks, keys, policy, purpose, now),
            },
        };
        out.push(outcome);
    }
    out
}

/// The newest collection of a token that passes wins; otherwise the newest one's denial.
fn newest_granted(
    found: &[&ValueRow],
    deks: &mut HashMap<SubjectId, Option<SubjectKeys>>,
    keys: &Keys,
    policy: &Policy,
    purpose: usize,
    now: Millis,
) -> Outcome {
    let mut first_denial = None;
    for (v, s, c) in found
        .iter()
        .rev()
        .map(|r| (&r.value, &r.subject, r.consent.as_ref()))
    {
        let value = Collected {
            category: v.category.as_deref(),
            purposes: &v.purposes,
            at: Some(v.collected_at),
        };
        match check(policy, purpose, value, s, c, now) {
            Ok(()) => {
                return open(dek(deks, keys, s), v.binding(), &v.ciphertext);
            }
            Err(d) => {
                first_denial.get_or_insert(d);
            }
        }
    }
    Outcome::Denied(first_denial.unwrap_or(Denial::UnknownToken))
}

/// A live subject's keys (a restricted one is denied before its keys are wanted).
fn dek<'m>(
    deks: &'m mut HashMap<SubjectId, Option<SubjectKeys>>,
    keys: &Keys,
    s: &SubjectState,
) -> Option<&'m SubjectKeys> {
    deks.entry(s.row.id.clone())
        .or_insert_with(|| SubjectKeys::unwrap(keys, &s.row.id, &s.row.wrapped_dek, &[]).ok())
        .as_ref()
}

fn open(keys: Option<&SubjectKeys>, binding: Binding<'_>, sealed: &[u8]) -> Outcome {
    let plain = keys.and_then(|k| k.open(binding, sealed).ok());
    match plain.and_then(|p| String::from_utf8(p.to_vec()).ok()) {
        Some(s) => Outcome::Granted(Zeroizing::new(s)),
        // A value that no longer opens under its subject's key is as good as erased.
        None => Outcome::Denied(Denial::Erased),
    }
}

#[cfg(test)]
mod tests;
