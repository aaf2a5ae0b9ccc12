#!/usr/bin/env bash
# Prints the path of code-server 4.100.3 (VS Code 1.100.3, the newest that
# runs on Node 20), installing it from npm into the cache directory if needed.
# Needs: node 20, npm, build tools, libkrb5-dev, pkg-config, ripgrep.
set -euo pipefail
cache="${AZURE_SANDBOX_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/azure-sandbox-lsp/editor-tools}"
dest="$cache/code-server-4.100.3"
bin="$dest/node_modules/.bin/code-server"
if [ -x "$bin" ] && [ -f "$dest/.installed" ]; then
    echo "$bin"
    exit 0
fi
rm -rf "$dest" && mkdir -p "$dest/tmp"
cd "$dest"
npm init -y >/dev/null
# @vscode/ripgrep's postinstall downloads rg from GitHub, which is not
# reachable here: seed its download cache with Debian's rg instead.
rg_cache="$dest/tmp/vscode-ripgrep-cache-1.15.11"
mkdir -p "$rg_cache/x" && cp "$(command -v rg)" "$rg_cache/x/rg"
tar -czf "$rg_cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$rg_cache/x" rg
echo "get-code-server: installing code-server 4.100.3 (about a minute, once per machine)" >&2
# unsafe_perm: its postinstall refuses root otherwise; yes: node-pty runs
# `npx node-gyp`; nodedir: build native modules against Debian's node headers.
TMPDIR="$dest/tmp" npm_config_unsafe_perm=true npm_config_yes=true npm_config_nodedir=/usr \
    npm install --no-audit --no-fund --loglevel=error code-server@4.100.3 >&2
"$bin" --config "$dest/config.yaml" --version >&2
touch "$dest/.installed"
echo "$bin"
