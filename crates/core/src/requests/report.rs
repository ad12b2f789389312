//! The report of a request: for access and portability everything 152-FZ Art. 14(7) and GDPR
//! Art. 15(1) list, with the data held decrypted; for the other types what was done, with the
//! destruction act and webhook deliveries. JSON (portability's machine-readable form) or HTML
//! in Russian or English.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::html::esc;
use serde_json::{json, Value};

use crate::crypto::{HeldKey, Keys, SubjectKeys};
use crate::intake::pseudonym;
use crate::policy::Policy;
use crate::records::rights::{OutboxRow, Regimes, RequestRow, RequestStatus};
use crate::records::{ConsentRecord, SubjectState, VaultValue};
use crate::retention::{cover, latest_records, Until};
use crate::Millis;

/// The request as the API shows it.
pub fn request_json(r: &RequestRow, now: Millis, cal: &super::calendar::Calendar) -> Value {
    let verified =
        super::deadline::calendar_verified(r.kind, r.regime, r.received_at, r.due_at, cal);
    json!({
        "id": r.id,
        "type": r.kind,
        "regime": r.regime,
        "status": r.status,
        "subject_identifier": r.lookup_kind,
        "received_at": crate::rfc3339(r.received_at),
        "due_at": crate::rfc3339(r.due_at),
        // As a reader in the operator's place reads them (`[legal] timezone`).
        "received_local": cal.zone().readable(r.received_at),
        "due_local": cal.zone().readable(r.due_at),
        "original_due_at": crate::rfc3339(r.original_due_at),
        "overdue": r.status == RequestStatus::Open && r.due_at < now,
        "calendar_unverified": !verified,
        "extended_at": r.extended_at.map(crate::rfc3339),
        "extension_reason": r.extension_reason,
        // The notice to the subject an extension needs, due by the original due time.
        "extension_notice": r.extended_at.map(|_| json!({
            "send_by": crate::rfc3339(r.original_due_at),
            "send_by_local": cal.zone().readable(r.original_due_at),
            "sent_at": r.notice_sent_at.map(crate::rfc3339),
            "sent_by": r.notice_sent_by,
            "late": r.notice_sent_at.map_or(now > r.original_due_at, |s| s > r.original_due_at),
            "draft": format!("/admin/v1/requests/{}/extension-notice", r.id),
        })),
        "fulfilled_at": r.fulfilled_at.map(crate::rfc3339),
        "fulfilled_on_time": r.fulfilled_at.map(|f| f <= r.due_at),
        "repeat_of": r.repeat_of,
        "purposes": r.purposes,
        "note": r.note,
        "created_by": r.created_by,
        "fulfilled_by": r.fulfilled_by,
        "result": r.result.as_deref().and_then(|s| serde_json::from_str::<Value>(s).ok()),
    })
}

/// What the store holds for a request's report.
#[derive(Debug, Default)]
pub struct Holdings {
    /// The request's webhook deliveries.
    pub outbox: Vec<OutboxRow>,
    /// Its destruction acts as stored (JSON text).
    pub acts: Vec<String>,
    /// For access and portability: the subjects found by the request's identifier.
    pub subjects: Vec<Held>,
}

/// One subject found for an access or portability request, with what is held about them.
#[derive(Debug)]
pub struct Held {
    pub state: SubjectState,
    pub values: Vec<VaultValue>,
    pub records: Vec<ConsentRecord>,
    /// The category keys a legal hold keeps (after an erasure, the data key is gone).
    pub held_keys: Vec<HeldKey>,
}

/// Whether a request's report lists the data held (access and portability).
pub fn lists_data(row: &RequestRow) -> bool {
    row.kind.reports_data()
}

/// Builds the report for `row` at `now` from what the store holds.
pub fn build(
    facts: &Holdings,
    keys: &Keys,
    policy: &Policy,
    row: &RequestRow,
    now: Millis,
    cal: &super::calendar::Calendar,
) -> Value {
    let mut report = json!({
        "report": row.kind,
        "generated_at": crate::rfc3339(now),
        "request": request_json(row, now, cal),
        "controller": {
            "name": policy.controller.name,
            "address": policy.controller.address,
            "email": policy.controller.email,
            "dpo": {"name": policy.controller.dpo.name, "email": policy.controller.dpo.email},
        },
    });
    report["deliveries"] = facts
        .outbox
        .iter()
        .map(|o| {
            json!({
                "event_id": o.event_id,
                "event": o.event,
                "upstream": o.upstream,
                "state": if o.delivered_at.is_some() { "delivered" } else { "pending" },
                "attempts": o.attempts,
                "delivered_at": o.delivered_at.map(crate::rfc3339),
                "next_attempt_at": o.delivered_at.is_none().then(|| crate::rfc3339(o.next_attempt_at)),
                "last_status": o.last_status,
                "last_error": o.last_error,
            })
        })
        .collect();
    if !lists_data(row) {
        report["recipients_notified"] = recipients_notified(policy, row, &facts.outbox);
    }
    let acts: Vec<Value> = facts
        .acts
        .iter()
        .filter_map(|a| serde_json::from_str(a).ok())
        .collect();
    if !acts.is_empty() {
        report["destruction_act"] = if acts.len() == 1 {
            acts[0].clone()
        } else {
            Value::Array(acts)
        };
    }
    if lists_data(row) {
        access(&facts.subjects, keys, policy, now, &mut report);
    }
    report
}

/// What one subject's entries in an access report are built from, gathered across subjects.
#[derive(Default)]
struct Seen {
    purposes: BTreeSet<String>,
    retention_by_category: BTreeMap<String, Option<Millis>>,
    /// The routes the subjects' data came through (their upstreams received it).
    routes: BTreeSet<String>,
}

/// What an upstream received in place of a value, by the field's action.
fn sent_as(action: &str) -> &'static str {
    match action {
        "tokenize" => "a token standing for the value / токен вместо значения",
        "mask" => "a masked form and a token / маскированное значение и токен",
        "encrypt" => "the value encrypted under a key only pdgate holds / значение, зашифрованное ключом, который хранится только в pdgate",
        "hash" => "a keyed hash of the value / хеш значения",
        "redact" => "the text with identifiers replaced by tokens / текст, в котором идентификаторы заменены токенами",
        "pass" => "the value as given / значение в исходном виде",
        _ => "—",
    }
}

/// One held value as the report lists it.
fn value_json(
    held: &Held,
    v: &VaultValue,
    plain: Option<String>,
    latest: &HashMap<&str, &ConsentRecord>,
    policy: &Policy,
    now: Millis,
    seen: &mut Seen,
) -> Value {
    let c = cover(policy, v, held.state.last_activity_at, latest);
    let ends = c.ends();
    let cat = v.category.clone().unwrap_or_else(|| "free_text".into());
    let e = seen
        .retention_by_category
        .entry(cat.clone())
        .or_insert(Some(0));
    *e = match (*e, ends) {
        (None, _) | (_, Until::Open) => None,
        (Some(a), Until::At(b)) => Some(a.max(b)),
    };
    for p in v.purposes.split(',').filter(|p| !p.is_empty()) {
        seen.purposes.insert(p.to_owned());
    }
    seen.routes.insert(v.route.clone());
    let upstream = policy
        .routes
        .iter()
        .find(|r| r.id == v.route)
        .and_then(|r| r.upstream())
        .map(|u| policy.upstream(u));
    json!({
        "category": cat,
        "field": v.field,
        "kind": v.kind,
        "action": v.action,
        // `hash` and `pass` fields are listed by name: pdgate does not keep their values.
        "value_kept": v.is_kept(),
        "value": plain,
        "token": v.has_token().then_some(&v.token),
        "sent_to": upstream.map(|u| json!({"upstream": u.id, "country": u.country, "as": sent_as(&v.action)})),
        "source": {"route": v.route, "collected_at": crate::rfc3339(v.collected_at), "from": "the data subject, through a web form"},
        "purposes": v.purposes.split(',').filter(|p| !p.is_empty()).collect::<Vec<_>>(),
        "kept_until": ends.millis().map(crate::rfc3339),
        "past_retention": !ends.live_at(now),
        "legal_hold_until": c.hold.map(|(_, t)| crate::rfc3339(t)),
    })
}

/// One subject as the report lists it: the values held (decrypted) and the consents.
fn subject_json(held: &Held, keys: &Keys, policy: &Policy, now: Millis, seen: &mut Seen) -> Value {
    let s = &held.state;
    let latest = latest_records(&held.records);
    let subject_keys =
        SubjectKeys::unwrap(keys, &s.row.id, &s.row.wrapped_dek, &held.held_keys).ok();
    let data: Vec<Value> = held
        .values
        .iter()
        .map(|v| {
            let plain = subject_keys.as_ref().filter(|_| v.is_kept()).and_then(|k| {
                k.open(v.binding(), &v.ciphertext)
                    .ok()
                    .map(|p| String::from_utf8_lossy(&p).into_owned())
            });
            value_json(held, v, plain, &latest, policy, now, seen)
        })
        .collect();
    for r in &held.records {
        seen.purposes.insert(r.purpose.clone());
        seen.routes.insert(r.route.clone());
    }
    let consents: Vec<Value> = latest
        .values()
        .map(|r| {
            json!({
                "purpose": r.purpose,
                "state": r.state,
                "at": crate::rfc3339(r.at),
                "receipt_id": r.receipt_id,
                "receipt": format!("/.well-known/pdgate/v1/receipts/{}", r.receipt_id),
                "text_id": r.text_id,
                "text_version": r.text_version,
                "text_sha256": r.text_sha256,
                // A guardian who consented for a minor; where the conditions and bans of a
                // consent to distribution are.
                "details": held.records.iter()
                    .find(|g| g.receipt_id == r.receipt_id && g.details.is_some())
                    .and_then(|g| serde_json::from_str::<Value>(g.details.as_deref()?).ok()),
            })
        })
        .collect();
    json!({
        "pseudonym": pseudonym(&s.row.id),
        "restricted": s.restricted_at.is_some(),
        "last_activity_at": crate::rfc3339(s.last_activity_at),
        "data": data,
        "consents": consents,
    })
}

/// The Art. 14(7) / Art. 15(1) contents.
fn access(held: &[Held], keys: &Keys, policy: &Policy, now: Millis, report: &mut Value) {
    let mut seen = Seen::default();
    let subjects: Vec<Value> = held
        .iter()
        .map(|h| subject_json(h, keys, policy, now, &mut seen))
        .collect();
    let purposes_seen = &seen.purposes;
    let purposes: Vec<Value> = policy
        .purposes
        .iter()
        .filter(|p| purposes_seen.contains(&p.def.id))
        .map(|p| {
            json!({
                "id": p.def.id,
                "description": p.def.description,
                "legal_basis": p.def.legal_basis.as_str(),
                "categories": p.def.categories,
                "actions": p.def.actions,
                "recipients": p.def.recipients.iter().map(|r| json!({"name": r.name, "country": r.country, "purpose": r.purpose})).collect::<Vec<_>>(),
                "retention": p.def.retention.as_ref().map(|r| json!({"keep": r.keep, "from": r.from})),
            })
        })
        .collect();
    let recipients = recipients(policy, &seen);
    let transfers: Vec<&Value> = recipients
        .iter()
        .filter(|r| r["country"].as_str().is_some_and(crate::policy::is_foreign))
        .collect();
    let mut processors: Vec<String> = policy
        .consent_texts
        .iter()
        .flat_map(|t| t.front.processors.iter().flatten().cloned())
        .collect();
    processors.sort();
    processors.dedup();
    report["confirmation"] = json!({
        "processing": !held.is_empty(),
        "subjects_found": held.len(),
    });
    report["subjects"] = Value::Array(subjects);
    report["purposes"] = Value::Array(purposes);
    report["recipients"] = json!(recipients);
    report["cross_border_transfers"] = json!(transfers);
    report["processors"] = json!(processors);
    report["retention"] = retention_json(policy, &seen);
    operator_json(policy, report);
    report["source"] = json!("collected from the data subject through the controller's web forms (routes named per value)");
    report["automated_decisions"] = json!("none");
    report["rights"] = json!([
        {"right": "access", "law": "152-FZ Art. 14; GDPR Art. 15", "how": format!("request to {}", policy.controller.email)},
        {"right": "rectification", "law": "152-FZ Art. 14(1), 20(3), 21(2); GDPR Art. 16", "how": format!("request to {}", policy.controller.email)},
        {"right": "erasure", "law": "152-FZ Art. 14(1), 20(3), 21(3); GDPR Art. 17", "how": format!("request to {} or the self-service link", policy.controller.email)},
        {"right": "restriction", "law": "GDPR Art. 18; 152-FZ Art. 20(3), 21(1) (blocking)", "how": format!("request to {}", policy.controller.email)},
        {"right": "portability", "law": "GDPR Art. 20", "how": "this report in JSON"},
        {"right": "objection", "law": "GDPR Art. 21; 152-FZ Art. 21(5.1)", "how": format!("request to {}", policy.controller.email)},
        {"right": "withdraw consent", "law": "152-FZ Art. 9(2); GDPR Art. 7(3)", "how": "the self-service link in every message (/.well-known/pdgate/v1/consents)"},
        {"right": "complaint", "law": "152-FZ Art. 17; GDPR Art. 77", "how": "Roskomnadzor (rkn.gov.ru) or the EU supervisory authority"},
    ]);
}

/// Per category: the periods the policy sets for the purposes concerned, the date they give for
/// the subject, and a legal hold (152-FZ Art. 14(7)(7), GDPR Art. 15(1)(d)).
fn retention_json(policy: &Policy, seen: &Seen) -> Value {
    seen
        .retention_by_category
        .iter()
        .map(|(c, until)| {
            let hold = policy.legal_holds.iter().find(|h| h.def.category == *c);
            // The period the policy sets per purpose, and the date it gives for this subject.
            let periods: Vec<Value> = policy
                .purposes
                .iter()
                .filter(|p| seen.purposes.contains(&p.def.id) && p.def.categories.contains(c))
                .map(|p| json!({"purpose": p.def.id, "retention": p.def.retention.as_ref().map(|r| json!({"keep": r.keep, "from": r.from}))}))
                .collect();
            json!({
                "category": c,
                "periods": periods,
                "kept_until": until.map(crate::rfc3339),
                "legal_hold": hold.map(|h| json!({"basis": h.def.basis, "keep": h.def.keep})),
            })
        })
        .collect()
}

/// What 152-FZ Art. 14(7) asks about the operator beyond its name and address: where the
/// database is, who is responsible, how the data is processed, and how Art. 18.1 is met.
fn operator_json(policy: &Policy, report: &mut Value) {
    let controller = &policy.controller;
    report["controller"]["database_location"] = json!(controller.location());
    report["controller"]["responsible_person"] =
        json!(controller.responsible.as_ref().map(|r| &r.name));
    report["processing_methods"] = json!("automated processing: collected through the controller's web forms by pdgate, which pseudonymizes or encrypts each field as listed before it reaches the controller's systems, and keeps the values in an encrypted vault / автоматизированная обработка");
    // 152-FZ Art. 14(7)(10): how the operator meets its Art. 18.1 duties, as far as pdgate does.
    report["art_18_1_measures"] = json!([
        "a person responsible for organizing processing is appointed (named above) / назначено ответственное лицо",
        "personal fields are tokenized or encrypted (AES-256-GCM) before they reach the controller's systems / псевдонимизация и шифрование",
        "every access to the data is recorded in a tamper-evident audit log / журнал доступа",
        "data is destroyed when its retention period ends, with a destruction act / уничтожение по истечении срока с актом",
    ]);
}

/// Who learns of a rectification, erasure, restriction, objection or withdrawal (GDPR Art. 19;
/// 152-FZ Art. 20(3), 21(2)–(5) oblige the operator to tell those it disclosed the data to):
/// the upstreams told by signed webhook, and the recipients pdgate has no channel to, which the
/// DPO must tell by hand — the policy's declared recipients of the purposes concerned, and
/// upstreams without a webhook.
fn recipients_notified(policy: &Policy, row: &RequestRow, outbox: &[OutboxRow]) -> Value {
    let mut told: Vec<&str> = outbox.iter().map(|o| o.upstream.as_str()).collect();
    told.sort_unstable();
    told.dedup();
    let concerned = |id: &str| {
        row.purposes
            .as_ref()
            .is_none_or(|ps| ps.iter().any(|p| p == id))
    };
    let mut by_hand: Vec<Value> = policy
        .purposes
        .iter()
        .filter(|p| concerned(&p.def.id))
        .flat_map(|p| p.def.recipients.iter().map(move |r| (p, r)))
        .map(|(p, r)| json!({"name": r.name, "country": r.country.to_ascii_uppercase(), "purpose": p.def.id, "why": "a declared recipient: pdgate has no channel to it / получатель, указанный в политике: уведомить вручную"}))
        .collect();
    by_hand.extend(
        policy
            .upstreams
            .iter()
            .filter(|u| u.erasure_webhook.is_none() && !told.contains(&u.id.as_str()))
            .map(|u| json!({"name": u.id, "country": u.country, "why": "an upstream without a webhook / система без вебхука: уведомить вручную"})),
    );
    json!({"by_webhook": told, "by_hand": by_hand})
}

/// Everyone the subjects' data went to or may be disclosed to: the recipients the seen purposes
/// declare, the upstreams behind the routes it came through, and the services that may read it
/// back for those purposes — with country and, for a transfer, its safeguards (GDPR Art. 15(2)).
fn recipients(policy: &Policy, seen: &Seen) -> Vec<Value> {
    let purposes = policy
        .purposes
        .iter()
        .filter(|p| seen.purposes.contains(&p.def.id));
    let mut out: Vec<Value> = purposes
        .flat_map(|p| p.def.recipients.iter())
        .map(|r| json!({"name": r.name, "country": r.country.to_ascii_uppercase(), "kind": "recipient", "purpose": r.purpose, "safeguards": r.safeguards}))
        .collect();
    let mut upstreams: Vec<usize> = policy
        .routes
        .iter()
        .filter(|r| seen.routes.contains(&r.id))
        .filter_map(|r| r.upstream())
        .collect();
    upstreams.sort_unstable();
    upstreams.dedup();
    out.extend(upstreams.into_iter().map(|u| {
        let u = policy.upstream(u);
        json!({"name": u.id, "country": u.country, "kind": "system the form posts to", "safeguards": u.safeguards})
    }));
    out.extend(
        policy
            .services
            .iter()
            .filter(|s| s.purposes.iter().any(|p| seen.purposes.contains(p)))
            .map(|s| json!({"name": s.id, "country": s.country().to_ascii_uppercase(), "kind": "service reading the data back", "purposes": s.purposes, "safeguards": s.safeguards})),
    );
    out
}

/// The language a report of a request under `regime` is written in: the one asked for, else
/// Russian for a 152-FZ request (answered in the language of the law it is made under), English
/// for a GDPR-only one.
pub fn report_in_russian(accept_language: Option<&str>, regime: Regimes) -> bool {
    asks_russian(accept_language).unwrap_or(regime != Regimes::Gdpr)
}

/// Whether the reader prefers Russian (`Accept-Language` with `ru` ranked above `en`); `None`
/// when it names neither.
fn asks_russian(accept_language: Option<&str>) -> Option<bool> {
    let h = accept_language?;
    let mut best: Option<(f32, bool)> = None;
    for part in h.split(',') {
        let mut it = part.trim().split(';');
        let tag = it.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = it
            .find_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
            })
            .unwrap_or(1.0);
        let ru = tag == "ru" || tag.starts_with("ru-");
        let en = tag == "en" || tag.starts_with("en-");
        if (ru || en) && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, ru));
        }
    }
    best.map(|(_, ru)| ru)
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A readable page of the report, every value escaped.
pub fn html(report: &Value, russian: bool) -> String {
    let t = Lang(russian);
    let title = t.t(
        "Data subject request report",
        "Отчёт по запросу субъекта персональных данных",
    );
    let mut h = crate::html::start(if russian { "ru" } else { "en" }, title);
    html_request(&mut h, report, t);
    if let Some(conf) = report.get("confirmation") {
        let processing = conf["processing"].as_bool() == Some(true);
        h.push_str(&format!(
            "<h2>{}</h2><p>{}</p>",
            t.t("Confirmation", "Подтверждение факта обработки"),
            if processing {
                t.t(
                    "We process personal data about you.",
                    "Мы обрабатываем ваши персональные данные.",
                )
            } else {
                t.t(
                    "We hold no personal data about you.",
                    "Мы не обрабатываем ваших персональных данных.",
                )
            }
        ));
        html_data(&mut h, report, t);
        html_purposes(&mut h, report, t);
        html_transfers(&mut h, report, t);
        html_rights(&mut h, report, t);
    }
    html_outcome(&mut h, report, t);
    h.push_str(crate::html::END);
    h
}

/// The language a page is written in: `t(english, russian)` picks one.
#[derive(Clone, Copy)]
struct Lang(bool);

impl Lang {
    fn t(self, en: &'static str, ru: &'static str) -> &'static str {
        if self.0 {
            ru
        } else {
            en
        }
    }
}

/// A list of names with their countries: `CRM Ltd (RU), Mailer GmbH (DE)`.
fn named_countries(list: &[Value]) -> String {
    list.iter()
        .map(|r| format!("{} ({})", text(&r["name"]), text(&r["country"])))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The request and the controller.
fn html_request(h: &mut String, report: &Value, t: Lang) {
    let req = &report["request"];
    h.push_str(&format!(
        "<h1>{}</h1><p>{}: <b>{}</b> · {}: {} · {}: {} · {}: {} · {}: {}</p>",
        t.t(
            "Data subject request report",
            "Отчёт по запросу субъекта персональных данных"
        ),
        t.t("Request", "Запрос"),
        esc(&text(&req["id"])),
        t.t("type", "тип"),
        esc(&text(&req["type"])),
        t.t("received", "получен"),
        esc(&text(local(req, "received"))),
        t.t("due", "срок"),
        esc(&text(local(req, "due"))),
        t.t("status", "статус"),
        esc(&text(&req["status"])),
    ));
    let c = &report["controller"];
    h.push_str(&format!(
        "<h2>{}</h2><p>{}, {} · {} · {}: {} ({})</p>",
        t.t("Controller", "Оператор"),
        esc(&text(&c["name"])),
        esc(&text(&c["address"])),
        esc(&text(&c["email"])),
        t.t("DPO", "Ответственный за организацию обработки"),
        esc(&text(&c["dpo"]["name"])),
        esc(&text(&c["dpo"]["email"])),
    ));
}

/// Every value held, decrypted.
fn html_data(h: &mut String, report: &Value, t: Lang) {
    h.push_str(&format!(
        "<h2>{}</h2><table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        t.t("Data we hold", "Обрабатываемые данные"),
        t.t("Category", "Категория"),
        t.t("Field", "Поле"),
        t.t("Value", "Значение"),
        t.t("Source", "Источник"),
        t.t("Sent to", "Кому передано"),
        t.t("Purposes", "Цели"),
        t.t("Kept until", "Срок хранения"),
    ));
    let not_kept = t.t(
        "(not kept by us: see where it was sent)",
        "(не хранится у нас: см. кому передано)",
    );
    for s in report["subjects"].as_array().into_iter().flatten() {
        for d in s["data"].as_array().into_iter().flatten() {
            let purposes = d["purposes"]
                .as_array()
                .map(|a| a.iter().map(text).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            let value = match d["value_kept"] {
                Value::Bool(false) => not_kept.to_owned(),
                _ => text(&d["value"]),
            };
            let sent = &d["sent_to"];
            let sent = match sent {
                Value::Null => "—".to_owned(),
                s => format!(
                    "{} ({}): {}",
                    text(&s["upstream"]),
                    text(&s["country"]),
                    text(&s["as"])
                ),
            };
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} · {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&text(&d["category"])),
                esc(&text(&d["field"])),
                esc(&value),
                esc(&text(&d["source"]["route"])),
                esc(&text(&d["source"]["collected_at"])),
                esc(&sent),
                esc(&purposes),
                esc(&text(&d["kept_until"])),
            ));
        }
    }
    h.push_str("</table>");
}

/// The purposes, their legal bases, recipients and retention.
fn html_purposes(h: &mut String, report: &Value, t: Lang) {
    h.push_str(&format!(
        "<h2>{}</h2><table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        t.t("Purposes and legal bases", "Цели и правовые основания"),
        t.t("Purpose", "Цель"),
        t.t("Legal basis", "Основание"),
        t.t("Recipients", "Получатели"),
        t.t("Retention", "Срок хранения"),
    ));
    for p in report["purposes"].as_array().into_iter().flatten() {
        let recipients = p["recipients"]
            .as_array()
            .map(|a| named_countries(a))
            .unwrap_or_default();
        let keep = p["retention"]
            .get("keep")
            .map(text)
            .unwrap_or_else(|| "—".into());
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&text(&p["description"])),
            esc(&text(&p["legal_basis"])),
            esc(&recipients),
            esc(&keep),
        ));
    }
    h.push_str("</table>");
}

/// Cross-border transfers and processors.
fn html_transfers(h: &mut String, report: &Value, t: Lang) {
    let transfers = report["cross_border_transfers"]
        .as_array()
        .filter(|a| !a.is_empty())
        .map(|a| named_countries(a))
        .unwrap_or_else(|| t.t("none", "не осуществляется").into());
    let processors = report["processors"]
        .as_array()
        .filter(|a| !a.is_empty())
        .map(|a| a.iter().map(text).collect::<Vec<_>>().join("; "))
        .unwrap_or_else(|| t.t("none", "нет").into());
    h.push_str(&format!(
        "<h2>{}</h2><p>{}</p><h2>{}</h2><p>{}</p>",
        t.t("Cross-border transfers", "Трансграничная передача"),
        esc(&transfers),
        t.t("Processors", "Лица, осуществляющие обработку по поручению"),
        esc(&processors),
    ));
}

/// The subject's rights and how to use them.
fn html_rights(h: &mut String, report: &Value, t: Lang) {
    h.push_str(&format!(
        "<h2>{}</h2><ul>",
        t.t("Your rights", "Ваши права")
    ));
    for r in report["rights"].as_array().into_iter().flatten() {
        h.push_str(&format!(
            "<li><b>{}</b> ({}): {}</li>",
            esc(&text(&r["right"])),
            esc(&text(&r["law"])),
            esc(&text(&r["how"]))
        ));
    }
    h.push_str("</ul>");
}

/// What was done: the destruction act and the systems notified.
fn html_outcome(h: &mut String, report: &Value, t: Lang) {
    if let Some(act) = report.get("destruction_act") {
        for a in act
            .as_array()
            .map_or(std::slice::from_ref(act), Vec::as_slice)
        {
            html_act(h, a, t);
        }
    }
    if let Some(d) = report["deliveries"].as_array().filter(|a| !a.is_empty()) {
        h.push_str(&format!(
            "<h2>{}</h2><ul>",
            t.t("Notified systems", "Уведомлённые системы")
        ));
        for x in d {
            h.push_str(&format!(
                "<li>{} · {} · {}</li>",
                esc(&text(&x["upstream"])),
                esc(&text(&x["event"])),
                esc(&text(&x["state"]))
            ));
        }
        h.push_str("</ul>");
    }
    let by_hand = &report["recipients_notified"]["by_hand"];
    if let Some(d) = by_hand.as_array().filter(|a| !a.is_empty()) {
        h.push_str(&format!(
            "<h2>{}</h2><ul>",
            t.t(
                "Recipients to be told by hand",
                "Получатели, которых нужно уведомить вручную"
            )
        ));
        for x in d {
            h.push_str(&format!(
                "<li>{} ({}) · {}</li>",
                esc(&text(&x["name"])),
                esc(&text(&x["country"])),
                esc(&text(&x["why"]))
            ));
        }
        h.push_str("</ul>");
    }
}

/// The half of a bilingual act text (`english / русский`) in the page's language.
fn pick(v: &Value, t: Lang) -> String {
    let s = text(v);
    match s.split_once(" / ") {
        Some((en, ru)) => if t.0 { ru } else { en }.to_owned(),
        None => s,
    }
}

/// A page of destruction acts (a sweep's, for the DPO to print or hand to an inspector), each laid
/// out as order No. 179 asks, in Russian or English.
pub fn acts_html(title: &str, acts: &[Value], russian: bool) -> String {
    let t = Lang(russian);
    let mut h = crate::html::start(if russian { "ru" } else { "en" }, title);
    h.push_str(&format!("<h1>{}</h1>", esc(title)));
    for a in acts {
        html_act(&mut h, a, t);
    }
    h.push_str(crate::html::END);
    h
}

/// An act's subjects (with their categories), the categories destroyed and what a hold keeps,
/// each as a readable line.
fn act_lists(a: &Value, t: Lang) -> (Vec<String>, Vec<String>, Vec<String>) {
    let subjects: Vec<String> = a["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let cats = s["categories"].as_array().map_or(String::new(), |c| {
                c.iter().map(text).collect::<Vec<_>>().join(", ")
            });
            format!("{} ({cats})", text(&s["pseudonym"]))
        })
        .collect();
    let categories: Vec<String> = a["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| text(&c["name"]))
        .collect();
    let held: Vec<String> = a["held"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            format!(
                "{}: {} ({} {})",
                text(&x["category"]),
                text(&x["basis"]),
                t.t("until", "до"),
                text(&x["until_local"])
            )
        })
        .collect();
    (subjects, categories, held)
}

/// A destruction act as order No. 179 lays it out, in the page's language, the stored JSON
/// (with its log extract) below it.
fn html_act(h: &mut String, a: &Value, t: Lang) {
    let (subjects, categories, held) = act_lists(a, t);
    let by = &a["destroyer"];
    let rows = [
        (t.t("Act", "Акт"), text(&a["act_id"])),
        (
            t.t("Operator", "Оператор"),
            format!(
                "{}, {}",
                text(&a["operator"]["name"]),
                text(&a["operator"]["address"])
            ),
        ),
        (
            t.t(
                "Data subjects (pseudonyms)",
                "Субъекты персональных данных (псевдонимы)",
            ),
            subjects.join("; "),
        ),
        (
            t.t("Categories destroyed", "Категории уничтоженных данных"),
            categories.join(", "),
        ),
        (
            t.t("Kept under a legal hold", "Сохранено в силу закона"),
            if held.is_empty() {
                "—".into()
            } else {
                held.join("; ")
            },
        ),
        (
            t.t("Information system", "Информационная система"),
            text(&a["information_system"]),
        ),
        (t.t("Method", "Способ уничтожения"), pick(&a["method"], t)),
        (t.t("Reason", "Причина уничтожения"), pick(&a["reason"], t)),
        (
            t.t("Destroyed by", "Уничтожил"),
            format!(
                "{}, {} ({})",
                text(&by["name"]),
                pick(&by["position"], t),
                text(&a["destroyed_by"])
            ),
        ),
        (t.t("Date", "Дата уничтожения"), text(local(a, "destroyed"))),
    ];
    h.push_str(&format!(
        "<h2>{}</h2><table>",
        t.t(
            "Destruction act (Roskomnadzor order No. 179)",
            "Акт об уничтожении персональных данных (приказ Роскомнадзора № 179)"
        )
    ));
    for (k, v) in rows {
        h.push_str(&format!("<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v)));
    }
    h.push_str(&format!(
        "</table><details><summary>{}</summary><pre>{}</pre></details>",
        t.t(
            "The act as stored, with its log extract",
            "Акт в исходном виде, с выпиской из журнала"
        ),
        esc(&serde_json::to_string_pretty(a).unwrap_or_default())
    ));
}

/// `<what>_local` of a request, or its RFC 3339 `<what>_at` in a report stored before it existed.
fn local<'v>(req: &'v Value, what: &str) -> &'v Value {
    match &req[format!("{what}_local")] {
        Value::Null => &req[format!("{what}_at")],
        v => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_reads_dates_on_the_operators_clock() {
        use crate::records::rights::RequestType;
        let row = RequestRow {
            id: "req_1".into(),
            kind: RequestType::Access,
            regime: Regimes::Fz152,
            lookup_mac: Vec::new(),
            lookup_kind: "email".into(),
            status: RequestStatus::Open,
            // 22:30 UTC on Tuesday 8 December: 01:30 on Wednesday in Moscow.
            received_at: 1_765_233_000_000 + 365 * 86_400_000,
            due_at: 1_765_233_000_000 + 365 * 86_400_000,
            original_due_at: 0,
            extension_reason: None,
            extended_at: None,
            fulfilled_at: None,
            repeat_of: None,
            note: None,
            created_by: "dpo".into(),
            fulfilled_by: None,
            result: None,
            purposes: None,
            notice_sent_at: None,
            notice_sent_by: None,
        };
        let cal = super::super::calendar::Calendar::russia();
        let j = request_json(&row, 0, &cal);
        assert_eq!(j["received_at"], "2026-12-08T22:30:00Z");
        assert_eq!(
            j["received_local"],
            "2026-12-09 01:30 (Europe/Moscow, UTC+03:00)"
        );
        let page = html(&json!({"request": j, "controller": {}}), true);
        assert!(page.contains("2026-12-09 01:30"), "{page}");
    }

    #[test]
    fn language_follows_accept_language_weights() {
        assert_eq!(asks_russian(Some("ru-RU,ru;q=0.9,en;q=0.8")), Some(true));
        assert_eq!(asks_russian(Some("en-US,en;q=0.9,ru;q=0.5")), Some(false));
        assert_eq!(asks_russian(Some("de, ru;q=0.7")), Some(true));
        assert_eq!(asks_russian(None), None);
        assert!(
            report_in_russian(None, Regimes::Fz152) && report_in_russian(Some("de"), Regimes::Both)
        );
        assert!(!report_in_russian(None, Regimes::Gdpr));
        assert!(!report_in_russian(Some("en"), Regimes::Fz152));
    }

    #[test]
    fn html_escapes_values() {
        let r = json!({"request": {"id": "<script>"}, "controller": {}, "confirmation": {"processing": true},
            "subjects": [{"data": [{"value": "<b>x</b>\"", "purposes": []}]}]});
        let page = html(&r, false);
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;b&gt;x&lt;/b&gt;&quot;"));
    }
}
