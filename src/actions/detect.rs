//! Detectors for personal identifiers in free text, each with its checksum where one exists.
//!
//! A number that fails its checksum is not reported as that kind: a false "SNILS" in a comment is
//! worse than a miss, because it would be tokenized into something the CRM can no longer read.
//! Detectors never match pdgate's own tokens (`tok_…`, `t-…@<token_domain>`, phone tokens whose
//! national number starts with 0), which is what makes `redact` idempotent.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use regex::Regex;

/// What a detected identifier is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detected {
    Email,
    Phone,
    Passport,
    Snils,
    Inn,
    Ogrn,
    Ogrnip,
    Card,
    Iban,
    BankAccount,
    Ipv4,
    Ipv6,
}

impl Detected {
    pub fn as_str(self) -> &'static str {
        match self {
            Detected::Email => "email",
            Detected::Phone => "phone",
            Detected::Passport => "passport",
            Detected::Snils => "snils",
            Detected::Inn => "inn",
            Detected::Ogrn => "ogrn",
            Detected::Ogrnip => "ogrnip",
            Detected::Card => "card",
            Detected::Iban => "iban",
            Detected::BankAccount => "bank_account",
            Detected::Ipv4 => "ipv4",
            Detected::Ipv6 => "ipv6",
        }
    }
}

/// One identifier found in a text: its kind and byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    pub kind: Detected,
    pub start: usize,
    pub end: usize,
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z0-9._%+\-]+@[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)*\.[a-z]{2,24}\b").expect("static regex")
});
static PHONE_RU: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\+7|\b8)[\s\-]?\(?(\d{3})\)?[\s\-]?(\d{3})[\s\-]?(\d{2})[\s\-]?(\d{2})\b")
        .expect("static regex")
});
static PHONE_E164: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\+[1-9]\d{7,14}\b").expect("static regex"));
static DIGIT_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d{10,20}\b").expect("static regex"));
static CARD_GROUPED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b\d{4}(?:[ \-]\d{4}){2,3}(?:[ \-]\d{1,3})?\b").expect("static regex")
});
static SNILS_FMT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d{3}-\d{3}-\d{3}[ \-]\d{2}\b").expect("static regex"));
static PASSPORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d{2} ?\d{2} \d{6}\b").expect("static regex"));
static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
        .expect("static regex")
});
static BIK: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b04\d{7}\b").expect("static regex"));
static IPV4: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d{1,3}(?:\.\d{1,3}){3}\b").expect("static regex"));
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}").expect("static regex")
});

/// Finds every identifier in `text`, non-overlapping, in order. Emails in `token_domain` are
/// pdgate's own tokens and are skipped.
pub fn detect(text: &str, token_domain: &str) -> Vec<Finding> {
    let mut found: Vec<(Finding, u8)> = Vec::new();
    let mut push = |kind, start, end, rank| found.push((Finding { kind, start, end }, rank));

    for m in EMAIL.find_iter(text) {
        let domain = m.as_str().rsplit('@').next().unwrap_or_default();
        if !domain.eq_ignore_ascii_case(token_domain) {
            push(Detected::Email, m.start(), m.end(), 0);
        }
    }
    for c in PHONE_RU.captures_iter(text) {
        let m = c.get(0).expect("group 0 always exists");
        if c.get(1).is_some_and(|g| ru_national_ok(g.as_str())) {
            push(Detected::Phone, m.start(), m.end(), 1);
        }
    }
    for m in PHONE_E164.find_iter(text) {
        if is_phone(m.as_str()) {
            push(Detected::Phone, m.start(), m.end(), 2);
        }
    }
    for m in SNILS_FMT.find_iter(text) {
        if snils_ok(&digits(m.as_str())) {
            push(Detected::Snils, m.start(), m.end(), 1);
        }
    }
    for m in CARD_GROUPED.find_iter(text) {
        let d = digits(m.as_str());
        if (13..=19).contains(&d.len()) && luhn_ok(&d) {
            push(Detected::Card, m.start(), m.end(), 2);
        }
    }
    for m in DIGIT_RUN.find_iter(text) {
        if let Some(kind) = classify_digits(m.as_str(), text) {
            push(kind, m.start(), m.end(), 3);
        }
    }
    for m in PASSPORT.find_iter(text) {
        push(Detected::Passport, m.start(), m.end(), 4);
    }
    for m in IBAN.find_iter(text) {
        if iban_ok(m.as_str()) {
            push(Detected::Iban, m.start(), m.end(), 2);
        }
    }
    for m in IPV4.find_iter(text) {
        if m.as_str().parse::<Ipv4Addr>().is_ok() {
            push(Detected::Ipv4, m.start(), m.end(), 5);
        }
    }
    for m in IPV6.find_iter(text) {
        let s = m.as_str();
        if s.matches(':').count() >= 2
            && s.parse::<Ipv6Addr>().is_ok()
            && is_boundary(text, m.start(), m.end())
        {
            push(Detected::Ipv6, m.start(), m.end(), 5);
        }
    }

    // Earliest first; at one start the longest, then the more specific detector.
    found.sort_by(|(a, ra), (b, rb)| {
        a.start
            .cmp(&b.start)
            .then(b.end.cmp(&a.end))
            .then(ra.cmp(rb))
    });
    let mut out: Vec<Finding> = Vec::with_capacity(found.len());
    for (f, _) in found {
        if out.last().is_none_or(|last| f.start >= last.end) {
            out.push(f);
        }
    }
    out
}

fn is_boundary(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
        && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// A bare run of digits: the kind whose length and checksum fit, if any.
fn classify_digits(run: &str, text: &str) -> Option<Detected> {
    let d = digits(run);
    match d.len() {
        10 if inn10_ok(&d) => Some(Detected::Inn),
        11 if snils_ok(&d) => Some(Detected::Snils),
        12 if inn12_ok(&d) => Some(Detected::Inn),
        13 if ogrn_ok(&d) => Some(Detected::Ogrn),
        15 if ogrnip_ok(&d) => Some(Detected::Ogrnip),
        20 if BIK
            .find_iter(text)
            .any(|b| bank_account_ok(&d, &digits(b.as_str()))) =>
        {
            Some(Detected::BankAccount)
        }
        13..=19 if luhn_ok(&d) => Some(Detected::Card),
        _ => None,
    }
}

pub(crate) fn digits(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

/// A Russian national number (10 digits after +7/8) is a real one only if it starts with 3, 4, 8 or 9;
/// pdgate's own phone tokens start with 0 precisely so that they never pass this test.
fn ru_national_ok(first3: &str) -> bool {
    matches!(first3.as_bytes().first(), Some(b'3' | b'4' | b'8' | b'9'))
}

/// A full phone number: RU (+7/8 and 10 digits) or E.164 whose national part does not start with 0.
pub fn is_phone(s: &str) -> bool {
    let trimmed = s.trim();
    if trimmed
        .chars()
        .any(|c| !(c.is_ascii_digit() || " -()+".contains(c)))
        || trimmed.get(1..).is_some_and(|rest| rest.contains('+'))
    {
        return false;
    }
    let d = digits(trimmed);
    let plus = trimmed.starts_with('+');
    if d.len() == 11 && (d[0] == 7 && plus || d[0] == 8 && !plus) {
        return matches!(d[1], 3 | 4 | 8 | 9);
    }
    if plus && (8..=15).contains(&d.len()) && d[0] != 0 {
        let cc = country_code_len(&d);
        return d.len() > cc && d[cc] != 0;
    }
    false
}

/// Length of the E.164 country code at the start of `d` (ITU zones: 1 and 7 are one digit, the
/// listed two-digit codes are two, everything else three).
pub fn country_code_len(d: &[u8]) -> usize {
    match d {
        [1 | 7, ..] => 1,
        [2, 0 | 7, ..] => 2,
        [3, 0..=4 | 6 | 9, ..] => 2,
        [4, 0 | 1 | 3..=9, ..] => 2,
        [5, 1..=8, ..] => 2,
        [6, 0..=6, ..] => 2,
        [8, 1 | 2 | 4 | 6, ..] => 2,
        [9, 0..=5 | 8, ..] => 2,
        _ => 3,
    }
}

pub fn is_email(s: &str) -> bool {
    EMAIL
        .find(s)
        .is_some_and(|m| m.start() == 0 && m.end() == s.len())
}

pub fn luhn_ok(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 {
                    y - 9
                } else {
                    y
                }
            } else {
                x
            }
        })
        .sum();
    d.len() >= 2 && sum % 10 == 0
}

fn weighted(d: &[u8], w: &[u32]) -> u32 {
    d.iter().zip(w).map(|(&x, &w)| u32::from(x) * w).sum()
}

pub fn inn10_ok(d: &[u8]) -> bool {
    d.len() == 10 && weighted(d, &[2, 4, 10, 3, 5, 9, 4, 6, 8]) % 11 % 10 == u32::from(d[9])
}

pub fn inn12_ok(d: &[u8]) -> bool {
    d.len() == 12
        && weighted(d, &[7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) % 11 % 10 == u32::from(d[10])
        && weighted(d, &[3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) % 11 % 10 == u32::from(d[11])
}

pub fn snils_ok(d: &[u8]) -> bool {
    if d.len() != 11 {
        return false;
    }
    let sum = weighted(d, &[9, 8, 7, 6, 5, 4, 3, 2, 1]);
    let check = match sum {
        0..=99 => sum,
        100 | 101 => 0,
        _ => match sum % 101 {
            100 => 0,
            r => r,
        },
    };
    check == u32::from(d[9]) * 10 + u32::from(d[10])
}

fn mod_digits(d: &[u8], m: u64) -> u64 {
    d.iter().fold(0u64, |acc, &x| (acc * 10 + u64::from(x)) % m)
}

pub fn ogrn_ok(d: &[u8]) -> bool {
    d.len() == 13 && mod_digits(&d[..12], 11) % 10 == u64::from(d[12])
}

pub fn ogrnip_ok(d: &[u8]) -> bool {
    d.len() == 15 && mod_digits(&d[..14], 13) % 10 == u64::from(d[14])
}

pub fn iban_ok(s: &str) -> bool {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&s.len()) || !s.is_ascii() {
        return false;
    }
    let (head, tail) = s.split_at(4);
    let mut rem = 0u64;
    for c in tail.chars().chain(head.chars()) {
        let v = match c {
            '0'..='9' => u64::from(c as u8 - b'0'),
            'A'..='Z' => u64::from(c as u8 - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// A 20-digit settlement account with its BIK: the control key over the BIK's last three digits and
/// the account, weights 7-1-3 repeated, sums to a multiple of 10 (Bank of Russia rule).
pub fn bank_account_ok(account: &[u8], bik: &[u8]) -> bool {
    if account.len() != 20 || bik.len() != 9 {
        return false;
    }
    let w = [7u32, 1, 3];
    let sum: u32 = bik[6..]
        .iter()
        .chain(account)
        .enumerate()
        .map(|(i, &x)| (u32::from(x) * w[i % 3]) % 10)
        .sum();
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Detected, &str)> {
        detect(text, "relay.example")
            .into_iter()
            .map(|f| (f.kind, &text[f.start..f.end]))
            .collect()
    }

    #[test]
    fn checksums_accept_valid_and_reject_altered_numbers() {
        // (valid, same number with one digit changed)
        type Check = fn(&[u8]) -> bool;
        let cases: [(Check, &str, &str); 7] = [
            (inn10_ok, "7707083893", "7707083894"),
            (inn12_ok, "500100732259", "500100732258"),
            (snils_ok, "11223344595", "11223344596"),
            (ogrn_ok, "1027700132195", "1027700132197"),
            (ogrnip_ok, "304500116000157", "304500116000158"),
            (luhn_ok, "4111111111111111", "4111111111111112"),
            (luhn_ok, "5555555555554444", "5555555555554443"),
        ];
        for (check, good, bad) in cases {
            assert!(check(&digits(good)), "{good} should pass");
            assert!(!check(&digits(bad)), "{bad} should fail");
        }
        assert!(iban_ok("DE89 3704 0044 0532 0130 00"));
        assert!(!iban_ok("DE89 3704 0044 0532 0130 01"));
        assert!(iban_ok("GB82WEST12345698765432"));
    }

    #[test]
    fn bank_account_needs_its_bik() {
        // Sberbank's correspondent-style example: BIK 044525225, account 40702810138000000000 family.
        let bik = digits("044525225");
        let mut acct = digits("40702810038000000000");
        // find the key digit that makes it valid, then check a wrong one fails
        let valid = (0..10u8).find(|&k| {
            acct[8] = k;
            bank_account_ok(&acct, &bik)
        });
        let k = valid.expect("some key digit validates");
        acct[8] = (k + 1) % 10;
        assert!(!bank_account_ok(&acct, &bik));
        acct[8] = k;
        let text = format!(
            "р/с {} БИК 044525225",
            acct.iter().map(|d| (b'0' + d) as char).collect::<String>()
        );
        assert_eq!(
            kinds(&text).iter().map(|k| k.0).collect::<Vec<_>>(),
            vec![Detected::BankAccount]
        );
        let without_bik = format!(
            "р/с {}",
            acct.iter().map(|d| (b'0' + d) as char).collect::<String>()
        );
        assert!(kinds(&without_bik).is_empty());
    }

    #[test]
    fn finds_each_kind_in_free_text() {
        let text = "Пишите ivan.petrov@mail.ru или звоните +7 (916) 123-45-67, ИНН 7707083893, \
                    СНИЛС 112-233-445 95, карта 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, \
                    паспорт 45 09 123456, ОГРН 1027700132195, ip 192.168.1.20 и 2001:db8::1.";
        let got = kinds(text);
        let want = [
            (Detected::Email, "ivan.petrov@mail.ru"),
            (Detected::Phone, "+7 (916) 123-45-67"),
            (Detected::Inn, "7707083893"),
            (Detected::Snils, "112-233-445 95"),
            (Detected::Card, "4111 1111 1111 1111"),
            (Detected::Iban, "DE89 3704 0044 0532 0130 00"),
            (Detected::Passport, "45 09 123456"),
            (Detected::Ogrn, "1027700132195"),
            (Detected::Ipv4, "192.168.1.20"),
            (Detected::Ipv6, "2001:db8::1"),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn numbers_failing_their_checksum_are_not_reported() {
        let text = "ИНН 7707083894, СНИЛС 112-233-445 96, карта 4111 1111 1111 1112, ОГРН 1027700132197, 999.1.1.1";
        assert_eq!(kinds(text), vec![]);
    }

    #[test]
    fn pdgate_tokens_are_not_detected() {
        let text =
            "t-abcdefghij234567@relay.example tok_abcdefghij234567 +70123456789 +44 0123456789";
        assert_eq!(kinds(text), vec![]);
    }

    #[test]
    fn phones() {
        for ok in [
            "+79161234567",
            "89161234567",
            "+7 916 123-45-67",
            "+442071838750",
            "+1 2025550123",
        ] {
            assert!(is_phone(ok), "{ok}");
        }
        for bad in [
            "+70161234567",
            "79161234567x",
            "12345",
            "+0123456789",
            "8916123456",
            "+44 0123456789",
            // Empty and near-empty input (found by the API fuzzer: it used to panic).
            "",
            " ",
            "+",
            "-",
        ] {
            assert!(!is_phone(bad), "{bad}");
        }
        assert_eq!(country_code_len(&digits("79161234567")), 1);
        assert_eq!(country_code_len(&digits("442071838750")), 2);
        assert_eq!(country_code_len(&digits("375291234567")), 3);
    }
}
