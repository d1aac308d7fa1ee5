# Sourced by the bench scripts (needs BIN): a release server on a fresh
# data directory with an admin, a token and the project `bench`.
#
#   start_server    sets BASE, TOKEN, SERVER_PID, DATA (SERVER_ARGS: more flags)
#   stop_server     stops it and removes its data directory

SERVER_PID=
DATA=
stop_server() {
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
  if [[ -n $DATA ]]; then rm -rf "$DATA"; DATA=; fi
}

start_server() {
  DATA=$(mktemp -d "${TMPDIR:-/tmp}/proctor-bench.XXXXXX")
  local cli=("$BIN" --data-dir "$DATA/data")
  printf 'correct horse battery staple\n' |
    "${cli[@]}" admin create-user --email bench@example.com --name Bench --role admin --password-stdin >/dev/null
  TOKEN=$("${cli[@]}" token create --owner bench@example.com --name bench \
    --permissions runs:write,runs:read,projects:read --expires-in-days 7)
  "${cli[@]}" project create --slug bench --name Bench >/dev/null
  RUST_LOG=warn,proctor=info "$BIN" serve --bind 127.0.0.1:0 --data-dir "$DATA/data" \
    --max-report-bytes 200000000 --rate-limit-per-minute 100000 ${SERVER_ARGS:-} >"$DATA/server.log" 2>&1 &
  SERVER_PID=$!
  BASE=
  for _ in $(seq 1 300); do
    BASE=$(sed -n 's/.*Proctor listening on \([^ ]*\).*/\1/p' "$DATA/server.log" | head -n1)
    [[ -n $BASE ]] && break
    sleep 0.1
  done
  [[ -n $BASE ]] || { cat "$DATA/server.log" >&2; echo "server did not start" >&2; exit 1; }
}
