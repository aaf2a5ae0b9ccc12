//! Fuzz target `mcp_reply`: the checks live in `azure_sandbox_lsp::fuzzing::mcp_reply`,
//! which `tests/fuzz_corpora.rs` also replays on `fuzz/corpus/mcp_reply`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| azure_sandbox_lsp::fuzzing::mcp_reply(data));
