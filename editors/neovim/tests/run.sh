#!/usr/bin/env bash
# Runs the Neovim plugin's headless test in every Neovim given in NVIMS
# (space-separated paths), against the server in AZURE_SANDBOX_LSP_BIN. The
# figures and variables tests run their plots and DataFrames with the
# interpreter in AZURE_SANDBOX_FIGURES_PYTHON (one with matplotlib and
# pandas), or else the one scripts/figures-python.sh makes. The mirror test
# runs in a workspace of its own.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${AZURE_SANDBOX_LSP_BIN:?set AZURE_SANDBOX_LSP_BIN to the server binary}"
: "${NVIMS:?set NVIMS to the nvim binaries to test}"
if [ -z "${AZURE_SANDBOX_FIGURES_PYTHON:-}" ]; then
    AZURE_SANDBOX_FIGURES_PYTHON="$("$here/../../../scripts/figures-python.sh")" ||
        { echo "neovim: no Python with matplotlib (scripts/figures-python.sh failed)" >&2; exit 1; }
fi
export AZURE_SANDBOX_FIGURES_PYTHON
passed=0 failed=0
for nvim in $NVIMS; do
    nvim="$(command -v "$nvim" || true)"; nvim="$(realpath "${nvim:-/nonexistent}" 2>/dev/null || echo "$nvim")"
    work="$(mktemp -d)"
    mkdir -p "$work/project/.git"
    cp "$here/fixture.py" "$work/project/main.py"
    cp "$here/plot.py" "$work/project/plot.py"
    cp "$here/vars.py" "$work/project/vars.py"
    # The mirror test's workspace: a script that imports helpers.py, reads
    # data/sales.csv and writes out.csv; a secret (.env), a file git ignores
    # (extra/notes.txt) and one the test's mirror_exclude leaves out
    # (scratch.py), none of which a run sends; report.py reads the ignored
    # extra/rates.csv.
    mkdir -p "$work/mirror/.git" "$work/mirror/extra"
    cp -r "$here/mirror/." "$work/mirror/"
    printf 'API_TOKEN=not-for-the-sandbox\n' >"$work/mirror/.env"
    printf 'extra/\n' >"$work/mirror/.gitignore"
    printf 'notes, kept out of runs by .gitignore\n' >"$work/mirror/extra/notes.txt"
    printf 'print("scratch")\n' >"$work/mirror/scratch.py"
    printf '1.1\n' >"$work/mirror/extra/rates.csv"
    printf 'with open("extra/rates.csv") as f:\n    print("rates:", f.read().strip())\n' >"$work/mirror/report.py"
    # init, test[, file to open (main.py)[, directory (project)]]
    tests=("minimal_init.lua test_run.lua" "figures_init.lua test_figures.lua plot.py" "variables_init.lua test_variables.lua vars.py"
        "mirror_init.lua test_mirror.lua analysis.py mirror")
    # vim.lsp.config / vim.lsp.enable exist from Neovim 0.11.
    if "$nvim" --version | head -1 | grep -qE 'v0\.(1[1-9]|[2-9][0-9])|v[1-9]'; then
        tests+=("enable_init.lua test_enable.lua")
    fi
    for test in "${tests[@]}"; do
        set -- $test
        (
            cd "$work/${4:-project}" &&
            AZURE_SANDBOX_CACHE_DIR="$work/cache" XDG_CACHE_HOME="$work/xdg-cache" XDG_STATE_HOME="$work/state" XDG_DATA_HOME="$work/data" \
                timeout 180 "$nvim" --headless -u "$here/$1" "${3:-main.py}" -c "luafile $here/$2"
        )
        if [ $? -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $2 with $nvim" >&2; fi
    done
    rm -rf "$work"
done
echo "neovim: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
