#!/usr/bin/env bash
# Real VS Code (code-server 4.139.1, VS Code 1.139, from get-code-server.sh)
# with the extension's platform package (azure-sandbox-linux-x64.vsix,
# `npm run package:linux-x64`), which carries its own server: no azure-sandbox-lsp on PATH and no azureSandbox.server.path,
# so the bundled server is the one that runs. Driven by playwright-core in
# Debian's chromium. Screenshots go to $ARTEFACTS (default test-artifacts/vscode).
# The local sandbox runs a Python with matplotlib and pandas for the runs
# panel: AZURE_SANDBOX_FIGURES_PYTHON, else scripts/figures-python.sh's,
# passed in the azureSandbox.localPython setting; it also has the DataFrame
# the Sandbox variables view expands (vars.py, with azureSandbox.liveCompletion on).
# The workspace mirror's commands (Send to Sandbox, List Sandbox Files, Fetch
# Files from Sandbox) move files between the test workspace and the sandbox.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
vsix="${VSIX:-$here/../azure-sandbox-linux-x64.vsix}"
artefacts="${ARTEFACTS:-$repo/test-artifacts/vscode}"
[ -f "$vsix" ] || { echo "vscode: no $vsix: run 'npm run package:linux-x64' in editors/vscode" >&2; exit 1; }
cache="${AZURE_SANDBOX_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/azure-sandbox-lsp/editor-tools}"
code_server="$("$here/get-code-server.sh")"
# The tests run on the node code-server runs on (Node 24, the system's or the
# one get-code-server.sh installed): playwright-core needs Node 20 or newer.
node="$(sed -n 's/^node=//p' "$(dirname "$code_server")/.installed")"
# playwright-core (no browser download: Debian's chromium is used).
if [ ! -d "$cache/playwright/node_modules/playwright-core" ]; then
    mkdir -p "$cache/playwright"
    (cd "$cache/playwright" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error playwright-core@1.65.1 >&2)
fi

# How the server is found, and the mismatch warning, outside the editor.
"$node" "$here/server.test.js"
# What the runs panel makes of a run, outside the editor.
"$node" "$here/runs.test.js"
# What the Sandbox variables view makes of the server's answers, outside the editor.
"$node" "$here/variables.test.js"
# What the workspace mirror's commands make of the server's answers, outside the editor.
"$node" "$here/files.test.js"
# The agents' MCP server definitions and the environment each starts with, outside the editor.
"$node" "$here/agents.test.js"
# The package carries an executable server and says which platform it is for.
python3 - "$vsix" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
server = z.getinfo("extension/server/azure-sandbox-lsp")
assert server.external_attr >> 16 & 0o111, "the bundled server is not executable in the package"
assert 'TargetPlatform="linux-x64"' in z.read("extension.vsixmanifest").decode(), "the package has no target platform"
print(f"vscode: {sys.argv[1]} is {__import__('os').path.getsize(sys.argv[1]) / 2**20:.1f} MiB, "
      f"its server {server.file_size / 2**20:.1f} MiB unpacked", file=sys.stderr)
PY
# No azure-sandbox-lsp on code-server's PATH: leave out every directory with one.
clean_path=""
IFS=: read -ra dirs <<<"$PATH"
for dir in "${dirs[@]}"; do
    [ -n "$dir" ] && [ ! -e "$dir/azure-sandbox-lsp" ] && clean_path="${clean_path:+$clean_path:}$dir"
done
if PATH="$clean_path" command -v azure-sandbox-lsp >/dev/null; then
    echo "vscode: azure-sandbox-lsp is still on PATH" >&2; exit 1
fi
version="$("$node" -p 'require(process.argv[1]).version' "$here/../package.json")"
figures_python="${AZURE_SANDBOX_FIGURES_PYTHON:-$("$repo/scripts/figures-python.sh")}"
"$figures_python" -c 'import matplotlib, pandas' || { echo "vscode: $figures_python has no matplotlib or pandas" >&2; exit 1; }

profile="$(mktemp -d)"
mkdir -p "$profile/data/User" "$profile/workspace/.git" "$profile/cache"
cp "$here/../../neovim/tests/fixture.py" "$profile/workspace/main.py"
cp "$here/plot.py" "$profile/workspace/plot.py"
cp "$here/vars.py" "$profile/workspace/vars.py"
# The workspace mirror: extra/ and local-notes.txt are ignored, so only Send
# to Sandbox takes them to the sandbox, where mirror.py reads them; .env looks
# like a secret, which the server never sends; scratch.txt is excluded by a setting.
cp "$here/mirror.py" "$profile/workspace/mirror.py"
printf 'extra/\nlocal-notes.txt\n' >"$profile/workspace/.gitignore"
mkdir -p "$profile/workspace/extra"
printf 'currency,rate\nEUR,1.5\nNOK,0.25\n' >"$profile/workspace/extra/rates.csv"
printf 'doubled\n' >"$profile/workspace/local-notes.txt"
printf 'TOKEN=not-a-real-secret\n' >"$profile/workspace/.env"
# Left out by the azureSandbox.mirrorExclude setting below.
printf 'scratch\n' >"$profile/workspace/scratch.txt"
# AI features stay on (no Copilot is installed): with chat.disableAIFeatures,
# VS Code hides its MCP commands (MCP: List Servers), which the test uses to
# start the extension's contributed server; the chat side bar stays hidden.
cat >"$profile/data/User/settings.json" <<JSON
{
  "workbench.startupEditor": "none",
  "security.workspace.trust.enabled": false,
  "telemetry.telemetryLevel": "off",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "editor.hover.delay": 100,
  "azureSandbox.backend": "local",
  "azureSandbox.liveCompletion": true,
  "azureSandbox.mirrorExclude": ["scratch.txt"],
  "chat.disableAIFeatures": false,
  "workbench.secondarySideBar.defaultVisibility": "hidden"
}
JSON
# Settings of machine scope (azureSandbox.localPython, like server.path and
# endpoint) apply from the machine's settings, the Remote tab of code-server's
# Settings editor: VS Code ignores them in the user settings of a remote window.
mkdir -p "$profile/data/Machine"
cat >"$profile/data/Machine/settings.json" <<JSON
{
  "azureSandbox.localPython": $(python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$figures_python")
}
JSON
cs=("$code_server" --config "$profile/config.yaml" --user-data-dir "$profile/data" --extensions-dir "$profile/extensions")
"${cs[@]}" --install-extension "$vsix" --force >&2
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
PATH="$clean_path" AZURE_SANDBOX_CACHE_DIR="$profile/cache" setsid "${cs[@]}" --auth none --bind-addr "127.0.0.1:$port" \
    --disable-telemetry --disable-update-check --disable-workspace-trust --disable-getting-started-override \
    "$profile/workspace" >"$profile/server.log" 2>&1 &
server=$!
# code-server leaves a file watcher behind unless its whole group goes.
trap 'kill -- -$server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$profile"' EXIT
for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break
    sleep 0.2
done
NODE_PATH="$cache/playwright/node_modules" timeout 600 "$node" "$here/e2e.js" \
    "http://127.0.0.1:$port/?folder=$profile/workspace" "$artefacts" "$profile/data/User/settings.json" \
    "$profile/extensions" "$version"
