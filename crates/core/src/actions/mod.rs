//! Field actions (SPEC 3): what the upstream receives instead of a personal value.
//!
//! Everything here is pure: given keys, the subject and a value, it decides the replacement and the
//! vault item. Tokens are a function of (subject, kind of value, normalized value) only — never of
//! the route or field name — so a CRM can join records of one subject while another subject holding
//! the same value (a shared family phone) gets another token. Collisions of short phone tokens are
//! resolved by the store trying the next candidate; the token actually issued is remembered there, so
//! determinism holds across restarts.

pub mod detect;
pub mod phone;

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypto::Keys;
use crate::records::Mac;
use detect::Detected;

/// The seven actions of SPEC 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Tokenize,
    Encrypt,
    Hash,
    Mask,
    Redact,
    Pass,
    Drop,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Tokenize => "tokenize",
            Action::Encrypt => "encrypt",
            Action::Hash => "hash",
            Action::Mask => "mask",
            Action::Redact => "redact",
            Action::Pass => "pass",
            Action::Drop => "drop",
        }
    }

    /// Whether the original value is kept (encrypted) in the vault.
    pub fn stores_value(self) -> bool {
        matches!(self, Action::Tokenize | Action::Mask | Action::Redact)
    }
}

/// What a declared field holds; validated with the detector (and its checksum) when given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Email,
    Phone,
    Inn,
    Snils,
    Ogrn,
    Card,
    Iban,
    Passport,
    #[default]
    Text,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Inn => "inn",
            Kind::Snils => "snils",
            Kind::Ogrn => "ogrn",
            Kind::Card => "card",
            Kind::Iban => "iban",
            Kind::Passport => "passport",
            Kind::Text => "text",
        }
    }

    /// The token shape this kind gets.
    pub fn token_shape(self) -> TokenShape {
        match self {
            Kind::Email => TokenShape::Email,
            Kind::Phone => TokenShape::Phone,
            _ => TokenShape::Generic,
        }
    }

    /// Normalizes `value` for this kind, or `None` when it is not a value of this kind.
    pub fn normalize(self, value: &str) -> Option<String> {
        let v = value.trim();
        let d = || detect::digits(v);
        match self {
            Kind::Email => detect::is_email(v).then(|| v.to_lowercase()),
            Kind::Phone => detect::is_phone(v).then(|| normalize_phone(v)),
            Kind::Inn => {
                let d = d();
                (v.bytes().all(|b| b.is_ascii_digit())
                    && (detect::inn10_ok(&d) || detect::inn12_ok(&d)))
                .then(|| v.to_owned())
            }
            Kind::Snils => detect::snils_ok(&d()).then(|| digits_str(&d())),
            Kind::Ogrn => {
                let d = d();
                (detect::ogrn_ok(&d) || detect::ogrnip_ok(&d)).then(|| digits_str(&d))
            }
            Kind::Card => {
                let d = d();
                ((13..=19).contains(&d.len())
                    && detect::luhn_ok(&d)
                    && v.bytes()
                        .all(|b| b.is_ascii_digit() || b == b' ' || b == b'-'))
                .then(|| digits_str(&d))
            }
            Kind::Iban => {
                detect::iban_ok(v).then(|| v.chars().filter(|c| !c.is_whitespace()).collect())
            }
            Kind::Passport => {
                let d = d();
                (d.len() == 10 && v.bytes().all(|b| b.is_ascii_digit() || b == b' '))
                    .then(|| digits_str(&d))
            }
            Kind::Text => Some(v.to_owned()),
        }
    }
}

impl From<Detected> for Kind {
    fn from(d: Detected) -> Self {
        match d {
            Detected::Email => Kind::Email,
            Detected::Phone => Kind::Phone,
            Detected::Inn => Kind::Inn,
            Detected::Snils => Kind::Snils,
            Detected::Ogrn | Detected::Ogrnip => Kind::Ogrn,
            Detected::Card => Kind::Card,
            Detected::Iban => Kind::Iban,
            Detected::Passport => Kind::Passport,
            Detected::BankAccount
            | Detected::Ipv4
            | Detected::Ipv6
            | Detected::KzIin
            | Detected::KzBin => Kind::Text,
        }
    }
}

fn digits_str(d: &[u8]) -> String {
    d.iter().map(|x| char::from(b'0' + x)).collect()
}

/// The number in E.164 (`+79161234567`), national formats read in the detectors' default region
/// (a Russian `8 916 …` becomes `+7916…`); a value that does not parse keeps `+` and its digits.
fn normalize_phone(v: &str) -> String {
    match detect::parse_phone(v) {
        Some(p) => p.e164(),
        None => format!("+{}", digits_str(&detect::digits(v))),
    }
}

/// The three shapes of SPEC 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenShape {
    /// `t-<b32>@<token_domain>`
    Email,
    /// `+<cc>0<digits>`: same country code and length, national part starting with 0 so that it is
    /// never a dialable number (a CRM that texts it reaches nobody) and never detected as a phone.
    Phone,
    /// `tok_<b32>`
    Generic,
}

impl TokenShape {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenShape::Email => "email",
            TokenShape::Phone => "phone",
            TokenShape::Generic => "generic",
        }
    }
}

/// National numbers of this many digits or fewer get a long phone token.
const SHORT_PHONE: usize = 8;

/// How many token candidates the store may try when a short token is already taken.
pub const TOKEN_CANDIDATES: u8 = 4;

const B32: data_encoding::Encoding = data_encoding::BASE32_NOPAD;

/// The identity of one value of one subject: keyed MAC over subject, shape and normalized value.
pub fn value_mac(keys: &Keys, subject: &[u8], shape: TokenShape, normalized: &str) -> Mac {
    Mac::from(
        keys.token
            .mac(&[subject, shape.as_str().as_bytes(), normalized.as_bytes()]),
    )
}

/// Candidate `attempt` (0-based) of the token for a value whose identity is `mac`.
pub fn token_candidate(
    shape: TokenShape,
    mac: &Mac,
    attempt: u8,
    normalized: &str,
    token_domain: &str,
) -> String {
    let bytes: [u8; 32] = if attempt == 0 {
        *mac.as_bytes()
    } else {
        let mut h = Sha256::new();
        h.update(mac.as_bytes());
        h.update([attempt]);
        h.finalize().into()
    };
    match shape {
        TokenShape::Email => format!(
            "t-{}@{}",
            B32.encode(&bytes[..10]).to_lowercase(),
            token_domain
        ),
        TokenShape::Generic => format!("tok_{}", B32.encode(&bytes[..10]).to_lowercase()),
        TokenShape::Phone => {
            let d = detect::digits(normalized);
            let cc = detect::country_code_len(&d).min(d.len());
            // A short number's own length would leave few tokens (10^7 for 8 digits), which a
            // flood of forged intakes could exhaust: 13 random digits (over 2^40) instead.
            let national = match d.len().saturating_sub(cc) {
                n if n <= SHORT_PHONE => 14,
                n => n,
            };
            let mut out = String::with_capacity(2 + d.len());
            out.push('+');
            out.push_str(&digits_str(&d[..cc]));
            out.push('0');
            // Unbiased decimal digits from the MAC bytes (rejecting 250..=255).
            let mut digits = bytes.iter().filter(|&&b| b < 250).map(|b| b % 10);
            for _ in 1..national {
                let _ = write!(out, "{}", digits.next().unwrap_or(0));
            }
            out
        }
    }
}

/// Whether `s` has the shape of a token pdgate issues (used to keep `redact` idempotent and to
/// refuse re-tokenizing a token).
pub fn looks_like_token(s: &str, token_domain: &str) -> bool {
    let s = s.trim();
    let b32ok = |t: &str| {
        t.len() == 16
            && t.bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
    };
    if let Some(rest) = s.strip_prefix("tok_") {
        return b32ok(rest);
    }
    if let Some((local, domain)) = s.split_once('@') {
        return domain.eq_ignore_ascii_case(token_domain)
            && local.strip_prefix("t-").is_some_and(b32ok);
    }
    false
}

/// `hash`: keyed HMAC-SHA256 in hex, stable per value across subjects, routes and restarts.
pub fn hash_value(keys: &Keys, kind: Kind, normalized: &str) -> String {
    data_encoding::HEXLOWER.encode(
        &keys
            .value_hash
            .mac(&[kind.as_str().as_bytes(), normalized.as_bytes()]),
    )
}

/// Blind-index entry for finding a subject by an identifier without storing it.
pub fn blind_index(keys: &Keys, kind: Kind, normalized: &str) -> Mac {
    Mac::from(
        keys.blind_index
            .mac(&[kind.as_str().as_bytes(), normalized.as_bytes()]),
    )
}

/// `mask`: a partial value a human can recognise (`i***@mail.ru`, `+7 *** ***-**-67`).
pub fn mask(kind: Kind, value: &str) -> String {
    let v = value.trim();
    match kind {
        Kind::Email => match v.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => "***".to_owned(),
        },
        Kind::Phone => {
            let d = detect::digits(&normalize_phone(v));
            let cc = detect::country_code_len(&d).min(d.len());
            let tail = digits_str(&d[d.len().saturating_sub(2)..]);
            if d.first() == Some(&7) {
                format!("+7 *** ***-**-{tail}")
            } else {
                format!("+{} *** {tail}", digits_str(&d[..cc]))
            }
        }
        Kind::Card | Kind::Iban => {
            let chars: Vec<char> = v.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
            let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
            format!("**** {tail}")
        }
        _ => {
            let chars: Vec<char> = v.chars().collect();
            if chars.len() <= 4 {
                "***".to_owned()
            } else {
                let head: String = chars[..1].iter().collect();
                let tail: String = chars[chars.len() - 2..].iter().collect();
                format!("{head}***{tail}")
            }
        }
    }
}

/// Every shape of token pdgate issues: envelopes, generic and e-mail tokens, phone tokens.
pub fn token_pattern(token_domain: &str) -> regex::Regex {
    regex::Regex::new(&format!(
        r"pdg[12]\.[A-Za-z0-9_-]{{20,}}|tok_[a-z2-7]{{16}}|t-[a-z2-7]{{16}}@{}|\+[1-9][0-9]{{0,2}}0[0-9]{{3,14}}",
        regex::escape(token_domain)
    ))
    .expect("the token pattern is valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Kek, RootSecret};
    use proptest::prelude::*;

    fn keys() -> Keys {
        Keys::derive(Kek::generate(1), &RootSecret::generate())
    }

    fn reveal_shape() -> regex::Regex {
        token_pattern("relay.example")
    }

    #[test]
    fn token_shapes() {
        let k = keys();
        let mac = value_mac(&k, b"s1", TokenShape::Email, "ivan@mail.ru");
        let t = token_candidate(TokenShape::Email, &mac, 0, "ivan@mail.ru", "relay.example");
        assert!(t.starts_with("t-") && t.ends_with("@relay.example"), "{t}");
        assert!(looks_like_token(&t, "relay.example"));

        let mac = value_mac(&k, b"s1", TokenShape::Phone, "+79161234567");
        let t = token_candidate(TokenShape::Phone, &mac, 0, "+79161234567", "relay.example");
        assert_eq!(t.len(), "+79161234567".len());
        assert!(t.starts_with("+70"), "{t}");
        assert!(
            !detect::is_phone(&t),
            "a phone token must never be a dialable number: {t}"
        );

        // A short number gets 13 random digits after the 0: 10^13 > 2^40 candidates.
        for short in ["+7 12345", "+7 1234 5678", "+4930123"] {
            let n = normalize_phone(short);
            let mac = value_mac(&k, b"s1", TokenShape::Phone, &n);
            let t = token_candidate(TokenShape::Phone, &mac, 0, &n, "relay.example");
            let cc = detect::country_code_len(&detect::digits(&n));
            assert_eq!(t.len(), 1 + cc + 14, "{short}: {t}");
            assert!(10f64.powi(13) > 2f64.powi(40));
            assert!(!detect::is_phone(&t), "{t}");
            assert!(reveal_shape().is_match(&t), "reveal finds {t}");
        }

        let t = token_candidate(TokenShape::Generic, &mac, 0, "x", "relay.example");
        assert!(t.starts_with("tok_") && looks_like_token(&t, "relay.example"));
        assert_ne!(
            t,
            token_candidate(TokenShape::Generic, &mac, 1, "x", "relay.example")
        );
    }

    #[test]
    fn kinds_validate_with_checksums() {
        assert_eq!(
            Kind::Email.normalize(" Ivan@Mail.RU ").as_deref(),
            Some("ivan@mail.ru")
        );
        assert_eq!(
            Kind::Phone.normalize("8 (916) 123-45-67").as_deref(),
            Some("+79161234567")
        );
        assert_eq!(
            Kind::Phone.normalize("+7 916 123 45 67").as_deref(),
            Some("+79161234567")
        );
        assert!(Kind::Phone.normalize("not a phone").is_none());
        assert!(Kind::Inn.normalize("7707083893").is_some());
        assert!(Kind::Inn.normalize("7707083894").is_none());
        assert!(Kind::Snils.normalize("112-233-445 95").is_some());
        assert!(Kind::Snils.normalize("112-233-445 96").is_none());
        assert!(Kind::Card.normalize("4111 1111 1111 1111").is_some());
        assert!(Kind::Card.normalize("4111 1111 1111 1112").is_none());
        assert_eq!(Kind::Text.normalize("  x ").as_deref(), Some("x"));
    }

    #[test]
    fn masks() {
        assert_eq!(mask(Kind::Email, "ivan@mail.ru"), "i***@mail.ru");
        assert_eq!(mask(Kind::Phone, "+7 916 123-45-67"), "+7 *** ***-**-67");
        assert_eq!(mask(Kind::Phone, "+442071838750"), "+44 *** 50");
        assert_eq!(mask(Kind::Card, "4111 1111 1111 1111"), "**** 1111");
        assert_eq!(mask(Kind::Text, "Иванов"), "И***ов");
        assert_eq!(mask(Kind::Text, "Ян"), "***");
    }

    #[test]
    fn hash_is_stable_and_keyed() {
        let k = keys();
        assert_eq!(
            hash_value(&k, Kind::Email, "a@b.ru"),
            hash_value(&k, Kind::Email, "a@b.ru")
        );
        assert_ne!(
            hash_value(&k, Kind::Email, "a@b.ru"),
            hash_value(&keys(), Kind::Email, "a@b.ru")
        );
        assert_eq!(hash_value(&k, Kind::Email, "a@b.ru").len(), 64);
    }

    proptest! {
        #[test]
        fn tokens_are_deterministic_per_subject_and_differ_across_subjects(local in "[a-z]{1,12}", s1 in any::<[u8; 16]>(), s2 in any::<[u8; 16]>()) {
            prop_assume!(s1 != s2);
            let k = keys();
            let v = format!("{local}@mail.ru");
            let t = |s: &[u8]| token_candidate(TokenShape::Email, &value_mac(&k, s, TokenShape::Email, &v), 0, &v, "relay.example");
            prop_assert_eq!(t(&s1), t(&s1));
            prop_assert_ne!(t(&s1), t(&s2));
        }

        /// No input makes a detector, normalizer or mask panic — short, empty and odd strings
        /// included (the admin API fuzzer once found `is_phone("")` slicing past the end).
        #[test]
        fn detectors_and_actions_take_any_string(v in "(|[ +()0-9\\-]{0,3}|\\PC{0,40})") {
            for kind in [Kind::Email, Kind::Phone, Kind::Inn, Kind::Snils, Kind::Ogrn, Kind::Card, Kind::Iban, Kind::Passport, Kind::Text] {
                if let Some(n) = kind.normalize(&v) {
                    let _ = mask(kind, &n);
                }
                let _ = mask(kind, &v);
            }
            let _ = detect::detect(&v, "relay.example");
            let _ = looks_like_token(&v, "relay.example");
        }
    }
}
