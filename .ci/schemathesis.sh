#!/usr/bin/env bash
# Checks the running server against its own OpenAPI description with
# schemathesis (docs/api.md, "The API's description"): every operation, with
# an admin's personal access token and then with a project API key, every
# check schemathesis has (no 5xx, status codes, content types, headers and
# bodies as described, bad input refused, good input accepted, no crash),
# stateful sequences along the description's links. Two checks are left out:
# positive_data_acceptance, which expects every input the schema allows to
# succeed, and some inputs are valid only in context (a cursor from the
# previous page, an instant in the future, a role that exists, a permission
# the caller holds); refusing those is a 4xx by design, documented per
# operation. And use_after_free, which expects a deleted resource to be 404
# afterwards: `DELETE /api/v1/tokens/{id}` revokes, and the revoked token
# stays readable with status `revoked` (API.md section 2; the owner's list
# and the audit trail keep it). Exits non-zero on any
# failure; the summary is printed to the log.
#
#   .ci/schemathesis.sh                  # builds the debug binary if needed
#   BIN=target/release/proctor ST_EXAMPLES=200 .ci/schemathesis.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ST_VERSION="${ST_VERSION:-4.32.5}"
ST_EXAMPLES="${ST_EXAMPLES:-40}"
VENV="${ST_VENV:-target/schemathesis-venv}"
BIN="$(realpath -m "${BIN:-target/debug/proctor}")"

if [ ! -x "$VENV/bin/st" ] || ! "$VENV/bin/st" --version | grep -q "$ST_VERSION"; then
  echo "installing schemathesis $ST_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi
[ -x "$BIN" ] || cargo build --quiet

data=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -z "${ST_KEEP:-}" ]; then rm -rf "$data"; else echo "kept $data"; fi
}
trap cleanup EXIT
cli() { "$BIN" --data-dir "$data" "$@"; }

# An administrator, a project, a token for each and some history to read.
echo "correct horse battery staple" | cli admin create-user --email admin@example.com --name Admin --role admin --password-stdin >/dev/null
cli project create --slug web --name Web >/dev/null
cli project create --slug scratch --name Scratch >/dev/null
admin=$(cli token create --owner admin@example.com --name schemathesis --expires-in-days 7 \
  --permissions "runs:read,runs:write,artifacts:write,tests:manage,projects:read,projects:manage,tokens:create,tokens:admin,users:admin,audit:read")
key=$(cli key create --project web --name schemathesis --permissions "projects:read,runs:read,runs:write,artifacts:write")

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
# The fuzzer's requests must not be rate limited away.
cli serve --bind "127.0.0.1:$port" --rate-limit-per-minute 1000000 >"$data/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$base/healthz" >/dev/null

api() { curl -fsS -H "Authorization: Bearer $admin" "$@"; }
for i in 1 2 3; do
  outcome=$([ "$i" = 2 ] && echo '<failure message="expected 1, got 2">assert</failure>' || true)
  api -X POST -H 'Content-Type: application/xml' --data-binary \
    "<testsuite name=\"unit\"><testcase classname=\"a.B\" name=\"works\" time=\"0.01\"/><testcase classname=\"a.B\" name=\"sometimes\" time=\"0.2\">$outcome</testcase></testsuite>" \
    "$base/api/v1/projects/web/results?commit=c$i&branch=main&build_id=b$i&name=unit" >/dev/null
done

# Operations of a project go to the seeded one (random slugs would only
# ever find 404); everything else is generated.
# Deleting a project is tried on one made for it. Stateful sequences follow
# the description's own links (create → read, update, rotate, delete); links
# schemathesis would infer from responses are off, as they include "revoke
# or rotate every token the list shows", which would end the run's own token.
cat >"$data/schemathesis.toml" <<EOF
[parameters]
"path.project" = "web"

[[operations]]
include-operation-id = "delete_project"
parameters = { "path.project" = "scratch" }

[phases.stateful.inference]
algorithms = []
EOF

status=0
# run LABEL admin|key TOKEN [st options]: the token comes from the hooks,
# which mint a new one when the run has ended it (.ci/schemathesis_hooks.py).
run() {
  local label=$1 kind=$2 token=$3
  shift 3
  echo
  echo "==> schemathesis: $label"
  PYTHONPATH=.ci SCHEMATHESIS_HOOKS=schemathesis_hooks \
    ST_BASE="$base" ST_BIN="$BIN" ST_DATA="$data" ST_TOKEN_KIND="$kind" ST_TOKEN="$token" \
    "$VENV/bin/st" --config-file "$data/schemathesis.toml" run "$base/api/openapi.json" \
    --checks all \
    --exclude-checks positive_data_acceptance,use_after_free \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$ST_EXAMPLES" \
    --generation-deterministic \
    --request-timeout 30 \
    --workers 1 \
    --generation-with-security-parameters false \
    --suppress-health-check all \
    --no-color \
    "$@" || status=1
}
run "admin token (every operation)" admin "$admin"
# A project key reaches one project and only runs, results and attachments.
# (Any of the three token headers takes any token; the integration tests
# cover X-Api-Key and Project-Token.)
run "project API key (ingestion and reading)" key "$key" --include-path-regex '/api/v1/projects/\{project\}/(runs|results|tests|errors|attachments|quarantine)'

# actix logs malformed requests (bad header bytes) as ERROR itself; Proctor's own errors and panics fail the run.
if grep -E 'ERROR proctor|panicked' "$data/server.log" >/dev/null; then
  echo "the server logged errors during the run:"
  grep -E 'ERROR proctor|panicked' "$data/server.log" | head -20
  status=1
fi
exit "$status"
