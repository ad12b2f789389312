use std::path::PathBuf;

use serde_json::json;

use super::render::{render, Format};
use super::*;
use crate::records::oversight::{Count, RequestCounts};
use crate::requests::calendar::Calendar;

const NOW: Millis = 1_780_000_000_000; // 2026-05-28

fn shop() -> Policy {
    Policy::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies"))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn facts(tls: bool) -> SecurityFacts {
    SecurityFacts {
        backend: "PostgreSQL",
        database: database_place(
            "postgres://pdgate:s3cret@db.internal:5432/pdgate?sslmode=require",
        ),
        tls,
        admin_auth: "JWT HS256 (shared secret)",
        retention_interval_s: 300,
        checkpoint_entries: 1000,
        checkpoint_interval_s: 60,
        webhooks_signed: false,
    }
}

fn live() -> Live {
    Live {
        figures: Figures {
            subjects: 42,
            values_by_category: vec![Count {
                key: "contact".into(),
                n: 80,
            }],
            subjects_by_purpose: vec![Count {
                key: "marketing".into(),
                n: 30,
            }],
            consents: vec![
                Count {
                    key: "marketing/granted".into(),
                    n: 31,
                },
                Count {
                    key: "marketing/withdrawn".into(),
                    n: 1,
                },
            ],
            requests: vec![RequestCounts {
                kind: "access".into(),
                received: 5,
                fulfilled: 4,
                on_time: 3,
                open: 1,
                overdue: 0,
            }],
            first_entry_at: Some(1_767_225_600_000), // 2026-01-01
            kek_version: 2,
            keyring_at: Some(1_767_225_600_000),
        },
        last_sweep: Some(SweepRow {
            id: "s1".into(),
            started_at: NOW - 1000,
            finished_at: NOW - 500,
            subjects_erased: 3,
            values_erased: 9,
            subjects_restricted: 0,
            acts_expired: 0,
            status: crate::records::rights::SweepStatus::Finished,
        }),
        flows: vec![FlowRow {
            method: "POST".into(),
            path: "/feedback".into(),
            kinds: vec!["email".into(), "phone".into()],
            count: 7,
            first_seen: NOW - 10_000,
            last_seen: NOW - 100,
        }],
        notifications: vec![],
    }
}

fn doc(view: View, policy: &Policy, facts: &SecurityFacts, live: &Live) -> Register {
    build(
        view,
        &Inputs {
            policy,
            facts,
            live,
            adequacy: &Adequacy::shipped(),
            calendar: &Calendar::russia(),
            now: NOW,
        },
    )
}

fn value<'a>(r: &'a Register, key: &str) -> &'a Value {
    &r.sections
        .iter()
        .flat_map(|s| &s.items)
        .find(|i| i.key == key)
        .unwrap_or_else(|| panic!("no item {key}"))
        .value
}

fn refs(r: &Register) -> Vec<&str> {
    r.sections[0].items.iter().map(|i| i.reference).collect()
}

#[test]
fn gdpr_view_has_every_item_of_art_30_1() {
    let (p, f, l) = (shop(), facts(true), live());
    let r = doc(View::Gdpr, &p, &f, &l);
    assert_eq!(
        refs(&r),
        ["30(1)(a)", "30(1)(b)", "30(1)(c)", "30(1)(d)", "30(1)(e)", "30(1)(f)", "30(1)(g)"]
    );
    // (a) controller and DPO
    let c = value(&r, "controller");
    assert_eq!(c["name"], "ООО «Ромашка»");
    assert_eq!(c["dpo"]["email"], "dpo@romashka.example");
    // (b) purposes, with live figures beside each
    let purposes = value(&r, "purposes").as_array().unwrap();
    assert_eq!(purposes.len(), 3);
    let m = purposes.iter().find(|x| x["id"] == "marketing").unwrap();
    assert_eq!(m["legal_basis"], "consent");
    assert_eq!(
        m["figures"],
        json!({"subjects": 30, "consents_granted": 31, "consents_withdrawn": 1, "objections": 0})
    );
    // (c) categories of subjects and of data
    let cats = value(&r, "categories");
    assert_eq!(cats["data_subjects"].as_array().unwrap().len(), 2);
    let payment = cats["personal_data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "payment")
        .unwrap();
    assert_eq!(payment["purposes"], json!(["order_fulfilment"]));
    // (d) recipients: the declared courier, the CRM behind the gateway, detokenizing services
    let rec = value(&r, "recipients").as_array().unwrap();
    let names: Vec<&str> = rec.iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"Courier LLC") && names.contains(&"crm"),
        "{names:?}"
    );
    // (e) Russia has no EU adequacy decision: the courier and the CRM are third-country
    // transfers, each under the standard contractual clauses the example names.
    let t = value(&r, "transfers").as_array().unwrap();
    assert!(
        t.iter().all(|x| x["gdpr_third_country"] == true
            && x["gdpr_status"] == "third_country"
            && x["safeguards"] == "scc"
            && x["safeguards_article"] == "GDPR Art. 46(2)(c)"),
        "{t:?}"
    );
    // (a) a controller whose database is outside the EEA names its EU representative (Art. 27)
    assert!(r
        .gaps
        .iter()
        .any(|g| g.reference == "30(1)(a)" && g.message.contains("Art. 27")));
    // (f) erasure time limits per purpose and the legal hold
    let limits = value(&r, "erasure_time_limits");
    assert!(limits["purposes"]
        .as_array()
        .unwrap()
        .contains(&json!({"purpose": "order_fulfilment", "keep": "P3Y", "from": "collected", "categories": ["identity", "contact", "address", "payment"]})));
    assert_eq!(limits["legal_holds"][0]["basis"], "402-FZ art. 29");
    // (g) security measures from the running configuration
    let g = value(&r, "security_measures").to_string();
    for needle in [
        "AES-256-GCM",
        "version 2",
        "2026-01-01T00:00:00Z",
        "TLS 1.2 and TLS 1.3 (rustls) on the proxy listener",
        "JWT HS256",
        "HMAC-SHA-256",
        "Ed25519",
        "PostgreSQL",
    ] {
        assert!(g.contains(needle), "{needle} in {g}");
    }
    assert!(!g.contains("s3cret"), "no credentials");
}

#[test]
#[allow(clippy::too_many_lines)] // one item per line of the law, in its order
fn fz152_view_has_every_item_of_art_22_3() {
    let (mut p, f, l) = (shop(), facts(false), live());
    // Without these the law's items 7.1 and 11 are gaps, listed as such.
    p.controller.phone = None;
    p.controller.protection_level = None;
    let r = doc(View::Fz152, &p, &f, &l);
    assert_eq!(
        refs(&r),
        [
            "22(3)(1)",
            "22(3)(2)",
            "22(3)(3)",
            "22(3)(4)",
            "22(3)(5)",
            "22(3)(6)",
            "22(3)(7)",
            "22(3)(7.1)",
            "22(3)(8)",
            "22(3)(9)",
            "22(3)(10)",
            "22(3)(10.1)",
            "22(3)(11)"
        ]
    );
    let op = value(&r, "operator");
    assert_eq!(op["address"], "Москва, ул. Примерная, 1");
    assert_eq!(
        (op["inn"].as_str(), op["ogrn"].as_str()),
        (Some("7707083893"), Some("1027700132195"))
    );
    assert_eq!(value(&r, "purposes").as_array().unwrap().len(), 3);
    assert_eq!(value(&r, "data_categories").as_array().unwrap().len(), 5);
    assert_eq!(value(&r, "subject_categories").as_array().unwrap().len(), 2);
    let bases = value(&r, "legal_bases").as_array().unwrap();
    let of = |id: &str| bases.iter().find(|b| b["purpose"] == id).unwrap()["law"].clone();
    assert_eq!(
        of("order_fulfilment"),
        "152-ФЗ ст. 6 ч. 1 п. 5 (договор с субъектом)"
    );
    assert_eq!(
        of("marketing"),
        "152-ФЗ ст. 6 ч. 1 п. 1 (согласие субъекта)"
    );
    // 6: actions and methods per purpose, as the form asks, not merged
    let am = value(&r, "actions_and_methods").as_array().unwrap();
    assert_eq!(am.len(), 3);
    let of = |id: &str| am.iter().find(|x| x["purpose"] == id).unwrap();
    assert!(of("order_fulfilment")["actions"]
        .as_array()
        .unwrap()
        .contains(&json!({"action": "transfer", "ru": "передача (предоставление, доступ)"})));
    assert!(
        !of("marketing")["actions"].to_string().contains("transfer"),
        "marketing transfers nothing"
    );
    assert_eq!(
        of("enquiries")["field_treatments"],
        json!(["drop", "encrypt", "hash", "mask", "pass", "redact", "tokenize"])
    );
    assert_eq!(
        of("marketing")["field_treatments"],
        json!(["encrypt", "mask", "pass", "redact", "tokenize"])
    );
    // 7: the cryptographic means actually in use, named, and honestly not FSB-certified
    let means = &value(&r, "measures")["cryptographic_means"];
    assert!(means[0]["name"].as_str().unwrap().contains("AES-256-GCM"));
    assert!(means
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["fsb_certified"] == false));
    assert!(
        means[1]["use"].as_str().unwrap().contains("plain HTTP"),
        "TLS off in this config"
    );
    // 7.1: no responsible person declared: the DPO, and the phone the law asks for is a gap
    assert_eq!(value(&r, "responsible_person")["name"], "И. Иванов");
    assert!(r.gaps.iter().any(|g| g.reference == "22(3)(7.1)"));
    // 8: no date in the policy: the first audit entry
    assert_eq!(
        value(&r, "start_date"),
        &json!({"date": "2026-01-01", "source": "first audit entry"})
    );
    assert!(
        value(&r, "end_condition")["conditions"]
            .as_array()
            .unwrap()
            .len()
            >= 3
    );
    assert_eq!(
        value(&r, "cross_border"),
        &json!({"present": false, "transfers": []})
    );
    assert_eq!(
        value(&r, "database_location"),
        &json!({"location": {"country": "RU", "city": "Moscow", "address": "ул. Примерная, 1, стр. 2 (ЦОД)", "hosting": "ООО «Хостинг»"}, "database": "PostgreSQL (db.internal:5432/pdgate)"})
    );
    assert_eq!(value(&r, "security")["protection_level"], Value::Null);
    assert!(r.gaps.iter().any(|g| g.reference == "22(3)(11)"));
    // figures and discovery beside the notification
    assert_eq!(value(&r, "subjects"), &json!(42));
    assert_eq!(value(&r, "requests")[0]["on_time_rate"], json!(0.75));
    assert_eq!(value(&r, "last_sweep")["values_erased"], json!(9));
    assert_eq!(value(&r, "flows")[0]["kinds"], json!(["email", "phone"]));
}

#[test]
fn declared_fields_fill_the_gaps() {
    let mut p = shop();
    p.controller.phone = None;
    p.controller.processing_started = Some("2025-03-01".into());
    p.controller.protection_level = Some(3);
    p.controller.responsible = Some(crate::policy::model::Responsible {
        name: "П. Петров".into(),
        phone: Some("+7 495 000-00-00".into()),
        email: None,
        address: None,
    });
    let r = doc(View::Fz152, &p, &facts(false), &live());
    assert!(r.gaps.is_empty(), "{:?}", r.gaps);
    p.controller.inn = None;
    let r = doc(View::Fz152, &p, &facts(false), &live());
    assert!(r
        .gaps
        .iter()
        .any(|g| g.reference == "22(3)(1)" && g.message.contains("INN")));
    assert_eq!(value(&r, "start_date")["date"], "2025-03-01");
    assert_eq!(value(&r, "security")["protection_level"], 3);
}

#[test]
fn a_foreign_upstream_is_a_cross_border_transfer_until_notified() {
    let mut p = shop();
    p.upstreams[0].country = "US".into();
    let mut l = live();
    let r = doc(View::Fz152, &p, &facts(false), &l);
    let cb = value(&r, "cross_border");
    assert_eq!(cb["present"], true);
    let t = &cb["transfers"][0];
    assert_eq!(
        (t["recipient"].as_str(), t["country"].as_str()),
        (Some("crm"), Some("US"))
    );
    assert_eq!(t["adequate_152fz"], false);
    assert!(t["notification"].is_null());
    assert!(r.gaps.iter().any(|g| g.reference == "22(3)(10)"));
    p.upstreams[0].safeguards = None;
    let g = doc(View::Gdpr, &p, &facts(false), &l);
    assert!(
        g.gaps.iter().any(|x| x.reference == "30(1)(e)"
            && x.message
                .contains("US's adequacy decision covers only some")),
        "no safeguards named: {:?}",
        g.gaps
    );

    // Notified for every purpose of the CRM's routes, filed long enough ago.
    for purpose in ["enquiries", "marketing", "order_fulfilment"] {
        l.notifications.push(NotificationRow {
            id: format!("n-{purpose}"),
            country: "US".into(),
            purpose: purpose.into(),
            filed_at: NOW - 30 * 86_400_000,
            received_at: None,
            reference: Some("RKN-1".into()),
            recorded_by: "dpo".into(),
            recorded_at: NOW,
            withdrawn_at: None,
        });
    }
    let r = doc(View::Fz152, &p, &facts(false), &l);
    let t = &value(&r, "cross_border")["transfers"][0];
    assert_eq!(t["notification"], "recorded");
    assert!(t["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["allowed"] == true));
    assert!(!r.gaps.iter().any(|g| g.reference == "22(3)(10)"));
}

#[test]
fn every_format_carries_every_item() {
    let mut p = shop();
    p.controller.name = "<script>alert(1)</script>, \"Ромашка\"".into();
    p.controller.protection_level = None; // one gap, to see it rendered
    let r = doc(View::Fz152, &p, &facts(true), &live());
    let n_items: usize = r.sections.iter().map(|s| s.items.len()).sum();

    let json: Value = serde_json::from_str(&render(&r, Format::Json)).unwrap();
    assert_eq!(json["view"], "fz152");
    assert_eq!(json["sections"][0]["items"][8]["ref"], "22(3)(8)");

    let csv = render(&r, Format::Csv);
    let mut reader = csv.lines();
    assert_eq!(reader.next(), Some("section,ref,item,label,value"));
    assert_eq!(csv.matches("\r\n").count(), 1 + n_items + r.gaps.len());
    assert!(
        csv.contains(",\"name: <script>alert(1)</script>, \"\"Ромашка\"\", address:"),
        "RFC 4180 quoting: {csv}"
    );
    assert!(csv.contains("art22,22(3)(10.1),database_location,"));

    let md = render(&r, Format::Markdown);
    for i in &r.sections[0].items {
        assert!(
            md.contains(&format!("### {} — ", i.reference)),
            "{}",
            i.reference
        );
    }
    assert!(md.contains("## Пробелы / Gaps"));

    let html = render(&r, Format::Html);
    assert!(!html.contains("<script>alert"), "escaped");
    assert!(html.contains("&lt;script&gt;"));
    assert_eq!(html.matches("<td class=\"ref\">").count(), n_items);
    assert!(html.starts_with("<!doctype html><html lang=\"ru\">"));
}

#[test]
fn csv_cells_cannot_become_formulas() {
    let mut r = doc(View::Gdpr, &shop(), &facts(false), &live());
    r.gaps.push(Gap {
        reference: "x",
        message: "=HYPERLINK(\"http://evil\")".into(),
    });
    let csv = render(&r, Format::Csv);
    assert!(
        csv.contains(",\"'=HYPERLINK(\"\"http://evil\"\")\"\r\n"),
        "{csv}"
    );
}

#[test]
fn the_notification_form_lays_out_each_purpose_in_russian_field_by_field() {
    let p = shop();
    let (f, l) = (facts(false), live());
    let cal = Calendar::russia();
    let adequacy = Adequacy::shipped();
    let inp = Inputs {
        policy: &p,
        facts: &f,
        live: &l,
        adequacy: &adequacy,
        calendar: &cal,
        now: NOW,
    };
    let fields = form_ru::fields(&inp);
    let get = |block: &str, label: &str| {
        fields
            .iter()
            .find(|x| x.block.starts_with(block) && x.label == label)
            .map(|x| x.value.as_str())
            .unwrap_or_else(|| panic!("{block} / {label}"))
    };
    assert_eq!(get("Сведения об операторе", "ИНН"), "7707083893");
    assert_eq!(
        get("Сведения об операторе", "ОГРН (ОГРНИП)"),
        "1027700132195"
    );
    // One block per purpose, each with its own categories, basis, actions and term.
    let first = "Цель обработки 1: Deliver orders";
    assert_eq!(
        get(first, "Категории персональных данных"),
        "Name; Contact details; Postal address; Payment details"
    );
    assert_eq!(
        get(first, "Правовое основание обработки"),
        "152-ФЗ ст. 6 ч. 1 п. 5 (договор с субъектом)"
    );
    assert_eq!(
        get(first, "Перечень действий с персональными данными"),
        "сбор; запись; хранение; использование; передача (предоставление, доступ); уничтожение"
    );
    assert_eq!(
        get(first, "Срок обработки (хранения)"),
        "3 года с момента сбора"
    );
    assert_eq!(
        get("Цель обработки 2", "Срок обработки (хранения)"),
        "2 года с момента получения согласия"
    );
    assert_eq!(
        get("Общие сведения", "Страна места нахождения базы данных"),
        "Российская Федерация"
    );
    assert_eq!(
        get(
            "Общие сведения",
            "Наименование организации, предоставляющей хостинг"
        ),
        "ООО «Хостинг»"
    );
    assert_eq!(
        get("Общие сведения", "Осуществление трансграничной передачи"),
        "не осуществляется"
    );
    assert_eq!(
        get(
            "Общие сведения",
            "Уровень защищенности персональных данных (ПП РФ № 1119)"
        ),
        "УЗ-4"
    );
    let page = document(View::Fz152, render::Format::Form, &inp).unwrap();
    assert!(
        page.contains("<th>ИНН</th><td>7707083893</td>") && page.contains("<html lang=\"ru\">")
    );
    assert!(
        document(View::Gdpr, render::Format::Form, &inp).is_none(),
        "the form is Roskomnadzor's"
    );
}
