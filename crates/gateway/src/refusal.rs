//! A refused classic form post from a browser gets a page, not JSON: the visitor of the site would
//! otherwise see raw English JSON. A browser's form post is a urlencoded or multipart body sent
//! with `Accept: text/html`; everything else (fetch, API clients, JSON bodies) keeps the JSON
//! error. The route's `on_refusal` chooses a 303 redirect to a page of the site
//! (`error=<code>&field=<declared field>` appended) or an HTML template of the policies; without
//! one the built-in page (the shipped `policies/pages/refusal.*.html`) answers. Nothing the visitor
//! typed is echoed: only the stable code and the name of a field the policy declares.

use http::{header, HeaderMap, HeaderValue, Response, StatusCode};

use pdgate_core::policy::{OnRefusal, RefusalPages};
use pdgate_http::ApiError;
use pdgate_http::Body;

const BUILT_IN_RU: &str = include_str!("../../../policies/pages/refusal.ru.html");
const BUILT_IN_EN: &str = include_str!("../../../policies/pages/refusal.en.html");

/// The languages refusal pages come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lang {
    Ru,
    En,
}

/// Whether the request is a browser's classic form post, and then the visitor's languages in
/// order of preference (`Accept-Language`, q-values honoured).
pub(super) fn browser_form(headers: &HeaderMap) -> Option<Vec<Lang>> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let ct = text(header::CONTENT_TYPE).to_ascii_lowercase();
    let form = ct.starts_with("application/x-www-form-urlencoded")
        || ct.starts_with("multipart/form-data");
    let html = text(header::ACCEPT)
        .split(',')
        .any(|m| m.trim().to_ascii_lowercase().starts_with("text/html"));
    (form && html).then(|| languages(text(header::ACCEPT_LANGUAGE)))
}

fn languages(accept_language: &str) -> Vec<Lang> {
    let mut ranked: Vec<(f32, usize, Lang)> = Vec::new();
    for (i, item) in accept_language.split(',').enumerate() {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let lang = match tag.split('-').next() {
            Some("ru") => Lang::Ru,
            Some("en") => Lang::En,
            _ => continue,
        };
        if q > 0.0 {
            ranked.push((q, i, lang));
        }
    }
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.into_iter().map(|(_, _, l)| l).collect()
}

/// The answer to a browser whose form post `e` refused, by the route's `on_refusal`.
pub(super) fn respond(
    on_refusal: Option<&OnRefusal>,
    e: &ApiError,
    langs: &[Lang],
) -> Response<Body> {
    match on_refusal {
        Some(OnRefusal::Redirect(url)) => redirect(url, e),
        Some(OnRefusal::Page(pages)) => page(pages, e, langs),
        None => page(
            &RefusalPages {
                ru: Some(BUILT_IN_RU.to_owned()),
                en: Some(BUILT_IN_EN.to_owned()),
            },
            e,
            langs,
        ),
    }
}

fn redirect(url: &str, e: &ApiError) -> Response<Body> {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("error", e.code);
    if let Some(f) = &e.field {
        query.append_pair("field", f);
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    let location = format!("{url}{sep}{}", query.finish());
    let mut resp = Response::new(Body::Empty);
    *resp.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn page(pages: &RefusalPages, e: &ApiError, langs: &[Lang]) -> Response<Body> {
    let pick = |l: Lang| match l {
        Lang::Ru => pages.ru.as_deref().map(|t| (l, t)),
        Lang::En => pages.en.as_deref().map(|t| (l, t)),
    };
    let (lang, template) = langs
        .iter()
        .chain(&[Lang::Ru, Lang::En])
        .find_map(|l| pick(*l))
        .unwrap_or((Lang::En, BUILT_IN_EN));
    let (title, message) = wording(e.code, e.field.as_deref(), lang);
    let html = template
        .replace("{{title}}", &pdgate_core::html::esc(&title))
        .replace("{{message}}", &pdgate_core::html::esc(&message))
        .replace("{{code}}", &pdgate_core::html::esc(e.code));
    let mut resp = pdgate_http::respond::document("text/html; charset=utf-8", html, None);
    *resp.status_mut() = e.status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    h.insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(match lang {
            Lang::Ru => "ru",
            Lang::En => "en",
        }),
    );
    resp
}

/// Title and message for a refusal, in the visitor's language. Whether the data was kept is said
/// only where it is known: every code but `upstream_unavailable` refuses before anything is stored.
fn wording(code: &str, field: Option<&str>, lang: Lang) -> (String, String) {
    let f = field.unwrap_or("");
    let (ru, en): ((&str, String), (&str, String)) = match code {
        "consent_required" => (
            ("Нужно ваше согласие", format!("Чтобы отправить форму, отметьте согласие (поле «{f}»). Без него мы не обрабатываем ваши данные: ничего не сохранено и не передано.")),
            ("Your consent is needed", format!("To send the form, tick the consent box (field «{f}»). Without it your data is not processed: nothing was stored or passed on.")),
        ),
        "guardian_consent_required" => (
            ("Нужно согласие родителя", format!("До достижения возраста согласия форму отправляют вместе с согласием родителя или законного представителя и его данными (поле «{f}»). Ничего не сохранено и не передано.")),
            ("A parent's consent is needed", format!("Below the age of consent the form is sent with a parent's or guardian's consent and their details (field «{f}»). Nothing was stored or passed on.")),
        ),
        "invalid_field" | "subject_required" | "invalid_birth_date" => (
            ("Проверьте форму", format!("Поле «{f}» не заполнено или заполнено неверно. Ничего не сохранено и не передано.")),
            ("Please check the form", format!("The field «{f}» is empty or not valid. Nothing was stored or passed on.")),
        ),
        "body_too_large" | "too_many_fields" | "too_many_parts" => (
            ("Слишком много данных", "Форма или приложенные файлы больше допустимого размера. Уменьшите их и отправьте ещё раз; ничего не сохранено и не передано.".to_owned()),
            ("Too much data", "The form or its attachments exceed the size allowed. Make them smaller and send again; nothing was stored or passed on.".to_owned()),
        ),
        "store_unavailable" | "key_unavailable" | "store_conflict" => (
            ("Сервис временно недоступен", "Форма не принята: ничего не сохранено и не передано. Попробуйте отправить её через несколько минут.".to_owned()),
            ("Temporarily unavailable", "The form was not accepted: nothing was stored or passed on. Please try again in a few minutes.".to_owned()),
        ),
        "upstream_unavailable" => (
            ("Сайт не ответил", "Форма дошла до нас, но сайт сейчас не ответил. Попробуйте ещё раз через несколько минут.".to_owned()),
            ("The site did not answer", "The form reached us, but the site did not answer. Please try again in a few minutes.".to_owned()),
        ),
        _ => (
            ("Форма не принята", "Форму не удалось принять: ничего не сохранено и не передано. Если ошибка повторяется, сообщите владельцу сайта её код.".to_owned()),
            ("The form was not accepted", "The form could not be accepted: nothing was stored or passed on. If this happens again, tell the site's owner the error code.".to_owned()),
        ),
    };
    let (title, message) = match lang {
        Lang::Ru => ru,
        Lang::En => en,
    };
    (title.to_owned(), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    header::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn a_minor_sent_without_a_parent_is_told_what_is_missing() {
        let (title, message) = wording("guardian_consent_required", Some("parent_name"), Lang::Ru);
        assert_eq!(title, "Нужно согласие родителя");
        assert!(message.contains("«parent_name»") && message.contains("Ничего не сохранено"));
        let (title, _) = wording("invalid_birth_date", Some("birth_date"), Lang::En);
        assert_eq!(title, "Please check the form");
    }

    #[test]
    fn only_a_browser_form_post_gets_a_page() {
        let browser = headers(&[
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
            ("accept-language", "en-GB;q=0.5, ru-RU, de"),
        ]);
        assert_eq!(browser_form(&browser), Some(vec![Lang::Ru, Lang::En]));
        let fetch = headers(&[
            ("content-type", "multipart/form-data; boundary=x"),
            ("accept", "*/*"),
        ]);
        assert_eq!(browser_form(&fetch), None);
        let api = headers(&[
            ("content-type", "application/json"),
            ("accept", "text/html"),
        ]);
        assert_eq!(browser_form(&api), None);
        assert_eq!(languages("ru;q=0, en"), vec![Lang::En]);
    }

    #[test]
    fn a_redirect_carries_the_code_and_the_declared_field_only() {
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "field `email` is not a valid email",
        );
        e.field = Some("email".into());
        let r = redirect("https://shop.example/subscribe?step=2", &e);
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers()[header::LOCATION],
            "https://shop.example/subscribe?step=2&error=invalid_field&field=email"
        );
    }

    #[test]
    fn a_page_is_localised_and_escapes_what_it_shows() {
        let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "consent_required", "…");
        e.field = Some("<agree>".into());
        let r = respond(None, &e, &[Lang::En]);
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.headers()[header::CONTENT_LANGUAGE], "en");
        let Body::Full(Some(b)) = r.into_body() else {
            panic!("a full body")
        };
        let html = String::from_utf8(b.to_vec()).unwrap();
        assert!(
            html.contains("Your consent is needed") && html.contains("&lt;agree&gt;"),
            "{html}"
        );
        let ru = respond(None, &e, &[]);
        assert_eq!(
            ru.headers()[header::CONTENT_LANGUAGE],
            "ru",
            "Russian when nothing is asked"
        );
    }
}
