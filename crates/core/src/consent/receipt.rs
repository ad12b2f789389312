//! Consent receipts in the Kantara Consent Receipt 1.1 field set (the basis of ISO/IEC 27560),
//! built from a ledger record and the policy that was in force, plus pdgate's own proof fields
//! (text id, version and SHA-256 of the exact text shown, and the record's state).

use serde::Serialize;

use crate::policy::{LegalBasis, Policy};
use std::collections::BTreeMap;

use crate::audit::AuditEvent;
use crate::records::{pseudonym, ConsentRecord, ConsentStatus, IntakeWrite, Pseudonym, SubjectId};
use crate::Millis;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub version: &'static str,
    pub jurisdiction: String,
    /// Seconds since the epoch, as the specification has it.
    pub consent_timestamp: i64,
    pub collection_method: String,
    #[serde(rename = "consentReceiptID")]
    pub consent_receipt_id: String,
    pub language: String,
    pub pii_principal_id: Pseudonym,
    pub pii_controllers: Vec<Controller>,
    pub policy_url: String,
    pub services: Vec<Service>,
    pub sensitive: bool,
    pub spi_cat: Vec<String>,
    // pdgate extensions
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawn_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawal_channel: Option<String>,
    pub consent_text: TextRef,
    /// The guardian who consented for a minor; the conditions and bans of a consent to
    /// distribution (where they are kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Controller {
    pub pii_controller: String,
    pub on_behalf: bool,
    pub contact: String,
    pub address: String,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub service: String,
    pub purposes: Vec<ReceiptPurpose>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptPurpose {
    pub purpose: String,
    pub purpose_category: Vec<String>,
    pub consent_type: &'static str,
    pub pii_category: Vec<String>,
    pub primary_purpose: bool,
    pub termination: String,
    pub third_party_disclosure: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub third_party_name: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TextRef {
    pub id: String,
    pub version: i64,
    pub sha256: String,
    pub url: String,
}

/// The receipt for the records of one receipt id (`records` oldest first: the grant, then any
/// withdrawal). `base` is the absolute URL prefix of the self-service endpoints.
pub fn build(policy: &Policy, records: &[ConsentRecord], base: &str) -> Option<Receipt> {
    let first = records.first()?;
    let last = records.last()?;
    let purpose = policy.purposes.iter().find(|p| p.def.id == first.purpose);
    let text = policy
        .consent_texts
        .iter()
        .find(|t| t.id == first.text_id && i64::from(t.version) == first.text_version);
    let c = &policy.controller;
    let about = About::of(policy, purpose, text, first);
    let text_url = text_url(base, first);
    let explicit = purpose.is_some_and(|p| p.def.legal_basis == LegalBasis::Consent);
    let withdrawn = last.state == ConsentStatus::Withdrawn;
    Some(Receipt {
        version: "KI-CR-v1.1.0",
        jurisdiction: jurisdiction(&first.regimes),
        consent_timestamp: first.at / 1000,
        collection_method: format!("{} on web form route `{}`", first.method, first.route),
        consent_receipt_id: first.receipt_id.clone(),
        language: text
            .and_then(|t| t.front.language.clone())
            .unwrap_or_else(|| "ru".into()),
        pii_principal_id: pseudonym(&first.subject_id),
        pii_controllers: vec![Controller {
            pii_controller: c.name.clone(),
            on_behalf: false,
            contact: c.dpo.name.clone(),
            address: c.address.clone(),
            email: c.dpo.email.clone(),
            phone: c.phone.clone(),
        }],
        policy_url: text_url.clone(),
        services: vec![Service {
            service: c.name.clone(),
            purposes: vec![ReceiptPurpose {
                purpose: about.description,
                purpose_category: vec![first.purpose.clone()],
                consent_type: if explicit { "EXPLICIT" } else { "IMPLICIT" },
                pii_category: about.categories,
                primary_purpose: true,
                termination: about.termination,
                third_party_disclosure: !about.recipients.is_empty(),
                third_party_name: (!about.recipients.is_empty())
                    .then(|| about.recipients.join("; ")),
            }],
        }],
        sensitive: !about.special.is_empty(),
        spi_cat: about.special,
        state: last.state.as_str().to_owned(),
        withdrawn_at: withdrawn.then(|| crate::rfc3339(last.at)),
        withdrawal_channel: withdrawn.then(|| last.channel.clone()).flatten(),
        consent_text: TextRef {
            id: first.text_id.clone(),
            version: first.text_version,
            sha256: first.text_sha256.clone(),
            url: text_url,
        },
        details: first
            .details
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok()),
    })
}

/// What a receipt says about the purpose consented to, from the policies in force.
struct About {
    description: String,
    /// Category names.
    categories: Vec<String>,
    /// `name (country)` of each recipient.
    recipients: Vec<String>,
    /// Names of the special categories (152-FZ Art. 10, GDPR Art. 9) among them.
    special: Vec<String>,
    termination: String,
}

impl About {
    fn of(
        policy: &Policy,
        purpose: Option<&crate::policy::Purpose>,
        text: Option<&crate::policy::ConsentText>,
        first: &ConsentRecord,
    ) -> About {
        let Some(p) = purpose else {
            // A purpose no longer in the policies: its id is all there is to say.
            return About {
                description: first.purpose.clone(),
                categories: Vec::new(),
                recipients: Vec::new(),
                special: Vec::new(),
                termination: String::new(),
            };
        };
        let name_of = |id: &String| {
            policy
                .categories
                .iter()
                .find(|c| &c.id == id)
                .map_or_else(|| id.clone(), |c| c.name.clone())
        };
        let termination = text
            .and_then(|t| t.front.term.clone())
            .or_else(|| {
                p.def
                    .retention
                    .as_ref()
                    .map(|r| format!("{} from {:?}", r.keep, r.from).to_lowercase())
            })
            .unwrap_or_default();
        About {
            description: p.def.description.clone(),
            categories: p.def.categories.iter().map(name_of).collect(),
            recipients: p
                .def
                .recipients
                .iter()
                .map(|r| format!("{} ({})", r.name, r.country))
                .collect(),
            special: policy
                .categories
                .iter()
                .filter(|c| c.special && p.def.categories.contains(&c.id))
                .map(|c| c.name.clone())
                .collect(),
            termination,
        }
    }
}

/// The laws a consent was given under, as the receipt's jurisdiction: `RU (152-FZ), EU (GDPR)`.
fn jurisdiction(regimes: &str) -> String {
    regimes
        .split(',')
        .map(|r| match r {
            "fz152" => "RU (152-FZ)",
            "gdpr" => "EU (GDPR)",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where the consent text is served on the self-service listener.
fn text_url(base: &str, first: &ConsentRecord) -> String {
    // A text id is a path (`consents/marketing.md`): its `/` stay separators, since an encoded
    // `/` is refused at the edge (no other spelling of a path).
    const PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'.')
        .remove(b'-')
        .remove(b'_')
        .remove(b'~');
    format!(
        "{base}/texts/{}?version={}",
        percent_encoding::utf8_percent_encode(&first.text_id, PATH),
        first.text_version
    )
}

/// Newest record per purpose, with the grant it stands on (the latest grant): `(grant, last)`.
pub fn current(records: &[ConsentRecord]) -> BTreeMap<&str, (&ConsentRecord, &ConsentRecord)> {
    let mut out: BTreeMap<&str, (&ConsentRecord, &ConsentRecord)> = BTreeMap::new();
    for r in records {
        let e = out.entry(r.purpose.as_str()).or_insert((r, r));
        if r.state == ConsentStatus::Granted {
            e.0 = r;
        }
        e.1 = r;
    }
    out
}

/// What withdrawing consent to a purpose comes to.
pub struct Withdrawal {
    /// The withdrawal records and their audit entries, to commit before answering (empty when
    /// it was withdrawn already).
    pub write: IntakeWrite,
    /// The receipt of the grant withdrawn.
    pub receipt_id: String,
    /// Now, or when it was withdrawn before.
    pub withdrawn_at: Millis,
}

/// Withdraws consent to `purpose` from the subject's ledger `records`, through `channel`; `None`
/// when no consent to it is on record.
pub fn withdraw(
    records: &[ConsentRecord],
    subject: &SubjectId,
    purpose: &str,
    now: Millis,
    channel: &str,
) -> Option<Withdrawal> {
    let cur = current(records);
    let (grant, last) = cur.get(purpose)?;
    let ended = withdrawals(records, purpose, now, channel);
    let withdrawn_at = if ended.is_empty() { last.at } else { now };
    let audit = ended
        .iter()
        .map(|r| AuditEvent::ConsentWithdrawn {
            receipt_id: r.receipt_id.clone(),
            subject: pseudonym(subject),
            purpose: purpose.to_owned(),
            channel: channel.to_owned(),
        })
        .collect();
    Some(Withdrawal {
        write: IntakeWrite {
            at: now,
            audit,
            consents: ended,
            ..IntakeWrite::default()
        },
        receipt_id: grant.receipt_id.clone(),
        withdrawn_at,
    })
}

/// The records withdrawing `purpose`: one for every receipt of it whose latest record is still
/// a grant. A subject who consented twice (two forms, two receipts) withdraws both in one act;
/// withdrawing only the newest left the older receipt reading `granted`.
pub fn withdrawals(
    records: &[ConsentRecord],
    purpose: &str,
    at: crate::Millis,
    channel: &str,
) -> Vec<ConsentRecord> {
    let mut latest: Vec<&ConsentRecord> = Vec::new();
    for r in records.iter().filter(|r| r.purpose == purpose) {
        // Records come in ledger order: a later one of the same receipt replaces the earlier.
        match latest.iter_mut().find(|l| l.receipt_id == r.receipt_id) {
            Some(l) => *l = r,
            None => latest.push(r),
        }
    }
    latest
        .into_iter()
        .filter(|l| l.state == ConsentStatus::Granted)
        .map(|g| withdrawal(g, at, channel))
        .collect()
}

/// The record a withdrawal appends: the grant's proof fields, a new state, time and channel.
pub fn withdrawal(grant: &ConsentRecord, at: crate::Millis, channel: &str) -> ConsentRecord {
    ConsentRecord {
        at,
        state: ConsentStatus::Withdrawn,
        channel: Some(channel.to_owned()),
        ip_hash: None,
        ua_hash: None,
        origin: None,
        details: None,
        ..grant.clone()
    }
}
