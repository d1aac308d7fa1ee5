#!/usr/bin/env bash
# Scrape time of GET /metrics, idle and on a busy server: the release
# server with a project holding a 200,000-case run; then wrk keeps 2
# threads × 16 connections of authenticated reads (GET /runs, a run's
# tests) going while 50 scrapes are timed. Baseline: GET /healthz timed the
# same way in the same load.
#
#   bash bench/metrics.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$PWD/bench/out
mkdir -p "$OUT"
FILE=$OUT/junit-200000.xml
[[ -s $FILE ]] || python3 bench/gen_junit.py "$FILE" 200000
if [[ -z ${BIN:-} ]]; then
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/proctor
  cargo build --release --quiet --bin proctor
fi
command -v wrk >/dev/null || { echo "bench/metrics.sh needs wrk (apt-get install wrk)" >&2; exit 1; }
METRICS_TOKEN=bench-metrics-token-0123456789
export PROCTOR_METRICS_TOKEN=$METRICS_TOKEN
# shellcheck source=bench/server.sh
source bench/server.sh
trap stop_server EXIT
start_server
curl -sS -o "$OUT/run.json" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/xml' \
  --data-binary @"$FILE" "$BASE/api/v1/projects/bench/results?name=ci&branch=main&commit=c1"
RUN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$OUT/run.json")

# p50 and p95 of 50 timed GETs of $1 (ms); extra curl args after it.
timed() {
  local path=$1; shift
  for _ in $(seq 1 50); do
    curl -sS -o /dev/null -w '%{time_total}\n' "$@" "$BASE$path"
  done | python3 -c '
import sys
t = sorted(float(x) * 1000 for x in sys.stdin)
print(f"{t[len(t) // 2]:.1f} {t[int(len(t) * 0.95) - 1]:.1f}")'
}
scrape() { timed /metrics -H "Authorization: Bearer $METRICS_TOKEN"; }

IDLE_SCRAPE=$(scrape)
IDLE_HEALTH=$(timed /healthz)
cat > "$OUT/wrk.lua" <<LUA
local paths = {"/api/v1/projects/bench/runs", "/api/v1/projects/bench/runs/$RUN/tests?limit=50"}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % 2) + 1], {["Authorization"] = "Bearer $TOKEN"})
end
LUA
wrk -t2 -c16 -d40s -s "$OUT/wrk.lua" "$BASE" > "$OUT/wrk.txt" &
WRK=$!
sleep 3
BUSY_SCRAPE=$(scrape)
BUSY_HEALTH=$(timed /healthz)
wait $WRK
SIZE=$(curl -sS -H "Authorization: Bearer $METRICS_TOKEN" "$BASE/metrics" | wc -c)
SERIES=$(curl -sS -H "Authorization: Bearer $METRICS_TOKEN" "$BASE/metrics" | grep -vc '^#')
RPS=$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk.txt")
printf '\n| | /metrics p50 | p95 | /healthz p50 | p95 |\n|---|---:|---:|---:|---:|\n'
printf '| idle | %s ms | %s ms | %s ms | %s ms |\n' $IDLE_SCRAPE $IDLE_HEALTH
printf '| busy (wrk: %s req/s of reads) | %s ms | %s ms | %s ms | %s ms |\n' "$RPS" $BUSY_SCRAPE $BUSY_HEALTH
printf '\nscrape: %s bytes, %s series\n' "$SIZE" "$SERIES"
