#!/usr/bin/env bash
# Analytics at any history (issue 14): a project grown day by day through
# the real ingestion path (DAYS days of RUNS_PER_DAY runs of a TESTS-test
# suite; flaky tests, regressions and slow drifts seeded), and at each
# checkpoint day the p50/p95 of every analytics route and page, the
# ingestion throughput and the database's bytes per result.
# bench/history.py has the details.
#
#   bash bench/history.sh        # 30 days x 50 runs x 10,000 tests: 15 M results,
#                                # checkpoints after days 3, 10 and 30 (1.5 M, 5 M, 15 M)
#   DAYS=6 RUNS_PER_DAY=10 TESTS=1000 CHECKPOINTS=2,6 bash bench/history.sh   # a quick look
#   BIN=/path/to/proctor bash bench/history.sh                                  # another build
set -euo pipefail
cd "$(dirname "$0")/.."
DAYS=${DAYS:-30}
RUNS_PER_DAY=${RUNS_PER_DAY:-50}
TESTS=${TESTS:-10000}
CHECKPOINTS=${CHECKPOINTS:-3,10,30}
REQUESTS=${REQUESTS:-20}
if [[ -z ${BIN:-} ]]; then
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/proctor
  cargo build --release --quiet --bin proctor
fi
DATA=$(mktemp -d "${TMPDIR:-/tmp}/proctor-history.XXXXXX")
trap 'rm -rf "$DATA"' EXIT
cli=("$BIN" --data-dir "$DATA/data")
printf 'correct horse battery staple\n' |
  "${cli[@]}" admin create-user --email bench@example.com --name Bench --role admin --password-stdin >/dev/null
TOKEN=$("${cli[@]}" token create --owner bench@example.com --name bench \
  --permissions runs:write,runs:read,projects:read --expires-in-days 365)
"${cli[@]}" project create --slug hist --name History >/dev/null
python3 bench/history.py "$BIN" "$DATA" "$TOKEN" "$DAYS" "$RUNS_PER_DAY" "$TESTS" "$CHECKPOINTS" "$REQUESTS"
