//! Policies: what each route collects, why, and what happens to every field (SPEC 14).
//!
//! All YAML files under the policies directory are merged, typed and checked at once; every problem
//! is reported together with `file:line` and what to write instead, both by `serve` (which refuses to
//! start) and by `pdgate policy check`. The compiled [`Policy`] is immutable and indexed for the hot
//! path: route lookup and field decisions never allocate per request beyond the route match.

pub mod canonical;
pub mod duration;
pub mod law;
pub mod model;
mod role;
mod route;
mod yaml;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::actions::{Action, Kind};
pub use law::{chapter_v_refusal, EuAdequacy, EuStatus};
pub use model::{ConsentMethod, LegalBasis, Regime, UnknownFields};
pub use role::Role;
pub use route::PathMatcher;

/// One problem in the policies, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// A message at `sub` below `loc`, with its file and line.
fn place(
    docs: &[(PathBuf, yaml::Doc)],
    loc: &Loc,
    sub: &str,
    message: impl Into<String>,
) -> PolicyError {
    let path = if sub.is_empty() {
        loc.path.clone()
    } else {
        format!("{}.{sub}", loc.path)
    };
    let (file, doc) = &docs[loc.doc];
    PolicyError {
        file: file.clone(),
        line: doc.line(&path),
        message: message.into(),
    }
}

fn by_place(a: &PolicyError, b: &PolicyError) -> std::cmp::Ordering {
    (&a.file, a.line).cmp(&(&b.file, b.line))
}

/// Every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        write!(f, "{} error(s) in policies", self.0.len())
    }
}

impl std::error::Error for PolicyErrors {}

/// Whether a country is abroad from the operator's point of view (152-FZ: outside Russia).
pub fn is_foreign(country: &str) -> bool {
    !country.eq_ignore_ascii_case("RU")
}

/// The merged, validated policy set.
#[derive(Debug)]
pub struct Policy {
    pub controller: model::Controller,
    pub categories: Vec<model::Category>,
    pub subjects: Vec<model::SubjectGroup>,
    pub purposes: Vec<Purpose>,
    pub legal_holds: Vec<LegalHold>,
    pub services: Vec<model::Service>,
    pub upstreams: Vec<Upstream>,
    pub default_upstream: Option<usize>,
    /// Scan bodies on unmatched routes for personal data and list the flows found.
    pub discovery: bool,
    /// The policies state that requests no route declares, and pass routes, carry no personal
    /// data, so they may go untouched to an upstream abroad (152-FZ Art. 18(5)).
    pub allow_unmatched_abroad: bool,
    pub routes: Vec<Route>,
    pub consent_texts: Vec<ConsentText>,
    /// Where the policies came from (consent texts are resolved against it).
    pub dir: PathBuf,
    /// SHA-256 over every policy file (path and bytes), recorded in the audit log at start.
    pub sha256: String,
    /// What is valid but probably not meant (`policy check` prints these; `serve` logs them).
    pub warnings: Vec<PolicyError>,
}

#[derive(Debug)]
pub struct Purpose {
    pub def: model::Purpose,
    /// Index into [`Policy::consent_texts`] for consent-based purposes.
    pub consent_text: Option<usize>,
    pub retention: Option<duration::IsoDuration>,
}

#[derive(Debug, Clone)]
pub struct Upstream {
    pub id: String,
    pub url: http::Uri,
    pub erasure_webhook: Option<String>,
    /// ISO 3166-1 alpha-2, upper case; `RU` when the policy names none.
    pub country: String,
    pub safeguards: Option<model::Safeguards>,
}

/// A canonical path lower-cased for the routes that ignore case (it is ASCII: anything else is
/// percent-encoded); borrowed when there is nothing to fold, as on most requests.
fn fold_case(path: &str) -> std::borrow::Cow<'_, str> {
    match path.bytes().any(|b| b.is_ascii_uppercase()) {
        true => std::borrow::Cow::Owned(path.to_ascii_lowercase()),
        false => std::borrow::Cow::Borrowed(path),
    }
}

impl Route {
    /// How well `path` (and its case-folded form `lower`) matches this route.
    fn score(&self, path: &str, lower: &str) -> Option<(u8, usize)> {
        self.matcher
            .score(if self.case_sensitive { path } else { lower })
    }
}

/// The environment variable that replaces upstream `id`'s URL.
pub fn upstream_url_var(id: &str) -> String {
    format!(
        "PDGATE_UPSTREAM_{}_URL",
        id.to_ascii_uppercase().replace('-', "_")
    )
}

/// A legal hold with its period parsed.
#[derive(Debug, Clone)]
pub struct LegalHold {
    pub def: model::LegalHold,
    pub keep: duration::IsoDuration,
}

/// A consent text exactly as shown, identified by file, version and the SHA-256 of its bytes.
#[derive(Debug, Clone)]
pub struct ConsentText {
    pub id: String,
    pub version: u32,
    pub sha256: String,
    pub front: model::ConsentFront,
    /// The exact text (the hash covers these bytes).
    pub body: String,
}

#[derive(Debug)]
pub struct Route {
    pub id: String,
    pub method: Option<http::Method>,
    /// Patterns lower-cased unless `case_sensitive`, as the path is before matching.
    pub matcher: PathMatcher,
    pub case_sensitive: bool,
    /// What the gateway does with a request the route takes, and where it forwards.
    pub kind: RouteKind,
    pub purposes: Vec<usize>,
    pub subject_field: Option<String>,
    pub fields: HashMap<String, Field>,
    pub consents: Vec<RouteConsent>,
    pub unknown_fields: UnknownFields,
    /// For a browser's form post that is refused; `None`: the built-in page.
    pub on_refusal: Option<OnRefusal>,
    pub age: Option<Age>,
    pub guardian: Option<model::GuardianDef>,
}

/// A route's kind; `upstream` is an index into [`Policy::upstreams`].
#[derive(Debug, Clone)]
pub enum RouteKind {
    /// Every request is refused; nothing is read or forwarded. `upstream` is where the route
    /// forwarded before it was blocked, when the policy still names it: erasures there are
    /// still told.
    Blocked { upstream: Option<usize> },
    /// Declares fields: the form is read, its personal fields stored and replaced.
    Intake { upstream: usize },
    /// Shows the CRM's pages to staff with tokens replaced by plaintext.
    Reveal { upstream: usize, reveal: Reveal },
    /// Forwarded untouched.
    Pass { upstream: usize },
}

impl Route {
    /// Where the route forwards (or forwarded, if blocked since).
    pub fn upstream(&self) -> Option<usize> {
        match self.kind {
            RouteKind::Blocked { upstream } => upstream,
            RouteKind::Intake { upstream }
            | RouteKind::Reveal { upstream, .. }
            | RouteKind::Pass { upstream } => Some(upstream),
        }
    }

    pub fn is_blocked(&self) -> bool {
        matches!(self.kind, RouteKind::Blocked { .. })
    }

    /// Whether `path` is one of the form's own controls rather than data: a consent box, the
    /// age confirmation, the guardian's box. They are forwarded as sent and never treated as
    /// undeclared fields.
    pub fn is_control(&self, path: &str) -> bool {
        self.consents.iter().any(|rc| rc.field == path)
            || matches!(&self.age, Some(Age::Confirm(f)) if f == path)
            || self.guardian.as_ref().is_some_and(|g| g.consent == path)
    }
}

/// What a browser's classic form post gets when its route refuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnRefusal {
    /// 303 to this URL of the site, with `error=<code>` and `field=<declared field>` appended.
    Redirect(String),
    /// An HTML page from the policies' templates, by the visitor's language.
    Page(std::sync::Arc<RefusalPages>),
}

/// A refusal page's templates; at least one language is present.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefusalPages {
    pub ru: Option<String>,
    pub en: Option<String>,
}

/// Who receives data from pdgate or from the operator, as the register and cross-border control
/// see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationKind {
    /// Declared under a purpose's `recipients` (pdgate itself sends nothing to them).
    Recipient,
    /// A system behind the gateway: receives tokens and ciphertext from intake routes.
    Upstream,
    /// A back-office service that may detokenize.
    Service,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination<'a> {
    pub kind: DestinationKind,
    pub name: &'a str,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: &'a str,
    pub purposes: Vec<&'a str>,
    pub safeguards: Option<model::Safeguards>,
    /// A recipient's own description of what it does with the data.
    pub detail: Option<&'a str>,
}

impl Policy {
    /// Every recipient, upstream and service with its country and the purposes it serves; an
    /// upstream serves the purposes of the intake routes that forward to it.
    pub fn destinations(&self) -> Vec<Destination<'_>> {
        let mut out = Vec::new();
        for p in &self.purposes {
            for r in &p.def.recipients {
                out.push(Destination {
                    kind: DestinationKind::Recipient,
                    name: &r.name,
                    country: &r.country,
                    purposes: vec![p.def.id.as_str()],
                    safeguards: r.safeguards,
                    detail: r.purpose.as_deref(),
                });
            }
        }
        for (i, u) in self.upstreams.iter().enumerate() {
            let mut purposes: Vec<&str> = self
                .routes
                .iter()
                .filter(|r| matches!(r.kind, RouteKind::Intake { upstream } if upstream == i))
                .flat_map(|r| r.purposes.iter().map(|&x| self.purpose(x).def.id.as_str()))
                .collect();
            purposes.sort_unstable();
            purposes.dedup();
            out.push(Destination {
                kind: DestinationKind::Upstream,
                name: &u.id,
                country: &u.country,
                purposes,
                safeguards: u.safeguards,
                detail: None,
            });
        }
        for s in &self.services {
            out.push(Destination {
                kind: DestinationKind::Service,
                name: &s.id,
                country: s.country(),
                purposes: s.purposes.iter().map(String::as_str).collect(),
                safeguards: s.safeguards,
                detail: None,
            });
        }
        out
    }
}

/// A reveal route's purpose (index) and the roles that may see plaintext.
#[derive(Debug, Clone)]
pub struct Reveal {
    pub purpose: usize,
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub category: Option<String>,
    pub action: Action,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub struct RouteConsent {
    pub purpose: usize,
    pub field: String,
    pub required: bool,
    pub method: ConsentMethod,
    /// The subject's conditions and bans on data made public (152-FZ Art. 10.1(9)).
    pub conditions_field: Option<String>,
    pub bans_field: Option<String>,
}

/// How a route learns the subject's age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Age {
    /// A declared field with the birth date.
    BirthDate(String),
    /// A checkbox: "I am at least N years old".
    Confirm(String),
}

impl Policy {
    /// Loads and validates every `*.yaml`/`*.yml` under `dir` (recursively, `consents/` excluded).
    pub fn load(dir: &Path) -> Result<Policy, PolicyErrors> {
        let mut files = Vec::new();
        collect_files(dir, &mut files).map_err(|e| {
            PolicyErrors(vec![PolicyError {
                file: dir.to_owned(),
                line: 1,
                message: format!("cannot read policies directory: {e}"),
            }])
        })?;
        files.sort();
        if files.is_empty() {
            return Err(PolicyErrors(vec![PolicyError {
                file: dir.to_owned(),
                line: 1,
                message: "no policy files (*.yaml) found; see policies/ in the pdgate repository for examples".into(),
            }]));
        }
        let mut sources = Vec::new();
        for f in files {
            match std::fs::read_to_string(&f) {
                Ok(text) => sources.push((f, text)),
                Err(e) => {
                    return Err(PolicyErrors(vec![PolicyError {
                        file: f,
                        line: 1,
                        message: format!("cannot read: {e}"),
                    }]))
                }
            }
        }
        Self::from_sources(dir, &sources)
    }

    /// Validates already-read sources; consent texts are read from `dir`.
    pub fn from_sources(dir: &Path, sources: &[(PathBuf, String)]) -> Result<Policy, PolicyErrors> {
        let mut c = Compiler {
            dir: dir.to_owned(),
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        let mut docs = Vec::new();
        for (file, text) in sources {
            match yaml::parse(text) {
                Ok(doc) => docs.push((file.clone(), doc)),
                Err(e) => c.err(file, e.line, format!("YAML syntax: {}", e.message)),
            }
        }
        let raw = c.read_all(&docs);
        let mut policy = c.compile(raw, &docs);
        if let Some(p) = policy.as_mut() {
            let mut h = Sha256::new();
            for (file, text) in sources {
                h.update(file.to_string_lossy().as_bytes());
                h.update([0]);
                h.update(text.as_bytes());
                h.update([0]);
            }
            p.sha256 = data_encoding::HEXLOWER.encode(&h.finalize());
            p.warnings = std::mem::take(&mut c.warnings);
            p.warnings.sort_by(by_place);
        }
        // In file order, as PolicyErrors promises, whatever order the checks ran in.
        c.errors.sort_by(by_place);
        if c.errors.is_empty() {
            policy.ok_or_else(|| PolicyErrors(vec![]))
        } else {
            Err(PolicyErrors(c.errors))
        }
    }

    /// The route for a request, if any: exact paths first, then `{param}` templates, then the
    /// longest prefix; method must match where the route names one.
    /// The route for a request; `path` is canonical ([`canonical::canonical_path`]), and matched
    /// case-insensitively unless the route says otherwise.
    pub fn match_route(&self, method: &http::Method, path: &str) -> Option<&Route> {
        let lower = fold_case(path);
        self.routes
            .iter()
            .filter(|r| r.method.as_ref().is_none_or(|m| m == method))
            .filter_map(|r| r.score(path, &lower).map(|s| (s, r)))
            .max_by_key(|(s, _)| *s)
            .map(|(_, r)| r)
    }

    /// The methods routes declare for `path` when none matches the request's: what a 405's
    /// `Allow` lists. Empty when a route takes any method or none covers the path.
    pub fn methods_at(&self, path: &str) -> Vec<http::Method> {
        let lower = fold_case(path);
        let mut out: Vec<http::Method> = Vec::new();
        for r in self
            .routes
            .iter()
            .filter(|r| r.score(path, &lower).is_some())
        {
            match &r.method {
                None => return Vec::new(),
                Some(m) if !out.contains(m) => out.push(m.clone()),
                Some(_) => {}
            }
        }
        out
    }

    pub fn purpose_index(&self, id: &str) -> Option<usize> {
        self.purposes.iter().position(|p| p.def.id == id)
    }

    pub fn purpose(&self, idx: usize) -> &Purpose {
        &self.purposes[idx]
    }

    /// Replaces upstream URLs from `PDGATE_UPSTREAM_<ID>_URL` (the id upper-cased, `-` as `_`),
    /// so that one set of policies serves a laptop and a container. A variable of that shape
    /// naming no upstream is an error rather than ignored: a typo would leave data flowing to
    /// the policy's URL. Returns the ids replaced.
    pub fn override_upstream_urls(
        &mut self,
        env: &std::collections::BTreeMap<String, String>,
    ) -> Result<Vec<String>, UrlOverrideError> {
        let mut replaced = Vec::new();
        for (name, value) in env {
            let Some(id) = name
                .strip_prefix("PDGATE_UPSTREAM_")
                .and_then(|r| r.strip_suffix("_URL"))
            else {
                continue;
            };
            let Some(u) = self
                .upstreams
                .iter_mut()
                .find(|u| upstream_url_var(&u.id) == *name)
            else {
                return Err(UrlOverrideError::NoSuchUpstream {
                    var: name.clone(),
                    id: id.to_owned(),
                });
            };
            match value.parse::<http::Uri>() {
                Ok(uri)
                    if matches!(uri.scheme_str(), Some("http" | "https"))
                        && uri.host().is_some() =>
                {
                    u.url = uri;
                    replaced.push(u.id.clone());
                }
                _ => {
                    return Err(UrlOverrideError::NotAUrl {
                        var: name.clone(),
                        value: value.clone(),
                    })
                }
            }
        }
        Ok(replaced)
    }

    pub fn upstream(&self, idx: usize) -> &Upstream {
        &self.upstreams[idx]
    }

    pub fn has_regime(&self, r: Regime) -> bool {
        self.controller.regimes.contains(&r)
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "consents") {
                collect_files(&path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// Raw sections from all files, each item with where it came from.
#[derive(Default)]
struct Raw {
    controller: Vec<(Loc, model::Controller)>,
    categories: Vec<(Loc, model::Category)>,
    subjects: Vec<(Loc, model::SubjectGroup)>,
    purposes: Vec<(Loc, model::Purpose)>,
    legal_holds: Vec<(Loc, model::LegalHold)>,
    services: Vec<(Loc, model::Service)>,
    upstreams: Vec<(Loc, model::Upstream)>,
    default_upstream: Vec<(Loc, String)>,
    discovery: Vec<(Loc, bool)>,
    allow_unmatched_abroad: Vec<(Loc, bool)>,
    routes: Vec<(Loc, model::Route)>,
}

/// A file (index into the docs) and a path inside it.
#[derive(Debug, Clone)]
struct Loc {
    doc: usize,
    path: String,
}

struct Compiler {
    dir: PathBuf,
    errors: Vec<PolicyError>,
    warnings: Vec<PolicyError>,
}

const SECTIONS: &[&str] = &[
    "controller",
    "categories",
    "subjects",
    "purposes",
    "legal_holds",
    "services",
    "upstreams",
    "default_upstream",
    "discovery",
    "allow_unmatched_abroad",
    "routes",
];

impl Compiler {
    fn err(&mut self, file: &Path, line: usize, message: impl Into<String>) {
        self.errors.push(PolicyError {
            file: file.to_owned(),
            line,
            message: message.into(),
        });
    }

    /// Like [`Compiler::at`], for a warning.
    fn warn(
        &mut self,
        docs: &[(PathBuf, yaml::Doc)],
        loc: &Loc,
        sub: &str,
        message: impl Into<String>,
    ) {
        let w = place(docs, loc, sub, message);
        self.warnings.push(w);
    }

    /// A country code, checked and upper-cased (ISO 3166-1 alpha-2).
    fn country(
        &mut self,
        docs: &[(PathBuf, yaml::Doc)],
        loc: &Loc,
        sub: &str,
        code: &str,
    ) -> String {
        if !is_country_code(code) {
            self.at(
                docs,
                loc,
                sub,
                format!(
                    "country `{code}` is not an ISO 3166-1 alpha-2 code (write e.g. RU, DE, US)"
                ),
            );
        }
        code.to_ascii_uppercase()
    }

    fn at(
        &mut self,
        docs: &[(PathBuf, yaml::Doc)],
        loc: &Loc,
        sub: &str,
        message: impl Into<String>,
    ) {
        let e = place(docs, loc, sub, message);
        self.errors.push(e);
    }

    fn read_all(&mut self, docs: &[(PathBuf, yaml::Doc)]) -> Raw {
        let mut raw = Raw::default();
        for (i, (file, doc)) in docs.iter().enumerate() {
            let map = match &doc.root {
                Value::Object(m) => m,
                Value::Null => continue,
                _ => {
                    self.err(file, 1, "a policy file must be a mapping of sections (controller, purposes, routes, ...)");
                    continue;
                }
            };
            for (key, value) in map {
                let loc = Loc {
                    doc: i,
                    path: key.clone(),
                };
                match key.as_str() {
                    "controller" => self.item(docs, &loc, value, &mut raw.controller),
                    "default_upstream" => self.item(docs, &loc, value, &mut raw.default_upstream),
                    "discovery" => self.item(docs, &loc, value, &mut raw.discovery),
                    "allow_unmatched_abroad" => {
                        self.item(docs, &loc, value, &mut raw.allow_unmatched_abroad)
                    }
                    "categories" => self.list(docs, &loc, value, &mut raw.categories),
                    "subjects" => self.list(docs, &loc, value, &mut raw.subjects),
                    "purposes" => self.list(docs, &loc, value, &mut raw.purposes),
                    "legal_holds" => self.list(docs, &loc, value, &mut raw.legal_holds),
                    "services" => self.list(docs, &loc, value, &mut raw.services),
                    "upstreams" => self.list(docs, &loc, value, &mut raw.upstreams),
                    "routes" => {
                        let value = self.lenient_fields(docs, &loc, value);
                        self.list(docs, &loc, &value, &mut raw.routes)
                    }
                    other => self.err(
                        file,
                        doc.line(key),
                        format!(
                            "unknown section `{other}`; expected one of: {}",
                            SECTIONS.join(", ")
                        ),
                    ),
                }
            }
        }
        raw
    }

    /// Checks each route's fields one by one and leaves out the broken ones, so one typo in a field
    /// does not hide every other problem of its route.
    fn lenient_fields(
        &mut self,
        docs: &[(PathBuf, yaml::Doc)],
        loc: &Loc,
        routes: &Value,
    ) -> Value {
        let mut routes = routes.clone();
        if let Value::Array(items) = &mut routes {
            for (i, route) in items.iter_mut().enumerate() {
                if let Some(Value::Object(fields)) = route.get_mut("fields") {
                    let mut broken = Vec::new();
                    for (name, f) in fields.iter() {
                        let floc = Loc {
                            doc: loc.doc,
                            path: format!("{}[{i}].fields.{name}", loc.path),
                        };
                        let mut sink: Vec<(Loc, model::Field)> = Vec::new();
                        let before = self.errors.len();
                        self.item(docs, &floc, f, &mut sink);
                        if self.errors.len() > before {
                            broken.push(name.clone());
                        }
                    }
                    // A neutral stand-in keeps the route's other checks from reporting the same typo again.
                    for name in broken {
                        fields.insert(name, serde_json::json!({"action": "pass"}));
                    }
                }
            }
        }
        routes
    }

    fn item<T: DeserializeOwned>(
        &mut self,
        docs: &[(PathBuf, yaml::Doc)],
        loc: &Loc,
        v: &Value,
        out: &mut Vec<(Loc, T)>,
    ) {
        match serde_path_to_error::deserialize::<_, T>(v) {
            Ok(t) => out.push((loc.clone(), t)),
            Err(e) => {
                let sub = e.path().to_string();
                let sub = if sub == "." { String::new() } else { sub };
                let msg = humanize(e.inner().to_string());
                self.at(docs, loc, &sub, msg);
            }
        }
    }

    fn list<T: DeserializeOwned>(
        &mut self,
        docs: &[(PathBuf, yaml::Doc)],
        loc: &Loc,
        v: &Value,
        out: &mut Vec<(Loc, T)>,
    ) {
        match v {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.item(
                        docs,
                        &Loc {
                            doc: loc.doc,
                            path: format!("{}[{i}]", loc.path),
                        },
                        item,
                        out,
                    );
                }
            }
            Value::Null => {}
            _ => self.at(docs, loc, "", format!("`{}` must be a list", loc.path)),
        }
    }

    fn compile(&mut self, raw: Raw, docs: &[(PathBuf, yaml::Doc)]) -> Option<Policy> {
        self.unique_ids(&raw, docs);
        let controller = self.controller(&raw, docs);
        let (purposes, consent_texts) = self.purposes(&raw, docs);
        self.legal_holds(&raw, docs);
        self.services(&raw, docs);
        let upstreams = self.upstreams(&raw, docs);
        let default_upstream = self.default_upstream(&raw, docs);
        let routes = self.routes(&raw, docs);
        let controller = controller?;
        if !self.errors.is_empty() {
            return None;
        }
        let policy = Policy {
            controller,
            categories: raw.categories.iter().map(|(_, c)| c.clone()).collect(),
            subjects: raw.subjects.iter().map(|(_, c)| c.clone()).collect(),
            purposes,
            legal_holds: raw
                .legal_holds
                .iter()
                .filter_map(|(_, def)| {
                    let keep = duration::IsoDuration::parse(&def.keep).ok()?;
                    Some(LegalHold {
                        def: def.clone(),
                        keep,
                    })
                })
                .collect(),
            services: raw
                .services
                .iter()
                .map(|(_, s)| {
                    let mut s = s.clone();
                    s.country = Some(s.country().to_ascii_uppercase());
                    s
                })
                .collect(),
            upstreams,
            default_upstream,
            discovery: raw.discovery.iter().any(|(_, on)| *on),
            allow_unmatched_abroad: raw.allow_unmatched_abroad.iter().any(|(_, on)| *on),
            routes,
            consent_texts,
            dir: self.dir.clone(),
            sha256: String::new(),
            warnings: Vec::new(),
        };
        self.law(&policy, &raw, docs);
        self.errors.is_empty().then_some(policy)
    }

    /// Ids are unique per section, across files.
    fn unique_ids(&mut self, raw: &Raw, docs: &[(PathBuf, yaml::Doc)]) {
        let c = raw.categories.iter().map(|(l, c)| (l, c.id.as_str()));
        self.unique(docs, c, "category");
        let s = raw.subjects.iter().map(|(l, s)| (l, s.id.as_str()));
        self.unique(docs, s, "subject group");
        let p = raw.purposes.iter().map(|(l, p)| (l, p.id.as_str()));
        self.unique(docs, p, "purpose");
        let s = raw.services.iter().map(|(l, s)| (l, s.id.as_str()));
        self.unique(docs, s, "service");
        let u = raw.upstreams.iter().map(|(l, u)| (l, u.id.as_str()));
        self.unique(docs, u, "upstream");
        let r = raw.routes.iter().map(|(l, r)| (l, r.id.as_str()));
        self.unique(docs, r, "route");
    }

    /// The one `controller` section.
    fn controller(
        &mut self,
        raw: &Raw,
        docs: &[(PathBuf, yaml::Doc)],
    ) -> Option<model::Controller> {
        let [(loc, c), rest @ ..] = raw.controller.as_slice() else {
            let file = docs
                .first()
                .map(|d| d.0.clone())
                .unwrap_or_else(|| self.dir.clone());
            self.err(&file, 1, "no `controller` section: name the operator (name, address, email, dpo, regimes, database_location, token_domain)");
            return None;
        };
        for (l, _) in rest {
            let msg = "`controller` is declared more than once; keep one";
            self.at(docs, l, "", msg);
        }
        if !is_domain(&c.token_domain) {
            let msg = format!(
                "token_domain `{}` is not a domain name (write e.g. relay.example.com)",
                c.token_domain
            );
            self.at(docs, loc, "token_domain", msg);
        }
        if let Some(d) = &c.processing_started {
            let iso = &time::format_description::well_known::Iso8601::DATE;
            if time::Date::parse(d, iso).is_err() {
                let msg = format!("processing_started `{d}` is not a date: write YYYY-MM-DD");
                self.at(docs, loc, "processing_started", msg);
            }
        }
        if c.protection_level.is_some_and(|l| !(1..=4).contains(&l)) {
            let msg = "protection_level is 1, 2, 3 or 4 (Government Decree No. 1119)";
            self.at(docs, loc, "protection_level", msg);
        }
        if let Some(model::LocationDef::Text(t)) = &c.database_location {
            let msg = format!("database_location `{t}` must be structured: `{{country: RU, city: …, address: …, hosting: …}}` (152-FZ Art. 18(5), 22(3)(10.1))");
            self.at(docs, loc, "database_location", msg);
        }
        if let Some(model::LocationDef::Place(l)) = &c.database_location {
            self.country(docs, loc, "database_location.country", &l.country);
        }
        for (i, j) in c.joint_controllers.iter().enumerate() {
            if let Some(cc) = &j.country {
                self.country(docs, loc, &format!("joint_controllers[{i}].country"), cc);
            }
        }
        if let Some(cc) = c
            .eu_representative
            .as_ref()
            .and_then(|r| r.country.as_ref())
        {
            self.country(docs, loc, "eu_representative.country", cc);
        }
        self.identifiers(docs, loc, c);
        if c.regimes.is_empty() {
            let msg = "regimes is empty: write [fz152], [gdpr] or [fz152, gdpr]";
            self.at(docs, loc, "regimes", msg);
        }
        Some(c.clone())
    }

    /// Every purpose with its retention and consent text (texts in the order first named).
    fn purposes(
        &mut self,
        raw: &Raw,
        docs: &[(PathBuf, yaml::Doc)],
    ) -> (Vec<Purpose>, Vec<ConsentText>) {
        let cat_ids: BTreeSet<&str> = raw.categories.iter().map(|(_, c)| c.id.as_str()).collect();
        let subj_ids: BTreeSet<&str> = raw.subjects.iter().map(|(_, c)| c.id.as_str()).collect();
        let mut consent_texts: Vec<ConsentText> = Vec::new();
        let mut purposes = Vec::new();
        for (loc, p) in &raw.purposes {
            for (i, c) in p.categories.iter().enumerate() {
                if !cat_ids.contains(c.as_str()) {
                    let msg = format!("unknown category `{c}`; declare it under `categories`");
                    self.at(docs, loc, &format!("categories[{i}]"), msg);
                }
            }
            for (i, s) in p.subjects.iter().enumerate() {
                if !subj_ids.contains(s.as_str()) {
                    let msg = format!("unknown subject group `{s}`; declare it under `subjects`");
                    self.at(docs, loc, &format!("subjects[{i}]"), msg);
                }
            }
            let mut def = p.clone();
            for (i, r) in def.recipients.iter_mut().enumerate() {
                let at = format!("recipients[{i}].country");
                r.country = self.country(docs, loc, &at, &r.country);
            }
            let retention = self.retention(docs, loc, p);
            let consent_text = self.purpose_text(docs, loc, p, &mut consent_texts);
            purposes.push(Purpose {
                def,
                consent_text,
                retention,
            });
        }
        (purposes, consent_texts)
    }

    /// A purpose's retention period; every purpose must have one.
    fn retention(
        &mut self,
        docs: &[(PathBuf, yaml::Doc)],
        loc: &Loc,
        p: &model::Purpose,
    ) -> Option<duration::IsoDuration> {
        let Some(r) = &p.retention else {
            self.at(docs, loc, "", format!("purpose `{}` has no retention: add `retention: {{keep: P2Y, from: collected}}`", p.id));
            return None;
        };
        match duration::IsoDuration::parse(&r.keep) {
            Ok(d) => Some(d),
            Err(e) => {
                let msg = format!("retention.keep `{}`: {e}", r.keep);
                self.at(docs, loc, "retention.keep", msg);
                None
            }
        }
    }

    /// The index in `texts` of a purpose's consent text, read and added there; a consent-based
    /// purpose must name one.
    fn purpose_text(
        &mut self,
        docs: &[(PathBuf, yaml::Doc)],
        loc: &Loc,
        p: &model::Purpose,
        texts: &mut Vec<ConsentText>,
    ) -> Option<usize> {
        match (p.legal_basis, &p.consent) {
            (LegalBasis::Consent, None) => {
                self.at(
                    docs,
                    loc,
                    "legal_basis",
                    format!("purpose `{}` is consent-based but names no consent text: add `consent: {{text: consents/{}.md, version: 1}}`", p.id, p.id),
                );
                None
            }
            (_, Some(cref)) => match self.consent_text(&cref.text, cref.version) {
                Ok(t) => {
                    texts.push(t);
                    Some(texts.len() - 1)
                }
                Err(msgs) => {
                    for m in msgs {
                        self.at(docs, loc, "consent.text", m);
                    }
                    None
                }
            },
            _ => None,
        }
    }

    fn legal_holds(&mut self, raw: &Raw, docs: &[(PathBuf, yaml::Doc)]) {
        let cat_ids: BTreeSet<&str> = raw.categories.iter().map(|(_, c)| c.id.as_str()).collect();
        for (loc, h) in &raw.legal_holds {
            if !cat_ids.contains(h.category.as_str()) {
                let msg = format!("unknown category `{}` in legal hold", h.category);
                self.at(docs, loc, "category", msg);
            }
            if let Err(e) = duration::IsoDuration::parse(&h.keep) {
                self.at(docs, loc, "keep", format!("keep `{}`: {e}", h.keep));
            }
        }
    }

    fn services(&mut self, raw: &Raw, docs: &[(PathBuf, yaml::Doc)]) {
        let purpose_ids: BTreeSet<&str> = raw.purposes.iter().map(|(_, p)| p.id.as_str()).collect();
        for (loc, s) in &raw.services {
            if let Some(c) = &s.country {
                self.country(docs, loc, "country", c);
            }
            for (i, p) in s.purposes.iter().enumerate() {
                if !purpose_ids.contains(p.as_str()) {
                    let msg = format!("unknown purpose `{p}`");
                    self.at(docs, loc, &format!("purposes[{i}]"), msg);
                }
            }
        }
    }

    fn upstreams(&mut self, raw: &Raw, docs: &[(PathBuf, yaml::Doc)]) -> Vec<Upstream> {
        let mut upstreams = Vec::new();
        for (loc, u) in &raw.upstreams {
            let uri = u.url.parse::<http::Uri>().ok().filter(|uri| {
                matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some()
            });
            let Some(uri) = uri else {
                let msg = format!(
                    "upstream url `{}` must be an absolute http:// or https:// URL",
                    u.url
                );
                self.at(docs, loc, "url", msg);
                continue;
            };
            let country = match &u.country {
                Some(c) => self.country(docs, loc, "country", c),
                None => {
                    if let Some(host) = uri.host().filter(|h| !looks_domestic(h)) {
                        self.warn(docs, loc, "url", format!(
                            "upstream `{}` at `{host}` declares no country and is treated as RU; if it runs abroad write `country: XX` (ISO 3166-1) so that transfers to it need a 152-FZ Art. 12 notification",
                            u.id
                        ));
                    }
                    "RU".to_owned()
                }
            };
            upstreams.push(Upstream {
                id: u.id.clone(),
                url: uri,
                erasure_webhook: u.erasure_webhook.clone(),
                country,
                safeguards: u.safeguards,
            });
        }
        upstreams
    }

    fn default_upstream(&mut self, raw: &Raw, docs: &[(PathBuf, yaml::Doc)]) -> Option<usize> {
        let [(loc, id), rest @ ..] = raw.default_upstream.as_slice() else {
            return None;
        };
        for (l, _) in rest {
            self.at(docs, l, "", "`default_upstream` is declared more than once");
        }
        let i = raw.upstreams.iter().position(|(_, u)| u.id == *id);
        if i.is_none() {
            let msg = format!("default_upstream `{id}` is not a declared upstream");
            self.at(docs, loc, "", msg);
        }
        i
    }

    fn routes(&mut self, raw: &Raw, docs: &[(PathBuf, yaml::Doc)]) -> Vec<Route> {
        let purpose_idx: HashMap<&str, usize> = raw
            .purposes
            .iter()
            .enumerate()
            .map(|(i, (_, p))| (p.id.as_str(), i))
            .collect();
        let upstream_idx: HashMap<&str, usize> = raw
            .upstreams
            .iter()
            .enumerate()
            .map(|(i, (_, u))| (u.id.as_str(), i))
            .collect();
        let mut routes = Vec::new();
        for (loc, r) in &raw.routes {
            if let Some(route) =
                self.route(docs, loc, r, &purpose_idx, &upstream_idx, &raw.purposes)
            {
                routes.push(route);
            }
        }
        routes
    }

    fn unique<'a>(
        &mut self,
        docs: &[(PathBuf, yaml::Doc)],
        items: impl Iterator<Item = (&'a Loc, &'a str)>,
        what: &str,
    ) {
        let mut seen: HashMap<&str, &Loc> = HashMap::new();
        for (loc, id) in items {
            if let Some(first) = seen.get(id) {
                let (ffile, fdoc) = &docs[first.doc];
                let msg = format!(
                    "duplicate {what} id `{id}` (first declared at {}:{})",
                    ffile.display(),
                    fdoc.line(&first.path)
                );
                self.at(docs, loc, "id", msg);
            } else {
                seen.insert(id, loc);
            }
        }
    }

    #[allow(clippy::too_many_lines)]
    fn route(
        &mut self,
        docs: &[(PathBuf, yaml::Doc)],
        loc: &Loc,
        r: &model::Route,
        purpose_idx: &HashMap<&str, usize>,
        upstream_idx: &HashMap<&str, usize>,
        raw_purposes: &[(Loc, model::Purpose)],
    ) -> Option<Route> {
        let before = self.errors.len();
        let method = match &r.matcher.method {
            None => None,
            Some(m) => match http::Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
                Ok(m) => Some(m),
                Err(_) => {
                    self.at(
                        docs,
                        loc,
                        "match.method",
                        format!("`{m}` is not an HTTP method"),
                    );
                    None
                }
            },
        };
        let fold = |p: &str| match r.matcher.case_sensitive {
            true => p.to_owned(),
            false => p.to_lowercase(),
        };
        let matcher = match (&r.matcher.path, &r.matcher.prefix) {
            (Some(p), None) => PathMatcher::path(&fold(p)),
            (None, Some(p)) => PathMatcher::prefix(&fold(p)),
            _ => Err(route::PathError::NotExactlyOne),
        };
        let matcher = matcher
            .map_err(|e| self.at(docs, loc, "match", e.to_string()))
            .ok();
        if r.block && (!r.fields.is_empty() || !r.consents.is_empty() || r.reveal.is_some()) {
            self.at(
                docs,
                loc,
                "block",
                "a blocked route takes no fields, consents or reveal: it forwards nothing",
            );
        }
        let upstream = upstream_idx.get(r.upstream.as_str()).copied();
        // A blocked route needs no upstream; one it names must exist.
        let unnamed_ok = r.block && r.upstream.is_empty();
        if upstream.is_none() && !unnamed_ok {
            let (key, message) = match r.upstream.is_empty() {
                true => (
                    "",
                    format!("route `{}` needs `upstream:` (or `block: true`)", r.id),
                ),
                false => (
                    "upstream",
                    format!(
                        "unknown upstream `{}`; declare it under `upstreams`",
                        r.upstream
                    ),
                ),
            };
            self.at(docs, loc, key, message);
        }
        let mut purposes = Vec::new();
        for (i, p) in r.purposes.iter().enumerate() {
            match purpose_idx.get(p.as_str()) {
                Some(&ix) => purposes.push(ix),
                None => self.at(
                    docs,
                    loc,
                    &format!("purposes[{i}]"),
                    format!("unknown purpose `{p}`"),
                ),
            }
        }
        let allowed: BTreeSet<&str> = purposes
            .iter()
            .flat_map(|&i| raw_purposes[i].1.categories.iter().map(String::as_str))
            .collect();
        if !r.fields.is_empty() && purposes.is_empty() {
            self.at(
                docs,
                loc,
                "purposes",
                "a route that declares fields must name at least one purpose",
            );
        }
        let mut fields = HashMap::new();
        for (name, f) in &r.fields {
            let sub = format!("fields.{name}");
            match &f.category {
                Some(c) if !allowed.contains(c.as_str()) => self.at(
                    docs,
                    loc,
                    &format!("{sub}.category"),
                    format!(
                        "field `{name}` has category `{c}`, which none of this route's purposes ({}) covers; add it to a purpose's categories or change the category",
                        r.purposes.join(", ")
                    ),
                ),
                None if matches!(f.action, Action::Tokenize | Action::Encrypt | Action::Mask) => self.at(
                    docs,
                    loc,
                    &sub,
                    format!("field `{name}` is kept in the vault ({}) and needs a `category`", f.action.as_str()),
                ),
                _ => {}
            }
            fields.insert(
                name.clone(),
                Field {
                    category: f.category.clone(),
                    action: f.action,
                    kind: f.kind.unwrap_or_default(),
                },
            );
        }
        let subject_field = r.subject.as_ref().map(|s| s.field.clone());
        if let Some(sf) = &subject_field {
            match r.fields.get(sf) {
                None => self.at(
                    docs,
                    loc,
                    "subject.field",
                    format!("subject field `{sf}` is not among this route's fields"),
                ),
                Some(f) if matches!(f.action, Action::Drop) => self.at(
                    docs,
                    loc,
                    "subject.field",
                    format!("subject field `{sf}` is dropped; it cannot identify the subject"),
                ),
                _ => {}
            }
        }
        let mut consents = Vec::new();
        for (pid, cf) in &r.consents {
            match purpose_idx.get(pid.as_str()) {
                Some(&ix) if purposes.contains(&ix) => {
                    if raw_purposes[ix].1.legal_basis != LegalBasis::Consent {
                        self.at(
                            docs,
                            loc,
                            &format!("consents.{pid}"),
                            format!(
                                "purpose `{pid}` is not consent-based; remove this consent field"
                            ),
                        );
                    }
                    if r.fields
                        .get(&cf.field)
                        .is_some_and(|f| f.action != Action::Pass && f.action != Action::Drop)
                    {
                        self.at(
                            docs,
                            loc,
                            &format!("consents.{pid}.field"),
                            format!("consent field `{}` is also a personal field", cf.field),
                        );
                    }
                    consents.push(RouteConsent {
                        purpose: ix,
                        field: cf.field.clone(),
                        required: cf.required,
                        method: cf.method,
                        conditions_field: cf.conditions_field.clone(),
                        bans_field: cf.bans_field.clone(),
                    });
                }
                _ => self.at(
                    docs,
                    loc,
                    &format!("consents.{pid}"),
                    format!("`{pid}` is not one of this route's purposes"),
                ),
            }
        }
        for &ix in &purposes {
            let p = &raw_purposes[ix].1;
            if p.legal_basis == LegalBasis::Consent && !r.consents.contains_key(&p.id) {
                self.at(
                    docs,
                    loc,
                    "consents",
                    format!("purpose `{}` is consent-based: add `consents: {{{}: {{field: <checkbox name>, required: true}}}}`", p.id, p.id),
                );
            }
        }
        let reveal = r.reveal.as_ref().and_then(|rv| {
            let purpose = purpose_idx.get(rv.purpose.as_str()).copied();
            if purpose.is_none() {
                self.at(
                    docs,
                    loc,
                    "reveal.purpose",
                    format!("unknown purpose `{}`", rv.purpose),
                );
            }
            let mut roles = Vec::new();
            for (i, role) in rv.roles.iter().enumerate() {
                match Role::parse(role) {
                    Some(r) => roles.push(r),
                    None => self.at(
                        docs,
                        loc,
                        &format!("reveal.roles[{i}]"),
                        format!("unknown role `{role}` (admin, dpo, auditor, service)"),
                    ),
                }
            }
            if rv.roles.is_empty() {
                self.at(
                    docs,
                    loc,
                    "reveal.roles",
                    "name at least one role that may see plaintext",
                );
            }
            if !r.fields.is_empty() {
                self.at(
                    docs,
                    loc,
                    "reveal",
                    "a reveal route shows data going out; it cannot also declare intake `fields`",
                );
            }
            Some(Reveal {
                purpose: purpose?,
                roles,
            })
        });
        let on_refusal = r
            .on_refusal
            .as_ref()
            .and_then(|o| self.on_refusal(docs, loc, o));
        if self.errors.len() > before {
            return None;
        }
        let kind = match (r.block, reveal) {
            (true, _) => RouteKind::Blocked { upstream },
            (false, _) if !fields.is_empty() => RouteKind::Intake {
                upstream: upstream?,
            },
            (false, Some(reveal)) => RouteKind::Reveal {
                upstream: upstream?,
                reveal,
            },
            (false, None) => RouteKind::Pass {
                upstream: upstream?,
            },
        };
        Some(Route {
            on_refusal,
            id: r.id.clone(),
            method,
            matcher: matcher?,
            case_sensitive: r.matcher.case_sensitive,
            kind,
            purposes,
            subject_field,
            fields,
            consents,
            unknown_fields: r.unknown_fields,
            age: r.age.as_ref().and_then(|a| match (&a.field, &a.confirm) {
                (Some(f), None) => Some(Age::BirthDate(f.clone())),
                (None, Some(c)) => Some(Age::Confirm(c.clone())),
                _ => None,
            }),
            guardian: r.guardian.clone(),
        })
    }

    /// A route's `on_refusal`: a redirect to a URL of the site (absolute http(s) or a path), or a
    /// page whose templates are read now, so that a missing file stops the start, not a visitor.
    fn on_refusal(
        &mut self,
        docs: &[(PathBuf, yaml::Doc)],
        loc: &Loc,
        o: &model::OnRefusalDef,
    ) -> Option<OnRefusal> {
        match (&o.redirect, &o.page) {
            (Some(url), None) => {
                let ok = url.starts_with('/') && !url.starts_with("//")
                    || url.parse::<http::Uri>().is_ok_and(|u| {
                        matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some()
                    });
                if !ok || url.contains('#') {
                    self.at(docs, loc, "on_refusal.redirect", format!(
                        "`{url}` must be an absolute http(s) URL or a path starting with `/`, without a fragment"
                    ));
                    return None;
                }
                Some(OnRefusal::Redirect(url.clone()))
            }
            (None, Some(page)) => {
                let read = |lang: &str| {
                    std::fs::read_to_string(self.dir.join(format!("{page}.{lang}.html"))).ok()
                };
                let pages = RefusalPages {
                    ru: read("ru"),
                    en: read("en"),
                };
                if pages.ru.is_none() && pages.en.is_none() {
                    self.at(docs, loc, "on_refusal.page", format!(
                        "no template `{page}.ru.html` or `{page}.en.html` under the policies directory"
                    ));
                    return None;
                }
                Some(OnRefusal::Page(std::sync::Arc::new(pages)))
            }
            _ => {
                self.at(
                    docs,
                    loc,
                    "on_refusal",
                    "give exactly one of `redirect` or `page`",
                );
                None
            }
        }
    }

    /// Reads a consent text, checks its front matter for every Art. 9(4) element, hashes it.
    fn consent_text(&self, rel: &str, version: u32) -> Result<ConsentText, Vec<String>> {
        let path = self.dir.join(rel);
        let bytes = std::fs::read(&path).map_err(|e| {
            vec![format!(
                "cannot read consent text `{}`: {e}",
                path.display()
            )]
        })?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| vec![format!("consent text `{rel}` is not UTF-8")])?;
        let front =
            parse_front_matter(text).map_err(|m| vec![format!("consent text `{rel}`: {m}")])?;
        let missing = missing_elements(&front);
        if !missing.is_empty() {
            return Err(vec![format!(
                "consent text `{rel}` lacks 152-FZ Art. 9(4) element(s) in its front matter: {}",
                missing.join(", ")
            )]);
        }
        Ok(ConsentText {
            id: rel.to_owned(),
            version,
            sha256: data_encoding::HEXLOWER.encode(&Sha256::digest(&bytes)),
            front,
            body: text.to_owned(),
        })
    }
}

/// Why an upstream URL from the environment was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlOverrideError {
    #[error("{var}: no upstream `{id}` is declared in the policies")]
    NoSuchUpstream { var: String, id: String },
    #[error("{var}: `{value}` is not an absolute http:// or https:// URL")]
    NotAUrl { var: String, value: String },
}

/// Why a consent text's front matter cannot be read.
#[derive(Debug, thiserror::Error)]
enum FrontMatterError {
    #[error("must start with a `---` front matter block")]
    Unopened,
    #[error("front matter is not closed by a `---` line")]
    Unclosed,
    #[error("front matter line {line}: {message}")]
    Yaml { line: usize, message: String },
    /// serde's message, in the policy's words (see `humanize`).
    #[error("front matter: {0}")]
    Shape(String),
}

/// The YAML between the leading `---` lines of a consent text.
fn parse_front_matter(text: &str) -> Result<model::ConsentFront, FrontMatterError> {
    let rest = text.strip_prefix("---").ok_or(FrontMatterError::Unopened)?;
    let end = rest.find("\n---").ok_or(FrontMatterError::Unclosed)?;
    let doc = yaml::parse(&rest[..end]).map_err(|e| FrontMatterError::Yaml {
        line: e.line + 1,
        message: e.message,
    })?;
    serde_json::from_value(doc.root).map_err(|e| FrontMatterError::Shape(humanize(e.to_string())))
}

/// The Art. 9(4) elements a consent text's front matter lacks or leaves empty.
pub fn missing_elements(f: &model::ConsentFront) -> Vec<&'static str> {
    let s = |v: &Option<String>| v.as_ref().is_some_and(|s| !s.trim().is_empty());
    let l = |v: &Option<Vec<String>>| {
        v.as_ref()
            .is_some_and(|l| !l.is_empty() && l.iter().all(|s| !s.trim().is_empty()))
    };
    let mut out = Vec::new();
    if !s(&f.operator) {
        out.push("operator");
    }
    if !s(&f.purpose) {
        out.push("purpose");
    }
    if !l(&f.data) {
        out.push("data");
    }
    if !l(&f.actions) {
        out.push("actions");
    }
    if !s(&f.methods) {
        out.push("methods");
    }
    if f.processors.is_none() {
        out.push("processors");
    }
    if !s(&f.term) {
        out.push("term");
    }
    if !s(&f.withdrawal) {
        out.push("withdrawal");
    }
    out
}

fn humanize(msg: String) -> String {
    msg.replace("unknown field", "unknown key")
        .replace("missing field", "missing key")
}

/// A DNS name of at least two labels (`relay.example.com`).
/// Two ASCII letters (ISO 3166-1 alpha-2, either case).
pub fn is_country_code(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic())
}

/// Whether a host is plainly inside Russia or not on the internet at all: loopback, private and
/// link-local addresses, single-label and `.local`/`.internal` names, and the `.ru`, `.рф`
/// (`xn--p1ai`) and `.su` zones. Anything else without a declared country earns a warning.
pub fn looks_domestic(host: &str) -> bool {
    let h = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    if let Ok(ip) = h.parse::<std::net::IpAddr>() {
        return match ip {
            std::net::IpAddr::V4(v4) => {
                v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()
            }
            std::net::IpAddr::V6(v6) => {
                v6.is_loopback()
                    || v6.is_unspecified()
                    || (v6.segments()[0] & 0xfe00) == 0xfc00
                    || (v6.segments()[0] & 0xffc0) == 0xfe80
            }
        };
    }
    let h = h.trim_end_matches('.');
    !h.contains('.')
        || [
            ".ru",
            ".xn--p1ai",
            ".рф",
            ".su",
            ".local",
            ".internal",
            ".localhost",
        ]
        .iter()
        .any(|z| h.ends_with(z))
}

pub fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    s.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.bytes().any(|b| b.is_ascii_alphabetic()))
}

#[cfg(test)]
mod tests;
