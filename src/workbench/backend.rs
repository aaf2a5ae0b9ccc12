//! The backend a run goes to: an engine on an Azure pool's endpoint, or on
//! the embedded local sandbox; its typed start and run errors; and the slot
//! that keeps one backend alive for as long as anyone leases it.

use std::sync::Arc;

use serde::Serialize;

use super::settings::{LocalOptions, Target};
use crate::azure::ConnectError;
use crate::config::RemoteConfig;
use crate::mcp::{McpClient, McpError};
use crate::mirror::MirrorRecord;
use crate::run::{Engine, Registry};
use crate::sandbox::{LocalSandbox, SandboxConfig, StartError};

/// What kind of problem stopped a run from being made, so that a front end
/// can say what to do without reading the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorKind {
    /// A remote endpoint needs a key and none is configured.
    NoKey,
    /// The endpoint refused the key (and, with a pool, a fresh one too).
    KeyRefused,
    /// The endpoint could not be reached.
    Unreachable,
    /// The pool has no free session.
    PoolFull,
    /// The local sandbox found no Python 3.8+.
    NoLocalPython,
    /// No answer within the run's time limit.
    Timeout,
    /// The settings name no usable sandbox (no endpoint, a malformed URL,
    /// plain http to a remote host).
    NotConfigured,
    /// The pool's endpoint or key could not be read from Azure.
    PoolSetup,
    /// The service answered, but with an error or a reply we cannot read.
    Service,
    /// The workspace's files could not be mirrored (over the budget, a
    /// glob that does not parse, a file the sandbox could not take).
    Mirror,
}

/// A typed error from backend start to the edge: its kind, and a message
/// that says what happened and what to do. Never carries a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendError {
    pub kind: ErrorKind,
    pub message: String,
}

impl BackendError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    /// The backend is set to Azure, but nothing names an endpoint.
    pub fn no_endpoint() -> Self {
        Self::new(
            ErrorKind::NotConfigured,
            "the backend is set to Azure but no endpoint is configured: set azureSandbox.endpoint \
             (or AZURE_SANDBOX_MCP_ENDPOINT) or azureSandbox.pool (or AZURE_SANDBOX_POOL)",
        )
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BackendError {}

impl From<&McpError> for ErrorKind {
    fn from(error: &McpError) -> Self {
        match error {
            McpError::MissingKey => ErrorKind::NoKey,
            McpError::Unauthorized { .. } | McpError::KeyRefreshFailed { .. } => ErrorKind::KeyRefused,
            McpError::Unreachable { .. } => ErrorKind::Unreachable,
            McpError::PoolFull { .. } => ErrorKind::PoolFull,
            McpError::Timeout { .. } => ErrorKind::Timeout,
            McpError::Endpoint(_) => ErrorKind::NotConfigured,
            McpError::EnvironmentNotFound { .. }
            | McpError::Http { .. }
            | McpError::Protocol { .. }
            | McpError::Rpc { .. }
            | McpError::ToolFailed { .. } => ErrorKind::Service,
        }
    }
}

impl From<McpError> for BackendError {
    fn from(error: McpError) -> Self {
        Self::new(ErrorKind::from(&error), error.to_string())
    }
}

impl From<ConnectError> for BackendError {
    fn from(error: ConnectError) -> Self {
        match error {
            ConnectError::Client(e) => e.into(),
            ConnectError::Setup(e) => Self::new(ErrorKind::PoolSetup, e.to_string()),
        }
    }
}

impl From<StartError> for BackendError {
    fn from(error: StartError) -> Self {
        let kind = match error {
            StartError::NoPython(_) => ErrorKind::NoLocalPython,
            // The settings ask for what this machine cannot give.
            StartError::NoNamespaces(_) => ErrorKind::NotConfigured,
            StartError::Other(_) => ErrorKind::Service,
        };
        Self::new(kind, error.to_string())
    }
}

/// A backend ready to run code: an engine, and the embedded sandbox it uses
/// (kept alive for as long as the backend lives) when there is one.
pub struct Backend {
    pub engine: Engine,
    pub local: Option<LocalSandbox>,
    /// What each of its environments was sent of their workspaces.
    pub mirror: MirrorRecord,
}

impl Backend {
    /// Connects to the configured endpoint (or pool), or starts the embedded
    /// local sandbox when none is configured or `force_local` is set.
    /// `registry_file` keeps workspace environments between processes (for
    /// the embedded sandbox too: an agent's server handed its endpoint by
    /// the editor finds the editor's environments there);
    /// `local` says how to make the embedded sandbox.
    pub async fn start(
        config: &RemoteConfig,
        force_local: bool,
        registry_file: Option<std::path::PathBuf>,
        local: LocalOptions,
    ) -> Result<Self, BackendError> {
        let remote = match (&config.endpoint, &config.pool, force_local) {
            (_, _, true) | (None, None, _) => None,
            (Some(endpoint), _, false) => Some(McpClient::new(endpoint, config.key.clone(), config.client_options())?),
            (None, Some(pool), false) => Some(crate::azure::connect(pool, config.client_options()).await?),
        };
        let (registry, mirror) = match registry_file {
            Some(file) => {
                let record = file.with_file_name("mirrors.json");
                (Registry::persistent(file), MirrorRecord::persistent(record))
            }
            None => (Registry::in_memory(), MirrorRecord::in_memory()),
        };
        match remote {
            Some(client) => Ok(Self { engine: Engine::new(client, Arc::new(registry)), local: None, mirror }),
            None => {
                // One user's workspaces, each with its environment: Azure's
                // tutorial pool size (5) would turn a sixth folder away.
                let sandbox = SandboxConfig {
                    max_environments: 16,
                    python: local.python,
                    isolation: local.isolation,
                    network: local.network,
                    ..SandboxConfig::default()
                };
                let local = LocalSandbox::start(sandbox, crate::config::local_sandbox_key()).await?;
                let client = McpClient::new(local.endpoint(), Some(local.api_key().clone()), config.client_options())?;
                registry.forget_endpoint(&client.endpoint().display());
                Ok(Self { engine: Engine::new(client, Arc::new(registry)), local: Some(local), mirror })
            }
        }
    }

    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// The embedded local sandbox's endpoint, when it is one.
    pub fn local_endpoint(&self) -> Option<&str> {
        self.local.as_ref().map(|local| local.endpoint())
    }

    pub async fn shutdown(self) {
        if let Some(local) = self.local {
            local.shutdown().await;
        }
    }
}

/// `environments.json` in the cache directory.
pub fn registry_file() -> Option<std::path::PathBuf> {
    Some(crate::config::cache_dir()?.join("environments.json"))
}

/// A backend in use and the target it was made for. Whoever holds an
/// `Arc<Lease>` keeps the backend alive; when the last holder lets go (the
/// slot replaced it and the last run on it ended), it shuts down.
pub struct Lease {
    backend: Option<Backend>,
    target: Target,
}

impl Lease {
    pub fn engine(&self) -> &Engine {
        &self.backend.as_ref().expect("a lease holds its backend until it is dropped").engine
    }

    /// What the backend's environments were sent of their workspaces.
    pub fn mirror(&self) -> &MirrorRecord {
        &self.backend.as_ref().expect("a lease holds its backend until it is dropped").mirror
    }

    pub fn is_local(&self) -> bool {
        self.backend.as_ref().is_some_and(Backend::is_local)
    }

    /// The embedded local sandbox's endpoint, when the backend is one.
    pub fn local_endpoint(&self) -> Option<String> {
        self.backend.as_ref().and_then(Backend::local_endpoint).map(str::to_owned)
    }

    /// The embedded sandbox's isolation, in a line (see
    /// `Isolation::describe`); `None` for a remote backend.
    pub fn local_isolation(&self) -> Option<String> {
        Some(self.backend.as_ref()?.local.as_ref()?.isolation().describe())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(backend) = self.backend.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(backend.shutdown());
            }
            // No runtime left (the process is ending): the embedded
            // sandbox's interpreters watch their parent and end with it.
            Err(_) => drop(backend),
        }
    }
}

/// The one backend for the current settings, started on first use and
/// replaced when the settings name another.
#[derive(Default)]
pub struct BackendSlot {
    current: tokio::sync::Mutex<Option<Arc<Lease>>>,
}

impl BackendSlot {
    /// A lease on the backend for `target`, starting it if needed.
    pub async fn lease(&self, target: &Target) -> Result<Arc<Lease>, BackendError> {
        let mut slot = self.current.lock().await;
        if let Some(lease) = slot.as_ref().filter(|l| &l.target == target) {
            return Ok(Arc::clone(lease));
        }
        // The old backend ends when its last run lets go of it.
        slot.take();
        let backend = match target {
            Target::Local(local) => {
                Backend::start(&RemoteConfig::default(), true, registry_file(), local.clone()).await?
            }
            Target::Azure(config) if config.endpoint.is_none() && config.pool.is_none() => {
                return Err(BackendError::no_endpoint());
            }
            Target::Azure(config) => Backend::start(config, false, registry_file(), LocalOptions::default()).await?,
        };
        let lease = Arc::new(Lease { backend: Some(backend), target: target.clone() });
        *slot = Some(Arc::clone(&lease));
        Ok(lease)
    }

    /// The backend in use, if one was started (none is started here).
    pub async fn current(&self) -> Option<Arc<Lease>> {
        self.current.lock().await.clone()
    }

    /// Lets go of the backend (settings changed, or shutdown); it ends once
    /// no run holds it.
    pub async fn release(&self) {
        self.current.lock().await.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn client_errors_keep_their_kind() {
        let cases = [
            (McpError::MissingKey, ErrorKind::NoKey),
            (McpError::Unauthorized { detail: "401".into() }, ErrorKind::KeyRefused),
            (McpError::Unreachable { endpoint: "e".into(), detail: "refused".into() }, ErrorKind::Unreachable),
            (McpError::PoolFull { detail: "full".into() }, ErrorKind::PoolFull),
            (McpError::Timeout { method: "tools/call".into(), after: Duration::from_secs(1) }, ErrorKind::Timeout),
        ];
        for (error, kind) in cases {
            let message = error.to_string();
            assert_eq!(BackendError::from(error), BackendError { kind, message });
        }
        let no_python = BackendError::from(StartError::NoPython("cannot run python3".into()));
        assert_eq!(no_python.kind, ErrorKind::NoLocalPython);
        assert_eq!(serde_json::to_value(no_python.kind).unwrap(), serde_json::json!("noLocalPython"));
    }

    async fn answers(endpoint: &str) -> bool {
        let address = endpoint.trim_start_matches("http://").split('/').next().unwrap().to_owned();
        tokio::net::TcpStream::connect(address).await.is_ok()
    }

    /// The lease: a target that does not change keeps its backend; a
    /// replaced one lives while a run still holds it, and ends after.
    #[tokio::test]
    async fn a_let_go_backend_ends_when_its_last_lease_does() {
        let slot = BackendSlot::default();
        let lease = slot.lease(&Target::Local(LocalOptions::default())).await.unwrap();
        let again = slot.lease(&Target::Local(LocalOptions::default())).await.unwrap();
        assert!(Arc::ptr_eq(&lease, &again), "the same target keeps its backend");
        drop(again);
        let local = lease.backend.as_ref().and_then(|b| b.local.as_ref()).expect("the embedded sandbox");
        let endpoint = local.endpoint().to_owned();
        slot.release().await;
        assert!(answers(&endpoint).await, "a run still holds it: it keeps serving");
        let next = slot.lease(&Target::Local(LocalOptions::default())).await.unwrap();
        assert!(!Arc::ptr_eq(&lease, &next), "the next run gets a new backend");
        drop(lease);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while answers(&endpoint).await {
            assert!(std::time::Instant::now() < deadline, "the let-go backend still answers");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let other = next.backend.as_ref().and_then(|b| b.local.as_ref()).unwrap().endpoint().to_owned();
        assert!(answers(&other).await, "the new backend is unaffected");
    }
}
