#!/usr/bin/env bash
# Every test: installs what the tests need, then runs them all. The Rust
# tests start real local sandbox servers on 127.0.0.1 and real Python
# processes; the packaging tests build the release binary and the wheel and
# install it; the editor tests drive real editors against the real server.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
# The figure tests' interpreter: matplotlib, pandas and Pillow in a virtual
# environment from the package registry (made once, under target/).
AZURE_SANDBOX_FIGURES_PYTHON="$(./scripts/figures-python.sh)"
export AZURE_SANDBOX_FIGURES_PYTHON
# The agents' tests' MCP client: the official MCP Python SDK from PyPI, in a
# virtual environment of its own (tests/integration/agents.rs uses it).
./scripts/mcp-client-python.sh >/dev/null
# Lints first: clippy.toml makes a dashmap guard held across an .await an
# error (an invariant in ARCHITECTURE.md).
cargo clippy --locked --all-targets --features fuzzing -- -D warnings
# bootstrap.sh installed bubblewrap: every test runs the local sandbox in
# namespaces, and those that need them fail (not skip) if they do not work.
export AZURE_SANDBOX_EXPECT_NAMESPACES=1
cargo test --locked --all-targets --features fuzzing
# Process isolation (no bubblewrap, or --isolation process) is still what
# many machines get: the sandbox's own suites once more, forced to it.
AZURE_SANDBOX_LOCAL_ISOLATION=process cargo test --locked --features fuzzing \
    --test integration --test reliability -- sandbox_environments:: trust:: misbehaving_code:: faults::
# The release binary (built once there), the wheel made from it and installed
# as a user installs it, and `cargo package`.
./scripts/packaging-tests.sh
# The VS Code extension bundles that same release binary.
export AZURE_SANDBOX_RELEASE_BIN="$(realpath -m "${CARGO_TARGET_DIR:-target}")/release/azure-sandbox-lsp"
./scripts/editor-tests.sh
