#!/usr/bin/env bash
# pdgate's detectors and Microsoft Presidio side by side on the labelled corpus, one command:
#   bash benches/detectors/compare.sh        # the fixed corpus in tests/detectors/
#   SEED=7 MESSAGES=5000 bash benches/detectors/compare.sh   # a fresh corpus from another seed
# Installs Presidio (and the phonenumbers the generator judges phones by) into
# target/detectors-venv, builds pdgate in release, prints the Markdown table of BENCHMARKS.md.
# Misses are listed on stderr with VERBOSE=1.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/detectors-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r benches/detectors/requirements.txt
cargo build --release --quiet --bin pdgate
corpus=tests/detectors/corpus.jsonl
if [ -n "${SEED:-}" ]; then
    corpus=target/detectors-corpus-$SEED.jsonl
    "$venv/bin/python" benches/detectors/generate.py --seed "$SEED" --messages "${MESSAGES:-2000}" > "$corpus"
else
    # The fixed corpus is what the generator makes from its seed: the two must not drift apart.
    "$venv/bin/python" benches/detectors/generate.py --seed 23 --messages 2000 | cmp -s - "$corpus" \
        || { echo "tests/detectors/corpus.jsonl differs from generate.py --seed 23 --messages 2000" >&2; exit 1; }
fi
start=$(date +%s.%N)
target/release/pdgate detect < "$corpus" > target/detectors-pdgate.jsonl
secs=$(echo "$(date +%s.%N) - $start" | bc)
"$venv/bin/python" benches/detectors/compare.py "$corpus" target/detectors-pdgate.jsonl "$secs" ${VERBOSE:+-v}
