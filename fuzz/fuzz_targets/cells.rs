//! Fuzz target `cells`: the checks live in `azure_sandbox_lsp::fuzzing::cells`,
//! which `tests/fuzz_corpora.rs` also replays on `fuzz/corpus/cells`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| azure_sandbox_lsp::fuzzing::cells(data));
