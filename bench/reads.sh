#!/usr/bin/env bash
# Reading a big project: three runs of the generated 200,000-testcase report
# (bench/gen_junit.py; every tenth test fails in every run), then each read
# endpoint of the results API, best of N, against the same server's
# GET /api/v1/projects/bench/runs (a small authenticated read) as baseline.
# Then a fourth run whose failures move to the neighbouring tests (40,000
# changes on the default branch: the most flakiness work one run can make),
# its upload time, and the flaky list again.
#
#   bash bench/reads.sh            # CASES=200000 RUNS=5 by default
#   BIN=/path/to/old/proctor bash bench/reads.sh   # another build, not rebuilt
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=$PWD/bench/out
CASES=${CASES:-200000}
RUNS=${RUNS:-5}
FILE=$OUT/junit-$CASES.xml
SHIFTED=$OUT/junit-$CASES-shifted.xml
mkdir -p "$OUT"
[[ -s $FILE ]] || python3 bench/gen_junit.py "$FILE" "$CASES"
[[ -s $SHIFTED ]] || python3 bench/gen_junit.py "$SHIFTED" "$CASES" 1
if [[ -z ${BIN:-} ]]; then
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/proctor
  cargo build --release --quiet --bin proctor
fi

# shellcheck source=bench/server.sh
source bench/server.sh
trap stop_server EXIT
start_server

for i in 1 2 3; do
  curl -sS -o "$OUT/run.json" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/xml' \
    --data-binary @"$FILE" "$BASE/api/v1/projects/bench/results?name=ci&branch=main&commit=c$i"
done
RUN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$OUT/run.json")
TEST=$(curl -sS -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/projects/bench/runs/$RUN/tests?limit=1" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["tests"][0]["test_id"])')

# best of RUNS, in ms
best() {
  local path=$1 best= t
  for _ in $(seq 1 "$RUNS"); do
    t=$(curl -sS -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $TOKEN" "$BASE$path")
    best=$(python3 -c "import sys; print(min(float(x) for x in sys.argv[1:] if x))" "$t" "$best")
  done
  echo "$best"
}
BASELINE=$(best "/api/v1/projects/bench/runs")
printf '\n%s testcases per run, 3 runs; best of %s\n\n' "$CASES" "$RUNS"
echo "| read | time | × baseline |"
echo "|---|---:|---:|"
printf '| baseline: `GET /runs` | %.1f ms | 1 |\n' "$(python3 -c "print($BASELINE * 1000)")"
for entry in \
  "run's tests, first page (failures first)|/api/v1/projects/bench/runs/$RUN/tests?limit=50" \
  "run's failed tests, first page|/api/v1/projects/bench/runs/$RUN/tests?limit=50&status=failed" \
  "compare with the baseline run|/api/v1/projects/bench/runs/$RUN/compare" \
  "flaky tests (30 days)|/api/v1/projects/bench/tests/flaky" \
  "slowest tests (30 days)|/api/v1/projects/bench/tests/slowest" \
  "failure groups (30 days)|/api/v1/projects/bench/errors" \
  "one test's history|/api/v1/projects/bench/tests/$TEST"; do
  t=$(best "${entry#*|}")
  python3 -c "import sys; t, b = float(sys.argv[2]), float(sys.argv[3]); print(f'| {sys.argv[1]} | {t*1000:.1f} ms | {t/b:.0f} |')" \
    "${entry%%|*}" "$t" "$BASELINE"
done

# A fourth run on main: 20,000 failing tests pass again and 20,000 others fail.
t=$(curl -sS -o "$OUT/run.json" -w '%{time_total}' -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/xml' --data-binary @"$SHIFTED" \
  "$BASE/api/v1/projects/bench/results?name=ci&branch=main&commit=c4")
printf '\nfourth run, failures moved (40,000 changes on main): upload %.0f ms\n\n' "$(python3 -c "print($t * 1000)")"
echo "| read after it | time | × baseline |"
echo "|---|---:|---:|"
RUN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$OUT/run.json")
for entry in \
  "flaky tests (30 days)|/api/v1/projects/bench/tests/flaky" \
  "run's tests, first page (failures first)|/api/v1/projects/bench/runs/$RUN/tests?limit=50"; do
  t=$(best "${entry#*|}")
  python3 -c "import sys; t, b = float(sys.argv[2]), float(sys.argv[3]); print(f'| {sys.argv[1]} | {t*1000:.1f} ms | {t/b:.0f} |')" \
    "${entry%%|*}" "$t" "$BASELINE"
done
