//! Detectors for personal identifiers in free text, each with its checksum where one exists.
//!
//! A number that fails its checksum is not reported as that kind: a false "SNILS" in a comment is
//! worse than a miss, because it would be tokenized into something the CRM can no longer read.
//! Where a checksum cannot decide (Luhn and the INN's pass one random number in ten), the words
//! before a candidate do ([`context`]): "трек", "tracking", "version" reject it, "карта", "ИНН",
//! "паспорт" accept it. Phones are validated with libphonenumber's numbering plans (the
//! `phonenumber` crate): every country, international and national formats (national ones in
//! [`default_region`]), Russian and Kazakh +7 told apart.
//!
//! Overlapping findings are merged into one span ([`merge`]), so an identifier is redacted whole
//! or not at all: no detector's partial match leaves digits of another's in clear.
//! Detectors never match pdgate's own tokens (`tok_…`, `t-…@<token_domain>`, phone tokens whose
//! national number starts with 0), which is what makes `redact` idempotent. Everything is
//! linear-time: regexes (no backtracking) find candidates, validators run on candidates only.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{LazyLock, OnceLock};

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
    /// Kazakhstan's individual identification number (12 digits, birth date and checksum).
    KzIin,
    /// Kazakhstan's business identification number (12 digits, checksum).
    KzBin,
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
            Detected::KzIin => "kz_iin",
            Detected::KzBin => "kz_bin",
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

/// The region national-format phone numbers are read in (`[detectors] default_region`, RU unless
/// configured); set once at start.
static DEFAULT_REGION: OnceLock<phonenumber::country::Id> = OnceLock::new();

/// Sets the region for national-format phone numbers; the first call wins (the process's config).
pub fn set_default_region(region: phonenumber::country::Id) {
    let _ = DEFAULT_REGION.set(region);
}

pub fn default_region() -> phonenumber::country::Id {
    *DEFAULT_REGION.get_or_init(|| phonenumber::country::Id::RU)
}

// Word boundaries are ASCII ones (`(?-u:\b)`): Unicode ones make the regex engine leave its DFA on
// non-ASCII text, which was most of the cost; a Cyrillic letter next to a digit is a boundary.
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[\p{L}\p{N}._%+\-]+@[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?)*\.\p{L}{2,24}")
        .expect("static regex")
});
/// A phone candidate: `+` or a digit, then digits with single separators and brackets.
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\+\s?)?\(?[0-9]{1,5}\)?(?:[ \-.]?\(?[0-9]{1,5}\)?){1,7}").expect("static regex")
});
static DIGIT_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?-u:\b)[0-9]{9,20}(?-u:\b)").expect("static regex"));
/// Card-like groups: four digits, then groups of 2-6 (4-4-4-4, 4-6-5, 4-6-4, 4-4-4-4-3).
static CARD_GROUPED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u:\b)[0-9]{4}(?:[ \-][0-9]{2,6}){1,4}(?-u:\b)").expect("static regex")
});
static SNILS_FMT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u:\b)[0-9]{3}-[0-9]{3}-[0-9]{3}[ \-][0-9]{2}(?-u:\b)").expect("static regex")
});
static PASSPORT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u:\b)[0-9]{2} ?[0-9]{2} [0-9]{6}(?-u:\b)").expect("static regex")
});
/// `серия 4017 № 587682`, `серия 40 17 номер 587682`, `series 4017 no. 587682`.
static PASSPORT_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:серия|series|ser\.)\s*([0-9]{2}\s?[0-9]{2})\s*(?:№|n\s?o\.?|номер|nr\.?|#)\s*([0-9]{6})(?-u:\b)")
        .expect("static regex")
});
static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u:\b)[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?-u:\b)")
        .expect("static regex")
});
static BIK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?-u:\b)04[0-9]{7}(?-u:\b)").expect("static regex"));
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u:\b)[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?-u:\b)").expect("static regex")
});
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}").expect("static regex")
});

/// Finds every identifier in `text`, non-overlapping, in order. Emails in `token_domain` are
/// pdgate's own tokens and are skipped.
pub fn detect(text: &str, token_domain: &str) -> Vec<Finding> {
    // Nearly every identifier has a digit; e-mail addresses have an `@`.
    let bytes = text.as_bytes();
    let has_digit = bytes.iter().any(u8::is_ascii_digit);
    if !has_digit && !bytes.contains(&b'@') {
        return Vec::new();
    }
    let mut found: Vec<Finding> = Vec::new();
    let mut push = |kind, start, end| found.push(Finding { kind, start, end });
    for m in EMAIL.find_iter(text) {
        let domain = m.as_str().rsplit('@').next().unwrap_or_default();
        let local = &m.as_str()[..m.as_str().len() - domain.len() - 1];
        if !domain.eq_ignore_ascii_case(token_domain) && !local.starts_with('.') {
            push(Detected::Email, m.start(), m.end());
        }
    }
    if has_digit {
        numbers(text, &mut push);
    }
    merge(found)
}

/// Every detector over digits.
fn numbers(text: &str, push: &mut impl FnMut(Detected, usize, usize)) {
    for (start, end) in spans(&PHONE, text, |s, e| phone_span(text, s, e)) {
        push(Detected::Phone, start, end);
    }
    for m in SNILS_FMT.find_iter(text) {
        if snils_ok(&digits(m.as_str())) {
            push(Detected::Snils, m.start(), m.end());
        }
    }
    for (start, end) in spans(&CARD_GROUPED, text, |s, e| card_span(text, s, e)) {
        push(Detected::Card, start, end);
    }
    for m in DIGIT_RUN.find_iter(text) {
        if let Some(kind) = classify_digits(m.as_str(), text, m.start()) {
            push(kind, m.start(), m.end());
        }
    }
    for m in PASSPORT.find_iter(text) {
        push(Detected::Passport, m.start(), m.end());
    }
    for c in PASSPORT_WORDS.captures_iter(text) {
        if let (Some(series), Some(number)) = (c.get(1), c.get(2)) {
            push(Detected::Passport, series.start(), number.end());
        }
    }
    for m in IBAN.find_iter(text) {
        if iban_ok(m.as_str()) {
            push(Detected::Iban, m.start(), m.end());
        }
    }
    for m in IPV4.find_iter(text) {
        if m.as_str().parse::<Ipv4Addr>().is_ok() && !version_like(text, m.start(), m.end()) {
            push(Detected::Ipv4, m.start(), m.end());
        }
    }
    for m in IPV6.find_iter(text) {
        let s = m.as_str();
        if s.matches(':').count() >= 2
            && s.parse::<Ipv6Addr>().is_ok()
            && is_boundary(text, m.start(), m.end())
        {
            push(Detected::Ipv6, m.start(), m.end());
        }
    }
}

/// The spans `accept` takes from `re`'s candidates, where `accept` may keep only a prefix of a
/// candidate (`Some(end)`): the search goes on from that end, so an identifier right after another
/// is its own candidate, and after a refused candidate from past its first run of digits.
fn spans(
    re: &Regex,
    text: &str,
    mut accept: impl FnMut(usize, usize) -> Option<usize>,
) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(m) = re.find_at(text, at) {
        match accept(m.start(), m.end()) {
            Some(end) => {
                out.push((m.start(), end));
                at = end;
            }
            None => {
                let b = text.as_bytes();
                let first = (m.start()..m.end())
                    .find(|&i| b[i].is_ascii_digit())
                    .unwrap_or(m.start());
                at = (first..m.end())
                    .find(|&i| !b[i].is_ascii_digit())
                    .unwrap_or(m.end());
                // Always forward, to the next character at least.
                if at <= m.start() {
                    at = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
                }
            }
        }
    }
    out
}

/// Overlapping findings become one span covering them all, of the longest one's kind: redacting
/// the union never leaves part of either identifier in clear.
pub fn merge(mut found: Vec<Finding>) -> Vec<Finding> {
    found.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out: Vec<Finding> = Vec::with_capacity(found.len());
    for f in found {
        match out.last_mut() {
            Some(last) if f.start < last.end => {
                if f.end - f.start > last.end - last.start {
                    last.kind = f.kind;
                }
                last.end = last.end.max(f.end);
            }
            _ => out.push(f),
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

/// Words before a candidate that decide what a number is where its checksum cannot (RU/EN/DE),
/// looked for in the [`CONTEXT_CHARS`] characters before it.
pub mod context {
    /// A shipment, order, version or similar reference: not a personal identifier.
    pub const NOT_PERSONAL: &[&str] = &[
        "трек",
        "отслеж",
        "отправлен",
        "посылк",
        "заказ",
        "курьер",
        "накладн",
        "верси",
        "сборк",
        "артикул",
        "tracking",
        "track",
        "shipment",
        "parcel",
        "order",
        "courier",
        "waybill",
        "version",
        "build",
        "release",
        "sku",
        "sendung",
        "bestell",
        "paket",
        "auftrag",
        "kurier",
        "artikel",
    ];
    /// A payment card.
    pub const CARD: &[&str] = &["карт", "card", "karte", "visa", "mastercard", "мир", "amex"];
    /// A passport (a bare 10- or 9-digit number is one only after these words).
    pub const PASSPORT: &[&str] = &[
        "паспорт",
        "passport",
        "reisepass",
        "ausweis",
        "серия",
        "series",
    ];
    /// A taxpayer number.
    pub const TAX: &[&str] = &["инн", "inn", "tax", "steuer", "иин", "iin", "бин", "bin"];
}

/// How far back context words are looked for.
const CONTEXT_CHARS: usize = 40;

/// Whether one of `words` is in the [`CONTEXT_CHARS`] characters before `start`.
fn near(text: &str, start: usize, words: &[&str]) -> bool {
    let from = text[..start]
        .char_indices()
        .rev()
        .nth(CONTEXT_CHARS - 1)
        .map_or(0, |(i, _)| i);
    let window = text[from..start].to_lowercase();
    words.iter().any(|w| window.contains(w))
}

/// An IPv4-shaped match that is a version (`v3.4.0.14`, `version 3.4.0.14`, `3.4.0.14.2`).
fn version_like(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = &text.as_bytes()[end..];
    matches!(before, Some('v' | 'V' | '.'))
        || (after.first() == Some(&b'.') && after.get(1).is_some_and(u8::is_ascii_digit))
        || near(
            text,
            start,
            &["version", "верси", "build", "сборк", "release"],
        )
}

/// The end of the longest valid phone number starting the candidate `start..end` (dropping
/// trailing groups until one parses), if any.
fn phone_span(text: &str, start: usize, end: usize) -> Option<usize> {
    let before = text[..start].chars().next_back();
    if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '+' || c == '.') {
        return None;
    }
    let cand = &text[start..end];
    let mut ends: Vec<usize> = cand
        .char_indices()
        .filter(|&(i, c)| c.is_ascii_digit() || c == ')' && i > 0)
        .map(|(i, c)| i + c.len_utf8())
        .filter(|&e| cand[e..].chars().next().is_none_or(|c| !c.is_ascii_digit()))
        .collect();
    ends.dedup();
    let after_ok = |e: usize| {
        text[start + e..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    };
    ends.into_iter()
        .rev()
        .filter(|&e| after_ok(e))
        .find(|&e| is_phone_in(&cand[..e], false))
        .map(|e| start + e)
}

/// The end of the longest run of the grouped candidate that is a valid card, if any.
fn card_span(text: &str, start: usize, end: usize) -> Option<usize> {
    let cand = &text[start..end];
    let mut group_ends: Vec<usize> = cand
        .char_indices()
        .filter(|&(i, c)| {
            c.is_ascii_digit()
                && cand[i + 1..]
                    .chars()
                    .next()
                    .is_none_or(|n| !n.is_ascii_digit())
        })
        .map(|(i, _)| i + 1)
        .collect();
    group_ends.reverse();
    group_ends.into_iter().find_map(|e| {
        let d = digits(&cand[..e]);
        let tail_ok = cand[e..]
            .chars()
            .next()
            .is_none_or(|c| c == ' ' || c == '-');
        (tail_ok && card_ok(&d) && !near(text, start, context::NOT_PERSONAL)).then_some(start + e)
    })
}

/// A payment card number: Luhn, and a length its issuer's prefix allows (Visa, Mastercard, Mir,
/// American Express, Diners, Discover, JCB, UnionPay, Maestro), which rules out most numbers
/// that pass Luhn by chance (one in ten).
pub fn card_ok(d: &[u8]) -> bool {
    let n = d.len();
    let prefix = |k: usize| d.iter().take(k).fold(0u32, |a, &x| a * 10 + u32::from(x));
    let brand = match d.first() {
        Some(4) => matches!(n, 13 | 16 | 19),
        Some(5) => {
            matches!(prefix(2), 51..=55) && n == 16
                || matches!(prefix(2), 50 | 56..=59) && (13..=19).contains(&n)
        }
        Some(2) => {
            matches!(prefix(4), 2200..=2204) && (16..=19).contains(&n)
                || matches!(prefix(4), 2221..=2720) && n == 16
        }
        Some(3) => match prefix(2) {
            34 | 37 => n == 15,
            30 | 36 | 38 | 39 => (14..=19).contains(&n),
            35 => matches!(prefix(4), 3528..=3589) && (16..=19).contains(&n),
            _ => false,
        },
        Some(6) => (16..=19).contains(&n),
        _ => false,
    };
    brand && luhn_ok(d)
}

/// A bare run of digits: the kind whose length and checksum fit, if any, weighed by the words
/// before it where the checksum alone cannot decide.
fn classify_digits(run: &str, text: &str, start: usize) -> Option<Detected> {
    let d = digits(run);
    let ctx = |words: &[&str]| near(text, start, words);
    if ctx(context::PASSPORT) && matches!(d.len(), 9 | 10) {
        return Some(Detected::Passport);
    }
    // A shipment or order number that happens to pass a checksum is not the subject's: unless the
    // words say what it is.
    let reference = ctx(context::NOT_PERSONAL);
    match d.len() {
        10 if inn10_ok(&d) && (!reference || ctx(context::TAX)) => Some(Detected::Inn),
        11 if snils_ok(&d) && !reference => Some(Detected::Snils),
        12 if inn12_ok(&d) && (!reference || ctx(context::TAX)) => Some(Detected::Inn),
        12 if kz_iin_ok(&d) && !reference => Some(Detected::KzIin),
        12 if kz_bin_ok(&d) && !reference => Some(Detected::KzBin),
        13 if ogrn_ok(&d) && !reference => Some(Detected::Ogrn),
        15 if ogrnip_ok(&d) && !reference => Some(Detected::Ogrnip),
        20 if BIK
            .find_iter(text)
            .any(|b| bank_account_ok(&d, &digits(b.as_str()))) =>
        {
            Some(Detected::BankAccount)
        }
        13..=19 if card_ok(&d) && (!reference || ctx(context::CARD)) => Some(Detected::Card),
        _ => None,
    }
}

pub(crate) fn digits(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

/// A full phone number, valid in libphonenumber's numbering plan of its country: international
/// (`+` and the country code) or national in [`default_region`]. A number whose national part
/// starts with 0 after the country code is never one: pdgate's phone tokens have that shape.
pub fn is_phone(s: &str) -> bool {
    is_phone_in(s, true)
}

/// [`is_phone`]; `strict` also refuses characters other than digits, spaces, `-`, `(`, `)`, `.`.
fn is_phone_in(s: &str, strict: bool) -> bool {
    let t = s.trim();
    let bad_char = |c: char| !(c.is_ascii_digit() || " -().+".contains(c));
    if t.is_empty()
        || strict && t.chars().any(bad_char)
        || t.get(1..).is_some_and(|r| r.contains('+'))
    {
        return false;
    }
    let n = digits(t).len();
    if t.len() > 40 || !(7..=15).contains(&n) || !plausible_length(&digits(t), t.starts_with('+')) {
        return false;
    }
    let Ok(number) = phonenumber::parse(Some(default_region()), t) else {
        return false;
    };
    let national = number.national();
    if t.starts_with('+') {
        let d = digits(t);
        let cc = number.code().value().to_string().len();
        if d.get(cc) == Some(&0) {
            return false;
        }
    }
    national.value() != 0 && phonenumber::is_valid(&number)
}

/// Whether the digits have a length some numbering plan allows (the country code's, or the
/// default region's after its national prefix): a check of a few table lookups that spares
/// parsing most digit groups that are no phone (dates, card groups, prices).
fn plausible_length(d: &[u8], international: bool) -> bool {
    use phonenumber::metadata::DATABASE;
    let fits = |m: &phonenumber::Metadata, national: usize| {
        let lengths = m.descriptors().general().possible_length();
        lengths.is_empty() || lengths.iter().any(|&l| usize::from(l) == national)
    };
    if international {
        return (1..=3).any(|k| {
            let cc = d.iter().take(k).fold(0u16, |a, &x| a * 10 + u16::from(x));
            d.len() > k
                && DATABASE
                    .by_code(&cc)
                    .is_some_and(|ms| ms.iter().any(|m| fits(m, d.len() - k)))
        });
    }
    let region = default_region();
    let Some(m) = DATABASE.by_id(region.as_ref()) else {
        return true;
    };
    let prefix = m.national_prefix().map(digits).unwrap_or_default();
    fits(m, d.len())
        || !prefix.is_empty() && d.starts_with(&prefix) && fits(m, d.len() - prefix.len())
}

/// Kazakhstan's IIN: YYMMDD, a century-and-sex digit 0-6, and the checksum (weights 1-11, or 3-11,
/// 1, 2 when the first gives 10).
pub fn kz_iin_ok(d: &[u8]) -> bool {
    if d.len() != 12 {
        return false;
    }
    let two = |i: usize| d[i] * 10 + d[i + 1];
    (1..=12).contains(&two(2)) && (1..=31).contains(&two(4)) && d[6] <= 6 && kz_check(d)
}

/// Kazakhstan's BIN: YYMM, a kind digit 4-6, and the IIN's checksum.
pub fn kz_bin_ok(d: &[u8]) -> bool {
    d.len() == 12
        && (1..=12).contains(&(d[2] * 10 + d[3]))
        && (4..=6).contains(&d[4])
        && kz_check(d)
}

fn kz_check(d: &[u8]) -> bool {
    let first = weighted(d, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]) % 11;
    let check = if first == 10 {
        weighted(d, &[3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]) % 11
    } else {
        first
    };
    check != 10 && check == u32::from(d[11])
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

    /// `prefix` completed with the check digit that makes it pass `ok` (test data, not a rule).
    fn complete(prefix: &str, ok: fn(&[u8]) -> bool) -> String {
        (0..10)
            .map(|k| format!("{prefix}{k}"))
            .find(|c| ok(&digits(c)))
            .expect("some check digit fits")
    }

    #[test]
    fn phones_of_every_country_and_format() {
        for ok in [
            "+7 701 123 4567",    // Kazakhstan (Kcell)
            "+7 (727) 258-48-00", // Almaty landline
            "8 701 123 45 67",    // Kazakh mobile in the shared national form
            "+44 20 7183 8750",   // UK, spaced
            "+44 7911 123456",    // UK mobile
            "+49 30 901820",      // Berlin
            "+49 1512 3456789",   // German mobile
            "+1 (202) 456-1111",  // US, brackets
            "+1-202-456-1111",
            "+33 1 42 68 53 00", // Paris
            "916 123-45-67",     // Russian national without the trunk 8
            "+7 916 123-45-67",
        ] {
            assert!(is_phone(ok), "{ok}");
        }
        for bad in [
            "+7 016 123 4567",
            "+44 0123456789",
            "+1 (000) 456-1111",
            "123-45-67",
        ] {
            assert!(!is_phone(bad), "{bad}");
        }
    }

    #[test]
    fn phones_in_text_keep_their_country_code() {
        for (text, phone) in [
            ("Call me on +44 20 7183 8750 tomorrow", "+44 20 7183 8750"),
            ("тел. +7 701 123 4567, спасибо", "+7 701 123 4567"),
            ("Rufen Sie +49 (30) 901820 an.", "+49 (30) 901820"),
            ("US office: +1 (202) 456-1111.", "+1 (202) 456-1111"),
            ("звоните 8 (916) 123-45-67 после 18", "8 (916) 123-45-67"),
        ] {
            assert_eq!(kinds(text), vec![(Detected::Phone, phone)], "{text}");
        }
    }

    #[test]
    fn cards_of_every_layout_are_found_whole() {
        let amex = complete("37828224631000", card_ok);
        let grouped = format!("{} {} {}", &amex[..4], &amex[4..10], &amex[10..]);
        let dashed = grouped.replace(' ', "-");
        let diners = complete("3056930902590", card_ok);
        let diners = format!("{} {} {}", &diners[..4], &diners[4..10], &diners[10..]);
        let mir19 = complete("220000000000000000", card_ok);
        let mir19 = format!(
            "{} {} {} {} {}",
            &mir19[..4],
            &mir19[4..8],
            &mir19[8..12],
            &mir19[12..16],
            &mir19[16..]
        );
        for card in [grouped, dashed, diners, mir19, "4111 1111 1111 1111".into()] {
            let text = format!("карта {card} до 12/27");
            assert_eq!(
                kinds(&text),
                vec![(Detected::Card, card.as_str())],
                "{text}"
            );
        }
    }

    #[test]
    fn overlapping_findings_are_redacted_as_one_span() {
        let merged = merge(vec![
            Finding {
                kind: Detected::Passport,
                start: 4,
                end: 16,
            },
            Finding {
                kind: Detected::Phone,
                start: 0,
                end: 14,
            },
            Finding {
                kind: Detected::Inn,
                start: 20,
                end: 30,
            },
        ]);
        assert_eq!(
            merged,
            vec![
                Finding {
                    kind: Detected::Phone,
                    start: 0,
                    end: 16
                },
                Finding {
                    kind: Detected::Inn,
                    start: 20,
                    end: 30
                },
            ]
        );
    }

    #[test]
    fn passports_in_every_written_form() {
        for (text, passport) in [
            ("паспорт 5008685356 выдан", "5008685356"),
            ("серия 4017 № 587682", "4017 № 587682"),
            ("Серия 40 17 номер 587682", "40 17 номер 587682"),
            ("паспорт 45 09 123456", "45 09 123456"),
            ("загранпаспорт 751234567", "751234567"),
        ] {
            assert_eq!(kinds(text), vec![(Detected::Passport, passport)], "{text}");
        }
    }

    #[test]
    fn international_email_addresses() {
        for (text, email) in [
            ("пишите на заказы@пример.рф", "заказы@пример.рф"),
            ("contact: jörg.müller@bücher.de.", "jörg.müller@bücher.de"),
            ("ivan@mail.ru", "ivan@mail.ru"),
        ] {
            assert_eq!(kinds(text), vec![(Detected::Email, email)], "{text}");
        }
    }

    #[test]
    fn kazakh_iin_and_bin() {
        let iin = complete("90010140001", kz_iin_ok);
        let bin = complete("04054000123", kz_bin_ok);
        assert_eq!(
            kinds(&format!("ИИН {iin}")),
            vec![(Detected::KzIin, iin.as_str())]
        );
        assert_eq!(
            kinds(&format!("БИН {bin}")),
            vec![(Detected::KzBin, bin.as_str())]
        );
        let mut bad = digits(&iin);
        bad[11] = (bad[11] + 1) % 10;
        assert!(!kz_iin_ok(&bad));
    }

    /// Non-ASCII digits are no candidate (they once kept the scan in place for ever).
    #[test]
    fn non_ascii_digits_end() {
        assert_eq!(
            kinds("٣٣٣٣٣٣٣ ١٢٣٤ ٥٦٧٨ ٩٠١٢ ٣٤٥٦ and +7 916 123-45-67"),
            vec![(Detected::Phone, "+7 916 123-45-67")]
        );
    }

    #[test]
    fn look_alikes_are_not_identifiers() {
        let tracking = complete("1234567890123", luhn_ok);
        let ogrn_bad = complete("102770013219", |d| luhn_ok(d) && !ogrn_ok(d));
        let courier = complete("770708389", inn10_ok);
        for text in [
            "версия 3.4.0.14".to_owned(),
            "app v3.4.0.14 build 7".to_owned(),
            "updated to 10.2.3.4.5".to_owned(),
            format!("трек-номер {tracking}5"),
            format!("ОГРН {ogrn_bad}"),
            format!("номер курьера {courier}"),
            "tracking 12345678903555".to_owned(),
        ] {
            assert_eq!(kinds(&text), vec![], "{text}");
        }
        // The same INN after its own word is one.
        assert_eq!(kinds(&format!("ИНН курьера {courier}")).len(), 1);
    }
}
