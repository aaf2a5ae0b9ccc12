//! Reliability: faults injected between the real language server and the
//! local sandbox, load, malformed input storms and misbehaving user code
//! (see RELIABILITY.md). The suites that load the whole machine run alone
//! ([`common::alone`]); the misbehaving-code tests run beside each other.

#[path = "../common/mod.rs"]
mod common;

mod bad_input_http;
mod bad_input_lsp;
mod faults;
mod load;
mod misbehaving_code;
