//! azure-sandbox-lsp: run Python from the editor in an Azure Container Apps
//! dynamic-sessions sandbox, or in the local stand-in, and see results where
//! the code is. See ARCHITECTURE.md for the layers and the path of one run.

// stdout belongs to the protocol (and to `run`'s user output, which writes
// through explicit handles): no stray prints.
#![deny(clippy::print_stdout, clippy::dbg_macro)]

pub mod azure;
pub mod cli;
pub(crate) mod config;
/// Entry points shared by the fuzz targets and the corpus replay test:
/// built only for tests and the `fuzzing` feature.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod lsp;
pub mod mcp;
pub mod mcp_server;
pub mod mirror;
pub mod run;
pub mod sandbox;
pub mod secret;
pub mod text;
pub mod workbench;
