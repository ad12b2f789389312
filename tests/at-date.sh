#!/usr/bin/env bash
# Runs the test suite as if now were a chosen moment: under faketime (Debian package `faketime`),
# the test processes and every pdgate they start see that date and time (UTC), with the clock
# running on from it; monotonic clocks (timeouts) stay real. PostgreSQL keeps its own clock, which
# pdgate never reads: every stored time comes from pdgate.
#
#   tests/at-date.sh 2026-12-06T10:00:00            # a Sunday
#   tests/at-date.sh 2026-12-31T21:30:00 --test requests
#
# Arguments after the moment go to `cargo test` (default: the README's `--lib --bins --tests`).
set -euo pipefail
cd "$(dirname "$0")/.."

at=${1:?usage: tests/at-date.sh YYYY-MM-DDTHH:MM:SS [cargo test arguments]}
shift
if ! command -v faketime >/dev/null 2>&1; then
  echo "faketime is missing: apt-get install faketime" >&2
  exit 2
fi
[ "$#" -gt 0 ] || set -- --lib --bins --tests
# Built with the real clock first, so that cargo's freshness checks never see a faked time.
cargo test --locked --no-run "$@" >/dev/null 2>&1 || cargo test --locked --no-run "$@"
echo "== cargo test $* at ${at} UTC ($(date -u -d "${at}" +%A))"
export FAKETIME_DONT_FAKE_MONOTONIC=1
exec faketime -f "@${at/T/ }" cargo test --locked "$@"
