//! Consent at intake: what counts as an active "yes", and the subject token that lets the subject
//! manage their data later.
//!
//! A consent is given only by an explicit truthy value of its own field (SPEC 2.4): an absent
//! checkbox, an empty value or "off" is no consent — pre-ticked or inferred consent is not consent
//! under 152-FZ Art. 9(1) or GDPR Art. 4(11).

/// Where subjects manage their own consents on the proxy listener; links minted by the admin API
/// point here.
pub const SELF_SERVICE_PREFIX: &str = "/.well-known/pdgate/v1";

pub mod receipt;

use jsonwebtoken::{Algorithm, Header, Validation};
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

/// What a subject token opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// The consents one intake recorded (its receipts): a key to what its bearer did, not to a
    /// person — anyone can type someone else's e-mail into a form.
    Receipts(Vec<String>),
    /// Everything of the subject, through a link the operator minted and sent through a channel
    /// it trusts (the link's id, checked against the store on every use).
    Link(String),
}

/// A verified subject token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectAccess {
    /// The subject pseudonym (`sub_…`), never an identifier of the person.
    pub sub: String,
    pub grant: Grant,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct SubjectClaims {
    sub: String,
    iat: i64,
    exp: i64,
    aud: String,
    iss: String,
    /// Intake tokens: the receipts of that intake.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    rcpt: Vec<String>,
    /// Link tokens: the link's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
}

/// The token an intake returns: its bearer sees and withdraws the consents of `receipts` only.
pub fn issue_subject_token(
    keys: &Keys,
    subject: &str,
    receipts: &[String],
    now_s: i64,
    ttl_s: i64,
) -> String {
    let grant = Grant::Receipts(receipts.to_vec());
    sign(
        keys,
        SubjectClaims::new(subject, grant, now_s, now_s + ttl_s),
    )
}

/// The token of a self-service link `link_id`, valid until `exp_s` unless revoked earlier.
pub fn issue_link_token(
    keys: &Keys,
    subject: &str,
    link_id: &str,
    now_s: i64,
    exp_s: i64,
) -> String {
    let grant = Grant::Link(link_id.to_owned());
    sign(keys, SubjectClaims::new(subject, grant, now_s, exp_s))
}

impl SubjectClaims {
    fn new(subject: &str, grant: Grant, iat: i64, exp: i64) -> Self {
        let (rcpt, jti) = match grant {
            Grant::Receipts(r) => (r, None),
            Grant::Link(id) => (Vec::new(), Some(id)),
        };
        SubjectClaims {
            sub: subject.to_owned(),
            iat,
            exp,
            aud: SUBJECT_AUDIENCE.into(),
            iss: ISSUER.into(),
            rcpt,
            jti,
        }
    }
}

fn sign(keys: &Keys, claims: SubjectClaims) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &keys.subject_jwt.encoding,
    )
    .expect("HS256 signing cannot fail")
}

/// Verifies a subject token (signature, expiry, audience, issuer, exactly one grant); `None`
/// when it is not valid. A link's revocation is the caller's check, against the store.
pub fn verify_subject_token(keys: &Keys, token: &str) -> Option<SubjectAccess> {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&[SUBJECT_AUDIENCE]);
    v.set_issuer(&[ISSUER]);
    v.leeway = 5;
    let c = jsonwebtoken::decode::<SubjectClaims>(token, &keys.subject_jwt.decoding, &v)
        .ok()?
        .claims;
    let grant = match (c.rcpt.is_empty(), c.jti) {
        (false, None) => Grant::Receipts(c.rcpt),
        (true, Some(id)) if !id.is_empty() => Grant::Link(id),
        _ => return None,
    };
    Some(SubjectAccess { sub: c.sub, grant })
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
        let rcpt = vec!["rcpt_1".to_owned()];
        let t = issue_subject_token(&keys, "sub_abc", &rcpt, now, 3600);
        let got = verify_subject_token(&keys, &t).unwrap();
        assert_eq!(got.sub, "sub_abc");
        assert_eq!(got.grant, Grant::Receipts(rcpt.clone()));
        let link = issue_link_token(&keys, "sub_abc", "lnk_1", now, now + 60);
        assert_eq!(
            verify_subject_token(&keys, &link).unwrap().grant,
            Grant::Link("lnk_1".into())
        );
        // A token that grants nothing (or both) opens nothing.
        assert!(
            verify_subject_token(&keys, &issue_subject_token(&keys, "s", &[], now, 60)).is_none()
        );
        let mut both = SubjectClaims::new("s", Grant::Receipts(rcpt.clone()), now, now + 60);
        both.jti = Some("lnk_1".into());
        let both = sign(&keys, both);
        assert!(verify_subject_token(&keys, &both).is_none());
        let expired = issue_subject_token(&keys, "sub_abc", &rcpt, now - 7200, 3600);
        assert!(verify_subject_token(&keys, &expired).is_none());
        let other = Keys::derive(Kek::generate(1), &RootSecret::generate());
        assert!(verify_subject_token(&other, &t).is_none());
        let mut tampered = t.clone();
        tampered.insert(t.len() / 2, 'x');
        assert!(verify_subject_token(&keys, &tampered).is_none());
    }
}
