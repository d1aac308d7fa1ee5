#!/usr/bin/env bash
# Fuzzing (docs/fuzzing.md): builds the cargo-fuzz targets of fuzz/, seeds
# their corpora, runs each target for FUZZ_SECONDS and prints how many inputs
# each one ran. Fails when any target crashes (a panic, a broken invariant, a
# timeout or running out of memory), naming the input under
# fuzz/artifacts/<target>/ and how to replay it.
#
#   .ci/fuzz.sh                      every target, 30 s each (what CI runs)
#   FUZZ_SECONDS=3600 .ci/fuzz.sh    the long run: an hour each
#   .ci/fuzz.sh junit gzip_report    some targets only
#
# Settings (environment):
#   FUZZ_SECONDS    seconds per target (default 30)
#   FUZZ_FIXTURES   real reports to seed the report targets with (default
#                   ../shared/fixtures/reports, next to the repository); they
#                   are copied into fuzz/corpus/ at run time, never committed
#   FUZZ_SANITIZER  cargo fuzz's --sanitizer (default none: the fuzzed code
#                   has no unsafe, and without ASan it runs twice as fast)
#   FUZZ_MAX_LEN    largest input libFuzzer makes, in bytes (default 65536)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${FUZZ_SECONDS:-30}
fixtures=${FUZZ_FIXTURES:-../shared/fixtures/reports}
max_len=${FUZZ_MAX_LEN:-65536}
build=(--sanitizer "${FUZZ_SANITIZER:-none}")
all_targets=(junit ctrf gzip_report token cursor forms)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi

step() { printf '\n==> %s\n' "$*"; }

step "Prerequisites (nightly Rust, cargo-fuzz)"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
rustup run nightly rustc --version
cargo fuzz --version

# ---- Seeds ------------------------------------------------------------------
# Corpora live in fuzz/corpus/<target>/ (ignored by git) and grow from run to
# run; the seeds are (re)written on every run.

corpus=fuzz/corpus
for t in "${all_targets[@]}"; do mkdir -p "$corpus/$t"; done

# seed TARGET NAME TEXT: a hand-written seed.
seed() { printf '%s' "$3" >"$corpus/$1/seed-$2"; }

# seed_file TARGET FILE [PREFIX-BYTE]: a copy of FILE named by its content
# (as libFuzzer names inputs), after a first byte for gzip_report.
seed_file() {
  local target=$1 file=$2 tmp
  tmp=$(mktemp)
  if [ $# -gt 2 ]; then printf "$3" >"$tmp"; fi
  cat "$file" >>"$tmp"
  mv "$tmp" "$corpus/$target/$(sha1sum <"$tmp" | cut -c1-40)"
}

step "Seeding fuzz/corpus"
junit='<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="all">
  <testsuite name="app.Checkout" tests="4" file="src/checkout.rs" time="1.5">
    <properties><property name="os" value="linux"/></properties>
    <testcase classname="app.Checkout" name="pays &amp; ships" time="0.25" line="12"/>
    <testcase classname="app.Checkout" name="refunds" time="1,234.5">
      <failure message="expected 2 &lt; 1" type="AssertionError"><![CDATA[at checkout.rs:40
  at main.rs:3]]></failure>
      <system-out>token prc_pat_X6HjZofxIOAcX4Je8vJeANPue9UqrwRZ0NF9IO &#x1b;[31m</system-out>
    </testcase>
    <testcase name="retries"><flakyFailure message="timeout"/><rerunFailure/></testcase>
    <testcase name="later" status="skipped"><skipped message="not yet"/><system-err>e</system-err></testcase>
  </testsuite>
</testsuites>'
ctrf='{
  "reportFormat": "CTRF", "specVersion": "0.0.0",
  "results": {
    "tool": {"name": "playwright", "version": "1.44.0"},
    "summary": {"tests": 6, "passed": 2, "failed": 1, "pending": 1, "skipped": 1, "other": 1, "start": 1, "stop": 2},
    "tests": [
      {"name": "logs in", "status": "passed", "duration": 1200, "suite": ["auth", "login"], "filePath": "e2e/login.spec.ts", "line": 3},
      {"name": "pays", "status": "failed", "duration": 3000.5, "message": "Timeout 30000ms exceeded.", "trace": "at e2e/pay.spec.ts:12:5", "retries": 2},
      {"name": "searches", "status": "passed", "duration": 500, "flaky": true, "retries": 1, "stdout": ["a", "b"], "stderr": "c"},
      {"name": "exports", "status": "skipped", "duration": 0, "suite": "io"},
      {"name": "imports", "status": "pending", "duration": 0, "retry": 1, "flake": false},
      {"name": "syncs", "status": "other", "duration": 0, "extra": {"k": [1, {"v": null}]}}
    ]
  }
}'
seed junit report "$junit"
seed ctrf report "$ctrf"
seed ctrf bom $'\xEF\xBB\xBF'"$ctrf"
# gzip_report's first byte: bit 0 CTRF, bit 1 sent gzipped as it is.
printf '\x00%s' "$junit" >"$corpus/gzip_report/seed-junit-plain"
printf '\x01%s' "$ctrf" >"$corpus/gzip_report/seed-ctrf-plain"
{ printf '\x02'; printf '%s' "$junit" | gzip -c -n; } >"$corpus/gzip_report/seed-junit-gzip"
{ printf '\x03'; printf '%s' "$ctrf" | gzip -c -n; } >"$corpus/gzip_report/seed-ctrf-gzip"

seed token pat "prc_pat_X6HjZofxIOAcX4Je8vJeANPue9UqrwRZ0NF9IO"
seed token key "prc_key_00000000000000000000000000000000000000"
seed token text "Authorization: Bearer prc_pat_X6HjZofxIOAcX4Je8vJeANPue9UqrwRZ0NF9IO and PRC_KEY_abcdefgh, prc_oidc_12345678"
seed token kind "pat"

seed cursor page "limit=50&cursor=MjAyNC0wMS0wMVQwMDowMDowMFo"
seed cursor rank "cursor=MzpiMGQ0ZmMzNDBmMWQ0NDhhOWQ2YjYzNTk0ZTg1ZjAwYQ&limit=200"
seed cursor bad "limit=0&cursor=%FF%FE==&limit=x"

seed forms token "csrf_token=abc&name=CI+upload&permission=runs%3Awrite&permission=runs:read&expiration=custom&expires_on=2031-01-02"
seed forms pages "days=7&notice=project_created&before=2024-01-01&action=token.created&actor=ada%40example.com"
seed forms policy "mode=fixed&fixed_days=90&max_days=365&allow_no_expiry=on&revoke_unused_after_days="
seed forms quarantine "test_id=0123456789abcdef0123456789ABCDEF&reason=flaky&issue_url=https%3A%2F%2Fx.org%2F1&expires_in_days=3&release_after_passes=5"
seed forms account "email=Ada%40Example.com&name=Ada&password=correct+horse+battery&password_confirm=correct+horse+battery&role=admin"
seed forms project "name=Web&default_branch=main&flaky_flip_threshold=4&grace_seconds=3600&project_scope=selected&project=web"
seed forms filters "branch=%FF&name=caf%C3%A9&status=failed&kind=pat&owner=&project=&expiration=never"

if [ -d "$fixtures" ]; then
  n=0
  while IFS= read -r -d '' f; do
    case "$f" in */MANIFEST.txt) continue ;; esac
    if [[ "$f" == *.json ]]; then
      seed_file ctrf "$f"
      seed_file gzip_report "$f" '\x01'
    else
      seed_file junit "$f"
      seed_file gzip_report "$f" '\x00'
      gz=$(mktemp)
      gzip -c -n "$f" >"$gz"
      seed_file gzip_report "$gz" '\x02'
      rm -f "$gz"
    fi
    n=$((n + 1))
  done < <(find "$fixtures" -type f -print0 | sort -z)
  echo "seeded the report targets with $n fixtures from $fixtures"
else
  echo "skipped seeding from fixtures: $fixtures is absent (hand-written seeds only)"
fi

# ---- Runs -------------------------------------------------------------------

step "cargo fuzz build (${build[*]})"
cargo +nightly fuzz build "${build[@]}"

summary=()
failed=()
for t in "${targets[@]}"; do
  step "cargo fuzz run $t (${seconds} s)"
  mkdir -p "fuzz/artifacts/$t"
  log="fuzz/artifacts/$t.log"
  started=$SECONDS
  result=ok
  if ! cargo +nightly fuzz run "${build[@]}" "$t" -- \
    -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 >"$log" 2>&1; then
    result=CRASHED
    failed+=("$t")
  fi
  took=$((SECONDS - started))
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  if [ -z "$execs" ]; then
    # No final stats (a crash may skip them): the last progress line's count.
    execs=$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#')
  fi
  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$log" || true
  if [ "$result" != ok ]; then
    grep -E -A12 "panicked at|ERROR: libFuzzer|SUMMARY" "$log" | head -n 40 || true
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "crash input: ${artifact:-see $log}"
    if [ -n "$artifact" ]; then echo "replay: cargo +nightly fuzz run ${build[*]} $t $artifact"; fi
  fi
  summary+=("$(printf '%-12s %6s s %12s executions  %s' "$t" "$took" "${execs:-?}" "$result")")
done

step "Fuzzing summary (${seconds} s per target; logs in fuzz/artifacts/<target>.log)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "error: crashes in: ${failed[*]}" >&2
  exit 1
fi
