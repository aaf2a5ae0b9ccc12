#!/usr/bin/env bash
# Benchmarks, each against a reference measured in the same run; prints one
# Markdown table (see BENCHMARKS.md). Installs the reference (a Jupyter
# kernel: ipykernel and jupyter_client from PyPI, in target/bench-venv),
# builds in release mode and runs every benchmark.
#   ./scripts/bench.sh           the full run (about ten minutes here)
#   ./scripts/bench.sh --smoke   small sizes, to check the benchmark code works
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
venv=target/bench-venv
if ! "$venv/bin/python" -c "import ipykernel, jupyter_client" >/dev/null 2>&1; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check ipykernel==7.4.0 jupyter_client==8.10.0
fi
cargo bench --locked --bench bench -- --kernel-python "$venv/bin/python" "$@"
