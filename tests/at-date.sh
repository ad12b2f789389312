#!/usr/bin/env bash
# Runs the test suite as if now were a chosen moment: under faketime (Debian package `faketime`),
# the test processes and every pdgate they start see that date and time (UTC), with the clock
# running on from it — one offset from the real clock, so that every process agrees on the time
# (a start-at time would restart the clock in each new process); monotonic clocks stay real. PostgreSQL keeps its own clock, which
# pdgate never reads: every stored time comes from pdgate.
#
#   tests/at-date.sh 2026-12-06T10:00:00            # a Sunday
#   tests/at-date.sh 2026-12-31T21:30:00 --test it requests::
#   tests/at-date.sh --calendar                      # every weekday, month ends, holidays (below)
#
# Arguments after the moment go to `cargo test` (default: the README's `--workspace --lib --bins --tests`).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each weekday (at several hours, one past Moscow's midnight), month ends, 31 December, days just
# before public holidays and a day inside the New Year holidays.
CALENDAR=(
  2026-12-07T06:00:00 2026-12-08T12:00:00 2026-12-09T18:00:00 2026-12-10T23:40:00
  2026-12-11T21:30:00 2026-12-12T10:00:00 2026-12-13T10:00:00
  2026-11-30T23:50:00 2027-02-28T22:00:00 2026-12-31T12:00:00
  2026-12-30T15:00:00 2027-02-22T09:00:00 2027-01-05T09:00:00
)

at=${1:?usage: tests/at-date.sh YYYY-MM-DDTHH:MM:SS|--calendar [cargo test arguments]}
shift
if [ "$at" = --calendar ]; then
  failed=()
  for moment in "${CALENDAR[@]}"; do
    "$0" "$moment" "$@" || failed+=("$moment")
  done
  echo "== ${#CALENDAR[@]} moments, ${#failed[@]} failed: ${failed[*]:-none}"
  [ "${#failed[@]}" -eq 0 ]
  exit
fi
if ! command -v faketime >/dev/null 2>&1; then
  echo "faketime is missing: apt-get install faketime" >&2
  exit 2
fi
[ "$#" -gt 0 ] || set -- --workspace --lib --bins --tests
# Built with the real clock first, so that cargo's freshness checks never see a faked time.
cargo test --locked --no-run "$@" >/dev/null 2>&1 || cargo test --locked --no-run "$@"
echo "== cargo test $* at ${at} UTC ($(date -u -d "${at}" +%A))"
export FAKETIME_DONT_FAKE_MONOTONIC=1
offset=$(( $(date -u -d "${at}" +%s) - $(date -u +%s) ))
faketime -f "$(printf '%+d' "$offset")" cargo test --locked "$@"
