#!/usr/bin/env python3
"""Scores pdgate's detectors and Microsoft Presidio's analyzer on the same labelled corpus
(benches/detectors/generate.py) and prints a Markdown table: recall and precision per kind and
overall, look-alike negatives flagged, identifiers partly redacted, time.

    benches/detectors/compare.sh            # builds pdgate, installs Presidio, runs this

A planted identifier is *found* when a finding of its kind covers all of it; *partly redacted*
when findings touch it but none covers it whole (digits of it would go on in clear). A finding is
*correct* when it overlaps a planted identifier (a finding of another kind still keeps the value
out); precision per kind counts the findings of that kind that overlap an identifier of that kind.
A negative is *flagged* when any finding overlaps it.
"""

import json
import logging
import sys
import time
from collections import Counter, defaultdict

# Kinds both tools know, as pdgate names them; Presidio's entities map onto them.
SHARED = ["email", "phone", "card", "iban", "ip"]
PRESIDIO = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "CREDIT_CARD": "card",
    "IBAN_CODE": "iban",
    "IP_ADDRESS": "ip",
}
PDGATE_ONLY = ["passport", "inn", "snils", "ogrn", "ogrnip", "kz_iin", "kz_bin"]


def shared_kind(kind):
    return "ip" if kind in ("ipv4", "ipv6") else kind


def score(corpus, findings):
    """findings[i]: list of (kind, start, end) for message i, kinds in the corpus's naming."""
    found, total, partial = Counter(), Counter(), Counter()
    det, det_ok = Counter(), Counter()
    flagged, negatives = Counter(), Counter()
    for msg, fs in zip(corpus, findings):
        ids = msg["ids"]
        for i in ids:
            k = shared_kind(i["kind"])
            total[k] += 1
            covers = [f for f in fs if f[1] <= i["start"] and f[2] >= i["end"]]
            touches = [f for f in fs if f[1] < i["end"] and f[2] > i["start"]]
            if any(shared_kind(f[0]) == k for f in covers):
                found[k] += 1
            if touches and not covers:
                partial[k] += 1
        for f in fs:
            k = shared_kind(f[0])
            det[k] += 1
            hit = [i for i in ids if f[1] < i["end"] and f[2] > i["start"]]
            det_ok["*"] += bool(hit)
            det_ok[k] += any(shared_kind(i["kind"]) == k for i in hit)
        for n in msg["negatives"]:
            negatives[n["shape"]] += 1
            flagged[n["shape"]] += any(f[1] < n["end"] and f[2] > n["start"] for f in fs)
    return {
        "found": found, "total": total, "partial": partial, "det": det, "det_ok": det_ok,
        "flagged": flagged, "negatives": negatives,
    }


def pct(a, b):
    return "–" if b == 0 else f"{100 * a / b:.1f} %"


def presidio_findings(corpus):
    # tldextract (under Presidio's e-mail recognizer) tries to download the public suffix list and
    # logs the failure offline; it then uses the snapshot it ships.
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    class BlankSpacy(SpacyNlpEngine):
        """Presidio's pattern recognizers with a blank spaCy pipeline (tokens, no NER model)."""

        def load(self):
            self.nlp = {"en": spacy.blank("en")}

    engine = BlankSpacy(models=[{"lang_code": "en", "model_name": "blank"}])
    engine.load()
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(nlp_engine=engine)
    # Presidio reads national phone forms in the regions it is given: the same ones pdgate reads.
    registry.remove_recognizer("PhoneRecognizer")
    registry.add_recognizer(PhoneRecognizer(supported_regions=("RU", "KZ", "BY", "DE", "GB", "US")))
    # Dates are personal data to Presidio (DATE_TIME), not a look-alike of an identifier: its date
    # recognizer is left out so that the dates among the negatives do not count against it.
    registry.remove_recognizer("DateRecognizer")
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=engine)
    started = time.perf_counter()
    out = []
    for msg in corpus:
        rs = analyzer.analyze(text=msg["text"], language="en")
        out.append([(PRESIDIO.get(r.entity_type, r.entity_type.lower()), r.start, r.end) for r in rs])
    return out, time.perf_counter() - started


def table(title, kinds, results, tools):
    rows = [f"### {title}", "", "| kind | identifiers | " + " | ".join(
        f"{t} recall | {t} precision" for t in tools) + " |",
        "|---|---|" + "---|---|" * len(tools)]
    for k in kinds + ["overall"]:
        cells = []
        n = None
        for t in tools:
            r = results[t]
            if k == "overall":
                ks = kinds
                f = sum(r["found"][x] for x in ks)
                n = sum(r["total"][x] for x in ks)
                d = sum(r["det"][x] for x in r["det"])
                ok = r["det_ok"]["*"]
            else:
                f, n, d, ok = r["found"][k], r["total"][k], r["det"][k], r["det_ok"][k]
            cells.append(f"{pct(f, n)} | {pct(ok, d)}")
        rows.append(f"| {k} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main():
    corpus_path, pdgate_path = sys.argv[1], sys.argv[2]
    try:
        pdgate_seconds = float(sys.argv[3])
    except (IndexError, ValueError):
        pdgate_seconds = None
    corpus = [json.loads(line) for line in open(corpus_path, encoding="utf-8")]
    pd = [[(f["kind"], f["start"], f["end"]) for f in json.loads(line)["findings"]]
          for line in open(pdgate_path, encoding="utf-8")]
    assert len(pd) == len(corpus), "one line of findings per message"
    if "--pdgate-only" in sys.argv:
        explain(corpus, pd)
        return
    pres, pres_seconds = presidio_findings(corpus)
    results = {"pdgate": score(corpus, pd), "Presidio": score(corpus, pres)}
    n_ids = sum(len(m["ids"]) for m in corpus)
    n_neg = sum(len(m["negatives"]) for m in corpus)
    size = sum(len(m["text"].encode()) for m in corpus)
    print(f"Corpus: {len(corpus)} messages, {size} bytes, {n_ids} planted identifiers, "
          f"{n_neg} look-alike negatives.\n")
    print(table("Kinds both tools know", SHARED, results, ["pdgate", "Presidio"]))
    print()
    print(table("Kinds only pdgate knows", PDGATE_ONLY, results, ["pdgate"]))
    print()
    print("### Look-alike negatives flagged (lower is better)\n")
    print("| negative | count | pdgate | Presidio |\n|---|---|---|---|")
    neg = results["pdgate"]["negatives"]
    for shape in sorted(neg):
        print(f"| {shape} | {neg[shape]} | "
              f"{pct(results['pdgate']['flagged'][shape], neg[shape])} | "
              f"{pct(results['Presidio']['flagged'][shape], neg[shape])} |")
    print(f"| all | {n_neg} | {pct(sum(results['pdgate']['flagged'].values()), n_neg)} | "
          f"{pct(sum(results['Presidio']['flagged'].values()), n_neg)} |")
    print()
    for t in ("pdgate", "Presidio"):
        p = results[t]["partial"]
        print(f"- {t}: {sum(p.values())} identifiers partly redacted"
              + (f" ({', '.join(f'{k} {v}' for k, v in sorted(p.items()))})" if p else ""))
    if pdgate_seconds is not None:
        print(f"- time over the corpus: pdgate {pdgate_seconds:.2f} s (the `pdgate detect` process, "
              f"start-up included), Presidio {pres_seconds:.2f} s (analyze calls only)")
    if "-v" in sys.argv:
        explain(corpus, pd)


def explain(corpus, pd):
    """pdgate's misses, partial redactions and flagged negatives, with what it found there."""
    out = defaultdict(list)
    for msg, fs in zip(corpus, pd):
        t = msg["text"]
        for i in msg["ids"]:
            k = shared_kind(i["kind"])
            near = [(f[0], t[f[1]:f[2]]) for f in fs if f[1] < i["end"] and f[2] > i["start"]]
            if not any(shared_kind(f[0]) == k and f[1] <= i["start"] and f[2] >= i["end"] for f in fs):
                out["missed " + i["kind"] + "/" + i["shape"]].append((t[i["start"]:i["end"]], near))
        for n in msg["negatives"]:
            near = [(f[0], t[f[1]:f[2]]) for f in fs if f[1] < n["end"] and f[2] > n["start"]]
            if near:
                out["flagged " + n["shape"]].append((t[n["start"]:n["end"]], near))
        for f in fs:
            if not any(f[1] < i["end"] and f[2] > i["start"] for i in msg["ids"] + msg["negatives"]):
                out["stray " + f[0]].append((t[f[1]:f[2]], t))
    for key, values in sorted(out.items()):
        print(f"{key}: {len(values)}", file=sys.stderr)
        for v in values[:4]:
            print(f"    {v}", file=sys.stderr)

if __name__ == "__main__":
    main()
