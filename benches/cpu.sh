#!/usr/bin/env bash
# CPU time per proxied request, pdgate against nginx: the same upstream (nginx, one worker, 200 to
# everything), one proxy at a time under `wrk -t1 -c32`, `perf stat -e task-clock` on the proxy's
# processes only. On a shared 2-core VM requests/s swing with the neighbours; CPU time per request
# is what the proxy itself costs, and stays put.
#
#   bash benches/cpu.sh                                 # pdgate from this tree vs nginx
#   PDGATE_BIN=/tmp/pdgate-before bash benches/cpu.sh   # another build, for before/after
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-5s}
UP=19200 NGX=19201 PDG=19202 ADM=19203
export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}
if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null || ! command -v perf >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq nginx-light wrk linux-perf >/dev/null
fi
bin=${PDGATE_BIN:-./target/release/pdgate}
[ -n "${PDGATE_BIN:-}" ] || cargo build --release --quiet

work=$(mktemp -d)
cleanup() {
  [ -n "${pdg_pid:-}" ] && { kill "$pdg_pid" 2>/dev/null; wait "$pdg_pid" 2>/dev/null; } || true
  for p in up px; do [ -f "$work/$p.pid" ] && kill "$(cat "$work/$p.pid")" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
temps() { echo "client_body_temp_path $work/b$1; proxy_temp_path $work/p$1; fastcgi_temp_path $work/f$1; uwsgi_temp_path $work/u$1; scgi_temp_path $work/s$1;"; }
cat > "$work/up.conf" <<NGINX
worker_processes 1; pid $work/up.pid; error_log $work/up.log warn;
events { worker_connections 4096; }
http { access_log off; $(temps 1)
  server { listen 127.0.0.1:$UP; location / { return 200 "ok\n"; } } }
NGINX
cat > "$work/px.conf" <<NGINX
worker_processes 2; pid $work/px.pid; error_log $work/px.log warn;
events { worker_connections 4096; }
http { access_log off; $(temps 2)
  upstream app { server 127.0.0.1:$UP; keepalive 128; }
  server { listen 127.0.0.1:$NGX; location / {
    proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
    proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; } } }
NGINX
nginx -c "$work/up.conf"
nginx -c "$work/px.conf"

mkdir -p "$work/policies/consents"
sed "s#http://127.0.0.1:9000#http://127.0.0.1:$UP#" benches/policies/bench.yaml > "$work/policies/bench.yaml"
cp benches/policies/consents/marketing.md "$work/policies/consents/"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/kek.hex"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/jwt.secret"
cat > "$work/pdgate.toml" <<TOML
listen = "127.0.0.1:$PDG"
admin_listen = "127.0.0.1:$ADM"
database_url = "sqlite://$work/bench.db"
policies = "$work/policies"
key_file = "$work/kek.hex"
[admin]
jwt_secret_file = "$work/jwt.secret"
TOML
PDGATE_LOG=warn "$bin" serve --config "$work/pdgate.toml" 2>"$work/pdgate.log" &
pdg_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$ADM/readyz" >/dev/null && break; sleep 0.1; done

measure() { # name url pids
  wrk -t1 -c32 -d2s "$2" >/dev/null # warm-up: connections, pools, caches
  perf stat -e task-clock -p "$3" -o "$work/perf.txt" -- sleep 60 & local sp=$!
  sleep 0.2
  local out; out=$(wrk -t1 -c32 -d"$DUR" "$2")
  kill -INT $sp; wait $sp || true
  local reqs rps ms
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  ms=$(awk '/task-clock/ {gsub(",","",$1); print $1}' "$work/perf.txt")
  printf '| %s | %s | %.1f µs |\n' "$1" "$rps" "$(awk -v m="$ms" -v r="$reqs" 'BEGIN{print m*1000/r}')"
}

echo "wrk -t1 -c32 -d$DUR on $(nproc) cores, $(date -u +%Y-%m-%d); CPU = the proxy's task-clock / requests"
echo
echo "| proxy, GET (unmatched) | requests/s | CPU per request |"
echo "|---|---|---|"
measure "nginx (2 workers)" "http://127.0.0.1:$NGX/static/page" "$(pgrep -P "$(cat "$work/px.pid")" | paste -sd,)"
measure "pdgate" "http://127.0.0.1:$PDG/static/page" "$pdg_pid"
