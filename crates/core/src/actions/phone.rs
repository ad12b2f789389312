//! Phone numbers read against libphonenumber's numbering plans (the metadata the `phonenumber`
//! crate carries), with regexes compiled once per country code.
//!
//! The crate's own `parse` and `is_valid` keep every pattern in one process-wide LRU of 100
//! compiled regexes behind a mutex: each check takes the lock and, once more than 100 patterns
//! have been touched, compiles them again: a regex compilation per candidate, and a lock every
//! proxy thread would queue on. This module reads the same metadata (the pattern sources, the
//! possible lengths, the prefixes), compiles each country code's patterns on first use and keeps
//! them, so a check is a few anchored regex matches on a short string.

use std::sync::{LazyLock, OnceLock};

use phonenumber::metadata::DATABASE;
use phonenumber::Metadata;
use regex::{Regex, RegexBuilder};

/// A number split into its country calling code and national significant number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    pub code: u16,
    pub national: String,
}

impl Phone {
    /// E.164: `+`, the country code and the national significant number.
    pub fn e164(&self) -> String {
        format!("+{}{}", self.code, self.national)
    }
}

/// One region's plan: what makes a national significant number valid there, and how numbers are
/// dialled from it.
struct Plan {
    region: String,
    general: Pattern,
    /// Fixed line, mobile, toll free, premium, shared cost, personal, VoIP, pager, UAN, voicemail:
    /// the types libphonenumber calls a valid number.
    types: Vec<Pattern>,
    national_prefix_for_parsing: Option<Regex>,
    international_prefix: Option<Regex>,
}

struct Pattern {
    re: Regex,
    lengths: Vec<u16>,
}

impl Pattern {
    fn new(d: &phonenumber::metadata::Descriptor) -> Option<Pattern> {
        Some(Pattern {
            re: anchored(d.national_number().as_str(), true)?,
            lengths: d.possible_length().to_vec(),
        })
    }

    fn fits(&self, n: &str, fallback: &[u16]) -> bool {
        let lengths = if self.lengths.is_empty() {
            fallback
        } else {
            &self.lengths
        };
        (lengths.is_empty() || lengths.iter().any(|&l| usize::from(l) == n.len()))
            && self.re.is_match(n)
    }
}

/// `^(?:source)$`, or only `^(?:source)` for prefixes; the metadata's patterns are written with
/// insignificant whitespace.
fn anchored(source: &str, whole: bool) -> Option<Regex> {
    let pattern = if whole {
        format!("^(?:{source})$")
    } else {
        format!("^(?:{source})")
    };
    RegexBuilder::new(&pattern)
        .ignore_whitespace(true)
        .build()
        .ok()
}

impl Plan {
    fn new(m: &Metadata) -> Option<Plan> {
        let d = m.descriptors();
        let types = [
            d.fixed_line(),
            d.mobile(),
            d.toll_free(),
            d.premium_rate(),
            d.shared_cost(),
            d.personal_number(),
            d.voip(),
            d.pager(),
            d.uan(),
            d.voicemail(),
        ];
        Some(Plan {
            region: m.id().to_owned(),
            general: Pattern::new(d.general())?,
            types: types
                .into_iter()
                .flatten()
                .filter_map(Pattern::new)
                .collect(),
            national_prefix_for_parsing: m
                .national_prefix_for_parsing()
                .map(|r| r.as_str().to_owned())
                .or_else(|| m.national_prefix().map(str::to_owned))
                .and_then(|s| anchored(&s, false)),
            international_prefix: m
                .international_prefix()
                .and_then(|r| anchored(r.as_str(), false)),
        })
    }

    fn valid(&self, n: &str) -> bool {
        self.general.fits(n, &[]) && self.types.iter().any(|t| t.fits(n, &self.general.lengths))
    }
}

/// Every region's plan for a country code, built on first use (codes are below 1000).
static PLANS: LazyLock<Vec<OnceLock<Vec<Plan>>>> =
    LazyLock::new(|| (0..1000).map(|_| OnceLock::new()).collect());

fn plans(code: u16) -> &'static [Plan] {
    let Some(slot) = PLANS.get(usize::from(code)) else {
        return &[];
    };
    slot.get_or_init(|| {
        DATABASE
            .by_code(&code)
            .unwrap_or_default()
            .into_iter()
            .filter_map(Plan::new)
            .collect()
    })
}

/// Each two-letter region's country calling code, read once: `DATABASE.by_id` hashes the name
/// on every call, and detection asks for the default region's plan for every candidate.
static TWO_LETTER_CODES: LazyLock<Vec<u16>> = LazyLock::new(|| {
    let mut codes = vec![0; 26 * 26];
    for code in 1..1000u16 {
        for m in DATABASE.by_code(&code).unwrap_or_default() {
            if let Some(i) = two_letter(m.id()) {
                codes[i] = code;
            }
        }
    }
    codes
});

fn two_letter(id: &str) -> Option<usize> {
    match id.as_bytes() {
        &[a @ b'A'..=b'Z', b @ b'A'..=b'Z'] => {
            Some(usize::from(a - b'A') * 26 + usize::from(b - b'A'))
        }
        _ => None,
    }
}

fn code_of(region: &str) -> Option<u16> {
    match two_letter(region) {
        Some(i) => Some(TWO_LETTER_CODES[i]).filter(|&c| c != 0),
        None => DATABASE.by_id(region).map(|m| m.country_code()),
    }
}

/// The region plan for `region` (`RU`), if the metadata has it.
fn region_plan(region: &str) -> Option<(u16, &'static Plan)> {
    let code = code_of(region)?;
    plans(code)
        .iter()
        .find(|p| p.region == region)
        .map(|p| (code, p))
}

/// Whether `national` is a valid number under `code` in any region sharing it (+7: Russia and
/// Kazakhstan; +1: the NANP countries).
pub fn valid(code: u16, national: &str) -> bool {
    plans(code).iter().any(|p| p.valid(national))
}

/// The region a valid number belongs to (`RU`, `KZ`, …; `001` for non-geographic numbers).
pub fn region_of(phone: &Phone) -> Option<&'static str> {
    plans(phone.code)
        .iter()
        .find(|p| p.valid(&phone.national))
        .map(|p| p.region.as_str())
}

/// Reads `digits` (ASCII digits only) as a number: international when `plus`, otherwise as
/// dialled in `region` — its international prefix (`810`, `00`), its national prefix (`8`, `0`)
/// or none, or its own country code without `+`. `None` when no reading is a valid number.
pub fn parse(digits: &str, plus: bool, region: &str) -> Option<Phone> {
    if plus {
        return international(digits);
    }
    let (code, plan) = region_plan(region)?;
    if let Some(rest) = strip(&plan.international_prefix, digits) {
        if let Some(p) = international(rest) {
            return Some(p);
        }
    }
    let national = |n: &str| {
        valid(code, n).then(|| Phone {
            code,
            national: n.to_owned(),
        })
    };
    if let Some(p) = strip(&plan.national_prefix_for_parsing, digits).and_then(national) {
        return Some(p);
    }
    if let Some(p) = national(digits) {
        return Some(p);
    }
    digits
        .strip_prefix(code.to_string().as_str())
        .and_then(national)
}

/// The rest of `digits` after `prefix` matched at its start, when something is left.
fn strip<'a>(prefix: &Option<Regex>, digits: &'a str) -> Option<&'a str> {
    let m = prefix.as_ref()?.find(digits)?;
    (m.end() > 0 && m.end() < digits.len()).then(|| &digits[m.end()..])
}

/// `digits` as country code and national number (country codes are prefix-free: at most one of
/// the 1-3 digit prefixes is one).
fn international(digits: &str) -> Option<Phone> {
    (1..=3).filter(|&k| k < digits.len()).find_map(|k| {
        let code: u16 = digits[..k].parse().ok()?;
        let national = &digits[k..];
        valid(code, national).then(|| Phone {
            code,
            national: national.to_owned(),
        })
    })
}

/// Whether some numbering plan allows this many digits: the country code's after it
/// (international), or `region`'s with or without its national prefix. A few table lookups that
/// spare the regexes most digit groups that are no phone (dates, card groups, prices).
pub fn plausible_length(digits: &str, plus: bool, region: &str) -> bool {
    let fits = |code: u16, n: usize| {
        plans(code).iter().any(|p| {
            p.general.lengths.is_empty() || p.general.lengths.iter().any(|&l| usize::from(l) == n)
        })
    };
    if plus {
        return (1..=3).any(|k| {
            digits.len() > k
                && digits[..k]
                    .parse()
                    .is_ok_and(|code| fits(code, digits.len() - k))
        });
    }
    let Some((code, plan)) = region_plan(region) else {
        return true;
    };
    let prefixed = strip(&plan.national_prefix_for_parsing, digits).map(str::len);
    let cc = code.to_string().len();
    fits(code, digits.len())
        || prefixed.is_some_and(|n| fits(code, n))
        || digits.len() > cc && fits(code, digits.len() - cc)
        || strip(&plan.international_prefix, digits).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn national_in(region: &str, number: &str) -> Option<String> {
        let d: String = number.chars().filter(char::is_ascii_digit).collect();
        parse(&d, false, region).map(|p| p.e164())
    }

    #[test]
    fn the_region_table_gives_every_regions_code_and_nothing_for_unknown_names() {
        let mut seen = 0;
        for code in 1..1000u16 {
            // "001", the non-geographic entities, spans several codes: looked up by name.
            for m in DATABASE.by_code(&code).unwrap_or_default() {
                if m.id() != "001" {
                    assert_eq!(code_of(m.id()), Some(code), "{}", m.id());
                    seen += 1;
                }
            }
        }
        assert!(seen > 240, "only {seen} regions");
        for unknown in ["ZZ", "XX", "ru", "R", "RUS", ""] {
            assert_eq!(code_of(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn every_regions_example_numbers_are_valid_and_their_altered_forms_mostly_not() {
        // libphonenumber ships one example number per region and type: each must be valid here,
        // in international form, and belong to its own region.
        let mut checked = 0;
        for code in 1..1000u16 {
            for m in DATABASE.by_code(&code).unwrap_or_default() {
                let d = m.descriptors();
                for desc in [d.fixed_line(), d.mobile(), d.toll_free(), d.voip()]
                    .into_iter()
                    .flatten()
                {
                    let Some(ex) = desc.example() else { continue };
                    let p = parse(&format!("{code}{ex}"), true, "RU");
                    assert_eq!(
                        p.as_ref().map(|p| p.national.as_str()),
                        Some(ex),
                        "+{code} {ex} ({})",
                        m.id()
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 500, "only {checked} example numbers");
    }

    #[test]
    fn agrees_with_the_crates_own_parser_on_national_and_international_forms() {
        let cases = [
            ("RU", "8 (916) 123-45-67", Some("+79161234567")),
            ("RU", "89161234567", Some("+79161234567")),
            ("RU", "9161234567", Some("+79161234567")),
            ("RU", "7 916 123 45 67", Some("+79161234567")),
            ("RU", "8 10 49 30 12345678", Some("+493012345678")),
            ("RU", "8 (701) 123-45-67", Some("+77011234567")),
            ("RU", "8 (123) 456-78-90", None),
            ("DE", "030 12345678", Some("+493012345678")),
            ("DE", "00 44 20 7946 0958", Some("+442079460958")),
            ("GB", "07400 123456", Some("+447400123456")),
            ("US", "(415) 555-2671", Some("+14155552671")),
            ("US", "(123) 456-7890", None),
        ];
        for (region, text, want) in cases {
            assert_eq!(
                national_in(region, text).as_deref(),
                want,
                "{text} in {region}"
            );
            let theirs = phonenumber::parse(Some(region.parse().unwrap()), text)
                .ok()
                .filter(phonenumber::is_valid)
                .map(|n| n.format().mode(phonenumber::Mode::E164).to_string());
            assert_eq!(theirs.as_deref(), want, "the crate on {text} in {region}");
        }
    }

    #[test]
    fn kazakh_and_russian_plus_seven_are_told_apart() {
        let kz = parse("77011234567", true, "RU").unwrap();
        assert_eq!(region_of(&kz), Some("KZ"));
        let ru = parse("79161234567", true, "RU").unwrap();
        assert_eq!(region_of(&ru), Some("RU"));
        assert!(parse("71234567890", true, "RU").is_none());
    }
}
