//! The local sandbox: an MCP server that speaks the Azure endpoint's protocol
//! and runs real Python on this machine, one interpreter process per
//! environment. It is the embedded default backend, the backend of every
//! test, and `azure-sandbox-lsp serve-local`.
//!
//! Isolation is process isolation on your own machine (separate processes,
//! directories, environment variables, resource limits, and a private uid
//! when run as root), not the Hyper-V boundary of the real service.

mod config;
pub(crate) mod http;
pub(crate) mod pool;
pub(crate) mod worker;

pub use config::{DEFAULT_OUTPUT_CAP, Launchers, ResponseMode, SandboxConfig};

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::secret::ApiKey;
use http::{AppState, Stats};
use pool::Pool;
use worker::Confinement;

/// Why the local sandbox could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartError {
    /// No usable Python 3.8+ (missing, too old, or not Python).
    NoPython(String),
    /// Anything else: the port, the environments' directory.
    Other(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::NoPython(why) | StartError::Other(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for StartError {}

/// A running local sandbox.
pub struct LocalSandbox {
    endpoint: String,
    key: ApiKey,
    state: Arc<AppState>,
    root: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    reaper: JoinHandle<()>,
    /// Stops fork bombs (see `Pool::police_processes`).
    process_watch: JoinHandle<()>,
}

impl LocalSandbox {
    /// Binds, starts serving, and returns. `key` defaults to a random one.
    pub async fn start(config: SandboxConfig, key: Option<ApiKey>) -> Result<Self, StartError> {
        let interpreter = Interpreter::resolve(config.python.as_deref()).await.map_err(StartError::NoPython)?;
        let mut isolate = config.isolate_users && running_as_root();
        if isolate && !world_executable(&interpreter.executable) {
            tracing::info!(
                "{} is not accessible to other users, so environments run as this user \
                 (pass --python with a system interpreter such as /usr/bin/python3 for per-environment users)",
                interpreter.executable.display()
            );
            isolate = false;
        }
        let root = make_root(config.root_dir.as_deref(), isolate).map_err(StartError::Other)?;
        let confinement = Confinement {
            python: interpreter.executable.clone(),
            memory_bytes: config.memory_limit_bytes,
            max_processes: config.max_processes,
            max_file_bytes: config.max_file_bytes,
            pip_user: !interpreter.in_virtualenv,
            path_var: sandbox_path_var(),
        };
        let config = Arc::new(config);
        let pool = Arc::new(Pool::new(Arc::clone(&config), confinement, root.clone(), isolate));
        pool.replenish();
        let key = key.unwrap_or_else(ApiKey::generate);
        let state = Arc::new(AppState::new(Arc::clone(&config), key.clone(), Arc::clone(&pool)));
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(config.host, config.port))
            .await
            .map_err(|e| StartError::Other(format!("cannot listen on {}:{}: {e}", config.host, config.port)))?;
        let address = listener.local_addr().map_err(|e| StartError::Other(e.to_string()))?;
        if let Some(warning) = exposure_warning(address) {
            tracing::warn!("{warning}");
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let app = http::router(Arc::clone(&state));
        let server = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
                tracing::error!("local sandbox server stopped: {e}");
            }
        });
        let tick = (config.cool_down / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let reaper_pool = Arc::clone(&pool);
        let reaper = tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            loop {
                interval.tick().await;
                reaper_pool.reap_idle().await;
            }
        });
        let watched_pool = Arc::clone(&pool);
        let process_watch = tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(100));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let pool = Arc::clone(&watched_pool);
                let _ = tokio::task::spawn_blocking(move || pool.police_processes()).await;
            }
        });
        let host = match address.ip() {
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        };
        tracing::debug!(python = %interpreter.executable.display(), version = %interpreter.version, isolate, "local sandbox ready");
        Ok(Self {
            endpoint: format!("http://{host}:{}/mcp", address.port()),
            key,
            state,
            root,
            stop: Some(stop),
            server: Some(server),
            reaper,
            process_watch,
        })
    }

    /// The MCP endpoint URL, e.g. `http://127.0.0.1:41234/mcp`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn api_key(&self) -> &ApiKey {
        &self.key
    }

    pub fn stats(&self) -> &Stats {
        &self.state.stats
    }

    pub fn pool(&self) -> &Pool {
        &self.state.pool
    }

    /// Stops serving and destroys every environment.
    pub async fn shutdown(mut self) {
        self.stop_now().await;
    }

    async fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.reaper.abort();
        self.process_watch.abort();
        self.state.pool.shutdown().await;
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }

    /// Serves until Ctrl-C or SIGTERM, then cleans up.
    pub async fn run_until_signalled(mut self) {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match terminate.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
        }
        tracing::info!("shutting down");
        self.stop_now().await;
    }
}

impl Drop for LocalSandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.reaper.abort();
        self.process_watch.abort();
        // Workers die with their handles (kill on drop); the files go now.
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The Python the environments run.
#[derive(Debug, Clone)]
pub struct Interpreter {
    pub executable: PathBuf,
    pub version: String,
    pub in_virtualenv: bool,
}

impl Interpreter {
    /// Resolves `python` (or `python3` on PATH) to the real executable, so
    /// that launcher shims (pyenv) are not in the way of a changed HOME or uid.
    pub async fn resolve(python: Option<&Path>) -> Result<Self, String> {
        let program = python.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("python3"));
        let probe = "import sys, json; print(json.dumps([sys.executable, sys.version.split()[0], sys.prefix != sys.base_prefix, sys.version_info >= (3, 8)]))";
        let output = tokio::process::Command::new(&program)
            .arg("-c")
            .arg(probe)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| {
                format!(
                    "cannot run {}: {e}. The local sandbox needs Python 3.8 or newer: install python3 or pass --python PATH",
                    program.display()
                )
            })?;
        let parsed: Option<(String, String, bool, bool)> =
            serde_json::from_slice(&output.stdout).ok().and_then(|v: serde_json::Value| serde_json::from_value(v).ok());
        match parsed {
            Some((executable, version, in_virtualenv, recent)) if output.status.success() => {
                if !recent {
                    return Err(format!(
                        "{} is Python {version}; the local sandbox needs 3.8 or newer",
                        program.display()
                    ));
                }
                let executable = if executable.is_empty() { program } else { PathBuf::from(executable) };
                Ok(Self { executable, version, in_virtualenv })
            }
            _ => Err(format!(
                "{} did not behave like Python 3: {}",
                program.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            )),
        }
    }
}

fn running_as_root() -> bool {
    // SAFETY: plain syscall.
    unsafe { libc::geteuid() == 0 }
}

/// True when every directory up to `path` is searchable and `path` itself is
/// executable by others, so a process with a private uid can run it.
fn world_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(real) = std::fs::canonicalize(path) else { return false };
    let mut ok = std::fs::metadata(&real).is_ok_and(|m| m.permissions().mode() & 0o001 != 0);
    let mut dir = real.parent();
    while let (true, Some(d)) = (ok, dir) {
        ok = std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0);
        dir = d.parent();
    }
    ok
}

fn make_root(base: Option<&Path>, isolate: bool) -> Result<PathBuf, String> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let base = base.map(Path::to_path_buf).unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
    let suffix: u64 = rand::random();
    let root = base.join(format!("azure-sandbox-local-{suffix:016x}"));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&root)
        .map_err(|e| format!("cannot create the sandbox directory {}: {e}", root.display()))?;
    if isolate {
        // Private uids must be able to reach their own directory inside, but
        // not list the others.
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o711)).map_err(|e| e.to_string())?;
    }
    Ok(root)
}

fn sandbox_path_var() -> String {
    std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into())
}

/// What to tell the user when the sandbox listens where other machines can
/// reach it (anything but loopback); `None` on loopback.
pub fn exposure_warning(address: SocketAddr) -> Option<String> {
    (!address.ip().is_loopback()).then(|| {
        format!(
            "the local sandbox listens on {address}, reachable from other machines: anyone who has the key can \
             run code on this machine. Use --host 127.0.0.1 unless that is what you want"
        )
    })
}

#[cfg(test)]
mod exposure_tests {
    use super::exposure_warning;

    #[test]
    fn only_addresses_off_loopback_are_warned_about() {
        for quiet in ["127.0.0.1:8080", "127.0.0.2:1", "[::1]:8080"] {
            assert_eq!(exposure_warning(quiet.parse().unwrap()), None, "{quiet}");
        }
        for exposed in ["0.0.0.0:8080", "192.168.1.5:8080", "[::]:8080"] {
            let warning = exposure_warning(exposed.parse().unwrap()).expect(exposed);
            assert!(warning.contains("reachable from other machines") && warning.contains("--host 127.0.0.1"));
        }
    }
}
