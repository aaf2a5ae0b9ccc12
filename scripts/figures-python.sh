#!/usr/bin/env bash
# Prints the path of a Python interpreter that has matplotlib, pandas and
# Pillow (as the Azure pool's PythonLTS image has), creating it on first use
# (test-venv.sh). The figure tests pass it to the local sandbox (--python,
# AZURE_SANDBOX_PYTHON, the azureSandbox.localPython setting).
exec "$(dirname "$0")/test-venv.sh" figures-venv 'matplotlib, pandas, PIL' \
    'matplotlib>=3.8,<4' 'pandas>=2,<4' 'pillow>=10'
