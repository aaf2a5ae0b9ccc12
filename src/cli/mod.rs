//! The command line. `main.rs` only calls [`main`].

mod doctor;
mod files;
mod mcp;
mod options;
mod run;
mod serve_local;

use clap::{Parser, Subcommand};

use options::exit;

#[derive(Debug, Parser)]
#[command(
    name = "azure-sandbox-lsp",
    version,
    about = "Run Python from your editor in an Azure Container Apps dynamic-sessions sandbox, or in a local stand-in",
    long_about = "Run Python from your editor in an Azure Container Apps dynamic-sessions sandbox (through its MCP \
                  endpoint), or in a local stand-in that runs Python on this machine.\n\n\
                  Configuration: AZURE_SANDBOX_POOL names a session pool (its endpoint and key are read with the \
                  Azure CLI's sign-in), or AZURE_SANDBOX_MCP_ENDPOINT and AZURE_SANDBOX_API_KEY give them directly; \
                  with neither, the embedded local sandbox is used. `azure-sandbox-lsp doctor` checks the setup. \
                  AZURE_SANDBOX_LOG sets the log filter (stderr)."
)]
pub struct Cli {
    /// With no subcommand, serve the Language Server Protocol over stdio (as `lsp`).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Accepted without a subcommand too: language clients append it.
    #[arg(long, hide = true, global = true)]
    pub stdio: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the Language Server Protocol over stdio (what editors start; also the default)
    Lsp(LspArgs),
    /// Run a Python file, a range of its lines, or one of its `# %%` cells in the workspace's sandbox environment
    Run(run::RunArgs),
    /// Serve the local sandbox: an MCP endpoint like Azure's that runs Python on this machine
    ServeLocal(serve_local::ServeLocalArgs),
    /// Check the configuration and the sandbox step by step: endpoint, key, launch, run
    Doctor(doctor::DoctorArgs),
    /// Send workspace files to the sandbox environment, fetch files from it, or list them
    Files(files::FilesArgs),
    /// Serve MCP over stdio for agents, in the same environment as the editor and `run`
    Mcp(mcp::McpArgs),
}

#[derive(Debug, clap::Args)]
#[command(
    about = "Serve the Language Server Protocol over stdio (what editors start; also the default)",
    long_about = "Serve the Language Server Protocol over stdio: code lenses and code actions to run Python cells, \
                  selections, lines and files in the workspace's sandbox environment, with errors as diagnostics, \
                  output in hovers, inlay hints and an output document. Settings come from the editor (section \
                  `azureSandbox`) and fall back to AZURE_SANDBOX_POOL, AZURE_SANDBOX_MCP_ENDPOINT and AZURE_SANDBOX_API_KEY. \
                  stdout carries the protocol; logs go to stderr (AZURE_SANDBOX_LOG)."
)]
pub struct LspArgs {}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AZURE_SANDBOX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Editors capture stderr into log files and panels that show escape
    // codes literally, so colour only when a person is watching a terminal.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .try_init();
}

/// Parses the arguments, runs the command, and returns the exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("azure-sandbox-lsp: cannot start the async runtime: {e}");
            return exit::SANDBOX;
        }
    };
    match cli.command {
        None | Some(Command::Lsp(_)) => {
            init_logging("warn");
            runtime.block_on(crate::lsp::serve_stdio());
            // After `exit` the editor may still hold our stdin open, and a
            // read of it sits in the runtime's blocking pool, which a plain
            // drop waits for: the server would never exit.
            runtime.shutdown_background();
            exit::OK
        }
        Some(Command::Run(args)) => {
            init_logging("warn");
            runtime.block_on(run::run(args))
        }
        Some(Command::Doctor(args)) => {
            init_logging("warn");
            runtime.block_on(doctor::doctor(args))
        }
        Some(Command::Files(args)) => {
            init_logging("warn");
            runtime.block_on(files::files(args))
        }
        Some(Command::Mcp(args)) => {
            init_logging("warn");
            let status = runtime.block_on(mcp::mcp(args));
            // As for `lsp`: a read of stdin may still sit in the blocking pool.
            runtime.shutdown_background();
            status
        }
        Some(Command::ServeLocal(args)) => {
            init_logging("info");
            runtime.block_on(serve_local::serve(args))
        }
    }
}
