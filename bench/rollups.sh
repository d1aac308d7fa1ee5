#!/usr/bin/env bash
# What rollups cost ingestion (issue 14), in one run on one machine: the
# build of BASE_REV (default: the commit before rollups, ca8921b) against
# this checkout's, each its own release server, ROUNDS rounds of one upload
# of bench/ingest.sh's 200,000-testcase report to each, alternating which
# goes first. Reports upload time (what CI waits for) and server CPU per
# result including the background folding (waited for at the end); then
# the backfill: this build started on the baseline's database (ROUNDS x
# 200,000 results stored without rollups) until it answers, and until
# every digest is folded.
#
#   bash bench/rollups.sh                 # ROUNDS=5: 1,000,000 results each
#   ROUNDS=10 BASE_REV=<commit> bash bench/rollups.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROUNDS=${ROUNDS:-5}
BASE_REV=${BASE_REV:-ca8921b}
OUT=$ROOT/bench/out
mkdir -p "$OUT"
FILE=$OUT/junit-200000.xml
[[ -s $FILE ]] || python3 bench/gen_junit.py "$FILE" 200000

BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/proctor
cargo build --release --quiet --bin proctor
BASE_TREE=$OUT/base-$BASE_REV
if [[ ! -x $BASE_TREE/target/release/proctor ]]; then
  rm -rf "$BASE_TREE"
  git worktree prune
  git worktree add --detach "$BASE_TREE" "$BASE_REV" >/dev/null
  (cd "$BASE_TREE" && CARGO_TARGET_DIR=$BASE_TREE/target cargo build --release --quiet --bin proctor)
fi
BASE_BIN=$BASE_TREE/target/release/proctor

DATA=$(mktemp -d "${TMPDIR:-/tmp}/proctor-rollups.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$DATA"' EXIT

# setup NAME BINARY: a data directory with an admin, a token and project "bench".
setup() {
  local cli=("$2" --data-dir "$DATA/$1")
  printf 'correct horse battery staple\n' |
    "${cli[@]}" admin create-user --email bench@example.com --name Bench --role admin --password-stdin >/dev/null
  "${cli[@]}" project create --slug bench --name Bench >/dev/null
  "${cli[@]}" token create --owner bench@example.com --name bench --permissions runs:write,runs:read,projects:read \
    --expires-in-days 30
}

# serve NAME BINARY PORT: starts a server, echoes its pid once it answers.
serve() {
  RUST_LOG=info "$2" serve --data-dir "$DATA/$1" --bind "127.0.0.1:$3" --rate-limit-per-minute 1000000000 \
    >"$DATA/$1.log" 2>&1 &
  local pid=$!
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$3/healthz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$3/healthz" >/dev/null || { cat "$DATA/$1.log" >&2; exit 1; }
  echo "$pid"
}

BASE_TOKEN=$(setup base "$BASE_BIN")
NEW_TOKEN=$(setup new "$BIN")
BASE_PORT=$((20000 + RANDOM % 20000))
NEW_PORT=$((BASE_PORT + 1))
BASE_PID=$(serve base "$BASE_BIN" "$BASE_PORT"); pids+=("$BASE_PID")
NEW_PID=$(serve new "$BIN" "$NEW_PORT"); pids+=("$NEW_PID")
python3 bench/rollups.py ingest "$FILE" "$ROUNDS" \
  "base=http://127.0.0.1:$BASE_PORT,$BASE_TOKEN,$BASE_PID,$DATA/base/proctor.db" \
  "rollups=http://127.0.0.1:$NEW_PORT,$NEW_TOKEN,$NEW_PID,$DATA/new/proctor.db"

kill "$BASE_PID" "$NEW_PID"; wait "$BASE_PID" "$NEW_PID" 2>/dev/null || true
pids=()
echo
echo "backfill: this build on the baseline's database"
start=$(date +%s.%N)
PID=$(serve base "$BIN" "$BASE_PORT"); pids+=("$PID")
ready=$(date +%s.%N)
python3 bench/rollups.py folded "$DATA/base/proctor.db" "$start" "$ready"
grep -aE "rollups: (digested|backfill)" "$DATA/base.log" | sed 's/^/  log: /' | tail -3
