#!/usr/bin/env bash
# One OIDC exchange (warm keys) against GET /api/v1/whoami, same server,
# same run: latency p50/p95 and their ratio (API.md section 11).
# Usage: bench/oidc_exchange.sh [rounds] [exchanges-per-round]
# Needs python3 and the openssl CLI; builds the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
per_round=${2:-100}
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-./target}/release/proctor
dir=$(mktemp -d)
trap 'kill $server 2>/dev/null; rm -rf "$dir"' EXIT

# A test CA, the issuer's certificate for 127.0.0.1, and its signing key.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench-ca \
  -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
  -keyout "$dir/leaf.key" -out "$dir/leaf.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$dir/san.ext"
openssl x509 -req -in "$dir/leaf.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 1 \
  -extfile "$dir/san.ext" -out "$dir/leaf.pem" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$dir/signing.pem"

port=$((20000 + RANDOM % 20000))
echo "benchmark passphrase" | $bin --data-dir "$dir/data" admin create-user --email bench@example.com --name Bench --role admin --password-stdin >/dev/null 2>&1
admin=$($bin --data-dir "$dir/data" token create --owner bench@example.com --name bench --permissions projects:manage,projects:read,runs:read 2>/dev/null)
$bin --data-dir "$dir/data" project create --slug web --name Web >/dev/null 2>&1
# Rate limits raised or spread (X-Forwarded-For from 127.0.0.1, a trusted
# proxy) so the benchmark measures the work, not the 429s.
RUST_LOG=warn $bin serve --data-dir "$dir/data" --bind 127.0.0.1:$port --rate-limit-per-minute 1000000000 \
  --extra-ca-file "$dir/ca.pem" --oidc-allow-hosts loopback --trusted-proxies 127.0.0.1 &
server=$!
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done
python3 bench/oidc_exchange.py "$dir" "http://127.0.0.1:$port" "$admin" "$rounds" "$per_round"
