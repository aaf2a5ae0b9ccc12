//! The product against real processes: the language server over its real
//! framing, the command line as a child process, the engine and the MCP
//! client against the local sandbox on 127.0.0.1, the local sandbox's
//! protocol and environments, and the Azure setup against local stand-ins.

#[path = "../common/mod.rs"]
mod common;

mod agents;
mod azure_setup;
mod cli;
mod cpython;
mod engine;
mod figures;
mod https;
mod lsp;
mod mcp_client;
mod mirror;
mod namespaces;
mod run_finished;
mod sandbox_environments;
mod sandbox_protocol;
mod trust;
mod variables;
