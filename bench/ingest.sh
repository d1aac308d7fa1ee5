#!/usr/bin/env bash
# Report ingestion benchmark: one generated 200,000-testcase JUnit file
# (bench/gen_junit.py, ~28 MB), four ways, best of N each:
#   (a) floor: a raw quick-xml Start/Empty event scan, and Proctor's own
#       streaming parser alone (cargo bench --bench parse, best of 5);
#   (b) junitparser (PyPI) with lxml: parse and walk every case (best of 3);
#   (c) Proctor over HTTP until committed: curl --data-binary to
#       POST /api/v1/projects/bench/results of the release server, once into
#       a new project (every test new) and then best of N more (each a new
#       run of the same tests, as CI sends them), and the server's peak RSS
#       growth (VmHWM) for one upload on a fresh server, against the body size,
#       for this report and for one of LARGE_CASES (~100 MB), median of
#       RSS_ROUNDS (3) fresh servers each: the memory of an upload must not
#       grow with its size. The ratios use the repeat uploads.
#
# The concurrent case (eight 50 MB uploads at once) is bench/ingest_concurrent.sh.
#
#   bash bench/ingest.sh            # CASES=200000 RUNS=3 by default
#   BRANCH=main bash bench/ingest.sh   # runs on the default branch (flips kept)
#   ONLY_HTTP=1 BIN=/path/to/proctor bash bench/ingest.sh   # (c) alone, that build
#
# Installs what it needs into bench/out/ (a venv with junitparser + lxml).
# The machine is small and shared: run it when it is quiet.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out
CASES=${CASES:-200000}
LARGE_CASES=${LARGE_CASES:-715000}
RUNS=${RUNS:-3}
FILE=$OUT/junit-$CASES.xml
LARGE_FILE=$OUT/junit-$LARGE_CASES.xml
BRANCH_QUERY=${BRANCH:+&branch=$BRANCH}
mkdir -p "$OUT"

log() { printf '== %s\n' "$*" >&2; }

for tool in curl python3 cargo; do
  command -v "$tool" >/dev/null || { echo "bench/ingest.sh needs $tool" >&2; exit 1; }
done

for n in "$CASES" "$LARGE_CASES"; do
  if [[ ! -s $OUT/junit-$n.xml ]]; then
    log "generating $OUT/junit-$n.xml"
    python3 bench/gen_junit.py "$OUT/junit-$n.xml" "$n"
  fi
done
BYTES=$(stat -c %s "$FILE")
LARGE_BYTES=$(stat -c %s "$LARGE_FILE")
log "$FILE: $BYTES bytes, $CASES testcases"

if [[ -z ${BIN:-} ]]; then
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/proctor
  log "cargo build --release"
  cargo build --release --quiet --bin proctor
fi

if [[ -z ${ONLY_HTTP:-} ]]; then
  # (a) raw scan and Proctor's parser.
  log "(a) cargo bench --bench parse"
  PROCTOR_BENCH_FILE=$FILE cargo bench --quiet --bench parse | tee "$OUT/parse.txt" >&2

  # (b) junitparser with lxml.
  VENV=$OUT/venv
  if ! "$VENV/bin/python" -c 'import junitparser, lxml' 2>/dev/null; then
    log "installing junitparser and lxml into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check junitparser lxml
  fi
  log "(b) junitparser + lxml, best of $RUNS"
  "$VENV/bin/python" bench/junitparser_walk.py "$FILE" "$RUNS" | tee "$OUT/junitparser.txt" >&2
fi

# (c) Proctor over HTTP.
# shellcheck source=bench/server.sh
source bench/server.sh
trap stop_server EXIT

# Uploads FILE as run $1 via the one-call route; prints seconds (curl's time_total).
upload() {
  local name=$1 file=${2:-$FILE} code
  code=$(curl -sS -o "$OUT/response.json" -w '%{http_code} %{time_total}' \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/xml' \
    --data-binary @"$file" "$BASE/api/v1/projects/bench/results?name=$name$BRANCH_QUERY")
  if [[ ${code%% *} != 201 ]]; then
    echo "upload $name: HTTP $code: $(head -c 500 "$OUT/response.json")" >&2
    exit 1
  fi
  echo "${code#* }"
}

hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status"; }

log "(c) HTTP upload until committed: one into a new project, then best of $RUNS"
start_server
HTTP_FIRST=
HTTP_BEST=
for i in $(seq 0 "$RUNS"); do
  t=$(upload "bench-$i")
  tests=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tests"])' "$OUT/response.json")
  [[ $tests == "$CASES" ]] || { echo "run bench-$i has $tests tests, not $CASES" >&2; exit 1; }
  log "  upload $i: ${t}s"
  if [[ $i == 0 ]]; then
    HTTP_FIRST=$t
  else
    HTTP_BEST=$(python3 -c "import sys; a=[float(x) for x in sys.argv[1:] if x]; print(min(a))" "$t" "$HTTP_BEST")
  fi
done
stop_server
if [[ -n ${ONLY_HTTP:-} ]]; then
  printf '%s testcases%s: first upload %.0f ms, best of %s repeats %.0f ms\n' "$CASES" "${BRANCH:+ on $BRANCH}" \
    "$(python3 -c "print($HTTP_FIRST * 1000)")" "$RUNS" "$(python3 -c "print($HTTP_BEST * 1000)")"
  exit 0
fi

# Sets RSS_GROWTH to the peak RSS growth (kB) of uploading $1 once, on a
# fresh server after a small warm-up: the median of RSS_ROUNDS servers (the
# figure moves by about a MiB from one to the next).
rss_growth() {
  local before after round growths=()
  for round in $(seq 1 "${RSS_ROUNDS:-3}"); do
    start_server
    upload warmup "$OUT/small.xml" >/dev/null
    before=$(hwm_kb)
    upload rss "$1" >/dev/null
    after=$(hwm_kb)
    stop_server
    log "  $(basename "$1"), round $round: VmHWM ${before} kB -> ${after} kB"
    growths+=($((after - before)))
  done
  RSS_GROWTH=$(printf '%s\n' "${growths[@]}" | sort -n | sed -n "$(( (${#growths[@]} + 1) / 2 ))p")
}

log "(c) peak RSS growth of one upload on a fresh server"
python3 bench/gen_junit.py "$OUT/small.xml" 100
rss_growth "$FILE"
GROWTH=$RSS_GROWTH
rss_growth "$LARGE_FILE"
LARGE_GROWTH=$RSS_GROWTH

python3 - "$OUT/parse.txt" "$OUT/junitparser.txt" "$HTTP_BEST" "$CASES" "$BYTES" "$GROWTH" "$RUNS" "$HTTP_FIRST" \
  "$LARGE_BYTES" "$LARGE_GROWTH" <<'EOF'
import sys
parse_txt, jp_txt, http, cases, size, growth_kb, runs, first, large_size, large_kb = sys.argv[1:]
http, cases, size, first = float(http), int(cases), int(size), float(first)
large_size, growth, large_growth = int(large_size), int(growth_kb) * 1024, int(large_kb) * 1024
res = {}
for path in (parse_txt, jp_txt):
    for line in open(path):
        if line.startswith("RESULT "):
            _, name, secs, n = line.split()
            res[name] = (float(secs), int(n))
res["http_upload"] = (http, cases)
res["http_first"] = (first, cases)
rate = {k: n / s for k, (s, n) in res.items()}
rows = [
    ("(a) raw quick-xml scan (floor)", "raw_scan", "best of 5"),
    ("(a) Proctor parser alone", "proctor_parser", "best of 5"),
    ("(b) junitparser + lxml, walk", "junitparser", f"best of {runs}"),
    ("(c) Proctor HTTP upload, committed", "http_upload", f"best of {runs}; the run's tests known to the project"),
    ("(c) the same, first upload", "http_first", "once; every test new to the project"),
]
print(f"\n{cases} testcases, {size / 1e6:.1f} MB\n")
print("| measurement | time | testcases/s | |")
print("|---|---:|---:|---|")
for label, key, note in rows:
    s, _ = res[key]
    print(f"| {label} | {s * 1000:.0f} ms | {rate[key]:,.0f} | {note} |")
a_c = rate["raw_scan"] / rate["http_upload"]
b_c = res["junitparser"][0] / http
ok = lambda good: "met" if good else "MISSED"
print()
print("| ratio | value | goal | |")
print("|---|---:|---|---|")
print(f"| (a)/(c): raw scan rate / HTTP rate | {a_c:.2f} | ≤ 5 (HTTP ≥ {rate['raw_scan'] / 5:,.0f}/s) | {ok(a_c <= 5)} |")
print(f"| (c) HTTP upload rate | {rate['http_upload']:,.0f}/s | ≥ 400,000/s | {ok(rate['http_upload'] >= 400_000)} |")
print(f"| (b)/(c): junitparser time / HTTP time | {b_c:.2f} | ≥ 4 | {ok(b_c >= 4)} |")
print(f"| peak RSS growth / body size | {growth / size:.2f} ({growth / 2**20:.1f} MiB of {size / 2**20:.1f} MiB) | ≤ 0.5 | {ok(growth / size <= 0.5)} |")
print(f"| the same, {large_size / 1e6:.0f} MB report | {large_growth / large_size:.2f} ({large_growth / 2**20:.1f} MiB of {large_size / 2**20:.1f} MiB) | | |")
print(f"| RSS growth {large_size / 1e6:.0f} MB / {size / 1e6:.0f} MB | {large_growth / growth:.2f} | ≤ 1.10 | {ok(large_growth <= 1.1 * growth)} |")
EOF
