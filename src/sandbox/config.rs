//! What `serve-local` can be told, with defaults that mirror the service.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use super::isolation::IsolationMode;

/// The service cuts stdout and stderr at 4,096 characters each (its
/// `outputStreamsMaxLength` default): so does the local sandbox, so that every
/// run walks the path a real one walks.
pub const DEFAULT_OUTPUT_CAP: usize = 4096;

/// How replies are framed when the client accepts both forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Json,
    Sse,
}

/// Which launcher names `tools/list` advertises. The service's docs have
/// named either one over time; both are always callable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launchers {
    Both,
    ShellOnly,
    PythonOnly,
}

/// Everything `serve-local` can be told. Defaults mirror the service where
/// it documents a value (timeouts, cool-down, pool size).
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub host: IpAddr,
    pub port: u16,
    /// The interpreter; `python3` on PATH when unset.
    pub python: Option<PathBuf>,
    pub python_timeout: Duration,
    pub shell_timeout: Duration,
    /// Characters kept per output stream per run (the service's
    /// `outputStreamsMaxLength`, 4,096 by default); the rest is cut.
    pub output_cap: usize,
    pub cool_down: Duration,
    pub max_environments: usize,
    pub max_request_bytes: usize,
    pub memory_limit_bytes: Option<u64>,
    pub max_processes: Option<u64>,
    pub max_file_bytes: Option<u64>,
    pub response_mode: ResponseMode,
    /// Issue `Mcp-Session-Id` on initialize and require it afterwards.
    pub require_session: bool,
    pub launchers: Launchers,
    /// Give each environment a private uid when running as root.
    pub isolate_users: bool,
    /// Keep one interpreter started ahead of time for the next environment.
    pub spare_interpreter: bool,
    pub first_uid: u32,
    /// Where environment directories live; a fresh temporary one when unset.
    pub root_dir: Option<PathBuf>,
    /// Namespaces (bubblewrap) when they work here, required, or never.
    pub isolation: IsolationMode,
    /// The environments' network (the service's pools have egress). Off
    /// needs namespaces: each environment then has only its own loopback.
    pub network: bool,
    /// A connection that has not sent a whole request head within this time
    /// is closed (also an idle kept-alive one: clients reconnect).
    pub header_timeout: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            python: None,
            python_timeout: Duration::from_secs(120),
            shell_timeout: Duration::from_secs(180),
            output_cap: DEFAULT_OUTPUT_CAP,
            cool_down: Duration::from_secs(300),
            max_environments: 5,
            max_request_bytes: 16 << 20,
            memory_limit_bytes: Some(4 << 30),
            max_processes: Some(512),
            max_file_bytes: Some(1 << 30),
            response_mode: ResponseMode::Json,
            require_session: false,
            launchers: Launchers::Both,
            isolate_users: true,
            spare_interpreter: true,
            first_uid: 1_500_000,
            root_dir: None,
            isolation: IsolationMode::Auto,
            network: true,
            header_timeout: Duration::from_secs(30),
        }
    }
}
