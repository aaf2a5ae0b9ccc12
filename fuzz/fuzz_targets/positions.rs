//! Fuzz target `positions`: the checks live in `azure_sandbox_lsp::fuzzing::positions`,
//! which `tests/fuzz_corpora.rs` also replays on `fuzz/corpus/positions`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| azure_sandbox_lsp::fuzzing::positions(data));
