//! Minors: below the age of consent (GDPR Art. 8(1): 16 unless a member state chose lower;
//! 152-FZ with the Civil Code, Art. 26 and 28: 14 in Russian practice) a consent a form gives for
//! a child counts only with a parent's or guardian's consent, whose identity the same form
//! carries. Under both regimes the higher age applies. A plain function over the form's leaves
//! and the operator's day.

use serde_json::{json, Value};
use time::{Date, Month};

use super::{Evaluation, Refusal};
use crate::consent::is_truthy;
use crate::forms::Leaf;
use crate::policy::{Age, Policy, Regime, Route};

/// A consent given on a minor's behalf: how the age was known, and the guardian's fields (their
/// values are stored in the vault with the same intake).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guardian {
    pub fields: Vec<String>,
    pub age_known_by: &'static str,
    pub age_of_consent: u8,
}

impl Guardian {
    /// As recorded with each consent of the intake.
    pub fn to_json(&self) -> Value {
        json!({
            "fields": self.fields,
            "age_known_by": self.age_known_by,
            "age_of_consent": self.age_of_consent,
        })
    }
}

/// `YYYY-MM-DD` or `DD.MM.YYYY`.
pub fn parse_birth_date(s: &str) -> Option<Date> {
    let s = s.trim();
    let (y, m, d) = if let Some((y, rest)) = s.split_once('-') {
        let (m, d) = rest.split_once('-')?;
        (y, m, d)
    } else {
        let (d, rest) = s.split_once('.')?;
        let (m, y) = rest.split_once('.')?;
        (y, m, d)
    };
    if y.len() != 4 || !(1..=2).contains(&m.len()) || !(1..=2).contains(&d.len()) {
        return None;
    }
    let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

/// Full years between `birth` and `today`.
pub fn age_on(birth: Date, today: Date) -> i32 {
    let before_birthday = (today.month() as u8, today.day()) < (birth.month() as u8, birth.day());
    today.year() - birth.year() - i32::from(before_birthday)
}

/// The age of consent under the policy's regimes: the higher one when both apply.
pub fn age_of_consent(policy: &Policy) -> u8 {
    let a = policy.controller.age_of_consent;
    let mut age = 0;
    if policy.has_regime(Regime::Fz152) {
        age = age.max(a.fz152);
    }
    if policy.has_regime(Regime::Gdpr) {
        age = age.max(a.gdpr);
    }
    age
}

fn value<'l>(leaves: &'l [Leaf], field: &str) -> Option<&'l str> {
    leaves
        .iter()
        .find(|l| l.path == field)
        .map(|l| l.value.as_str())
        .filter(|v| !v.trim().is_empty())
}

/// For a route that knows age: `Some` when a minor's consent was given with the guardian's, an
/// error when it was given without; `None` for an adult, or when no consent is given.
pub fn check(
    policy: &Policy,
    route: &Route,
    leaves: &[Leaf],
    eval: &Evaluation<'_>,
    today: Date,
) -> Result<Option<Guardian>, Refusal> {
    let Some(age) = &route.age else {
        return Ok(None);
    };
    let threshold = age_of_consent(policy);
    let (minor, known_by) = match age {
        Age::Confirm(f) => (!value(leaves, f).is_some_and(is_truthy), "confirmation"),
        Age::BirthDate(f) => {
            let born = value(leaves, f)
                .and_then(parse_birth_date)
                .filter(|d| *d <= today)
                .ok_or_else(|| {
                    let msg = format!("`{f}` must be a birth date: YYYY-MM-DD or DD.MM.YYYY");
                    Refusal::new(422, "invalid_birth_date", msg).about(f)
                })?;
            (age_on(born, today) < i32::from(threshold), "birth_date")
        }
    };
    if !minor || !eval.consents.iter().any(|(_, granted, _)| *granted) {
        return Ok(None);
    }
    let refuse = |field: Option<&str>| {
        let msg = format!("the subject is under {threshold}: a consent counts only with a parent's or guardian's consent and their identity (GDPR Art. 8(1); 152-FZ with Civil Code Art. 26, 28)");
        let r = Refusal::new(422, "guardian_consent_required", msg);
        match field {
            Some(f) => r.about(f),
            None => r,
        }
    };
    let Some(g) = &route.guardian else {
        return Err(refuse(None));
    };
    if !value(leaves, &g.consent).is_some_and(is_truthy) {
        return Err(refuse(Some(&g.consent)));
    }
    if let Some(missing) = g.fields.iter().find(|f| value(leaves, f).is_none()) {
        return Err(refuse(Some(missing)));
    }
    Ok(Some(Guardian {
        fields: g.fields.clone(),
        age_known_by: known_by,
        age_of_consent: threshold,
    }))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::intake::evaluate;
    use crate::intake::tests::leaves;

    const POLICY: &str = r#"controller:
  name: "Школа"
  address: "Moscow"
  email: privacy@school.example
  dpo: {name: "D", email: dpo@school.example}
  regimes: [fz152]
  database_location: {country: RU, city: Moscow, address: "Red Square, 1"}
  token_domain: relay.school.example
categories:
  - {id: contact, name: "Contact"}
  - {id: identity, name: "Name and birth date"}
  - {id: guardian, name: "Parent or guardian"}
purposes:
  - id: newsletter
    description: "News"
    legal_basis: consent
    consent: {text: consents/marketing.md, version: 2}
    categories: [contact, identity, guardian]
    retention: {keep: P1Y, from: consent}
upstreams:
  - {id: crm, url: "http://127.0.0.1:9000"}
routes:
  - id: signup
    match: {method: POST, path: /signup}
    upstream: crm
    purposes: [newsletter]
    subject: {field: email}
    fields:
      email: {category: contact, action: tokenize, kind: email}
      birth_date: {category: identity, action: encrypt}
      parent_name: {category: guardian, action: encrypt}
    consents:
      newsletter: {field: agree, required: false}
    age: {field: birth_date}
    guardian: {consent: parent_agrees, fields: [parent_name]}
"#;

    fn policy(text: &str) -> Policy {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies");
        Policy::from_sources(&dir, &[(PathBuf::from("p.yaml"), text.to_owned())])
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn date(s: &str) -> Date {
        parse_birth_date(s).unwrap()
    }

    #[test]
    fn birth_dates_and_ages() {
        assert_eq!(date("2012-03-09"), date("09.03.2012"));
        for bad in [
            "2012-13-01",
            "31.02.2012",
            "12-03-09",
            "2012/03/09",
            "",
            "вчера",
        ] {
            assert_eq!(parse_birth_date(bad), None, "{bad}");
        }
        let born = date("2012-03-09");
        assert_eq!(
            age_on(born, date("2026-03-08")),
            13,
            "the day before the birthday"
        );
        assert_eq!(age_on(born, date("2026-03-09")), 14, "on the birthday");
        // Born on 29 February: a year older on 1 March of a common year.
        let leap = date("2012-02-29");
        assert_eq!(age_on(leap, date("2026-02-28")), 13);
        assert_eq!(age_on(leap, date("2026-03-01")), 14);
    }

    #[test]
    fn a_minor_consents_only_with_a_guardian_whose_identity_the_form_carries() {
        let p = policy(POLICY);
        let route = &p.routes[0];
        let today = date("2026-12-07");
        let run = |pairs: &[(&str, &str)]| {
            let l = leaves(pairs);
            let eval = evaluate(&p, route, &l).map_err(|r| r.code)?;
            check(&p, route, &l, &eval, today).map_err(|r| r.code)
        };
        let child = [
            ("email", "kid@mail.ru"),
            ("birth_date", "2014-05-01"),
            ("agree", "on"),
        ];
        assert_eq!(run(&child), Err("guardian_consent_required"));
        let mut with_parent = child.to_vec();
        with_parent.extend([("parent_agrees", "on"), ("parent_name", "Анна Петрова")]);
        let g = run(&with_parent).unwrap().unwrap();
        assert_eq!(
            (g.fields, g.age_known_by, g.age_of_consent),
            (vec!["parent_name".to_owned()], "birth_date", 14)
        );
        // The guardian's box without their identity is not enough.
        assert_eq!(
            run(&[&child[..], &[("parent_agrees", "on")]].concat()),
            Err("guardian_consent_required")
        );
        // No consent given: nothing to countersign. An adult (14 today) consents alone.
        assert_eq!(
            run(&[("email", "kid@mail.ru"), ("birth_date", "2014-05-01")]),
            Ok(None)
        );
        assert_eq!(
            run(&[
                ("email", "a@mail.ru"),
                ("birth_date", "2012-12-07"),
                ("agree", "on")
            ]),
            Ok(None)
        );
        assert_eq!(
            run(&[
                ("email", "a@mail.ru"),
                ("birth_date", "2012-12-08"),
                ("agree", "on")
            ]),
            Err("guardian_consent_required")
        );
        for bad in ["", "2030-01-01", "soon"] {
            assert_eq!(
                run(&[("email", "a@mail.ru"), ("birth_date", bad), ("agree", "on")]),
                Err("invalid_birth_date"),
                "{bad:?}"
            );
        }
        // Under the GDPR too, the higher age applies: 16.
        let both = policy(
            &POLICY
                .replace("regimes: [fz152]", "regimes: [fz152, gdpr]")
                .replace("9000\"}", "9000\", safeguards: scc}"),
        );
        assert_eq!(age_of_consent(&both), 16);
    }

    #[test]
    fn a_confirmation_box_left_unchecked_counts_as_a_minor() {
        let p = policy(&POLICY.replace("age: {field: birth_date}", "age: {confirm: over_14}"));
        let route = &p.routes[0];
        let run = |pairs: &[(&str, &str)]| {
            let l = leaves(pairs);
            let eval = evaluate(&p, route, &l).unwrap();
            check(&p, route, &l, &eval, date("2026-12-07")).map_err(|r| r.code)
        };
        assert_eq!(
            run(&[("email", "a@mail.ru"), ("agree", "on"), ("over_14", "on")]),
            Ok(None)
        );
        assert_eq!(
            run(&[("email", "a@mail.ru"), ("agree", "on")]),
            Err("guardian_consent_required")
        );
        let g = run(&[
            ("email", "a@mail.ru"),
            ("agree", "on"),
            ("parent_agrees", "yes"),
            ("parent_name", "A"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(g.age_known_by, "confirmation");
    }
}
