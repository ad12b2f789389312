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
  database_location: {country: RU, city: Moscow, address: "Red Square, 1"}
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

/// The messages of a refused policy set, or an empty list if it compiles.
fn refusals(files: &[(&str, &str)]) -> Vec<String> {
    match check(files) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(|e| e.message.clone()).collect(),
    }
}

const ABROAD: &str = "upstreams:\n  - {id: us, url: \"https://crm.example.com\", country: US}\n";

fn foreign_route(field: &str) -> String {
    format!("routes:\n  - id: signup\n    match: {{method: POST, path: /signup}}\n    upstream: us\n    purposes: [sales]\n    subject: {{field: email}}\n    fields:\n      email: {{category: contact, action: tokenize, kind: email}}\n      {field}\n      total: {{action: pass}}\n")
}

#[test]
fn the_database_is_named_structured_and_in_russia_under_152_fz() {
    let none = BASE.replace(
        "  database_location: {country: RU, city: Moscow, address: \"Red Square, 1\"}\n",
        "",
    );
    let m = refusals(&[("a.yaml", &none)]);
    assert!(m.len() == 1 && m[0].contains("Art. 18(5)"), "{m:?}");
    let gdpr_only = none
        .replace("regimes: [fz152]", "regimes: [gdpr]")
        .replace("9000\"}", "9000\", safeguards: scc}");
    assert_eq!(
        refusals(&[("a.yaml", &gdpr_only)]),
        Vec::<String>::new(),
        "only 152-FZ asks"
    );

    let text = BASE.replace(
        "{country: RU, city: Moscow, address: \"Red Square, 1\"}",
        "\"RU, Moscow\"",
    );
    let m = refusals(&[("a.yaml", &text)]);
    assert!(m.len() == 1 && m[0].contains("must be structured"), "{m:?}");
    let abroad = BASE.replace("country: RU, city: Moscow", "country: DE, city: Frankfurt");
    let m = refusals(&[("a.yaml", &abroad)]);
    assert!(
        m.len() == 1 && m[0].contains("Art. 18(5)") && m[0].contains("DE"),
        "{m:?}"
    );
    let p = check(&[("a.yaml", BASE)]).unwrap();
    assert_eq!(p.controller.location_line(), "RU, Moscow, Red Square, 1");
}

#[test]
fn readable_personal_fields_never_go_to_an_upstream_abroad() {
    // Tokens and envelopes may go; a field without a category is not declared personal.
    let fine = foreign_route("name: {category: identity, action: encrypt}");
    let base = BASE.replace("categories: [contact]", "categories: [contact, identity]");
    assert_eq!(
        refusals(&[("a.yaml", &base), ("b.yaml", ABROAD), ("c.yaml", &fine)]),
        Vec::<String>::new()
    );
    for action in ["pass", "mask", "hash"] {
        let r = foreign_route(&format!("name: {{category: identity, action: {action}}}"));
        let errs = check(&[("a.yaml", &base), ("b.yaml", ABROAD), ("c.yaml", &r)])
            .unwrap_err()
            .0;
        assert_eq!(errs.len(), 1, "{errs:?}");
        let e = &errs[0];
        assert_eq!(
            (e.file.to_str(), e.line),
            (Some("c.yaml"), 9),
            "at the field"
        );
        for part in [
            "Art. 18(5)",
            "route `signup`",
            "`name`",
            "in US",
            &format!("as `{action}`"),
        ] {
            assert!(
                e.message.contains(part),
                "{action}: {part} in {}",
                e.message
            );
        }
    }
    // The same route to a Russian upstream is fine; under the GDPR alone, too.
    let home = foreign_route("name: {category: identity, action: pass}")
        .replace("upstream: us", "upstream: crm");
    assert_eq!(
        refusals(&[("a.yaml", &base), ("b.yaml", ABROAD), ("c.yaml", &home)]),
        Vec::<String>::new()
    );
    let unknown = format!(
        "{}    unknown_fields: pass\n",
        foreign_route("name: {category: identity, action: encrypt}")
    );
    let m = refusals(&[("a.yaml", &base), ("b.yaml", ABROAD), ("c.yaml", &unknown)]);
    assert!(m.len() == 1 && m[0].contains("undeclared fields"), "{m:?}");
}

#[test]
fn untouched_forwarding_abroad_needs_the_policies_to_say_it_carries_nothing_personal() {
    let default = format!("{ABROAD}default_upstream: us\n");
    let m = refusals(&[("a.yaml", BASE), ("b.yaml", &default)]);
    assert!(
        m.len() == 1
            && m[0].contains("default upstream `us` is in US")
            && m[0].contains("allow_unmatched_abroad"),
        "{m:?}"
    );
    let pass =
        "routes:\n  - id: assets\n    match: {method: GET, prefix: /assets/}\n    upstream: us\n";
    let m = refusals(&[("a.yaml", BASE), ("b.yaml", ABROAD), ("c.yaml", pass)]);
    assert!(
        m.len() == 1 && m[0].contains("route `assets` forwards"),
        "{m:?}"
    );
    let allowed = format!("{default}allow_unmatched_abroad: true\n");
    let p = check(&[("a.yaml", BASE), ("b.yaml", &allowed), ("c.yaml", pass)])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(p.allow_unmatched_abroad);
    let warned: Vec<&str> = p
        .warnings
        .iter()
        .map(|w| w.message.as_str())
        .filter(|m| m.contains("leaves Russia unrecorded"))
        .collect();
    assert_eq!(warned.len(), 2, "{:?}", p.warnings);
}

#[test]
fn gdpr_transfers_out_of_the_eea_name_their_ground_russia_included() {
    let gdpr = BASE.replace("regimes: [fz152]", "regimes: [fz152, gdpr]");
    // The RU upstream of BASE is a GDPR transfer: refused without safeguards.
    let m = refusals(&[("a.yaml", &gdpr)]);
    assert!(
        m.len() == 1
            && m[0].contains("upstream `crm`")
            && m[0].contains("RU is a third country")
            && m[0].contains("Art. 46(2)(c)"),
        "{m:?}"
    );
    let scc = gdpr.replace(
        "url: \"http://127.0.0.1:9000\"}",
        "url: \"http://127.0.0.1:9000\", safeguards: scc}",
    );
    assert_eq!(refusals(&[("a.yaml", &scc)]), Vec::<String>::new());
    let claimed = scc.replace("safeguards: scc", "safeguards: adequacy");
    let m = refusals(&[("a.yaml", &claimed)]);
    assert!(
        m.len() == 1 && m[0].contains("without an adequacy decision"),
        "no decision covers RU: {m:?}"
    );
    // Recipients and services too; the EEA and full decisions need nothing, partial ones a word.
    let more = "services:\n  - {id: bi, purposes: [sales], country: DE}\n  - {id: ca, purposes: [sales], country: CA}\n  - {id: jp, purposes: [sales], country: JP}\n  - {id: kz, purposes: [sales], country: KZ}\n";
    let m = refusals(&[("a.yaml", &scc), ("b.yaml", more)]);
    assert_eq!(m.len(), 2, "{m:?}");
    assert!(
        m[0].contains("service `ca`") && m[0].contains("safeguards: adequacy"),
        "{m:?}"
    );
    assert!(
        m[1].contains("service `kz`") && m[1].contains("KZ is a third country"),
        "{m:?}"
    );
    let rec = scc.replace("retention: {keep: P1Y, from: collected}", "retention: {keep: P1Y, from: collected}\n    recipients: [{name: \"Courier\", country: RU}]");
    let m = refusals(&[("a.yaml", &rec)]);
    assert!(
        m.len() == 1 && m[0].contains("recipient `Courier` of `sales`"),
        "{m:?}"
    );
    // Without the GDPR, none of this applies.
    assert_eq!(
        refusals(&[("a.yaml", BASE), ("b.yaml", more)]),
        Vec::<String>::new()
    );
    let eu = EuAdequacy::shipped();
    assert_eq!(
        ["DE", "NO", "GB", "US", "RU", "BY"].map(|c| eu.status(c)),
        [
            EuStatus::Eea,
            EuStatus::Eea,
            EuStatus::Adequate,
            EuStatus::Partial,
            EuStatus::ThirdCountry,
            EuStatus::ThirdCountry
        ]
    );
}

fn special(basis: &str, extra: &str) -> String {
    BASE.replace("  - {id: identity, name: \"Name\"}\n", "  - {id: identity, name: \"Name\"}\n  - {id: health, name: \"Health\", special: true}\n  - {id: face, name: \"Face geometry\", biometric: true}\n")
        .replace("regimes: [fz152]", "regimes: [fz152, gdpr]")
        .replace("url: \"http://127.0.0.1:9000\"}", "url: \"http://127.0.0.1:9000\", safeguards: scc}")
        .replace("upstreams:\n", &format!("  - id: care\n    description: \"Care\"\n    {basis}\n    categories: [health]\n    retention: {{keep: P1Y, from: collected}}\n{extra}upstreams:\n"))
}

#[test]
fn special_categories_and_biometrics_need_written_consent_or_a_declared_ground() {
    let m = refusals(&[("a.yaml", &special("legal_basis: contract", ""))]);
    assert_eq!(m.len(), 2, "{m:?}");
    assert!(
        m[0].contains("152-FZ Art. 10(2)") && m[1].contains("GDPR Art. 9(1)"),
        "{m:?}"
    );
    let grounds = "    special_grounds: {fz152: \"10(2)(4)\", gdpr: \"9(2)(h)\"}\n";
    assert_eq!(
        refusals(&[("a.yaml", &special("legal_basis: contract", grounds))]),
        Vec::<String>::new()
    );
    for bad in [
        "{fz152: \"10(2)(1)\", gdpr: \"9(2)(h)\"}",
        "{fz152: \"10(2)(4)\", gdpr: \"9(2)(a)\"}",
        "{fz152: \"11(2)\", gdpr: \"9(2)(k)\"}",
    ] {
        let m = refusals(&[(
            "a.yaml",
            &special(
                "legal_basis: contract",
                &format!("    special_grounds: {bad}\n"),
            ),
        )]);
        assert!(!m.is_empty(), "{bad} is not a ground");
    }
    // Biometrics: Art. 11(2), not 10(2).
    let bio = special(
        "legal_basis: contract",
        "    special_grounds: {fz152: \"11(2)\", gdpr: \"9(2)(b)\"}\n",
    )
    .replace("categories: [health]", "categories: [face]");
    assert_eq!(refusals(&[("a.yaml", &bio)]), Vec::<String>::new());
    let m = refusals(&[("a.yaml", &bio.replace("\"11(2)\"", "\"10(2)(4)\""))]);
    assert!(m.len() == 1 && m[0].contains("Art. 11"), "{m:?}");
    // Consent that is not written is not enough; written consent is, recorded by API.
    let plain = special(
        "legal_basis: consent\n    consent: {text: consents/marketing.md, version: 2}",
        "",
    );
    assert_eq!(refusals(&[("a.yaml", &plain)]).len(), 2);
    let written = special("legal_basis: consent\n    consent: {text: consents/marketing.md, version: 2, written: true}", "");
    assert_eq!(refusals(&[("a.yaml", &written)]), Vec::<String>::new());
    let route = |method: &str| {
        format!("routes:\n  - id: care\n    match: {{method: POST, path: /care}}\n    upstream: crm\n    purposes: [care]\n    subject: {{field: email}}\n    fields:\n      email: {{category: health, action: tokenize}}\n    consents:\n      care: {{field: agree, method: {method}}}\n")
    };
    let m = refusals(&[("a.yaml", &written), ("b.yaml", &route("checkbox"))]);
    assert!(
        m.len() == 1 && m[0].contains("Art. 9(4)") && m[0].contains("method: api"),
        "{m:?}"
    );
    assert_eq!(
        refusals(&[("a.yaml", &written), ("b.yaml", &route("api"))]),
        Vec::<String>::new()
    );
}

#[test]
fn state_identifiers_are_checked_by_their_check_digits() {
    assert!(law::inn_ok("7707083893") && law::inn_ok("500100732259"));
    assert!(!law::inn_ok("7707083894") && !law::inn_ok("500100732258") && !law::inn_ok("77070838"));
    assert!(law::ogrn_ok("1027700132195") && law::ogrn_ok("304500116000157"));
    assert!(!law::ogrn_ok("1027700132196") && !law::ogrn_ok("304500116000158"));
    let c = BASE.replace(
        "  token_domain:",
        "  inn: \"7707083894\"\n  ogrn: \"1027700132196\"\n  token_domain:",
    );
    let m = refusals(&[("a.yaml", &c)]);
    assert!(
        m.len() == 2 && m[0].contains("inn") && m[1].contains("ogrn"),
        "{m:?}"
    );
}

fn with_route(route: &str) -> Vec<String> {
    let base = BASE
        .replace("  - {id: identity, name: \"Name\"}\n", "  - {id: identity, name: \"Name\"}\n  - {id: guardian, name: \"Guardian\"}\n  - {id: terms, name: \"Publication terms\"}\n")
        .replace("categories: [contact]", "categories: [contact, identity, guardian, terms]");
    refusals(&[("a.yaml", &base), ("b.yaml", route)])
}

const ROUTE: &str = "routes:\n  - id: r\n    match: {method: POST, path: /r}\n    upstream: crm\n    purposes: [sales]\n    subject: {field: email}\n    fields:\n      email: {category: contact, action: tokenize, kind: email}\n      born: {category: identity, action: encrypt}\n      parent: {category: guardian, action: encrypt}\n";

#[test]
fn a_route_that_knows_age_names_how_and_keeps_the_guardian_in_the_vault() {
    let ok = format!(
        "{ROUTE}    age: {{field: born}}\n    guardian: {{consent: parent_ok, fields: [parent]}}\n"
    );
    assert_eq!(with_route(&ok), Vec::<String>::new());
    let confirm = format!("{ROUTE}    age: {{confirm: over_14}}\n");
    assert_eq!(with_route(&confirm), Vec::<String>::new());
    for (bad, needle) in [
        ("    age: {field: born, confirm: x}\n", "either `field:"),
        ("    age: {field: birthday}\n", "age.field `birthday`"),
        ("    age: {confirm: born}\n", "is a checkbox"),
        (
            "    guardian: {consent: ok, fields: [parent]}\n",
            "needs `age:`",
        ),
        (
            "    age: {field: born}\n    guardian: {consent: ok, fields: [mum]}\n",
            "guardian field `mum`",
        ),
        (
            "    age: {field: born}\n    guardian: {consent: ok, fields: []}\n",
            "name the fields",
        ),
    ] {
        let m = with_route(&format!("{ROUTE}{bad}"));
        assert!(m.len() == 1 && m[0].contains(needle), "{bad}: {m:?}");
    }
    let young = BASE.replace(
        "  token_domain:",
        "  age_of_consent: {gdpr: 12}\n  token_domain:",
    );
    let m = refusals(&[("a.yaml", &young)]);
    assert!(m.len() == 1 && m[0].contains("GDPR Art. 8(1)"), "{m:?}");
}

fn distribution(purpose_extra: &str, consents: &str) -> Vec<String> {
    distribution_on("[wall]", purpose_extra, consents)
}

fn distribution_on(purposes: &str, purpose_extra: &str, consents: &str) -> Vec<String> {
    let base = BASE
        .replace("  - {id: identity, name: \"Name\"}\n", "  - {id: identity, name: \"Name\"}\n  - {id: terms, name: \"Publication terms\"}\n")
        .replace("upstreams:\n", &format!("  - id: wall\n    description: \"Publish the winners\"\n    legal_basis: consent\n    distribution: true\n    consent: {{text: consents/contact.md, version: 1}}\n    categories: [identity, terms]\n    retention: {{keep: P1Y, from: consent}}\n{purpose_extra}upstreams:\n"));
    let route = format!("routes:\n  - id: r\n    match: {{method: POST, path: /r}}\n    upstream: crm\n    purposes: {purposes}\n    fields:\n      name: {{category: identity, action: encrypt}}\n      publish_terms: {{category: terms, action: encrypt}}\n    consents:\n{consents}");
    refusals(&[("a.yaml", &base), ("b.yaml", &route)])
}

#[test]
fn data_made_public_rests_on_a_consent_of_its_own() {
    let own = "      wall: {field: publish_ok, conditions_field: publish_terms}\n";
    assert_eq!(distribution("", own), Vec::<String>::new());
    // The same text as another purpose's consent: bundled.
    let shared = "  - id: other\n    description: \"x\"\n    legal_basis: consent\n    consent: {text: consents/contact.md, version: 1}\n    categories: [identity]\n    retention: {keep: P1Y, from: consent}\n";
    let m = distribution(shared, own);
    assert!(
        m.iter()
            .any(|x| x.contains("Art. 10.1(1)") && x.contains("shares its text")),
        "{m:?}"
    );
    // The subject's conditions are kept in the vault, not forwarded in clear.
    let m = distribution(
        "",
        "      wall: {field: publish_ok, conditions_field: notes}\n",
    );
    assert!(m.len() == 1 && m[0].contains("`notes`"), "{m:?}");
    let not_consent = BASE.replace(
        "legal_basis: contract",
        "legal_basis: contract\n    distribution: true",
    );
    let m = refusals(&[("a.yaml", &not_consent)]);
    assert!(m.len() == 1 && m[0].contains("Art. 10.1(1)"), "{m:?}");
}
