use super::*;
use crate::crypto::{Kek, RootSecret};
use proptest::prelude::*;

fn policy() -> Policy {
    Policy::load(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies"))
        .unwrap()
}

pub(super) fn leaves(pairs: &[(&str, &str)]) -> Vec<Leaf> {
    pairs
        .iter()
        .map(|(p, v)| Leaf {
            path: (*p).into(),
            value: (*v).into(),
        })
        .collect()
}

fn keys() -> Keys {
    Keys::derive(Kek::generate(1), &RootSecret::generate())
}

fn facts() -> RequestFacts<'static> {
    RequestFacts {
        now: 1_700_000_000_000,
        request_id: "req-1",
        client_ip: Some("203.0.113.7".parse().unwrap()),
        user_agent: Some("UA"),
        origin: None,
    }
}

fn new_subject(keys: &Keys, id: &[u8]) -> SubjectCtx {
    let (dek, wrapped) = keys.new_dek(id);
    SubjectCtx {
        write: SubjectWrite::New {
            id: id.to_vec().into(),
            key: None,
            wrapped_dek: wrapped,
            kek_version: 1,
        },
        dek,
    }
}

/// Plans and renders with the first token candidate, as a fresh store would issue.
fn run(p: &Policy, route: &str, ls: &[Leaf], keys: &Keys, sid: &[u8]) -> (Plan, Vec<Output>) {
    let r = p.routes.iter().find(|r| r.id == route).unwrap();
    let eval = evaluate(p, r, ls).unwrap();
    let plan = plan(p, r, &eval, ls, keys, new_subject(keys, sid), facts());
    let tokens: Vec<Token> = plan
        .write
        .values
        .iter()
        .map(|v| {
            v.candidates
                .first()
                .cloned()
                .unwrap_or_else(|| Token::from(""))
        })
        .collect();
    let out = render(&plan, &tokens);
    (plan, out)
}

#[test]
fn required_consent_absent_or_falsy_is_refused() {
    let p = policy();
    let r = p.routes.iter().find(|r| r.id == "newsletter").unwrap();
    for consent in [None, Some("off"), Some(""), Some("0")] {
        let mut l = leaves(&[("email", "ivan@mail.ru")]);
        if let Some(c) = consent {
            l.push(Leaf {
                path: "consent".into(),
                value: c.into(),
            });
        }
        let err = evaluate(&p, r, &l).unwrap_err();
        assert_eq!(
            (err.status, err.code),
            (422, "consent_required"),
            "{consent:?}"
        );
        assert!(!err.message.contains("ivan"));
    }
    let ok = evaluate(
        &p,
        r,
        &leaves(&[("email", "ivan@mail.ru"), ("consent", "on")]),
    )
    .unwrap();
    assert_eq!(ok.active.len(), 1);
}

#[test]
fn unknown_fields_drop_reject_and_duplicates() {
    let p = policy();
    let newsletter = p.routes.iter().find(|r| r.id == "newsletter").unwrap();
    let err = evaluate(
        &p,
        newsletter,
        &leaves(&[("email", "a@b.ru"), ("consent", "1"), ("age", "30")]),
    )
    .unwrap_err();
    assert_eq!((err.status, err.code), (422, "undeclared_field"));
    let checkout = p.routes.iter().find(|r| r.id == "checkout").unwrap();
    let eval = evaluate(
        &p,
        checkout,
        &leaves(&[("email", "a@b.ru"), ("age", "30"), ("utm", "x")]),
    )
    .unwrap();
    assert_eq!(eval.dropped, 2);
    let err = evaluate(
        &p,
        checkout,
        &leaves(&[("email", "a@b.ru"), ("email", "c@d.ru")]),
    )
    .unwrap_err();
    assert_eq!((err.status, err.code), (400, "duplicate_field"));
    let err = evaluate(
        &p,
        checkout,
        &leaves(&[("email", "a@b.ru"), ("phone", "12")]),
    )
    .unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        ("invalid_field", "field `phone` is not a valid phone")
    );
    let err = evaluate(&p, checkout, &leaves(&[("name", "Иван")])).unwrap_err();
    assert_eq!(err.code, "subject_required");
}

#[test]
fn every_action_rewrites_as_declared() {
    let p = policy();
    let k = keys();
    let l = leaves(&[
        ("email", "Ivan@Mail.ru"),
        ("phone", "+7 916 123-45-67"),
        ("name", "Иван Петров"),
        (
            "message",
            "Звоните 8 916 765-43-21 или пишите ivan@mail.ru, ИНН 7707083893",
        ),
        ("visitor_id", "v-42"),
        ("captcha", "xyz"),
        ("agree", "on"),
        ("utm_source", "ads"),
    ]);
    let (plan, out) = run(&p, "contact", &l, &k, b"subject-0000001");
    let get = |i: usize| match &out[i] {
        Output::Replace(s) => s.clone(),
        o => panic!("{o:?}"),
    };
    assert!(get(0).starts_with("t-") && get(0).ends_with("@relay.romashka.example"));
    assert_eq!(get(1), "+7 *** ***-**-67");
    assert!(get(2).starts_with("pdg2."));
    let msg = get(3);
    assert!(
        msg.starts_with("Звоните tok_")
            && msg.contains(" или пишите t-")
            && msg.contains(", ИНН tok_"),
        "{msg}"
    );
    assert!(!msg.contains("916") && !msg.contains("ivan@") && !msg.contains("7707083893"));
    assert_eq!(get(4).len(), 64);
    assert_eq!(out[5], Output::Drop);
    assert_eq!(
        out[6],
        Output::Keep,
        "the consent checkbox is forwarded as is"
    );
    assert_eq!(out[7], Output::Drop);
    assert_eq!(plan.write.dropped_fields, 2);
    assert_eq!(plan.receipts.len(), 1);
    assert_eq!(plan.consent_header, "enquiries=granted");
    // Redacted e-mail and the tokenized one are the same value of the same subject: same token.
    assert!(msg.contains(&get(0)), "{msg} should reuse {}", get(0));
    // Vault: email, phone (mask), the encrypted name (the envelope's ciphertext, no token),
    // 3 redact findings, and the hashed visitor id noted by name (no value, no token).
    let kept: Vec<(&str, bool, bool)> = plan
        .write
        .values
        .iter()
        .map(|v| {
            (
                v.field.as_str(),
                v.candidates.is_empty(),
                v.ciphertext.is_empty(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [
            ("email", false, false),
            ("phone", false, false),
            ("name", true, false),
            ("message", false, false),
            ("message", false, false),
            ("message", false, false),
            ("visitor_id", true, true),
        ]
    );
    assert!(plan
        .write
        .values
        .iter()
        .all(|v| !String::from_utf8_lossy(&v.ciphertext).contains("ivan")));
}

#[test]
fn tokens_are_the_same_across_routes_and_field_names_and_differ_across_subjects() {
    let p = policy();
    let k = keys();
    let (_, a) = run(
        &p,
        "checkout",
        &leaves(&[("email", "ivan@mail.ru")]),
        &k,
        b"subject-A",
    );
    let (_, b) = run(
        &p,
        "newsletter",
        &leaves(&[("email", "IVAN@mail.ru "), ("consent", "yes")]),
        &k,
        b"subject-A",
    );
    let (_, c) = run(
        &p,
        "checkout",
        &leaves(&[("email", "ivan@mail.ru")]),
        &k,
        b"subject-B",
    );
    assert_eq!(a[0], b[0]);
    assert_ne!(a[0], c[0]);
}

#[test]
fn optional_consent_absent_drops_fields_only_it_covers() {
    let p = policy();
    let k = keys();
    let (plan, _) = run(&p, "checkout", &leaves(&[("email", "a@b.ru")]), &k, b"s");
    assert_eq!(plan.purposes_header, "order_fulfilment");
    assert_eq!(plan.consent_header, "marketing=absent");
    assert!(plan.receipts.is_empty());
    let (plan, _) = run(
        &p,
        "checkout",
        &leaves(&[("email", "a@b.ru"), ("subscribe", "on")]),
        &k,
        b"s",
    );
    assert_eq!(plan.purposes_header, "order_fulfilment,marketing");
    assert_eq!(plan.write.values[0].purposes, "order_fulfilment,marketing");
}

#[test]
fn envelope_round_trips_and_binds_category_and_time() {
    use crate::crypto::{Binding, SubjectKeys};
    let k = keys();
    let (dek, wrapped) = k.new_dek(b"sid");
    let sk = SubjectKeys::unwrap(&k, b"sid", &wrapped, &[]).unwrap();
    let binding = Binding {
        subject: b"sid",
        field: "name",
        purposes: "order_fulfilment",
        category: Some("identity"),
        collected_at: 1_765_233_000_000,
        sealing: Sealing::Category,
    };
    let env = Envelope {
        subject: b"sid".to_vec(),
        field: "name".into(),
        purposes: "order_fulfilment".into(),
        category: Some("identity".into()),
        collected_at: Some(1_765_233_000_000),
        sealed: sk.seal(binding, "Иван".as_bytes()).unwrap(),
    };
    let text = env.encode();
    assert!(text.starts_with("pdg2."));
    let back = Envelope::parse(&text).unwrap();
    assert_eq!(back, env);
    assert_eq!(
        sk.open(back.binding(), &back.sealed).unwrap().as_slice(),
        "Иван".as_bytes()
    );
    // Moving it to another time (to escape retention) or category breaks it.
    let moved = Envelope {
        collected_at: Some(1_765_233_000_001),
        ..back.clone()
    };
    assert!(sk.open(moved.binding(), &moved.sealed).is_err());
    let moved = Envelope {
        category: Some("contact".into()),
        ..back
    };
    assert!(sk.open(moved.binding(), &moved.sealed).is_err());

    // A `pdg1.` envelope (before category keys) still opens under the data key.
    let sealed = dek.encrypt(
        "Иван".as_bytes(),
        Aad {
            subject: b"sid",
            field: "name",
            purpose: "order_fulfilment",
            scope: None,
        },
    );
    let mut raw = vec![3u8];
    raw.extend_from_slice(b"sid");
    for part in ["name", "order_fulfilment"] {
        raw.extend_from_slice(&(part.len() as u16).to_be_bytes());
        raw.extend_from_slice(part.as_bytes());
    }
    raw.extend_from_slice(&sealed);
    let old = format!("pdg1.{}", data_encoding::BASE64URL_NOPAD.encode(&raw));
    let old = Envelope::parse(&old).unwrap();
    assert_eq!((old.category.as_deref(), old.collected_at), (None, None));
    assert_eq!(
        sk.open(old.binding(), &old.sealed).unwrap().as_slice(),
        "Иван".as_bytes()
    );
    for bad in ["pdg1.!!", "pdg1.", "pdg2.", "pdg2.AAAA"] {
        assert!(Envelope::parse(bad).is_none(), "{bad}");
    }
}

proptest! {
    #[test]
    fn redact_is_idempotent(words in proptest::collection::vec(prop_oneof![
        "[a-zа-я]{1,8}".prop_map(|s| s),
        "[a-z]{1,6}@[a-z]{2,6}\\.ru".prop_map(|s| s),
        Just("+7 916 123-45-67".to_owned()),
        Just("7707083893".to_owned()),
        Just("4111 1111 1111 1111".to_owned()),
    ], 0..8)) {
        let p = policy();
        let k = keys();
        let text = words.join(" ");
        let (_, once) = run(&p, "checkout", &leaves(&[("email", "a@b.ru"), ("comment", &text)]), &k, b"s");
        let once = match &once[1] { Output::Replace(s) => s.clone(), _ => text.clone() };
        let (_, twice) = run(&p, "checkout", &leaves(&[("email", "a@b.ru"), ("comment", &once)]), &k, b"s");
        let twice = match &twice[1] { Output::Replace(s) => s.clone(), _ => once.clone() };
        prop_assert_eq!(once, twice);
    }
}

#[test]
fn refs_header_encodes_field_paths_it_cannot_carry_plainly() {
    let p = policy();
    let ls = leaves(&[
        ("email", "a@mail.ru"),
        ("phone", "+7 916 555-01-01"),
        ("agree", "on"),
    ]);
    let (mut plan, _) = run(&p, "contact", &ls, &keys(), &[7; 16]);
    let tokens: Vec<Token> = vec!["tok_a".into(), "tok_b".into(), "tok_c".into()];
    plan.mask_refs = vec![
        ("телефон".into(), 0),
        ("x=1, y".into(), 1),
        ("phone".into(), 2),
    ];
    let h = plan.refs_header(&tokens);
    assert_eq!(
        h,
        "%D1%82%D0%B5%D0%BB%D0%B5%D1%84%D0%BE%D0%BD=tok_a, x%3D1%2C%20y=tok_b, phone=tok_c"
    );
    assert!(http::HeaderValue::from_str(&h).is_ok());
}
