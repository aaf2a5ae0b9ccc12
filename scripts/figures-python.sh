#!/usr/bin/env bash
# Prints the path of a Python interpreter that has matplotlib, pandas and
# Pillow (as the Azure pool's PythonLTS image has), creating it on first use:
# a virtual environment under the target directory, from the package
# registry. The figure tests pass it to the local sandbox (--python,
# AZURE_SANDBOX_PYTHON, the azureSandbox.localPython setting).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(realpath -m "${CARGO_TARGET_DIR:-target}")/figures-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import matplotlib, pandas, PIL' >/dev/null 2>&1; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        'matplotlib>=3.8,<4' 'pandas>=2,<4' 'pillow>=10' >&2
fi
echo "$venv/bin/python"
