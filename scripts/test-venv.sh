#!/usr/bin/env bash
# test-venv.sh NAME IMPORTS PACKAGE...
# Prints the path of a Python interpreter in target/NAME (a virtual
# environment under the target directory) that can `import IMPORTS`,
# creating it from the package registry on first use, or again when an
# import fails. figures-python.sh and mcp-client-python.sh name theirs.
set -euo pipefail
cd "$(dirname "$0")/.."
name="$1" imports="$2"
shift 2
venv="$(realpath -m "${CARGO_TARGET_DIR:-target}")/$name"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import $imports" >/dev/null 2>&1; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
fi
echo "$venv/bin/python"
