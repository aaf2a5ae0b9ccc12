//! `azure-sandbox-lsp mcp`: the MCP server for agents, over stdio.

use std::path::PathBuf;

use super::options::{SandboxChoice, exit};
use crate::workbench::{BackendChoice, Settings};

#[derive(Debug, clap::Args)]
#[command(
    about = "Serve MCP over stdio for agents (Copilot, Claude Code, Codex): run code in the workspace's environment",
    long_about = "Serve the Model Context Protocol over stdio, for agents: tools to run Python and shell commands, \
                  install packages, list variables, send and fetch workspace files and restart the environment, \
                  all in the same sandbox environment as the editor and `run` use for the workspace (against the \
                  same endpoint), so each sees what the other defined. What the agent runs shows in the editor's \
                  output document, marked as the agent's.\n\n\
                  The endpoint and key are found as the editor finds them: AZURE_SANDBOX_POOL (read with the Azure \
                  CLI's sign-in), or AZURE_SANDBOX_MCP_ENDPOINT and AZURE_SANDBOX_API_KEY in the environment \
                  (never in a file); with neither, the embedded local sandbox, whose environments live only as \
                  long as this process. The workspace is --workspace, else the client's first root, else the \
                  workspace of the current directory (the nearest directory with .git). stdout carries the \
                  protocol; logs go to stderr (AZURE_SANDBOX_LOG)."
)]
pub struct McpArgs {
    /// The workspace directory (default: the client's first root, else the current directory's workspace).
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
    #[command(flatten)]
    sandbox: SandboxChoice,
    /// The embedded local sandbox's Python interpreter (default: python3 on PATH).
    #[arg(long, value_name = "PATH", env = "AZURE_SANDBOX_PYTHON")]
    python: Option<PathBuf>,
    /// Seconds to wait for one run (default 230: just above the service's 220 s cap).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// Allow plain http:// to a non-loopback endpoint (the key travels in clear text).
    #[arg(long)]
    allow_insecure_http: bool,
}

pub async fn mcp(args: McpArgs) -> i32 {
    if let Some(dir) = args.workspace.as_ref().filter(|dir| !dir.is_dir()) {
        eprintln!("azure-sandbox-lsp: --workspace {}: not a directory", dir.display());
        return exit::USAGE;
    }
    if args.timeout.is_some_and(|t| !t.is_finite() || t <= 0.0) {
        eprintln!("azure-sandbox-lsp: --timeout: give a positive number of seconds");
        return exit::USAGE;
    }
    // The key stays in the environment: Settings falls back to
    // AZURE_SANDBOX_API_KEY as the language server's does.
    let settings = Settings {
        endpoint: args.sandbox.endpoint(),
        pool: args.sandbox.pool(),
        backend: if args.sandbox.local { BackendChoice::Local } else { BackendChoice::Auto },
        run_timeout: args.timeout,
        allow_insecure_http: args.allow_insecure_http,
        local_python: args.python.map(|p| p.to_string_lossy().into_owned()).filter(|p| !p.is_empty()),
        ..Settings::default()
    };
    let options = crate::mcp_server::Options { workspace: args.workspace, settings };
    match crate::mcp_server::serve(options).await {
        Ok(()) => exit::OK,
        Err(why) => {
            eprintln!("azure-sandbox-lsp: {why}");
            exit::SANDBOX
        }
    }
}
