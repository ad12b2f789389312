//! The rules of law a policy set must keep before pdgate serves it: localization (152-FZ
//! Art. 18(5)), transfers of GDPR-regime data out of the EEA (GDPR Chapter V), special categories
//! and biometrics (152-FZ Art. 10, 11; GDPR Art. 9), minors' routes (GDPR Art. 8), consent to
//! distribution (152-FZ Art. 10.1) and the controller's state identifiers. Each is checked on the
//! compiled policy and reported at the line that breaks it; `policy check` and `serve` refuse the
//! set.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::model::{self, LegalBasis, Regime, Safeguards};
use super::{is_foreign, yaml, Compiler, ConsentMethod, Loc, Policy, Raw, RouteKind};
use crate::actions::Action;

/// The shipped list of where GDPR-regime data may go without safeguards.
pub const EU_SHIPPED: &str = include_str!("../../../../data/eu-adequacy.txt");

/// How the GDPR sees a destination's country.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EuStatus {
    /// In the European Economic Area: no transfer.
    Eea,
    /// Covered by an adequacy decision (Art. 45).
    Adequate,
    /// A decision covers only some recipients there (the US DPF, Canada's PIPEDA).
    Partial,
    /// A third country without a decision: safeguards (Art. 46, 47) or a derogation (Art. 49).
    ThirdCountry,
}

impl EuStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EuStatus::Eea => "eea",
            EuStatus::Adequate => "adequacy_decision",
            EuStatus::Partial => "partial_adequacy_decision",
            EuStatus::ThirdCountry => "third_country",
        }
    }
}

/// The EEA and the Commission's adequacy decisions, by ISO 3166-1 alpha-2 code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EuAdequacy {
    eea: BTreeSet<String>,
    full: BTreeSet<String>,
    partial: BTreeSet<String>,
}

impl EuAdequacy {
    /// The list pdgate ships, parsed once.
    pub fn shipped() -> &'static EuAdequacy {
        static LIST: std::sync::OnceLock<EuAdequacy> = std::sync::OnceLock::new();
        LIST.get_or_init(|| {
            EuAdequacy::parse(EU_SHIPPED).expect("the shipped EU adequacy list parses")
        })
    }

    /// One code per line, then nothing, `eea` or `partial`; `#` comments. Errors name the line.
    pub fn parse(text: &str) -> Result<EuAdequacy, String> {
        let mut list = EuAdequacy {
            eea: BTreeSet::new(),
            full: BTreeSet::new(),
            partial: BTreeSet::new(),
        };
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or_default();
            let mut words = line.split_whitespace();
            let Some(code) = words.next() else { continue };
            if !super::is_country_code(code) {
                return Err(format!("line {}: `{code}` is not a country code", i + 1));
            }
            let set = match (words.next(), words.next()) {
                (None, _) => &mut list.full,
                (Some("eea"), None) => &mut list.eea,
                (Some("partial"), None) => &mut list.partial,
                _ => {
                    return Err(format!(
                        "line {}: write `CC`, `CC eea` or `CC partial`",
                        i + 1
                    ))
                }
            };
            set.insert(code.to_ascii_uppercase());
        }
        Ok(list)
    }

    pub fn status(&self, country: &str) -> EuStatus {
        let c = country.to_ascii_uppercase();
        if self.eea.contains(&c) {
            EuStatus::Eea
        } else if self.full.contains(&c) {
            EuStatus::Adequate
        } else if self.partial.contains(&c) {
            EuStatus::Partial
        } else {
            EuStatus::ThirdCountry
        }
    }
}

/// Why a GDPR transfer to `country` under `safeguards` is not allowed, if it is not.
pub fn chapter_v_refusal(
    status: EuStatus,
    country: &str,
    safeguards: Option<Safeguards>,
) -> Option<String> {
    let grounds = "`safeguards: scc` (Art. 46(2)(c)), `bcr` (Art. 47) or `derogation` (Art. 49(1))";
    match (status, safeguards) {
        (EuStatus::Eea | EuStatus::Adequate, _) => None,
        (EuStatus::Partial, Some(_)) => None,
        (EuStatus::Partial, None) => Some(format!(
            "{country}'s adequacy decision covers only some recipients: write `safeguards: adequacy` if this one is covered (GDPR Art. 45(1)), else {grounds}"
        )),
        (EuStatus::ThirdCountry, Some(Safeguards::Adequacy)) | (EuStatus::ThirdCountry, None) => {
            Some(format!(
                "{country} is a third country without an adequacy decision (GDPR Art. 44, 45): data under the GDPR goes there only with {grounds}"
            ))
        }
        (EuStatus::ThirdCountry, Some(_)) => None,
    }
}

/// Whether a declared field's value is kept in the vault (and erased with the subject): a
/// category, and an action that stores it.
fn vaulted(category: Option<&str>, action: Action) -> bool {
    category.is_some() && matches!(action, Action::Tokenize | Action::Encrypt)
}

/// A field action that lets the receiver read the value, or test guesses against it.
fn reveals(a: Action) -> bool {
    matches!(a, Action::Pass | Action::Mask | Action::Hash)
}

/// 152-FZ Art. 10(2) points that permit special categories without written consent (point 1).
const ART_10_2_POINTS: &[&str] = &[
    "2", "2.1", "2.2", "2.3", "3", "4", "5", "6", "7", "7.1", "8", "9", "10",
];

/// Whether `g` names a ground of 152-FZ Art. 10(2) (other than consent) or 11(2).
fn fz152_ground_ok(g: &str, special: bool, biometric: bool) -> bool {
    let g = g.trim();
    let art10 = g
        .strip_prefix("10(2)(")
        .and_then(|r| r.strip_suffix(')'))
        .is_some_and(|p| ART_10_2_POINTS.contains(&p));
    match (special, biometric) {
        (true, false) => art10,
        (false, true) => g == "11(2)",
        _ => false,
    }
}

/// Whether `g` names a ground of GDPR Art. 9(2) other than consent.
fn gdpr_ground_ok(g: &str) -> bool {
    g.trim()
        .strip_prefix("9(2)(")
        .and_then(|r| r.strip_suffix(')'))
        .is_some_and(|p| p.len() == 1 && ('b'..='j').contains(&p.chars().next().unwrap_or('a')))
}

/// Whether `inn` is a valid taxpayer number: 10 digits (an organisation) or 12 (a person), with
/// the check digits of the Federal Tax Service's algorithm.
pub fn inn_ok(inn: &str) -> bool {
    let d: Vec<u32> = inn.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != inn.len() {
        return false;
    }
    let check = |weights: &[u32], n: usize| {
        let sum: u32 = weights.iter().zip(&d).map(|(w, x)| w * x).sum();
        sum % 11 % 10 == d[n]
    };
    match d.len() {
        10 => check(&[2, 4, 10, 3, 5, 9, 4, 6, 8], 9),
        12 => {
            check(&[7, 2, 4, 10, 3, 5, 9, 4, 6, 8], 10)
                && check(&[3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8], 11)
        }
        _ => false,
    }
}

/// Whether `ogrn` is a valid primary state registration number: 13 digits (ОГРН, the rest of the
/// first 12 by 11) or 15 (ОГРНИП, of the first 14 by 13), the last digit of that rest checking.
pub fn ogrn_ok(ogrn: &str) -> bool {
    if !ogrn.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let (body, modulus) = match ogrn.len() {
        13 => (&ogrn[..12], 11),
        15 => (&ogrn[..14], 13),
        _ => return false,
    };
    let Ok(n) = body.parse::<u64>() else {
        return false;
    };
    let last = u64::from(ogrn.as_bytes()[ogrn.len() - 1] - b'0');
    n % modulus % 10 == last
}

type Docs = [(PathBuf, yaml::Doc)];

fn loc_of<T>(items: &[(Loc, T)], id: impl Fn(&T) -> bool) -> Option<&Loc> {
    items.iter().find(|(_, t)| id(t)).map(|(l, _)| l)
}

impl Compiler {
    /// The controller's state identifiers, checked by their check digits.
    pub(super) fn identifiers(&mut self, docs: &Docs, loc: &Loc, c: &model::Controller) {
        // The values are not repeated: a sole trader's INN and OGRNIP identify a person.
        if c.inn.as_deref().is_some_and(|i| !inn_ok(i)) {
            let msg = "inn is not a taxpayer number: 10 digits for an organisation, 12 for a person, with valid check digits";
            self.at(docs, loc, "inn", msg);
        }
        if c.ogrn.as_deref().is_some_and(|o| !ogrn_ok(o)) {
            let msg = "ogrn is not a registration number: 13 digits (ОГРН) or 15 (ОГРНИП), with a valid check digit";
            self.at(docs, loc, "ogrn", msg);
        }
    }

    /// Every rule of this module on a compiled policy set.
    pub(super) fn law(&mut self, p: &Policy, raw: &Raw, docs: &Docs) {
        self.localization(p, raw, docs);
        if p.has_regime(Regime::Gdpr) {
            self.chapter_v(p, raw, docs);
        }
        self.special_categories(p, raw, docs);
        self.minors(p, raw, docs);
        self.distribution(p, raw, docs);
    }

    /// The ages of consent, and each route's way of knowing age and taking a guardian's consent.
    fn minors(&mut self, p: &Policy, raw: &Raw, docs: &Docs) {
        let a = p.controller.age_of_consent;
        if let Some((loc, _)) = raw.controller.first() {
            if !(14..=18).contains(&a.fz152) {
                self.at(
                    docs,
                    loc,
                    "age_of_consent.fz152",
                    "age_of_consent.fz152 is 14 to 18",
                );
            }
            if !(13..=16).contains(&a.gdpr) {
                self.at(
                    docs,
                    loc,
                    "age_of_consent.gdpr",
                    "age_of_consent.gdpr is 13 to 16 (GDPR Art. 8(1))",
                );
            }
        }
        for (loc, r) in &raw.routes {
            if let Some(age) = &r.age {
                match (&age.field, &age.confirm) {
                    (Some(f), None) if r.fields.get(f).is_none_or(|x| x.category.is_none()) => {
                        let msg = format!("age.field `{f}` must be one of this route's fields, with a category (the birth date is personal data)");
                        self.at(docs, loc, "age.field", msg);
                    }
                    (None, Some(c)) if r.fields.contains_key(c) => {
                        let msg = format!("age.confirm `{c}` is a checkbox, not a declared field");
                        self.at(docs, loc, "age.confirm", msg);
                    }
                    (Some(_), None) | (None, Some(_)) => {}
                    _ => self.at(
                        docs,
                        loc,
                        "age",
                        "age: write either `field: <birth date field>` or `confirm: <checkbox>`",
                    ),
                }
            }
            let Some(g) = &r.guardian else { continue };
            if r.age.is_none() {
                self.at(
                    docs,
                    loc,
                    "guardian",
                    "guardian needs `age:` to say how a minor is known",
                );
            }
            if r.fields.contains_key(&g.consent) {
                let msg = format!(
                    "guardian.consent `{}` is a checkbox, not a declared field",
                    g.consent
                );
                self.at(docs, loc, "guardian.consent", msg);
            }
            if g.fields.is_empty() {
                self.at(
                    docs,
                    loc,
                    "guardian.fields",
                    "name the fields that identify the parent or guardian",
                );
            }
            for (i, f) in g.fields.iter().enumerate() {
                let kept = r
                    .fields
                    .get(f)
                    .is_some_and(|x| vaulted(x.category.as_deref(), x.action));
                if !kept {
                    let msg = format!("guardian field `{f}` must be one of this route's fields with a category and `tokenize` or `encrypt`, so that the vault keeps who consented");
                    self.at(docs, loc, &format!("guardian.fields[{i}]"), msg);
                }
            }
        }
    }

    /// 152-FZ Art. 10.1: data made public only under a consent of its own.
    fn distribution(&mut self, p: &Policy, raw: &Raw, docs: &Docs) {
        for (loc, purpose) in raw.purposes.iter().filter(|(_, x)| x.distribution) {
            let Some(text) = purpose
                .consent
                .as_ref()
                .filter(|_| purpose.legal_basis == LegalBasis::Consent)
            else {
                let msg = format!("152-FZ Art. 10.1(1): purpose `{}` makes data public: it rests on the subject's consent to distribution, `legal_basis: consent`", purpose.id);
                self.at(docs, loc, "distribution", msg);
                continue;
            };
            let shared = raw.purposes.iter().find(|(_, o)| {
                o.id != purpose.id && o.consent.as_ref().is_some_and(|c| c.text == text.text)
            });
            if let Some((_, o)) = shared {
                let msg = format!("152-FZ Art. 10.1(1): the consent to distribution is given separately from other consents; `{}` shares its text with `{}`", purpose.id, o.id);
                self.at(docs, loc, "consent.text", msg);
            }
        }
        for route in &p.routes {
            let Some(loc) = loc_of(&raw.routes, |r| r.id == route.id) else {
                continue;
            };
            for rc in &route.consents {
                let id = &p.purpose(rc.purpose).def.id;
                let public = p.purpose(rc.purpose).def.distribution;
                let terms = rc.conditions_field.is_some() || rc.bans_field.is_some();
                if terms && !public {
                    let msg = format!("conditions_field and bans_field belong to a distribution purpose (152-FZ Art. 10.1(9)); `{id}` is not one");
                    self.at(docs, loc, &format!("consents.{id}"), msg);
                }
                let bundled = route
                    .consents
                    .iter()
                    .any(|o| o.purpose != rc.purpose && o.field == rc.field);
                if public && bundled {
                    let msg = format!("152-FZ Art. 10.1(1): the consent to distribution has a checkbox of its own; `{}` also gives another consent", rc.field);
                    self.at(docs, loc, &format!("consents.{id}.field"), msg);
                }
                for f in [&rc.conditions_field, &rc.bans_field].into_iter().flatten() {
                    let kept = route
                        .fields
                        .get(f)
                        .is_some_and(|x| vaulted(x.category.as_deref(), x.action));
                    if !kept {
                        let msg = format!("`{f}` (the subject's conditions or bans) must be one of this route's fields with a category and `tokenize` or `encrypt`: kept in the vault, erased with the subject");
                        self.at(docs, loc, &format!("consents.{id}"), msg);
                    }
                }
            }
        }
    }

    /// 152-FZ Art. 18(5): the database is in Russia, and nothing leaves it in a readable form
    /// before it is recorded there.
    fn localization(&mut self, p: &Policy, raw: &Raw, docs: &Docs) {
        if !p.has_regime(Regime::Fz152) {
            return;
        }
        self.database_in_russia(p, raw, docs);
        for route in &p.routes {
            let Some(u) = route.upstream() else { continue };
            let up = &p.upstreams[u];
            let Some(loc) = loc_of(&raw.routes, |r| r.id == route.id) else {
                continue;
            };
            if !is_foreign(&up.country) {
                continue;
            }
            match &route.kind {
                RouteKind::Intake { .. } => self.foreign_intake(route, up, loc, docs),
                RouteKind::Pass { .. } | RouteKind::Reveal { .. } => {
                    let what = format!(
                        "route `{}` forwards its requests untouched to upstream `{}` in {}",
                        route.id, up.id, up.country
                    );
                    self.untouched_abroad(p, raw, docs, loc, &what);
                }
                RouteKind::Blocked { .. } => {}
            }
        }
        if let Some(d) = p.default_upstream.map(|i| &p.upstreams[i]) {
            if is_foreign(&d.country) {
                let loc = raw.default_upstream[0].0.clone();
                let what = format!(
                    "the default upstream `{}` is in {}: every request no route declares goes there untouched",
                    d.id, d.country
                );
                self.untouched_abroad(p, raw, docs, &loc, &what);
            }
        }
    }

    fn database_in_russia(&mut self, p: &Policy, raw: &Raw, docs: &Docs) {
        let Some((loc, _)) = raw.controller.first() else {
            return;
        };
        match &p.controller.database_location {
            None => self.at(docs, loc, "", "152-FZ Art. 18(5), 22(3)(10.1): name where the database is: `database_location: {country: RU, city: Moscow, address: \"…\", hosting: \"…\"}`"),
            Some(model::LocationDef::Text(_)) => {}
            Some(model::LocationDef::Place(l)) if is_foreign(&l.country) => {
                let msg = format!("152-FZ Art. 18(5): the personal data of Russian citizens is recorded, systematized, accumulated, stored, clarified and extracted in databases in Russia; database_location.country is {}", l.country);
                self.at(docs, loc, "database_location.country", msg);
            }
            Some(model::LocationDef::Place(_)) => {}
        }
    }

    /// An intake route to a foreign upstream: only tokens and `encrypt` envelopes may go.
    fn foreign_intake(
        &mut self,
        route: &super::Route,
        up: &super::Upstream,
        loc: &Loc,
        docs: &Docs,
    ) {
        let mut names: Vec<&String> = route.fields.keys().collect();
        names.sort();
        for name in names {
            let f = &route.fields[name];
            let Some(cat) = f.category.as_deref().filter(|_| reveals(f.action)) else {
                continue;
            };
            let msg = format!(
                "152-FZ Art. 18(5): route `{}` sends `{name}` (category `{cat}`) to upstream `{}` in {} as `{}`, which reveals it; abroad only tokens and `encrypt` envelopes may go, after the value is recorded in the vault in Russia: write `action: tokenize` or `action: encrypt`",
                route.id,
                up.id,
                up.country,
                f.action.as_str()
            );
            self.at(docs, loc, &format!("fields.{name}.action"), msg);
        }
        if route.unknown_fields == super::UnknownFields::Pass {
            let msg = format!(
                "152-FZ Art. 18(5): route `{}` passes undeclared fields untouched to upstream `{}` in {}; write `unknown_fields: drop` or `reject`",
                route.id, up.id, up.country
            );
            self.at(docs, loc, "unknown_fields", msg);
        }
    }

    /// Requests forwarded untouched abroad: refused unless the policies say none of them carries
    /// personal data (`allow_unmatched_abroad: true`), and then a warning.
    fn untouched_abroad(&mut self, p: &Policy, raw: &Raw, docs: &Docs, loc: &Loc, what: &str) {
        if p.allow_unmatched_abroad {
            let msg = format!("{what}; `allow_unmatched_abroad: true` says none of them carries personal data: anything personal in them leaves Russia unrecorded (152-FZ Art. 18(5)); `discovery: true` lists such flows");
            let at = raw.allow_unmatched_abroad.first().map_or(loc, |(l, _)| l);
            self.warn(docs, at, "", msg);
        } else {
            let msg = format!("152-FZ Art. 18(5): {what}, personal data included; declare the forms that carry it as routes with `tokenize`/`encrypt` fields, and write `allow_unmatched_abroad: true` to state that the rest carries none");
            self.at(docs, loc, "", msg);
        }
    }

    /// GDPR Chapter V: every destination outside the EEA and the adequacy decisions names its
    /// ground. Russia has no adequacy decision, so a Russian CRM or courier needs one too.
    fn chapter_v(&mut self, p: &Policy, raw: &Raw, docs: &Docs) {
        let eu = EuAdequacy::shipped();
        let check = |c: &mut Compiler, loc: &Loc, sub: &str, who: String, country: &str, s| {
            if let Some(why) = chapter_v_refusal(eu.status(country), country, s) {
                c.at(docs, loc, sub, format!("{who}: {why}"));
            }
        };
        for (loc, purpose) in &raw.purposes {
            for (i, r) in purpose.recipients.iter().enumerate() {
                let who = format!("recipient `{}` of `{}`", r.name, purpose.id);
                let sub = format!("recipients[{i}]");
                check(self, loc, &sub, who, &r.country, r.safeguards);
            }
        }
        for u in &p.upstreams {
            if let Some(loc) = loc_of(&raw.upstreams, |x| x.id == u.id) {
                let who = format!("upstream `{}`", u.id);
                check(self, loc, "", who, &u.country, u.safeguards);
            }
        }
        for s in &p.services {
            if let Some(loc) = loc_of(&raw.services, |x| x.id == s.id) {
                let who = format!("service `{}`", s.id);
                check(self, loc, "", who, s.country(), s.safeguards);
            }
        }
    }

    /// Special categories and biometrics only under written consent or a declared ground.
    fn special_categories(&mut self, p: &Policy, raw: &Raw, docs: &Docs) {
        for (loc, purpose) in &raw.purposes {
            let cats = p
                .categories
                .iter()
                .filter(|c| purpose.categories.contains(&c.id));
            let (special, biometric) = cats.fold((false, false), |(s, b), c| {
                (s || c.special, b || c.biometric)
            });
            let written = purpose.legal_basis == LegalBasis::Consent
                && purpose.consent.as_ref().is_some_and(|c| c.written);
            if !(special || biometric) {
                if purpose.special_grounds.is_some() {
                    let msg = format!("purpose `{}` declares special_grounds but none of its categories is `special` or `biometric`", purpose.id);
                    self.warn(docs, loc, "special_grounds", msg);
                }
                continue;
            }
            if written {
                self.written_consent_routes(p, purpose, docs, raw);
                continue;
            }
            let grounds = purpose.special_grounds.clone().unwrap_or_default();
            if p.has_regime(Regime::Fz152)
                && !grounds
                    .fz152
                    .as_deref()
                    .is_some_and(|g| fz152_ground_ok(g, special, biometric))
            {
                let msg = fz152_message(&purpose.id, special, biometric, grounds.fz152.as_deref());
                self.at(docs, loc, "", msg);
            }
            if p.has_regime(Regime::Gdpr) && !grounds.gdpr.as_deref().is_some_and(gdpr_ground_ok) {
                let msg = format!("GDPR Art. 9(1): purpose `{}` collects special categories of data (biometrics used to identify included); they need explicit consent (`consent: {{text: …, version: …, written: true}}`) or `special_grounds: {{gdpr: \"9(2)(b)\"}}` … `\"9(2)(j)\"`", purpose.id);
                self.at(docs, loc, "", msg);
            }
        }
    }

    /// A written consent is not a checkbox: each route records it from the system that holds
    /// the signed document (`method: api`).
    fn written_consent_routes(
        &mut self,
        p: &Policy,
        purpose: &model::Purpose,
        docs: &Docs,
        raw: &Raw,
    ) {
        let Some(ix) = p.purpose_index(&purpose.id) else {
            return;
        };
        for route in &p.routes {
            let Some(rc) = route.consents.iter().find(|c| c.purpose == ix) else {
                continue;
            };
            if rc.method != ConsentMethod::Api {
                let Some(loc) = loc_of(&raw.routes, |r| r.id == route.id) else {
                    continue;
                };
                let msg = format!("purpose `{}` needs consent in writing (152-FZ Art. 9(4), 10(2)(1), 11(1)): a form's checkbox is not one; record it with `method: api` from the system that holds the signed document", purpose.id);
                self.at(docs, loc, &format!("consents.{}.method", purpose.id), msg);
            }
        }
    }
}

fn fz152_message(id: &str, special: bool, biometric: bool, given: Option<&str>) -> String {
    let given = given.map_or(String::new(), |g| format!(" (`{g}` is not one)"));
    match (special, biometric) {
        (true, true) => format!("152-FZ Art. 10, 11: purpose `{id}` collects both special categories and biometrics; without written consent (`consent: {{…, written: true}}`) declare them under separate purposes, each with its own ground{given}"),
        (true, false) => format!("152-FZ Art. 10(2): purpose `{id}` collects special categories; they need written consent (`consent: {{…, written: true}}`) or `special_grounds: {{fz152: \"10(2)(N)\"}}` naming a point of Art. 10(2){given}"),
        _ => format!("152-FZ Art. 11: purpose `{id}` collects biometrics; they need written consent (`consent: {{…, written: true}}`) or `special_grounds: {{fz152: \"11(2)\"}}`{given}"),
    }
}
