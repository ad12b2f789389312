//! The policy file format of SPEC 14 as serde types. Unknown keys are errors everywhere.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::actions::{Action, Kind};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Controller {
    pub name: String,
    pub address: String,
    pub email: String,
    #[serde(default)]
    pub phone: Option<String>,
    pub dpo: Dpo,
    pub regimes: Vec<Regime>,
    /// Where the vault's database is (152-FZ Art. 18(5), Art. 22(3)(10.1)); required under 152-FZ,
    /// and then in Russia.
    #[serde(default)]
    pub database_location: Option<LocationDef>,
    pub token_domain: String,
    /// Taxpayer identification number (ИНН): 10 digits for an organisation, 12 for a person.
    #[serde(default)]
    pub inn: Option<String>,
    /// Primary state registration number (ОГРН, 13 digits; ОГРНИП, 15).
    #[serde(default)]
    pub ogrn: Option<String>,
    /// The operator's number in Roskomnadzor's register of operators, once entered.
    #[serde(default)]
    pub rkn_registry_number: Option<String>,
    /// The representative in the Union (GDPR Art. 27) of a controller established outside it.
    #[serde(default)]
    pub eu_representative: Option<Representative>,
    /// Joint controllers (GDPR Art. 26, 30(1)(a)).
    #[serde(default)]
    pub joint_controllers: Vec<Representative>,
    /// Below these ages a consent-based purpose needs a parent's or guardian's consent.
    #[serde(default)]
    pub age_of_consent: AgeOfConsent,
    /// The person responsible for organizing processing (152-FZ Art. 22(3)(7.1)); the DPO when
    /// not given.
    #[serde(default)]
    pub responsible: Option<Responsible>,
    /// When processing started (152-FZ Art. 22(3)(8)), `YYYY-MM-DD`; the first audit entry when
    /// not given.
    #[serde(default)]
    pub processing_started: Option<String>,
    /// The protection level under Government Decree No. 1119 (1–4) that the operator's threat
    /// model set (152-FZ Art. 22(3)(11)).
    #[serde(default)]
    pub protection_level: Option<u8>,
}

/// `database_location` as written: the structured place, or the free text of older policies,
/// which is refused with the form to write instead.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum LocationDef {
    Place(DatabaseLocation),
    Text(String),
}

/// Where the database that records and stores the data is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseLocation {
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub city: String,
    /// The data centre's address.
    pub address: String,
    /// Who runs the data centre or hosting, when not the operator.
    #[serde(default)]
    pub hosting: Option<String>,
}

impl DatabaseLocation {
    /// One line: `RU, Moscow, <address> (hosting: …)`.
    pub fn describe(&self) -> String {
        let mut s = format!("{}, {}, {}", self.country, self.city, self.address);
        if let Some(h) = &self.hosting {
            s.push_str(&format!(" (hosting: {h})"));
        }
        s
    }
}

/// The age from which a person consents alone, per regime.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgeOfConsent {
    /// 14 in Russian practice (Civil Code Art. 26: from 14 a minor acts with a parent's consent,
    /// which pdgate asks for below 14 too); 14–18.
    pub fz152: u8,
    /// GDPR Art. 8(1): 16, or a member state's lower age, not below 13.
    pub gdpr: u8,
}

impl Default for AgeOfConsent {
    fn default() -> Self {
        AgeOfConsent {
            fz152: 14,
            gdpr: 16,
        }
    }
}

/// Another organisation named in the register: the EU representative or a joint controller.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Representative {
    pub name: String,
    pub address: String,
    #[serde(default)]
    pub email: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[serde(default)]
    pub country: Option<String>,
    /// For a joint controller: what the arrangement of Art. 26 assigns to it.
    #[serde(default)]
    pub responsibilities: Option<String>,
}

impl Controller {
    /// The structured database location (free text is refused when the policies compile).
    pub fn location(&self) -> Option<&DatabaseLocation> {
        match &self.database_location {
            Some(LocationDef::Place(l)) => Some(l),
            _ => None,
        }
    }

    /// The location on one line, or `not declared`.
    pub fn location_line(&self) -> String {
        self.location()
            .map_or_else(|| "not declared".to_owned(), DatabaseLocation::describe)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Responsible {
    pub name: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dpo {
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    Fz152,
    Gdpr,
}

impl Regime {
    pub fn as_str(self) -> &'static str {
        match self {
            Regime::Fz152 => "fz152",
            Regime::Gdpr => "gdpr",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    pub id: String,
    pub name: String,
    /// Special categories (152-FZ Art. 10(1), GDPR Art. 9(1)): race, nationality, political views,
    /// religious or philosophical beliefs, health, intimate life; under the GDPR also trade-union
    /// membership, genetic data and sexual orientation.
    #[serde(default)]
    pub special: bool,
    /// Biometric data (152-FZ Art. 11(1); under the GDPR special when used to identify, Art. 9(1)).
    #[serde(default)]
    pub biometric: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectGroup {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    Consent,
    Contract,
    LegalObligation,
    VitalInterests,
    PublicTask,
    LegitimateInterests,
}

impl LegalBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            LegalBasis::Consent => "consent",
            LegalBasis::Contract => "contract",
            LegalBasis::LegalObligation => "legal_obligation",
            LegalBasis::VitalInterests => "vital_interests",
            LegalBasis::PublicTask => "public_task",
            LegalBasis::LegitimateInterests => "legitimate_interests",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    pub id: String,
    pub description: String,
    pub legal_basis: LegalBasis,
    #[serde(default)]
    pub consent: Option<ConsentRef>,
    pub categories: Vec<String>,
    #[serde(default)]
    pub subjects: Vec<String>,
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub recipients: Vec<Recipient>,
    #[serde(default)]
    pub retention: Option<Retention>,
    /// Promotion of goods or services by direct contact (152-FZ Art. 15, GDPR Art. 21(2)): an
    /// objection ends it as soon as it is received, without the DPO's decision (Art. 15(2):
    /// "immediately"; GDPR Art. 21(3)).
    #[serde(default)]
    pub direct_marketing: bool,
    /// For special or biometric categories collected without written consent: the ground of
    /// 152-FZ Art. 10(2) / 11(2) and of GDPR Art. 9(2) the processing rests on.
    #[serde(default)]
    pub special_grounds: Option<SpecialGrounds>,
    /// Makes data publicly accessible (152-FZ Art. 10.1): consent-based, with a consent text of
    /// its own and a consent field of its own, the subject's conditions and bans recorded.
    #[serde(default)]
    pub distribution: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpecialGrounds {
    /// `10(2)(N)` (special categories) or `11(2)` (biometrics).
    #[serde(default)]
    pub fz152: Option<String>,
    /// `9(2)(b)` … `9(2)(j)`; `9(2)(a)` is explicit consent, written as `consent: {written: true}`.
    #[serde(default)]
    pub gdpr: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentRef {
    pub text: String,
    pub version: u32,
    /// Consent in writing (152-FZ Art. 9(4): on paper or an electronic document with an
    /// electronic signature), as special categories and biometrics need without another ground.
    /// A checkbox is not written: routes record it with `method: api` from the system that holds
    /// the signed document.
    #[serde(default)]
    pub written: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    pub name: String,
    pub country: String,
    #[serde(default)]
    pub purpose: Option<String>,
    /// For a transfer outside the EEA under GDPR: the Chapter V ground.
    #[serde(default)]
    pub safeguards: Option<Safeguards>,
}

/// The ground for a transfer of GDPR-regime data to a third country (GDPR Chapter V).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Safeguards {
    /// The Commission's standard contractual clauses (Art. 46(2)(c)).
    Scc,
    /// Binding corporate rules (Art. 46(2)(b), 47).
    Bcr,
    /// A derogation for a specific situation (Art. 49(1)).
    Derogation,
    /// An adequacy decision that covers this recipient where it covers only some (Art. 45(1)):
    /// a US organisation certified under the Data Privacy Framework, a Canadian one under PIPEDA.
    Adequacy,
}

impl Safeguards {
    pub fn as_str(self) -> &'static str {
        match self {
            Safeguards::Scc => "scc",
            Safeguards::Bcr => "bcr",
            Safeguards::Derogation => "derogation",
            Safeguards::Adequacy => "adequacy",
        }
    }

    /// The article the ground rests on.
    pub fn article(self) -> &'static str {
        match self {
            Safeguards::Scc => "GDPR Art. 46(2)(c)",
            Safeguards::Bcr => "GDPR Art. 46(2)(b), 47",
            Safeguards::Derogation => "GDPR Art. 49(1)",
            Safeguards::Adequacy => "GDPR Art. 45(1)",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub keep: String,
    pub from: RetentionAnchor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionAnchor {
    Collected,
    Consent,
    LastActivity,
    PurposeEnd,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LegalHold {
    pub category: String,
    pub basis: String,
    pub keep: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub id: String,
    pub purposes: Vec<String>,
    /// ISO 3166-1 alpha-2 country the service runs in; `RU` when not given.
    #[serde(default)]
    pub country: Option<String>,
    /// For a transfer outside the EEA under GDPR: the Chapter V ground.
    #[serde(default)]
    pub safeguards: Option<Safeguards>,
}

impl Service {
    /// The country, `RU` when the policy names none (upper case once compiled).
    pub fn country(&self) -> &str {
        self.country.as_deref().unwrap_or("RU")
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    pub id: String,
    pub url: String,
    #[serde(default)]
    pub erasure_webhook: Option<String>,
    /// ISO 3166-1 alpha-2 country the upstream runs in; `RU` when not given.
    #[serde(default)]
    pub country: Option<String>,
    /// For a transfer outside the EEA under GDPR: the Chapter V ground.
    #[serde(default)]
    pub safeguards: Option<Safeguards>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub id: String,
    #[serde(rename = "match")]
    pub matcher: Match,
    /// Required unless the route is blocked.
    #[serde(default)]
    pub upstream: String,
    /// Refuse every request on this route (403 `route_blocked`): how a DPO stops an undeclared
    /// flow that discovery found.
    #[serde(default)]
    pub block: bool,
    #[serde(default)]
    pub purposes: Vec<String>,
    #[serde(default)]
    pub subject: Option<SubjectField>,
    #[serde(default)]
    pub fields: BTreeMap<String, Field>,
    #[serde(default)]
    pub consents: BTreeMap<String, ConsentField>,
    #[serde(default)]
    pub unknown_fields: UnknownFields,
    /// Outbound: show staff plaintext for these tokens in upstream responses.
    #[serde(default)]
    pub reveal: Option<RevealDef>,
    /// What a browser's classic form post gets when it is refused (API clients get JSON).
    #[serde(default)]
    pub on_refusal: Option<OnRefusalDef>,
    /// How the subject's age is known: a birth date field or a confirmation checkbox.
    #[serde(default)]
    pub age: Option<AgeDef>,
    /// Where a parent's or guardian's consent and identity come in for a minor.
    #[serde(default)]
    pub guardian: Option<GuardianDef>,
}

/// One of `field` (a declared field holding the birth date, `YYYY-MM-DD` or `DD.MM.YYYY`) or
/// `confirm` (a checkbox: "I am at least N years old"; unchecked counts as a minor).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgeDef {
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub confirm: Option<String>,
}

/// The guardian's consent checkbox and the declared fields that identify the guardian.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GuardianDef {
    pub consent: String,
    pub fields: Vec<String>,
}

/// One of: `redirect` (a URL of the site; `error=<code>&field=<name>` is appended) or `page` (a
/// template under the policies, `<page>.ru.html` and/or `<page>.en.html`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OnRefusalDef {
    #[serde(default)]
    pub redirect: Option<String>,
    #[serde(default)]
    pub page: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RevealDef {
    /// The purpose the staff UI serves; the same checks as detokenize apply for it.
    pub purpose: String,
    /// Staff roles (admin, dpo, auditor, service) that may see plaintext.
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
    /// Paths match regardless of letter case unless this is true.
    #[serde(default)]
    pub case_sensitive: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectField {
    pub field: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    #[serde(default)]
    pub category: Option<String>,
    pub action: Action,
    #[serde(default)]
    pub kind: Option<Kind>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentField {
    pub field: String,
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(default)]
    pub method: ConsentMethod,
    /// For a distribution purpose (152-FZ Art. 10.1(9)): the declared field with the subject's
    /// conditions on the data made public, and the one with the subject's bans.
    #[serde(default)]
    pub conditions_field: Option<String>,
    #[serde(default)]
    pub bans_field: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMethod {
    #[default]
    Checkbox,
    Api,
    DoubleOptIn,
}

impl ConsentMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentMethod::Checkbox => "checkbox",
            ConsentMethod::Api => "api",
            ConsentMethod::DoubleOptIn => "double_opt_in",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UnknownFields {
    #[default]
    Drop,
    Reject,
    Pass,
}

/// Consent text front matter: the elements 152-FZ Art. 9(4) requires of a consent document.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentFront {
    #[serde(default)]
    pub operator: Option<String>,
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub data: Option<Vec<String>>,
    #[serde(default)]
    pub actions: Option<Vec<String>>,
    #[serde(default)]
    pub methods: Option<String>,
    #[serde(default)]
    pub processors: Option<Vec<String>>,
    #[serde(default)]
    pub term: Option<String>,
    #[serde(default)]
    pub withdrawal: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
}
