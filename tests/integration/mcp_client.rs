//! The MCP client against the real local sandbox in each of its modes.

use crate::common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::common::*;
use azure_sandbox_lsp::mcp::{ClientOptions, EnvironmentId, McpClient, McpError, ShellCommand};
use azure_sandbox_lsp::sandbox::{Launchers, ResponseMode, SandboxConfig};
use azure_sandbox_lsp::secret::ApiKey;

async fn exercise(client: &McpClient) {
    let info = client.server_info().await.unwrap();
    assert_eq!(info.protocol_version, "2025-03-26");
    assert!(client.list_tools().await.unwrap().contains(&"runPythonCodeInRemoteEnvironment".to_owned()));
    let env = client.launch().await.unwrap();
    let out = client.run_python(&env, "import sys\nprint('a')\nprint('b', file=sys.stderr)\n2 ** 10").await.unwrap();
    assert_eq!(out.stdout, "a\n");
    assert_eq!(out.stderr.as_deref(), Some("b\n"));
    assert_eq!(out.execution_result, Some(serde_json::json!("1024")));
    assert!(!out.failed());
    let shell = client.run_shell(&env, &ShellCommand::Line("echo $((6*7))".into())).await.unwrap();
    assert_eq!((shell.stdout.as_str(), shell.exit_code), ("42\n", Some(0)));
    client.ping().await.unwrap();
}

#[tokio::test]
async fn works_with_plain_json_replies() {
    let sandbox = sandbox(config()).await;
    exercise(&client(&sandbox)).await;
}

#[tokio::test]
async fn works_with_sse_replies() {
    let sandbox = sandbox(SandboxConfig { response_mode: ResponseMode::Sse, ..config() }).await;
    // Prove the server really answers with SSE to a client that accepts it.
    let (_, content_type, body) = post_raw(
        sandbox.endpoint(),
        Some(sandbox.api_key().expose()),
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        Some("application/json, text/event-stream"),
    )
    .await;
    assert!(
        content_type.starts_with("text/event-stream") && body.starts_with("event: message\ndata: "),
        "{content_type} {body}"
    );
    exercise(&client(&sandbox)).await;
}

#[tokio::test]
async fn keeps_and_resends_the_session_id_and_reinitializes_when_it_expires() {
    let first = sandbox(SandboxConfig { require_session: true, ..config() }).await;
    let key = first.api_key().clone();
    let client = client(&first);
    exercise(&client).await; // every call after initialize needs the session header
    // A server that does not know our session answers 404; the client must
    // initialize again and carry on. Restart the server on the same port.
    let endpoint = first.endpoint().to_owned();
    let port: u16 = endpoint.rsplit(':').next().unwrap().trim_end_matches("/mcp").parse().unwrap();
    first.shutdown().await;
    let second = azure_sandbox_lsp::sandbox::LocalSandbox::start(
        SandboxConfig { require_session: true, port, ..config() },
        Some(key),
    )
    .await
    .unwrap();
    assert_eq!(second.endpoint(), endpoint);
    let env = client.launch().await.unwrap();
    assert_eq!(client.run_python(&env, "1 + 1").await.unwrap().execution_result, Some(serde_json::json!("2")));
}

#[tokio::test]
async fn picks_whichever_launcher_is_listed() {
    for launchers in [Launchers::ShellOnly, Launchers::PythonOnly, Launchers::Both] {
        let sandbox = sandbox(SandboxConfig { launchers, ..config() }).await;
        let client = client(&sandbox);
        let env = client.launch().await.unwrap();
        assert_eq!(client.run_python(&env, "'ok'").await.unwrap().execution_result, Some(serde_json::json!("'ok'")));
    }
}

#[tokio::test]
async fn wrong_key_is_unauthorized_and_never_echoed() {
    let sandbox = sandbox(config()).await;
    let wrong = ApiKey::new("sentinel-wrong-key-0123456789").unwrap();
    let client = McpClient::new(sandbox.endpoint(), Some(wrong.clone()), ClientOptions::default()).unwrap();
    let error = client.launch().await.unwrap_err();
    assert!(matches!(error, McpError::Unauthorized { .. }), "{error:?}");
    let text = format!("{error} {error:?} {client:?}");
    assert!(!text.contains(wrong.expose()), "{text}");
    assert!(error.to_string().contains("AZURE_SANDBOX_API_KEY"));
}

#[tokio::test]
async fn dead_endpoint_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client =
        McpClient::new(&format!("http://127.0.0.1:{port}/mcp"), Some(ApiKey::generate()), ClientOptions::default())
            .unwrap();
    let error = client.launch().await.unwrap_err();
    assert!(matches!(error, McpError::Unreachable { .. }), "{error:?}");
    assert!(error.to_string().contains(&format!("127.0.0.1:{port}")));
}

#[test]
fn refuses_clear_text_keys_to_remote_hosts_and_remote_endpoints_without_a_key() {
    let key = Some(ApiKey::generate());
    let error = McpClient::new("http://pool.example.com/mcp", key.clone(), ClientOptions::default()).unwrap_err();
    assert!(error.to_string().contains("clear text"), "{error}");
    let allowed = ClientOptions { allow_insecure_http: true, ..ClientOptions::default() };
    assert!(McpClient::new("http://pool.example.com/mcp", key, allowed).is_ok());
    let error = McpClient::new("https://pool.example.com/mcp", None, ClientOptions::default()).unwrap_err();
    assert_eq!(error, McpError::MissingKey);
}

#[tokio::test]
async fn unknown_environment_is_a_typed_error() {
    let sandbox = sandbox(config()).await;
    let client = client(&sandbox);
    let error = client.run_python(&EnvironmentId("gone-123".into()), "1").await.unwrap_err();
    match error {
        McpError::EnvironmentNotFound { environment_id, .. } => assert_eq!(environment_id, "gone-123"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn full_pool_is_a_typed_error() {
    let sandbox = sandbox(SandboxConfig { max_environments: 1, ..config() }).await;
    let client = client(&sandbox);
    let first = client.launch().await.unwrap();
    client.run_python(&first, "1").await.unwrap();
    let second = client.launch().await.unwrap();
    let error = client.run_python(&second, "1").await.unwrap_err();
    assert!(matches!(error, McpError::PoolFull { .. }), "{error:?}");
}

#[tokio::test]
async fn timeout_cancels_remotely_and_frees_the_environment() {
    let sandbox = sandbox(config()).await;
    let options = ClientOptions { run_timeout: Duration::from_millis(500), ..ClientOptions::default() };
    let client = client_with(&sandbox, options);
    let env = client.launch().await.unwrap();
    let error = client.run_python(&env, "import time\ntime.sleep(20)").await.unwrap_err();
    assert!(matches!(error, McpError::Timeout { .. }), "{error:?}");
    // notifications/cancelled reaches the server, which interrupts the run,
    // so the environment answers again long before the 20 s sleep ends.
    let started = Instant::now();
    let out = common::client(&sandbox).run_python(&env, "'free'").await.unwrap();
    assert_eq!(out.execution_result, Some(serde_json::json!("'free'")));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(sandbox.stats().cancellations.load(Ordering::Relaxed) >= 1);
}

#[tokio::test]
async fn concurrent_first_calls_initialize_once_and_all_succeed() {
    let sandbox = sandbox(config()).await;
    let client = client(&sandbox);
    let env = client.launch().await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (client, env) = (client.clone(), env.clone());
            tokio::spawn(async move { client.run_python(&env, &format!("{i} * 2")).await.unwrap().execution_result })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap(), Some(serde_json::json!((i * 2).to_string())));
    }
}

#[tokio::test]
async fn an_abandoned_run_is_cancelled_remotely() {
    let sandbox = sandbox(config()).await;
    let client = client(&sandbox);
    let env = client.launch().await.unwrap();
    let running = {
        let (client, env) = (client.clone(), env.clone());
        tokio::spawn(async move { client.run_python(&env, "import time\ntime.sleep(20)").await })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    running.abort(); // the caller gives up: dropping the call must cancel it
    let started = Instant::now();
    let out = client.run_python(&env, "'free'").await.unwrap();
    assert_eq!(out.execution_result, Some(serde_json::json!("'free'")));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(sandbox.stats().cancellations.load(Ordering::Relaxed), 1);
}
