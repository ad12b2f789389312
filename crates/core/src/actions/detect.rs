//! Detectors for personal identifiers in free text, each with its checksum where one exists.
//!
//! A number that fails its checksum is not reported as that kind: a false "SNILS" in a comment is
//! worse than a miss, because it would be tokenized into something the CRM can no longer read.
//! Where a checksum cannot decide (Luhn and the INN's pass one random number in ten), the words
//! before a candidate do ([`context`]): "трек", "tracking", "version" reject it, "карта", "ИНН",
//! "паспорт" accept it. Phones are validated with libphonenumber's numbering plans (the
//! `phonenumber` crate): every country, international and national formats (national ones in
//! the default region of [`regions`]), Russian and Kazakh +7 told apart.
//!
//! Overlapping findings are merged into one span ([`merge`]), so an identifier is redacted whole
//! or not at all: no detector's partial match leaves digits of another's in clear.
//! Detectors never match pdgate's own tokens (`tok_…`, `t-…@<token_domain>`, phone tokens whose
//! national number starts with 0), which is what makes `redact` idempotent. Everything is
//! linear-time: the digit shapes are matched by hand over bytes (`shapes`, each bounded in
//! length and checked against the pattern it stands for), IBANs and IPv6 addresses by DFAs,
//! e-mail addresses by a regex around each `@`; validators run on candidates only.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{LazyLock, OnceLock};

use regex::Regex;

use super::phone;

mod shapes;
use shapes::Finder;

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

/// Where phone numbers written without `+` are read (`[detectors]`): national forms of the
/// default region always; those of the foreign regions in free text only, and only when written
/// in groups of at least 10 digits, where a national reading is what the writer meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regions {
    pub default: String,
    pub foreign: Vec<String>,
}

/// The foreign regions whose national forms free text is read in unless configured.
pub const DEFAULT_FOREIGN_REGIONS: &[&str] = &["BY", "DE", "GB", "US"];

impl Default for Regions {
    fn default() -> Self {
        Regions {
            default: "RU".into(),
            foreign: DEFAULT_FOREIGN_REGIONS
                .iter()
                .map(|r| (*r).into())
                .collect(),
        }
    }
}

static REGIONS: OnceLock<Regions> = OnceLock::new();

/// Sets the regions phone numbers are read in; the first call wins (the process's config).
pub fn set_regions(regions: Regions) {
    let _ = REGIONS.set(regions);
}

pub fn regions() -> &'static Regions {
    REGIONS.get_or_init(Regions::default)
}

// Word boundaries are ASCII ones (`(?-u:\b)`): Unicode ones make the regex engine leave its DFA on
// non-ASCII text, which was most of the cost; a Cyrillic letter next to a digit is a boundary.
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[\p{L}\p{N}._%+\-]+@[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?)*\.\p{L}{2,24}")
        .expect("static regex")
});
// The digit shapes, matched by hand (see `shapes`, where each one's pattern is written).
const PHONE: Finder = shapes::phone;
const DIGIT_RUN: Finder = shapes::digit_run;
/// Card-like groups: four digits, then groups of 2-6 (4-4-4-4, 4-6-5, 4-6-4, 4-4-4-4-3).
const CARD_GROUPED: Finder = shapes::card_grouped;
/// A card's grouping exactly: 4-4-4-4, 4-4-4-4-3, 4-6-5, 4-6-4, one separator throughout.
const CARD_LAYOUT: Finder = shapes::card_layout;
const SNILS_FMT: Finder = shapes::snils;
const PASSPORT: Finder = shapes::passport;
/// `4017 № 587682`, `40 17 номер 587682`, `4017 no. 587682` — a passport after a passport word
/// (`серия`, `series`, …; see [`context`]).
const PASSPORT_WORDS: Finder = shapes::passport_words;
const IPV4: Finder = shapes::ipv4;
static IBAN: LazyLock<Scan> = LazyLock::new(|| {
    Scan::new(r"(?-u:\b)[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?-u:\b)")
});
static BIK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?-u:\b)04[0-9]{7}(?-u:\b)").expect("static regex"));
static IPV6: LazyLock<Scan> =
    LazyLock::new(|| Scan::new(r"(?i)(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}"));

/// A detector's pattern as a fully compiled DFA pair (forward for the end, reverse for the
/// start): islands are short and start near a digit, where the `regex` crate's per-search set-up
/// (its cache pool, its literal prefilter, its lazy DFA's state checks) cost more than the search.
/// The patterns are small, so their DFAs are a few kilobytes built once.
struct Scan(regex_automata::dfa::regex::Regex);

impl Scan {
    fn new(pattern: &str) -> Scan {
        let re = regex_automata::dfa::regex::Regex::new(pattern).expect("static regex");
        Scan(re)
    }
}

impl Find for Scan {
    fn find_at<'h>(&self, hay: &'h str, at: usize) -> Option<Hit<'h>> {
        let input = regex_automata::Input::new(hay).span(at..hay.len());
        self.0.find(input).map(|m| Hit {
            hay,
            start: m.start(),
            end: m.end(),
        })
    }
}

/// A detector's search: the leftmost match at `at` or later (what `regex`'s `find_at` gives: the
/// text before `at` still counts for `\b`).
trait Find {
    fn find_at<'h>(&self, hay: &'h str, at: usize) -> Option<Hit<'h>>;
}

impl Find for Finder {
    fn find_at<'h>(&self, hay: &'h str, at: usize) -> Option<Hit<'h>> {
        self(hay.as_bytes(), at).map(|(start, end)| Hit { hay, start, end })
    }
}

/// A match of a [`Find`].
#[derive(Debug, Clone, Copy)]
struct Hit<'h> {
    hay: &'h str,
    start: usize,
    end: usize,
}

impl<'h> Hit<'h> {
    fn start(&self) -> usize {
        self.start
    }
    fn end(&self) -> usize {
        self.end
    }
    fn as_str(&self) -> &'h str {
        &self.hay[self.start..self.end]
    }
}

/// Finds every identifier in `text`, non-overlapping, in order. Emails in `token_domain` are
/// pdgate's own tokens and are skipped.
pub fn detect(text: &str, token_domain: &str) -> Vec<Finding> {
    let mut found: Vec<Finding> = Vec::new();
    let mut push = |kind, start, end| found.push(Finding { kind, start, end });
    for (start, end) in emails(text) {
        let m = &text[start..end];
        let domain = m.rsplit('@').next().unwrap_or_default();
        if !domain.eq_ignore_ascii_case(token_domain) && !m.starts_with('.') {
            push(Detected::Email, start, end);
        }
    }
    // Every other identifier has a digit; text without one costs a scan for digits.
    numbers(text, &mut push);
    merge(found)
}

/// E-mail addresses: the pattern runs only around each `@` (found by `memchr`), on the run of
/// characters an address can hold; the same matches as running it over the whole text, without
/// its Unicode classes stepping through every letter of a text with no `@`.
fn emails(text: &str) -> Vec<(usize, usize)> {
    let local = |c: char| c.is_alphanumeric() || "._%+-".contains(c);
    let domain = |c: char| c.is_alphanumeric() || c == '-' || c == '.';
    let mut out = Vec::new();
    let mut done = 0;
    for at in memchr::memchr_iter(b'@', text.as_bytes()) {
        if at < done {
            continue;
        }
        let start = text[done..at]
            .char_indices()
            .rev()
            .take_while(|&(_, c)| local(c))
            .last()
            .map_or(at, |(i, _)| done + i);
        let end = text[at + 1..]
            .char_indices()
            .find(|&(_, c)| !domain(c))
            .map_or(text.len(), |(i, _)| at + 1 + i);
        if let Some(m) = EMAIL.find(&text[start..end]) {
            out.push((start + m.start(), start + m.end()));
            done = start + m.end();
        }
    }
    out
}

/// Every detector over digits. Shapes that belong to one kind (an IBAN's, a SNILS's, a card's
/// groups) claim their span: when their checksum fails, nothing inside is reported as another
/// kind (a mistyped card is not a phone).
fn numbers(text: &str, push: &mut impl FnMut(Detected, usize, usize)) {
    let digit_islands = islands(
        text,
        u8::is_ascii_digit,
        |b| b.iter().position(u8::is_ascii_digit),
        DIGIT_REACH,
    );
    let colon_islands = islands(
        text,
        |&b| b == b':',
        |b| memchr::memchr(b':', b),
        Reach {
            bridge: 6,
            margin: 6,
        },
    );
    numbers_in(text, &digit_islands, &colon_islands, push);
}

fn numbers_in(
    text: &str,
    digit_islands: &[(usize, usize)],
    colon_islands: &[(usize, usize)],
    push: &mut impl FnMut(Detected, usize, usize),
) {
    let mut found: Vec<(Detected, usize, usize)> = Vec::new();
    let mut claimed: Vec<(usize, usize)> = Vec::new();
    for &(from, to) in digit_islands {
        // Each island's numbers have their own context reads.
        in_island(&mut Contexts::new(text), from, to, &mut found, &mut claimed);
    }
    for &(from, to) in colon_islands {
        for m in finds(&*IPV6, &text[..to], from) {
            let s = m.as_str();
            if s.matches(':').count() >= 2
                && s.parse::<Ipv6Addr>().is_ok()
                && is_boundary(text, m.start(), m.end())
            {
                found.push((Detected::Ipv6, m.start(), m.end()));
            }
        }
    }
    let inside_claim = |&(kind, s, e): &(Detected, usize, usize)| {
        claimed
            .iter()
            .any(|&(cs, ce)| s < ce && e > cs && !(kind != Detected::Phone && s <= cs && e >= ce))
    };
    for f in found.iter().filter(|f| !inside_claim(f)) {
        push(f.0, f.1, f.2);
    }
}

/// The detectors over digits on one island `from..to` of `text` (see [`islands`]).
fn in_island(
    words: &mut Contexts,
    from: usize,
    to: usize,
    found: &mut Vec<(Detected, usize, usize)>,
    claimed: &mut Vec<(usize, usize)>,
) {
    let text = words.text;
    let hay = &text[..to];
    let has = Shape::of(&text.as_bytes()[from..to]);
    let before = (found.len(), claimed.len());
    if has.digits >= 11 && has.dash_in_digits {
        for m in finds(&SNILS_FMT, hay, from) {
            if snils_ok(&Digits::of(m.as_str())) {
                found.push((Detected::Snils, m.start(), m.end()));
            } else {
                claimed.push((m.start(), m.end()));
            }
        }
    }
    if has.digits >= 13 && has.card_group {
        for m in finds(&CARD_LAYOUT, hay, from) {
            if !card_ok(&Digits::of(m.as_str())) {
                claimed.push((m.start(), m.end()));
            }
        }
        for (start, end) in spans(&CARD_GROUPED, hay, from, &[], |s, e| card_span(text, s, e)) {
            found.push((Detected::Card, start, end));
        }
    }
    if has.capital_then_digit {
        for m in finds(&*IBAN, hay, from) {
            match iban_span(m.as_str()) {
                Some(len) => found.push((Detected::Iban, m.start(), m.start() + len)),
                None => claimed.push((m.start(), m.end())),
            }
        }
    }
    if has.digits >= 7 {
        // A phone is not looked for inside a card, SNILS or IBAN (found or claimed): it could only
        // be part of it.
        let mut taken: Vec<(usize, usize)> = found[before.0..]
            .iter()
            .map(|&(_, s, e)| (s, e))
            .chain(claimed[before.1..].iter().copied())
            .collect();
        taken.sort_unstable();
        for (start, end) in spans(&PHONE, hay, from, &taken, |s, e| phone_span(words, s, e)) {
            found.push((Detected::Phone, start, end));
        }
    }
    if has.longest >= 9 {
        for m in finds(&DIGIT_RUN, hay, from) {
            if let Some(kind) = classify_digits(m.as_str(), words, m.start()) {
                found.push((kind, m.start(), m.end()));
            }
        }
    }
    if has.passport_number {
        passports(text, hay, from, found);
    }
    if has.dot_in_digits {
        for m in finds(&IPV4, hay, from) {
            if m.as_str().parse::<Ipv4Addr>().is_ok() && !version_like(text, m.start(), m.end()) {
                found.push((Detected::Ipv4, m.start(), m.end()));
            }
        }
    }
}

fn passports(text: &str, hay: &str, from: usize, found: &mut Vec<(Detected, usize, usize)>) {
    for m in finds(&PASSPORT, hay, from) {
        found.push((Detected::Passport, m.start(), m.end()));
    }
    for m in finds(&PASSPORT_WORDS, hay, from) {
        if context_at(text, m.start()) == Some(Context::Passport) {
            found.push((Detected::Passport, m.start(), m.end()));
        }
    }
}

/// What an island holds, read in one pass: a detector whose shape cannot be there is not run
/// (most of the cost of a short island is starting the searches, not running them).
#[derive(Debug, Default)]
struct Shape {
    digits: usize,
    /// The longest run of consecutive digits.
    longest: usize,
    /// A `-` between digits (a SNILS's groups).
    dash_in_digits: bool,
    /// A `.` between digits (an IPv4 address).
    dot_in_digits: bool,
    /// A run of exactly four digits, then a space or `-` and a digit (a card's first group).
    card_group: bool,
    /// A run of exactly six digits right after a run of two or four (a passport's number after
    /// its series).
    passport_number: bool,
    /// An ASCII capital followed by another and a digit (`DE8…`): an IBAN's start.
    capital_then_digit: bool,
}

impl Shape {
    fn of(b: &[u8]) -> Shape {
        let mut s = Shape::default();
        let (mut run, mut previous) = (0, 0);
        for (i, &c) in b.iter().enumerate() {
            if c.is_ascii_digit() {
                s.digits += 1;
                run += 1;
                continue;
            }
            if run > 0 {
                s.longest = s.longest.max(run);
                let digit_next = b.get(i + 1).is_some_and(u8::is_ascii_digit);
                s.dash_in_digits |= c == b'-' && digit_next;
                s.dot_in_digits |= c == b'.' && digit_next;
                s.card_group |= run == 4 && (c == b' ' || c == b'-') && digit_next;
                s.passport_number |= run == 6 && matches!(previous, 2 | 4);
                previous = run;
                run = 0;
            }
            s.capital_then_digit |= c.is_ascii_uppercase()
                && b.get(i + 1).is_some_and(u8::is_ascii_uppercase)
                && b.get(i + 2).is_some_and(u8::is_ascii_digit);
        }
        s.longest = s.longest.max(run);
        s.passport_number |= run == 6 && matches!(previous, 2 | 4);
        s
    }
}

/// How far apart two digits of one identifier can be (`4017 номер 587682`, an IBAN's letter
/// group), and how far its first character can come before its first digit (`+ (`, an IBAN's
/// country) or its last after its last digit.
const DIGIT_REACH: Reach = Reach {
    bridge: 32,
    margin: 8,
};

/// What [`islands`] joins and widens by.
#[derive(Debug, Clone, Copy)]
struct Reach {
    /// Key bytes at most this far apart are in one island.
    bridge: usize,
    /// Each island is widened by this on each side (and then to the next ASCII space after).
    margin: usize,
}

/// The stretches of `text` where its bytes matching `key` (the first of them found by `next`) lie
/// at most `reach.bridge` bytes apart, widened by `reach.margin` on each side and to the next
/// ASCII space after: every match of the detectors lies within one (their parts between digits,
/// and before the first or after the last, are shorter), so they need not read the rest of the
/// text. Sorted, disjoint, on char boundaries.
fn islands(
    text: &str,
    key: impl Fn(&u8) -> bool,
    next: impl Fn(&[u8]) -> Option<usize>,
    reach: Reach,
) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while let Some(first) = next(&b[i..]).map(|q| i + q) {
        let mut last = first;
        while let Some(q) = b[last + 1..(last + 1 + reach.bridge).min(b.len())]
            .iter()
            .position(&key)
        {
            last += 1 + q;
        }
        let mut from = first.saturating_sub(reach.margin);
        while !text.is_char_boundary(from) {
            from -= 1;
        }
        i = (last + 1 + reach.margin).min(b.len());
        let to = i + b[i..]
            .iter()
            .position(u8::is_ascii_whitespace)
            .unwrap_or(b.len() - i);
        match out.last_mut() {
            Some(prev) if from <= prev.1 => prev.1 = prev.1.max(to),
            _ => out.push((from, to)),
        }
    }
    out
}

/// The matches of `re` in `hay` from `from` on.
fn finds<'h>(re: &'h impl Find, hay: &'h str, from: usize) -> impl Iterator<Item = Hit<'h>> {
    let mut at = from;
    std::iter::from_fn(move || {
        let m = re.find_at(hay, at)?;
        at = if m.end() > m.start() {
            m.end()
        } else {
            m.end() + hay[m.end()..].chars().next().map_or(1, char::len_utf8)
        };
        Some(m)
    })
}

/// The length of the IBAN at the start of an IBAN-shaped match: as many characters as its
/// country's IBANs have (ISO 13616 registry), ending at a group, with valid check digits. A word
/// of four capitals after an IBAN is not part of it.
fn iban_span(m: &str) -> Option<usize> {
    let Some(want) = iban_length(m.get(..2)?) else {
        return iban_ok(m).then_some(m.len());
    };
    let mut seen = 0;
    let end = m
        .char_indices()
        .filter(|&(_, c)| c != ' ')
        .find_map(|(i, _)| {
            seen += 1;
            (seen == want).then_some(i + 1)
        })?;
    let at_group_end = m[end..].is_empty() || m[end..].starts_with(' ');
    (at_group_end && iban_ok(&m[..end])).then_some(end)
}

/// IBAN lengths by country (the ISO 13616 registry).
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("LY", 25),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SD", 18),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
];

fn iban_length(country: &str) -> Option<usize> {
    IBAN_LENGTHS
        .iter()
        .find(|(c, _)| *c == country)
        .map(|&(_, n)| n)
}

/// The spans `accept` takes from `re`'s candidates (none starting inside a `skip` range), where
/// `accept` may keep only a prefix of a candidate (`Some(end)`): the search goes on from that end, so an identifier right after another
/// is its own candidate. After a refused candidate it goes on from past its first run of digits,
/// or past all of it when it starts with `+` (an invalid international number is not read again
/// as a national one without its country code).
fn spans(
    re: &impl Find,
    text: &str,
    from: usize,
    skip: &[(usize, usize)],
    mut accept: impl FnMut(usize, usize) -> Option<usize>,
) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = from;
    while at <= text.len() {
        let Some(m) = re.find_at(text, at) else { break };
        if let Some(&(_, end)) = skip.iter().find(|&&(s, e)| s <= m.start() && m.start() < e) {
            at = end;
            continue;
        }
        match accept(m.start(), m.end()) {
            Some(end) => {
                out.push((m.start(), end));
                at = end;
            }
            None if m.as_str().starts_with('+') => at = m.end(),
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
/// the union never leaves part of either identifier in clear. A phone reading loses a tie: a
/// grouped card or passport can also be read as some country's national number.
pub fn merge(mut found: Vec<Finding>) -> Vec<Finding> {
    found.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out: Vec<Finding> = Vec::with_capacity(found.len());
    for f in found {
        match out.last_mut() {
            Some(last) if f.start < last.end => {
                let (len, last_len) = (f.end - f.start, last.end - last.start);
                // On a tie, the kind with its own checksum or shape wins over a phone reading.
                if len > last_len || len == last_len && last.kind == Detected::Phone {
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

/// Words before a candidate that decide what a number is where its checksum cannot (RU/EN/DE,
/// word stems matched at the start of a word), looked for in the `CONTEXT_CHARS` (40) characters
/// before it and within its sentence: the nearest word naming a kind decides, a reference word
/// only where none does (`Context`).
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
    pub const CARD: &[&str] = &[
        "карт",
        "card",
        "karte",
        "kredit",
        "visa",
        "mastercard",
        "мир",
        "amex",
        "maestro",
    ];
    /// A passport (a bare 10- or 9-digit number is one only after these words).
    pub const PASSPORT: &[&str] = &[
        "паспорт",
        "загран",
        "passport",
        "reisepass",
        "ausweis",
        "серия",
        "series",
    ];
    /// A Russian taxpayer number.
    pub const TAX: &[&str] = &["инн", "inn", "tax", "steuer"];
    /// A Kazakh IIN or BIN.
    pub const KZ: &[&str] = &["иин", "iin", "бин", "bin"];
    /// A registration number with its own checksum (OGRN, OGRNIP, SNILS): not a card.
    pub const REGISTRY: &[&str] = &["огрн", "ogrn", "снилс", "snils"];
    /// A phone number: a bare run of digits without trunk prefix or country code is one only
    /// after these.
    pub const PHONE: &[&str] = &[
        "телефон",
        "тел",
        "звон",
        "позвон",
        "набер",
        "связ",
        "моб",
        "phone",
        "tel",
        "call",
        "mobile",
        "text",
        "sms",
        "whatsapp",
        "telegram",
        "ruf",
        "handy",
        "erreichbar",
    ];
    /// "Number": a phone when no other word is there.
    pub const NUMBER: &[&str] = &["номер", "number", "nummer"];
}

/// What the nearest context word says a number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    NotPersonal,
    Card,
    Passport,
    Tax,
    Kz,
    Registry,
    Phone,
    /// "Number" alone: read as [`Context::Phone`] when no other word is there.
    Number,
}

impl Context {
    const ALL: [Context; 8] = [
        Context::NotPersonal,
        Context::Card,
        Context::Passport,
        Context::Tax,
        Context::Kz,
        Context::Registry,
        Context::Phone,
        Context::Number,
    ];
}

/// The context of each number in one text, read once: a bare run of digits is read both as a
/// phone candidate and as a number.
struct Contexts<'t> {
    text: &'t str,
    seen: Vec<(usize, Option<Context>)>,
}

impl<'t> Contexts<'t> {
    fn new(text: &'t str) -> Contexts<'t> {
        Contexts {
            text,
            seen: Vec::new(),
        }
    }

    fn at(&mut self, start: usize) -> Option<Context> {
        if let Some(&(_, c)) = self.seen.iter().find(|(s, _)| *s == start) {
            return c;
        }
        let c = context_at(self.text, start);
        self.seen.push((start, c));
        c
    }
}

/// How far back context words are looked for.
const CONTEXT_CHARS: usize = 40;

/// The context of the words before `start`: within [`CONTEXT_CHARS`] characters, the same
/// sentence (a `.`, `!` or `?` followed by a space and a capital letter ends one) and after any
/// other number.
fn context_at(text: &str, start: usize) -> Option<Context> {
    let b = text.as_bytes();
    // The start of the CONTEXT_CHARS-th character back: count the bytes that start one.
    let (mut from, mut chars) = (start, 0);
    while from > 0 && chars < CONTEXT_CHARS {
        from -= 1;
        chars += usize::from(b[from] & 0xC0 != 0x80);
    }
    // Words before another number are that number's.
    if let Some(d) = b[from..start].iter().rposition(u8::is_ascii_digit) {
        from += d + 1;
    }
    for i in (from..start.saturating_sub(2)).rev() {
        // Both bytes are ASCII, so `i + 2` starts a character.
        if matches!(b[i], b'.' | b'!' | b'?')
            && b[i + 1] == b' '
            && text[i + 2..].chars().next().is_some_and(char::is_uppercase)
        {
            from = i + 2;
            break;
        }
    }
    let mut buf = [0u8; CONTEXT_CHARS * 4];
    let window = lower_into(&text[from..start], &mut buf);
    // The last word of each group, by where it starts; only words at the start of a word count.
    let mut last = [None::<usize>; Context::ALL.len()];
    for m in CONTEXT_WORDS.0.find_overlapping_iter(window) {
        if !text[from..from + m.start()]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric)
        {
            let g = CONTEXT_WORDS.1[m.pattern().as_usize()] as usize;
            last[g] = last[g].max(Some(m.start()));
        }
    }
    // The nearest word naming an identifier decides; a reference word only when none is there
    // (the courier's INN is the courier's); "number" alone hints at a phone.
    Context::ALL
        .iter()
        .zip(last)
        .filter(|(c, _)| !matches!(c, Context::NotPersonal | Context::Number))
        .filter_map(|(c, at)| at.map(|at| (at, *c)))
        .max_by_key(|&(at, _)| at)
        .map(|(_, c)| c)
        .or_else(|| last[Context::NotPersonal as usize].map(|_| Context::NotPersonal))
        .or_else(|| last[Context::Number as usize].map(|_| Context::Phone))
}

/// `s` (at most `CONTEXT_CHARS` characters) with its ASCII and Cyrillic capitals lowered byte for
/// byte, so offsets stay those of `s`: the context words are ASCII and Russian, and no other
/// letter lowers into one of theirs.
fn lower_into<'b>(s: &str, buf: &'b mut [u8; CONTEXT_CHARS * 4]) -> &'b [u8] {
    let b = s.as_bytes();
    let out = &mut buf[..b.len()];
    out.copy_from_slice(b);
    let mut i = 0;
    while i < out.len() {
        match (out[i], out.get(i + 1).copied()) {
            (b'A'..=b'Z', _) => out[i] += 32,
            // А-П to а-п: D0 90-9F to D0 B0-BF.
            (0xD0, Some(c @ 0x90..=0x9F)) => out[i + 1] = c + 0x20,
            // Р-Я to р-я: D0 A0-AF to D1 80-8F.
            (0xD0, Some(c @ 0xA0..=0xAF)) => (out[i], out[i + 1]) = (0xD1, c - 0x20),
            // Ѐ-Џ (Ё among them) to ѐ-џ: D0 80-8F to D1 90-9F.
            (0xD0, Some(c @ 0x80..=0x8F)) => (out[i], out[i + 1]) = (0xD1, c + 0x10),
            _ => {}
        }
        i += 1;
    }
    out
}

/// Every context word in one automaton, with the group each belongs to.
static CONTEXT_WORDS: LazyLock<(aho_corasick::AhoCorasick, Vec<Context>)> = LazyLock::new(|| {
    let groups: [(&[&str], Context); 8] = [
        (context::NOT_PERSONAL, Context::NotPersonal),
        (context::CARD, Context::Card),
        (context::PASSPORT, Context::Passport),
        (context::TAX, Context::Tax),
        (context::KZ, Context::Kz),
        (context::REGISTRY, Context::Registry),
        (context::PHONE, Context::Phone),
        (context::NUMBER, Context::Number),
    ];
    let (words, of): (Vec<&str>, Vec<Context>) = groups
        .iter()
        .flat_map(|(words, c)| words.iter().map(move |w| (*w, *c)))
        .unzip();
    // A DFA: the windows are short and many, so its larger build pays back at once.
    let ac = aho_corasick::AhoCorasick::builder()
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build(words)
        .expect("static word list");
    (ac, of)
});

/// An IPv4-shaped match that is a version (`v3.4.0.14`, `version 3.4.0.14`, `3.4.0.14.2`).
fn version_like(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = &text.as_bytes()[end..];
    matches!(before, Some('v' | 'V' | '.'))
        || (after.first() == Some(&b'.') && after.get(1).is_some_and(u8::is_ascii_digit))
        || context_at(text, start) == Some(Context::NotPersonal)
}

/// The end of the longest valid phone number starting the candidate `start..end` (dropping
/// trailing groups until one parses), if any. A bare run of digits is a phone only with its trunk
/// prefix or country code (`89161234567`), or after a phone word; a foreign region's national
/// reading only of the whole candidate.
fn phone_span(words: &mut Contexts, start: usize, end: usize) -> Option<usize> {
    let text = words.text;
    let before = text[..start].chars().next_back();
    if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '+' || c == '.') {
        return None;
    }
    let cand = &text[start..end];
    // Group ends, the last first.
    let ends = cand
        .char_indices()
        .rev()
        .filter(|&(i, c)| c.is_ascii_digit() || c == ')' && i > 0)
        .map(|(i, c)| i + c.len_utf8())
        .filter(|&e| cand[e..].chars().next().is_none_or(|c| !c.is_ascii_digit()));
    let after_ok = |e: usize| {
        text[start + e..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    };
    let whole = ends.clone().next();
    // The words before decide a bare run of digits; read once, before the numbering plans.
    let mut context = None;
    ends.filter(|&e| after_ok(e)).find_map(|e| {
        let s = &cand[..e];
        let reading = Reading::Text {
            foreign: Some(e) == whole,
        };
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return phone_in(s, reading).map(|_| start + e);
        }
        let said = *context.get_or_insert_with(|| words.at(start));
        if !matches!(said, None | Some(Context::Phone)) {
            return None;
        }
        let p = phone_in(s, reading)?;
        let prefixed = p.national.len() < s.len();
        (said.is_some() || prefixed).then_some(start + e)
    })
}

/// The end of the longest run of the grouped candidate that is a valid card, if any. Grouped in
/// a card's layout with a valid issuer prefix and Luhn, it is a card whatever the words around.
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
        let d = Digits::of(&cand[..e]);
        let tail_ok = cand[e..]
            .chars()
            .next()
            .is_none_or(|c| c == ' ' || c == '-');
        (tail_ok && card_ok(&d)).then_some(start + e)
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

/// A bare run of digits: the kind whose length and checksum fit, if any; the nearest context word
/// decides where checksums cannot (Luhn and the INN's pass one random number in ten), and a
/// number after a reference word ("заказ", "tracking", "version") is not the subject's.
fn classify_digits(run: &str, words: &mut Contexts, start: usize) -> Option<Detected> {
    let text = words.text;
    let d = Digits::of(run);
    let ctx = words.at(start);
    match ctx {
        Some(Context::Passport) if matches!(d.len(), 9 | 10) => return Some(Detected::Passport),
        Some(Context::Card) => return card_ok(&d).then_some(Detected::Card),
        Some(Context::NotPersonal) => return None,
        Some(Context::Phone) if phone_in(run, Reading::Text { foreign: false }).is_some() => {
            return None
        }
        _ => {}
    }
    let kz = ctx == Some(Context::Kz);
    let card = !matches!(ctx, Some(Context::Registry | Context::Tax | Context::Kz)) && card_ok(&d);
    match d.len() {
        10 if inn10_ok(&d) => Some(Detected::Inn),
        11 if snils_ok(&d) => Some(Detected::Snils),
        12 if kz && kz_iin_ok(&d) => Some(Detected::KzIin),
        12 if kz && kz_bin_ok(&d) => Some(Detected::KzBin),
        12 if inn12_ok(&d) => Some(Detected::Inn),
        12 if kz_iin_ok(&d) => Some(Detected::KzIin),
        12 if kz_bin_ok(&d) => Some(Detected::KzBin),
        13 if ogrn_ok(&d) => Some(Detected::Ogrn),
        15 if ogrnip_ok(&d) => Some(Detected::Ogrnip),
        20 if BIK
            .find_iter(text)
            .any(|b| bank_account_ok(&d, &Digits::of(b.as_str()))) =>
        {
            Some(Detected::BankAccount)
        }
        13..=19 if card => Some(Detected::Card),
        _ => None,
    }
}

/// The digit values of a candidate, on the stack: detection checks thousands of short candidates.
/// One with more digits than any identifier has reads as no digits, which no check passes.
struct Digits {
    d: [u8; 32],
    n: usize,
}

impl Digits {
    fn of(s: &str) -> Digits {
        let mut out = Digits { d: [0; 32], n: 0 };
        for c in s.bytes().filter(u8::is_ascii_digit) {
            if out.n == out.d.len() {
                return Digits { d: [0; 32], n: 0 };
            }
            out.d[out.n] = c - b'0';
            out.n += 1;
        }
        out
    }
}

impl std::ops::Deref for Digits {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.d[..self.n]
    }
}

pub(crate) fn digits(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

/// A full phone number, valid in libphonenumber's numbering plan of its country: international
/// (`+` and the country code) or national in the default region of [`regions`]. A number whose national part
/// starts with 0 after the country code is never one: pdgate's phone tokens have that shape.
pub fn is_phone(s: &str) -> bool {
    parse_phone(s).is_some()
}

/// The number a `kind: phone` value is ([`is_phone`]), as country code and national number.
pub fn parse_phone(s: &str) -> Option<phone::Phone> {
    phone_in(s, Reading::Field)
}

/// How a phone number is read: a field's whole value (only digits, spaces, `-`, `(`, `)`, `.`
/// and a leading `+`; national forms in the default region), or a candidate in free text, also
/// in the foreign regions' national forms when `foreign`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    Field,
    Text { foreign: bool },
}

fn phone_in(s: &str, how: Reading) -> Option<phone::Phone> {
    let t = s.trim();
    let bad_char = |c: char| !(c.is_ascii_digit() || " -().+".contains(c));
    if t.is_empty()
        || t.len() > 40
        || how == Reading::Field && t.chars().any(bad_char)
        || t.get(1..).is_some_and(|r| r.contains('+'))
    {
        return None;
    }
    let mut buf = [0u8; 40];
    let mut n = 0;
    for c in t.bytes().filter(u8::is_ascii_digit) {
        buf[n] = c;
        n += 1;
    }
    let d = std::str::from_utf8(&buf[..n]).unwrap_or_default();
    let plus = t.starts_with('+');
    if !(7..=15).contains(&d.len()) {
        return None;
    }
    let r = regions();
    if phone::plausible_length(d, plus, &r.default) {
        if let Some(p) = phone::parse(d, plus, &r.default) {
            return (!(plus && p.national.starts_with('0'))).then_some(p);
        }
    }
    let grouped = t.contains([' ', '-', '(']);
    if how != (Reading::Text { foreign: true }) || plus || d.len() < 10 || !grouped {
        return None;
    }
    r.foreign
        .iter()
        .find_map(|region| phone::parse(d, false, region))
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
    if s.get(..2)
        .and_then(iban_length)
        .is_some_and(|n| n != s.len())
    {
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
    fn national_forms_of_foreign_numbers_when_written_in_groups() {
        // The default region (RU) is read first; DE, GB, US (and BY) national forms in text when
        // grouped and at least 10 digits; a bare run of digits never is a foreign number.
        for (text, phone) in [
            ("Meine Nummer: 030 12345678.", "030 12345678"),
            ("Call 07400 123456 today", "07400 123456"),
            ("Office (415) 555-2671, ask for Ann", "(415) 555-2671"),
        ] {
            assert_eq!(kinds(text), vec![(Detected::Phone, phone)], "{text}");
        }
        assert_eq!(kinds("ref 4155552671"), vec![]);
        // A field's value is read in the default region only: there the digits are a Russian
        // number (Kamchatka's 415); a US one must say so.
        assert_eq!(parse_phone("(415) 555-2671").map(|p| p.code), Some(7));
        assert_eq!(parse_phone("+1 (415) 555-2671").map(|p| p.code), Some(1));
        assert_eq!(parse_phone("030 12345678"), None);
    }

    #[test]
    fn a_bare_run_is_a_phone_with_its_trunk_prefix_or_after_a_phone_word() {
        assert_eq!(
            kinds("мой номер 89161234567"),
            vec![(Detected::Phone, "89161234567")]
        );
        assert_eq!(
            kinds("телефон 9161234567"),
            vec![(Detected::Phone, "9161234567")]
        );
        // Without either it is not a phone (this one happens to pass the INN's checksum).
        assert_eq!(kinds("код 9161234567"), vec![(Detected::Inn, "9161234567")]);
        assert_eq!(kinds("код 7707083893"), vec![(Detected::Inn, "7707083893")]);
    }

    #[test]
    fn an_invalid_international_number_is_not_read_again_without_its_code() {
        assert_eq!(kinds("номер +7 (129) 519-62-09 неверный"), vec![]);
        assert_eq!(kinds("wrong number +1 (128) 385-6455"), vec![]);
    }

    #[test]
    fn a_shape_of_one_kind_failing_its_check_hides_nothing_else() {
        // A mistyped card, SNILS or IBAN is not a phone, a card or anything else.
        for text in [
            "Карта 4600 3863 9352 7098 не прошла.",
            "СНИЛС 796-639-182 84?",
            "Altes Konto DE20 9564 5362 6563 2162 50.",
            "Old account DE93 5142 3977 8022 3132 62.",
        ] {
            assert_eq!(kinds(text), vec![], "{text}");
        }
    }

    #[test]
    fn an_iban_is_as_long_as_its_country_says() {
        assert_eq!(
            kinds("IBAN DE89 3704 0044 0532 0130 00 BICX please"),
            vec![(Detected::Iban, "DE89 3704 0044 0532 0130 00")]
        );
        assert!(!iban_ok("DE89 3704 0044 0532 0130 00 00"));
        assert!(iban_ok("KZ86125KZT5004100100"));
    }

    #[test]
    fn the_words_before_a_number_decide_within_its_sentence() {
        let inn = "7707083893";
        // The nearest word naming a kind wins over a reference word; a reference word alone
        // rejects; words before another number, or in the sentence before, are not this one's.
        assert_eq!(kinds(&format!("ИНН курьера {inn}")).len(), 1);
        assert_eq!(kinds(&format!("Номер курьера {inn}.")), vec![]);
        assert_eq!(
            kinds(&format!("Заказ пришёл. ИНН {inn}")),
            vec![(Detected::Inn, inn)]
        );
        assert_eq!(
            kinds(&format!("Мой паспорт 1204 447992 Номер курьера {inn}")),
            vec![(Detected::Passport, "1204 447992")]
        );
        let card = complete("402400715000000", card_ok);
        assert_eq!(
            kinds(&format!("The order arrived. Card {card}")),
            vec![(Detected::Card, card.as_str())]
        );
        assert_eq!(kinds(&format!("Tracking {card}")), vec![]);
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

    mod islands {
        use super::super::*;
        use proptest::prelude::*;

        fn whole(text: &str) -> Vec<(Detected, usize, usize)> {
            let mut out = Vec::new();
            let all = [(0, text.len())];
            numbers_in(text, &all, &all, &mut |k, s, e| out.push((k, s, e)));
            out.sort_by_key(|&(_, s, e)| (s, e));
            out
        }

        fn by_islands(text: &str) -> Vec<(Detected, usize, usize)> {
            let mut out = Vec::new();
            numbers(text, &mut |k, s, e| out.push((k, s, e)));
            out.sort_by_key(|&(_, s, e)| (s, e));
            out
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]
            // Reading only the islands around digits and colons finds exactly what reading the
            // whole text finds.
            #[test]
            fn islands_find_what_the_whole_text_has(parts in proptest::collection::vec(prop_oneof![
                "[0-9]{1,6}", "[ \\-.()+:#№]", " {1,30}", "[a-fA-Z]{1,8}", "[а-я]{1,8}",
                Just("серия ".to_owned()), Just("ИНН ".to_owned()), Just("tracking ".to_owned()),
                Just("DE89 3704 0044 0532 0130 00".to_owned()), Just("+7 916 123-45-67".to_owned()),
                Just("4111 1111 1111 1111".to_owned()), Just("2001:db8::1".to_owned()),
            ], 0..40)) {
                let text: String = parts.concat();
                prop_assert_eq!(by_islands(&text), whole(&text));
            }
        }

        #[test]
        fn islands_cover_their_keys_and_end_at_spaces() {
            let text = "ab 12 cd ef gh ij kl mn op qr st uv wx yz 34 x";
            let got = islands(
                text,
                u8::is_ascii_digit,
                |b| b.iter().position(u8::is_ascii_digit),
                Reach {
                    bridge: 4,
                    margin: 4,
                },
            );
            assert_eq!(got.len(), 2, "{got:?}");
            for (from, to) in got {
                assert!(to == text.len() || text.as_bytes()[to] == b' ');
                assert!(text[from..to].bytes().any(|b| b.is_ascii_digit()));
            }
        }
    }
}
