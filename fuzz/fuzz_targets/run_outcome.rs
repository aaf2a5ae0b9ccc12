//! Fuzz target `run_outcome`: the checks live in `azure_sandbox_lsp::fuzzing::run_outcome`,
//! which `tests/fuzz_corpora.rs` also replays on `fuzz/corpus/run_outcome`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| azure_sandbox_lsp::fuzzing::run_outcome(data));
