//! Consent at intake: what counts as an active "yes", and the subject token that lets the subject
//! manage their data later.
//!
//! A consent is given only by an explicit truthy value of its own field (SPEC 2.4): an absent
//! checkbox, an empty value or "off" is no consent — pre-ticked or inferred consent is not consent
//! under 152-FZ Art. 9(1) or GDPR Art. 4(11).

pub mod receipt;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::crypto::Keys;

/// `on`, `true`, `1`, `yes` (any case, surrounding blanks ignored).
pub fn is_truthy(v: &str) -> bool {
    let v = v.trim();
    ["on", "true", "1", "yes"]
        .iter()
        .any(|t| v.eq_ignore_ascii_case(t))
}

/// Audience of subject tokens; service and admin tokens use others, so none is accepted as another.
pub const SUBJECT_AUDIENCE: &str = "pdgate-subject";
const ISSUER: &str = "pdgate";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SubjectClaims {
    /// The subject pseudonym (`sub_…`), never an identifier of the person.
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub aud: String,
    pub iss: String,
}

/// A short-lived HS256 token for the subject, signed with the subject-token key.
pub fn issue_subject_token(keys: &Keys, subject: &str, now_s: i64, ttl_s: i64) -> String {
    let claims = SubjectClaims {
        sub: subject.to_owned(),
        iat: now_s,
        exp: now_s + ttl_s,
        aud: SUBJECT_AUDIENCE.into(),
        iss: ISSUER.into(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(keys.subject_token.bytes()),
    )
    .expect("HS256 signing cannot fail")
}

/// Verifies a subject token (signature, expiry, audience, issuer); `None` when it is not valid.
pub fn verify_subject_token(keys: &Keys, token: &str) -> Option<SubjectClaims> {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&[SUBJECT_AUDIENCE]);
    v.set_issuer(&[ISSUER]);
    v.leeway = 5;
    jsonwebtoken::decode::<SubjectClaims>(
        token,
        &DecodingKey::from_secret(keys.subject_token.bytes()),
        &v,
    )
    .ok()
    .map(|d| d.claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Kek, RootSecret};

    #[test]
    fn truthy_values() {
        for t in ["on", "ON", "true", "1", "yes", " Yes "] {
            assert!(is_truthy(t), "{t}");
        }
        for f in ["", "off", "0", "false", "no", "checked", "y"] {
            assert!(!is_truthy(f), "{f}");
        }
    }

    #[test]
    fn subject_tokens_verify_and_expire() {
        let keys = Keys::derive(Kek::generate(1), &RootSecret::generate());
        let now = crate::now_millis() / 1000;
        let t = issue_subject_token(&keys, "sub_abc", now, 3600);
        assert_eq!(verify_subject_token(&keys, &t).unwrap().sub, "sub_abc");
        let expired = issue_subject_token(&keys, "sub_abc", now - 7200, 3600);
        assert!(verify_subject_token(&keys, &expired).is_none());
        let other = Keys::derive(Kek::generate(1), &RootSecret::generate());
        assert!(verify_subject_token(&other, &t).is_none());
        let mut tampered = t.clone();
        tampered.insert(t.len() / 2, 'x');
        assert!(verify_subject_token(&keys, &tampered).is_none());
    }
}
