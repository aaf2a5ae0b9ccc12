#!/usr/bin/env bash
# Prints the path of a Python interpreter that has the official MCP Python
# SDK (PyPI `mcp`), creating it on first use (test-venv.sh). The agents'
# tests (tests/agents/) use it as a real MCP client of `azure-sandbox-lsp mcp`
# over stdio.
exec "$(dirname "$0")/test-venv.sh" mcp-client-venv 'mcp, jsonschema' 'mcp>=1.20,<3' 'jsonschema>=4'
