//! `azure-sandbox-lsp serve-local`: the local sandbox as a server of its own.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::options::exit;
use crate::config::parse_seconds;
use crate::sandbox::{IsolationMode, Launchers, LocalSandbox, ResponseMode, SandboxConfig, parse_network};
use crate::secret::ApiKey;

#[derive(Debug, Args)]
#[command(
    about = "Serve the local sandbox: an MCP endpoint like Azure's that runs Python on this machine",
    long_about = "Serve the local sandbox: an MCP endpoint that speaks the Azure Container Apps dynamic-sessions \
                  protocol and runs real Python on this machine, one interpreter process per environment.\n\n\
                  Prints MCP_ENDPOINT=<url> and API_KEY=<key> on stdout (the tutorials' variable names) and keeps \
                  serving; export those two in another shell and the tutorials' curl commands work as written.\n\n\
                  With bubblewrap (bwrap) installed, each environment runs in its own Linux namespaces: the system \
                  read-only, its own /mnt/data and /tmp, not your home, not the other environments. Without it, \
                  process isolation only; the start line on stderr says which is in force. Either way it runs on \
                  your own machine, not in the Hyper-V boundary of the real service."
)]
pub struct ServeLocalArgs {
    /// Address to listen on. Anything but loopback exposes code execution to the network.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The key clients must send in x-ms-apikey. A random one when not given.
    #[arg(long, env = "AZURE_SANDBOX_LOCAL_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// The Python interpreter environments run (default: python3 on PATH).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Time limit for one Python run, in seconds (capped at 220, as in Azure).
    #[arg(long, default_value_t = 120.0)]
    python_timeout: f64,
    /// Time limit for one shell command, in seconds (capped at 220).
    #[arg(long, default_value_t = 180.0)]
    shell_timeout: f64,
    /// Characters of stdout and of stderr kept per run; the result says when output was cut.
    /// The default is the service's own (4096); raise it to see more without the bulk channel.
    #[arg(long, default_value_t = crate::sandbox::DEFAULT_OUTPUT_CAP)]
    output_cap: usize,
    /// Seconds an environment may stay idle before it is destroyed (Azure: 300 to 3600).
    #[arg(long, default_value_t = 300.0)]
    cool_down: f64,
    /// Environments that may be allocated at once (Azure's maxConcurrentSessions).
    #[arg(long, default_value_t = 5)]
    max_environments: usize,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    max_request_bytes: usize,
    /// Address-space limit per environment process, in MiB; 0 for none.
    #[arg(long, default_value_t = 4096)]
    memory_limit_mb: u64,
    /// Processes and threads per environment: past it (a fork bomb), all of the environment's processes
    /// are stopped; 0 for none.
    #[arg(long, default_value_t = 512)]
    max_processes: u64,
    /// Answer with Server-Sent Events when the client accepts them (to test SSE clients).
    #[arg(long)]
    sse: bool,
    /// Issue Mcp-Session-Id on initialize and require it afterwards (to test session handling).
    #[arg(long)]
    require_session: bool,
    /// Which launcher names tools/list advertises (Azure's docs have named either): both, shell or python.
    #[arg(long, default_value = "both", value_parser = ["both", "shell", "python"])]
    launchers: String,
    /// Do not keep an interpreter started ahead of time for the next environment.
    #[arg(long)]
    no_spare: bool,
    /// Run every environment as the server's own user even when root.
    #[arg(long)]
    no_user_isolation: bool,
    /// How environments are kept apart: auto (namespaces through bubblewrap when it works here, else
    /// process isolation), namespaces (do not start without them) or process.
    #[arg(long, env = "AZURE_SANDBOX_LOCAL_ISOLATION", default_value = "auto", value_parser = IsolationMode::NAMES)]
    isolation: String,
    /// The environments' network: on (as the service's pools have egress) or off (needs namespaces:
    /// each environment then has only its own loopback).
    #[arg(long, env = "AZURE_SANDBOX_LOCAL_NETWORK", default_value = "on", value_parser = ["on", "off"])]
    network: String,
    /// Seconds a connection may take to send a request's head (and stay idle between requests).
    #[arg(long, default_value_t = 30.0)]
    header_timeout: f64,
}

fn seconds(value: f64, what: &str) -> Result<Duration, String> {
    parse_seconds(&value.to_string()).map_err(|why| format!("--{what}: {why}"))
}

impl ServeLocalArgs {
    fn config(&self) -> Result<SandboxConfig, String> {
        Ok(SandboxConfig {
            host: self.host,
            port: self.port,
            python: self.python.clone(),
            python_timeout: seconds(self.python_timeout, "python-timeout")?,
            shell_timeout: seconds(self.shell_timeout, "shell-timeout")?,
            output_cap: self.output_cap,
            cool_down: seconds(self.cool_down, "cool-down")?,
            max_environments: self.max_environments.max(1),
            max_request_bytes: self.max_request_bytes.max(1024),
            memory_limit_bytes: (self.memory_limit_mb > 0).then_some(self.memory_limit_mb << 20),
            max_processes: (self.max_processes > 0).then_some(self.max_processes),
            response_mode: if self.sse { ResponseMode::Sse } else { ResponseMode::Json },
            require_session: self.require_session,
            launchers: match self.launchers.as_str() {
                "shell" => Launchers::ShellOnly,
                "python" => Launchers::PythonOnly,
                _ => Launchers::Both,
            },
            isolate_users: !self.no_user_isolation,
            spare_interpreter: !self.no_spare,
            isolation: IsolationMode::parse(&self.isolation).map_err(|why| format!("--isolation: {why}"))?,
            network: parse_network(&self.network).map_err(|why| format!("--network: {why}"))?,
            header_timeout: seconds(self.header_timeout, "header-timeout")?,
            ..SandboxConfig::default()
        })
    }
}

pub async fn serve(args: ServeLocalArgs) -> i32 {
    let config = match args.config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("azure-sandbox-lsp: {e}");
            return exit::USAGE;
        }
    };
    let key = match args.api_key.as_deref().map(ApiKey::new) {
        Some(None) => {
            eprintln!("azure-sandbox-lsp: --api-key must not be empty");
            return exit::USAGE;
        }
        Some(key) => key,
        None => None,
    };
    let sandbox = match LocalSandbox::start(config, key).await {
        Ok(sandbox) => sandbox,
        Err(e) => {
            eprintln!("azure-sandbox-lsp: {e}");
            return exit::SANDBOX;
        }
    };
    // These two lines are the interface: the user asked for this key.
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "MCP_ENDPOINT={}", sandbox.endpoint());
    let _ = writeln!(stdout, "API_KEY={}", sandbox.api_key().expose());
    let _ = stdout.flush();
    drop(stdout);
    tracing::info!("local sandbox listening at {} (Ctrl-C to stop)", sandbox.endpoint());
    tracing::info!("isolation: {}", sandbox.isolation().describe());
    sandbox.run_until_signalled().await;
    exit::OK
}
