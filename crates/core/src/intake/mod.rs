//! The decision for one matched form post, as plain functions (SPEC 2, steps 4–8).
//!
//! [`evaluate`] looks only at the policy and the parsed leaves: consent, minimization, duplicates,
//! kind validation, which purposes are live and who the subject is. [`plan`] turns that, the keys
//! and the subject's data key into the exact rows to commit and a rendering per leaf whose tokens
//! are filled in by [`render`] once the store has said which token each value got. The proxy does
//! the I/O in between; nothing here can block or fail on the network.

pub mod minor;

use std::collections::HashSet;
use std::net::IpAddr;

use crate::actions::{self, detect, Action, Kind, TokenShape, TOKEN_CANDIDATES};
use crate::audit::AuditEvent;
use crate::consent::is_truthy;
use crate::crypto::{Aad, Binding, Dek, Keys, Sealing};
use crate::forms::{covering_path, Leaf, Output};
use crate::policy::{Field, LegalBasis, Policy, Route, UnknownFields};
pub use crate::records::{pseudonym, subject_id_of};
use crate::records::{
    ConsentRecord, ConsentStatus, IntakeWrite, Mac, Pseudonym, SubjectId, SubjectWrite, Token,
    ValueWrite,
};
use crate::Millis;

/// A refusal with its HTTP status and stable code. Messages name fields, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// The declared field the refusal is about (a name from the policy, never the visitor's).
    pub field: Option<String>,
}

impl Refusal {
    fn new(status: u16, code: &'static str, message: String) -> Self {
        Self {
            status,
            code,
            message,
            field: None,
        }
    }

    fn about(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }
}

/// What the policy says about each leaf, before any key is touched.
#[derive(Debug)]
pub struct Evaluation<'p> {
    decisions: Vec<Decision<'p>>,
    /// `(purpose index, granted)` for each consent the route asks for.
    pub consents: Vec<(usize, bool, &'p crate::policy::RouteConsent)>,
    /// Purposes with a live basis for this request.
    pub active: Vec<usize>,
    pub dropped: u32,
    /// The identifying field's kind and normalized value.
    pub subject_key: Option<(Kind, String)>,
    /// Set by the caller from [`minor::check`], on the operator's day: a minor's consents were
    /// given with a guardian's.
    pub guardian: Option<minor::Guardian>,
    /// For each distribution consent (152-FZ Art. 10.1(9)): the purpose and where the subject's
    /// conditions and bans are, and whether given. Their values are declared fields, kept in the
    /// vault like any other and erased with it; the consent record names them.
    pub terms: Vec<(usize, serde_json::Value)>,
}

/// Where each distribution consent's conditions and bans are in this form.
fn distribution_terms(route: &Route, leaves: &[Leaf]) -> Vec<(usize, serde_json::Value)> {
    let given = |f: &Option<String>| {
        f.as_ref().is_some_and(|f| {
            leaves
                .iter()
                .any(|l| &l.path == f && !l.value.trim().is_empty())
        })
    };
    route
        .consents
        .iter()
        .filter(|rc| rc.conditions_field.is_some() || rc.bans_field.is_some())
        .map(|rc| {
            let terms = serde_json::json!({
                "conditions_field": rc.conditions_field,
                "conditions_given": given(&rc.conditions_field),
                "bans_field": rc.bans_field,
                "bans_given": given(&rc.bans_field),
            });
            (rc.purpose, terms)
        })
        .collect()
}

#[derive(Debug)]
enum Decision<'p> {
    Keep,
    Drop,
    /// Forwarded as sent (`pass`), and noted in the vault by name and category so the access
    /// report can say it was collected and where it went.
    Note {
        field: &'p Field,
    },
    Act {
        field: &'p Field,
        normalized: String,
    },
}

pub fn evaluate<'p>(
    policy: &'p Policy,
    route: &'p Route,
    leaves: &[Leaf],
) -> Result<Evaluation<'p>, Refusal> {
    let consents = consents_asked(policy, route, leaves)?;
    let active: Vec<usize> = route
        .purposes
        .iter()
        .copied()
        .filter(|&p| {
            policy.purpose(p).def.legal_basis != LegalBasis::Consent
                || consents.iter().any(|(cp, g, _)| *cp == p && *g)
        })
        .collect();
    let mut seen = HashSet::new();
    let mut dropped = 0u32;
    let mut decisions = Vec::with_capacity(leaves.len());
    for leaf in leaves {
        let decision = decide(policy, route, &active, leaf, &mut seen)?;
        if matches!(decision, Decision::Drop) {
            dropped += 1;
        }
        decisions.push(decision);
    }
    Ok(Evaluation {
        decisions,
        consents,
        active,
        dropped,
        subject_key: subject_key(route, leaves)?,
        guardian: None,
        terms: distribution_terms(route, leaves),
    })
}

/// Whether each consent the route asks for was given; a required one missing refuses the post.
fn consents_asked<'p>(
    policy: &Policy,
    route: &'p Route,
    leaves: &[Leaf],
) -> Result<Vec<(usize, bool, &'p crate::policy::RouteConsent)>, Refusal> {
    let mut consents = Vec::with_capacity(route.consents.len());
    for rc in &route.consents {
        let granted = leaves
            .iter()
            .any(|l| l.path == rc.field && is_truthy(&l.value));
        if rc.required && !granted {
            let purpose = &policy.purpose(rc.purpose).def.id;
            let msg = format!(
                "consent to purpose `{purpose}` is required: field `{}` must be checked",
                rc.field
            );
            return Err(Refusal::new(422, "consent_required", msg).about(&rc.field));
        }
        consents.push((rc.purpose, granted, rc));
    }
    Ok(consents)
}

/// What happens to one leaf: consent boxes stay, undeclared fields follow `unknown_fields`, a
/// declared field is acted on when a live purpose covers its category.
fn decide<'p, 'l>(
    policy: &Policy,
    route: &'p Route,
    active: &[usize],
    leaf: &'l Leaf,
    seen: &mut HashSet<&'l str>,
) -> Result<Decision<'p>, Refusal> {
    if route.is_control(&leaf.path) {
        return Ok(Decision::Keep);
    }
    let Some(name) = covering_path(&leaf.path, |p| route.fields.contains_key(p)) else {
        return match route.unknown_fields {
            UnknownFields::Drop => Ok(Decision::Drop),
            UnknownFields::Pass => Ok(Decision::Keep),
            UnknownFields::Reject => Err(Refusal::new(
                422,
                "undeclared_field",
                format!(
                    "field `{}` is not declared by route `{}`",
                    leaf.path, route.id
                ),
            )),
        };
    };
    let field = &route.fields[name];
    if !leaf.path.contains("[]")
        && !seen.insert(leaf.path.as_str())
        && !matches!(field.action, Action::Pass | Action::Drop)
    {
        let msg = format!("field `{}` appears more than once", leaf.path);
        return Err(Refusal::new(400, "duplicate_field", msg).about(&leaf.path));
    }
    let covered = |category: &str| {
        active.iter().any(|&p| {
            policy
                .purpose(p)
                .def
                .categories
                .iter()
                .any(|c| c == category)
        })
    };
    Ok(match field.action {
        Action::Pass if field.category.is_some() && !leaf.value.trim().is_empty() => {
            Decision::Note { field }
        }
        Action::Pass => Decision::Keep,
        Action::Drop => Decision::Drop,
        _ if field.category.as_deref().is_some_and(|c| !covered(c)) => Decision::Drop,
        _ if leaf.value.trim().is_empty() => Decision::Keep,
        _ => match field.kind.normalize(&leaf.value) {
            Some(normalized) => Decision::Act { field, normalized },
            None => {
                let msg = format!(
                    "field `{}` is not a valid {}",
                    leaf.path,
                    field.kind.as_str()
                );
                return Err(Refusal::new(422, "invalid_field", msg).about(&leaf.path));
            }
        },
    })
}

/// The normalized value of the route's subject field, which must hold a valid one.
fn subject_key(route: &Route, leaves: &[Leaf]) -> Result<Option<(Kind, String)>, Refusal> {
    let Some(sf) = &route.subject_field else {
        return Ok(None);
    };
    let kind = route.fields.get(sf).map(|f| f.kind).unwrap_or_default();
    let value = leaves
        .iter()
        .find(|l| &l.path == sf)
        .map(|l| l.value.as_str())
        .unwrap_or_default();
    match kind.normalize(value).filter(|v| !v.is_empty()) {
        Some(n) => Ok(Some((kind, n))),
        None => {
            let msg = format!(
                "field `{sf}` identifies the data subject and must hold a valid {}",
                kind.as_str()
            );
            Err(Refusal::new(422, "subject_required", msg).about(sf))
        }
    }
}

/// Request facts recorded with a consent (hashed) and in the audit entry.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub now: Millis,
    pub request_id: &'a str,
    pub client_ip: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
    pub origin: Option<&'a str>,
}

/// The subject this intake belongs to and its unwrapped data key.
pub struct SubjectCtx {
    pub write: SubjectWrite,
    pub dek: Dek,
}

impl SubjectCtx {
    pub fn id(&self) -> &SubjectId {
        self.write.id()
    }
}

/// Everything to commit, and how to write the body afterwards.
pub struct Plan {
    pub write: IntakeWrite,
    renders: Vec<Render>,
    pub receipts: Vec<String>,
    pub subject: Pseudonym,
    pub purposes_header: String,
    pub consent_header: String,
    /// `(field path, value index)` of masked fields: the mask is for display, the token (sent in
    /// `X-Pdgate-Refs`) is what the CRM detokenizes.
    mask_refs: Vec<(String, usize)>,
}

impl Plan {
    /// `field=token, …` for the masked fields, once tokens are issued; empty when none.
    /// `X-Pdgate-Refs`: `path=token` for each masked field. A path is percent-encoded where it
    /// holds anything but plain ASCII, `,`, `=`, `;`, `%` or whitespace included, so that a field
    /// name can neither inject a pair nor make the header invalid (and so dropped).
    pub fn refs_header(&self, tokens: &[Token]) -> String {
        const UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
            .add(b' ')
            .add(b',')
            .add(b'=')
            .add(b';')
            .add(b'%')
            .add(b'"');
        self.mask_refs
            .iter()
            .filter_map(|(f, i)| {
                let f = percent_encoding::utf8_percent_encode(f, UNSAFE);
                tokens.get(*i).map(|t| format!("{f}={t}"))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

enum Render {
    Keep,
    Drop,
    Text(String),
    Pieces(Vec<Piece>),
}

enum Piece {
    Lit(String),
    Token(usize),
}

pub fn plan(
    policy: &Policy,
    route: &Route,
    eval: &Evaluation<'_>,
    leaves: &[Leaf],
    keys: &Keys,
    subject: SubjectCtx,
    facts: RequestFacts<'_>,
) -> Plan {
    let sid = subject.id().clone();
    let mut vault = Vaulting {
        keys,
        sid: &sid,
        dek: &subject.dek,
        category_keys: Vec::new(),
        at: facts.now,
        domain: policy.controller.token_domain.as_str(),
        values: Vec::new(),
        index: Vec::new(),
        mask_refs: Vec::new(),
    };
    let mut renders = Vec::with_capacity(leaves.len());
    for (leaf, decision) in leaves.iter().zip(&eval.decisions) {
        renders.push(match decision {
            Decision::Keep => Render::Keep,
            Decision::Drop => Render::Drop,
            Decision::Act { field, normalized } => {
                let purposes = purposes_for(policy, eval, field.category.as_deref());
                vault.render(field, leaf, normalized, &purposes)
            }
            Decision::Note { field } => {
                let purposes = purposes_for(policy, eval, field.category.as_deref());
                vault.note(field, leaf, &purposes);
                Render::Keep
            }
        });
    }
    let Vaulting {
        mut index,
        values,
        mask_refs,
        ..
    } = vault;
    index.sort_unstable();
    index.dedup();

    let subject_name = pseudonym(&sid);
    let given = consents_given(policy, route, eval, keys, &sid, &facts);
    let mut audit = given.audit;
    let active_ids: Vec<String> = eval
        .active
        .iter()
        .map(|&p| policy.purpose(p).def.id.clone())
        .collect();
    audit.insert(
        0,
        AuditEvent::Intake {
            request_id: facts.request_id.to_owned(),
            route: route.id.clone(),
            subject: subject_name.clone(),
            purposes: active_ids.clone(),
            consents: given.header.clone(),
            stored_values: u32::try_from(values.len()).unwrap_or(u32::MAX),
            dropped_fields: eval.dropped,
        },
    );
    let write = IntakeWrite {
        at: facts.now,
        route: route.id.clone(),
        subject: Some(subject.write),
        index,
        values,
        consents: given.records,
        dropped_fields: eval.dropped,
        audit,
    };
    Plan {
        write,
        renders,
        receipts: given.receipts,
        subject: subject_name,
        purposes_header: active_ids.join(","),
        consent_header: given.header.join(", "),
        mask_refs,
    }
}

/// The active purposes that cover `category` (all of them for a value without one), as stored
/// beside the value: `marketing,orders`.
fn purposes_for(policy: &Policy, eval: &Evaluation<'_>, category: Option<&str>) -> String {
    let ids: Vec<&str> = eval
        .active
        .iter()
        .map(|&p| &policy.purpose(p).def)
        .filter(|p| category.is_none_or(|c| p.categories.iter().any(|x| x == c)))
        .map(|p| p.id.as_str())
        .collect();
    ids.join(",")
}

/// The vault values one intake collects, with their search-index entries.
struct Vaulting<'a> {
    keys: &'a Keys,
    sid: &'a [u8],
    dek: &'a Dek,
    /// The category keys derived so far (a form has a handful of categories).
    category_keys: Vec<(Option<String>, Dek)>,
    /// The collection time, bound into every ciphertext and stored with every value.
    at: Millis,
    domain: &'a str,
    values: Vec<ValueWrite>,
    index: Vec<Mac>,
    /// `(field path, value index)` of masked fields.
    mask_refs: Vec<(String, usize)>,
}

/// One value to keep: what it is, how its token looks, its normal form and the text as sent.
struct Keep<'v> {
    kind: Kind,
    shape: TokenShape,
    normalized: &'v str,
    original: &'v str,
}

impl Vaulting<'_> {
    /// Seals `plain` under the key of `field`'s category, bound to subject, field, purposes,
    /// category and collection time.
    fn seal(&mut self, field: &Field, path: &str, purposes: &str, plain: &str) -> Vec<u8> {
        let category = field.category.as_deref();
        let i = match self
            .category_keys
            .iter()
            .position(|(c, _)| c.as_deref() == category)
        {
            Some(i) => i,
            None => {
                let key = self.dek.for_category(category);
                self.category_keys.push((field.category.clone(), key));
                self.category_keys.len() - 1
            }
        };
        let aad = Aad {
            subject: self.sid,
            field: path,
            purpose: purposes,
            scope: Some((category, self.at)),
        };
        self.category_keys[i].1.encrypt(plain.as_bytes(), aad)
    }

    /// Adds a value (sealed under its category's key) and returns its index, which the issued
    /// token replaces in the body.
    fn keep(&mut self, field: &Field, leaf: &Leaf, purposes: &str, v: Keep<'_>) -> usize {
        let mac = actions::value_mac(self.keys, self.sid, v.shape, v.normalized);
        if matches!(v.kind, Kind::Email | Kind::Phone) {
            self.index
                .push(actions::blind_index(self.keys, v.kind, v.normalized));
        }
        let ciphertext = self.seal(field, &leaf.path, purposes, v.original.trim());
        self.values.push(ValueWrite {
            value_mac: mac,
            candidates: (0..TOKEN_CANDIDATES)
                .map(|a| actions::token_candidate(v.shape, &mac, a, v.normalized, self.domain))
                .map(Token::from)
                .collect(),
            shape: v.shape.as_str().to_owned(),
            kind: v.kind.as_str().to_owned(),
            action: field.action.as_str().to_owned(),
            category: field.category.clone(),
            field: leaf.path.clone(),
            purposes: purposes.to_owned(),
            ciphertext,
        });
        self.values.len() - 1
    }

    /// A collection without a token: an `encrypt` value (its ciphertext, the same the envelope
    /// carries) or a `hash`/`pass` field (no ciphertext: pdgate does not keep the value).
    fn untokened(&mut self, field: &Field, leaf: &Leaf, purposes: &str, ciphertext: Vec<u8>) {
        self.values.push(ValueWrite {
            value_mac: Mac::from([0; 32]),
            candidates: Vec::new(),
            shape: String::new(),
            kind: field.kind.as_str().to_owned(),
            action: field.action.as_str().to_owned(),
            category: field.category.clone(),
            field: leaf.path.clone(),
            purposes: purposes.to_owned(),
            ciphertext,
        });
    }

    /// Notes a field forwarded as sent.
    fn note(&mut self, field: &Field, leaf: &Leaf, purposes: &str) {
        self.untokened(field, leaf, purposes, Vec::new());
    }

    /// The `encrypt` envelope of a field, kept in the vault too.
    fn envelope(&mut self, field: &Field, leaf: &Leaf, purposes: &str) -> Render {
        let sealed = self.seal(field, &leaf.path, purposes, leaf.value.trim());
        let text = Envelope {
            subject: self.sid.to_vec(),
            field: leaf.path.clone(),
            purposes: purposes.to_owned(),
            category: field.category.clone(),
            collected_at: Some(self.at),
            sealed,
        };
        let encoded = text.encode();
        self.untokened(field, leaf, purposes, text.sealed);
        Render::Text(encoded)
    }

    /// What a declared field becomes in the forwarded body, keeping what the action stores.
    fn render(&mut self, field: &Field, leaf: &Leaf, normalized: &str, purposes: &str) -> Render {
        let value = Keep {
            kind: field.kind,
            shape: field.kind.token_shape(),
            normalized,
            original: &leaf.value,
        };
        match field.action {
            Action::Tokenize => {
                Render::Pieces(vec![Piece::Token(self.keep(field, leaf, purposes, value))])
            }
            Action::Mask => {
                let value = Keep {
                    shape: TokenShape::Generic,
                    ..value
                };
                let i = self.keep(field, leaf, purposes, value);
                self.mask_refs.push((leaf.path.clone(), i));
                Render::Text(actions::mask(field.kind, &leaf.value))
            }
            Action::Encrypt => self.envelope(field, leaf, purposes),
            Action::Hash => {
                self.note(field, leaf, purposes);
                Render::Text(actions::hash_value(self.keys, field.kind, normalized))
            }
            Action::Redact => self.redact(field, leaf, purposes),
            Action::Pass => Render::Keep,
            Action::Drop => Render::Drop,
        }
    }

    /// Free text with every identifier the detectors find replaced by its token.
    fn redact(&mut self, field: &Field, leaf: &Leaf, purposes: &str) -> Render {
        let text = leaf.value.as_str();
        let findings = detect::detect(text, self.domain);
        if findings.is_empty() {
            return Render::Keep;
        }
        let mut pieces = Vec::with_capacity(2 * findings.len() + 1);
        let mut at = 0;
        for f in findings {
            if f.start > at {
                pieces.push(Piece::Lit(text[at..f.start].to_owned()));
            }
            let span = &text[f.start..f.end];
            let kind = Kind::from(f.kind);
            let norm = kind
                .normalize(span)
                .unwrap_or_else(|| span.trim().to_owned());
            let shape = if matches!(kind, Kind::Email) {
                TokenShape::Email
            } else {
                TokenShape::Generic
            };
            let value = Keep {
                kind,
                shape,
                normalized: &norm,
                original: span,
            };
            pieces.push(Piece::Token(self.keep(field, leaf, purposes, value)));
            at = f.end;
        }
        if at < text.len() {
            pieces.push(Piece::Lit(text[at..].to_owned()));
        }
        Render::Pieces(pieces)
    }
}

/// The consents an intake records: ledger records and receipts for those given, an audit event
/// each, and the `X-Pdgate-Consent` header (`purpose=granted|absent` for every purpose asked).
struct Given {
    records: Vec<ConsentRecord>,
    receipts: Vec<String>,
    audit: Vec<AuditEvent>,
    header: Vec<String>,
}

fn consents_given(
    policy: &Policy,
    route: &Route,
    eval: &Evaluation<'_>,
    keys: &Keys,
    sid: &SubjectId,
    facts: &RequestFacts<'_>,
) -> Given {
    let subject_name = pseudonym(sid);
    let regimes: Vec<&str> = policy
        .controller
        .regimes
        .iter()
        .map(|r| r.as_str())
        .collect();
    let mut given = Given {
        records: Vec::new(),
        receipts: Vec::new(),
        audit: Vec::new(),
        header: Vec::new(),
    };
    for (p, granted, rc) in &eval.consents {
        let purpose = policy.purpose(*p);
        let state = if *granted { "granted" } else { "absent" };
        given.header.push(format!("{}={state}", purpose.def.id));
        if !granted {
            continue;
        }
        let Some(text) = purpose.consent_text.map(|i| &policy.consent_texts[i]) else {
            continue;
        };
        let receipt = uuid::Uuid::now_v7().to_string();
        given.audit.push(AuditEvent::ConsentGiven {
            receipt_id: receipt.clone(),
            subject: subject_name.clone(),
            purpose: purpose.def.id.clone(),
            text_version: text.version,
            method: rc.method.as_str().to_owned(),
        });
        given.records.push(ConsentRecord {
            receipt_id: receipt.clone(),
            subject_id: sid.clone(),
            purpose: purpose.def.id.clone(),
            text_id: text.id.clone(),
            text_version: i64::from(text.version),
            text_sha256: text.sha256.clone(),
            regimes: regimes.join(","),
            method: rc.method.as_str().to_owned(),
            route: route.id.clone(),
            at: facts.now,
            ip_hash: facts.client_ip.map(|ip| {
                keys.client_hash
                    .mac(&[b"ip", ip.to_string().as_bytes()])
                    .to_vec()
            }),
            ua_hash: facts
                .user_agent
                .map(|ua| keys.client_hash.mac(&[b"ua", ua.as_bytes()]).to_vec()),
            origin: facts.origin.map(str::to_owned),
            state: ConsentStatus::Granted,
            channel: None,
            details: consent_details(eval, *p),
        });
        given.receipts.push(receipt);
    }
    given
}

/// What a consent record keeps beside the grant: the guardian who consented for a minor, where
/// the subject's conditions and bans on data made public are.
fn consent_details(eval: &Evaluation<'_>, purpose: usize) -> Option<String> {
    let terms = eval.terms.iter().find(|(p, _)| *p == purpose);
    if eval.guardian.is_none() && terms.is_none() {
        return None;
    }
    let mut d = serde_json::Map::new();
    if let Some(g) = &eval.guardian {
        d.insert("guardian".into(), g.to_json());
    }
    if let Some((_, t)) = terms {
        d.insert("distribution".into(), t.clone());
    }
    Some(serde_json::Value::Object(d).to_string())
}

/// The body outputs once the store has issued a token for each vault value.
pub fn render(plan: &Plan, tokens: &[Token]) -> Vec<Output> {
    plan.renders
        .iter()
        .map(|r| match r {
            Render::Keep => Output::Keep,
            Render::Drop => Output::Drop,
            Render::Text(t) => Output::Replace(t.clone()),
            Render::Pieces(pieces) => {
                let mut s = String::new();
                for p in pieces {
                    match p {
                        Piece::Lit(l) => s.push_str(l),
                        Piece::Token(i) => s.push_str(tokens.get(*i).map_or("", Token::as_str)),
                    }
                }
                Output::Replace(s)
            }
        })
        .collect()
}

/// An `encrypt` envelope: the value sealed under its subject's category key, with what the key
/// and the associated data need to open it. Readable only by pdgate, and unreadable everywhere
/// once the key of its category is shredded.
///
/// `pdg2.<base64url(subject | field | purposes | category | collected at | nonce+ciphertext)>`;
/// `pdg1.` envelopes (before category keys) carry neither category nor time and open under the
/// subject's data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub subject: Vec<u8>,
    pub field: String,
    pub purposes: String,
    pub category: Option<String>,
    /// `None` for `pdg1.` envelopes.
    pub collected_at: Option<Millis>,
    pub sealed: Vec<u8>,
}

impl Envelope {
    pub fn encode(&self) -> String {
        let category = self.category.as_deref().unwrap_or_default();
        let mut buf = Vec::with_capacity(
            1 + self.subject.len()
                + 6
                + self.field.len()
                + self.purposes.len()
                + category.len()
                + 8
                + self.sealed.len(),
        );
        buf.push(u8::try_from(self.subject.len()).unwrap_or(u8::MAX));
        buf.extend_from_slice(&self.subject);
        for part in [self.field.as_str(), self.purposes.as_str(), category] {
            buf.extend_from_slice(&u16::try_from(part.len()).unwrap_or(u16::MAX).to_be_bytes());
            buf.extend_from_slice(part.as_bytes());
        }
        buf.extend_from_slice(&self.collected_at.unwrap_or_default().to_be_bytes());
        buf.extend_from_slice(&self.sealed);
        format!("pdg2.{}", data_encoding::BASE64URL_NOPAD.encode(&buf))
    }

    /// The envelope `s` is, `None` if it is none (or is damaged).
    pub fn parse(s: &str) -> Option<Envelope> {
        let (v2, body) = match (s.strip_prefix("pdg2."), s.strip_prefix("pdg1.")) {
            (Some(b), _) => (true, b),
            (None, Some(b)) => (false, b),
            (None, None) => return None,
        };
        let raw = data_encoding::BASE64URL_NOPAD
            .decode(body.as_bytes())
            .ok()?;
        let (&n, rest) = raw.split_first()?;
        let (subject, mut rest) = rest.split_at_checked(usize::from(n))?;
        let mut parts = Vec::new();
        for _ in 0..(if v2 { 3 } else { 2 }) {
            let (len, r) = rest.split_at_checked(2)?;
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            let (part, r) = r.split_at_checked(len)?;
            parts.push(String::from_utf8(part.to_vec()).ok()?);
            rest = r;
        }
        let mut collected_at = None;
        if v2 {
            let (at, r) = rest.split_at_checked(8)?;
            collected_at = Some(i64::from_be_bytes(at.try_into().ok()?));
            rest = r;
        }
        let category = if v2 {
            parts.pop().filter(|c| !c.is_empty())
        } else {
            None
        };
        let purposes = parts.pop()?;
        let field = parts.pop()?;
        Some(Envelope {
            subject: subject.to_vec(),
            field,
            purposes,
            category,
            collected_at,
            sealed: rest.to_vec(),
        })
    }

    /// How it was sealed, and so what opens it.
    pub fn binding(&self) -> Binding<'_> {
        Binding {
            subject: &self.subject,
            field: &self.field,
            purposes: &self.purposes,
            category: self.category.as_deref(),
            collected_at: self.collected_at.unwrap_or_default(),
            sealing: if self.collected_at.is_some() {
                Sealing::Category
            } else {
                Sealing::Subject
            },
        }
    }
}

#[cfg(test)]
mod tests;
