#!/usr/bin/env bash
# Eight CI shards uploading 50 MB reports at once (issue 15's concurrent
# case), on a fresh release server each time:
#   (a) eight plain `curl --data-binary` uploads started together: the
#       server's peak RSS (VmHWM) and every upload stored (201);
#   (b) the same eight plain uploads against a server given
#       --ingest-memory-mib 1 (one body received at a time), with
#       `curl --retry` (which waits `Retry-After`): every report stored in
#       the end, and how many 503 `server_busy` the server answered;
#   (c) eight `proctor upload` runs (gzip, with its retries) started
#       together against such a server: every report stored, and the 503s
#       (few: a gzipped body arrives in milliseconds, so they rarely meet).
# With BASE_BIN=/path/to/older/proctor, (a) runs on that build too and the
# table gives the ratio (this build / that build).
#
#   bash bench/ingest_concurrent.sh      # CASES=357000 (~50 MB) SHARDS=8
#   BASE_BIN=bench/out/base-e9448c0/target/release/proctor bash bench/ingest_concurrent.sh
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out
CASES=${CASES:-357000}
SHARDS=${SHARDS:-8}
FILE=$OUT/junit-$CASES.xml
mkdir -p "$OUT"

log() { printf '== %s\n' "$*" >&2; }

if [[ ! -s $FILE ]]; then
  log "generating $FILE"
  python3 bench/gen_junit.py "$FILE" "$CASES"
fi
BYTES=$(stat -c %s "$FILE")
log "$FILE: $BYTES bytes, $CASES testcases"

if [[ -z ${BIN:-} ]]; then
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/proctor
  log "cargo build --release"
  cargo build --release --quiet --bin proctor
fi

# shellcheck source=bench/server.sh
source bench/server.sh
trap stop_server EXIT

hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status"; }

# The server's count of uploads answered 503 server_busy (/metrics).
export PROCTOR_METRICS_TOKEN=bench-metrics-token-0123456789
busy_count() {
  curl -sS -H "Authorization: Bearer $PROCTOR_METRICS_TOKEN" "$BASE/metrics" |
    awk '/^proctor_reports_rejected_total\{reason="server_busy"\}/ {n = $2} END {print n + 0}'
}

# The tests of run $1 of `bench`, as stored.
run_tests() {
  curl -sS -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/projects/bench/runs/$1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["tests"])'
}

# (a) with binary $1, (b) with RETRY=1 (a budget of one body, curl
# retrying): sets R_IDLE and R_PEAK (kB), R_SECS and R_BUSY (503s answered).
plain_round() {
  local BIN=$1 start end i codes pids=() retry=()
  if [[ -n ${RETRY:-} ]]; then
    retry=(--retry 30 --retry-max-time 600)
    SERVER_ARGS="--ingest-memory-mib 1" start_server
  else
    start_server
  fi
  sleep 0.5
  R_IDLE=$(hwm_kb)
  start=$(date +%s.%N)
  for i in $(seq 1 "$SHARDS"); do
    curl -sS "${retry[@]}" -o "$OUT/shard-$i.json" -w '%{http_code}\n' -H "Authorization: Bearer $TOKEN" \
      -H 'Content-Type: application/xml' --data-binary @"$FILE" \
      "$BASE/api/v1/projects/bench/results?name=shard-$i" >"$OUT/shard-$i.code" &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  end=$(date +%s.%N)
  codes=$(cat "$OUT"/shard-*.code | sort | uniq -c | tr -s ' ' | tr '\n' ',')
  R_PEAK=$(hwm_kb)
  for i in $(seq 1 "$SHARDS"); do
    local code
    code=$(cat "$OUT/shard-$i.code")
    [[ $code == 201 ]] || { echo "shard $i: HTTP $code: $(head -c 300 "$OUT/shard-$i.json")" >&2; exit 1; }
    local tests
    tests=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tests"])' "$OUT/shard-$i.json")
    [[ $tests == "$CASES" ]] || { echo "shard $i stored $tests tests, not $CASES" >&2; exit 1; }
  done
  R_BUSY=$(busy_count)
  stop_server
  log "  $BIN: codes ${codes} VmHWM ${R_IDLE} kB -> ${R_PEAK} kB, ${R_BUSY} answered 503"
  R_SECS=$(python3 -c "print($end - $start)")
}

# (c) sets R_BUSY (503s answered) and R_SECS.
cli_round() {
  SERVER_ARGS="--ingest-memory-mib 1" start_server
  local start end i pids=()
  start=$(date +%s.%N)
  for i in $(seq 1 "$SHARDS"); do
    PROCTOR_URL=$BASE PROCTOR_TOKEN=$TOKEN "$BIN" upload --project bench --name "cli-$i" "$FILE" \
      >"$OUT/cli-$i.out" 2>"$OUT/cli-$i.err" &
    pids+=($!)
  done
  local failed=0
  for pid in "${pids[@]}"; do
    wait "$pid" || failed=$((failed + 1))
  done
  end=$(date +%s.%N)
  [[ $failed == 0 ]] || { cat "$OUT"/cli-*.err >&2; echo "$failed uploads failed" >&2; exit 1; }
  for i in $(seq 1 "$SHARDS"); do
    local run tests
    run=$(tail -n1 "$OUT/cli-$i.out" | sed 's#.*/runs/##')
    tests=$(run_tests "$run")
    [[ $tests == "$CASES" ]] || { echo "cli-$i stored $tests tests, not $CASES" >&2; exit 1; }
  done
  R_BUSY=$(busy_count)
  stop_server
  R_SECS=$(python3 -c "print($end - $start)")
}

log "(a) $SHARDS plain uploads at once, this build"
plain_round "$BIN"
IDLE=$R_IDLE PEAK=$R_PEAK SECS=$R_SECS
if [[ -n ${BASE_BIN:-} ]]; then
  log "(a) $SHARDS plain uploads at once, $BASE_BIN"
  plain_round "$BASE_BIN"
  B_IDLE=$R_IDLE B_PEAK=$R_PEAK B_SECS=$R_SECS
fi
log "(b) $SHARDS plain uploads at once, --ingest-memory-mib 1, curl --retry"
RETRY=1 plain_round "$BIN"
R_PEAK_B=$R_PEAK R_SECS_B=$R_SECS R_BUSY_B=$R_BUSY
log "(c) $SHARDS proctor upload runs at once, --ingest-memory-mib 1"
cli_round
BUSY=$R_BUSY CLI_SECS=$R_SECS

python3 - "$SHARDS" "$BYTES" "$IDLE" "$PEAK" "$SECS" "$BUSY" "$CLI_SECS" "${B_IDLE:-}" "${B_PEAK:-}" "${B_SECS:-}" \
  "$R_PEAK_B" "$R_SECS_B" "$R_BUSY_B" <<'PY'
import sys
shards, size, idle, peak, secs, busy, cli_secs, b_idle, b_peak, b_secs, peak_b, secs_b, busy_b = sys.argv[1:]
shards, size, idle, peak, busy, busy_b = int(shards), int(size), int(idle), int(peak), int(busy), int(busy_b)
mib = lambda kb: int(kb) / 1024
print(f"\n{shards} uploads of {size / 1e6:.1f} MB at once\n")
print("| | this build | " + ("base build | ratio |" if b_peak else ""))
print("|---|---:|" + ("---:|---:|" if b_peak else ""))
row = lambda label, a, b, fmt: print(f"| {label} | {fmt(a)} |" + (f" {fmt(b)} | {float(a) / float(b):.2f} |" if b else ""))
row("(a) idle RSS, MiB", idle, b_idle, lambda v: f"{mib(v):.1f}")
row("(a) peak RSS, MiB", peak, b_peak, lambda v: f"{mib(v):.1f}")
row("(a) all stored, seconds", secs, b_secs, lambda v: f"{float(v):.1f}")
blank = " | |" if b_peak else ""
print(f"| (b) --ingest-memory-mib 1, curl --retry: peak RSS, MiB | {mib(peak_b):.1f} |{blank}")
print(f"| (b) all stored, seconds | {float(secs_b):.1f} |{blank}")
print(f"| (b) 503 server_busy answered, then retried | {busy_b} |{blank}")
print(f"| (c) proctor upload ×{shards}, --ingest-memory-mib 1: all stored, seconds | {float(cli_secs):.1f} |{blank}")
print(f"| (c) 503 server_busy answered, then retried | {busy} |{blank}")
ok = "met" if max(peak, int(peak_b)) / 1024 <= 300 else "MISSED"
print(f"\npeak RSS ≤ 300 MiB: {ok} ({mib(peak):.1f} MiB); every upload stored: met")
PY
