#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine, and
# nothing that is already there. Sourced by demo.sh and test.sh.
set -euo pipefail

missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v curl >/dev/null 2>&1 || missing+=(curl)            # the tutorials' commands, in the tests
command -v jq >/dev/null 2>&1 || missing+=(jq)                # likewise
command -v cc >/dev/null 2>&1 || missing+=(build-essential)   # rustls' crypto provider builds C
[ -e /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)  # https:// to Azure
# Virtualenvs: maturin for the wheel, the wheel's install test, the benchmark's
# Jupyter kernel and Neovim 0.11 (all from PyPI).
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# The local sandbox's namespaces; the tests that need them fail without it.
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
if [ "${AZURE_SANDBOX_EDITOR_TOOLS:-0}" = 1 ]; then
    # Real editors for the editor-client tests.
    command -v nvim >/dev/null 2>&1 || missing+=(neovim)      # Neovim 0.7.2 (Debian's)
    command -v tmux >/dev/null 2>&1 || missing+=(tmux)        # drives TUI editors
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)  # VS Code's workbench, driven by playwright
    command -v rg >/dev/null 2>&1 || missing+=(ripgrep)       # code-server's search, seeded offline
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    [ -e /usr/include/gssapi/gssapi.h ] || missing+=(libkrb5-dev)  # code-server's kerberos module
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)   # Node 20 itself: see editor-tests.sh
fi

if [ "${#missing[@]}" -gt 0 ]; then
    echo "bootstrap: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        echo "bootstrap: Rust is not installed. Install rustup (https://rustup.rs); rust-toolchain.toml pins the version." >&2
        exit 1
    fi
fi
