//! The digit shapes of the detectors, matched by hand over bytes: each finder returns exactly what
//! its pattern (kept beside it, and checked against it by a property test) would find with
//! leftmost-first semantics, without a DFA walking every byte of the island once per pattern.
//!
//! `\b` is the ASCII word boundary (`(?-u:\b)`): a byte that is not an ASCII letter, digit or
//! `_` (every byte of a non-ASCII character is one) is a boundary next to a digit.

/// A finder: the leftmost match in `hay` starting at `at` or later, as `(start, end)`; the text
/// before `at` still counts for `\b`.
pub(super) type Finder = fn(&[u8], usize) -> Option<(usize, usize)>;

fn is_word(b: &[u8], i: usize) -> bool {
    b.get(i)
        .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

/// How many digits start at `i`.
fn run(b: &[u8], i: usize) -> usize {
    b.get(i..)
        .map_or(0, |s| s.iter().take_while(|c| c.is_ascii_digit()).count())
}

/// `i` starts a run of exactly `n` digits; its end.
fn exactly(b: &[u8], i: usize, n: usize) -> Option<usize> {
    (run(b, i) == n).then_some(i + n)
}

/// `i` starts a run of `min..=max` digits; its end.
fn between(b: &[u8], i: usize, min: usize, max: usize) -> Option<usize> {
    let n = run(b, i);
    (min..=max).contains(&n).then_some(i + n)
}

fn byte_in(b: &[u8], i: usize, set: &[u8]) -> bool {
    b.get(i).is_some_and(|c| set.contains(c))
}

/// The leftmost `p >= at` where a digit starts after a boundary and `shape` matches, with its end.
fn leftmost(
    b: &[u8],
    at: usize,
    shape: impl Fn(&[u8], usize) -> Option<usize>,
) -> Option<(usize, usize)> {
    (at..b.len())
        .filter(|&p| b[p].is_ascii_digit() && (p == 0 || !is_word(b, p - 1)))
        .find_map(|p| shape(b, p).map(|e| (p, e)))
}

/// `(?-u:\b)[0-9]{9,20}(?-u:\b)`
pub(super) fn digit_run(b: &[u8], at: usize) -> Option<(usize, usize)> {
    leftmost(b, at, |b, p| {
        between(b, p, 9, 20).filter(|&e| !is_word(b, e))
    })
}

/// `(?-u:\b)[0-9]{3}-[0-9]{3}-[0-9]{3}[ \-][0-9]{2}(?-u:\b)`
pub(super) fn snils(b: &[u8], at: usize) -> Option<(usize, usize)> {
    leftmost(b, at, |b, p| {
        let e = exactly(b, p, 3)?;
        let e = exactly(b, e + 1, 3).filter(|_| b[e] == b'-')?;
        let e = exactly(b, e + 1, 3).filter(|_| b[e] == b'-')?;
        let e = exactly(b, e + 1, 2).filter(|_| byte_in(b, e, b" -"))?;
        (!is_word(b, e)).then_some(e)
    })
}

/// `(?-u:\b)(?:[0-9]{4}(?: [0-9]{4}){3}(?: [0-9]{3})?|[0-9]{4}(?:-[0-9]{4}){3}(?:-[0-9]{3})?
/// |[0-9]{4} [0-9]{6} [0-9]{4,5}|[0-9]{4}-[0-9]{6}-[0-9]{4,5})(?-u:\b)`: a card's grouping,
/// one separator throughout.
pub(super) fn card_layout(b: &[u8], at: usize) -> Option<(usize, usize)> {
    leftmost(b, at, |b, p| {
        let sixteen = |sep: u8| {
            let mut e = exactly(b, p, 4)?;
            for _ in 0..3 {
                e = exactly(b, e + 1, 4).filter(|_| b[e] == sep)?;
            }
            let tail = exactly(b, e + 1, 3).filter(|&t| b[e] == sep && !is_word(b, t));
            tail.or((!is_word(b, e)).then_some(e))
        };
        let amex = |sep: u8| {
            let e = exactly(b, p, 4)?;
            let e = exactly(b, e + 1, 6).filter(|_| b[e] == sep)?;
            between(b, e + 1, 4, 5).filter(|&t| b[e] == sep && !is_word(b, t))
        };
        sixteen(b' ')
            .or_else(|| sixteen(b'-'))
            .or_else(|| amex(b' '))
            .or_else(|| amex(b'-'))
    })
}

/// `(?-u:\b)[0-9]{4}(?:[ \-][0-9]{2,6}){1,4}(?-u:\b)`: card-like groups.
pub(super) fn card_grouped(b: &[u8], at: usize) -> Option<(usize, usize)> {
    leftmost(b, at, |b, p| {
        let mut e = exactly(b, p, 4)?;
        let mut best = None;
        for _ in 0..4 {
            let Some(next) = between(b, e + 1, 2, 6).filter(|_| byte_in(b, e, b" -")) else {
                break;
            };
            e = next;
            if !is_word(b, e) {
                best = Some(e);
            }
        }
        best
    })
}

/// `(?-u:\b)[0-9]{2} ?[0-9]{2}`: a passport's series, its end.
fn series(b: &[u8], p: usize) -> Option<usize> {
    if b.get(p + 2) == Some(&b' ') {
        exactly(b, p, 2)?;
        exactly(b, p + 3, 2)
    } else {
        exactly(b, p, 4)
    }
}

/// `(?-u:\b)[0-9]{2} ?[0-9]{2} [0-9]{6}(?-u:\b)`
pub(super) fn passport(b: &[u8], at: usize) -> Option<(usize, usize)> {
    leftmost(b, at, |b, p| {
        let e = series(b, p).filter(|&e| b.get(e) == Some(&b' '))?;
        exactly(b, e + 1, 6).filter(|&e| !is_word(b, e))
    })
}

/// `(?-u:\b)[0-9]{2} ?[0-9]{2}\s{0,3}(?:№|(?i:no\.?|n\s?o\.|номер|nr\.?)|#)\s{0,3}[0-9]{6}(?-u:\b)`:
/// a passport with a number word between series and number.
pub(super) fn passport_words(b: &[u8], at: usize) -> Option<(usize, usize)> {
    leftmost(b, at, |b, p| {
        let e = spaces(b, series(b, p)?, 3);
        // The longest word, `номер`, is 10 bytes.
        number_word_ends(str_at(b, e, 12))
            .into_iter()
            .flatten()
            .find_map(|w| {
                let d = spaces(b, e + w, 3);
                exactly(b, d, 6).filter(|&end| !is_word(b, end))
            })
    })
}

/// Where each of `№`, `no.`, `no`, `n o.`, `номер`, `nr.`, `nr`, `#` (case-insensitive) ends at
/// the start of `s`, in the pattern's order of preference.
fn number_word_ends(s: &str) -> [Option<usize>; 7] {
    let word = |w: &str| folded_prefix(s, w);
    let n_o = folded_prefix(s, "n").and_then(|n| {
        let ws = s[n..]
            .chars()
            .next()
            .filter(|c| c.is_whitespace())
            .map_or(0, char::len_utf8);
        folded_prefix(&s[n + ws..], "o.").map(|o| n + ws + o)
    });
    [
        word("№"),
        word("no.").or_else(|| word("no")),
        n_o,
        word("номер"),
        word("nr."),
        word("nr"),
        word("#"),
    ]
}

/// The length of `word` at the start of `s` under the regex's simple case folding.
fn folded_prefix(s: &str, word: &str) -> Option<usize> {
    let mut chars = s.char_indices();
    for w in word.chars() {
        let (_, c) = chars.next()?;
        if fold(c) != w {
            return None;
        }
    }
    Some(chars.next().map_or(s.len(), |(i, _)| i))
}

/// The simple case fold of the letters the number words use.
fn fold(c: char) -> char {
    match c {
        // CYRILLIC SMALL LETTER NARROW O folds to о.
        '\u{1C82}' => 'о',
        c if c.is_uppercase() => c.to_lowercase().next().unwrap_or(c),
        c => c,
    }
}

/// The end of up to `max` Unicode whitespace characters (`\s`) from `i`.
fn spaces(b: &[u8], mut i: usize, max: usize) -> usize {
    for _ in 0..max {
        match ws_len(b, i) {
            0 => break,
            n => i += n,
        }
    }
    i
}

/// The length of the Unicode whitespace character at `i`, or 0.
fn ws_len(b: &[u8], i: usize) -> usize {
    str_at(b, i, 4)
        .chars()
        .next()
        .filter(|c| c.is_whitespace())
        .map_or(0, char::len_utf8)
}

/// The whole characters among the (at most) `max` bytes from `i`, a character boundary.
fn str_at(b: &[u8], i: usize, max: usize) -> &str {
    let tail = b
        .get(i..b.len().min(i.saturating_add(max)))
        .unwrap_or_default();
    match std::str::from_utf8(tail) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&tail[..e.valid_up_to()]).unwrap_or_default(),
    }
}

/// `(?-u:\b)[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?-u:\b)`
pub(super) fn ipv4(b: &[u8], at: usize) -> Option<(usize, usize)> {
    leftmost(b, at, |b, p| {
        let mut e = between(b, p, 1, 3)?;
        for _ in 0..3 {
            e = between(b, e + 1, 1, 3).filter(|_| b[e] == b'.')?;
        }
        (!is_word(b, e)).then_some(e)
    })
}

/// `(?:\+\s?)?\(?[0-9]{1,5}\)?(?:[ \-.]?\(?[0-9]{1,5}\)?){1,7}`: a phone candidate, `+` or a
/// digit, then digits with single separators and brackets. No `\b`: it may start anywhere.
pub(super) fn phone(b: &[u8], at: usize) -> Option<(usize, usize)> {
    (at..b.len()).find_map(|p| phone_at(b, p).map(|e| (p, e)))
}

fn phone_at(b: &[u8], p: usize) -> Option<usize> {
    match b[p] {
        b'+' => {
            let ws = ws_len(b, p + 1);
            let with_space = (ws > 0).then(|| groups(b, p + 1 + ws)).flatten();
            with_space.or_else(|| groups(b, p + 1))
        }
        b'(' | b'0'..=b'9' => groups(b, p),
        _ => None,
    }
}

/// `\(?[0-9]{1,5}\)?(?:[ \-.]?\(?[0-9]{1,5}\)?){1,7}` at `i`, as a backtracking engine would
/// take it: once one repetition has matched the rest is greedy, so only the first group may
/// give back its last digit to let a repetition start.
fn groups(b: &[u8], i: usize) -> Option<usize> {
    let d = if b.get(i) == Some(&b'(') { i + 1 } else { i };
    let n = run(b, d).min(5);
    if n == 0 {
        return None;
    }
    let mut e = repetition(b, past_close(b, d + n))
        .or_else(|| (n >= 2).then(|| repetition(b, d + n - 1)).flatten())?;
    for _ in 1..7 {
        match repetition(b, e) {
            Some(next) => e = next,
            None => break,
        }
    }
    Some(e)
}

/// One `[ \-.]?\(?[0-9]{1,5}\)?` at `i`, the first way the pattern's order of preference finds.
fn repetition(b: &[u8], i: usize) -> Option<usize> {
    let sep = byte_in(b, i, b" -.");
    // With the separator first (when there is one), then without; `(` taken before not.
    let ways = [(true, true), (true, false), (false, true), (false, false)];
    let mut ways = ways.into_iter().filter(|&(take_sep, _)| sep || !take_sep);
    ways.find_map(|(take_sep, take_open)| {
        let mut q = i + usize::from(take_sep);
        if take_open {
            if b.get(q) != Some(&b'(') {
                return None;
            }
            q += 1;
        }
        let n = run(b, q).min(5);
        (n > 0).then(|| past_close(b, q + n))
    })
}

/// `e`, or past the `)` there (`\)?`).
fn past_close(b: &[u8], e: usize) -> usize {
    if b.get(e) == Some(&b')') {
        e + 1
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Each finder beside the pattern it stands for.
    fn finders() -> Vec<(&'static str, Finder)> {
        vec![
            (r"(?-u:\b)[0-9]{9,20}(?-u:\b)", digit_run),
            (
                r"(?-u:\b)[0-9]{3}-[0-9]{3}-[0-9]{3}[ \-][0-9]{2}(?-u:\b)",
                snils,
            ),
            (
                r"(?-u:\b)(?:[0-9]{4}(?: [0-9]{4}){3}(?: [0-9]{3})?|[0-9]{4}(?:-[0-9]{4}){3}(?:-[0-9]{3})?|[0-9]{4} [0-9]{6} [0-9]{4,5}|[0-9]{4}-[0-9]{6}-[0-9]{4,5})(?-u:\b)",
                card_layout,
            ),
            (
                r"(?-u:\b)[0-9]{4}(?:[ \-][0-9]{2,6}){1,4}(?-u:\b)",
                card_grouped,
            ),
            (r"(?-u:\b)[0-9]{2} ?[0-9]{2} [0-9]{6}(?-u:\b)", passport),
            (
                r"(?-u:\b)[0-9]{2} ?[0-9]{2}\s{0,3}(?:№|(?i:no\.?|n\s?o\.|номер|nr\.?)|#)\s{0,3}[0-9]{6}(?-u:\b)",
                passport_words,
            ),
            (r"(?-u:\b)[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?-u:\b)", ipv4),
            (
                r"(?:\+\s?)?\(?[0-9]{1,5}\)?(?:[ \-.]?\(?[0-9]{1,5}\)?){1,7}",
                phone,
            ),
        ]
    }

    fn agree(text: &str) -> Result<(), TestCaseError> {
        for (pattern, find) in finders() {
            let re = regex::Regex::new(pattern).expect("test pattern");
            for at in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
                let want = re.find_at(text, at).map(|m| (m.start(), m.end()));
                let got = find(text.as_bytes(), at);
                prop_assert_eq!(got, want, "{} in {:?} from {}", pattern, text, at);
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// Every finder finds exactly what its pattern finds, from every position.
        #[test]
        fn finders_match_their_patterns(parts in proptest::collection::vec(prop_oneof![
            "[0-9]{1,7}", "[0-9]", "[ \\-.()+#_]", " {1,4}", "[a-zA-Z]{1,3}", "[нНоОмМеЕрР]{1,3}",
            Just("№".to_owned()), Just("номер".to_owned()), Just("НОМЕР".to_owned()),
            Just("no.".to_owned()), Just("No".to_owned()), Just("n o.".to_owned()),
            Just("nr.".to_owned()), Just("\u{a0}".to_owned()), Just("\u{3000}".to_owned()),
            Just("\u{1c82}".to_owned()), Just("é".to_owned()),
        ], 0..24)) {
            agree(&parts.concat())?;
        }
    }

    #[test]
    fn finders_match_their_patterns_on_known_identifiers() {
        for text in [
            "+7 916 123-45-67, 8 (916) 123 45 67",
            "4111 1111 1111 1111 3782 822463 10005 5500-0000-0000-0004-123",
            "123-456-789 64 and 4017 № 587682, 40 17 номер 587682, 4017 no. 587682",
            "10.0.0.1 3.4.0.14.2 1234567890123 +44 (20) 7946 0958",
            "(495)1234567 1 2 3 4 5 6 7 8 9 0 123456789012345678901",
        ] {
            agree(text).expect("finder and pattern agree");
        }
    }
}
