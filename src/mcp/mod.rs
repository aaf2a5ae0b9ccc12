//! Talking to a sandbox endpoint (Azure's or the local one) over MCP.
//!
//! API boundary: [`McpClient`] with typed calls (`launch`, `run_python`,
//! `run_shell`) and [`McpError`]. Nothing here knows about documents, cells
//! or editors.

pub mod client;
pub mod endpoint;
pub mod error;
pub mod jsonrpc;
pub mod sse;
pub mod tools;

pub use client::{ClientOptions, KeyRefresher, McpClient, ServerInfo};
pub use endpoint::Endpoint;
pub use error::McpError;
pub use tools::{EnvironmentId, PythonOutput, ShellCommand, ShellOutput};
