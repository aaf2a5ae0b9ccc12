#!/usr/bin/env bash
# The main job on a fresh machine: build, then run Python from a file on the
# embedded local sandbox (no Azure account needed).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
cargo build --release --locked --quiet
bin=./target/release/azure-sandbox-lsp
echo "\$ azure-sandbox-lsp run examples/analysis.py" >&2
"$bin" run examples/analysis.py
echo >&2
echo "\$ azure-sandbox-lsp run examples/analysis.py --lines 5:15   # two cells; the last value is shown" >&2
"$bin" run examples/analysis.py --lines 5:15
