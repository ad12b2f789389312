//! The processing-activity register (SPEC 9): the GDPR Art. 30(1) record and the 152-FZ
//! Art. 22(3) notification to Roskomnadzor, built from the policies, the running configuration
//! and live figures from the store — never typed by hand, so it cannot drift from what the
//! gateway does. [`build`] is a plain function over those three inputs; [`render`] writes the
//! document as JSON, CSV, Markdown or HTML.
//!
//! Every item carries the article reference it answers (`30(1)(d)`, `22(3)(7)`), so a reviewer can
//! check the document against the legal list line by line. What the policies do not say and the
//! law asks for is listed under `gaps` instead of being invented.

pub mod form_ru;
pub mod render;

use serde::Serialize;
use serde_json::{json, Value};

use crate::policy::{chapter_v_refusal, DestinationKind, EuAdequacy, EuStatus, LegalBasis, Policy};
use crate::records::oversight::{Figures, FlowRow, NotificationRow};
use crate::records::rights::SweepRow;
use crate::transfers::{self, Adequacy};
use crate::Millis;

/// Which legal list the document answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    Gdpr,
    Fz152,
}

impl View {
    pub fn parse(s: &str) -> Option<View> {
        match s {
            "gdpr" => Some(View::Gdpr),
            "fz152" => Some(View::Fz152),
            _ => None,
        }
    }
}

/// What the running configuration says about security, read at start (no secrets in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityFacts {
    pub backend: &'static str,
    /// Where the database is, without credentials (a file path or `host:port/db`).
    pub database: String,
    pub tls: bool,
    /// How the admin API authenticates (`HS256 shared secret`, `RS256/ES256 JWKS`, or none).
    pub admin_auth: &'static str,
    pub retention_interval_s: u64,
    pub checkpoint_entries: u64,
    pub checkpoint_interval_s: u64,
    pub webhooks_signed: bool,
}

/// The database URL without scheme, credentials or parameters.
pub fn database_place(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('?').next().unwrap_or_default().to_owned()
}

/// What the store says now.
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub figures: Figures,
    pub last_sweep: Option<SweepRow>,
    pub flows: Vec<FlowRow>,
    pub notifications: Vec<NotificationRow>,
}

/// A flow discovery found, as the register and the API show it.
pub fn flow_json(f: &FlowRow) -> Value {
    json!({
        "method": f.method,
        "path": f.path,
        "kinds": f.kinds,
        "count": f.count,
        "first_seen": crate::rfc3339(f.first_seen),
        "last_seen": crate::rfc3339(f.last_seen),
    })
}

/// The register document: sections of items, each with its legal reference.
#[derive(Debug, Clone, Serialize)]
pub struct Register {
    pub view: View,
    pub title: &'static str,
    pub operator: String,
    pub generated_at: String,
    pub generator: String,
    pub sections: Vec<Section>,
    /// What the law asks for and the policies do not say.
    pub gaps: Vec<Gap>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub id: &'static str,
    pub title: &'static str,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// The article the item answers, e.g. `30(1)(d)` or `22(3)(10.1)`; empty for figures.
    #[serde(rename = "ref")]
    pub reference: &'static str,
    pub key: &'static str,
    /// `Russian / English`.
    pub label: &'static str,
    pub value: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    #[serde(rename = "ref")]
    pub reference: &'static str,
    pub message: String,
}

/// Everything [`build`] reads.
pub struct Inputs<'a> {
    pub policy: &'a Policy,
    pub facts: &'a SecurityFacts,
    pub live: &'a Live,
    pub adequacy: &'a Adequacy,
    pub calendar: &'a crate::requests::calendar::Calendar,
    pub now: Millis,
}

fn item(reference: &'static str, key: &'static str, label: &'static str, value: Value) -> Item {
    Item {
        reference,
        key,
        label,
        value,
    }
}

/// The register in `view` and `format`; `None` for the notification form asked of the GDPR view
/// (the form is Roskomnadzor's).
pub fn document(view: View, format: render::Format, inp: &Inputs<'_>) -> Option<String> {
    match (view, format) {
        (View::Fz152, render::Format::Form) => Some(form_ru::html(
            &form_ru::fields(inp),
            &inp.policy.controller.name,
        )),
        (View::Gdpr, render::Format::Form) => None,
        _ => Some(render::render(&build(view, inp), format)),
    }
}

/// The register in one view.
pub fn build(view: View, inp: &Inputs<'_>) -> Register {
    let mut gaps = Vec::new();
    let mut sections = match view {
        View::Gdpr => vec![Section {
            id: "art30",
            title: "Запись о деятельности по обработке (GDPR ст. 30(1)) / Record of processing activities (GDPR Art. 30(1))",
            items: gdpr_items(inp, &mut gaps),
        }],
        View::Fz152 => vec![Section {
            id: "art22",
            title: "Уведомление об обработке персональных данных (152-ФЗ ст. 22 ч. 3) / Notification of processing (152-FZ Art. 22(3))",
            items: fz152_items(inp, &mut gaps),
        }],
    };
    sections.push(Section {
        id: "figures",
        title: "Текущие показатели / Live figures",
        items: figure_items(inp),
    });
    sections.push(Section {
        id: "undeclared_flows",
        title: "Необъявленные потоки данных (обнаружение) / Undeclared flows (discovery)",
        items: vec![item(
            "",
            "flows",
            "Маршруты без политики, в телах которых найдены персональные данные / Routes without a policy whose bodies carried personal data",
            json!(inp
                .live
                .flows
                .iter()
                .map(flow_json)
                .collect::<Vec<_>>()),
        )],
    });
    Register {
        view,
        title: match view {
            View::Gdpr => "Record of processing activities (GDPR Art. 30)",
            View::Fz152 => "Уведомление об обработке персональных данных (152-ФЗ, ст. 22)",
        },
        operator: inp.policy.controller.name.clone(),
        generated_at: crate::rfc3339(inp.now),
        generator: format!("pdgate {}", env!("CARGO_PKG_VERSION")),
        sections,
        gaps,
    }
}

fn gdpr_items(inp: &Inputs<'_>, gaps: &mut Vec<Gap>) -> Vec<Item> {
    let p = inp.policy;
    let c = &p.controller;
    let transfers = transfer_list(inp);
    let eu = EuAdequacy::shipped();
    for d in p.destinations() {
        // `policy check` refuses these; a register built from a policy changed since says so too.
        if let Some(why) = chapter_v_refusal(eu.status(d.country), d.country, d.safeguards) {
            gaps.push(Gap {
                reference: "30(1)(e)",
                message: format!("{}: {why}", d.name),
            });
        }
    }
    let established_in_eea = c
        .location()
        .is_some_and(|l| eu.status(&l.country) == EuStatus::Eea);
    if !established_in_eea && c.eu_representative.is_none() {
        gaps.push(Gap {
            reference: "30(1)(a)",
            message: "the database is outside the EEA: a controller not established in the Union names its representative there (GDPR Art. 27(1)) unless Art. 27(2) exempts it; add `eu_representative: {name, address, email, country}`".into(),
        });
    }
    vec![
        item("30(1)(a)", "controller", "Оператор, его представитель и DPO / Controller, representative and DPO", json!({
            "name": c.name,
            "address": c.address,
            "email": c.email,
            "phone": c.phone,
            "dpo": {"name": c.dpo.name, "email": c.dpo.email},
            "eu_representative": c.eu_representative,
            "joint_controllers": c.joint_controllers,
        })),
        item("30(1)(b)", "purposes", "Цели обработки / Purposes of the processing", purposes(inp, false)),
        item("30(1)(c)", "categories", "Категории субъектов и персональных данных / Categories of data subjects and of personal data", json!({
            "data_subjects": subject_groups(p),
            "personal_data": data_categories(p),
        })),
        item("30(1)(d)", "recipients", "Категории получателей / Categories of recipients", recipients(inp)),
        item("30(1)(e)", "transfers", "Передача в третьи страны и гарантии / Transfers to third countries and safeguards", json!(transfers)),
        item("30(1)(f)", "erasure_time_limits", "Сроки удаления / Time limits for erasure", time_limits(inp)),
        item("30(1)(g)", "security_measures", "Технические и организационные меры (ст. 32(1)) / Technical and organisational security measures (Art. 32(1))", json!(security_measures(inp))),
    ]
}

fn fz152_items(inp: &Inputs<'_>, gaps: &mut Vec<Gap>) -> Vec<Item> {
    let p = inp.policy;
    let c = &p.controller;
    let responsible = responsible_person(p, gaps);
    let started = start_date(inp, gaps);
    let level = protection_level(p, gaps);
    let foreign = foreign_transfers(inp, gaps);
    for (id, v) in [("inn", &c.inn), ("ogrn", &c.ogrn)] {
        if v.is_none() {
            gaps.push(Gap {
                reference: "22(3)(1)",
                message: format!("the notification form asks for the operator's {} (ИНН, ОГРН): add `{id}:` to `controller`", id.to_uppercase()),
            });
        }
    }
    vec![
        item("22(3)(1)", "operator", "Наименование и адрес оператора / Operator name and address", json!({
            "name": c.name, "address": c.address, "email": c.email, "phone": c.phone,
            "inn": c.inn, "ogrn": c.ogrn, "rkn_registry_number": c.rkn_registry_number,
        })),
        item("22(3)(2)", "purposes", "Цели обработки / Purposes of processing", purposes(inp, true)),
        item("22(3)(3)", "data_categories", "Категории персональных данных / Categories of personal data", data_categories(p)),
        item("22(3)(4)", "subject_categories", "Категории субъектов / Categories of data subjects", subject_groups(p)),
        item("22(3)(5)", "legal_bases", "Правовое основание обработки / Legal basis of processing", json!(p.purposes.iter().map(|x| json!({
            "purpose": x.def.id,
            "basis": x.def.legal_basis.as_str(),
            "law": fz152_basis(x.def.legal_basis),
        })).collect::<Vec<_>>())),
        item("22(3)(6)", "actions_and_methods", "Перечень действий и способы обработки / Actions and methods of processing", actions_and_methods(p)),
        item("22(3)(7)", "measures", "Меры по ст. 18.1 и 19, в том числе шифровальные средства / Measures under Art. 18.1 and 19, including cryptographic means", json!({
            "measures": security_measures(inp),
            "cryptographic_means": crypto_means(inp.facts),
        })),
        item("22(3)(7.1)", "responsible_person", "Ответственный за организацию обработки / Person responsible for organizing processing", responsible),
        item("22(3)(8)", "start_date", "Дата начала обработки / Date processing started", started),
        item("22(3)(9)", "end_condition", "Срок или условие прекращения обработки / Term or condition for ending processing", time_limits(inp)),
        item("22(3)(10)", "cross_border", "Трансграничная передача / Cross-border transfer", json!({
            "present": !foreign.is_empty(),
            "transfers": foreign,
        })),
        item("22(3)(10.1)", "database_location", "Место нахождения базы данных / Location of the database", json!({
            "location": c.location(),
            "database": format!("{} ({})", inp.facts.backend, inp.facts.database),
        })),
        item("22(3)(11)", "security", "Обеспечение безопасности по требованиям Правительства РФ / Security under the Government's requirements", json!({
            "protection_level": level,
            "requirements": "Government Decree No. 1119 of 01.11.2012; FSTEC Order No. 21 of 18.02.2013",
            "technical_measures": security_measures(inp),
        })),
    ]
}

/// 22(3)(7.1): the person responsible for organizing processing, with a telephone number.
fn responsible_person(p: &Policy, gaps: &mut Vec<Gap>) -> Value {
    let c = &p.controller;
    let responsible = match &c.responsible {
        Some(r) => {
            json!({"name": r.name, "phone": r.phone, "email": r.email, "address": r.address})
        }
        None => {
            json!({"name": c.dpo.name, "phone": c.phone, "email": c.dpo.email, "address": c.address})
        }
    };
    if responsible["phone"].is_null() {
        gaps.push(Gap {
            reference: "22(3)(7.1)",
            message: "the responsible person's telephone number is required: add `controller.responsible.phone` (or `controller.phone`)".into(),
        });
    }
    responsible
}

/// 22(3)(8): when processing started, as declared or as the audit log first shows it.
fn start_date(inp: &Inputs<'_>, gaps: &mut Vec<Gap>) -> Value {
    match (
        &inp.policy.controller.processing_started,
        inp.live.figures.first_entry_at,
    ) {
        (Some(d), _) => json!({"date": d, "source": "policy"}),
        (None, Some(t)) => {
            let date = inp.calendar.zone().date_string(t);
            json!({"date": date, "source": "first audit entry"})
        }
        (None, None) => {
            gaps.push(Gap {
                reference: "22(3)(8)",
                message: "no start date: add `controller.processing_started: YYYY-MM-DD`".into(),
            });
            Value::Null
        }
    }
}

/// 22(3)(11): the protection level the operator's threat model sets.
fn protection_level(p: &Policy, gaps: &mut Vec<Gap>) -> Value {
    match p.controller.protection_level {
        Some(l) => json!(l),
        None => {
            gaps.push(Gap {
                reference: "22(3)(11)",
                message: "the protection level under Government Decree No. 1119 is set by the operator's threat model: add `controller.protection_level: 1..4`".into(),
            });
            Value::Null
        }
    }
}

/// 22(3)(10): the transfers abroad, each needing a recorded Art. 12 notification.
fn foreign_transfers(inp: &Inputs<'_>, gaps: &mut Vec<Gap>) -> Vec<Value> {
    let foreign: Vec<Value> = transfer_list(inp)
        .into_iter()
        .filter(|t| t["country"].as_str().is_some_and(transfers::is_foreign))
        .collect();
    for t in &foreign {
        if t["notification"].is_null() {
            gaps.push(Gap {
                reference: "22(3)(10)",
                message: format!(
                    "transfer to {} ({}) has no recorded Art. 12 notification for every purpose: record it with POST /admin/v1/transfers",
                    t["recipient"].as_str().unwrap_or_default(),
                    t["country"].as_str().unwrap_or_default()
                ),
            });
        }
    }
    foreign
}

/// 152-FZ Art. 6(1) point for each basis.
fn fz152_basis(b: LegalBasis) -> &'static str {
    match b {
        LegalBasis::Consent => "152-ФЗ ст. 6 ч. 1 п. 1 (согласие субъекта)",
        LegalBasis::Contract => "152-ФЗ ст. 6 ч. 1 п. 5 (договор с субъектом)",
        LegalBasis::LegalObligation => "152-ФЗ ст. 6 ч. 1 п. 2 (обязанность по закону)",
        LegalBasis::VitalInterests => "152-ФЗ ст. 6 ч. 1 п. 6 (жизненно важные интересы)",
        LegalBasis::PublicTask => "152-ФЗ ст. 6 ч. 1 п. 4 (исполнение полномочий)",
        LegalBasis::LegitimateInterests => "152-ФЗ ст. 6 ч. 1 п. 7 (законные интересы оператора)",
    }
}

fn count(list: &[crate::records::oversight::Count], key: &str) -> i64 {
    list.iter().find(|c| c.key == key).map_or(0, |c| c.n)
}

/// Each purpose with what the law asks beside it and its live figures.
fn purposes(inp: &Inputs<'_>, fz152: bool) -> Value {
    let f = &inp.live.figures;
    json!(inp
        .policy
        .purposes
        .iter()
        .map(|p| {
            let id = p.def.id.as_str();
            let mut v = json!({
                "id": id,
                "description": p.def.description,
                "legal_basis": p.def.legal_basis.as_str(),
                "categories": p.def.categories,
                "subjects": p.def.subjects,
                "figures": {
                    "subjects": count(&f.subjects_by_purpose, id),
                    "consents_granted": count(&f.consents, &format!("{id}/granted")),
                    "consents_withdrawn": count(&f.consents, &format!("{id}/withdrawn")),
                    "objections": count(&f.consents, &format!("{id}/objected")),
                },
            });
            if fz152 {
                v["legal_basis_law"] = json!(fz152_basis(p.def.legal_basis));
            }
            v
        })
        .collect::<Vec<_>>())
}

fn subject_groups(p: &Policy) -> Value {
    json!(p
        .subjects
        .iter()
        .map(|s| json!({"id": s.id, "name": s.name}))
        .collect::<Vec<_>>())
}

fn data_categories(p: &Policy) -> Value {
    json!(p
        .categories
        .iter()
        .map(|c| {
            let used: Vec<&str> = p
                .purposes
                .iter()
                .filter(|x| x.def.categories.contains(&c.id))
                .map(|x| x.def.id.as_str())
                .collect();
            json!({"id": c.id, "name": c.name, "special": c.special, "purposes": used})
        })
        .collect::<Vec<_>>())
}

/// Who receives data: declared recipients, the systems behind the gateway (which receive tokens
/// and ciphertext) and the services that may detokenize.
fn recipients(inp: &Inputs<'_>) -> Value {
    json!(inp
        .policy
        .destinations()
        .iter()
        .map(|d| {
            let (kind, receives) = match d.kind {
                DestinationKind::Recipient => ("recipient", d.detail.unwrap_or("")),
                DestinationKind::Upstream => (
                    "system behind the gateway",
                    "tokens, pseudonyms and ciphertext; plaintext where a field's action is `pass`, in part where it is `mask`",
                ),
                DestinationKind::Service => (
                    "detokenizing service",
                    "plaintext on request, per purpose, audited",
                ),
            };
            json!({"name": d.name, "kind": kind, "country": d.country, "purposes": d.purposes, "receives": receives})
        })
        .collect::<Vec<_>>())
}

/// Every recipient, upstream and service with its country, under both laws' eyes: for 152-FZ a
/// transfer is one outside Russia; for the GDPR, one outside the EEA, and Russia has no adequacy
/// decision, so a Russian recipient of GDPR-regime data is a third-country transfer with its
/// Chapter V ground.
fn transfer_list(inp: &Inputs<'_>) -> Vec<Value> {
    let notes = &inp.live.notifications;
    let eu = EuAdequacy::shipped();
    inp.policy
        .destinations()
        .iter()
        .map(|d| {
            let country = d.country;
            let foreign = transfers::is_foreign(country);
            let per_purpose: Vec<Value> = d
                .purposes
                .iter()
                .map(|purpose| {
                    let ok = transfers::decide(
                        country,
                        purpose,
                        notes,
                        inp.adequacy,
                        inp.calendar,
                        inp.now,
                    );
                    let filed = notes
                        .iter()
                        .filter(|n| {
                            n.country == country
                                && n.purpose == *purpose
                                && n.withdrawn_at.is_none()
                        })
                        .min_by_key(|n| n.filed_at);
                    json!({
                        "purpose": purpose,
                        "notification_filed_at": filed.map(|n| crate::rfc3339(n.filed_at)),
                        "received_by_authority_at": filed.and_then(|n| n.received_at).map(crate::rfc3339),
                        "reference": filed.and_then(|n| n.reference.clone()),
                        "allowed": ok.is_ok(),
                        "reason": ok.err().map(|r| r.reason()),
                    })
                })
                .collect();
            let notified = per_purpose
                .iter()
                .all(|x| !x["notification_filed_at"].is_null());
            let notification = match (foreign, notified) {
                (false, _) => json!("not needed (domestic)"),
                (true, true) => json!("recorded"),
                (true, false) => Value::Null,
            };
            json!({
                "recipient": d.name,
                "country": country,
                "adequate_152fz": !foreign || inp.adequacy.contains(country),
                "gdpr_third_country": eu.status(country) != EuStatus::Eea,
                "gdpr_status": eu.status(country).as_str(),
                "safeguards": d.safeguards.map(|s| s.as_str()),
                "safeguards_article": d.safeguards.map(|s| s.article()),
                "notification": notification,
                "purposes": per_purpose,
            })
        })
        .collect()
}

fn time_limits(inp: &Inputs<'_>) -> Value {
    let p = inp.policy;
    json!({
        "purposes": p.purposes.iter().map(|x| json!({
            "purpose": x.def.id,
            "keep": x.def.retention.as_ref().map(|r| r.keep.clone()),
            "from": x.def.retention.as_ref().map(|r| format!("{:?}", r.from).to_lowercase()),
            "categories": x.def.categories,
        })).collect::<Vec<_>>(),
        "legal_holds": p.legal_holds.iter().map(|h| json!({
            "category": h.def.category, "basis": h.def.basis, "keep": h.def.keep,
        })).collect::<Vec<_>>(),
        "conditions": [
            "the purpose's retention period has run out (erased by the retention sweeper)",
            "the subject withdrew consent or objected and no other basis remains (152-FZ Art. 21(5); GDPR Art. 17(1)(b))",
            "an erasure request was fulfilled (152-FZ Art. 21(3); GDPR Art. 17)",
            "the operator is liquidated or stops the activity",
        ],
        "sweep_interval_s": inp.facts.retention_interval_s,
    })
}

/// 22(3)(6): per purpose, as the notification form asks: its actions, and its methods with
/// what the gateway does to each field collected for it.
fn actions_and_methods(p: &Policy) -> Value {
    json!(p
        .purposes
        .iter()
        .enumerate()
        .map(|(ix, x)| {
            let mut treatments: Vec<&'static str> = p
                .routes
                .iter()
                .filter(|r| r.purposes.contains(&ix))
                .flat_map(|r| r.fields.values().map(|f| f.action.as_str()))
                .collect();
            treatments.sort_unstable();
            treatments.dedup();
            json!({
                "purpose": x.def.id,
                "actions": x.def.actions.iter().map(|a| json!({"action": a, "ru": action_ru(a)})).collect::<Vec<_>>(),
                "method": format!("{METHOD_RU} / {METHOD_EN}"),
                "field_treatments": treatments,
            })
        })
        .collect::<Vec<_>>())
}

/// How pdgate processes: by automated means, over networks.
const METHOD_RU: &str =
    "автоматизированная обработка с передачей по внутренней сети оператора и по сети Интернет";
const METHOD_EN: &str =
    "automated processing with transfer over the operator's internal network and the Internet";

fn action_ru(a: &str) -> &'static str {
    match a {
        "collect" => "сбор",
        "record" => "запись",
        "systematize" => "систематизация",
        "accumulate" => "накопление",
        "store" => "хранение",
        "update" | "rectify" => "уточнение (обновление, изменение)",
        "retrieve" => "извлечение",
        "use" => "использование",
        "transfer" => "передача (предоставление, доступ)",
        "depersonalize" => "обезличивание",
        "block" => "блокирование",
        "delete" => "удаление",
        "destroy" => "уничтожение",
        _ => "",
    }
}

/// The cryptographic means pdgate itself uses, named as they are, with their certification status.
fn crypto_means(f: &SecurityFacts) -> Value {
    let version = env!("CARGO_PKG_VERSION");
    json!([
        {
            "name": format!("pdgate {version}: RustCrypto aes-gcm 0.10 (AES-256-GCM), hmac/sha2 (HMAC-SHA-256), hkdf (HKDF-SHA-256)"),
            "use": "vault encryption under per-subject keys; tokens, blind index and hashes",
            "fsb_certified": false,
        },
        {
            "name": "rustls 0.23 with aws-lc-rs (TLS 1.2 and 1.3)",
            "use": if f.tls { "TLS on the proxy listener and to https upstreams" } else { "TLS to https upstreams; the proxy listener is plain HTTP (terminate TLS in front of it)" },
            "fsb_certified": false,
        },
        {
            "name": "aws-lc-rs (Ed25519), jsonwebtoken 10",
            "use": "signed audit checkpoints; admin and subject tokens",
            "fsb_certified": false,
        },
    ])
}

/// Security measures as configured now.
fn security_measures(inp: &Inputs<'_>) -> Vec<Value> {
    let f = inp.facts;
    let fig = &inp.live.figures;
    let m = |measure: &str, detail: String| json!({"measure": measure, "detail": detail});
    vec![
        m("encryption at rest", format!(
            "AES-256-GCM with a random 96-bit nonce and associated data; one data key per subject, wrapped by the key-encryption key (version {}, wrapping the root secret since {})",
            fig.kek_version,
            fig.keyring_at.map_or_else(|| "—".to_owned(), crate::rfc3339)
        )),
        m("pseudonymization", "personal fields replaced by HMAC-SHA-256 tokens and pseudonyms before they reach the systems behind the gateway; keys HKDF-SHA-256-separated per role".into()),
        m("encryption in transit", if f.tls {
            "TLS 1.2 and TLS 1.3 (rustls) on the proxy listener; https to upstreams".into()
        } else {
            "the proxy listener is plain HTTP: TLS must be terminated in front of it; https to upstreams with TLS 1.2/1.3".into()
        }),
        m("access control", format!("admin API behind {}; roles admin, dpo, auditor, service; detokenization per purpose", f.admin_auth)),
        m("erasure", "crypto-shredding of the subject's data key; destruction acts kept 3 years".into()),
        m("audit", format!(
            "SHA-256 hash-chained log of every operation, Ed25519-signed checkpoints every {} entries or {} s",
            f.checkpoint_entries, f.checkpoint_interval_s
        )),
        m("retention", if f.retention_interval_s > 0 {
            format!("expired data erased automatically every {} s", f.retention_interval_s)
        } else {
            "the sweeper is off in this process ([retention] interval_s = 0): run `pdgate retention run` on a schedule".into()
        }),
        m("durability", format!(
            "{}: every intake committed before forwarding{}",
            f.backend,
            if f.backend == "SQLite" { " (WAL, synchronous=FULL)" } else { "" }
        )),
        m("webhooks", if f.webhooks_signed {
            "erasure notices to upstreams signed with HMAC-SHA-256".into()
        } else {
            "erasure notices to upstreams unsigned ([webhooks] secret_file not set)".into()
        }),
    ]
}

/// Figures beside the purposes: totals, requests and the last sweep.
fn figure_items(inp: &Inputs<'_>) -> Vec<Item> {
    let f = &inp.live.figures;
    let requests: Vec<Value> = f
        .requests
        .iter()
        .map(|r| {
            json!({
                "type": r.kind,
                "received": r.received,
                "fulfilled": r.fulfilled,
                "on_time": r.on_time,
                "on_time_rate": if r.fulfilled > 0 { json!((r.on_time as f64 / r.fulfilled as f64 * 1000.0).round() / 1000.0) } else { Value::Null },
                "open": r.open,
                "overdue": r.overdue,
            })
        })
        .collect();
    vec![
        item(
            "",
            "subjects",
            "Субъектов в хранилище / Subjects in the vault",
            json!(f.subjects),
        ),
        item(
            "",
            "values_by_category",
            "Значений по категориям / Stored values per category",
            json!(f
                .values_by_category
                .iter()
                .map(|c| json!({"category": c.key, "values": c.n}))
                .collect::<Vec<_>>()),
        ),
        item(
            "",
            "consents",
            "Записи о согласиях по целям / Consent records per purpose",
            json!(f
                .consents
                .iter()
                .map(|c| {
                    let (purpose, state) = c.key.split_once('/').unwrap_or((c.key.as_str(), ""));
                    json!({"purpose": purpose, "state": state, "records": c.n})
                })
                .collect::<Vec<_>>()),
        ),
        item(
            "",
            "requests",
            "Запросы субъектов по типам / Subject requests by type",
            json!(requests),
        ),
        item(
            "",
            "last_sweep",
            "Последняя очистка по срокам хранения / Last retention sweep",
            match &inp.live.last_sweep {
                Some(s) => json!({
                    "finished_at": crate::rfc3339(s.finished_at),
                    "subjects_erased": s.subjects_erased,
                    "values_erased": s.values_erased,
                    "subjects_restricted": s.subjects_restricted,
                }),
                None => Value::Null,
            },
        ),
    ]
}

#[cfg(test)]
mod tests;
