//! Who is calling: JWTs for admins, DPOs, auditors and back-office services (SPEC 11).
//!
//! A token is accepted only under the key and algorithm it was configured for: HS256 tokens are
//! checked against the shared secret and nothing else, RS256/ES256 tokens against the JWKS key their
//! `kid` names, with that key's own algorithm. So `alg: none`, an HS256 token "signed" with a public
//! key, or an RS256 header on an HS256 deployment all fail before any signature is trusted. Expiry
//! is required and `nbf` honoured, with a small configurable leeway; `iss`/`aud` when configured.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{ApiError, Tls};
use http::StatusCode;

pub use pdgate_core::policy::Role;

/// The `[admin]` table of the configuration: how callers of the admin API and reveal routes
/// are authenticated, and the admin listener's TLS.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    /// HS256 shared secret (at least 32 bytes) for admin, DPO, auditor and service tokens.
    pub jwt_secret_file: Option<PathBuf>,
    /// RS256/ES256 public keys (a JWKS document); tokens name their key by `kid`.
    pub jwks_file: Option<PathBuf>,
    /// Required `iss` of every token, when set.
    pub issuer: Option<String>,
    /// Required `aud` of every token, when set.
    pub audience: Option<String>,
    /// The `aud` of staff tokens for reveal routes; the admin API refuses tokens carrying it and
    /// reveal routes accept no other.
    pub staff_audience: String,
    /// Clock skew tolerated on `exp`/`nbf`, in seconds (at most 60).
    pub leeway_s: u64,
    /// When set, `/metrics` answers only `Authorization: Bearer <this file's contents>`.
    pub metrics_token_file: Option<PathBuf>,
    /// TLS of the admin listener (`[admin.tls] cert`, `key`), separate from the proxy's.
    pub tls: Option<Tls>,
}

impl Default for Admin {
    fn default() -> Self {
        Self {
            jwt_secret_file: None,
            jwks_file: None,
            issuer: None,
            audience: None,
            staff_audience: "pdgate-staff".into(),
            leeway_s: 5,
            metrics_token_file: None,
            tls: None,
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub sub: String,
    pub roles: Vec<Role>,
    /// For the `service` role: the declared service the token speaks for.
    pub service: Option<String>,
    /// The person's name and position (`name`, `position` claims), for the acts they sign.
    pub name: Option<String>,
    pub position: Option<String>,
}

impl Principal {
    pub fn has_any(&self, roles: &[Role]) -> bool {
        self.roles.iter().any(|r| roles.contains(r))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    /// `roles: ["dpo"]`; a single `role: "dpo"` is accepted too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    /// OpenID Connect's `name`: the person's full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    position: Option<String>,
}

/// What a token is accepted for. Staff tokens (reveal routes on the proxy listener) carry their own
/// audience, `[admin] staff_audience`: the admin API refuses them, and reveal routes refuse every
/// other token — a staff UI's cookie replayed by a CRM opens nothing on the admin listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    Admin,
    Staff,
}

/// A token was refused (malformed, wrong key or algorithm, expired, wrong claims). Deliberately
/// one variant: the caller learns nothing about which check failed; the token is never logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    Invalid,
}

struct JwksKey {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// Verifies admin-listener tokens under the configured keys.
pub struct Verifier {
    secret: Option<DecodingKey>,
    jwks: Vec<JwksKey>,
    issuer: Option<String>,
    audience: Option<String>,
    staff_audience: String,
    leeway: u64,
}

/// Why the token keys of the admin listener and reveal routes cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: a secret must be at least 32 bytes", path.display())]
    ShortSecret { path: PathBuf },
    #[error("{}: not a JWKS: {source}", path.display())]
    NotJwks {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: only RSA (RS256) and P-256 (ES256) keys are supported", path.display())]
    UnsupportedKey { path: PathBuf },
    #[error("{}: unusable key: {source}", path.display())]
    UnusableKey {
        path: PathBuf,
        #[source]
        source: jsonwebtoken::errors::Error,
    },
    #[error("{}: the JWKS holds no keys", path.display())]
    EmptyJwks { path: PathBuf },
    #[error("with [admin] jwks_file, both [admin] issuer and audience are required")]
    JwksWithoutIssuerAndAudience,
    #[error("[admin] staff_audience must be set and differ from [admin] audience")]
    StaffAudience,
    #[error("no [admin] jwt_secret_file configured: `token issue` signs HS256 tokens with it")]
    NoSecret,
    #[error("{0}")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

/// Reads a shared secret file (trailing whitespace ignored); refuses secrets under 32 bytes.
pub fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let raw = Zeroizing::new(std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })?);
    let end = raw
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    if end < 32 {
        return Err(KeyError::ShortSecret {
            path: path.to_owned(),
        });
    }
    Ok(Zeroizing::new(raw[..end].to_vec()))
}

impl Verifier {
    /// `None` when neither a secret nor a JWKS is configured (the admin API then refuses all).
    pub fn from_config(cfg: &Admin) -> Result<Option<Verifier>, KeyError> {
        let secret = match &cfg.jwt_secret_file {
            Some(p) => Some(DecodingKey::from_secret(&read_secret(p)?)),
            None => None,
        };
        let jwks = match &cfg.jwks_file {
            Some(p) => load_jwks(p)?,
            None => Vec::new(),
        };
        if secret.is_none() && jwks.is_empty() {
            return Ok(None);
        }
        // An identity provider signs tokens for many applications: without both checks, any of
        // its tokens that carries a role claim would open the admin API.
        if !jwks.is_empty() && (cfg.issuer.is_none() || cfg.audience.is_none()) {
            return Err(KeyError::JwksWithoutIssuerAndAudience);
        }
        if cfg.staff_audience.trim().is_empty()
            || cfg.audience.as_deref() == Some(cfg.staff_audience.as_str())
        {
            return Err(KeyError::StaffAudience);
        }
        Ok(Some(Verifier {
            secret,
            jwks,
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            staff_audience: cfg.staff_audience.clone(),
            leeway: cfg.leeway_s.min(60),
        }))
    }

    /// Checks an admin-listener bearer token; on success, who it names.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        self.verify_for(token, Use::Admin)
    }

    /// Whether `token` is one of pdgate's own credentials, for any use (never forwarded).
    pub fn is_own(&self, token: &str) -> bool {
        self.verify_for(token, Use::Admin).is_ok() || self.verify_for(token, Use::Staff).is_ok()
    }

    /// Checks a bearer token for `use_`; on success, who it names.
    pub fn verify_for(&self, token: &str, use_: Use) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        let (key, alg) = match header.alg {
            Algorithm::HS256 => (
                self.secret.as_ref().ok_or(AuthError::Invalid)?,
                Algorithm::HS256,
            ),
            Algorithm::RS256 | Algorithm::ES256 => {
                let k = self
                    .jwks
                    .iter()
                    .find(|k| {
                        k.alg == header.alg
                            && (header.kid.is_none() && self.jwks.len() == 1
                                || k.kid.is_some() && k.kid == header.kid)
                    })
                    .ok_or(AuthError::Invalid)?;
                (&k.key, k.alg)
            }
            _ => return Err(AuthError::Invalid),
        };
        let mut v = Validation::new(alg);
        v.leeway = self.leeway;
        v.validate_nbf = true;
        let audience = match use_ {
            Use::Staff => Some(self.staff_audience.as_str()),
            Use::Admin => self.audience.as_deref(),
        };
        // Every token names who holds it (the audit log records `sub` for each call); a checked
        // `aud` or `iss` must be present, not merely right when present.
        let mut required = vec!["exp", "sub"];
        match audience {
            Some(a) => {
                v.set_audience(&[a]);
                required.push("aud");
            }
            None => v.validate_aud = false,
        }
        if let Some(i) = &self.issuer {
            v.set_issuer(&[i]);
            required.push("iss");
        }
        v.set_required_spec_claims(&required);
        let claims = jsonwebtoken::decode::<Claims>(token, key, &v)
            .map_err(|_| AuthError::Invalid)?
            .claims;
        // Without a configured admin audience any `aud` passes, except the staff one.
        if use_ == Use::Admin && claims.aud.as_deref() == Some(self.staff_audience.as_str()) {
            return Err(AuthError::Invalid);
        }
        let mut roles: Vec<Role> = claims
            .roles
            .iter()
            .chain(claims.role.iter())
            .filter_map(|r| Role::parse(r))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        roles.sort_by_key(|r| r.as_str());
        if roles.is_empty() || claims.sub.as_deref().is_none_or(|s| s.trim().is_empty()) {
            return Err(AuthError::Invalid);
        }
        Ok(Principal {
            sub: claims.sub.unwrap_or_default(),
            roles,
            service: claims.service,
            name: claims.name.filter(|n| !n.trim().is_empty()),
            position: claims.position.filter(|p| !p.trim().is_empty()),
        })
    }
}

fn load_jwks(path: &Path) -> Result<Vec<JwksKey>, KeyError> {
    let path_buf = || path.to_owned();
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path_buf(),
        source,
    })?;
    let set: JwkSet = serde_json::from_str(&text).map_err(|source| KeyError::NotJwks {
        path: path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for jwk in &set.keys {
        let alg = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => return Err(KeyError::UnsupportedKey { path: path_buf() }),
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|source| KeyError::UnusableKey {
            path: path_buf(),
            source,
        })?;
        out.push(JwksKey {
            kid: jwk.common.key_id.clone(),
            alg,
            key,
        });
    }
    if out.is_empty() {
        return Err(KeyError::EmptyJwks { path: path_buf() });
    }
    Ok(out)
}

/// Signs an HS256 token with the configured secret (`pdgate token issue`, for development and
/// tests; production tokens come from the organisation's identity provider). A staff token
/// carries `[admin] staff_audience`, an admin-listener token `[admin] audience`.
pub fn issue(
    cfg: &Admin,
    use_: Use,
    role: Role,
    service: Option<&str>,
    sub: &str,
    now_s: i64,
    ttl_s: i64,
) -> Result<String, KeyError> {
    let path = cfg.jwt_secret_file.as_ref().ok_or(KeyError::NoSecret)?;
    let secret = read_secret(path)?;
    let claims = Claims {
        sub: Some(sub.to_owned()),
        exp: now_s + ttl_s,
        nbf: Some(now_s),
        iat: Some(now_s),
        iss: cfg.issuer.clone(),
        aud: match use_ {
            Use::Admin => cfg.audience.clone(),
            Use::Staff => Some(cfg.staff_audience.clone()),
        },
        roles: vec![role.as_str().to_owned()],
        role: None,
        service: service.map(str::to_owned),
        name: None,
        position: None,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&secret),
    )
    .map_err(KeyError::Sign)
}

/// `Authorization: Bearer <token>`.
pub fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

pub fn unauthorized(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &tempfile::TempDir) -> Admin {
        let p = dir.path().join("secret");
        std::fs::write(&p, "0123456789abcdef0123456789abcdef\n").unwrap();
        Admin {
            jwt_secret_file: Some(p),
            ..Admin::default()
        }
    }

    #[test]
    fn issued_tokens_verify_with_roles_and_service() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(&dir);
        let v = Verifier::from_config(&c).unwrap().unwrap();
        let now = pdgate_core::now_millis() / 1000;
        let t = issue(
            &c,
            Use::Admin,
            Role::Service,
            Some("crm"),
            "crm-prod",
            now,
            60,
        )
        .unwrap();
        let p = v.verify(&t).unwrap();
        assert_eq!(p.roles, vec![Role::Service]);
        assert_eq!(p.service.as_deref(), Some("crm"));
        let expired = issue(&c, Use::Admin, Role::Dpo, None, "x", now - 3600, 60).unwrap();
        assert_eq!(v.verify(&expired), Err(AuthError::Invalid));
        let future = issue(&c, Use::Admin, Role::Dpo, None, "x", now + 3600, 60).unwrap();
        assert_eq!(
            v.verify(&future),
            Err(AuthError::Invalid),
            "nbf in the future"
        );
    }

    #[test]
    fn staff_and_admin_tokens_are_not_accepted_for_each_other() {
        let dir = tempfile::tempdir().unwrap();
        for audience in [None, Some("pdgate-admin")] {
            let mut c = cfg(&dir);
            c.audience = audience.map(str::to_owned);
            let v = Verifier::from_config(&c).unwrap().unwrap();
            let now = pdgate_core::now_millis() / 1000;
            let staff = issue(&c, Use::Staff, Role::Dpo, None, "s", now, 60).unwrap();
            let admin = issue(&c, Use::Admin, Role::Dpo, None, "a", now, 60).unwrap();
            assert!(v.verify_for(&staff, Use::Staff).is_ok());
            assert_eq!(v.verify(&staff), Err(AuthError::Invalid), "{audience:?}");
            assert_eq!(v.verify_for(&admin, Use::Staff), Err(AuthError::Invalid));
            assert!(v.verify(&admin).is_ok());
            assert!(v.is_own(&staff) && v.is_own(&admin) && !v.is_own("x.y.z"));
        }
        let mut same = cfg(&dir);
        same.audience = Some(same.staff_audience.clone());
        assert!(Verifier::from_config(&same).is_err());
    }

    #[test]
    fn short_secrets_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, "short\n").unwrap();
        assert!(read_secret(&p).is_err());
    }

    #[test]
    fn bearer_parsing() {
        let mut h = http::HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(http::header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(http::header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
