use super::*;

fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

fn check(files: &[(&str, &str)]) -> Result<Policy, PolicyErrors> {
    let sources: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(n, t)| (PathBuf::from(n), (*t).to_owned()))
        .collect();
    Policy::from_sources(&example_dir(), &sources)
}

const BASE: &str = r#"controller:
  name: "ACME"
  address: "Moscow"
  email: privacy@acme.example
  dpo: {name: "D", email: dpo@acme.example}
  regimes: [fz152]
  database_location: "RU"
  token_domain: relay.acme.example
categories:
  - {id: contact, name: "Contact"}
  - {id: identity, name: "Name"}
purposes:
  - id: sales
    description: "Sell"
    legal_basis: contract
    categories: [contact]
    retention: {keep: P1Y, from: collected}
upstreams:
  - {id: crm, url: "http://127.0.0.1:9000"}
"#;

#[test]
fn example_policies_are_valid() {
    let p = Policy::load(&example_dir()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.routes.len(), 4);
    let staff = p
        .match_route(&http::Method::GET, "/staff/orders/1")
        .unwrap();
    assert!(matches!(staff.kind, RouteKind::Reveal { .. }) && staff.fields.is_empty());
    let r = p.match_route(&http::Method::POST, "/api/checkout").unwrap();
    assert_eq!(r.id, "checkout");
    assert!(p.match_route(&http::Method::GET, "/api/checkout").is_none());
    assert!(p.match_route(&http::Method::POST, "/elsewhere").is_none());
    let marketing = p.purposes.iter().find(|x| x.def.id == "marketing").unwrap();
    let text = &p.consent_texts[marketing.consent_text.unwrap()];
    assert_eq!(
        (text.id.as_str(), text.version, text.sha256.len()),
        ("consents/marketing.md", 2, 64)
    );
}

#[test]
fn minimal_policy_with_a_route_compiles() {
    let routes = "routes:\n  - id: r\n    match: {method: POST, path: /x}\n    upstream: crm\n    purposes: [sales]\n    subject: {field: email}\n    fields:\n      email: {category: contact, action: tokenize, kind: email}\n";
    let p = check(&[("a.yaml", BASE), ("b.yaml", routes)]).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = p.routes[0]
        .purposes
        .iter()
        .map(|&i| p.purpose(i).def.id.as_str())
        .collect();
    assert_eq!(ids, vec!["sales"]);
}

#[test]
fn all_errors_are_reported_at_once_with_file_and_line() {
    let routes = r#"routes:
  - id: r
    match: {method: POST, path: /x}
    upstream: nowhere
    purposes: [sales]
    fields:
      name: {category: identity, action: encrypt}
      email: {category: contact, action: tokenise}
  - id: r
    match: {method: POST, path: /y}
    upstream: crm
  - id: r3
    match: {method: POST, path: /z}
    upstream: crm
    colour: blue
"#;
    let purposes = r#"purposes:
  - id: news
    description: "News"
    legal_basis: consent
    categories: [contact]
"#;
    let errs = check(&[("a.yaml", BASE), ("b.yaml", routes), ("c.yaml", purposes)])
        .unwrap_err()
        .0;
    let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
    let has = |needle: &str| {
        assert!(
            text.iter().any(|l| l.contains(needle)),
            "no error containing {needle:?} in:\n{}",
            text.join("\n")
        );
    };
    has("b.yaml:4: unknown upstream `nowhere`");
    has("b.yaml:7: field `name` has category `identity`, which none of this route's purposes (sales) covers");
    has("b.yaml:8: unknown variant `tokenise`");
    has("b.yaml:9: duplicate route id `r` (first declared at b.yaml:2)");
    has("b.yaml:15: unknown key `colour`");
    has("c.yaml:2: purpose `news` has no retention");
    has("c.yaml:4: purpose `news` is consent-based but names no consent text");
}

#[test]
fn bad_token_domain_and_unknown_section() {
    let bad = BASE.replace("relay.acme.example", "not a domain") + "extras: 1\n";
    let errs = check(&[("a.yaml", &bad)]).unwrap_err().0;
    let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|l| l.starts_with("a.yaml:8: token_domain `not a domain` is not a domain")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|l| l.starts_with("a.yaml:20: unknown section `extras`")),
        "{text:?}"
    );
}

#[test]
fn consent_purpose_on_a_route_needs_a_consent_field() {
    let purposes = "purposes:\n  - id: news\n    description: N\n    legal_basis: consent\n    consent: {text: consents/marketing.md, version: 2}\n    categories: [contact]\n    retention: {keep: P2Y, from: consent}\n";
    let routes = "routes:\n  - id: r\n    match: {path: /x}\n    upstream: crm\n    purposes: [news]\n    fields:\n      email: {category: contact, action: tokenize}\n";
    let errs = check(&[("a.yaml", BASE), ("b.yaml", purposes), ("c.yaml", routes)])
        .unwrap_err()
        .0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0]
            .to_string()
            .starts_with("c.yaml:2: purpose `news` is consent-based: add `consents:"),
        "{}",
        errs[0]
    );
}

#[test]
fn consent_text_missing_art_9_4_elements_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("consents")).unwrap();
    std::fs::write(
        dir.path().join("consents/bad.md"),
        "---\noperator: \"ACME\"\npurpose: \"x\"\ndata: []\nactions: [\"сбор\"]\nmethods: \"auto\"\nterm: \"\"\nwithdrawal: \"mail\"\n---\nText\n",
    )
    .unwrap();
    let purposes = "purposes:\n  - id: news\n    description: N\n    legal_basis: consent\n    consent: {text: consents/bad.md, version: 1}\n    categories: [contact]\n    retention: {keep: P2Y, from: consent}\n";
    let sources = vec![
        (PathBuf::from("a.yaml"), BASE.to_owned()),
        (PathBuf::from("b.yaml"), purposes.to_owned()),
    ];
    let errs = Policy::from_sources(dir.path(), &sources).unwrap_err().0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].line, 5);
    assert!(
        errs[0]
            .message
            .ends_with("front matter: data, processors, term"),
        "{}",
        errs[0].message
    );
}

#[test]
fn domains() {
    assert!(is_domain("relay.romashka.example"));
    assert!(is_domain("a-b.ru"));
    for bad in [
        "localhost",
        "a..b",
        "-a.ru",
        "a.ru.",
        "has space.ru",
        "1.2.3.4",
    ] {
        assert!(!is_domain(bad), "{bad}");
    }
}

#[test]
fn reveal_routes_name_a_known_purpose_and_roles() {
    let routes = "routes:\n  - id: r\n    match: {prefix: /staff/}\n    upstream: crm\n    reveal: {purpose: astrology, roles: [staff]}\n";
    let errs = check(&[("a.yaml", BASE), ("c.yaml", routes)])
        .unwrap_err()
        .0;
    let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|l| l.starts_with("c.yaml:5: ") && l.contains("unknown purpose `astrology`")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|l| l.contains("unknown role `staff`")),
        "{text:?}"
    );
}

#[test]
fn countries_are_iso_codes_and_foreign_looking_upstreams_without_one_are_warned_about() {
    let extra = "upstreams:\n  - {id: eu, url: \"https://crm.example.de/api\", country: de}\n  - {id: mystery, url: \"https://crm.example.com\"}\n  - {id: local, url: \"http://10.0.0.5:9000\"}\n  - {id: ru, url: \"https://crm.romashka.ru\"}\n  - {id: rf, url: \"https://crm.xn--80ak6aa92e.xn--p1ai\"}\n";
    let p = check(&[("a.yaml", BASE), ("b.yaml", extra)]).unwrap_or_else(|e| panic!("{e}"));
    let country = |id: &str| {
        p.upstreams
            .iter()
            .find(|u| u.id == id)
            .map(|u| u.country.clone())
            .unwrap()
    };
    assert_eq!(country("eu"), "DE", "upper-cased");
    assert_eq!(country("mystery"), "RU", "undeclared counts as domestic…");
    assert_eq!(p.warnings.len(), 1, "…with a warning: {:?}", p.warnings);
    let w = &p.warnings[0];
    assert_eq!((w.file.to_str(), w.line), (Some("b.yaml"), 3));
    assert!(w.message.contains("`mystery`") && w.message.contains("country: XX"));

    let bad = "upstreams:\n  - {id: x, url: \"http://127.0.0.1:1\", country: Germany}\nservices:\n  - {id: s, purposes: [sales], country: D1}\n";
    let errs = check(&[("a.yaml", BASE), ("b.yaml", bad)]).unwrap_err().0;
    let lines: Vec<(usize, bool)> = errs
        .iter()
        .map(|e| (e.line, e.message.contains("ISO 3166-1")))
        .collect();
    assert_eq!(lines, [(2, true), (4, true)], "{errs:?}");
}

#[test]
fn register_fields_of_the_controller_are_checked() {
    let c = BASE.replace(
        "  token_domain: relay.acme.example\n",
        "  token_domain: relay.acme.example\n  processing_started: 2026-13-01\n  protection_level: 5\n  responsible: {name: \"R\", phone: \"+7 495 000-00-00\"}\n",
    );
    let errs = check(&[("a.yaml", &c)]).unwrap_err().0;
    let msgs: Vec<&str> = errs.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(msgs[0].contains("YYYY-MM-DD") && msgs[1].contains("1119"));
    let ok = c
        .replace("2026-13-01", "2025-03-01")
        .replace("level: 5", "level: 3");
    let p = check(&[("a.yaml", &ok)]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.controller.responsible.unwrap().name, "R");
}

#[test]
fn domestic_hosts() {
    for h in [
        "127.0.0.1",
        "[::1]",
        "10.1.2.3",
        "192.168.0.1",
        "crm",
        "crm.internal",
        "shop.ru",
        "SHOP.RU.",
        "x.su",
        "fd00::1",
    ] {
        assert!(looks_domestic(h), "{h}");
    }
    for h in [
        "crm.example.com",
        "8.8.8.8",
        "api.hubspot.com",
        "ru.example.org",
        "2001:db8::1",
    ] {
        assert!(!looks_domestic(h), "{h}");
    }
}

#[test]
fn a_blocked_route_keeps_the_upstream_it_names_for_erasures_there() {
    let routes = "routes:\n  - id: old\n    match: {method: POST, path: /old}\n    block: true\n    upstream: crm\n";
    let p = check(&[("a.yaml", BASE), ("b.yaml", routes)]).unwrap_or_else(|e| panic!("{e}"));
    let r = p.match_route(&http::Method::POST, "/old").unwrap();
    let crm = p.upstreams.iter().position(|u| u.id == "crm");
    assert!(r.is_blocked() && crm.is_some());
    assert_eq!(r.upstream(), crm);
}

#[test]
fn blocked_routes_need_no_upstream_and_take_no_fields() {
    let routes = "routes:\n  - id: feedback\n    match: {method: POST, path: /feedback}\n    block: true\n  - id: open\n    match: {path: /open}\n";
    let errs = check(&[("a.yaml", BASE), ("b.yaml", routes)])
        .unwrap_err()
        .0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0]
        .message
        .contains("route `open` needs `upstream:` (or `block: true`)"));
    let ok = routes.replace("  - id: open\n    match: {path: /open}\n", "");
    let p = check(&[("a.yaml", BASE), ("b.yaml", &ok)]).unwrap_or_else(|e| panic!("{e}"));
    let r = p.match_route(&http::Method::POST, "/feedback").unwrap();
    assert!(matches!(r.kind, RouteKind::Blocked { upstream: None }));
    let bad = "routes:\n  - id: f\n    match: {path: /f}\n    block: true\n    upstream: crm\n    fields:\n      email: {category: contact, action: tokenize, kind: email}\n";
    let errs = check(&[("a.yaml", BASE), ("b.yaml", bad)]).unwrap_err().0;
    assert!(
        errs.iter()
            .any(|e| e.message.contains("a blocked route takes no fields")),
        "{errs:?}"
    );
}

#[test]
fn upstream_urls_are_overridden_from_the_environment_and_typos_refused() {
    let env = |k: &str, v: &str| -> std::collections::BTreeMap<String, String> {
        [(k.to_owned(), v.to_owned())].into_iter().collect()
    };
    let mut p = Policy::load(&example_dir()).unwrap();
    assert_eq!(
        p.override_upstream_urls(&env("PDGATE_UPSTREAM_CRM_URL", "http://crm:8000/anything")),
        Ok(vec!["crm".to_owned()])
    );
    assert_eq!(p.upstreams[0].url.to_string(), "http://crm:8000/anything");
    let typo = p.override_upstream_urls(&env("PDGATE_UPSTREAM_CRN_URL", "http://x"));
    assert!(matches!(typo, Err(UrlOverrideError::NoSuchUpstream { id, .. }) if id == "CRN"));
    let bad = p.override_upstream_urls(&env("PDGATE_UPSTREAM_CRM_URL", "crm:8000"));
    assert!(matches!(bad, Err(UrlOverrideError::NotAUrl { .. })));
    assert_eq!(p.upstreams[0].url.to_string(), "http://crm:8000/anything");
    let other = p.override_upstream_urls(&env("PDGATE_LISTEN", "0.0.0.0:80"));
    assert_eq!(other, Ok(vec![]));
}

#[test]
fn on_refusal_takes_a_site_url_or_a_page_that_exists() {
    let route = |on: &str| {
        format!("routes:\n  - id: r\n    match: {{method: POST, path: /x}}\n    upstream: crm\n    purposes: [sales]\n    fields:\n      email: {{category: contact, action: tokenize, kind: email}}\n    on_refusal: {on}\n")
    };
    let ok = |on: &str| check(&[("a.yaml", BASE), ("b.yaml", &route(on))]);
    let p = ok("{page: pages/refusal}").unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(&p.routes[0].on_refusal, Some(OnRefusal::Page(pages)) if pages.ru.is_some() && pages.en.is_some())
    );
    let p = ok("{redirect: /contact/oops}").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.routes[0].on_refusal,
        Some(OnRefusal::Redirect("/contact/oops".into()))
    );
    for (on, says) in [
        (
            "{page: pages/nothing}",
            "no template `pages/nothing.ru.html`",
        ),
        (
            "{redirect: \"javascript:alert(1)\"}",
            "absolute http(s) URL or a path",
        ),
        (
            "{redirect: \"//evil.example/x\"}",
            "absolute http(s) URL or a path",
        ),
        ("{redirect: /a, page: pages/refusal}", "exactly one of"),
        ("{}", "exactly one of"),
    ] {
        let e = ok(on).unwrap_err().to_string();
        assert!(e.contains(says), "{on}: {e}");
    }
}
