//! The notice that tells a subject their request will take longer, and why (GDPR Art. 12(3):
//! within one month of receipt, with the reasons; 152-FZ Art. 20(1), 21(5.1): a reasoned notice
//! before the original period ends). pdgate drafts it from the request; the DPO sends it by the
//! channel the request came through and records it as sent.

use crate::html::esc;
use crate::legal_day::LegalZone;
use crate::policy::Policy;
use crate::records::rights::{Regimes, RequestRow, RequestType};

/// The 152-FZ provision that allows the extension, for the request's type (Russian, as cited to
/// the subject).
fn fz152_ground(kind: RequestType) -> &'static str {
    match kind {
        RequestType::Restriction | RequestType::Objection => {
            "ч. 5.1 ст. 21 Федерального закона от 27.07.2006 № 152-ФЗ «О персональных данных»"
        }
        _ => "ч. 3 ст. 14, ч. 1 ст. 20 Федерального закона от 27.07.2006 № 152-ФЗ «О персональных данных»",
    }
}

fn kind_ru(kind: RequestType) -> &'static str {
    match kind {
        RequestType::Access => "о предоставлении сведений об обработке ваших персональных данных",
        RequestType::Portability => "о предоставлении ваших персональных данных",
        RequestType::Rectification => "об уточнении ваших персональных данных",
        RequestType::Erasure => "об уничтожении ваших персональных данных",
        RequestType::Restriction => "о блокировании ваших персональных данных",
        RequestType::Objection => "о прекращении обработки ваших персональных данных",
        RequestType::WithdrawConsent => "об отзыве согласия на обработку персональных данных",
    }
}

/// The draft notice of an extended request as a printable page: in Russian under 152-FZ, in
/// English under the GDPR, both (Russian first) when both apply. `None` when not extended.
pub fn extension_notice(policy: &Policy, row: &RequestRow, zone: &LegalZone) -> Option<String> {
    let reason = row.extension_reason.as_deref()?;
    row.extended_at?;
    let c = &policy.controller;
    let (russian, english) = match row.regime {
        Regimes::Fz152 => (true, false),
        Regimes::Gdpr => (false, true),
        Regimes::Both => (true, true),
    };
    let mut h = crate::html::start(
        if russian { "ru" } else { "en" },
        "Notice of extension / Уведомление о продлении срока",
    );
    let (received, due, send_by) = (
        zone.readable(row.received_at),
        zone.readable(row.due_at),
        zone.readable(row.original_due_at),
    );
    h.push_str(&format!(
        "<p class=\"ref\">{} · {}</p>",
        esc(&row.id),
        esc(&format!("send by / направить до {send_by}"))
    ));
    if russian {
        h.push_str(&format!(
            "<h1>Мотивированное уведомление о продлении срока</h1>\
             <p>{name} ({address}) получил ваш запрос {kind} {received}. Срок его рассмотрения \
             продлён до {due} в соответствии с {ground}.</p><p><b>Причины продления:</b> {reason}</p>\
             <p>Вопросы можно направить по адресу {email}. Вы вправе обжаловать действия оператора \
             в Роскомнадзор (rkn.gov.ru) или в суд (ст. 17 152-ФЗ).</p>",
            name = esc(&c.name),
            address = esc(&c.address),
            kind = kind_ru(row.kind),
            received = esc(&received),
            due = esc(&due),
            ground = fz152_ground(row.kind),
            reason = esc(reason),
            email = esc(&c.email),
        ));
    }
    if english {
        h.push_str(&format!(
            "<h1>Your request will take longer</h1>\
             <p>{name} ({address}) received your {kind} request on {received}. Under Article 12(3) \
             of the GDPR we are extending the time to answer it to {due}.</p>\
             <p><b>Why:</b> {reason}</p><p>You can write to us at {email}. You also have the right \
             to lodge a complaint with a supervisory authority (Article 77 GDPR) and to seek a \
             judicial remedy (Article 79 GDPR).</p>",
            name = esc(&c.name),
            address = esc(&c.address),
            kind = row.kind.as_str().replace('_', " "),
            received = esc(&received),
            due = esc(&due),
            reason = esc(reason),
            email = esc(&c.email),
        ));
    }
    h.push_str(crate::html::END);
    Some(h)
}
