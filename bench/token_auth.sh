#!/usr/bin/env bash
# Token-authenticated requests/s vs /healthz on the same server, same run.
# Usage: bench/token_auth.sh [seconds-per-round] [rounds]
# Needs wrk (Debian package `wrk`); builds the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
rounds=${2:-3}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release --quiet
bin=./target/release/proctor
dir=$(mktemp -d)
trap 'kill $server 2>/dev/null; rm -rf "$dir"' EXIT
port=$((20000 + RANDOM % 20000))
# The rate limit is raised so the benchmark measures the check, not the 429s.
RUST_LOG=warn $bin serve --data-dir "$dir" --bind 127.0.0.1:$port --rate-limit-per-minute 1000000000 &
server=$!
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done
echo "benchmark passphrase" | $bin --data-dir "$dir" admin create-user --email bench@example.com --name Bench --role admin --password-stdin 2>/dev/null
token=$($bin --data-dir "$dir" token create --owner bench@example.com --name bench --permissions projects:read,runs:read 2>/dev/null)

run() { # prints requests/s
  wrk -t2 -c32 -d"${secs}s" "$@" | awk '/Requests\/sec/ {print $2}'
}
# /healthz: one pooled SQLite read. whoami: the token check alone (answered
# from the check's cache). token-policy: the token check plus one pooled read,
# i.e. the same work as /healthz with authentication on top.
echo "round  healthz_rps  whoami_rps  policy_rps  whoami/healthz  policy/healthz"
th=0; tw=0; tp=0
for r in $(seq 1 "$rounds"); do
  h=$(run "http://127.0.0.1:$port/healthz")
  w=$(run -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/whoami")
  p=$(run -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/settings/token-policy")
  awk -v r="$r" -v h="$h" -v w="$w" -v p="$p" 'BEGIN {printf "%-6s %-12s %-11s %-11s %-15.3f %.3f\n", r, h, w, p, w/h, p/h}'
  th=$(awk -v a="$th" -v b="$h" 'BEGIN {print a+b}')
  tw=$(awk -v a="$tw" -v b="$w" 'BEGIN {print a+b}')
  tp=$(awk -v a="$tp" -v b="$p" 'BEGIN {print a+b}')
done
awk -v h="$th" -v w="$tw" -v p="$tp" 'BEGIN {printf "overall: whoami/healthz %.3f, token-policy/healthz %.3f\n", w/h, p/h}'
