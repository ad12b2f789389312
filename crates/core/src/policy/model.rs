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
    pub database_location: String,
    pub token_domain: String,
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
    #[serde(default)]
    pub special: bool,
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
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentRef {
    pub text: String,
    pub version: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    pub name: String,
    pub country: String,
    #[serde(default)]
    pub purpose: Option<String>,
    /// For a transfer outside the EEA under GDPR: the Art. 45/46 ground (adequacy decision, SCCs…).
    #[serde(default)]
    pub safeguards: Option<String>,
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
    /// For a transfer outside the EEA under GDPR: the Art. 45/46 ground.
    #[serde(default)]
    pub safeguards: Option<String>,
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
    /// For a transfer outside the EEA under GDPR: the Art. 45/46 ground.
    #[serde(default)]
    pub safeguards: Option<String>,
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
