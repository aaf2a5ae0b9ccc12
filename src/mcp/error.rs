//! Errors a user can act on. Every message says what happened and what to do;
//! none carries the API key (excerpts are redacted before they get here).

use std::time::Duration;

use super::endpoint::EndpointError;

#[derive(Debug, Clone, PartialEq)]
pub enum McpError {
    /// The endpoint URL is unusable (or plain http to a remote host).
    Endpoint(EndpointError),
    /// No API key is configured for an endpoint that needs one.
    MissingKey,
    /// HTTP 401/403, or a JSON-RPC error that says the key was refused.
    Unauthorized { detail: String },
    /// The environment id is unknown to the service (expired after its
    /// cool-down, or from another pool).
    EnvironmentNotFound { environment_id: String, detail: String },
    /// The key was refused and fetching a new one (from the pool) failed.
    KeyRefreshFailed { detail: String },
    /// The pool cannot allocate another session (maxConcurrentSessions).
    PoolFull { detail: String },
    /// No answer within the time limit. The request was cancelled remotely.
    Timeout { method: String, after: Duration },
    /// Could not connect at all.
    Unreachable { endpoint: String, detail: String },
    /// Any other non-success HTTP status, with a short excerpt of the body.
    Http { status: u16, excerpt: String },
    /// The reply was not the JSON-RPC the protocol promises.
    Protocol { detail: String },
    /// A JSON-RPC error we have no better name for.
    Rpc { code: i64, message: String },
    /// A tool answered `isError` for a reason not covered above.
    ToolFailed { tool: String, detail: String },
}

impl std::fmt::Display for McpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            McpError::Endpoint(e) => write!(f, "{e}"),
            McpError::MissingKey => write!(
                f,
                "no API key configured for the sandbox endpoint: set AZURE_SANDBOX_API_KEY \
                 (the key from `fetchMCPServerCredentials`)"
            ),
            McpError::Unauthorized { detail } => write!(
                f,
                "the sandbox endpoint refused the API key ({detail}). Check AZURE_SANDBOX_API_KEY; \
                 keys rotate, so fetch a fresh one with `fetchMCPServerCredentials`"
            ),
            McpError::KeyRefreshFailed { detail } => {
                write!(f, "the sandbox refused its key, and fetching a new one from the pool failed: {detail}")
            }
            McpError::EnvironmentNotFound { environment_id, detail } => write!(
                f,
                "sandbox environment {environment_id} no longer exists ({detail}); \
                 it expires after its idle cool-down. A new one must be launched"
            ),
            McpError::PoolFull { detail } => write!(
                f,
                "the session pool has no free sessions ({detail}). Wait for idle environments to \
                 expire, restart one you no longer need, or raise maxConcurrentSessions"
            ),
            McpError::Timeout { method, after } => write!(
                f,
                "no answer to `{method}` within {} s; the request was cancelled. \
                 The run may still be going on the service side. Run again, or raise the run time limit \
                 (azureSandbox.runTimeout, AZURE_SANDBOX_RUN_TIMEOUT) for longer runs",
                after.as_secs_f64()
            ),
            McpError::Unreachable { endpoint, detail } if nothing_sent(detail) => {
                write!(
                    f,
                    "cannot reach the sandbox endpoint {endpoint}: {detail}. No request reached it, so no code ran"
                )
            }
            McpError::Unreachable { endpoint, detail } => write!(
                f,
                "cannot reach the sandbox endpoint {endpoint}: {detail}. The code may or may not have run. \
                 Check the endpoint and the network (for a local sandbox: is `serve-local` running?), then run again"
            ),
            McpError::Http { status, excerpt } => {
                write!(f, "the sandbox endpoint answered HTTP {status}")?;
                if !excerpt.is_empty() {
                    write!(f, ": {excerpt}")?;
                }
                if *status >= 500 {
                    write!(
                        f,
                        ". The service failed on its side; run again in a moment. If it keeps failing, check the \
                         session pool's health in the Azure portal (or the local sandbox's log)"
                    )
                } else {
                    write!(f, ". Check that the endpoint is the session pool's MCP endpoint (it ends in /mcp)")
                }
            }
            McpError::Protocol { detail } => write!(
                f,
                "the sandbox endpoint sent a reply this client cannot read: {detail}. The code may or may not have \
                 run. Run again; if it keeps happening, check that the endpoint is the session pool's MCP endpoint \
                 and that nothing between rewrites its replies"
            ),
            McpError::Rpc { code, message } => write!(f, "the sandbox endpoint answered error {code}: {message}"),
            McpError::ToolFailed { tool, detail } => write!(f, "`{tool}` failed: {detail}"),
        }
    }
}

impl std::error::Error for McpError {}

impl From<EndpointError> for McpError {
    fn from(e: EndpointError) -> Self {
        McpError::Endpoint(e)
    }
}

impl McpError {
    /// True when launching a new environment and retrying is the fix.
    pub fn is_environment_gone(&self) -> bool {
        matches!(self, McpError::EnvironmentNotFound { .. })
    }
}

/// How an `Unreachable` detail starts when the TLS certificate was not trusted.
pub(crate) const UNTRUSTED_CERTIFICATE: &str = "the server's TLS certificate is not trusted";
/// How an `Unreachable` detail starts when the proxy refused the tunnel.
pub(crate) const PROXY_REFUSED: &str = "the proxy";
/// How an `Unreachable` detail starts when no trusted certificate could be loaded.
pub(crate) const NO_TRUST_STORE: &str = "cannot load the trusted CA certificates";

/// Did this failure come before any request left this machine?
fn nothing_sent(detail: &str) -> bool {
    [UNTRUSTED_CERTIFICATE, PROXY_REFUSED, NO_TRUST_STORE].iter().any(|start| detail.starts_with(start))
}

/// Does this text say that an environment/session does not exist? The
/// service's wording is not documented, so match the forms seen in the docs
/// and third-party clients: "environment … not found / invalid / expired".
pub fn says_environment_missing(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    let subject = t.contains("environment") || t.contains("session");
    let missing =
        ["not found", "does not exist", "doesn't exist", "not exist", "expired", "invalid", "unknown", "no longer"]
            .iter()
            .any(|w| t.contains(w));
    subject && missing && !says_pool_full(text)
}

/// Does this text say the pool has no capacity left?
pub fn says_pool_full(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    (t.contains("pool") && (t.contains("full") || t.contains("capacity")))
        || t.contains("no more sessions")
        || t.contains("maxconcurrentsessions")
        || t.contains("too many sessions")
}

/// Does this JSON-RPC error say the key was refused?
pub fn says_unauthorized(code: i64, text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    code == -32001
        || t.contains("unauthorized")
        || t.contains("unauthenticated")
        || t.contains("api key")
        || t.contains("apikey")
        || t.contains("forbidden")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_missing_environment_wordings() {
        for text in [
            "Environment not found: 1234",
            "The environment 'x' does not exist or has expired",
            "Session not found",
            "Invalid environmentId",
        ] {
            assert!(says_environment_missing(text), "{text}");
        }
        for text in ["division by zero", "environment variable PATH", "Session pool is full"] {
            assert!(!says_environment_missing(text), "{text}");
        }
    }

    #[test]
    fn recognises_pool_full_and_auth() {
        assert!(says_pool_full("Session pool is full (maxConcurrentSessions=5)"));
        assert!(says_pool_full("no more sessions being allocated"));
        assert!(says_unauthorized(-32001, "x"));
        assert!(says_unauthorized(-1, "Unauthorized: invalid API key"));
        assert!(!says_unauthorized(-32602, "Unknown tool"));
    }

    #[test]
    fn messages_say_what_to_do() {
        let e = McpError::Unauthorized { detail: "HTTP 401".into() };
        assert!(e.to_string().contains("AZURE_SANDBOX_API_KEY"));
        let e = McpError::Timeout { method: "tools/call".into(), after: Duration::from_secs(5) };
        assert!(e.to_string().contains("5 s"));
        let e = McpError::Unreachable { endpoint: "e".into(), detail: format!("{UNTRUSTED_CERTIFICATE} (x)") };
        assert!(e.to_string().contains("no code ran") && !e.to_string().contains("may or may not"));
        let e = McpError::Unreachable { endpoint: "e".into(), detail: "connection refused".into() };
        assert!(e.to_string().contains("may or may not have run"));
    }
}
