//! Shared test helpers: a real local sandbox on 127.0.0.1 and clients for it.
#![allow(dead_code)]

pub mod fault_proxy;
pub mod inside;
pub mod json_paths;
pub mod local_server;
pub mod lsp;
pub mod management;

use std::time::Duration;

use azure_sandbox_lsp::mcp::{ClientOptions, McpClient};
use azure_sandbox_lsp::run::{Engine, Registry};
use azure_sandbox_lsp::sandbox::{IsolationMode, LocalSandbox, SandboxConfig};
use serde_json::{Value, json};

/// A sandbox with test-friendly defaults (its own temp root, no user
/// isolation), isolated as AZURE_SANDBOX_LOCAL_ISOLATION says, as the
/// binaries the tests start are: so one variable runs a suite again under
/// process isolation (scripts/test.sh does).
pub fn config() -> SandboxConfig {
    SandboxConfig { isolate_users: false, isolation: isolation_from_env(), ..SandboxConfig::default() }
}

/// AZURE_SANDBOX_LOCAL_ISOLATION (auto when unset).
pub fn isolation_from_env() -> IsolationMode {
    match std::env::var("AZURE_SANDBOX_LOCAL_ISOLATION") {
        Ok(value) if !value.trim().is_empty() => IsolationMode::parse(&value).expect("AZURE_SANDBOX_LOCAL_ISOLATION"),
        _ => IsolationMode::Auto,
    }
}

/// Whether a test that needs namespaces runs here: yes where bubblewrap
/// works. Where it does not, the test fails, unless
/// AZURE_SANDBOX_EXPECT_NAMESPACES=0 says this machine is not expected to
/// have them (then it is skipped, and says so). scripts/test.sh installs
/// bubblewrap and sets the variable to 1.
pub async fn namespaces_here(test: &str) -> bool {
    let probe = SandboxConfig { isolation: IsolationMode::Namespaces, spare_interpreter: false, ..config() };
    let why = match LocalSandbox::start(probe, None).await {
        Ok(sandbox) => {
            sandbox.shutdown().await;
            return true;
        }
        Err(e) => e.to_string(),
    };
    if std::env::var("AZURE_SANDBOX_EXPECT_NAMESPACES").is_ok_and(|v| v.trim() == "0") {
        eprintln!("{test}: skipped, no namespaces here (AZURE_SANDBOX_EXPECT_NAMESPACES=0): {why}");
        return false;
    }
    panic!(
        "{test} needs namespaces, and there are none: {why}. Install bubblewrap (apt-get install bubblewrap), \
         or set AZURE_SANDBOX_EXPECT_NAMESPACES=0 to skip the tests that need it"
    );
}

pub async fn sandbox(config: SandboxConfig) -> LocalSandbox {
    LocalSandbox::start(config, None).await.expect("local sandbox starts")
}

pub fn client(sandbox: &LocalSandbox) -> McpClient {
    McpClient::new(sandbox.endpoint(), Some(sandbox.api_key().clone()), ClientOptions::default()).expect("client")
}

pub fn client_with(sandbox: &LocalSandbox, options: ClientOptions) -> McpClient {
    McpClient::new(sandbox.endpoint(), Some(sandbox.api_key().clone()), options).expect("client")
}

pub fn engine(sandbox: &LocalSandbox) -> Engine {
    Engine::new(client(sandbox), std::sync::Arc::new(Registry::in_memory()))
}

/// A raw JSON-RPC POST; returns (status, content-type, body text).
pub async fn post_raw(endpoint: &str, key: Option<&str>, body: &str, accept: Option<&str>) -> (u16, String, String) {
    let http = reqwest::Client::new();
    let mut request = http.post(endpoint).header("content-type", "application/json").body(body.to_owned());
    if let Some(key) = key {
        request = request.header("x-ms-apikey", key);
    }
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (status, content_type, response.text().await.unwrap_or_default())
}

pub async fn call(sandbox: &LocalSandbox, id: u64, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
    let (status, _, text) = post_raw(sandbox.endpoint(), Some(sandbox.api_key().expose()), &body, None).await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).expect("JSON reply")
}

pub async fn launch(sandbox: &LocalSandbox) -> String {
    let reply = call(sandbox, 1, "tools/call", json!({"name": "launchShell", "arguments": {}})).await;
    reply["result"]["structuredContent"]["environmentId"].as_str().expect("environment id").to_owned()
}

pub async fn run_python(sandbox: &LocalSandbox, environment: &str, code: &str) -> Value {
    call(
        sandbox,
        2,
        "tools/call",
        json!({"name": "runPythonCodeInRemoteEnvironment", "arguments": {"environmentId": environment, "pythonCode": code}}),
    )
    .await
}

/// `runShellCommandInRemoteEnvironment` with `arguments` (`shellCommand`,
/// `execCommandAndArgs`, `timeoutInSeconds`, …) in `environment`.
pub async fn run_shell(sandbox: &LocalSandbox, environment: &str, arguments: Value) -> Value {
    let mut arguments = arguments;
    arguments["environmentId"] = json!(environment);
    call(sandbox, 3, "tools/call", json!({"name": "runShellCommandInRemoteEnvironment", "arguments": arguments})).await
}

/// structuredContent of a successful tools/call reply.
pub fn content(reply: &Value) -> &Value {
    &reply["result"]["structuredContent"]
}

pub const SECOND: Duration = Duration::from_secs(1);

/// Held by the suites that load the whole machine (fault injection, load,
/// malformed-input storms): each runs alone, as it did in a binary of its
/// own, so that its time bounds keep their meaning.
static MACHINE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

pub async fn alone() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    MACHINE.write().await
}

/// Held by tests that may run beside each other, but not beside a suite
/// that runs [`alone`].
pub async fn beside_each_other() -> tokio::sync::RwLockReadGuard<'static, ()> {
    MACHINE.read().await
}

/// An interpreter with matplotlib, pandas and Pillow, as the Azure pool's
/// PythonLTS image has: scripts/figures-python.sh makes it once (a virtual
/// environment from the package registry) and prints its path.
pub fn figures_python() -> std::path::PathBuf {
    static PYTHON: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/figures-python.sh");
            let output = std::process::Command::new("bash").arg(script).output().expect("figures-python.sh runs");
            assert!(output.status.success(), "figures-python.sh: {}", String::from_utf8_lossy(&output.stderr));
            std::path::PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
        })
        .clone()
}
