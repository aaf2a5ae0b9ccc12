#!/usr/bin/env bash
# Every test: installs what the tests need, then runs them all. The Rust
# tests start real local sandbox servers on 127.0.0.1 and real Python
# processes; the editor tests drive real editors against the real server.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
# Lints first: clippy.toml makes a dashmap guard held across an .await an
# error (an invariant in ARCHITECTURE.md).
cargo clippy --locked --all-targets --features fuzzing -- -D warnings
cargo test --locked --all-targets --features fuzzing
./scripts/editor-tests.sh
