#!/usr/bin/env bash
# Fuzzes the crate's pure parsers, one target after another (see fuzz/ and
# src/fuzzing.rs; tests/fuzz_corpora.rs replays the committed corpora on
# stable as part of `cargo test`).
#   ./scripts/fuzz.sh                    every target, 300 s each
#   ./scripts/fuzz.sh 60                 every target, 60 s each
#   ./scripts/fuzz.sh 60 cells positions only these targets
#   ./scripts/fuzz.sh --merge 600        also merge what was found into
#                                        fuzz/corpus/<target> (only inputs
#                                        that reach new edges), to review
#                                        and commit a selection of
# Needs the nightly toolchain (rust-toolchain.toml pins a stable one, so
# nightly is named explicitly) and cargo-fuzz (installed if missing). The
# targets are built once (`cargo fuzz build`, into fuzz/target) and then run
# directly, so an edit made while fuzzing does not rebuild in the middle.
# New inputs go to a scratch corpus under fuzz/target, never into the
# committed corpus unless --merge is given. fuzz/dict/<target>.dict, where
# there is one, gives libFuzzer the target's tokens (JSON keys, markers).
# A crashing input lands in fuzz/artifacts/<target>/; replay it with
#   fuzz/target/<host>/release/<target> fuzz/artifacts/<target>/crash-...
# Prints one line per target; exits non-zero if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

merge=0
if [ "${1:-}" = "--merge" ]; then
    merge=1
    shift
fi
seconds="${1:-300}"
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(run_outcome mcp_reply positions cells)

export RUSTUP_TOOLCHAIN=nightly
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz: the nightly toolchain is missing: rustup toolchain install nightly --profile minimal" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

# Longest input per target: enough for a document with a few edits, or a
# reply of a few dozen lines; longer inputs only slow the search down.
max_len() {
    case "$1" in
        positions) echo 2048 ;;
        *) echo 4096 ;;
    esac
}

host=$(rustc -vV | sed -n 's/^host: //p')
cargo fuzz build --target "$host"
bin=fuzz/target/$host/release

scratch_root=fuzz/target/scratch-corpus
logs=fuzz/target/fuzz-logs
mkdir -p "$logs"
failed=()
summary=()
for target in "${targets[@]}"; do
    scratch="$scratch_root/$target"
    rm -rf "$scratch"
    mkdir -p "$scratch" "fuzz/artifacts/$target"
    log="$logs/$target.log"
    before=$(find "fuzz/artifacts/$target" -type f | wc -l)
    echo "fuzz: $target for ${seconds}s (log: $log)" >&2
    status=0
    started=$SECONDS
    dict=()
    [ -f "fuzz/dict/$target.dict" ] && dict=(-dict="fuzz/dict/$target.dict")
    # The first corpus directory receives new inputs; the committed one is
    # only read.
    "$bin/$target" -artifact_prefix="fuzz/artifacts/$target/" \
        -max_total_time="$seconds" -max_len="$(max_len "$target")" -timeout=10 \
        -print_final_stats=1 "${dict[@]}" "$scratch" "fuzz/corpus/$target" >"$log" 2>&1 || status=$?
    after=$(find "fuzz/artifacts/$target" -type f | wc -l)
    crashes=$((after - before))
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' <<<"$last" | tr -d '#' || true)
    cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
    ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
    time=$((SECONDS - started))
    new=$(find "$scratch" -type f | wc -l)
    line="$target: ${execs:-?} executions in ${time} s, cov ${cov:-?}, ft ${ft:-?}, $new new inputs, $crashes crashes"
    if [ "$status" -ne 0 ]; then
        line="$line (exit $status; see $log)"
        failed+=("$target")
        grep -E 'Test unit written to|panicked at' -A2 "$log" | sed 's/^/    /' >&2 || true
    elif [ "$merge" = 1 ]; then
        # Only inputs that reach an edge the corpus does not (counters off,
        # so not every input that merely hits an edge more often). After a
        # long run that can still be a hundred files or more: commit a
        # selection, the corpus is meant to stay a few dozen small files.
        "$bin/$target" -merge=1 -use_counters=0 -max_len="$(max_len "$target")" \
            "fuzz/corpus/$target" "$scratch" >"$logs/$target.merge.log" 2>&1
        line="$line, corpus now $(find "fuzz/corpus/$target" -type f | wc -l) files"
    fi
    summary+=("$line")
    echo "$line"
done

echo
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]}" >&2
    exit 1
fi
