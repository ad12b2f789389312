#!/usr/bin/env bash
# Load test on this machine: pdgate against nginx as the side-by-side peer, both in front of the
# same local upstream (nginx answering 200). Loopback only; every run is bounded by DUR.
#
#   bash benches/load.sh            # DUR=10s CONNS=32 THREADS=2
#   PG=postgres://postgres@127.0.0.1:5432/test bash benches/load.sh   # vault on PostgreSQL (a fresh database)
#   PDGATE_BIN=/tmp/pdgate-before bash benches/load.sh                 # another build, for before/after
#
# Prints requests/s, p50/p99 latency and pdgate's peak RSS as a Markdown table (copy to BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
UP=19000 NGX=19001 PDG=19002 ADM=19003
# As deploy/ runs it: two glibc malloc arenas instead of one per thread (lower RSS).
export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null || ! command -v sqlite3 >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq nginx-light wrk sqlite3 postgresql-client >/dev/null
fi
bin=${PDGATE_BIN:-./target/release/pdgate}
[ -n "${PDGATE_BIN:-}" ] || cargo build --release --quiet

work=$(mktemp -d)
cleanup() {
  [ -n "${pdg_pid:-}" ] && { kill "$pdg_pid" 2>/dev/null; wait "$pdg_pid" 2>/dev/null; } || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
  [ -n "${bench_db:-}" ] && psql "$PG" -qc "DROP DATABASE IF EXISTS $bench_db" 2>/dev/null || true
}
trap cleanup EXIT
[ -n "${KEEP_LOG:-}" ] && trap "cp $work/pdgate.log $KEEP_LOG; cleanup" EXIT

cat > "$work/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/body; proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fcgi; uwsgi_temp_path $work/uwsgi; scgi_temp_path $work/scgi;
  upstream app { server 127.0.0.1:$UP; keepalive 128; }
  # The upstream: answers every request, reading and discarding bodies.
  server { listen 127.0.0.1:$UP; location / { client_max_body_size 10m; return 200 "ok\n"; } }
  # The peer: plain reverse proxy to the same upstream.
  server {
    listen 127.0.0.1:$NGX;
    location / {
      proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
NGINX
nginx -c "$work/nginx.conf"

mkdir -p "$work/policies/consents"
sed "s#http://127.0.0.1:9000#http://127.0.0.1:$UP#" benches/policies/bench.yaml > "$work/policies/bench.yaml"
cp benches/policies/consents/marketing.md "$work/policies/consents/"
if [ -n "${PG:-}" ]; then
  bench_db="pdgate_bench_$$"
  psql "$PG" -qc "CREATE DATABASE $bench_db"
  db_url="${PG%/*}/$bench_db" label="PostgreSQL"
else
  db_url="sqlite://$work/bench.db" label="SQLite FULL"
fi
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/kek.hex"
cat > "$work/pdgate.toml" <<TOML
listen = "127.0.0.1:$PDG"
admin_listen = "127.0.0.1:$ADM"
database_url = "$db_url"
policies = "$work/policies"
key_file = "$work/kek.hex"
log_format = "json"
[admin]
jwt_secret_file = "$work/jwt.secret"
TOML
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/jwt.secret"
PDGATE_LOG=${PDGATE_LOG:-warn} "$bin" serve --config "$work/pdgate.toml" 2>"$work/pdgate.log" &
pdg_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$ADM/readyz" >/dev/null && break; sleep 0.1; done

cat > "$work/post.lua" <<'LUA'
local counter = 0
local tid = 0
local threads = {}
function setup(thread) tid = tid + 1; thread:set("tid", tid) end
function init(args) tid = wrk.thread:get("tid") or 0 end
request = function()
  counter = counter + 1
  local body = string.format(
    "email=user%d.%d%%40mail.ru&phone=%%2B7916%07d&name=%%D0%%98%%D0%%B2%%D0%%B0%%D0%%BD&address=Moscow%%2C+Lenina+1" ..
    "&comment=call+me+8+916+765-43-21&sku=A1&qty=2&total=1990&source=ads&subscribe=on",
    tid, counter, counter % 10000000)
  return wrk.format("POST", "/form", {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
LUA

run() { # name url [script]
  local out
  if [ -n "${3:-}" ]; then out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DUR" --latency -s "$3" "$2"); else out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DUR" --latency "$2"); fi
  local rps p50 p99 errs
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errs=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); errs=${errs:-0}
  printf '| %s | %s | %s | %s | %s |\n' "$1" "$rps" "$p50" "$p99" "$errs"
}

echo "wrk -t$THREADS -c$CONNS -d$DUR on $(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| run | requests/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|"
[ -n "${ONLY_POST:-}" ] || run "nginx proxy, GET (unmatched)" "http://127.0.0.1:$NGX/static/page"
[ -n "${ONLY_POST:-}" ] || run "pdgate pass-through, GET (unmatched)" "http://127.0.0.1:$PDG/static/page"
[ -n "${ONLY_POST:-}" ] || run "nginx proxy, POST 10-field form" "http://127.0.0.1:$NGX/form" "$work/post.lua"
# pdgate's own CPU time (utime + stime, in clock ticks) and bytes written to storage, from /proc.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pdg_pid/stat"; }
written() { awk '/^write_bytes/ {print $2}' "/proc/$pdg_pid/io"; }
cpu0=$(cpu_ticks) io0=$(written)
intake_line=$(run "pdgate intake, POST 10-field form (5 personal, consent, audit; $label)" "http://127.0.0.1:$PDG/form" "$work/post.lua")
cpu1=$(cpu_ticks) io1=$(written)
echo "$intake_line"
intake_hwm=$(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$pdg_pid/status)
intake_count=$(awk -F'|' -v d="${DUR%s}" '{printf "%.0f", $3 * d}' <<<"$intake_line")

# Detokenize: 100 tokens of the vault just filled per call, for the consent-based purpose, by the
# declared service. Figures are calls/s; tokens/s is 100 times that.
if [ -n "${PG:-}" ]; then
  toks=$(psql "$db_url" -Atc "SELECT token FROM tokens WHERE erased_at IS NULL ORDER BY created_at LIMIT 100")
else
  toks=$(sqlite3 "$work/bench.db" "SELECT token FROM tokens WHERE erased_at IS NULL LIMIT 100")
fi
svc=$("$bin" token issue --config "$work/pdgate.toml" --role service --service crm --ttl 1h)
json=$(printf '%s\n' "$toks" | awk 'BEGIN{printf "{\"purpose\":\"marketing\",\"tokens\":["} NR>1{printf ","} {printf "\"%s\"", $0} END{printf "]}"}')
cat > "$work/detok.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $svc"
wrk.body = '$json'
LUA
line=$(run "pdgate detokenize, 100 tokens per call (marketing, consent checked)" "http://127.0.0.1:$ADM/v1/detokenize" "$work/detok.lua")
echo "$line"
echo "  = $(awk -F'|' '{printf "%.0f", $3 * 100}' <<<"$line") tokens/s"
echo
echo "pdgate peak RSS: $intake_hwm after the intake run, $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$pdg_pid/status) after detokenize"
tck=$(getconf CLK_TCK)
awk -v c="$((cpu1 - cpu0))" -v t="$tck" -v b="$((io1 - io0))" -v n="$intake_count" 'BEGIN {
  if (n > 0) printf "pdgate per intake over the run (/proc): %.0f µs CPU, %.0f bytes written\n", c * 1e6 / t / n, b / n }'
[ -z "${PG:-}" ] && echo "vault intakes committed: $(sqlite3 "$work/bench.db" "SELECT value FROM route_counters WHERE route='bench_form' AND name='intakes'" 2>/dev/null || echo 'n/a (no sqlite3 CLI)')"
exit 0
