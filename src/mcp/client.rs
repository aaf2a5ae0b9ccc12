//! The MCP client for the sandbox endpoint: JSON-RPC over HTTP POST.
//!
//! What it does beyond a bare POST, and why:
//! - `initialize` with full params, then `notifications/initialized`, once per
//!   session, even when many calls start together (the session mutex).
//! - Accepts a JSON or an SSE reply; keeps and resends `Mcp-Session-Id`; sends
//!   `MCP-Protocol-Version` after initialization; re-initializes once on 404
//!   when it held a session id (the spec's "session expired").
//! - Every call has a timeout; a call that times out or is dropped by its
//!   caller sends `notifications/cancelled` so the server can stop work.
//! - Redirects are not followed: a redirect would carry `x-ms-apikey` to
//!   wherever it points.
//!
//! Architecture invariant: this module is the only one that speaks HTTP to
//! the sandbox, and the only one (with the local sandbox) that reads the key.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::endpoint::Endpoint;
use super::error::{
    McpError, NO_TRUST_STORE, PROXY_REFUSED, UNTRUSTED_CERTIFICATE, says_environment_missing, says_pool_full,
    says_unauthorized,
};
use super::jsonrpc::{self, ReplyError, RpcError};
use super::tools::{self, CallResult, EnvironmentId, PythonOutput, ShellCommand, ShellOutput};
use crate::secret::{ApiKey, redact};

/// The protocol version the Azure endpoint speaks.
pub const PROTOCOL_VERSION: &str = "2025-03-26";
const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
const KEY_HEADER: &str = "x-ms-apikey";

/// Time limits and sizes. Defaults suit the Azure service.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `initialize`, `tools/list`, launch and other short calls.
    pub call_timeout: Duration,
    /// Python and shell runs. The service caps a run at 220 s; wait a little longer.
    pub run_timeout: Duration,
    pub connect_timeout: Duration,
    /// Replies larger than this are refused rather than buffered.
    pub max_response_bytes: usize,
    /// Allow plain http:// to a non-loopback host (the key travels in clear text).
    pub allow_insecure_http: bool,
    /// Call tools without the `initialize` handshake, as the service's own
    /// tutorial does (it is stateless), until a server shows it wants one.
    pub skip_handshake: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(60),
            run_timeout: Duration::from_secs(230),
            connect_timeout: Duration::from_secs(10),
            max_response_bytes: 64 << 20,
            allow_insecure_http: false,
            skip_handshake: true,
        }
    }
}

/// What the server said about itself in `initialize`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerInfo {
    pub name: String,
    pub version: Option<String>,
    pub protocol_version: String,
}

#[derive(Debug, Clone)]
struct Session {
    id: Option<String>,
    info: ServerInfo,
}

/// Fetches the key again when the service refuses it (keys rotate).
pub trait KeyRefresher: Send + Sync {
    fn refresh(&self) -> Pin<Box<dyn Future<Output = Result<ApiKey, String>> + Send + '_>>;
}

/// A cheap-to-clone handle to one endpoint.
#[derive(Clone)]
pub struct McpClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Which proxy variable applies to the endpoint, for error messages
    /// (`HTTPS_PROXY (http://host:port)`, never its credentials).
    proxy: Option<String>,
    endpoint: Endpoint,
    key: std::sync::RwLock<Option<ApiKey>>,
    refresher: Option<Arc<dyn KeyRefresher>>,
    /// One refresh at a time; runs that failed together retry with its key.
    refreshing: Mutex<()>,
    options: ClientOptions,
    next_id: AtomicU64,
    session: Mutex<Option<Session>>,
    /// Whether calls without a handshake work here: `HANDSHAKE_UNTRIED`,
    /// `HANDSHAKE_SKIPPED` (they do) or `HANDSHAKE_REQUIRED`.
    handshake: std::sync::atomic::AtomicU8,
    /// The launcher tool: guessed, and corrected once if the guess is refused.
    launcher: Mutex<Option<Launcher>>,
}

const HANDSHAKE_UNTRIED: u8 = 0;
const HANDSHAKE_SKIPPED: u8 = 1;
const HANDSHAKE_REQUIRED: u8 = 2;

#[derive(Debug, Clone)]
struct Launcher {
    name: String,
    /// True when `tools/list` named it; false when we are guessing.
    listed: bool,
}

struct RawReply {
    status: StatusCode,
    content_type: Option<String>,
    session_id: Option<String>,
    body: Bytes,
}

impl std::fmt::Debug for McpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpClient").field("endpoint", &self.inner.endpoint.display()).field("key", &self.key()).finish()
    }
}

impl McpClient {
    /// A client for `endpoint`. Fails for a bad URL, for plain http to a
    /// remote host (unless allowed), and for a remote endpoint without a key.
    pub fn new(endpoint: &str, key: Option<ApiKey>, options: ClientOptions) -> Result<Self, McpError> {
        Self::with_refresher(endpoint, key, options, None)
    }

    /// [`McpClient::new`], with a way to fetch the key again after a 401.
    pub fn with_refresher(
        endpoint: &str,
        key: Option<ApiKey>,
        options: ClientOptions,
        refresher: Option<Arc<dyn KeyRefresher>>,
    ) -> Result<Self, McpError> {
        let endpoint = Endpoint::parse(endpoint, options.allow_insecure_http)?;
        if key.is_none() && !endpoint.is_loopback() {
            return Err(McpError::MissingKey);
        }
        // One client per endpoint, reused for every request (the key
        // refresher included): one connection pool, so one TLS handshake.
        let http = http_client_builder(&endpoint)
            .connect_timeout(options.connect_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("azure-sandbox-lsp/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| McpError::Unreachable { endpoint: endpoint.display(), detail: build_error(&e) })?;
        let proxy = proxy_in_use(&endpoint);
        if let Some(proxy) = &proxy {
            tracing::debug!(endpoint = %endpoint.display(), %proxy, "the sandbox endpoint goes through a proxy");
        }
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                proxy,
                endpoint,
                key: std::sync::RwLock::new(key),
                refresher,
                refreshing: Mutex::new(()),
                options,
                next_id: AtomicU64::new(1),
                session: Mutex::new(None),
                handshake: std::sync::atomic::AtomicU8::new(HANDSHAKE_UNTRIED),
                launcher: Mutex::new(None),
            }),
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// Initializes if needed and returns what the server said about itself.
    pub async fn server_info(&self) -> Result<ServerInfo, McpError> {
        Ok(self.session().await?.info)
    }

    /// `ping`. Servers that only implement the documented methods answer
    /// -32601, which still proves the endpoint and key work.
    pub async fn ping(&self) -> Result<(), McpError> {
        match self.request("ping", None, self.inner.options.call_timeout).await {
            Ok(_) | Err(McpError::Rpc { code: -32601, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The tool names from `tools/list`.
    pub async fn list_tools(&self) -> Result<Vec<String>, McpError> {
        let result = self.request("tools/list", Some(json!({})), self.inner.options.call_timeout).await?;
        let tools = result
            .get("tools")
            .and_then(Value::as_array)
            .ok_or_else(|| McpError::Protocol { detail: "`tools/list` result has no `tools` array".into() })?;
        Ok(tools.iter().filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_owned)).collect())
    }

    /// Creates a new environment and returns its id.
    pub async fn launch(&self) -> Result<EnvironmentId, McpError> {
        let launcher = self.launcher().await?;
        let first = self.launch_with(&launcher.name).await;
        match first {
            // Without a tools/list answer we guessed the name; the other one may exist.
            Err(ref e) if !launcher.listed && is_unknown_tool(e) => {
                let other =
                    if launcher.name == tools::LAUNCH_PYTHON { tools::LAUNCH_SHELL } else { tools::LAUNCH_PYTHON };
                let id = self.launch_with(other).await?;
                *self.inner.launcher.lock().await = Some(Launcher { name: other.to_owned(), listed: false });
                Ok(id)
            }
            other => other,
        }
    }

    async fn launch_with(&self, tool: &str) -> Result<EnvironmentId, McpError> {
        let call = self.call_tool(tool, json!({}), self.inner.options.call_timeout).await?;
        if call.is_error {
            let detail = jsonrpc::excerpt(&self.redact(&call.text));
            return Err(if says_pool_full(&detail) {
                McpError::PoolFull { detail }
            } else {
                McpError::ToolFailed { tool: tool.to_owned(), detail }
            });
        }
        tools::environment_id(&call).ok_or_else(|| McpError::Protocol {
            detail: format!("`{tool}` returned no `structuredContent.environmentId`"),
        })
    }

    /// Runs Python code in an environment, with the configured run timeout.
    pub async fn run_python(&self, environment: &EnvironmentId, code: &str) -> Result<PythonOutput, McpError> {
        self.run_python_with_timeout(environment, code, self.inner.options.run_timeout).await
    }

    pub async fn run_python_with_timeout(
        &self,
        environment: &EnvironmentId,
        code: &str,
        timeout: Duration,
    ) -> Result<PythonOutput, McpError> {
        let call = self
            .call_tool(tools::RUN_PYTHON, tools::run_python_arguments(environment, code), timeout)
            .await
            .map_err(|e| for_environment(e, environment))?;
        let mut call = call;
        let output = tools::python_output(&mut call);
        if call.is_error {
            check_environment_failure(environment, &call.text, output.stderr.as_deref())?;
        }
        Ok(output)
    }

    /// Runs a shell command in an environment.
    pub async fn run_shell(
        &self,
        environment: &EnvironmentId,
        command: &ShellCommand,
    ) -> Result<ShellOutput, McpError> {
        let call = self
            .call_tool(
                tools::RUN_SHELL,
                tools::run_shell_arguments(environment, command),
                self.inner.options.run_timeout,
            )
            .await
            .map_err(|e| for_environment(e, environment))?;
        let output = tools::shell_output(&call);
        if call.is_error {
            check_environment_failure(environment, &call.text, output.stderr.as_deref())?;
        }
        Ok(output)
    }

    async fn call_tool(&self, name: &str, arguments: Value, timeout: Duration) -> Result<CallResult, McpError> {
        let result = self.request("tools/call", Some(json!({"name": name, "arguments": arguments})), timeout).await?;
        tools::parse_call_result(result)
            .ok_or_else(|| McpError::Protocol { detail: format!("`{name}` returned a result that is not an object") })
    }

    /// The launcher to call. Guessed (`launchPythonEnvironment`) rather than
    /// asked for with `tools/list`, which would cost a round trip on every
    /// new process; `launch` tries the other name once if the guess is
    /// refused, and remembers what worked.
    async fn launcher(&self) -> Result<Launcher, McpError> {
        let mut slot = self.inner.launcher.lock().await;
        Ok(slot.get_or_insert_with(|| Launcher { name: tools::LAUNCH_PYTHON.to_owned(), listed: false }).clone())
    }

    async fn session(&self) -> Result<Session, McpError> {
        let mut slot = self.inner.session.lock().await;
        if let Some(session) = slot.as_ref() {
            return Ok(session.clone());
        }
        let session = self.initialize().await?;
        *slot = Some(session.clone());
        Ok(session)
    }

    async fn initialize(&self) -> Result<Session, McpError> {
        let id = self.next_id();
        let params = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "azure-sandbox-lsp", "version": env!("CARGO_PKG_VERSION")},
        });
        let body = jsonrpc::request(id, "initialize", Some(params));
        let timeout = self.inner.options.call_timeout;
        let reply = tokio::time::timeout(timeout, self.post(&body, None))
            .await
            .map_err(|_| McpError::Timeout { method: "initialize".into(), after: timeout })??;
        let session_id = reply.session_id.clone();
        let result = self.interpret(reply, id)?;
        let info = ServerInfo {
            name: result.pointer("/serverInfo/name").and_then(Value::as_str).unwrap_or("unknown server").to_owned(),
            version: result.pointer("/serverInfo/version").and_then(Value::as_str).map(str::to_owned),
            protocol_version: result
                .get("protocolVersion")
                .and_then(Value::as_str)
                .unwrap_or(PROTOCOL_VERSION)
                .to_owned(),
        };
        tracing::debug!(server = %info.name, protocol = %info.protocol_version, session = session_id.is_some(), "initialized");
        let session = Session { id: session_id, info };
        // Best effort: the Azure service is stateless and may not care, and
        // some servers answer notifications with odd statuses.
        let initialized = jsonrpc::notification("notifications/initialized", None);
        match tokio::time::timeout(Duration::from_secs(10), self.post(&initialized, Some(&session))).await {
            Ok(Ok(reply)) if !reply.status.is_success() => {
                tracing::debug!(status = %reply.status, "notifications/initialized not accepted; continuing");
            }
            Ok(Err(e)) => tracing::debug!("notifications/initialized failed ({e}); continuing"),
            _ => {}
        }
        Ok(session)
    }

    /// One request with a timeout; cancels remotely on timeout or drop.
    async fn request(&self, method: &str, params: Option<Value>, timeout: Duration) -> Result<Value, McpError> {
        let id = self.next_id();
        let mut guard = CancelOnDrop { client: Some(self.clone()), id, reason: "the caller abandoned the request" };
        let started = Instant::now();
        let outcome = tokio::time::timeout(timeout, self.exchange(id, method, params)).await;
        let result = match outcome {
            Ok(result) => {
                guard.client = None;
                result
            }
            Err(_) => {
                guard.reason = "timed out";
                Err(McpError::Timeout { method: method.to_owned(), after: timeout })
            }
        };
        drop(guard);
        tracing::debug!(method, id, ok = result.is_ok(), elapsed_us = started.elapsed().as_micros() as u64, "mcp call");
        result
    }

    async fn exchange(&self, id: u64, method: &str, params: Option<Value>) -> Result<Value, McpError> {
        let used = self.key();
        match self.exchange_once(id, method, params.clone()).await {
            Err(McpError::Unauthorized { .. }) if self.inner.refresher.is_some() => {
                self.refresh_key(used.as_ref()).await?;
                self.exchange_once(id, method, params).await
            }
            other => other,
        }
    }

    /// Fetches a new key unless another call already did since `used` failed.
    async fn refresh_key(&self, used: Option<&ApiKey>) -> Result<(), McpError> {
        let Some(refresher) = &self.inner.refresher else { return Ok(()) };
        let _one_at_a_time = self.inner.refreshing.lock().await;
        if self.key().as_ref() != used {
            return Ok(());
        }
        tracing::info!("the sandbox refused the key; fetching it again");
        let key = refresher.refresh().await.map_err(|detail| McpError::KeyRefreshFailed { detail })?;
        *self.inner.key.write().unwrap_or_else(|e| e.into_inner()) = Some(key);
        // A new key is a new session as far as the server knows.
        *self.inner.session.lock().await = None;
        Ok(())
    }

    fn key(&self) -> Option<ApiKey> {
        self.inner.key.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn exchange_once(&self, id: u64, method: &str, params: Option<Value>) -> Result<Value, McpError> {
        let body = jsonrpc::request(id, method, params);
        if let Some(answer) = self.without_handshake(&body, id).await {
            return answer;
        }
        let session = self.session().await?;
        let reply = self.post(&body, Some(&session)).await?;
        if reply.status == StatusCode::NOT_FOUND && session.id.is_some() {
            // The server forgot our session: initialize again and resend once.
            tracing::info!("MCP session expired; initializing again");
            self.forget_session(&session).await;
            let session = self.session().await?;
            let reply = self.post(&body, Some(&session)).await?;
            return self.interpret(reply, id);
        }
        self.interpret(reply, id)
    }

    /// The tutorial's way: a request with no `initialize` before it, which
    /// the service takes (it keeps no MCP session) and saves a round trip or
    /// two per process. Tried until a server shows it wants the handshake:
    /// it refuses such a request, or hands out an `Mcp-Session-Id`. `None`
    /// means "do the handshake, then send it".
    async fn without_handshake(&self, body: &Value, id: u64) -> Option<Result<Value, McpError>> {
        use std::sync::atomic::Ordering::SeqCst;
        let state = &self.inner.handshake;
        if !self.inner.options.skip_handshake || state.load(SeqCst) == HANDSHAKE_REQUIRED {
            return None;
        }
        if self.inner.session.lock().await.is_some() {
            return None;
        }
        let reply = match self.post(body, None).await {
            Ok(reply) => reply,
            Err(e) => return Some(Err(e)),
        };
        if reply.session_id.is_some() {
            // A server with sessions: this answer stands, later calls shake hands.
            state.store(HANDSHAKE_REQUIRED, SeqCst);
            return Some(self.interpret(reply, id));
        }
        match self.interpret(reply, id) {
            Err(e) if wants_handshake(&e) => {
                tracing::debug!("the server refused a call without a handshake ({e}); initializing");
                state.store(HANDSHAKE_REQUIRED, SeqCst);
                None
            }
            answer => {
                if answer.is_ok() {
                    state.store(HANDSHAKE_SKIPPED, SeqCst);
                }
                Some(answer)
            }
        }
    }

    async fn forget_session(&self, stale: &Session) {
        let mut slot = self.inner.session.lock().await;
        if slot.as_ref().is_some_and(|s| s.id == stale.id) {
            *slot = None;
        }
    }

    /// Turns an HTTP reply into the JSON-RPC result or a typed error.
    fn interpret(&self, reply: RawReply, id: u64) -> Result<Value, McpError> {
        let status = reply.status;
        let mut parsed = jsonrpc::parse_reply(reply.content_type.as_deref(), &reply.body, id);
        let failed = !status.is_success() || parsed.is_err();
        // Error texts quote the body: redact it whole first, since an
        // excerpt can cut the key where the redactor no longer finds it.
        // (Only on this path: a successful reply can be megabytes.)
        let body_text = if failed { self.redact(&String::from_utf8_lossy(&reply.body)) } else { String::new() };
        if parsed.is_err() {
            parsed = jsonrpc::parse_reply(reply.content_type.as_deref(), body_text.as_bytes(), id);
        }
        if !status.is_success() {
            let rpc = match &parsed {
                Ok(Err(e)) => Some(e.clone()),
                _ => None,
            };
            let detail = match &rpc {
                Some(e) => format!("HTTP {}: {}", status.as_u16(), self.redact(&e.message)),
                None => format!("HTTP {}", status.as_u16()),
            };
            let text = rpc.as_ref().map(|e| e.message.clone()).unwrap_or_else(|| body_text.to_string());
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => McpError::Unauthorized { detail },
                StatusCode::TOO_MANY_REQUESTS => McpError::PoolFull { detail },
                _ if says_pool_full(&text) => McpError::PoolFull { detail },
                _ if says_environment_missing(&text) => McpError::EnvironmentNotFound {
                    environment_id: String::new(),
                    detail: jsonrpc::excerpt(&self.redact(&text)),
                },
                _ => match rpc {
                    Some(e) if says_unauthorized(e.code, &e.message) => McpError::Unauthorized { detail },
                    _ => McpError::Http { status: status.as_u16(), excerpt: jsonrpc::excerpt(&body_text) },
                },
            });
        }
        match parsed {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(error)) => Err(self.rpc_error(error)),
            // Both made from the redacted body above.
            Err(ReplyError::NotJson(excerpt)) => {
                Err(McpError::Protocol { detail: format!("the reply is not JSON: {excerpt}") })
            }
            Err(ReplyError::NoResponse(detail)) => Err(McpError::Protocol { detail }),
        }
    }

    fn rpc_error(&self, error: RpcError) -> McpError {
        let message = self.redact(&error.message);
        if says_unauthorized(error.code, &message) {
            McpError::Unauthorized { detail: message }
        } else if says_pool_full(&message) {
            McpError::PoolFull { detail: message }
        } else if says_environment_missing(&message) {
            McpError::EnvironmentNotFound { environment_id: String::new(), detail: message }
        } else {
            McpError::Rpc { code: error.code, message }
        }
    }

    async fn post(&self, body: &Value, session: Option<&Session>) -> Result<RawReply, McpError> {
        let inner = &self.inner;
        let mut request = inner
            .http
            .post(inner.endpoint.url().clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json, text/event-stream")
            .body(serde_json::to_vec(body).unwrap_or_default());
        if let Some(key) = &self.key() {
            let mut value = reqwest::header::HeaderValue::from_str(key.expose()).map_err(|_| McpError::Protocol {
                detail: "the API key contains characters not allowed in an HTTP header".into(),
            })?;
            value.set_sensitive(true);
            request = request.header(KEY_HEADER, value);
        }
        if let Some(session) = session {
            request = request.header(VERSION_HEADER, session.info.protocol_version.as_str());
            if let Some(id) = &session.id {
                request = request.header(SESSION_HEADER, id.as_str());
            }
        }
        let mut response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let content_type = header(reqwest::header::CONTENT_TYPE.as_str());
        let session_id =
            header(SESSION_HEADER).filter(|s| !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        let limit = inner.options.max_response_bytes;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport_error(e))? {
            if body.len() + chunk.len() > limit {
                return Err(McpError::Protocol {
                    detail: format!("the reply is larger than {} MiB; refusing to buffer it", limit >> 20),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(RawReply { status, content_type, session_id, body: Bytes::from(body) })
    }

    fn transport_error(&self, error: reqwest::Error) -> McpError {
        let endpoint = self.inner.endpoint.display();
        // The error's own text may name the URL; the key is never in it, but
        // run it through the redactor anyway so that stays true.
        let (is_connect, is_timeout, is_body) =
            (error.is_connect(), error.is_timeout(), error.is_body() || error.is_decode());
        let error = error.without_url();
        let mut detail = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            detail = format!("{detail}: {cause}");
            source = cause.source();
        }
        let detail = without_proxy_credentials(&self.redact(&detail));
        if let Some(detail) = tls_or_proxy_failure(&detail, self.inner.proxy.as_deref()) {
            McpError::Unreachable { endpoint, detail }
        } else if is_connect {
            let detail = match (&self.inner.proxy, no_proxy()) {
                (Some(proxy), None) => format!("{detail} (through the proxy in {proxy})"),
                (Some(proxy), Some(no_proxy)) => format!(
                    "{detail} (proxy: {proxy}; the hosts that NO_PROXY `{no_proxy}` names are reached without it)"
                ),
                (None, _) => detail,
            };
            McpError::Unreachable { endpoint, detail }
        } else if is_timeout {
            McpError::Unreachable { endpoint, detail: format!("timed out: {detail}") }
        } else if is_body {
            McpError::Protocol { detail: format!("the connection broke while reading the reply: {detail}") }
        } else {
            McpError::Unreachable { endpoint, detail }
        }
    }

    fn redact(&self, text: &str) -> String {
        redact(text, self.key().as_ref())
    }

    fn next_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends `notifications/cancelled` for `id`, without waiting for it.
    fn cancel_in_background(&self, id: u64, reason: &'static str) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let client = self.clone();
        runtime.spawn(async move {
            let session = client.inner.session.lock().await.clone();
            let message =
                jsonrpc::notification("notifications/cancelled", Some(json!({"requestId": id, "reason": reason})));
            match tokio::time::timeout(Duration::from_secs(5), client.post(&message, session.as_ref())).await {
                Ok(Ok(_)) => tracing::debug!(id, reason, "sent notifications/cancelled"),
                _ => tracing::debug!(id, "could not send notifications/cancelled"),
            }
        });
    }
}

/// A builder for the one HTTP client of `endpoint`, with what every client
/// of this crate needs (the sandbox endpoint's and Azure Resource Manager's):
///
/// - TLS through rustls with the operating system's trust store
///   (`rustls-platform-verifier`; on Linux it reads the bundle that
///   `update-ca-certificates` fills, or only `SSL_CERT_FILE` and
///   `SSL_CERT_DIR` when either is set), so a TLS-inspecting proxy's CA
///   installed there is trusted.
/// - HTTP/2 offered through ALPN, HTTP/1.1 when the server offers only that.
/// - Proxies from `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` (and lower case),
///   skipped for hosts in `NO_PROXY`. A loopback endpoint never goes
///   through a proxy: a proxy for the way out of a network must not capture
///   127.0.0.1 (Go's `ProxyFromEnvironment` does the same).
/// - No redirects: a redirect would carry the key or the token elsewhere.
///
/// Build it once per endpoint and reuse the client, so that requests share
/// its connection pool and TLS session.
pub(crate) fn http_client_builder(endpoint: &Endpoint) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if !endpoint.is_loopback() {
        return builder;
    }
    let builder = builder.no_proxy();
    if endpoint.url().scheme() == "http" {
        // Plain http to this machine never needs a certificate: do not load
        // the trust store, so that a missing or broken one cannot stop the
        // local sandbox.
        builder.tls_certs_only(Vec::new())
    } else {
        builder
    }
}

/// The proxy variables in the order reqwest reads them, by the endpoint's scheme.
fn proxy_variables(scheme: &str) -> &'static [&'static str] {
    if scheme == "https" {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    }
}

/// `HTTPS_PROXY (http://proxy:3128)` when a proxy variable applies to
/// `endpoint` (NO_PROXY aside), with the proxy's credentials left out.
fn proxy_in_use(endpoint: &Endpoint) -> Option<String> {
    if endpoint.is_loopback() {
        return None;
    }
    proxy_variables(endpoint.url().scheme()).iter().find_map(|name| {
        let value = std::env::var(name).ok().filter(|v| !v.trim().is_empty())?;
        Some(format!("{name} ({})", proxy_display(&value)))
    })
}

/// `NO_PROXY` (or `no_proxy`), when set: host names, no secrets.
fn no_proxy() -> Option<String> {
    ["NO_PROXY", "no_proxy"].iter().find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
}

/// A proxy URL without its user and password: `scheme://host:port`.
fn proxy_display(value: &str) -> String {
    let value = value.trim();
    let with_scheme = if value.contains("://") { value.to_owned() } else { format!("http://{value}") };
    match url::Url::parse(&with_scheme) {
        Ok(url) => {
            let host = url.host_str().unwrap_or_default();
            match url.port() {
                Some(port) => format!("{}://{host}:{port}", url.scheme()),
                None => format!("{}://{host}", url.scheme()),
            }
        }
        Err(_) => "unreadable URL".to_owned(),
    }
}

/// Replaces the passwords of the proxy variables, and the user information
/// of any URL, in `text`. Transport errors do not quote the proxy URL today;
/// this keeps it so if one ever does.
fn without_proxy_credentials(text: &str) -> String {
    let mut text = text.to_owned();
    for name in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        let Ok(value) = std::env::var(name) else { continue };
        let value = value.trim();
        let with_scheme = if value.contains("://") { value.to_owned() } else { format!("http://{value}") };
        let Ok(url) = url::Url::parse(&with_scheme) else { continue };
        if let Some(password) = url.password().filter(|p| !p.is_empty()) {
            for secret in [password.to_owned(), percent_decoded(password)] {
                if secret.len() >= 2 {
                    text = text.replace(&secret, "[redacted]");
                }
            }
        }
    }
    // `scheme://user:password@host` anywhere: drop the user information.
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find("://") {
        let (before, after) = rest.split_at(start + 3);
        out.push_str(before);
        let end =
            after.find(|c: char| c.is_whitespace() || matches!(c, '/' | '"' | '\'' | ')' | '>')).unwrap_or(after.len());
        match after[..end].rfind('@') {
            Some(at) => {
                out.push_str("[redacted]@");
                rest = &after[at + 1..];
            }
            None => rest = after,
        }
    }
    out.push_str(rest);
    out
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A failure to build the client: in practice, no trusted certificates.
pub(crate) fn build_error(error: &reqwest::Error) -> String {
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail = format!("{detail}: {cause}");
        source = cause.source();
    }
    let detail = without_proxy_credentials(&detail);
    if detail.to_ascii_lowercase().contains("certificate") {
        format!(
            "{NO_TRUST_STORE} ({detail}). Install the system's CA bundle \
             (the ca-certificates package), or check SSL_CERT_FILE and SSL_CERT_DIR: when either is set, \
             only the certificates there are trusted"
        )
    } else {
        format!("cannot build the HTTP client: {detail}")
    }
}

/// A transport error's text (already without secrets) rewritten to say what
/// to do, when it is about TLS trust or a proxy; `None` otherwise.
fn tls_or_proxy_failure(detail: &str, proxy: Option<&str>) -> Option<String> {
    let lower = detail.to_ascii_lowercase();
    let proxy = match proxy {
        Some(p) => format!("{PROXY_REFUSED} in {p}"),
        None => PROXY_REFUSED.to_owned(),
    };
    if lower.contains("invalid peer certificate") && !lower.contains("unknownissuer") {
        // Expired, for another name, revoked…: a CA in the store would not help.
        return Some(format!(
            "{UNTRUSTED_CERTIFICATE} ({detail}): it may be for another host name, or expired. Check the \
             endpoint URL and this machine's clock"
        ));
    }
    if lower.contains("invalid peer certificate") {
        return Some(format!(
            "{UNTRUSTED_CERTIFICATE} ({detail}). If your network inspects TLS, or the \
             endpoint uses a private CA, add that CA certificate to the system trust store (Debian/Ubuntu: copy \
             it as a .crt file to /usr/local/share/ca-certificates/ and run `sudo update-ca-certificates`), or set \
             SSL_CERT_FILE to a PEM bundle that contains it (SSL_CERT_FILE and SSL_CERT_DIR, when set, replace \
             the system store)"
        ));
    }
    if lower.contains("proxy authorization required") {
        return Some(format!(
            "{proxy} asks for credentials (HTTP 407) ({detail}): put them in the proxy URL, \
             http://user:password@host:port, or check the ones there"
        ));
    }
    if lower.contains("tunnel error") {
        return Some(format!(
            "{proxy} did not open a tunnel to the endpoint ({detail}): check the proxy URL, and \
             NO_PROXY for hosts that must be reached directly"
        ));
    }
    None
}

/// Sends `notifications/cancelled` when a request ends without an answer,
/// whether by timeout or because the caller dropped the future.
struct CancelOnDrop {
    client: Option<McpClient>,
    id: u64,
    reason: &'static str,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            client.cancel_in_background(self.id, self.reason);
        }
    }
}

/// A refusal that may mean "initialize first": servers that keep sessions
/// answer a request without one with 400 or 404, or a JSON-RPC error about
/// the session; some with 401. A real key problem shows again at `initialize`.
fn wants_handshake(error: &McpError) -> bool {
    match error {
        McpError::Http { status, .. } => matches!(status, 400 | 404 | 405 | 409),
        McpError::Rpc { message, .. } => {
            let message = message.to_ascii_lowercase();
            message.contains("initializ") || message.contains("session")
        }
        McpError::Unauthorized { .. } => true,
        _ => false,
    }
}

fn is_unknown_tool(error: &McpError) -> bool {
    match error {
        McpError::Rpc { code, message } => {
            *code == -32601 || (*code == -32602 && message.to_ascii_lowercase().contains("tool"))
        }
        McpError::ToolFailed { detail, .. } => detail.to_ascii_lowercase().contains("unknown tool"),
        _ => false,
    }
}

fn for_environment(error: McpError, environment: &EnvironmentId) -> McpError {
    match error {
        McpError::EnvironmentNotFound { detail, .. } => {
            McpError::EnvironmentNotFound { environment_id: environment.0.clone(), detail }
        }
        other => other,
    }
}

/// An `isError` run result can mean the environment is gone or the pool is
/// full rather than that the code failed; those become errors.
fn check_environment_failure(environment: &EnvironmentId, text: &str, stderr: Option<&str>) -> Result<(), McpError> {
    // Only look at the service's own message, not at user stderr, which may
    // legitimately mention sessions or environments.
    let message = if text.trim_start().starts_with('{') { "" } else { text };
    if says_pool_full(message) {
        return Err(McpError::PoolFull { detail: jsonrpc::excerpt(message) });
    }
    if says_environment_missing(message) && stderr.is_none_or(str::is_empty) {
        return Err(McpError::EnvironmentNotFound {
            environment_id: environment.0.clone(),
            detail: jsonrpc::excerpt(message),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_credentials_are_left_out() {
        assert_eq!(proxy_display("http://user:pa%40ss@proxy.corp:3128/"), "http://proxy.corp:3128");
        assert_eq!(proxy_display("proxy.corp:8080"), "http://proxy.corp:8080");
        assert_eq!(
            without_proxy_credentials("via http://user:pa%40ss@proxy.corp:3128/ and socks5h://u@h:1 done"),
            "via http://[redacted]@proxy.corp:3128/ and socks5h://[redacted]@h:1 done"
        );
        assert_eq!(
            without_proxy_credentials("https://host/mcp, user@example.com"),
            "https://host/mcp, user@example.com"
        );
        assert_eq!(percent_decoded("pa%40ss%zz"), "pa@ss%zz");
    }

    #[test]
    fn tls_and_proxy_failures_say_what_to_do() {
        let detail = tls_or_proxy_failure("client error (Connect): invalid peer certificate: UnknownIssuer", None)
            .expect("a TLS failure");
        assert!(detail.starts_with(UNTRUSTED_CERTIFICATE) && detail.contains("update-ca-certificates"), "{detail}");
        let detail =
            tls_or_proxy_failure("tunnel error: proxy authorization required", Some("HTTPS_PROXY (http://p:1)"))
                .expect("a proxy failure");
        assert!(detail.contains("HTTPS_PROXY (http://p:1)") && detail.contains("407"), "{detail}");
        let detail = tls_or_proxy_failure("invalid peer certificate: NotValidForName", None).expect("a TLS failure");
        assert!(detail.starts_with(UNTRUSTED_CERTIFICATE) && detail.contains("host name"), "{detail}");
        assert!(tls_or_proxy_failure("tcp connect error: Connection refused", None).is_none());
    }

    #[test]
    fn loopback_endpoints_are_never_proxied() {
        for endpoint in ["http://127.0.0.1:1/mcp", "https://localhost:1/mcp", "https://[::1]:1/mcp"] {
            assert_eq!(proxy_in_use(&Endpoint::parse(endpoint, false).unwrap()), None, "{endpoint}");
        }
    }
}
