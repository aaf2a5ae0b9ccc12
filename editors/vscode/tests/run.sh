#!/usr/bin/env bash
# Real VS Code (code-server 4.100.3) with the packaged extension, driven by
# playwright-core in Debian's chromium, against the server in
# AZURE_SANDBOX_LSP_BIN. Screenshots go to $ARTEFACTS (default
# test-artifacts/vscode).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
: "${AZURE_SANDBOX_LSP_BIN:?set AZURE_SANDBOX_LSP_BIN to the server binary}"
vsix="${VSIX:-$here/../azure-sandbox.vsix}"
artefacts="${ARTEFACTS:-$repo/test-artifacts/vscode}"
cache="${AZURE_SANDBOX_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/azure-sandbox-lsp/editor-tools}"
code_server="$("$here/get-code-server.sh")"
# playwright-core (no browser download: Debian's chromium is used).
if [ ! -d "$cache/playwright/node_modules/playwright-core" ]; then
    mkdir -p "$cache/playwright"
    (cd "$cache/playwright" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error playwright-core@1.65.1 >&2)
fi

profile="$(mktemp -d)"
mkdir -p "$profile/data/User" "$profile/workspace/.git" "$profile/cache"
cp "$here/../../neovim/tests/fixture.py" "$profile/workspace/main.py"
cat >"$profile/data/User/settings.json" <<JSON
{
  "workbench.startupEditor": "none",
  "security.workspace.trust.enabled": false,
  "telemetry.telemetryLevel": "off",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "editor.hover.delay": 100,
  "azureSandbox.server.path": "$AZURE_SANDBOX_LSP_BIN",
  "azureSandbox.backend": "local"
}
JSON
cs=("$code_server" --config "$profile/config.yaml" --user-data-dir "$profile/data" --extensions-dir "$profile/extensions")
"${cs[@]}" --install-extension "$vsix" --force >&2
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
AZURE_SANDBOX_CACHE_DIR="$profile/cache" setsid "${cs[@]}" --auth none --bind-addr "127.0.0.1:$port" \
    --disable-telemetry --disable-update-check --disable-workspace-trust --disable-getting-started-override \
    "$profile/workspace" >"$profile/server.log" 2>&1 &
server=$!
# code-server leaves a file watcher behind unless its whole group goes.
trap 'kill -- -$server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$profile"' EXIT
for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break
    sleep 0.2
done
NODE_PATH="$cache/playwright/node_modules" timeout 600 node "$here/e2e.js" \
    "http://127.0.0.1:$port/?folder=$profile/workspace" "$artefacts" "$profile/data/User/settings.json"
