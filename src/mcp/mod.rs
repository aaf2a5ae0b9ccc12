//! Talking to a sandbox endpoint (Azure's or the local one) over MCP.
//!
//! API boundary: [`McpClient`] with typed calls (`launch`, `run_python`,
//! `run_shell`) and [`McpError`]. Nothing here knows about documents, cells
//! or editors.

pub(crate) mod client;
pub(crate) mod endpoint;
pub(crate) mod error;
pub(crate) mod jsonrpc;
pub(crate) mod sse;
pub(crate) mod tools;

pub use client::{ClientOptions, KeyRefresher, McpClient, ServerInfo};
pub use endpoint::Endpoint;
pub use error::McpError;
pub use tools::{EnvironmentId, ImageBlock, PythonOutput, ShellCommand, ShellOutput};
