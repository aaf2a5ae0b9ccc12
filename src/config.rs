//! Where the endpoint and key come from (the backend they select is the
//! workbench's), and the cache directory.
//!
//! Environment variables (the editor clients pass the same values):
//! - `AZURE_SANDBOX_MCP_ENDPOINT`: the pool's MCP endpoint.
//! - `AZURE_SANDBOX_POOL`: a session pool to read endpoint and key from
//!   (when no endpoint is set). Neither: the embedded local sandbox.
//! - `AZURE_SANDBOX_API_KEY`: its key (never logged, never written).
//! - `AZURE_SANDBOX_ALLOW_INSECURE_HTTP=1`: allow http:// to a remote host.
//! - `AZURE_SANDBOX_RUN_TIMEOUT`: seconds to wait for one run (default 230).

use std::time::Duration;

use crate::mcp::ClientOptions;
use crate::secret::ApiKey;

pub const ENDPOINT_VAR: &str = "AZURE_SANDBOX_MCP_ENDPOINT";
pub const KEY_VAR: &str = "AZURE_SANDBOX_API_KEY";
pub const INSECURE_VAR: &str = "AZURE_SANDBOX_ALLOW_INSECURE_HTTP";
pub const RUN_TIMEOUT_VAR: &str = "AZURE_SANDBOX_RUN_TIMEOUT";
/// The local sandbox's own key (`serve-local`, and the embedded sandbox when
/// set: an editor that starts the server chooses it, so it can hand the
/// embedded sandbox to an agent's server without the key crossing a message).
pub const LOCAL_KEY_VAR: &str = "AZURE_SANDBOX_LOCAL_API_KEY";

/// The local sandbox's key from [`LOCAL_KEY_VAR`], if set and not blank.
pub fn local_sandbox_key() -> Option<ApiKey> {
    std::env::var(LOCAL_KEY_VAR).ok().and_then(ApiKey::new)
}

/// This tool's cache directory: `$AZURE_SANDBOX_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/azure-sandbox-lsp`, else `~/.cache/azure-sandbox-lsp`.
/// Empty or relative values count as unset (XDG Base Directory spec).
pub fn cache_dir() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    let var = |name| std::env::var_os(name).map(PathBuf::from).filter(|p| p.is_absolute());
    var("AZURE_SANDBOX_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("azure-sandbox-lsp")))
        .or_else(|| var("HOME").map(|h| h.join(".cache").join("azure-sandbox-lsp")))
}

/// Parses a positive, finite number of seconds that fits a `Duration`.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = text.trim().parse().map_err(|_| format!("`{}` is not a number of seconds", text.trim()))?;
    if value.is_nan() || value <= 0.0 {
        return Err(format!("{value} is not a positive number of seconds"));
    }
    Duration::try_from_secs_f64(value).map_err(|_| format!("{value} seconds is too long"))
}

/// The remote side as configured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteConfig {
    pub endpoint: Option<String>,
    /// A session pool to resolve the endpoint and key from (when no
    /// endpoint is given): an ARM id or `subscription/group/name`.
    pub pool: Option<String>,
    pub key: Option<ApiKey>,
    pub allow_insecure_http: bool,
    pub run_timeout: Option<Duration>,
}

impl RemoteConfig {
    pub fn from_env() -> Self {
        Self {
            endpoint: std::env::var(ENDPOINT_VAR).ok().filter(|s| !s.trim().is_empty()),
            pool: std::env::var(crate::azure::POOL_VAR).ok().filter(|s| !s.trim().is_empty()),
            key: std::env::var(KEY_VAR).ok().and_then(ApiKey::new),
            allow_insecure_http: std::env::var(INSECURE_VAR)
                .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes")),
            run_timeout: std::env::var(RUN_TIMEOUT_VAR).ok().and_then(|v| match parse_seconds(&v) {
                Ok(timeout) => Some(timeout),
                Err(why) => {
                    tracing::warn!("ignoring {RUN_TIMEOUT_VAR}: {why}");
                    None
                }
            }),
        }
    }

    pub fn client_options(&self) -> ClientOptions {
        let mut options = ClientOptions { allow_insecure_http: self.allow_insecure_http, ..ClientOptions::default() };
        if let Some(timeout) = self.run_timeout {
            options.run_timeout = timeout;
        }
        options
    }
}

#[cfg(test)]
mod tests {
    use super::parse_seconds;
    use std::time::Duration;

    #[test]
    fn seconds_are_positive_finite_and_fit() {
        assert_eq!(parse_seconds(" 1.5 "), Ok(Duration::from_millis(1500)));
        for bad in ["0", "-1", "inf", "NaN", "1e20", "abc", ""] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }
}
