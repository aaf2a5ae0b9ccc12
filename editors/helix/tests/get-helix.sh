#!/usr/bin/env bash
# Prints the path of a Helix (hx) binary, building it if needed. Helix is not
# packaged for Debian bookworm, and trixie's binary needs a newer glibc, so
# this builds trixie's *source* package (25.01.1) with cargo. The apt state
# is private: the system's sources are only read, never changed. The build
# is cached under the cache directory, so it happens once per machine.
# Usage: get-helix.sh  ->  prints "<hx path> <runtime dir>"
set -euo pipefail
cache="${AZURE_SANDBOX_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/azure-sandbox-lsp/editor-tools}"
dir="$cache/helix"
if [ -x "$dir/hx" ] && [ -d "$dir/runtime" ]; then
    echo "$dir/hx $dir/runtime"
    exit 0
fi
if command -v hx >/dev/null 2>&1 && hx --version 2>/dev/null | grep -q "helix"; then
    runtime="${HELIX_RUNTIME:-}"
    if [ -n "$runtime" ]; then echo "$(command -v hx) $runtime"; exit 0; fi
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/parts" "$work/lists/partial" "$work/cache/archives/partial"
sources=/etc/apt/sources.list.d/debian.sources
if [ -f "$sources" ]; then
    # The first stanza of the system's sources, as trixie deb-src.
    awk 'BEGIN{RS="";ORS="\n\n"} NR==1' "$sources" \
        | sed -e 's/^Types: .*/Types: deb-src/' -e 's/^Suites: .*/Suites: trixie/' >"$work/parts/trixie-src.sources"
else
    mirror="$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)"
    printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" \
        >"$work/parts/trixie-src.sources"
fi
apt_options=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$work/parts"
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache")
echo "get-helix: fetching Debian's hx source package" >&2
apt-get "${apt_options[@]}" update -qq >&2
(cd "$work" && apt-get "${apt_options[@]}" source --download-only hx >&2 2>&1) || true
(cd "$work" && tar xzf hx_*.orig.tar.gz)
source_dir="$(find "$work" -maxdepth 1 -type d -name 'helix-*' | head -1)"
[ -n "$source_dir" ] || { echo "get-helix: no Helix source was downloaded" >&2; exit 1; }
echo "get-helix: building Helix (a few minutes, once per machine)" >&2
# The source pins an old toolchain through rust-toolchain.toml that cannot be
# fetched here: build with the installed one. Grammars are fetched with git
# from the network, which is not needed for LSP tests.
(cd "$source_dir" && rm -f rust-toolchain.toml && RUSTUP_TOOLCHAIN="${HELIX_RUST_TOOLCHAIN:-1.95.0}" \
    HELIX_DISABLE_AUTO_GRAMMAR_BUILD=1 CARGO_PROFILE_RELEASE_LTO=false \
    cargo build --locked --release -p helix-term >&2)
mkdir -p "$dir"
cp "$source_dir/target/release/hx" "$dir/hx.tmp" && mv "$dir/hx.tmp" "$dir/hx"
rm -rf "$dir/runtime" && cp -r "$source_dir/runtime" "$dir/runtime"
echo "$dir/hx $dir/runtime"
