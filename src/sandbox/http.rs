//! The local sandbox's MCP endpoint: JSON-RPC 2.0 over HTTP POST at `/mcp`,
//! as lenient as the Azure service (tutorial `curl` requests with no params
//! and no `Accept` header work) and as strict about the key; and the loop
//! that serves its connections.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};

use super::config::{Launchers, ResponseMode, SandboxConfig};
use super::pool::{Pool, PoolError, ShellRequest};
use crate::secret::ApiKey;

pub const PROTOCOL_VERSION: &str = "2025-03-26";
const SESSION_HEADER: &str = "mcp-session-id";
/// The service's hard cap on one execution.
pub const MAX_EXECUTION: Duration = Duration::from_secs(220);

pub struct AppState {
    pub config: Arc<SandboxConfig>,
    pub key: ApiKey,
    pub pool: Arc<Pool>,
    sessions: Mutex<HashSet<String>>,
    pub stats: Stats,
}

/// Counters a test or an operator can read.
#[derive(Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub cancellations: AtomicU64,
    pub unauthorized: AtomicU64,
}

impl AppState {
    pub fn new(config: Arc<SandboxConfig>, key: ApiKey, pool: Arc<Pool>) -> Self {
        Self { config, key, pool, sessions: Mutex::default(), stats: Stats::default() }
    }
}

/// Serves `app` on `listener` until `stop` fires, then lets the open
/// connections finish what they are doing. A connection that has not sent a
/// whole request head within `header_timeout` is closed: `axum::serve`
/// keeps a stalled client's connection (and its descriptor) for ever.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    header_timeout: Duration,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let (closing, closed) = tokio::sync::watch::channel(false);
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, say: wait for some to close rather
                    // than spin (as axum::serve does).
                    if !matches!(e.kind(), std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset) {
                        tracing::error!("the local sandbox cannot accept a connection: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let mut closed = closed.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                // Stopping (or the server gone): finish the request in
                // progress, take no other.
                _ = async { closed.wait_for(|closing| *closing).await.map(|_| ()) } => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
    let _ = closing.send(true);
}

pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_request_bytes;
    Router::new()
        .route("/mcp", post(handle_post).get(method_not_allowed).delete(method_not_allowed))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

fn rpc_error(id: Value, code: i64, message: impl Into<String>) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}})
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// Checks the key (and a browser Origin, against DNS rebinding).
fn refuse(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        let host = url::Url::parse(origin).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
        let local = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if !local && origin != "null" {
            return Some(json_response(
                StatusCode::FORBIDDEN,
                &rpc_error(Value::Null, -32001, "Forbidden: cross-origin request"),
            ));
        }
    }
    let presented = headers.get("x-ms-apikey").map(HeaderValue::as_bytes).unwrap_or_default();
    if !state.key.matches(presented) {
        state.stats.unauthorized.fetch_add(1, Ordering::Relaxed);
        let why = if presented.is_empty() { "missing x-ms-apikey header" } else { "invalid x-ms-apikey" };
        return Some(json_response(
            StatusCode::UNAUTHORIZED,
            &rpc_error(Value::Null, -32001, format!("Unauthorized: {why}")),
        ));
    }
    None
}

async fn method_not_allowed(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(refusal) = refuse(&state, &headers) {
        return refusal;
    }
    (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")], "").into_response()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found: the MCP endpoint is POST /mcp\n").into_response()
}

async fn handle_post(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    state.stats.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(refusal) = refuse(&state, &headers) {
        return refusal;
    }
    let message: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &rpc_error(Value::Null, -32700, format!("Parse error: {e}")),
            );
        }
    };
    let is_initialize = message.get("method").and_then(Value::as_str) == Some("initialize");
    let mut new_session = None;
    if state.config.require_session {
        if is_initialize {
            new_session = Some(new_session_id());
        } else {
            match headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) {
                None => {
                    return json_response(
                        StatusCode::BAD_REQUEST,
                        &rpc_error(Value::Null, -32600, "Bad Request: Mcp-Session-Id header is required"),
                    );
                }
                Some(id) if !state.sessions.lock().unwrap_or_else(|e| e.into_inner()).contains(id) => {
                    return json_response(StatusCode::NOT_FOUND, &rpc_error(Value::Null, -32600, "Session not found"));
                }
                Some(_) => {}
            }
        }
    }
    let replies = match message {
        Value::Array(batch) if batch.is_empty() => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &rpc_error(Value::Null, -32600, "Invalid Request: empty batch"),
            );
        }
        Value::Array(batch) => {
            let mut replies = Vec::new();
            for item in batch {
                if let Some(reply) = handle_message(&state, item).await {
                    replies.push(reply);
                }
            }
            (!replies.is_empty()).then_some(Value::Array(replies))
        }
        single => handle_message(&state, single).await,
    };
    let Some(reply) = replies else {
        return StatusCode::ACCEPTED.into_response();
    };
    if reply.get("error").and_then(|e| e.get("code")).and_then(Value::as_i64) == Some(-32600)
        && reply.get("id") == Some(&Value::Null)
    {
        return json_response(StatusCode::BAD_REQUEST, &reply);
    }
    let mut response = if state.config.response_mode == ResponseMode::Sse && accepts_sse(&headers) {
        let body = format!("event: message\ndata: {reply}\n\n");
        (StatusCode::OK, [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], body)
            .into_response()
    } else {
        json_response(StatusCode::OK, &reply)
    };
    if let Some(id) = new_session {
        if reply.get("result").is_some() {
            state.sessions.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone());
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(SESSION_HEADER, value);
            }
        }
    }
    response
}

fn accepts_sse(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().any(|v| v.to_str().is_ok_and(|s| s.contains("text/event-stream")))
}

/// One JSON-RPC message; `None` for notifications and client responses.
async fn handle_message(state: &Arc<AppState>, message: Value) -> Option<Value> {
    let Value::Object(object) = message else {
        return Some(rpc_error(Value::Null, -32600, "Invalid Request: expected a JSON object"));
    };
    let id = object.get("id").cloned();
    let id_ok = matches!(id, None | Some(Value::String(_)) | Some(Value::Number(_)));
    let version_ok = object.get("jsonrpc").and_then(Value::as_str) == Some("2.0");
    let Some(method) = object.get("method").and_then(Value::as_str) else {
        if object.contains_key("result") || object.contains_key("error") {
            return None; // a response to a server request we never made
        }
        return Some(rpc_error(id.filter(|_| id_ok).unwrap_or(Value::Null), -32600, "Invalid Request: no method"));
    };
    if !version_ok || !id_ok {
        return Some(rpc_error(
            Value::Null,
            -32600,
            "Invalid Request: expected \"jsonrpc\": \"2.0\" and a string or number id",
        ));
    }
    let params = object.get("params").cloned().unwrap_or(Value::Null);
    let Some(id) = id else {
        handle_notification(state, method, &params);
        return None;
    };
    let outcome = match method {
        "initialize" => Ok(initialize_result()),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({"tools": tool_list(state.config.launchers)})),
        "tools/call" => call_tool(state, &id, &params).await,
        _ => Err((-32601, format!("Method not found: {method}"))),
    };
    Some(match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err((code, message)) => rpc_error(id, code, message),
    })
}

fn handle_notification(state: &AppState, method: &str, params: &Value) {
    if method == "notifications/cancelled" {
        state.stats.cancellations.fetch_add(1, Ordering::Relaxed);
        if let Some(request) = params.get("requestId").map(id_key) {
            state.pool.cancel_request(&request);
        }
    }
}

fn id_key(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn initialize_result() -> Value {
    json!({
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {"tools": {"call": true, "list": true}},
        "serverInfo": {"name": "azure-sandbox-lsp local sandbox", "version": env!("CARGO_PKG_VERSION")},
        "instructions": "A local stand-in for the Azure Container Apps dynamic-sessions MCP server. \
                         Launch an environment, then run Python or shell commands in it.",
    })
}

fn tool_list(launchers: Launchers) -> Value {
    let launch_schema = json!({"type": "object", "properties": {}});
    let mut tools = Vec::new();
    if launchers != Launchers::PythonOnly {
        tools.push(json!({"name": "launchShell", "description": "Creates a new environment and returns an environmentId", "inputSchema": launch_schema}));
    }
    if launchers != Launchers::ShellOnly {
        tools.push(json!({"name": "launchPythonEnvironment", "description": "Creates a new Python environment and returns an environmentId", "inputSchema": launch_schema}));
    }
    tools.extend([
        json!({"name": "runPythonCodeInRemoteEnvironment", "description": "Executes Python code in an existing environment",
         "inputSchema": {"type": "object", "properties": {
             "environmentId": {"type": "string"}, "pythonCode": {"type": "string"},
             "timeoutInSeconds": {"type": "integer", "minimum": 1, "maximum": 220}},
             "required": ["environmentId", "pythonCode"]}}),
        json!({"name": "runShellCommandInRemoteEnvironment", "description": "Executes a shell command in an existing environment",
         "inputSchema": {"type": "object", "properties": {
             "environmentId": {"type": "string"}, "shellCommand": {"type": "string"},
             "execCommandAndArgs": {"type": "array", "items": {"type": "string"}},
             "timeoutInSeconds": {"type": "integer", "minimum": 1, "maximum": 220}},
             "required": ["environmentId"]}})
    ]);
    Value::Array(tools)
}

type RpcResult = Result<Value, (i64, String)>;

async fn call_tool(state: &Arc<AppState>, id: &Value, params: &Value) -> RpcResult {
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return Err((-32602, "Invalid params: `name` (string) is required".into()));
    };
    let arguments = match params.get("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err((-32602, "Invalid params: `arguments` must be an object".into())),
    };
    match name {
        "launchShell" | "launchPythonEnvironment" => match state.pool.launch() {
            Ok(environment) => Ok(tool_result(json_map(json!({"environmentId": environment})), false)),
            Err(e) => Err(pool_error(e)),
        },
        "runPythonCodeInRemoteEnvironment" => {
            let environment = required_string(&arguments, "environmentId")?;
            let code = required_string(&arguments, "pythonCode")?;
            let limit = time_limit(&arguments, state.config.python_timeout)?;
            match state.pool.run_python(&environment, code, limit, Some(id_key(id))).await {
                Ok(content) => {
                    let failed = content.get("status").and_then(Value::as_str) == Some("Failed");
                    Ok(tool_result(content, failed))
                }
                Err(e) => Err(pool_error(e)),
            }
        }
        "runShellCommandInRemoteEnvironment" => {
            let environment = required_string(&arguments, "environmentId")?;
            let request = shell_request(&arguments)?;
            let limit = time_limit(&arguments, state.config.shell_timeout)?;
            match state.pool.run_shell(&environment, request, limit).await {
                Ok(content) => {
                    let failed = content.get("status").and_then(Value::as_str) == Some("Failed");
                    Ok(tool_result(content, failed))
                }
                Err(e) => Err(pool_error(e)),
            }
        }
        other => Err((-32602, format!("Unknown tool: {other}"))),
    }
}

fn pool_error(error: PoolError) -> (i64, String) {
    match error {
        PoolError::NotFound(_) => (-32602, error.to_string()),
        PoolError::Full { .. } => (-32000, error.to_string()),
        PoolError::Internal(_) => (-32603, format!("Internal error: {error}")),
    }
}

/// The result, with `structuredContent` mirrored as JSON text in `content`
/// (as the MCP spec advises) up to this size; past it the text says where
/// the data is instead of doubling a large output.
const MIRROR_LIMIT: usize = 1 << 20;

fn tool_result(structured: Map<String, Value>, is_error: bool) -> Value {
    let mut text = serde_json::to_string(&structured).unwrap_or_default();
    if text.len() > MIRROR_LIMIT {
        text = format!("{{\"note\": \"the result is {} bytes of JSON; read it from structuredContent\"}}", text.len());
    }
    json!({"content": [{"type": "text", "text": text}], "structuredContent": structured, "isError": is_error})
}

fn json_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn required_string(arguments: &Map<String, Value>, name: &str) -> Result<String, (i64, String)> {
    match arguments.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err((-32602, format!("Invalid params: `{name}` must be a string"))),
        None => Err((-32602, format!("Invalid params: `{name}` is required"))),
    }
}

fn time_limit(arguments: &Map<String, Value>, default: Duration) -> Result<Duration, (i64, String)> {
    match arguments.get("timeoutInSeconds") {
        None | Some(Value::Null) => Ok(default.min(MAX_EXECUTION)),
        Some(value) => match value.as_f64() {
            // Capped before the conversion: `from_secs_f64` panics past
            // u64::MAX seconds (1e308 took the handler down, unanswered).
            Some(seconds) if seconds > 0.0 && seconds.is_finite() => {
                Ok(Duration::from_secs_f64(seconds.min(MAX_EXECUTION.as_secs_f64())))
            }
            _ => Err((-32602, "Invalid params: `timeoutInSeconds` must be a positive number".into())),
        },
    }
}

fn shell_request(arguments: &Map<String, Value>) -> Result<ShellRequest, (i64, String)> {
    let argv = |items: &Vec<Value>| -> Result<ShellRequest, (i64, String)> {
        let argv: Option<Vec<String>> = items.iter().map(|v| v.as_str().map(str::to_owned)).collect();
        match argv {
            Some(argv) if !argv.is_empty() && !argv[0].is_empty() => Ok(ShellRequest::Argv(argv)),
            _ => Err((-32602, "Invalid params: `execCommandAndArgs` must be a non-empty array of strings".into())),
        }
    };
    match (arguments.get("shellCommand"), arguments.get("execCommandAndArgs"), arguments.get("command")) {
        (Some(Value::String(line)), None, _) if !line.trim().is_empty() => Ok(ShellRequest::Line(line.clone())),
        (None, Some(Value::Array(items)), _) => argv(items),
        // A third-party workshop uses `command`; accept it as an alias.
        (None, None, Some(Value::Array(items))) => argv(items),
        (None, None, Some(Value::String(line))) if !line.trim().is_empty() => Ok(ShellRequest::Line(line.clone())),
        (Some(_), Some(_), _) => Err((-32602, "Invalid params: give either `shellCommand` or `execCommandAndArgs`, not both".into())),
        _ => Err((
            -32602,
            "Invalid params: no command provided; at least one of `shellCommand` or `execCommandAndArgs` should be provided".into(),
        )),
    }
}

fn new_session_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
