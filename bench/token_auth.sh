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
bin=${CARGO_TARGET_DIR:-./target}/release/proctor
dir=$(mktemp -d)
trap 'kill $server 2>/dev/null; rm -rf "$dir"' EXIT
port=$((20000 + RANDOM % 20000))
# The rate limit is raised so the benchmark measures the check, not the 429s.
RUST_LOG=warn $bin serve --data-dir "$dir" --bind 127.0.0.1:$port --rate-limit-per-minute 1000000000 &
server=$!
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done
echo "benchmark passphrase" | $bin --data-dir "$dir" admin create-user --email bench@example.com --name Bench --role admin --password-stdin 2>/dev/null
token=$($bin --data-dir "$dir" token create --owner bench@example.com --name bench --permissions projects:read,runs:read 2>/dev/null)
$bin --data-dir "$dir" project create --slug web --name Web >/dev/null 2>&1
key=$($bin --data-dir "$dir" key create --project web --name ci --permissions projects:read,runs:read 2>/dev/null)

run() { # prints requests/s
  wrk -t2 -c64 -d"${secs}s" "$@" | awk '/Requests\/sec/ {print $2}'
}
# /healthz: one pooled SQLite read on the blocking pool. whoami: the token
# check alone (answered from the check's cache). token-policy: the token
# check plus one pooled read, i.e. /healthz's work with authentication on
# top. With the project key on the empty project `web`: its runs (one page),
# its flaky tests, and the project list: the reading routes of a project,
# each the check plus one pooled read of two or three statements.
base=http://127.0.0.1:$port
names=(healthz whoami policy runs flaky projects)
echo "round  healthz  whoami/h  policy/h  runs/h  flaky/h  projects/h"
declare -A total
for r in $(seq 1 "$rounds"); do
  declare -A rps
  rps[healthz]=$(run "$base/healthz")
  rps[whoami]=$(run -H "Authorization: Bearer $token" "$base/api/v1/whoami")
  rps[policy]=$(run -H "Authorization: Bearer $token" "$base/api/v1/settings/token-policy")
  rps[runs]=$(run -H "Authorization: Bearer $key" "$base/api/v1/projects/web/runs?limit=1")
  rps[flaky]=$(run -H "Authorization: Bearer $key" "$base/api/v1/projects/web/tests/flaky")
  rps[projects]=$(run -H "Authorization: Bearer $key" "$base/api/v1/projects")
  line="$r      ${rps[healthz]}"
  for n in "${names[@]}"; do
    total[$n]=$(awk -v a="${total[$n]:-0}" -v b="${rps[$n]}" 'BEGIN {print a+b}')
    [[ $n == healthz ]] || line+=$(awk -v a="${rps[$n]}" -v h="${rps[healthz]}" 'BEGIN {printf "  %.3f", a/h}')
  done
  echo "$line"
done
echo -n "overall (sums of req/s):"
for n in "${names[@]:1}"; do
  awk -v n="$n" -v a="${total[$n]}" -v h="${total[healthz]}" 'BEGIN {printf " %s/healthz %.3f", n, a/h}'
done
echo
