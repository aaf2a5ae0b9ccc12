//! What the subcommands share: the choice of sandbox and the exit statuses.

use clap::Args;

/// Which sandbox a command uses: `--local`, or an endpoint, or a pool (the
/// options `run` and `doctor` share).
#[derive(Debug, Args)]
pub struct SandboxChoice {
    /// Use the embedded local sandbox, whatever endpoint or pool is configured.
    #[arg(long)]
    pub local: bool,
    /// The MCP endpoint of the session pool.
    #[arg(long, env = "AZURE_SANDBOX_MCP_ENDPOINT", hide_env_values = true)]
    endpoint: Option<String>,
    /// A session pool to take the endpoint and key from, when no endpoint is
    /// given: its resource id, or <subscription>/<resource group>/<name>.
    #[arg(long, env = "AZURE_SANDBOX_POOL", hide_env_values = true)]
    pool: Option<String>,
}

impl SandboxChoice {
    /// The endpoint, if one is given and not blank.
    pub fn endpoint(&self) -> Option<String> {
        self.endpoint.clone().filter(|e| !e.trim().is_empty())
    }

    /// The pool, if one is given and not blank.
    pub fn pool(&self) -> Option<String> {
        self.pool.clone().filter(|p| !p.trim().is_empty())
    }
}

/// Exit statuses of the command line.
pub mod exit {
    /// The code ran and did not raise.
    pub const OK: i32 = 0;
    /// The code raised, or the sandbox stopped it (time limit, killed process).
    pub const CODE_FAILED: i32 = 1;
    /// Bad arguments, or a file that cannot be read.
    pub const USAGE: i32 = 2;
    /// The sandbox could not be reached or refused the request.
    pub const SANDBOX: i32 = 3;
}
