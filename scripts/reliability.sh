#!/usr/bin/env bash
# The long reliability runs (RELIABILITY.md): every fuzz target for a while,
# then the load and malformed-input suites held far longer than in the
# everyday test command. The short versions of all of these run in
# scripts/test.sh.
#   ./scripts/reliability.sh                  300 s per fuzz target, 120 s of load
#   ./scripts/reliability.sh 60 30            60 s per fuzz target, 30 s of load
#   ./scripts/reliability.sh --no-fuzz 0 60   skip fuzzing (it needs a nightly toolchain)
# Prints one summary line per suite; exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh

fuzz=1
if [ "${1:-}" = "--no-fuzz" ]; then
    fuzz=0
    shift
fi
fuzz_seconds="${1:-300}"
load_seconds="${2:-120}"

if [ "$fuzz" = 1 ]; then
    echo "== fuzzing: ${fuzz_seconds} s per target"
    ./scripts/fuzz.sh "$fuzz_seconds"
fi

# Runs a test command (its arguments after `--` name the tests: libtest
# filters); on failure shows all it printed and stops, else only the suites'
# summary lines.
suite() {
    local log
    log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then
        cat "$log"
        echo "reliability: FAILED: $*" >&2
        exit 1
    fi
    grep -E '^(load|bad-input|faults|secrets|misbehaving)' "$log" || true
    rm -f "$log"
}

# Release builds: the figures are for the code users run.
echo "== load: 50 clients for ${load_seconds} s; 5,000 edits with runs among them"
LOAD_SECONDS="$load_seconds" LOAD_EDITS=5000 suite cargo test --locked --release --test reliability -- \
    --nocapture --test-threads 1 load::

echo "== malformed input: 200,000 messages to the language server, 100,000 requests to the sandbox"
BAD_INPUT_MESSAGES=200000 BAD_INPUT_REQUESTS=100000 suite cargo test --locked --release --test reliability -- \
    --nocapture --test-threads 1 bad_input_lsp:: bad_input_http::

echo "== faults, secrets and misbehaving code, ten times over"
for round in 1 2 3 4 5 6 7 8 9 10; do
    echo "round $round:"
    suite cargo test --locked --release --test reliability -- --nocapture --test-threads 1 faults:: misbehaving_code::
    suite cargo test --locked --release --test integration -- --nocapture --test-threads 1 trust::
done
