//! A request's life: received (deadline set, repeats flagged), extended once, fulfilled in one
//! call. Each step is one [`Change`] committed with its audit entry; the legal arithmetic is in
//! [`super::deadline`], what erasure destroys in [`super::erasure`].

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::calendar::Calendar;
use super::deadline::{self, NoExtension, Regimes, RequestType};
use super::erasure::{self, Destroyer, Reason, Scope, Target};
use super::notify::{self, RightsEvent};
use crate::audit::AuditEvent;
use pdgate_core::actions::{self, Kind, TokenShape};
use pdgate_core::crypto::{Keys, SubjectKeys};
use pdgate_core::intake::{pseudonym, Envelope};
use pdgate_core::policy::{LegalBasis, Policy};
use pdgate_core::Millis;
use pdgate_store::rights::{
    Change, OutboxWrite, Rectify, Reindex, RequestRow, RequestStatus, Restrict,
};
use pdgate_store::{
    Backend, Committer, ConsentRecord, ConsentStatus, Mac, Rights, Store, StoreError, SubjectId,
};

/// What the request handlers need.
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub committer: &'a Committer,
    pub keys: &'a Keys,
    pub policy: &'a Policy,
    pub calendar: &'a Calendar,
}

/// 152-FZ Art. 14(4): a repeated request for the same information within 30 days.
pub const REPEAT_WINDOW_MS: Millis = 30 * 24 * 3600 * 1000;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    #[serde(rename = "type")]
    #[schema(
        pattern = "^(access|portability|rectification|erasure|restriction|objection|withdraw_consent)$"
    )]
    pub kind: String,
    pub subject: SubjectRef,
    #[serde(default)]
    #[schema(pattern = "^(fz152|gdpr|both)$")]
    pub regime: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    /// When the request reached the operator (RFC 3339), where that was before it is registered
    /// here — a letter, a form on paper; the deadline runs from it. Not in the future, not more
    /// than a year back.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub received_at: Option<String>,
    /// Objection / consent withdrawal: the purposes concerned (default: every purpose it can apply
    /// to). A withdrawal, and an objection to direct marketing, end them when the request is
    /// registered; other objections wait for the DPO's decision at fulfilment.
    #[serde(default)]
    pub purposes: Option<Vec<String>>,
}

/// How the subject identified themselves: one e-mail address or phone number.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectRef {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Fulfil {
    /// Rectification: the corrected value for each token.
    #[serde(default)]
    pub corrections: Vec<Correction>,
    /// Objection / consent withdrawal: the purposes concerned (default: every purpose it can apply to).
    #[serde(default)]
    pub purposes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    pub token: String,
    pub value: String,
}

/// Why a request could not be created, extended, fulfilled or lifted; the admin listener maps
/// each to its status and `code` (`admin/errors.rs`).
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The input is not valid.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// The request's state does not allow it.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("no such request")]
    NotFound,
    #[error("the subject key cannot be opened")]
    KeyUnavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(code: &'static str, message: impl Into<String>) -> FlowError {
    FlowError::Invalid {
        code,
        message: message.into(),
    }
}

fn conflict(code: &'static str, message: impl Into<String>) -> FlowError {
    FlowError::Conflict {
        code,
        message: message.into(),
    }
}

/// The blind index of the identifier the subject gave (the only way requests find subjects).
pub fn lookup(keys: &Keys, subject: &SubjectRef) -> Result<(Mac, Kind), FlowError> {
    let (kind, raw) = match (&subject.email, &subject.phone) {
        (Some(e), None) => (Kind::Email, e),
        (None, Some(p)) => (Kind::Phone, p),
        _ => {
            return Err(invalid(
                "invalid_subject",
                "subject needs exactly one of `email` or `phone`",
            ))
        }
    };
    let normalized = kind.normalize(raw).ok_or_else(|| {
        invalid(
            "invalid_subject",
            format!("subject.{} is not a valid {}", kind.as_str(), kind.as_str()),
        )
    })?;
    Ok((actions::blind_index(keys, kind, &normalized), kind))
}

/// The regime a request falls under when the DPO does not say: every regime the controller
/// declared (the stricter deadline then applies).
fn default_regime(policy: &Policy) -> Regimes {
    use pdgate_core::policy::Regime as P;
    match (policy.has_regime(P::Fz152), policy.has_regime(P::Gdpr)) {
        (true, true) => Regimes::Both,
        (false, true) => Regimes::Gdpr,
        _ => Regimes::Fz152,
    }
}

pub async fn create(
    ctx: &Ctx<'_>,
    input: NewRequest,
    principal: &str,
    now: Millis,
) -> Result<RequestRow, FlowError> {
    let kind = RequestType::parse(&input.kind).ok_or_else(|| {
        invalid(
            "invalid_request_type",
            "type must be access, portability, rectification, erasure, restriction, objection or withdraw_consent",
        )
    })?;
    let regime = match input.regime.as_deref() {
        None => default_regime(ctx.policy),
        Some(r) => Regimes::parse(r)
            .ok_or_else(|| invalid("invalid_regime", "regime must be fz152, gdpr or both"))?,
    };
    if input.note.as_ref().is_some_and(|n| n.len() > 4000) {
        return Err(invalid("note_too_long", "note is limited to 4000 bytes"));
    }
    let received = received_at(input.received_at.as_deref(), now)?;
    let at_receipt = ended_at_receipt(ctx.policy, kind, input.purposes.as_deref())?;
    let (mac, lookup_kind) = lookup(ctx.keys, &input.subject)?;
    let subjects = ctx.store.subjects_by_index(&mac).await?;
    // Art. 14(4) 152-FZ: a repeat of an access request within 30 days is flagged (the DPO
    // may refuse it unless the first answer was incomplete).
    let repeat_of = if matches!(kind, RequestType::Access | RequestType::Portability)
        && regime != Regimes::Gdpr
    {
        ctx.store
            .requests_by_lookup(mac.as_bytes(), now - REPEAT_WINDOW_MS)
            .await?
            .into_iter()
            .find(|r| r.kind.reports_data())
            .map(|r| r.id)
    } else {
        None
    };
    let due = deadline::due(kind, regime, received, ctx.calendar);
    let row = RequestRow {
        id: format!("req_{}", uuid::Uuid::now_v7().simple()),
        kind,
        regime,
        lookup_mac: mac.to_vec(),
        lookup_kind: lookup_kind.as_str().into(),
        status: RequestStatus::Open,
        received_at: received,
        due_at: due,
        original_due_at: due,
        extension_reason: None,
        extended_at: None,
        fulfilled_at: None,
        repeat_of: repeat_of.clone(),
        note: input.note,
        created_by: principal.into(),
        fulfilled_by: None,
        result: None,
        purposes: input.purposes,
        notice_sent_at: None,
        notice_sent_by: None,
    };
    let mut change = Change {
        at: now,
        requests: vec![row.clone()],
        audit: vec![AuditEvent::RequestReceived {
            request_id: row.id.clone(),
            request_type: row.kind.as_str().to_owned(),
            regime: row.regime.as_str().to_owned(),
            due_at: due,
            principal: principal.into(),
            subjects_found: u32::try_from(subjects.len()).unwrap_or(u32::MAX),
            repeat_of,
            received_at: (received != now).then_some(received),
        }],
        ..Change::default()
    };
    // The withdrawal or objection is in the ledger with the request, in one transaction.
    end_purposes(ctx, &row, kind, &subjects, &at_receipt, now, &mut change).await?;
    ctx.committer.apply(change).await?;
    Ok(row)
}

/// The purposes a request ends as soon as it is registered: a consent withdrawal's (152-FZ
/// Art. 9(2), GDPR Art. 7(3)), and those of an objection that are direct marketing (152-FZ
/// Art. 15(2): immediately; GDPR Art. 21(3)). Other objections are the DPO's to decide.
fn ended_at_receipt(
    policy: &Policy,
    kind: RequestType,
    named: Option<&[String]>,
) -> Result<Vec<String>, FlowError> {
    match kind {
        RequestType::WithdrawConsent => ended_purposes(policy, kind, named),
        RequestType::Objection => Ok(ended_purposes(policy, kind, named)?
            .into_iter()
            .filter(|id| {
                policy
                    .purpose_index(id)
                    .is_some_and(|i| policy.purpose(i).def.direct_marketing)
            })
            .collect()),
        _ if named.is_some() => Err(invalid(
            "purposes_not_applicable",
            "purposes are named only for an objection or a consent withdrawal",
        )),
        _ => Ok(Vec::new()),
    }
}

/// How far back a request registered late may say it arrived.
const RECEIVED_WINDOW_MS: Millis = 366 * 86_400_000;

/// When the request was received: `received_at` as given (not later than `now`, not more than a
/// year earlier), else `now`.
fn received_at(given: Option<&str>, now: Millis) -> Result<Millis, FlowError> {
    let Some(text) = given else {
        return Ok(now);
    };
    let at = pdgate_core::parse_time(text).ok_or_else(|| {
        invalid(
            "invalid_received_at",
            "received_at must be an RFC 3339 time, e.g. 2026-12-09T10:00:00+03:00",
        )
    })?;
    if at > now || at < now - RECEIVED_WINDOW_MS {
        return Err(invalid(
            "invalid_received_at",
            "received_at must be in the past year and not in the future",
        ));
    }
    Ok(at)
}

async fn open_request(ctx: &Ctx<'_>, id: &str) -> Result<RequestRow, FlowError> {
    let row = ctx.store.request(id).await?.ok_or(FlowError::NotFound)?;
    if row.status != RequestStatus::Open {
        return Err(conflict(
            "request_closed",
            format!("the request is already {}", row.status.as_str()),
        ));
    }
    Ok(row)
}

fn kind_of(row: &RequestRow) -> (RequestType, Regimes) {
    (row.kind, row.regime)
}

pub async fn extend(
    ctx: &Ctx<'_>,
    id: &str,
    reason: &str,
    principal: &str,
    now: Millis,
) -> Result<RequestRow, FlowError> {
    if reason.trim().is_empty() || reason.len() > 4000 {
        return Err(invalid(
            "reason_required",
            "an extension needs a reason (the notice to the subject), up to 4000 bytes",
        ));
    }
    let mut row = open_request(ctx, id).await?;
    if row.extended_at.is_some() {
        return Err(conflict(
            "already_extended",
            "a request can be extended once",
        ));
    }
    let (kind, regime) = kind_of(&row);
    let due =
        deadline::extended_due(kind, regime, row.received_at, now, ctx.calendar).map_err(|e| {
            match e {
                NoExtension::NotProvided => conflict(
                    "extension_not_provided",
                    format!(
                        "152-FZ provides no extension for a {} request",
                        row.kind.as_str()
                    ),
                ),
                NoExtension::TooLate => conflict(
                    "extension_too_late",
                    "the original due time has passed; an extension must be given before it",
                ),
            }
        })?;
    row.due_at = due;
    row.extended_at = Some(now);
    row.extension_reason = Some(reason.trim().to_owned());
    ctx.committer
        .apply(Change {
            at: now,
            requests: vec![row.clone()],
            audit: vec![AuditEvent::RequestExtended {
                request_id: row.id.clone(),
                due_at: due,
                principal: principal.into(),
            }],
            ..Change::default()
        })
        .await?;
    Ok(row)
}

/// Records the extension's notice to the subject as sent (GDPR Art. 12(3): within one month of
/// receipt, with the reasons; 152-FZ Art. 20(1), 21(5.1): a reasoned notice). Recorded once; a notice
/// recorded after the original due time is kept and marked late in the audit entry.
pub async fn notice_sent(
    ctx: &Ctx<'_>,
    id: &str,
    principal: &str,
    now: Millis,
) -> Result<RequestRow, FlowError> {
    let mut row = ctx.store.request(id).await?.ok_or(FlowError::NotFound)?;
    if row.extended_at.is_none() {
        return Err(conflict(
            "not_extended",
            "only an extended request has an extension notice",
        ));
    }
    if row.notice_sent_at.is_some() {
        return Err(conflict(
            "notice_already_sent",
            "the extension notice is already recorded as sent",
        ));
    }
    row.notice_sent_at = Some(now);
    row.notice_sent_by = Some(principal.to_owned());
    ctx.committer
        .apply(Change {
            at: now,
            requests: vec![row.clone()],
            audit: vec![AuditEvent::ExtensionNoticeSent {
                request_id: row.id.clone(),
                principal: principal.into(),
                on_time: now <= row.original_due_at,
            }],
            ..Change::default()
        })
        .await?;
    Ok(row)
}

/// How often an erasure is planned again when an intake adds to one of its subjects between
/// planning and commit, before the DPO is asked to retry.
const REPLANS: usize = 3;

/// Fulfils an open request: does what its type asks for every subject the identifier finds,
/// and closes it — all in one transaction.
pub async fn fulfil(
    ctx: &Ctx<'_>,
    id: &str,
    input: Fulfil,
    who: Destroyer<'_>,
    now: Millis,
) -> Result<RequestRow, FlowError> {
    let mut replans = 0;
    loop {
        let (row, change) = prepare(ctx, id, &input, who, now).await?;
        match ctx.committer.apply(change).await {
            Ok(_) => return Ok(row),
            // The data destroyed, acted and announced must be the data read: read it again.
            Err(StoreError::SubjectsMoved(_)) if replans < REPLANS => replans += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// What fulfilling the open request `id` writes: the closed request and its change.
async fn prepare(
    ctx: &Ctx<'_>,
    id: &str,
    input: &Fulfil,
    who: Destroyer<'_>,
    now: Millis,
) -> Result<(RequestRow, Change), FlowError> {
    let principal = who.account;
    let mut row = open_request(ctx, id).await?;
    let (kind, _) = kind_of(&row);
    let subjects = ctx.store.subjects_by_index(&row.lookup_key()).await?;
    let mut change = Change {
        at: now,
        ..Change::default()
    };
    let mut outcome: BTreeMap<String, u32> = BTreeMap::new();
    outcome.insert("subjects".into(), count(subjects.len()));
    match kind {
        RequestType::Access | RequestType::Portability => {
            let mut n = 0;
            for s in &subjects {
                n += ctx.store.values_of(s).await?.len();
            }
            outcome.insert("values_reported".into(), count(n));
        }
        RequestType::Erasure => {
            let erased = erase(ctx, &row, &subjects, who, now, &mut change).await?;
            outcome.extend(erased);
        }
        RequestType::Restriction => {
            let told = Told {
                row: &row,
                event: RightsEvent::Restricted,
                now,
            };
            for s in &subjects {
                let recs = ctx.store.consents_of(s).await?;
                told.queue(ctx, s, &recs, &[], &mut change).await?;
                change.restrict.push(Restrict {
                    subject_id: s.clone(),
                    since: Some(now),
                });
                change.audit.push(AuditEvent::Restriction {
                    request_id: row.id.clone(),
                    subject: pseudonym(s),
                    restricted: true,
                });
            }
        }
        RequestType::Objection | RequestType::WithdrawConsent => {
            // Those named now, else those named when it was registered.
            let named = input.purposes.as_deref().or(row.purposes.as_deref());
            let purposes = ended_purposes(ctx.policy, kind, named)?;
            let ended = end_purposes(ctx, &row, kind, &subjects, &purposes, now, &mut change);
            outcome.insert("purposes_ended".into(), count(ended.await?));
        }
        RequestType::Rectification => {
            let corrections = &input.corrections;
            rectify(ctx, &row, &subjects, corrections, &mut change, &mut outcome).await?;
        }
    }
    row.status = RequestStatus::Fulfilled;
    row.fulfilled_at = Some(now);
    row.fulfilled_by = Some(principal.into());
    row.result = Some(serde_json::to_string(&outcome).unwrap_or_default());
    change.audit.push(AuditEvent::RequestFulfilled {
        request_id: row.id.clone(),
        request_type: row.kind.as_str().to_owned(),
        principal: principal.into(),
        outcome,
    });
    change.requests.push(row.clone());
    Ok((row, change))
}

/// Erases every subject the request found (held categories stay restricted), in one act;
/// returns the outcome's counts.
async fn erase(
    ctx: &Ctx<'_>,
    row: &RequestRow,
    subjects: &[SubjectId],
    who: Destroyer<'_>,
    now: Millis,
    change: &mut Change,
) -> Result<[(String, u32); 3], FlowError> {
    let (mut values, mut tokens, mut held) = (0, 0, 0);
    let reason = Reason::Request {
        id: &row.id,
        kind: row.kind.as_str(),
    };
    let mut planned = Vec::with_capacity(subjects.len());
    // Revisions first: whatever is added after them makes the commit refuse.
    let ids: Vec<&[u8]> = subjects.iter().map(SubjectId::as_bytes).collect();
    let key_states = ctx.store.key_states(&ids).await?;
    for (s, revision) in ctx.store.subject_revisions(&ids).await? {
        let vals = ctx.store.values_of(&s).await?;
        let recs = ctx.store.consents_of(&s).await?;
        let refs: Vec<_> = vals.iter().collect();
        let recs: Vec<_> = recs.iter().collect();
        let row = ctx.store.subject(&s).await?;
        let target = Target {
            id: &s,
            revision,
            keys: ctx.keys,
            wrapped_dek: row.as_ref().map_or(&[][..], |r| &r.wrapped_dek),
            seals_data: key_states
                .iter()
                .find(|k| k.subject_id == s)
                .is_none_or(|k| k.seals_data),
        };
        let p = erasure::plan(ctx.policy, target, &refs, &recs, Scope::All, reason, now);
        values += p.values;
        tokens += p.tokens;
        held += usize::from(!p.whole_subject);
        planned.push(p);
    }
    // One act for every subject the request found.
    let act = erasure::Act {
        policy: ctx.policy,
        backend: ctx.store.backend_name(),
        reason,
        by: who,
        zone: ctx.calendar.zone(),
        at: now,
    };
    act.add(change, planned);
    Ok([
        ("values_erased".into(), count(values)),
        ("tokens_erased".into(), count(tokens)),
        ("subjects_held".into(), count(held)),
    ])
}

/// Ends `purposes` for every subject (an objection, or consent withdrawn) with a ledger record
/// and an audit entry each; returns how many were ended.
async fn end_purposes(
    ctx: &Ctx<'_>,
    row: &RequestRow,
    kind: RequestType,
    subjects: &[SubjectId],
    purposes: &[String],
    now: Millis,
    change: &mut Change,
) -> Result<usize, FlowError> {
    let mut ended = 0;
    for s in subjects {
        let recs = ctx.store.consents_of(s).await?;
        let latest = pdgate_core::retention::latest_records(&recs);
        let mut ended_here = Vec::new();
        for p in purposes {
            let last = latest.get(p.as_str()).copied();
            let records = end_records(kind, s, p, (&recs, last), row, now);
            if !records.is_empty() {
                ended_here.push(p.clone());
            }
            for r in records {
                change.audit.push(match kind {
                    RequestType::Objection => AuditEvent::PurposeObjected {
                        request_id: row.id.clone(),
                        subject: pseudonym(s),
                        purpose: p.clone(),
                    },
                    _ => AuditEvent::ConsentWithdrawn {
                        receipt_id: r.receipt_id.clone(),
                        subject: pseudonym(s),
                        purpose: p.clone(),
                        channel: r.channel.clone().unwrap_or_default(),
                    },
                });
                change.consents.push(r);
                ended += 1;
            }
        }
        if !ended_here.is_empty() {
            let event = match kind {
                RequestType::Objection => RightsEvent::Objection,
                _ => RightsEvent::ConsentWithdrawn,
            };
            let told = Told { row, event, now };
            told.queue(ctx, s, &recs, &ended_here, change).await?;
        }
    }
    Ok(ended)
}

/// A rights change to tell the upstreams about, from one request.
struct Told<'a> {
    row: &'a RequestRow,
    event: RightsEvent,
    now: Millis,
}

impl Told<'_> {
    /// Queues the webhooks for subject `s` (its consent records `recs`), to every upstream behind
    /// a route it came through.
    async fn queue(
        &self,
        ctx: &Ctx<'_>,
        s: &SubjectId,
        recs: &[ConsentRecord],
        purposes: &[String],
        change: &mut Change,
    ) -> Result<(), FlowError> {
        let values = ctx.store.values_of(s).await?;
        let name = pseudonym(s);
        let notice = notify::Notice {
            event: self.event,
            reference: &self.row.id,
            request: Some(&self.row.id),
            pseudonym: name.as_str(),
            purposes,
            at: self.now,
        };
        change
            .outbox
            .extend(notify::webhooks(ctx.policy, (&values, recs), &notice));
        Ok(())
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The purposes an objection or withdrawal ends: those named, or by default every purpose it
/// can apply to (objection: legitimate interests, public task and consent-based marketing;
/// withdrawal: consent-based). Naming one it cannot apply to is an error.
fn ended_purposes(
    policy: &Policy,
    kind: RequestType,
    named: Option<&[String]>,
) -> Result<Vec<String>, FlowError> {
    let applies = |b: LegalBasis| match kind {
        RequestType::Objection => matches!(
            b,
            LegalBasis::LegitimateInterests | LegalBasis::PublicTask | LegalBasis::Consent
        ),
        _ => b == LegalBasis::Consent,
    };
    match named {
        None => Ok(policy
            .purposes
            .iter()
            .filter(|p| applies(p.def.legal_basis))
            .map(|p| p.def.id.clone())
            .collect()),
        Some(list) => list
            .iter()
            .map(|id| {
                let p = policy
                    .purpose_index(id)
                    .map(|i| policy.purpose(i))
                    .ok_or_else(|| invalid("unknown_purpose", format!("no purpose `{id}`")))?;
                if applies(p.def.legal_basis) {
                    Ok(id.clone())
                } else {
                    Err(invalid(
                        "not_applicable",
                        format!(
                            "purpose `{id}` has legal basis {}: a subject cannot object to or withdraw it",
                            p.def.legal_basis.as_str()
                        ),
                    ))
                }
            })
            .collect(),
    }
}

/// The ledger records ending `purpose` for a subject (all its `records`, the latest `last`):
/// a withdrawal of every receipt still granted, or one objection unless one stands.
fn end_records(
    kind: RequestType,
    subject: &SubjectId,
    purpose: &str,
    (records, last): (&[ConsentRecord], Option<&ConsentRecord>),
    row: &RequestRow,
    now: Millis,
) -> Vec<ConsentRecord> {
    let channel = format!("request:{}", row.id);
    match (kind, last) {
        (RequestType::WithdrawConsent, _) => {
            pdgate_core::consent::receipt::withdrawals(records, purpose, now, &channel)
        }
        (_, Some(l)) if l.state == ConsentStatus::Objected => Vec::new(),
        (_, last) => vec![ConsentRecord {
            receipt_id: last.map_or_else(|| row.id.clone(), |l| l.receipt_id.clone()),
            subject_id: subject.clone(),
            purpose: purpose.to_owned(),
            text_id: last.map(|l| l.text_id.clone()).unwrap_or_default(),
            text_version: last.map_or(0, |l| l.text_version),
            text_sha256: last.map(|l| l.text_sha256.clone()).unwrap_or_default(),
            regimes: row.regime.as_str().to_owned(),
            method: "request".into(),
            route: String::new(),
            at: now,
            ip_hash: None,
            ua_hash: None,
            origin: None,
            state: ConsentStatus::Objected,
            channel: Some(channel),
            details: None,
        }],
    }
}

/// What shape of token a stored token has (its shape decides the value's identity MAC).
fn shape_of(token: &str) -> TokenShape {
    if token.starts_with("t-") && token.contains('@') {
        TokenShape::Email
    } else if token.starts_with('+') {
        TokenShape::Phone
    } else {
        TokenShape::Generic
    }
}

/// The detector kind a vault row was stored with (`Kind`'s default for a name it no longer knows).
fn stored_kind(name: &str) -> Kind {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).unwrap_or_default()
}

/// A value row id and its search-index MAC.
type Indexed = (i64, Mac);
/// Value row id → its corrected normalized value.
type Corrected = HashMap<i64, String>;

/// `(value row id, search-index MAC)` of each of a subject's e-mail and phone values (the ones
/// intake indexes), before and after the rows in `corrected` take their corrected normalized
/// values. A value that no longer opens is left out of both.
fn index_macs(
    keys: &Keys,
    subject_keys: &SubjectKeys,
    values: &[pdgate_store::VaultValue],
    corrected: &Corrected,
) -> (Vec<Indexed>, Vec<Indexed>) {
    let mut before = Vec::new();
    let mut after = Vec::new();
    for v in values {
        let kind = stored_kind(&v.kind);
        if !matches!(kind, Kind::Email | Kind::Phone) {
            continue;
        }
        let Some(old) = subject_keys
            .open(v.binding(), &v.ciphertext)
            .ok()
            .and_then(|p| kind.normalize(&String::from_utf8_lossy(&p)))
        else {
            continue;
        };
        let old = actions::blind_index(keys, kind, &old);
        before.push((v.id, old));
        after.push((
            v.id,
            corrected
                .get(&v.id)
                .map_or(old, |new| actions::blind_index(keys, kind, new)),
        ));
    }
    (before, after)
}

/// What a subject's search index must lose and gain when its indexed values go from `before`
/// to `after` (see [`index_macs`]), and where its key moves: from an old MAC no value has any
/// more to the MAC of the value that replaced it. `None` when nothing changes.
fn reindex(subject: &SubjectId, before: &[Indexed], after: &[Indexed]) -> Option<Reindex> {
    let removed = difference(before, after);
    let added = difference(after, before);
    if removed.is_empty() && added.is_empty() {
        return None;
    }
    let key_moves = before
        .iter()
        .filter(|(_, old)| removed.contains(old))
        .filter_map(|(id, old)| {
            let new = after.iter().find(|(i, _)| i == id)?.1;
            (new != *old).then_some((*old, new))
        })
        .collect();
    Some(Reindex {
        subject_id: subject.clone(),
        removed,
        added,
        key_moves,
    })
}

/// The MACs of `a` that `b` does not hold, each once.
fn difference(a: &[Indexed], b: &[Indexed]) -> Vec<Mac> {
    let mut out: Vec<Mac> = a
        .iter()
        .map(|(_, m)| *m)
        .filter(|m| !b.iter().any(|(_, x)| x == m))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

async fn rectify(
    ctx: &Ctx<'_>,
    row: &RequestRow,
    subjects: &[SubjectId],
    corrections: &[Correction],
    change: &mut Change,
    outcome: &mut BTreeMap<String, u32>,
) -> Result<(), FlowError> {
    if corrections.is_empty() {
        return Err(invalid(
            "corrections_required",
            "a rectification is fulfilled with `corrections`: [{\"token\", \"value\"}]",
        ));
    }
    let mut done = Rectified::default();
    for c in corrections {
        done.correct(ctx, subjects, c, change).await?;
    }
    // The search index (and the subject key, when it was a corrected value) follows the
    // corrections: the subject is found by its corrected e-mail or phone, no longer by the old one.
    for (sid, (wrapped, rows)) in &done.corrected {
        let subject_keys = subject_keys(ctx, sid, wrapped).await?;
        let values = ctx.store.values_of(sid).await?;
        let (before, after) = index_macs(ctx.keys, &subject_keys, &values, rows);
        change.reindex.extend(reindex(sid, &before, &after));
    }
    for (sid, (values, tokens)) in &done.per_subject {
        change.audit.push(AuditEvent::Rectification {
            request_id: row.id.clone(),
            subject: pseudonym(sid),
            values: *values,
            tokens: count(tokens.len()),
        });
    }
    change.outbox.extend(rectification_webhooks(
        ctx.policy,
        row,
        (done.upstream_tokens, done.upstream_envelopes),
    ));
    outcome.insert(
        "values_rectified".into(),
        done.per_subject.values().map(|v| v.0).sum(),
    );
    Ok(())
}

fn key_unavailable() -> FlowError {
    FlowError::KeyUnavailable
}

/// A subject's keys as they stand: its data key, or after an erasure under a legal hold the held
/// categories' keys (a held value can still be corrected: GDPR Art. 16, 152-FZ Art. 21(2)).
async fn subject_keys(
    ctx: &Ctx<'_>,
    sid: &SubjectId,
    wrapped: &[u8],
) -> Result<SubjectKeys, FlowError> {
    let states = ctx.store.key_states(&[sid.as_bytes()]).await?;
    let held = states.first().map_or(&[][..], |k| k.held.as_slice());
    SubjectKeys::unwrap(ctx.keys, sid, wrapped, held).map_err(|_| key_unavailable())
}

/// An envelope an upstream holds and the one that replaces it: `(old, new)`.
type Replaced = (String, String);

/// What a rectification has corrected so far.
#[derive(Default)]
struct Rectified {
    /// Per subject: rows corrected and the tokens named.
    per_subject: BTreeMap<SubjectId, (u32, Vec<String>)>,
    /// Per upstream: the tokens it holds whose values changed.
    upstream_tokens: BTreeMap<usize, Vec<String>>,
    /// Per upstream: the `encrypt` envelopes it holds, each with its corrected replacement.
    upstream_envelopes: BTreeMap<usize, Vec<Replaced>>,
    /// Per subject: its wrapped key and the corrected (normalized) value of each rectified row.
    corrected: BTreeMap<SubjectId, (Vec<u8>, Corrected)>,
}

impl Rectified {
    /// Re-encrypts every row behind one corrected token, which must be the request's subject's.
    async fn correct(
        &mut self,
        ctx: &Ctx<'_>,
        subjects: &[SubjectId],
        c: &Correction,
        change: &mut Change,
    ) -> Result<(), FlowError> {
        if let Some(envelope) = Envelope::parse(&c.token) {
            return self
                .correct_envelope(ctx, subjects, c, envelope, change)
                .await;
        }
        let not_of_subject = || {
            invalid(
                "token_not_of_subject",
                "a corrected token is not a stored value of this request's subject",
            )
        };
        let rows = ctx.store.value_by_token(&c.token).await?;
        let first = rows.first().ok_or_else(not_of_subject)?;
        if !subjects.contains(&first.subject_id) {
            return Err(not_of_subject());
        }
        let kind = stored_kind(&first.kind);
        let normalized = kind.normalize(&c.value).ok_or_else(|| {
            invalid(
                "invalid_value",
                format!("the corrected value is not a valid {}", kind.as_str()),
            )
        })?;
        let subject = ctx
            .store
            .subject(&first.subject_id)
            .await?
            .ok_or_else(|| invalid("token_not_of_subject", "the subject is gone"))?;
        let subject_keys = subject_keys(ctx, &subject.id, &subject.wrapped_dek).await?;
        let mac = actions::value_mac(ctx.keys, &subject.id, shape_of(&c.token), &normalized);
        for v in &rows {
            // Re-sealed under the category key, bound to the collection it corrects.
            let sealed = subject_keys
                .seal(v.binding(), c.value.trim().as_bytes())
                .map_err(|_| key_unavailable())?;
            change.rectify.push(Rectify {
                value_id: v.id,
                ciphertext: sealed,
                value_mac: mac,
            });
            self.corrected
                .entry(subject.id.clone())
                .or_insert_with(|| (subject.wrapped_dek.clone(), Corrected::new()))
                .1
                .insert(v.id, normalized.clone());
            // A route since blocked without an upstream has nobody to tell.
            let route = ctx.policy.routes.iter().find(|r| r.id == v.route);
            if let Some(upstream) = route.and_then(pdgate_core::policy::Route::upstream) {
                let tokens = self.upstream_tokens.entry(upstream).or_default();
                tokens.push(c.token.clone());
            }
        }
        let e = self.per_subject.entry(subject.id.clone()).or_default();
        e.0 += count(rows.len());
        e.1.push(c.token.clone());
        Ok(())
    }

    /// Re-seals the vault's copy of an `encrypt` envelope with the corrected value and makes the
    /// envelope that replaces it in the upstream. The vault keeps each envelope's ciphertext, so
    /// the envelope finds its row; a `pdg1.` envelope (from before the vault kept them) has none.
    async fn correct_envelope(
        &mut self,
        ctx: &Ctx<'_>,
        subjects: &[SubjectId],
        c: &Correction,
        envelope: Envelope,
        change: &mut Change,
    ) -> Result<(), FlowError> {
        let not_kept = || {
            invalid(
                "token_not_of_subject",
                "a corrected envelope is not a stored value of this request's subject",
            )
        };
        let sid = SubjectId::from(envelope.subject.clone());
        if !subjects.contains(&sid) {
            return Err(not_kept());
        }
        let values = ctx.store.values_of(&sid).await?;
        let v = values
            .iter()
            .find(|v| {
                v.ciphertext == envelope.sealed
                    && v.field == envelope.field
                    && Some(v.collected_at) == envelope.collected_at
            })
            .ok_or_else(not_kept)?;
        let subject = ctx.store.subject(&sid).await?.ok_or_else(not_kept)?;
        let keys = subject_keys(ctx, &sid, &subject.wrapped_dek).await?;
        let sealed = keys
            .seal(v.binding(), c.value.trim().as_bytes())
            .map_err(|_| key_unavailable())?;
        let replacement = Envelope {
            sealed: sealed.clone(),
            ..envelope
        }
        .encode();
        change.rectify.push(Rectify {
            value_id: v.id,
            ciphertext: sealed,
            value_mac: Mac::from([0; 32]),
        });
        let route = ctx.policy.routes.iter().find(|r| r.id == v.route);
        if let Some(upstream) = route.and_then(pdgate_core::policy::Route::upstream) {
            self.upstream_envelopes
                .entry(upstream)
                .or_default()
                .push((c.token.clone(), replacement));
        }
        let e = self.per_subject.entry(sid).or_default();
        e.0 += 1;
        e.1.push(c.token.clone());
        Ok(())
    }
}

/// One `rectification` webhook per upstream that holds a corrected token.
fn rectification_webhooks(
    policy: &Policy,
    row: &RequestRow,
    (mut upstream_tokens, upstream_envelopes): (
        BTreeMap<usize, Vec<String>>,
        BTreeMap<usize, Vec<Replaced>>,
    ),
) -> Vec<OutboxWrite> {
    let mut out = Vec::new();
    for u in upstream_envelopes.keys() {
        upstream_tokens.entry(*u).or_default();
    }
    for (u, mut tokens) in upstream_tokens {
        let up = policy.upstream(u);
        let Some(hook) = up.erasure_webhook.as_deref() else {
            continue;
        };
        tokens.sort();
        tokens.dedup();
        let envelopes: Vec<serde_json::Value> = upstream_envelopes
            .get(&u)
            .into_iter()
            .flatten()
            .map(|(old, new)| serde_json::json!({"old": old, "new": new}))
            .collect();
        let event_id = format!("evt_{}", uuid::Uuid::now_v7().simple());
        out.push(OutboxWrite {
            payload: serde_json::json!({
                "event": "rectification",
                "event_id": event_id,
                "reference": row.id,
                "tokens": tokens,
                // An envelope carries its value: the CRM replaces the old one by the new.
                "envelopes": envelopes,
                "note": "the values behind these tokens were corrected; detokenize them again; replace each old envelope by its new one",
            })
            .to_string(),
            event_id,
            request_id: Some(row.id.clone()),
            upstream: up.id.clone(),
            url: erasure::join_url(&up.url, hook),
            event: "rectification".into(),
        });
    }
    out
}

/// Lifts a restriction: the request stays fulfilled, the subjects are processed again.
pub async fn lift(
    ctx: &Ctx<'_>,
    id: &str,
    principal: &str,
    now: Millis,
) -> Result<RequestRow, FlowError> {
    let mut row = ctx.store.request(id).await?.ok_or(FlowError::NotFound)?;
    if row.kind != RequestType::Restriction || row.status != RequestStatus::Fulfilled {
        return Err(conflict(
            "not_restricted",
            "only a fulfilled restriction request can be lifted",
        ));
    }
    let subjects = ctx.store.subjects_by_index(&row.lookup_key()).await?;
    let mut change = Change {
        at: now,
        ..Change::default()
    };
    let told = Told {
        row: &row,
        event: RightsEvent::RestrictionLifted,
        now,
    };
    for s in &subjects {
        let recs = ctx.store.consents_of(s).await?;
        told.queue(ctx, s, &recs, &[], &mut change).await?;
        change.restrict.push(Restrict {
            subject_id: s.clone(),
            since: None,
        });
        change.audit.push(AuditEvent::Restriction {
            request_id: row.id.clone(),
            subject: pseudonym(s),
            restricted: false,
        });
    }
    row.status = RequestStatus::Lifted;
    row.fulfilled_by = Some(principal.into());
    change.requests.push(row.clone());
    ctx.committer.apply(change).await?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_and_the_key_follow_a_corrected_value() {
        let mac = |b: u8| Mac::from([b; 32]);
        let sid = SubjectId::from([1u8; 16]);
        // Row 1 (e-mail [1], also the key) corrected to [3]; row 2 (phone [2]) unchanged.
        let before = [(1, mac(1)), (2, mac(2))];
        let after = [(1, mac(3)), (2, mac(2))];
        let r = reindex(&sid, &before, &after).unwrap();
        assert_eq!(r.removed, [mac(1)]);
        assert_eq!(r.added, [mac(3)]);
        assert_eq!(r.key_moves, [(mac(1), mac(3))]);
        // Nothing changes: nothing to write.
        assert!(reindex(&sid, &before, &before).is_none());
        // Another row still holds the old value: its entry (and a key on it) stays.
        let before = [(1, mac(1)), (2, mac(1))];
        let after = [(1, mac(3)), (2, mac(1))];
        let r = reindex(&sid, &before, &after).unwrap();
        assert!(r.removed.is_empty() && r.key_moves.is_empty());
        assert_eq!(r.added, [mac(3)]);
        // Two rows with the same value, both corrected: one entry out, one in, one key move each.
        let before = [(1, mac(1)), (2, mac(1))];
        let after = [(1, mac(3)), (2, mac(3))];
        let r = reindex(&sid, &before, &after).unwrap();
        assert_eq!((r.removed.len(), r.added.len()), (1, 1));
        assert!(r.key_moves.iter().all(|m| *m == (mac(1), mac(3))));
    }
}
