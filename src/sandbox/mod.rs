//! The local sandbox: an MCP server that speaks the Azure endpoint's protocol
//! and runs real Python on this machine, one interpreter process per
//! environment. It is the embedded default backend, the backend of every
//! test, and `azure-sandbox-lsp serve-local`.
//!
//! Isolation (isolation.rs) is Linux namespaces through bubblewrap where it
//! works, else process isolation (separate processes, directories,
//! environment variables, resource limits, and a private uid when run as
//! root); either way on your own machine, not the Hyper-V boundary of the
//! real service.

mod config;
pub(crate) mod http;
mod isolation;
pub(crate) mod pool;
mod procs;
mod root_dir;
pub(crate) mod worker;

pub use config::{DEFAULT_OUTPUT_CAP, Launchers, ResponseMode, SandboxConfig};
pub use isolation::{DATA_DIR, INSTALL_BUBBLEWRAP, Isolation, IsolationMode, ProcessReason, parse_network};

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::secret::ApiKey;
use http::{AppState, Stats};
use isolation::Namespaces;
use pool::Pool;
use root_dir::RootDir;
use worker::{Confinement, Placement};

/// Why the local sandbox could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartError {
    /// No usable Python 3.8+ (missing, too old, or not Python).
    NoPython(String),
    /// Namespaces were required (or the network off, which needs them), and
    /// there are none here: why, and what to do.
    NoNamespaces(String),
    /// Anything else: the port, the environments' directory.
    Other(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::NoPython(why) | StartError::NoNamespaces(why) | StartError::Other(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for StartError {}

/// A running local sandbox.
pub struct LocalSandbox {
    endpoint: String,
    key: ApiKey,
    state: Arc<AppState>,
    root: RootDir,
    isolation: Isolation,
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
        let root = RootDir::create(config.root_dir.as_deref(), isolate).map_err(StartError::Other)?;
        let mut confinement = Confinement {
            python: interpreter.executable.clone(),
            memory_bytes: config.memory_limit_bytes,
            max_processes: config.max_processes,
            max_file_bytes: config.max_file_bytes,
            pip_user: !interpreter.in_virtualenv,
            user_site: interpreter.user_site.clone(),
            path_var: sandbox_path_var(),
            namespaces: None,
        };
        let first_uid = isolate.then_some(config.first_uid);
        let isolation = match choose_isolation(&config, &interpreter, root.path(), &confinement, first_uid).await {
            Ok(isolation) => isolation,
            Err(e) => return Err(e), // the directory goes with `root`
        };
        if let Some(namespaces) = isolation.namespaces() {
            // Inside, `python3` and `pip` are the sandbox's interpreter's
            // (pyenv's shims, say, are not there).
            if let Some(bin) = interpreter.executable.parent() {
                confinement.path_var = format!("{}:{}", bin.display(), confinement.path_var);
            }
            confinement.namespaces = Some(Arc::clone(namespaces));
        }
        let config = Arc::new(config);
        let pool = Arc::new(Pool::new(Arc::clone(&config), confinement, root.path().to_path_buf(), isolate));
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
        let server = tokio::spawn(http::serve(listener, app, config.header_timeout, stopped));
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
            isolation,
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

    /// The isolation in force (see `Isolation::describe`).
    pub fn isolation(&self) -> &Isolation {
        &self.isolation
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
        self.root.remove();
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
        self.root.remove();
    }
}

/// The Python the environments run.
#[derive(Debug, Clone)]
pub struct Interpreter {
    pub executable: PathBuf,
    pub version: String,
    pub in_virtualenv: bool,
    /// Every directory it reads its own code from: its prefixes (a virtual
    /// environment's and its base's), the executable's directory, and
    /// `sys.path` (which holds the packages, `.pth` additions too) as the
    /// sandbox starts it: no PYTHONPATH, no user site. Namespaces show these
    /// read-only.
    pub paths: Vec<PathBuf>,
    /// Where `pip install --user` puts packages, relative to the user base
    /// (`lib/python3.12/site-packages`).
    pub user_site: Option<PathBuf>,
}

/// What the interpreter says about itself: `sys.executable`, its version,
/// whether it is a virtual environment, whether it is recent enough, and its
/// directories (for `Interpreter::paths`).
const PROBE: &str = "import sys, json, os
paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, getattr(sys, 'base_exec_prefix', sys.exec_prefix)]
paths += [os.path.dirname(sys.executable)] + [p for p in sys.path if p]
user = ''
try:
    import site
    paths += site.getsitepackages()
    user = os.path.relpath(site.getusersitepackages(), site.getuserbase())
except Exception:
    pass
print(json.dumps([sys.executable, sys.version.split()[0], sys.prefix != sys.base_prefix, sys.version_info >= (3, 8), paths, user]))";

impl Interpreter {
    /// Resolves `python` (or `python3` on PATH) to the real executable, so
    /// that launcher shims (pyenv) are not in the way of a changed HOME or uid.
    pub async fn resolve(python: Option<&Path>) -> Result<Self, String> {
        let program = python.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("python3"));
        let output = tokio::process::Command::new(&program)
            .arg("-c")
            .arg(PROBE)
            // As the sandbox runs it (worker.rs): these would add
            // directories to sys.path that the sandbox's interpreter never
            // reads, and namespaces would show them.
            .env_remove("PYTHONPATH")
            .env_remove("PYTHONHOME")
            .env("PYTHONNOUSERSITE", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| {
                format!(
                    "cannot run {}: {e}. The local sandbox needs Python 3.8 or newer: install python3 or pass --python PATH",
                    program.display()
                )
            })?;
        let parsed: Option<(String, String, bool, bool, Vec<PathBuf>, PathBuf)> =
            serde_json::from_slice(&output.stdout).ok().and_then(|v: serde_json::Value| serde_json::from_value(v).ok());
        match parsed {
            Some((executable, version, in_virtualenv, recent, paths, user_site)) if output.status.success() => {
                if !recent {
                    return Err(format!(
                        "{} is Python {version}; the local sandbox needs 3.8 or newer",
                        program.display()
                    ));
                }
                let executable = if executable.is_empty() { program } else { PathBuf::from(executable) };
                // Only a plain relative path stays inside the user base.
                let plain = user_site.components().all(|c| matches!(c, std::path::Component::Normal(_)));
                let user_site = (plain && !user_site.as_os_str().is_empty()).then_some(user_site);
                Ok(Self { executable, version, in_virtualenv, paths, user_site })
            }
            _ => Err(format!(
                "{} did not behave like Python 3: {}",
                program.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            )),
        }
    }
}

/// Namespaces when they are wanted and work here (a real environment's
/// interpreter starts in them, as the uid environments will have), else
/// process isolation, or an error when namespaces are required.
async fn choose_isolation(
    config: &SandboxConfig,
    interpreter: &Interpreter,
    root: &Path,
    confinement: &Confinement,
    uid: Option<u32>,
) -> Result<Isolation, StartError> {
    let required = match (config.isolation, config.network) {
        (IsolationMode::Namespaces, _) => Some("namespaces were required (--isolation namespaces, localIsolation)"),
        (_, false) => Some("the network is off (--network off, localNetwork), which needs namespaces"),
        _ => None,
    };
    let fallback = |reason: ProcessReason| -> Result<Isolation, StartError> {
        match required {
            Some(what) => {
                Err(StartError::NoNamespaces(format!("{what}, but {}: {}", reason.explain(), reason.advice())))
            }
            None => Ok(Isolation::Process(reason)),
        }
    };
    if config.isolation == IsolationMode::Process {
        return fallback(ProcessReason::Asked);
    }
    let Some(bwrap) = isolation::find_bubblewrap() else {
        return fallback(ProcessReason::NoBubblewrap);
    };
    let namespaces = Arc::new(Namespaces::plan(bwrap, config.network, &interpreter.paths, &[root.to_path_buf()]));
    // The probe: the interpreter starts in an environment's namespaces, as
    // the environments' uid, or this sandbox does not use them.
    let placement = Placement { dir: root.join("probe"), uid };
    let probe = Confinement { namespaces: Some(Arc::clone(&namespaces)), ..confinement.clone() };
    let started = std::time::Instant::now();
    let outcome = match pool::create_private_dir(&placement.dir, uid, &probe) {
        Ok(()) => {
            let mut command = worker::sandboxed_command(&probe, &placement, &interpreter.executable);
            command.args(["-I", "-S", "-c", "pass"]).stdin(std::process::Stdio::null());
            tokio::time::timeout(Duration::from_secs(30), command.output()).await
        }
        Err(e) => return Err(StartError::Other(format!("cannot create the sandbox directory: {e}"))),
    };
    let _ = std::fs::remove_dir_all(&placement.dir);
    tracing::debug!(took = ?started.elapsed(), "bubblewrap probe");
    match outcome {
        Ok(Ok(output)) if output.status.success() => Ok(Isolation::Namespaces(namespaces)),
        Ok(Ok(output)) => {
            let said = String::from_utf8_lossy(&output.stderr);
            let first = said.lines().find(|l| !l.trim().is_empty()).unwrap_or("no reason given");
            fallback(ProcessReason::Refused(format!("{} ({})", first.trim(), output.status)))
        }
        Ok(Err(e)) => fallback(ProcessReason::Refused(format!("cannot run {}: {e}", namespaces.bwrap.display()))),
        Err(_) => fallback(ProcessReason::Refused("the interpreter did not start in them within 30 s".into())),
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
