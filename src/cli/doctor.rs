//! `azure-sandbox-lsp doctor`: checks, step by step and with timings, that
//! code can run: what is configured and where it came from (never the key),
//! that the endpoint answers, that the key is accepted, and that an
//! environment launches and runs `print(1)`.

use std::io::Write;
use std::time::{Duration, Instant};

use clap::Args;

use super::options::exit;
use crate::azure::{Management, PoolKey, PoolRef};
use crate::config::{ENDPOINT_VAR, KEY_VAR, RemoteConfig};
use crate::mcp::{McpClient, ShellCommand};
use crate::sandbox::{LocalSandbox, SandboxConfig};
use crate::secret::ApiKey;
use crate::workbench::LocalOptions;

#[derive(Debug, Args)]
#[command(
    about = "Check the configuration and the sandbox step by step: endpoint, key, launch, run",
    long_about = "Check, step by step and with timings, that code can run: which endpoint, pool and key are \
                  configured and where each came from (the key itself is never shown), that the endpoint answers, \
                  that the key is accepted, that an environment launches and runs print(1). With a pool, also that \
                  the Azure CLI is signed in and the pool's endpoint and key can be read. Exit status 0 when every \
                  step passed, 1 otherwise."
)]
pub struct DoctorArgs {
    #[command(flatten)]
    sandbox: super::options::SandboxChoice,
    /// The embedded local sandbox's Python interpreter (default: python3 on PATH).
    #[arg(long, value_name = "PATH", env = "AZURE_SANDBOX_PYTHON")]
    python: Option<std::path::PathBuf>,
}

struct Report {
    out: std::io::Stdout,
    failed: bool,
    started: Instant,
}

impl Report {
    fn line(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }

    fn step(&mut self, ok: bool, what: &str, took: Duration, detail: &str) {
        let mark = if ok { " ok " } else { "FAIL" };
        let ms = took.as_secs_f64() * 1000.0;
        let time = if ms < 1000.0 { format!("{ms:.0} ms") } else { format!("{:.1} s", ms / 1000.0) };
        let detail = if detail.is_empty() { String::new() } else { format!(": {detail}") };
        self.line(&format!("[{mark}] {what} ({time}){detail}"));
        self.failed |= !ok;
    }

    /// Runs a step; on failure reports it and returns None.
    async fn check<T, E: std::fmt::Display>(
        &mut self,
        what: &str,
        step: impl std::future::Future<Output = Result<T, E>>,
        describe: impl FnOnce(&T) -> String,
    ) -> Option<T> {
        let started = Instant::now();
        match step.await {
            Ok(value) => {
                let detail = describe(&value);
                self.step(true, what, started.elapsed(), &detail);
                Some(value)
            }
            Err(error) => {
                self.step(false, what, started.elapsed(), &error.to_string());
                None
            }
        }
    }
}

pub async fn doctor(args: DoctorArgs) -> i32 {
    let mut report = Report { out: std::io::stdout(), failed: false, started: Instant::now() };
    let config = RemoteConfig::from_env();
    let (endpoint, pool) = (args.sandbox.endpoint(), args.sandbox.pool());
    report.line("azure-sandbox-lsp doctor");
    let client = if args.sandbox.local || (endpoint.is_none() && pool.is_none()) {
        let why = if args.sandbox.local { "--local" } else { "no endpoint and no pool configured" };
        report.line(&format!("  sandbox: the embedded local sandbox ({why})"));
        report.line("  (runs Python on this machine; set AZURE_SANDBOX_MCP_ENDPOINT or AZURE_SANDBOX_POOL for Azure)");
        let python = args.python.clone().filter(|p| !p.as_os_str().is_empty());
        match &python {
            Some(python) => report.line(&format!("  python: {} (--python or AZURE_SANDBOX_PYTHON)", python.display())),
            None => report.line("  python: python3 on PATH (--python or AZURE_SANDBOX_PYTHON to choose another)"),
        }
        let options = match LocalOptions::from_env(python) {
            Ok(options) => options,
            Err(why) => {
                report.step(false, "read the local sandbox's settings", Duration::ZERO, &why);
                return finish(report);
            }
        };
        let sandbox = SandboxConfig {
            python: options.python,
            isolation: options.isolation,
            network: options.network,
            ..SandboxConfig::default()
        };
        let Some(local) = report
            .check("start the local sandbox", LocalSandbox::start(sandbox, None), |s| {
                format!("listening at {}", s.endpoint())
            })
            .await
        else {
            return finish(report);
        };
        // Which isolation is in force, and how to get the stronger one.
        report.line(&format!("  isolation: {}", local.isolation().describe()));
        let client = McpClient::new(local.endpoint(), Some(local.api_key().clone()), config.client_options());
        match client {
            Ok(client) => steps(&mut report, &client).await,
            Err(e) => report.step(false, "create the client", Duration::ZERO, &e.to_string()),
        }
        local.shutdown().await;
        return finish(report);
    } else if let Some(endpoint) = &endpoint {
        let from_environment = std::env::var(ENDPOINT_VAR).ok().as_deref() == Some(endpoint.as_str());
        let source = if from_environment { ENDPOINT_VAR } else { "--endpoint" };
        report.line(&format!("  endpoint: {} (from {source})", display_endpoint(endpoint)));
        if let Some(pool) = &pool {
            report.line(&format!("  pool: {pool} (not used: an endpoint is set)"));
        }
        // As in the language server: the environment's key goes only to the
        // environment's endpoint.
        let key = config.key.clone().filter(|_| from_environment);
        let key_line = match (&key, &config.key) {
            (Some(_), _) => format!("set (from {KEY_VAR}; not shown)"),
            (None, Some(_)) => format!("not sent: {KEY_VAR} goes only to {ENDPOINT_VAR}"),
            (None, None) => format!("not set ({KEY_VAR})"),
        };
        report.line(&format!("  key: {key_line}"));
        match McpClient::new(endpoint, key, config.client_options()) {
            Ok(client) => client,
            Err(e) => {
                report.step(false, "check the endpoint", Duration::ZERO, &e.to_string());
                return finish(report);
            }
        }
    } else {
        let pool_text = pool.clone().unwrap_or_default();
        let source = if std::env::var(crate::azure::POOL_VAR).ok().as_deref() == Some(pool_text.as_str()) {
            crate::azure::POOL_VAR
        } else {
            "--pool"
        };
        report.line(&format!("  pool: {pool_text} (from {source})"));
        report.line("  key: fetched from the pool with the Azure CLI's sign-in (kept in memory, not shown)");
        let Some(pool) =
            report.check("read the pool reference", async { PoolRef::parse(&pool_text) }, |p| p.resource_id()).await
        else {
            return finish(report);
        };
        let Some(management) = report
            .check("find the Azure CLI", async { Management::from_env() }, |m| {
                format!("management API {}", m.base().display())
            })
            .await
        else {
            return finish(report);
        };
        let Some(token) = report
            .check("get a management token (az account get-access-token)", management.token(), |_| String::new())
            .await
        else {
            return finish(report);
        };
        let Some((endpoint, version)) = report
            .check("read the pool's MCP endpoint", management.endpoint(&pool, &token), |(e, v)| {
                format!("{} (api-version {v})", display_endpoint(e))
            })
            .await
        else {
            return finish(report);
        };
        let Some(key) = report
            .check(
                "fetch the MCP key (fetchMCPServerCredentials)",
                management.key(&pool, &token, version),
                |_: &ApiKey| "received (not shown)".to_owned(),
            )
            .await
        else {
            return finish(report);
        };
        let refresher = std::sync::Arc::new(PoolKey { management, pool, version });
        match McpClient::with_refresher(&endpoint, Some(key), config.client_options(), Some(refresher)) {
            Ok(client) => client,
            Err(e) => {
                report.step(false, "check the endpoint", Duration::ZERO, &e.to_string());
                return finish(report);
            }
        }
    };
    steps(&mut report, &client).await;
    finish(report)
}

/// The checks every backend shares.
async fn steps(report: &mut Report, client: &McpClient) {
    let Some(_) = report
        .check("reach the endpoint (initialize)", client.server_info(), |info| {
            format!("{} {}, protocol {}", info.name, info.version.clone().unwrap_or_default(), info.protocol_version)
        })
        .await
    else {
        return;
    };
    let Some(_) = report.check("key accepted (tools/list)", client.list_tools(), |tools| tools.join(", ")).await else {
        return;
    };
    let Some(environment) =
        report.check("launch an environment", client.launch(), |id| format!("environment {id}")).await
    else {
        return;
    };
    let Some(output) = report
        .check("run print(1)", client.run_python(&environment, "print(1)"), |out| format!("stdout {:?}", out.stdout))
        .await
    else {
        return;
    };
    if output.stdout.trim() != "1" {
        report.step(false, "check the output", Duration::ZERO, &format!("expected \"1\", got {:?}", output.stdout));
        return;
    }
    let _ = report
        .check(
            "run a shell command (echo)",
            client.run_shell(&environment, &ShellCommand::Line("echo ok".into())),
            |out| out.exit_code.map(|c| format!("exit status {c}")).unwrap_or_default(),
        )
        .await;
    // Not a check: figures and tables are optional, but a user who expects
    // plots should learn here why none show.
    let probe =
        "import importlib.util as u\nprint(' '.join(m for m in ('matplotlib', 'pandas', 'PIL') if u.find_spec(m)))";
    if let Ok(output) = client.run_python(&environment, probe).await {
        let found: Vec<&str> = output.stdout.split_whitespace().collect();
        let missing: Vec<&str> = ["matplotlib", "pandas", "PIL"].into_iter().filter(|m| !found.contains(m)).collect();
        if missing.is_empty() {
            report.line("  figures: matplotlib, pandas and Pillow are installed");
        } else {
            report.line(&format!(
                "  figures: {} not installed in the sandbox: plots or tables will not show (locally: --python PATH, \
                 AZURE_SANDBOX_PYTHON or azureSandbox.localPython with an interpreter that has them)",
                missing.join(", ")
            ));
        }
    }
}

fn finish(mut report: Report) -> i32 {
    let total = report.started.elapsed();
    if report.failed {
        report.line(&format!("some checks failed ({:.1} s)", total.as_secs_f64()));
        exit::CODE_FAILED
    } else {
        report.line(&format!("all checks passed ({:.1} s)", total.as_secs_f64()));
        exit::OK
    }
}

fn display_endpoint(endpoint: &str) -> String {
    crate::mcp::Endpoint::parse(endpoint, true).map(|e| e.display()).unwrap_or_else(|_| endpoint.to_owned())
}
