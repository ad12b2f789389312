//! Drafts of the notices a breach calls for, filled from what was recorded: the 152-FZ
//! Art. 21(3.1) initial (24 h) and follow-up (72 h) notices to Roskomnadzor, the 152-FZ
//! Art. 19(12) notices of a computer incident to GosSOPKA, the GDPR Art. 33(3) notification to
//! the supervisory authority and the Art. 34(2) communication to the subjects. A field nobody has filled yet is named
//! under `missing` so the DPO sees what to write before sending.

use serde_json::{json, Value};

use super::{Breach, Invalid, HOUR_MS};
use crate::html::esc;
use crate::legal_day::LegalZone;
use crate::policy::{Policy, Regime};
use crate::Millis;

/// Which notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Fz152Initial,
    Fz152FollowUp,
    GosSopkaInitial,
    GosSopkaResults,
    Gdpr,
    GdprSubjects,
}

impl NoticeKind {
    /// From `regime` and `stage` query parameters.
    pub fn parse(regime: &str, stage: Option<&str>) -> Result<NoticeKind, Invalid> {
        match (regime, stage) {
            ("fz152", Some("24h")) => Ok(NoticeKind::Fz152Initial),
            ("fz152", Some("72h")) => Ok(NoticeKind::Fz152FollowUp),
            ("gossopka", Some("24h")) => Ok(NoticeKind::GosSopkaInitial),
            ("gossopka", Some("72h")) => Ok(NoticeKind::GosSopkaResults),
            ("gdpr", None | Some("72h")) => Ok(NoticeKind::Gdpr),
            ("gdpr", Some("subjects")) => Ok(NoticeKind::GdprSubjects),
            ("fz152" | "gossopka", _) => Err(Invalid {
                code: "invalid_stage",
                message: format!("stage must be 24h or 72h for {regime}"),
            }),
            ("gdpr", _) => Err(Invalid {
                code: "invalid_stage",
                message: "stage must be 72h (the authority) or subjects (Art. 34) for gdpr".into(),
            }),
            _ => Err(Invalid {
                code: "invalid_regime",
                message: "regime must be fz152, gossopka or gdpr".into(),
            }),
        }
    }

    fn regime(self) -> Regime {
        match self {
            NoticeKind::Gdpr | NoticeKind::GdprSubjects => Regime::Gdpr,
            _ => Regime::Fz152,
        }
    }
}

fn field(key: &str, label: &str, value: Value) -> Value {
    json!({"key": key, "label": label, "value": value})
}

/// The draft as JSON: title, law, addressee, due time and the fields in the law's order.
/// Times in the fields read as the operator's clock shows them (`zone`), offset included, as the
/// authority's form asks for a date and time; `due_at` and `generated_at` stay RFC 3339.
pub fn draft(
    b: &Breach,
    policy: &Policy,
    kind: NoticeKind,
    (now, zone): (Millis, &LegalZone),
) -> Result<Value, Invalid> {
    if !b.body.regimes.iter().any(|r| r == kind.regime().as_str()) {
        return Err(Invalid {
            code: "regime_not_applicable",
            message: format!(
                "the controller does not declare the {} regime",
                kind.regime().as_str()
            ),
        });
    }
    let gossopka = matches!(
        kind,
        NoticeKind::GosSopkaInitial | NoticeKind::GosSopkaResults
    );
    if gossopka && !b.body.computer_incident {
        return Err(Invalid {
            code: "not_a_computer_incident",
            message: "the breach is recorded as not a computer incident: 152-FZ Art. 19(12) asks no GosSOPKA notice".into(),
        });
    }
    let ctx = Ctx::of(b, policy, zone);
    let form = match kind {
        NoticeKind::Fz152Initial => fz152_initial(&ctx),
        NoticeKind::Fz152FollowUp => fz152_follow_up(&ctx),
        NoticeKind::GosSopkaInitial => gossopka_initial(&ctx),
        NoticeKind::GosSopkaResults => gossopka_results(&ctx),
        NoticeKind::Gdpr => gdpr(&ctx, now > b.detected_at + 72 * HOUR_MS),
        NoticeKind::GdprSubjects => gdpr_subjects(&ctx),
    };
    let due_at = form.hours.map(|h| b.detected_at + h * HOUR_MS);
    let missing: Vec<&str> = form
        .fields
        .iter()
        .filter(|f| f["value"].is_null())
        .filter_map(|f| f["key"].as_str())
        .collect();
    Ok(json!({
        "breach": b.id,
        "title": form.title,
        "law": form.law,
        "addressee": form.addressee,
        "due_at": due_at.map(crate::rfc3339),
        "due_local": due_at.map_or_else(|| "without undue delay".to_owned(), |t| zone.readable(t)),
        "generated_at": crate::rfc3339(now),
        "fields": form.fields,
        "missing": missing,
    }))
}

/// What every form is filled from.
struct Ctx<'a> {
    b: &'a Breach,
    policy: &'a Policy,
    zone: &'a LegalZone,
    contact: Value,
    window: Value,
    estimate: Value,
}

impl<'a> Ctx<'a> {
    fn of(b: &'a Breach, policy: &'a Policy, zone: &'a LegalZone) -> Ctx<'a> {
        let c = &policy.controller;
        let contact = match &c.responsible {
            Some(r) => {
                json!({"name": r.name, "email": r.email.as_deref().unwrap_or(&c.dpo.email), "phone": r.phone.as_deref().or(c.phone.as_deref())})
            }
            None => json!({"name": c.dpo.name, "email": c.dpo.email, "phone": c.phone}),
        };
        let body = &b.body;
        Ctx {
            b,
            policy,
            zone,
            contact,
            window: json!({
                "from": body.window_from.map(|t| zone.readable(t)),
                "until": zone.readable(body.window_until),
            }),
            estimate: json!({
                "subjects_approx": body.estimate.subjects,
                "records_approx": body.estimate.records,
                "computed_from": "values of the affected categories collected in the window, counted in the vault",
            }),
        }
    }
}

/// One notice form: its title, the law that asks for it, to whom, within how many hours of
/// detection (none: "without undue delay"), and its fields in the law's order.
struct Form {
    title: &'static str,
    law: &'static str,
    addressee: &'static str,
    hours: Option<i64>,
    fields: Vec<Value>,
}

/// The operator as both Roskomnadzor forms name it.
fn operator(c: &crate::policy::model::Controller) -> Value {
    field(
        "operator",
        "Оператор / Operator",
        json!({"name": c.name, "address": c.address, "email": c.email}),
    )
}

fn fz152_initial(x: &Ctx<'_>) -> Form {
    let (b, c, body) = (x.b, &x.policy.controller, &x.b.body);
    let (window, estimate, contact) = (&x.window, &x.estimate, x.contact.clone());
    Form {
        title: "Уведомление об инциденте (первичное) / Initial incident notice",
        law: "152-ФЗ ст. 21 ч. 3.1 п. 1",
        addressee: "Роскомнадзор (pd.rkn.gov.ru)",
        hours: Some(24),
        fields: vec![
            operator(c),
            field(
                "detected_at",
                "Дата и время выявления / Detected at",
                json!(x.zone.readable(b.detected_at)),
            ),
            field(
                "incident",
                "Описание инцидента / The incident",
                json!(body.description),
            ),
            field(
                "data",
                "Персональные данные и число субъектов / Data and subjects affected",
                json!({"categories": body.categories, "window": window, "estimate": estimate}),
            ),
            field(
                "causes",
                "Предполагаемые причины / Presumed causes",
                json!(body.causes),
            ),
            field(
                "harm",
                "Предполагаемый вред правам субъектов / Presumed harm to the subjects' rights",
                json!(body.harm),
            ),
            field(
                "measures",
                "Принятые меры по устранению последствий / Measures taken",
                json!(body.measures),
            ),
            field(
                "contact",
                "Лицо, уполномоченное оператором на взаимодействие / Contact person",
                contact,
            ),
        ],
    }
}

fn fz152_follow_up(x: &Ctx<'_>) -> Form {
    let (b, c, body) = (x.b, &x.policy.controller, &x.b.body);
    let contact = x.contact.clone();
    Form {
        title: "Уведомление о результатах внутреннего расследования / Investigation results",
        law: "152-ФЗ ст. 21 ч. 3.1 п. 2",
        addressee: "Роскомнадзор (pd.rkn.gov.ru)",
        hours: Some(72),
        fields: vec![
            operator(c),
            field(
                "initial_notice",
                "Первичное уведомление / Initial notice",
                json!({"breach": b.id, "references": body.references}),
            ),
            field(
                "investigation",
                "Результаты внутреннего расследования / Results of the internal investigation",
                json!(body.investigation),
            ),
            field(
                "responsible_persons",
                "Лица, действия которых стали причиной / Persons whose actions caused the incident",
                json!(body.responsible_persons),
            ),
            field("contact", "Контактное лицо / Contact person", contact),
        ],
    }
}

/// GDPR Art. 33(3); past 72 hours the reasons for the delay are asked for too (Art. 33(1)).
fn gdpr(x: &Ctx<'_>, late: bool) -> Form {
    let (b, c, body, policy) = (x.b, &x.policy.controller, &x.b.body, x.policy);
    let (window, estimate) = (&x.window, &x.estimate);
    let mut fields = vec![
        field(
            "nature",
            "Nature of the breach, categories and approximate numbers (Art. 33(3)(a))",
            json!({
                "description": body.description,
                "detected_at": x.zone.readable(b.detected_at),
                "categories_of_data": body.categories,
                "window": window,
                "categories_of_subjects": policy.subjects.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
                "estimate": estimate,
            }),
        ),
        field(
            "dpo",
            "Name and contact details of the DPO (Art. 33(3)(b))",
            json!({"name": c.dpo.name, "email": c.dpo.email, "controller": c.name, "address": c.address}),
        ),
        field(
            "consequences",
            "Likely consequences (Art. 33(3)(c))",
            json!(body.consequences),
        ),
        field(
            "measures",
            "Measures taken or proposed (Art. 33(3)(d))",
            json!(body.measures),
        ),
    ];
    if late {
        fields.push(field(
            "delay",
            "Reasons for the delay (Art. 33(1))",
            Value::Null,
        ));
    }
    Form {
        title: "Notification of a personal data breach",
        law: "GDPR Art. 33",
        addressee: "the lead supervisory authority",
        hours: Some(72),
        fields,
    }
}

/// The operator as GosSOPKA asks for it: with its state identifiers.
fn operator_ids(c: &crate::policy::model::Controller) -> Value {
    field(
        "operator",
        "Оператор (наименование, ИНН, ОГРН, адрес) / Operator",
        json!({"name": c.name, "inn": c.inn, "ogrn": c.ogrn, "address": c.address, "email": c.email}),
    )
}

/// 152-FZ Art. 19(12): a computer incident that led to the unlawful transfer of personal data,
/// to GosSOPKA through the NCCCI, 24 h from detection (FSB Order No. 77 of 13.02.2023).
fn gossopka_initial(x: &Ctx<'_>) -> Form {
    let (b, c, body) = (x.b, &x.policy.controller, &x.b.body);
    Form {
        title: "Информирование о компьютерном инциденте, повлекшем неправомерную передачу персональных данных / Computer incident notice",
        law: "152-ФЗ ст. 19 ч. 12; приказ ФСБ России от 13.02.2023 № 77",
        addressee: "НКЦКИ (ГосСОПКА)",
        hours: Some(24),
        fields: vec![
            operator_ids(c),
            field("detected_at", "Дата и время обнаружения компьютерного инцидента / Detected at", json!(x.zone.readable(b.detected_at))),
            field("incident", "Описание компьютерного инцидента / The incident", json!(body.description)),
            field("causes", "Предполагаемые причины (способ атаки) / Presumed causes", json!(body.causes)),
            field("data", "Категории и объём персональных данных / Data affected", json!({"categories": body.categories, "window": x.window, "estimate": x.estimate})),
            field("consequences", "Последствия / Consequences", json!(body.consequences)),
            field("measures", "Принятые меры / Measures taken", json!(body.measures)),
            field("contact", "Контактное лицо / Contact person", x.contact.clone()),
        ],
    }
}

fn gossopka_results(x: &Ctx<'_>) -> Form {
    let (b, c, body) = (x.b, &x.policy.controller, &x.b.body);
    let sent = body.sent.iter().find(|s| s.notice == "gossopka_24h");
    Form {
        title: "Результаты расследования компьютерного инцидента / Computer incident investigation results",
        law: "152-ФЗ ст. 19 ч. 12; приказ ФСБ России от 13.02.2023 № 77",
        addressee: "НКЦКИ (ГосСОПКА)",
        hours: Some(72),
        fields: vec![
            operator_ids(c),
            field("initial_notice", "Первичное информирование / Initial notice", json!({"breach": b.id, "sent_at": sent.map(|s| x.zone.readable(s.at)), "reference": sent.and_then(|s| s.reference.clone())})),
            field("investigation", "Результаты расследования / Results of the investigation", json!(body.investigation)),
            field("responsible_persons", "Лица, действия которых стали причиной / Persons whose actions caused it", json!(body.responsible_persons)),
            field("measures", "Меры по ликвидации последствий / Measures", json!(body.measures)),
            field("contact", "Контактное лицо / Contact person", x.contact.clone()),
        ],
    }
}

/// GDPR Art. 34(2): in clear and plain language, the nature of the breach and the items of
/// Art. 33(3)(b)–(d), with what the subject can do (recital 86).
fn gdpr_subjects(x: &Ctx<'_>) -> Form {
    let (c, body, policy) = (&x.policy.controller, &x.b.body, x.policy);
    let names: Vec<String> = body
        .categories
        .iter()
        .map(|id| {
            policy
                .categories
                .iter()
                .find(|k| &k.id == id)
                .map_or(id.clone(), |k| k.name.clone())
        })
        .collect();
    Form {
        title: "About a personal data breach that concerns you",
        law: "GDPR Art. 34",
        addressee: "each data subject affected (or a public communication, Art. 34(3)(c))",
        hours: None,
        fields: vec![
            field(
                "what_happened",
                "What happened",
                json!(format!(
                    "{} We found out on {}. It concerns: {}.",
                    body.description,
                    x.zone.readable(x.b.detected_at),
                    names.join(", ")
                )),
            ),
            field(
                "consequences",
                "What this may mean for you",
                json!(body.consequences),
            ),
            field(
                "measures",
                "What we have done and are doing about it",
                json!(body.measures),
            ),
            field("advice", "What you can do", json!(body.advice)),
            field(
                "contact",
                "Who to contact",
                json!({"name": c.dpo.name, "email": c.dpo.email, "controller": c.name}),
            ),
        ],
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "<span class=\"gap\">[заполнить / to be completed]</span>".into(),
        Value::Object(o) => {
            let mut s = String::from("<table>");
            for (k, x) in o {
                s.push_str(&format!("<tr><th>{}</th><td>{}</td></tr>", esc(k), cell(x)));
            }
            s.push_str("</table>");
            s
        }
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(", "),
        Value::String(s) => esc(s).replace('\n', "<br>"),
        other => esc(&other.to_string()),
    }
}

/// The draft as a page to read, print or paste from.
pub fn html(n: &Value) -> String {
    let title = n["title"].as_str().unwrap_or_default();
    let law = n["law"].as_str().unwrap_or_default();
    let lang = if law.starts_with("GDPR") { "en" } else { "ru" };
    let mut h = crate::html::start(lang, title);
    h.push_str(&format!(
        "<h1>{}</h1><p>{} · {}: {} · {}: {}</p><table>",
        esc(title),
        esc(law),
        "Кому / To",
        esc(n["addressee"].as_str().unwrap_or_default()),
        "Срок / Due",
        esc(n["due_local"].as_str().unwrap_or_default()),
    ));
    for f in n["fields"].as_array().into_iter().flatten() {
        h.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>",
            esc(f["label"].as_str().unwrap_or_default()),
            cell(&f["value"])
        ));
    }
    h.push_str("</table>");
    h.push_str(crate::html::END);
    h
}
