#!/usr/bin/env bash
# Webhooks (API.md section 12), one server, one run:
#  1. delivery latency, event committed -> received by a local receiver,
#     p50/p99 over EVENTS run.finished events (uploads one at a time), next
#     to the upload's own round trip as the baseline;
#  2. ingestion with 5 webhooks attached against none, interleaved rounds
#     of uploads to two projects, each hooked round timed until its
#     deliveries have all arrived: 200,000-testcase reports (bench/ingest.sh's)
#     and 500-testcase ones.
# Usage: bench/webhooks.sh [events] [big-rounds] [small-rounds]
# Needs python3; builds the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-1000}
big_rounds=${2:-6}
small_rounds=${3:-8}
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-./target}/release/proctor
dir=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$dir"' EXIT

port=$((20000 + RANDOM % 20000))
echo "benchmark passphrase" | $bin --data-dir "$dir/data" admin create-user --email bench@example.com --name Bench --role admin --password-stdin >/dev/null 2>&1
admin=$($bin --data-dir "$dir/data" token create --owner bench@example.com --name bench \
  --permissions projects:manage,projects:read,runs:read,runs:write 2>/dev/null)
for p in latency quiet hooked; do
  $bin --data-dir "$dir/data" project create --slug $p --name $p >/dev/null 2>&1
done
RUST_LOG=warn $bin serve --data-dir "$dir/data" --bind 127.0.0.1:$port --rate-limit-per-minute 1000000000 \
  --webhook-allow-hosts loopback &
server=$!
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { echo "the server did not start" >&2; exit 1; }
python3 bench/webhooks.py "http://127.0.0.1:$port" "$admin" "$events" "$big_rounds" "$small_rounds" "$server"
