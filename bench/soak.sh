#!/usr/bin/env bash
# Crash soak (issue 11): CYCLES kill -9s of the release server while 8
# `proctor upload` loops and 2 readers work; after each, PRAGMA
# integrity_check; at the end every acknowledged upload whole, no partial
# run, no duplicate after the client's retries. See bench/soak.py.
#
#   bash bench/soak.sh            # CYCLES=100
#   CYCLES=10 BIN=/path/to/proctor bash bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z ${BIN:-} ]]; then
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/proctor
  cargo build --release --quiet --bin proctor
fi
python3 bench/soak.py "$BIN" "${CYCLES:-100}"
