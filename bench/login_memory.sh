#!/usr/bin/env bash
# Memory and latency of logins against a release server: 100 sequential web
# logins (their median and 90th-percentile latency: the login POST with its
# argon2id verification, session and audit row), then 100 more 8 at a time
# (which spreads them over as many threads as the server lets them use).
# Prints the server's resident memory before the first login (the baseline,
# same run), after each phase, and its peak (VmHWM).
# Usage: bench/login_memory.sh [logins-per-phase] [concurrency]   (needs python3)
set -euo pipefail
cd "$(dirname "$0")/.."
logins=${1:-100}
concurrency=${2:-8}
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/proctor
. bench/server.sh
trap stop_server EXIT
start_server
kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$SERVER_PID/status"; }
mb() { awk -v k="$1" 'BEGIN {printf "%.1f MB", k/1024}'; }
login_phase() { # logins, concurrency
  python3 - "$BASE" "$1" "$2" <<'PY'
import concurrent.futures, http.cookiejar, re, statistics, sys, time, urllib.error, urllib.parse, urllib.request

base, n, parallel = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None

def login(_):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    page = opener.open(base + "/login").read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"csrf_token": csrf, "email": "bench@example.com", "password": "correct horse battery staple"}
    ).encode()
    started = time.perf_counter()
    try:
        opener.open(base + "/login", form)
        raise SystemExit("login did not redirect")
    except urllib.error.HTTPError as e:
        if e.code != 303:
            raise SystemExit(f"login failed: {e.code}")
    return (time.perf_counter() - started) * 1000

with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
    times = sorted(pool.map(login, range(n)))
print(f"{n} logins, {parallel} at a time: median {statistics.median(times):.1f} ms, p90 {times[int(n * 0.9) - 1]:.1f} ms")
PY
}
before=$(kb VmRSS)
login_phase "$logins" 1
sequential=$(kb VmRSS)
login_phase "$logins" "$concurrency"
after=$(kb VmRSS)
peak=$(kb VmHWM)
echo "RSS before: $(mb "$before"), after sequential: $(mb "$sequential"), after concurrent: $(mb "$after"), peak: $(mb "$peak")"
awk -v b="$before" -v p="$peak" 'BEGIN {printf "peak/before: %.2f\n", p/b}'
