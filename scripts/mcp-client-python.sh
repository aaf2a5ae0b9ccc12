#!/usr/bin/env bash
# Prints the path of a Python interpreter that has the official MCP Python
# SDK (PyPI `mcp`), creating it on first use: a virtual environment under the
# target directory. The agents' tests (tests/agents/) use it as a real MCP
# client of `azure-sandbox-lsp mcp` over stdio.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(realpath -m "${CARGO_TARGET_DIR:-target}")/mcp-client-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import mcp' >/dev/null 2>&1; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'mcp>=1.20,<3' 'jsonschema>=4' >&2
fi
echo "$venv/bin/python"
