//! The 152-FZ view laid out as Roskomnadzor's notification form (Art. 22(3)) asks for it, in
//! Russian, field by field, so that each cell can be copied into the form: the operator, then one
//! block per purpose (its categories, subjects, basis, actions and methods, not merged), then the
//! items common to all purposes. Built from the same inputs and helpers as [`super::build`].

use serde_json::Value;

use super::{fz152_basis, Inputs, METHOD_RU};
use crate::html::esc;
use crate::policy::duration::IsoDuration;
use crate::policy::model::RetentionAnchor;
use crate::policy::Policy;

/// One field of the form: the block it belongs to, its label, the text to enter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormField {
    pub block: String,
    pub label: &'static str,
    pub value: String,
}

fn field(block: &str, label: &'static str, value: impl Into<String>) -> FormField {
    FormField {
        block: block.to_owned(),
        label,
        value: value.into(),
    }
}

/// `3 года`, `6 месяцев`, `30 дней`, joined.
pub fn duration_ru(d: &IsoDuration) -> String {
    let plural = |n: u32, one: &str, few: &str, many: &str| {
        let w = match (n % 10, n % 100) {
            (1, x) if x != 11 => one,
            (2..=4, x) if !(12..=14).contains(&x) => few,
            _ => many,
        };
        format!("{n} {w}")
    };
    let mut parts = Vec::new();
    if d.years > 0 {
        parts.push(plural(d.years, "год", "года", "лет"));
    }
    if d.months > 0 {
        parts.push(plural(d.months, "месяц", "месяца", "месяцев"));
    }
    if d.days > 0 {
        parts.push(plural(d.days, "день", "дня", "дней"));
    }
    if parts.is_empty() {
        parts.push(plural((d.seconds / 86_400) as u32, "день", "дня", "дней"));
    }
    parts.join(" ")
}

fn anchor_ru(a: RetentionAnchor) -> &'static str {
    match a {
        RetentionAnchor::Collected => "с момента сбора",
        RetentionAnchor::Consent => "с момента получения согласия",
        RetentionAnchor::LastActivity => "с момента последнего обращения субъекта",
        RetentionAnchor::PurposeEnd => "с момента достижения цели",
    }
}

fn names(p: &Policy, ids: &[String], groups: bool) -> String {
    ids.iter()
        .map(|id| {
            if groups {
                let g = p.subjects.iter().find(|s| &s.id == id);
                return g.map_or(id.clone(), |g| g.name.clone());
            }
            match p.categories.iter().find(|c| &c.id == id) {
                Some(c) if c.special => format!("{} (специальная категория)", c.name),
                Some(c) if c.biometric => format!("{} (биометрические)", c.name),
                Some(c) => c.name.clone(),
                None => id.clone(),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(String::new, str::to_owned)
}

/// Every field of the form, in its order.
pub fn fields(inp: &Inputs<'_>) -> Vec<FormField> {
    let p = inp.policy;
    let c = &p.controller;
    let op = "Сведения об операторе";
    let mut out = vec![
        field(op, "Полное наименование оператора", c.name.clone()),
        field(op, "ИНН", c.inn.clone().unwrap_or_default()),
        field(op, "ОГРН (ОГРНИП)", c.ogrn.clone().unwrap_or_default()),
        field(op, "Адрес местонахождения", c.address.clone()),
        field(op, "Адрес электронной почты", c.email.clone()),
        field(op, "Телефон", c.phone.clone().unwrap_or_default()),
    ];
    if let Some(n) = &c.rkn_registry_number {
        out.push(field(
            op,
            "Регистрационный номер в реестре операторов",
            n.clone(),
        ));
    }
    for (i, x) in p.purposes.iter().enumerate() {
        out.extend(purpose_fields(inp, i, x));
    }
    out.extend(common_fields(inp));
    out
}

fn purpose_fields(inp: &Inputs<'_>, i: usize, x: &crate::policy::Purpose) -> Vec<FormField> {
    let p = inp.policy;
    let block = format!("Цель обработки {}: {}", i + 1, x.def.description);
    let actions: Vec<&str> = x
        .def
        .actions
        .iter()
        .map(|a| super::action_ru(a))
        .filter(|a| !a.is_empty())
        .collect();
    let term = match (&x.retention, &x.def.retention) {
        (Some(d), Some(r)) => format!("{} {}", duration_ru(d), anchor_ru(r.from)),
        _ => String::new(),
    };
    vec![
        field(&block, "Цель обработки", x.def.description.clone()),
        field(
            &block,
            "Категории персональных данных",
            names(p, &x.def.categories, false),
        ),
        field(
            &block,
            "Категории субъектов",
            names(p, &x.def.subjects, true),
        ),
        field(
            &block,
            "Правовое основание обработки",
            fz152_basis(x.def.legal_basis),
        ),
        field(
            &block,
            "Перечень действий с персональными данными",
            actions.join("; "),
        ),
        field(&block, "Способы обработки", METHOD_RU),
        field(&block, "Срок обработки (хранения)", term),
    ]
}

fn common_fields(inp: &Inputs<'_>) -> Vec<FormField> {
    let p = inp.policy;
    let c = &p.controller;
    let mut gaps = Vec::new();
    let resp = super::responsible_person(p, &mut gaps);
    let started = super::start_date(inp, &mut gaps);
    let foreign = super::foreign_transfers(inp, &mut gaps);
    let b = "Общие сведения";
    let countries: Vec<String> = foreign.iter().map(|t| text(&t["country"])).collect();
    let db = c.location();
    let crypto = "pdgate: AES-256-GCM (RustCrypto aes-gcm), HMAC-SHA-256, HKDF-SHA-256; TLS 1.2/1.3 (rustls, aws-lc-rs); Ed25519. Средства не сертифицированы ФСБ России";
    vec![
        field(b, "Меры, предусмотренные ст. 18.1 и 19 Федерального закона", MEASURES_RU),
        field(b, "Средства обеспечения безопасности (в том числе криптографические)", crypto),
        field(b, "ФИО лица, ответственного за организацию обработки", text(&resp["name"])),
        field(b, "Телефон ответственного", text(&resp["phone"])),
        field(b, "Почтовый адрес ответственного", text(&resp["address"])),
        field(b, "Адрес электронной почты ответственного", text(&resp["email"])),
        field(b, "Дата начала обработки", text(&started["date"])),
        field(b, "Срок или условие прекращения обработки", "истечение сроков хранения по каждой цели; отзыв согласия или требование субъекта при отсутствии иных оснований; ликвидация оператора"),
        field(b, "Осуществление трансграничной передачи", match countries.is_empty() {
            true => "не осуществляется".to_owned(),
            false => format!("осуществляется: {}", countries.join(", ")),
        }),
        field(b, "Страна места нахождения базы данных", db.map_or(String::new(), |l| country_ru(&l.country))),
        field(b, "Город", db.map_or(String::new(), |l| l.city.clone())),
        field(b, "Адрес центра обработки данных", db.map_or(String::new(), |l| l.address.clone())),
        field(b, "Наименование организации, предоставляющей хостинг", db.and_then(|l| l.hosting.clone()).unwrap_or_default()),
        field(b, "Уровень защищенности персональных данных (ПП РФ № 1119)", c.protection_level.map_or(String::new(), |l| format!("УЗ-{l}"))),
    ]
}

fn country_ru(code: &str) -> String {
    match code {
        "RU" => "Российская Федерация".to_owned(),
        other => other.to_owned(),
    }
}

/// What pdgate itself does of Art. 18.1 and 19, as it does it (the operator adds its own).
const MEASURES_RU: &str = "псевдонимизация персональных данных до передачи в информационные системы оператора; шифрование при хранении (AES-256-GCM, отдельный ключ на каждого субъекта); шифрование при передаче (TLS); разграничение доступа по ролям и целям; регистрация и учёт всех действий в журнале с контролем целостности; автоматическое уничтожение по истечении сроков хранения с составлением актов";

/// The form as an HTML page: one table per block, label and value side by side.
pub fn html(fields: &[FormField], operator: &str) -> String {
    let mut out = format!(
        "<!doctype html>\n<html lang=\"ru\"><head><meta charset=\"utf-8\"><title>Уведомление об обработке персональных данных — {}</title></head><body>\n<h1>Уведомление об обработке персональных данных (ст. 22 Федерального закона № 152-ФЗ)</h1>\n<p>Поля в порядке формы Роскомнадзора; значения сформированы из политик pdgate и его настроек. Пустое поле заполняет оператор.</p>\n",
        esc(operator)
    );
    let mut block = "";
    for f in fields {
        if f.block != block {
            if !block.is_empty() {
                out.push_str("</table>\n");
            }
            block = &f.block;
            out.push_str(&format!("<h2>{}</h2>\n<table>\n", esc(block)));
        }
        out.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>\n",
            esc(f.label),
            esc(&f.value)
        ));
    }
    if !block.is_empty() {
        out.push_str("</table>\n");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_russian() {
        let d = |s: &str| duration_ru(&IsoDuration::parse(s).unwrap());
        assert_eq!(d("P3Y"), "3 года");
        assert_eq!(d("P1Y"), "1 год");
        assert_eq!(d("P5Y"), "5 лет");
        assert_eq!(d("P11Y"), "11 лет");
        assert_eq!(d("P2Y6M"), "2 года 6 месяцев");
        assert_eq!(d("P21D"), "21 день");
    }
}
