#!/usr/bin/env bash
# Packaging: builds the release binary once, makes the Python wheel from that
# build with maturin (pinned, in a virtualenv under target/), installs the
# wheel into a fresh virtualenv and runs the installed command with nothing
# else on PATH, then checks that the crate packages (`cargo package`, with its
# verification build). Prints `packaging: N passed, M failed`.
#   ./scripts/packaging-tests.sh
# The release binary stays at target/release/azure-sandbox-lsp (under
# CARGO_TARGET_DIR when that is set), where scripts/test.sh hands it to the
# editor tests, and the wheel at target/wheels/.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
set +e

maturin_version=1.16.0
target_dir="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
tools="$PWD/target/packaging-tools"
wheels="$target_dir/wheels"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "packaging: ok: $*"; }
fail() { failed=$((failed + 1)); echo "packaging: FAILED: $*" >&2; }
finish() {
    echo "packaging: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

# 1. The release binary, once: the wheel and the VS Code extension carry it.
if cargo build --locked --release; then
    pass "cargo build --locked --release"
else
    fail "cargo build --locked --release"
    finish
fi
release_bin="$target_dir/release/azure-sandbox-lsp"

# 2. The wheel, from that build: maturin runs cargo with the same profile and
# target directory, so nothing is compiled again.
if [ "$("$tools/bin/maturin" --version 2>/dev/null)" != "maturin $maturin_version" ]; then
    rm -rf "$tools"
    python3 -m venv "$tools" &&
        "$tools/bin/pip" install --quiet --disable-pip-version-check "maturin==$maturin_version"
fi
rm -f "$wheels"/azure_sandbox_lsp-*.whl
# manylinux_2_34: the binary links glibc's symbols as this Debian 12 build
# machine's glibc 2.36 names them, which need glibc 2.34 or newer (see
# BENCHMARKS.md's "Release build size"); maturin checks the binary against it.
"$tools/bin/maturin" build --release --locked --compatibility manylinux_2_34 --out "$wheels" \
    >"$scratch/maturin.log" 2>&1
status=$?
wheel="$(ls "$wheels"/azure_sandbox_lsp-"$version"-py3-none-manylinux_2_34_x86_64.whl 2>/dev/null)"
recompiled="$(grep -E '^ *Compiling ' "$scratch/maturin.log")"
if [ "$status" -ne 0 ] || [ -z "$wheel" ]; then
    cat "$scratch/maturin.log" >&2
    fail "maturin build (status $status; wheels: $(ls "$wheels" 2>/dev/null | tr '\n' ' '))"
    finish
elif [ -n "$recompiled" ]; then
    fail "maturin compiled again what cargo build had built: $recompiled"
else
    pass "wheel $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB), from the release build"
fi
unzip_bin="azure_sandbox_lsp-$version.data/scripts/azure-sandbox-lsp"
if python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
    "$wheel" "$unzip_bin" >"$scratch/wheel-bin" && cmp -s "$scratch/wheel-bin" "$release_bin"; then
    pass "the wheel's binary is target/release/azure-sandbox-lsp, byte for byte ($(du -k "$release_bin" | cut -f1) KiB, stripped)"
else
    fail "the wheel's $unzip_bin differs from $release_bin"
fi

# 3. Installed as a user installs it: a fresh virtualenv, and a PATH that holds
# only its bin and /usr/bin, so no other copy of the binary can answer.
python3 -m venv "$scratch/venv" &&
    "$scratch/venv/bin/pip" install --quiet --disable-pip-version-check --no-index "$wheel"
# No variable of this shell either (an endpoint in AZURE_SANDBOX_MCP_ENDPOINT
# would send the run elsewhere), and a HOME of its own.
mkdir -p "$scratch/home"
clean() { env -i HOME="$scratch/home" LANG=C.UTF-8 PATH="$scratch/venv/bin:/usr/bin" "$@"; }
found="$(clean sh -c 'command -v azure-sandbox-lsp')"
if [ "$found" = "$scratch/venv/bin/azure-sandbox-lsp" ]; then
    pass "pip install puts azure-sandbox-lsp on PATH ($found)"
else
    fail "azure-sandbox-lsp resolves to '$found', not into the virtualenv"
fi
got="$(clean azure-sandbox-lsp --version 2>&1)"
if [ "$got" = "azure-sandbox-lsp $version" ]; then
    pass "azure-sandbox-lsp --version: $got"
else
    fail "azure-sandbox-lsp --version printed '$got', want 'azure-sandbox-lsp $version'"
fi
out="$(clean azure-sandbox-lsp run examples/analysis.py 2>&1)"
if grep -q "7 readings" <<<"$out"; then
    pass "the installed azure-sandbox-lsp runs examples/analysis.py (7 readings)"
else
    fail "azure-sandbox-lsp run examples/analysis.py did not print '7 readings':"
    echo "$out" >&2
fi

# 4. The crate: what Cargo.toml's include ships must build on its own. The
# files as they are, committed or not (--allow-dirty), so that the tests test
# a working tree; publishing (`cargo publish`) still refuses uncommitted ones.
if cargo package --locked --allow-dirty >"$scratch/package.log" 2>&1; then
    pass "cargo package --locked, verified: $(grep -o 'Packaged .*' "$scratch/package.log")"
else
    cat "$scratch/package.log" >&2
    fail "cargo package --locked"
fi
finish
