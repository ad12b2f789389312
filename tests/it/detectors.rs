//! The free-text detectors on the fixed labelled corpus (`tests/detectors/corpus.jsonl`, made by
//! `benches/detectors/generate.py --seed 23`): the targets of issue 23, kind by kind. The
//! side-by-side table with Presidio comes from `benches/detectors/compare.sh`; this test keeps
//! pdgate's half of it from regressing.

use std::collections::BTreeMap;

use pdgate::actions::detect::{self, Detected, Finding};
use serde::Deserialize;

#[derive(Deserialize)]
struct Message {
    text: String,
    ids: Vec<Label>,
    negatives: Vec<Label>,
}

#[derive(Deserialize)]
struct Label {
    #[serde(alias = "like")]
    kind: String,
    shape: String,
    start: usize,
    end: usize,
}

fn corpus() -> Vec<Message> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/detectors/corpus.jsonl");
    std::fs::read_to_string(path)
        .expect("the fixed corpus")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a corpus line"))
        .collect()
}

/// The label's span in bytes (the corpus counts characters).
fn bytes(text: &str, l: &Label) -> (usize, usize) {
    let at = |c: usize| text.char_indices().nth(c).map_or(text.len(), |(i, _)| i);
    (at(l.start), at(l.end))
}

fn kind_name(k: Detected) -> &'static str {
    k.as_str()
}

#[derive(Default)]
struct Tally {
    total: usize,
    found: usize,
    partial: Vec<String>,
    missed: Vec<String>,
    findings: usize,
    correct: usize,
}

fn tally(corpus: &[Message]) -> (BTreeMap<String, Tally>, BTreeMap<String, (usize, usize)>) {
    let mut kinds: BTreeMap<String, Tally> = BTreeMap::new();
    let mut negatives: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for m in corpus {
        let found = detect::detect(&m.text, "relay.example");
        let overlaps = |f: &Finding, (s, e): (usize, usize)| f.start < e && f.end > s;
        for id in &m.ids {
            let span = bytes(&m.text, id);
            let t = kinds.entry(id.kind.clone()).or_default();
            t.total += 1;
            let covers = |f: &&Finding| f.start <= span.0 && f.end >= span.1;
            let what = format!("{}: {}", id.shape, &m.text[span.0..span.1]);
            if found
                .iter()
                .filter(covers)
                .any(|f| kind_name(f.kind) == id.kind)
            {
                t.found += 1;
            } else {
                t.missed.push(what.clone());
            }
            if found.iter().any(|f| overlaps(f, span)) && !found.iter().any(|f| covers(&f)) {
                t.partial.push(what);
            }
        }
        for f in &found {
            let t = kinds.entry(kind_name(f.kind).to_owned()).or_default();
            t.findings += 1;
            t.correct += m
                .ids
                .iter()
                .any(|id| id.kind == kind_name(f.kind) && overlaps(f, bytes(&m.text, id)))
                as usize;
        }
        for n in &m.negatives {
            let span = bytes(&m.text, n);
            let e = negatives.entry(n.shape.clone()).or_default();
            e.0 += 1;
            e.1 += found.iter().any(|f| overlaps(f, span)) as usize;
        }
    }
    (kinds, negatives)
}

#[test]
fn the_fixed_corpus_meets_the_targets_of_every_kind() {
    let corpus = corpus();
    assert_eq!(corpus.len(), 2000, "the corpus of generate.py --seed 23");
    let (kinds, negatives) = tally(&corpus);
    let mut failures = Vec::new();
    for (kind, t) in &kinds {
        let recall = t.found as f64 / t.total.max(1) as f64;
        let precision = t.correct as f64 / t.findings.max(1) as f64;
        if t.total > 0 && recall < 0.98 {
            let e: Vec<_> = t.missed.iter().take(5).collect();
            failures.push(format!("{kind}: recall {recall:.3}, missed e.g. {e:?}"));
        }
        if t.findings > 0 && precision < 0.98 {
            failures.push(format!("{kind}: precision {precision:.3}"));
        }
        if !t.partial.is_empty() {
            let e: Vec<_> = t.partial.iter().take(5).collect();
            failures.push(format!(
                "{kind}: {} partly redacted, e.g. {e:?}",
                t.partial.len()
            ));
        }
    }
    let (all, flagged) = negatives
        .values()
        .fold((0, 0), |(a, f), (n, x)| (a + n, f + x));
    if flagged as f64 > 0.02 * all as f64 {
        failures.push(format!(
            "{flagged} of {all} negatives flagged: {negatives:?}"
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_shape_of_the_corpus_is_in_it() {
    // The shapes the README lists must each be planted, or the targets above say nothing of them.
    let corpus = corpus();
    let shapes: std::collections::BTreeSet<String> = corpus
        .iter()
        .flat_map(|m| m.ids.iter().map(|l| format!("{}/{}", l.kind, l.shape)))
        .collect();
    for want in [
        "card/amex_spaces",
        "card/amex_dashes",
        "card/diners_spaces",
        "card/visa19_spaces",
        "card/mir_compact",
        "passport/compact",
        "passport/words",
        "passport/foreign",
        "email/cyrillic",
        "email/idn_domain",
        "phone/kz_national",
        "phone/gb_national",
        "phone/de_national",
        "phone/us_national",
        "iban/spaced",
        "kz_iin/iin",
        "kz_bin/bin",
    ] {
        assert!(shapes.contains(want), "{want} not in the corpus");
    }
}
