//! `azure-sandbox-lsp mcp`: an MCP server over stdio for agents (Copilot,
//! Claude Code, Codex, editor agent plugins), working in the same sandbox
//! environment as the user's editor and `run` for the workspace.
//!
//! A front end over the workbench, as the language server is: each tool
//! call becomes a workbench job (or a query), and the job's typed end
//! becomes a tool result. Sharing the environment needs nothing here: the
//! workbench's registry maps (endpoint, workspace) to one environment for
//! every process. What this process runs is published as the agent's (the
//! workbench's shared logs), so the editor shows it.
//!
//! The protocol is the official Rust SDK's (`rmcp`); stdout carries it,
//! logs go to stderr.

mod results;
mod tools;
mod waiters;
mod workspace;

use std::path::PathBuf;
use std::sync::Arc;

use rmcp::ServiceExt;

use crate::workbench::{Settings, Source, Workbench};

pub use workspace::WorkspaceChoice;

/// What `serve` needs from the command line.
pub struct Options {
    /// `--workspace`: else the client's roots, else the current directory's.
    pub workspace: Option<PathBuf>,
    /// Where runs go (endpoint, pool, local sandbox, interpreter, timeout).
    pub settings: Settings,
}

/// Serves MCP on stdin and stdout until the client closes them.
pub async fn serve(options: Options) -> Result<(), String> {
    // No transcript file: the editor's process owns the workspace's file;
    // this one shares its entries through the shared log instead.
    let (bench, events) = Workbench::new(None);
    bench.set_settings(options.settings).await;
    bench.publish_as(Source::Agent);
    let waiters = Arc::new(waiters::Waiters::default());
    tokio::spawn(waiters::dispatch(events, Arc::clone(&waiters)));
    let workspace = WorkspaceChoice::new(options.workspace);
    let server = tools::SandboxTools::new(Arc::clone(&bench), waiters, workspace);
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("the MCP client did not initialize the session: {e}"))?;
    let ended = running.waiting().await;
    bench.shutdown().await;
    ended.map(|_| ()).map_err(|e| format!("the MCP session ended with an error: {e}"))
}
