#!/usr/bin/env bash
# Runs the Neovim plugin's headless test in every Neovim given in NVIMS
# (space-separated paths), against the server in AZURE_SANDBOX_LSP_BIN.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${AZURE_SANDBOX_LSP_BIN:?set AZURE_SANDBOX_LSP_BIN to the server binary}"
: "${NVIMS:?set NVIMS to the nvim binaries to test}"
passed=0 failed=0
for nvim in $NVIMS; do
    work="$(mktemp -d)"
    mkdir -p "$work/project/.git"
    cp "$here/fixture.py" "$work/project/main.py"
    (
        cd "$work/project" &&
        AZURE_SANDBOX_CACHE_DIR="$work/cache" XDG_STATE_HOME="$work/state" XDG_DATA_HOME="$work/data" \
            timeout 120 "$nvim" --headless -u "$here/minimal_init.lua" main.py -c "luafile $here/test_run.lua"
    )
    if [ $? -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED with $nvim" >&2; fi
    rm -rf "$work"
done
echo "neovim: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
