#!/usr/bin/env bash
# Load test on this machine: pdgate against nginx as the side-by-side peer, both in front of the
# same local upstream (a separate nginx answering 200). Loopback only; every run is bounded by DUR.
# Each run also gives the proxy's CPU time and bytes written to storage per request, from /proc
# (the peer's master and workers; pdgate's process), and the run ends with the ratios issue 27
# sets as targets, all from this one run.
#
#   bash benches/load.sh            # DUR=10s CONNS=32 THREADS=2
#   PG=postgres://postgres@127.0.0.1:5432/test bash benches/load.sh   # vault on PostgreSQL (a fresh database)
#   PDGATE_BIN=/tmp/pdgate-before bash benches/load.sh                 # another build, for before/after
#   PERF=/tmp/intake.perf bash benches/load.sh   # also `perf record -g` pdgate during the intake run
#   WAL_FRAMES=1 bash benches/load.sh             # also the pages the intake's commits wrote, by table
#
# Prints requests/s, p50/p99 latency, CPU µs, bytes written and context switches per request and
# pdgate's peak RSS as
# a Markdown table (copy to BENCHMARKS.md), then each target with its figure and whether it holds.
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
  for f in "$work"/nginx*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done || true
  rm -rf "$work"
  [ -n "${bench_db:-}" ] && psql "$PG" -qc "DROP DATABASE IF EXISTS $bench_db" 2>/dev/null || true
}
trap cleanup EXIT
[ -n "${KEEP_LOG:-}" ] && trap "cp $work/pdgate.log $KEEP_LOG; cleanup" EXIT

# Two nginx instances, so that the peer's own CPU is measured apart from the upstream's.
nginx_conf() { # name server-block
  cat > "$work/nginx-$1.conf" <<NGINX
worker_processes 2;
pid $work/nginx-$1.pid;
error_log $work/nginx-$1-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/body-$1; proxy_temp_path $work/proxy-$1;
  fastcgi_temp_path $work/fcgi-$1; uwsgi_temp_path $work/uwsgi-$1; scgi_temp_path $work/scgi-$1;
  $2
}
NGINX
  nginx -c "$work/nginx-$1.conf"
}
# The upstream: answers every request, reading and discarding bodies.
nginx_conf upstream "server { listen 127.0.0.1:$UP; location / { client_max_body_size 10m; return 200 \"ok\\n\"; } }"
# The peer: plain reverse proxy to the same upstream.
nginx_conf peer "upstream app { server 127.0.0.1:$UP; keepalive 128; }
  server {
    listen 127.0.0.1:$NGX;
    location / {
      proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\";
      proxy_set_header X-Forwarded-For \\\$proxy_add_x_forwarded_for;
    }
  }"

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
  return wrk.format("POST", PATH, {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
LUA
# The same body to the declared route (intake) and to a path no route declares (pass-through).
sed 's#PATH#"/form"#' "$work/post.lua" > "$work/intake.lua"
sed 's#PATH#"/other/form"#' "$work/post.lua" > "$work/other.lua"

# CPU time (utime + stime, clock ticks) and bytes written to storage of a set of processes.
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
written() { local b=0 p; for p in "$@"; do b=$((b + $(awk '/^write_bytes/ {print $2}' "/proc/$p/io"))); done; echo $b; }
# Context switches of every thread of a set of processes: each hand-off between threads costs two.
switches() { local p; for p in "$@"; do cat /proc/"$p"/task/*/status; done | awk '/ctxt_switches/ {s += $2} END {print s + 0}'; }
tck=$(getconf CLK_TCK)
peer_pids() { local m; m=$(cat "$work/nginx-peer.pid"); echo "$m" $(pgrep -P "$m"); }

declare -A RPS P99 CPU DISK
run() { # key name url script-or-empty pids...
  local key=$1 name=$2 url=$3 script=$4; shift 4
  local c0 b0 s0 out
  c0=$(cpu_ticks "$@") b0=$(written "$@") s0=$(switches "$@")
  if [ -n "$script" ]; then out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DUR" --latency -s "$script" "$url"); else out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DUR" --latency "$url"); fi
  local c1 b1 s1 n rps p50 p99 errs sw
  c1=$(cpu_ticks "$@") b1=$(written "$@") s1=$(switches "$@")
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errs=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); errs=${errs:-0}
  RPS[$key]=$rps P99[$key]=$(ms "$p99")
  CPU[$key]=$(awk -v c="$((c1 - c0))" -v t="$tck" -v n="$n" 'BEGIN {printf "%.1f", (n > 0 ? c * 1e6 / t / n : 0)}')
  DISK[$key]=$(awk -v b="$((b1 - b0))" -v n="$n" 'BEGIN {printf "%.0f", (n > 0 ? b / n : 0)}')
  sw=$(awk -v s="$((s1 - s0))" -v n="$n" 'BEGIN {printf "%.1f", (n > 0 ? s / n : 0)}')
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$rps" "$p50" "$p99" "$errs" "${CPU[$key]}" "${DISK[$key]}" "$sw"
}
# wrk's latency (`812.00us`, `5.50ms`, `1.20s`) in milliseconds.
ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", v / 1000; else if (v ~ /ms$/) printf "%.3f", v + 0; else if (v ~ /s$/) printf "%.3f", v * 1000; else print v }'; }

echo "wrk -t$THREADS -c$CONNS -d$DUR on $(nproc) cores, $(date -u +%Y-%m-%d), vault on $label"
echo
echo "| run | requests/s | p50 | p99 | non-2xx | proxy CPU µs/req | proxy bytes written/req | proxy context switches/req |"
echo "|---|---|---|---|---|---|---|---|"
run ngx_get "nginx proxy, GET" "http://127.0.0.1:$NGX/static/page" "" $(peer_pids)
run pdg_get "pdgate pass-through, GET (unmatched)" "http://127.0.0.1:$PDG/static/page" "" "$pdg_pid"
run ngx_post "nginx proxy, POST 10-field form" "http://127.0.0.1:$NGX/form" "$work/intake.lua" $(peer_pids)
run pdg_post "pdgate pass-through, POST the same form (unmatched)" "http://127.0.0.1:$PDG/other/form" "$work/other.lua" "$pdg_pid"
[ -n "${PERF:-}" ] && { perf record -q -g -F 499 -o "$PERF" -p "$pdg_pid" 2>/dev/null & perf_pid=$!; }
run intake "pdgate intake, POST 10-field form (5 personal, consent, audit)" "http://127.0.0.1:$PDG/form" "$work/intake.lua" "$pdg_pid"
[ -n "${perf_pid:-}" ] && { kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; }
# What the intake's commits wrote, by table: the WAL as the run left it (SQLite only).
if [ -n "${WAL_FRAMES:-}" ] && [ -z "${PG:-}" ]; then
  cp "$work/bench.db-wal" "$work/wal.copy" && echo && python3 benches/wal-frames.py "$work/bench.db" "$work/wal.copy" && echo
fi
intake_hwm=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$pdg_pid/status)

# Detokenize: 1,000 tokens of the vault just filled per call (the most a call takes), for the
# consent-based purpose, by the declared service. Figures are calls/s; tokens/s is 1,000 times that.
if [ -n "${PG:-}" ]; then
  toks=$(psql "$db_url" -Atc "SELECT token FROM tokens WHERE erased_at IS NULL ORDER BY created_at LIMIT 1000")
else
  # Tokens not folded yet too (`tokens_pending`; a build before it has only `tokens`).
  toks=$(sqlite3 "$work/bench.db" "SELECT token FROM (SELECT token FROM tokens WHERE erased_at IS NULL UNION ALL SELECT token FROM tokens_pending) LIMIT 1000" 2>/dev/null ||
    sqlite3 "$work/bench.db" "SELECT token FROM tokens WHERE erased_at IS NULL LIMIT 1000")
fi
svc=$("$bin" token issue --config "$work/pdgate.toml" --role service --service crm --ttl 1h)
json=$(printf '%s\n' "$toks" | awk 'BEGIN{printf "{\"purpose\":\"marketing\",\"tokens\":["} NR>1{printf ","} {printf "\"%s\"", $0} END{printf "]}"}')
cat > "$work/detok.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $svc"
wrk.body = '$json'
LUA
run detok "pdgate detokenize, 1,000 tokens per call (marketing, consent checked)" "http://127.0.0.1:$ADM/v1/detokenize" "$work/detok.lua" "$pdg_pid"
hwm=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$pdg_pid/status)
[ -z "${PG:-}" ] && echo && echo "vault intakes committed: $(sqlite3 "$work/bench.db" "SELECT value FROM route_counters WHERE route='bench_form' AND name='intakes'" 2>/dev/null || echo 'n/a (no sqlite3 CLI)')"

# Issue 27's targets, from this run alone.
if [ -n "${PG:-}" ]; then ratio_min=0.15 p99_max=20; else ratio_min=0.25 p99_max=15; fi
target() { # what figure holds
  printf '| %s | %s | %s |\n' "$1" "$2" "$([ "$3" = 1 ] && echo yes || echo no)"
}
cmp() { awk "BEGIN { print ($1) ? 1 : 0 }"; }
echo
echo "| target | this run | holds |"
echo "|---|---|---|"
r=$(awk -v a="${RPS[intake]}" -v b="${RPS[pdg_post]}" 'BEGIN {printf "%.3f", a / b}')
target "intake ≥ ${ratio_min}× pdgate's POST pass-through" "${r}×" "$(cmp "$r >= $ratio_min")"
target "intake p99 < ${p99_max} ms" "${P99[intake]} ms" "$(cmp "${P99[intake]} < $p99_max")"
if [ -z "${PG:-}" ]; then # on PostgreSQL the server does the writing, and much of the work
  target "≤ 100 µs CPU per intake" "${CPU[intake]} µs" "$(cmp "${CPU[intake]} <= 100")"
  target "≤ 8 KiB written per intake" "${DISK[intake]} bytes" "$(cmp "${DISK[intake]} <= 8192")"
fi
r=$(awk -v a="${RPS[pdg_get]}" -v b="${RPS[ngx_get]}" 'BEGIN {printf "%.3f", a / b}')
target "pass-through GET ≥ 0.8× nginx" "${r}×" "$(cmp "$r >= 0.8")"
target "peak RSS < 64 MiB" "$hwm MiB (${intake_hwm} after intake)" "$(cmp "$hwm < 64")"
t=$(awk -v a="${RPS[detok]}" 'BEGIN {printf "%.0f", a * 1000}')
target "detokenize ≥ 100,000 tokens/s" "$t tokens/s" "$(cmp "$t >= 100000")"
exit 0
