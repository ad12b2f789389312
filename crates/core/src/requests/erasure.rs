//! Destroying a subject's data, the same way for an erasure request and a retention sweep: what
//! goes, what a legal hold keeps, the destruction act in the shape of Roskomnadzor order No. 179,
//! and one webhook per upstream that received the subject's tokens. Subjects are planned one by
//! one ([`plan`]) and gathered into acts ([`Act`]): one per request, one per sweep slice, so a
//! sweep of a million values writes a few thousand acts, not one per subject.

use std::collections::{BTreeMap, BTreeSet};

use crate::audit::AuditEvent;
use crate::crypto::{HeldKey, Keys};
use crate::intake::pseudonym;
use crate::policy::Policy;
use crate::records::rights::{ActWrite, Change, Erase, OutboxWrite};
use crate::records::{ConsentRecord, SubjectId, VaultValue};
use crate::Millis;

/// How much of a subject goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Crypto-shred the subject, except categories under a legal hold still running.
    All,
    /// Only these value rows (retention of single collections).
    Values(Vec<i64>),
    /// The held values stay restricted until `until`; `drop` goes now.
    Hold { drop: Vec<i64>, until: Millis },
}

/// Why data is destroyed (the act's "reason" and the webhooks' reference).
#[derive(Debug, Clone, Copy)]
pub enum Reason<'a> {
    Request { id: &'a str, kind: &'a str },
    Retention { sweep_id: &'a str },
}

impl Reason<'_> {
    fn reference(&self) -> String {
        match self {
            Reason::Request { id, .. } => (*id).to_owned(),
            Reason::Retention { sweep_id } => format!("sweep:{sweep_id}"),
        }
    }

    fn request_id(&self) -> Option<&str> {
        match self {
            Reason::Request { id, .. } => Some(id),
            Reason::Retention { .. } => None,
        }
    }

    fn sweep_id(&self) -> Option<&str> {
        match self {
            Reason::Retention { sweep_id } => Some(sweep_id),
            Reason::Request { .. } => None,
        }
    }

    fn text(&self) -> String {
        match self {
            Reason::Request { id, kind } => format!(
                "data subject request {id} ({kind}): 152-FZ Art. 20(3), GDPR Art. 17 / Требование субъекта ПД (ч. 3 ст. 20 152-ФЗ)"
            ),
            Reason::Retention { .. } => {
                "retention period ended and no purpose or legal hold covers the data: 152-FZ Art. 5(7), \
                 Art. 21(4); GDPR Art. 5(1)(e) / Достижение целей обработки, истечение срока хранения"
                    .to_owned()
            }
        }
    }
}

/// A subject to plan an erasure for: its id, its revision as read before its values and
/// consents were (the erasure commits only if it is still the same: see [`Erase::revision`]),
/// and its keys, which a legal hold needs to keep the held categories readable.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub id: &'a SubjectId,
    pub revision: i64,
    pub keys: &'a Keys,
    /// As stored: empty once an earlier hold shredded it.
    pub wrapped_dek: &'a [u8],
    /// Whether the data key sealed data itself (see [`crate::records::rights::KeyState`]).
    pub seals_data: bool,
}

/// What happens to a subject's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Shred {
    /// The data key goes: everything of the subject is unreadable.
    Whole,
    /// The data key goes; the held categories' keys are kept wrapped on their own.
    AllButHeld,
    /// The data key stays, restricted, for the held categories (a subject whose data key sealed
    /// `pdg1.` envelopes itself, or whose key did not unwrap).
    Kept,
    /// Single values deleted; keys untouched.
    Values,
}

/// The held categories' keys for an erasure under a hold, and whether the data key can go.
fn hold_keys(target: &Target<'_>, keep: &[String], until: Option<Millis>) -> (Vec<HeldKey>, bool) {
    let (Some(until), false) = (until, keep.is_empty()) else {
        return (Vec::new(), false);
    };
    if target.wrapped_dek.is_empty() {
        // An earlier hold already shredded the data key and stored the held keys.
        return (Vec::new(), false);
    }
    let Ok(data) = target.keys.unwrap_dek(target.id, target.wrapped_dek) else {
        // Fail toward the hold: nothing held becomes unreadable.
        return (Vec::new(), false);
    };
    let categories: Vec<Option<&str>> = keep
        .iter()
        .map(|c| Some(c.as_str()).filter(|c| !c.is_empty()))
        .collect();
    let held = crate::crypto::hold_keys(target.keys, target.id, &data, &categories, until);
    (held, !target.seals_data)
}

/// What one subject's erasure writes: the store operation, its webhooks and its part of the
/// destruction act, which [`Act::add`] gathers with others into one act.
#[derive(Debug, Clone)]
pub struct Planned {
    pub erase: Erase,
    pub outbox: Vec<OutboxWrite>,
    pub values: usize,
    pub tokens: usize,
    pub whole_subject: bool,
    shred: Shred,
    /// The subject's line in the act's `subjects`, and its held categories (`held`).
    part: serde_json::Value,
    held: Vec<serde_json::Value>,
}

/// Plans the destruction of `scope` of a subject's data. `values` are all the subject's stored
/// values, `records` its ledger (the routes it came through find the upstreams to tell).
pub fn plan(
    policy: &Policy,
    subject: Target<'_>,
    values: &[&VaultValue],
    records: &[&ConsentRecord],
    scope: Scope,
    reason: Reason<'_>,
    at: Millis,
) -> Planned {
    let (keep_categories, hold_until) = held_categories(policy, values, &scope, at);
    let gone = gone(values, &scope, &keep_categories);
    let whole_subject = matches!(scope, Scope::All) && keep_categories.is_empty();
    let tokens = destroyed_tokens(values, &gone);
    let mut categories: Vec<String> = gone
        .iter()
        .map(|v| v.category.clone().unwrap_or_else(|| "free_text".into()))
        .collect();
    categories.sort();
    categories.dedup();

    let pseudo = pseudonym(subject.id);
    let (held_keys, shred_data_key) = hold_keys(&subject, &keep_categories, hold_until);
    let shred = match (&scope, whole_subject) {
        (Scope::Values(_), _) => Shred::Values,
        (_, true) => Shred::Whole,
        _ if shred_data_key => Shred::AllButHeld,
        _ => Shred::Kept,
    };
    let held = held_json(policy, &pseudo, &keep_categories, hold_until, shred);
    let part = serde_json::json!({
        "pseudonym": pseudo,
        "categories": categories,
        "values_destroyed": gone.len(),
        "tokens_destroyed": tokens.len(),
        "whole_subject": whole_subject,
    });
    // The act's id is filled in by `Act::add`, which knows which act the erasure joins.
    let audit = AuditEvent::Erasure {
        act_id: String::new(),
        reason: reason.reference(),
        subject: pseudo.clone(),
        categories,
        values: u32::try_from(gone.len()).unwrap_or(u32::MAX),
        whole_subject,
        held_categories: keep_categories.clone(),
    };
    let notice = Notice {
        reason,
        pseudonym: &pseudo,
        whole_subject,
        held_categories: &keep_categories,
        at,
    };
    let outbox = webhooks(policy, values, records, &gone, &tokens, &notice);
    Planned {
        values: gone.len(),
        tokens: tokens.len(),
        erase: Erase {
            subject_id: subject.id.clone(),
            revision: subject.revision,
            values: match scope {
                Scope::Values(ids) => Some(ids),
                _ => None,
            },
            keep_categories,
            hold_until,
            held_keys,
            shred_data_key,
            audit,
        },
        outbox,
        whole_subject,
        shred,
        part,
        held,
    }
}

/// The categories a legal hold keeps, and until when the longest of those holds runs.
fn held_categories(
    policy: &Policy,
    values: &[&VaultValue],
    scope: &Scope,
    at: Millis,
) -> (Vec<String>, Option<Millis>) {
    match scope {
        Scope::All => {
            // Categories whose hold still runs for some value stay; the rest goes.
            let mut keep: BTreeMap<&str, Millis> = BTreeMap::new();
            for v in values {
                if let Some((_, until)) =
                    crate::retention::hold_until(policy, v.category.as_deref(), v.collected_at)
                        .filter(|(_, t)| *t > at)
                {
                    let c = v.category.as_deref().unwrap_or_default();
                    let e = keep.entry(c).or_insert(until);
                    *e = (*e).max(until);
                }
            }
            let until = keep.values().copied().max();
            (keep.into_keys().map(str::to_owned).collect(), until)
        }
        Scope::Values(_) => (Vec::new(), None),
        Scope::Hold { drop, until } => {
            let dropped: BTreeSet<i64> = drop.iter().copied().collect();
            let mut keep: Vec<String> = values
                .iter()
                .filter(|v| !dropped.contains(&v.id))
                .filter_map(|v| v.category.clone())
                .collect();
            keep.sort();
            keep.dedup();
            (keep, Some(*until))
        }
    }
}

/// The values that go: all but the held categories', or the rows named.
fn gone<'v>(values: &[&'v VaultValue], scope: &Scope, keep: &[String]) -> Vec<&'v VaultValue> {
    match scope {
        Scope::All | Scope::Hold { .. } if !keep.is_empty() => values
            .iter()
            .copied()
            .filter(|v| {
                v.category
                    .as_deref()
                    .is_none_or(|c| !keep.iter().any(|k| k == c))
            })
            .collect(),
        Scope::All | Scope::Hold { .. } => values.to_vec(),
        Scope::Values(ids) => values
            .iter()
            .copied()
            .filter(|v| ids.contains(&v.id))
            .collect(),
    }
}

/// The tokens that no longer name anything once `gone` is: a token still carried by a kept
/// collection stays. Collections without a token (`encrypt`, `hash`, `pass`) have none to name.
fn destroyed_tokens<'v>(values: &[&'v VaultValue], gone: &[&'v VaultValue]) -> BTreeSet<&'v str> {
    let gone_ids: BTreeSet<i64> = gone.iter().map(|v| v.id).collect();
    let kept_tokens: BTreeSet<&str> = values
        .iter()
        .filter(|v| !gone_ids.contains(&v.id))
        .map(|v| v.token.as_str())
        .collect();
    gone.iter()
        .filter(|v| v.has_token())
        .map(|v| v.token.as_str())
        .filter(|t| !kept_tokens.contains(t))
        .collect()
}

/// The act's lines for what a legal hold keeps restricted: category, the law, until when.
fn held_json(
    policy: &Policy,
    pseudo: &str,
    keep: &[String],
    until: Option<Millis>,
    shred: Shred,
) -> Vec<serde_json::Value> {
    let key = match shred {
        Shred::AllButHeld => "the category's own key, kept wrapped until the hold ends; the subject's data key and every other category's key destroyed / ключ категории хранится до окончания срока; ключи остальных категорий уничтожены",
        _ => "the subject's data key, kept and blocked until the hold ends (data collected before per-category keys) / ключ субъекта заблокирован до окончания срока",
    };
    keep.iter()
        .map(|c| {
            let basis = policy
                .legal_holds
                .iter()
                .filter(|h| h.def.category == *c)
                .map(|h| h.def.basis.clone())
                .collect::<Vec<_>>()
                .join("; ");
            serde_json::json!({
                "subject": pseudo,
                "category": c,
                "basis": basis,
                "until": until.map(crate::rfc3339),
                "state": "restricted",
                "key": key,
            })
        })
        .collect()
}

/// What every erasure webhook of one subject says besides its tokens.
struct Notice<'a> {
    reason: Reason<'a>,
    pseudonym: &'a str,
    whole_subject: bool,
    held_categories: &'a [String],
    at: Millis,
}

/// One erasure webhook per upstream behind a route the subject came through (it holds the
/// pseudonym, and tokens or envelopes), with the destroyed tokens it received.
fn webhooks(
    policy: &Policy,
    values: &[&VaultValue],
    records: &[&ConsentRecord],
    gone: &[&VaultValue],
    tokens: &BTreeSet<&str>,
    n: &Notice<'_>,
) -> Vec<OutboxWrite> {
    let mut routes: BTreeSet<&str> = values.iter().map(|v| v.route.as_str()).collect();
    routes.extend(records.iter().map(|r| r.route.as_str()));
    let mut upstreams: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    let told = policy
        .routes
        .iter()
        .filter(|r| routes.contains(r.id.as_str()));
    for (r, upstream) in told.filter_map(|r| Some((r, r.upstream()?))) {
        let toks = upstreams.entry(upstream).or_default();
        toks.extend(
            gone.iter()
                .filter(|v| v.route == r.id && tokens.contains(v.token.as_str()))
                .map(|v| v.token.as_str()),
        );
    }
    upstreams
        .into_iter()
        .filter_map(|(u, mut toks)| {
            let up = policy.upstream(u);
            let hook = up.erasure_webhook.as_deref()?;
            toks.sort_unstable();
            toks.dedup();
            if toks.is_empty() && !n.whole_subject {
                return None;
            }
            let event_id = format!("evt_{}", uuid::Uuid::now_v7().simple());
            let payload = serde_json::json!({
                "event": "erasure",
                "event_id": event_id,
                "reference": n.reason.reference(),
                "subject": n.pseudonym,
                "whole_subject": n.whole_subject,
                "tokens": toks,
                "held_categories": n.held_categories,
                "erased_at": crate::rfc3339(n.at),
            });
            Some(OutboxWrite {
                event_id,
                request_id: n.reason.request_id().map(str::to_owned),
                upstream: up.id.clone(),
                url: join_url(&up.url, hook),
                event: "erasure".into(),
                payload: payload.to_string(),
            })
        })
        .collect()
}

/// Who destroyed the data, as order No. 179 asks for it: the person's name and position (the
/// token's `name` and `position` claims), else the policy's responsible person; and the account.
#[derive(Debug, Clone, Copy)]
pub struct Destroyer<'a> {
    pub account: &'a str,
    pub name: Option<&'a str>,
    pub position: Option<&'a str>,
}

impl<'a> Destroyer<'a> {
    /// pdgate's own sweeper: the act names the policy's responsible person.
    pub fn sweeper() -> Destroyer<'static> {
        Destroyer {
            account: "pdgate retention sweeper",
            name: None,
            position: None,
        }
    }

    fn person(&self, policy: &Policy) -> serde_json::Value {
        let c = &policy.controller;
        match self.name {
            Some(name) => serde_json::json!({
                "name": name,
                "position": self.position,
                "account": self.account,
                "named_by": "the signed-in account's token",
            }),
            None => serde_json::json!({
                "name": c.responsible.as_ref().map_or(&c.dpo.name, |r| &r.name),
                "position": "responsible for organizing personal data processing / ответственный за организацию обработки персональных данных",
                "account": self.account,
                "named_by": "the policy's responsible person (the account carries no name)",
            }),
        }
    }
}

/// What the destruction acts of one erasure request or one sweep share: who destroyed what,
/// why, where and when. One act covers every subject a request found, or a sweep slice's
/// subjects (order No. 179 lets one act list several subjects); its log extract has each one's
/// audit entry.
pub struct Act<'a> {
    pub policy: &'a Policy,
    /// The store's backend name, for the act's "information system".
    pub backend: &'a str,
    pub reason: Reason<'a>,
    pub by: Destroyer<'a>,
    /// The operator's legal time zone: the act's date as the operator's clock reads it.
    pub zone: &'a crate::legal_day::LegalZone,
    pub at: Millis,
}

impl Act<'_> {
    /// Adds `planned` erasures to `change` under one new destruction act (nothing when empty).
    pub fn add(&self, change: &mut Change, planned: impl IntoIterator<Item = Planned>) {
        let id = format!("act_{}", uuid::Uuid::now_v7().simple());
        let mut subjects = Vec::new();
        let mut held = Vec::new();
        let mut categories = BTreeSet::new();
        let (mut values, mut tokens) = (0, 0);
        let mut kinds = BTreeSet::new();
        for mut p in planned {
            if let AuditEvent::Erasure {
                act_id,
                categories: destroyed,
                ..
            } = &mut p.erase.audit
            {
                act_id.clone_from(&id);
                categories.extend(destroyed.iter().cloned());
            }
            values += p.values;
            tokens += p.tokens;
            kinds.insert(p.shred);
            subjects.push(p.part);
            // The hold's end also as the operator's clock reads it.
            let until = p.erase.hold_until.map(|t| self.zone.readable(t));
            held.extend(p.held.into_iter().map(|mut h| {
                h["until_local"] = serde_json::json!(until);
                h
            }));
            change.erase.push(p.erase);
            change.outbox.extend(p.outbox);
        }
        if subjects.is_empty() {
            return;
        }
        let category_names: Vec<serde_json::Value> = categories
            .iter()
            .map(|c| {
                let name = self
                    .policy
                    .categories
                    .iter()
                    .find(|x| x.id == *c)
                    .map_or("Identifiers found in free text", |x| x.name.as_str());
                serde_json::json!({"id": c, "name": name})
            })
            .collect();
        let controller = &self.policy.controller;
        let method = method_text(&kinds);
        let act = serde_json::json!({
            "act_id": id,
            "form": "Act of destruction of personal data (Roskomnadzor order No. 179 of 28.10.2022) / Акт об уничтожении персональных данных",
            "operator": {"name": controller.name, "address": controller.address},
            "subjects_note": "subjects are named by their pseudonyms: the identifying data itself is what was destroyed",
            "subjects": subjects,
            "destroyed_by": self.by.account,
            "destroyer": self.by.person(self.policy),
            "responsible_person": controller.responsible.as_ref().map_or(&controller.dpo.name, |r| &r.name),
            "categories": category_names,
            "values_destroyed": values,
            "tokens_destroyed": tokens,
            "information_system": format!("pdgate personal data vault ({}), {}", self.backend, controller.location_line()),
            "method": method,
            "reason": self.reason.text(),
            "reference": self.reason.reference(),
            "held": held,
            "destroyed_at": crate::rfc3339(self.at),
            "destroyed_local": self.zone.readable(self.at),
        });
        change.acts.push(ActWrite {
            id,
            request_id: self.reason.request_id().map(str::to_owned),
            sweep_id: self.reason.sweep_id().map(str::to_owned),
            act,
        });
    }
}

/// The act's method: what was done to each kind of subject it lists, and no more than that.
/// What crypto-shredding reaches: the vault and the envelopes the upstreams hold; a backup of
/// the vault taken before the act still holds the data key wrapped under the key-encryption key.
fn method_text(kinds: &BTreeSet<Shred>) -> String {
    let backups = "backups of the vault taken before this act still hold the wrapped key until they are destroyed, or until the key-encryption key they were taken under is destroyed after a key rotation / резервные копии, сделанные до акта, содержат ключ до их уничтожения или до уничтожения ключа шифрования ключей, действовавшего при их создании, после его смены";
    kinds
        .iter()
        .map(|k| match k {
            Shred::Whole => format!("crypto-shredding: the subject's AES-256-GCM data key, search index and ciphertexts deleted from the vault, so the envelopes the upstreams hold under it can no longer be opened; {backups} / криптографическое уничтожение: ключ субъекта, поисковый индекс и шифртексты удалены из хранилища"),
            Shred::AllButHeld => format!("crypto-shredding except the categories under a legal hold: the subject's data key and the ciphertexts of the other categories deleted, so their envelopes upstream can no longer be opened; the held categories' keys kept, blocked, until the hold ends; {backups} / криптографическое уничтожение, кроме категорий, срок хранения которых установлен законом: ключ субъекта удалён, ключи этих категорий заблокированы до окончания срока"),
            Shred::Kept => "deletion of the ciphertexts not under a legal hold; the subject's data key kept, blocked, until the hold ends, because data collected before per-category keys is sealed under it, so envelopes upstream stay readable to pdgate (which refuses to open them while blocked) / удаление шифртекстов, кроме удерживаемых по закону; ключ субъекта заблокирован до окончания срока".to_owned(),
            Shred::Values => "deletion of the listed values' ciphertexts and tokens from the vault / удаление зашифрованных значений".to_owned(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `base` (an upstream URL) with `path` (a webhook path, or a whole URL) appended.
pub fn join_url(base: &http::Uri, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        return path.to_owned();
    }
    let b = base.to_string();
    format!(
        "{}/{}",
        b.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Kek, RootSecret, Sealing, SubjectKeys};

    fn policy() -> Policy {
        Policy::load(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies"))
            .unwrap()
    }

    fn value(id: i64, category: &str) -> VaultValue {
        VaultValue {
            id,
            subject_id: b"s".to_vec().into(),
            token: format!("tok_{id}").into(),
            kind: "text".into(),
            action: "encrypt".into(),
            category: Some(category.into()),
            field: category.into(),
            purposes: "order_fulfilment".into(),
            route: "checkout".into(),
            ciphertext: vec![1],
            collected_at: 1_800_000_000_000,
            sealing: Sealing::Category,
        }
    }

    /// The method an act of `planned` states.
    fn act_method(p: &Policy, planned: [Planned; 2], at: Millis) -> String {
        let mut change = Change::default();
        let act = Act {
            policy: p,
            backend: "sqlite",
            reason: Reason::Request {
                id: "req_1",
                kind: "erasure",
            },
            by: Destroyer::sweeper(),
            zone: &crate::legal_day::LegalZone::default(),
            at,
        };
        act.add(&mut change, planned);
        change.acts[0].act["method"].as_str().unwrap().to_owned()
    }

    /// Under a 402-FZ hold on `payment`, erasure keeps the payment key wrapped on its own and
    /// shreds the data key — unless the data key sealed data itself (a subject from before
    /// category keys), whose held `pdg1.` envelopes need it: then it stays, blocked, and the
    /// act says so.
    #[test]
    fn a_hold_keeps_its_category_key_and_the_rest_is_shredded() {
        let p = policy();
        let keys = Keys::derive(Kek::generate(1), &RootSecret::generate());
        let (_, wrapped) = keys.new_dek(b"s");
        let (payment, contact) = (value(1, "payment"), value(2, "contact"));
        // A `hash`ed field, noted by name: no token to destroy or announce.
        let noted = VaultValue {
            token: "".into(),
            action: "hash".into(),
            ciphertext: Vec::new(),
            ..value(3, "contact")
        };
        let at = 1_800_000_000_000 + 86_400_000;
        let sid: SubjectId = b"s".to_vec().into();
        let plan_for = |seals_data: bool| {
            let target = Target {
                id: &sid,
                revision: 0,
                keys: &keys,
                wrapped_dek: &wrapped,
                seals_data,
            };
            let reason = Reason::Request {
                id: "req_1",
                kind: "erasure",
            };
            plan(
                &p,
                target,
                &[&payment, &contact, &noted],
                &[],
                Scope::All,
                reason,
                at,
            )
        };
        let new = plan_for(false);
        assert_eq!(new.erase.keep_categories, ["payment"]);
        assert!(new.erase.shred_data_key);
        assert_eq!(new.shred, Shred::AllButHeld);
        assert_eq!(new.erase.held_keys.len(), 1);
        assert_eq!((new.values, new.tokens), (2, 1));
        let held = SubjectKeys::unwrap(&keys, b"s", &[], &new.erase.held_keys).unwrap();
        let line = |c| crate::crypto::Binding {
            subject: b"s",
            field: "f",
            purposes: "order_fulfilment",
            category: Some(c),
            collected_at: 5,
            sealing: Sealing::Category,
        };
        let live = SubjectKeys::unwrap(&keys, b"s", &wrapped, &[]).unwrap();
        let invoice = live.seal(line("payment"), b"INV-1").unwrap();
        assert_eq!(
            held.open(line("payment"), &invoice).unwrap().as_slice(),
            b"INV-1"
        );
        let old = plan_for(true);
        assert!(!old.erase.shred_data_key);
        assert_eq!(old.shred, Shred::Kept);
        assert!(old.held[0]["key"]
            .as_str()
            .unwrap()
            .starts_with("the subject's data key, kept"));
        let method = act_method(&p, [new, old], at);
        assert!(
            method.contains("except the categories under a legal hold"),
            "{method}"
        );
        assert!(method.contains("data key kept, blocked"), "{method}");
        assert!(
            !method.contains("crypto-shredding: the subject's AES-256-GCM data key"),
            "{method}"
        );
    }
}
