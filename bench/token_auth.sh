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
echo "round  healthz_rps  whoami_rps  ratio"
total_h=0; total_t=0
for r in $(seq 1 "$rounds"); do
  h=$(run "http://127.0.0.1:$port/healthz")
  t=$(run -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/whoami")
  ratio=$(awk -v a="$t" -v b="$h" 'BEGIN {printf "%.3f", a/b}')
  echo "$r      $h     $t    $ratio"
  total_h=$(awk -v a="$total_h" -v b="$h" 'BEGIN {print a+b}')
  total_t=$(awk -v a="$total_t" -v b="$t" 'BEGIN {print a+b}')
done
awk -v t="$total_t" -v h="$total_h" 'BEGIN {printf "overall ratio (token-authenticated / healthz): %.3f\n", t/h}'
