//! The local sandbox's HTTP and JSON-RPC surface, over real loopback HTTP.

use crate::common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn tutorial_initialize_without_params_or_accept() {
    let sandbox = sandbox(config()).await;
    let body = r#"{ "jsonrpc": "2.0", "id": "1", "method": "initialize" }"#;
    let (status, content_type, text) = post_raw(sandbox.endpoint(), Some(sandbox.api_key().expose()), body, None).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("application/json"));
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reply["id"], json!("1"), "string ids are echoed verbatim");
    assert_eq!(reply["result"]["protocolVersion"], "2025-03-26");
    assert_eq!(reply["result"]["capabilities"]["tools"], json!({"call": true, "list": true}));
    let name = reply["result"]["serverInfo"]["name"].as_str().unwrap();
    assert!(name.contains("azure-sandbox-lsp") && !name.contains("Microsoft"));
    assert!(reply["result"]["serverInfo"]["version"].is_string());
}

#[tokio::test]
async fn standard_client_headers_and_full_params_are_accepted() {
    let sandbox = sandbox(config()).await;
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}});
    let (status, _, text) = post_raw(
        sandbox.endpoint(),
        Some(sandbox.api_key().expose()),
        &body.to_string(),
        Some("application/json, text/event-stream"),
    )
    .await;
    assert_eq!(status, 200);
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reply["id"], json!(7));
    assert_eq!(reply["result"]["protocolVersion"], "2025-03-26");
}

#[tokio::test]
async fn key_is_required_and_checked() {
    let sandbox = sandbox(config()).await;
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    for key in [None, Some("wrong"), Some("")] {
        let (status, _, text) = post_raw(sandbox.endpoint(), key, body, None).await;
        assert_eq!(status, 401, "key {key:?}");
        let reply: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(reply["error"]["code"], -32001);
        assert!(!text.contains(sandbox.api_key().expose()));
    }
    let (status, _, _) = post_raw(sandbox.endpoint(), Some(sandbox.api_key().expose()), body, None).await;
    assert_eq!(status, 200);
    // A key that differs only in its last character is still wrong.
    let mut near = sandbox.api_key().expose().to_owned();
    let last = near.pop().unwrap();
    near.push(if last == 'a' { 'b' } else { 'a' });
    assert_eq!(post_raw(sandbox.endpoint(), Some(&near), body, None).await.0, 401);
}

#[tokio::test]
async fn json_rpc_errors_and_statuses() {
    let sandbox = sandbox(config()).await;
    let key = Some(sandbox.api_key().expose());
    let endpoint = sandbox.endpoint();
    // Unparsable body: 400 with -32700.
    let (status, _, text) = post_raw(endpoint, key, "{not json", None).await;
    assert_eq!(status, 400);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["error"]["code"], -32700);
    // Invalid request: 400 with -32600.
    for body in [
        r#"[]"#,
        r#"42"#,
        r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
    ] {
        let (status, _, text) = post_raw(endpoint, key, body, None).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["error"]["code"], -32600, "{body}");
    }
    // Unknown method: -32601.
    let reply = call(&sandbox, 3, "resources/list", json!({})).await;
    assert_eq!(reply["error"]["code"], -32601);
    // Bad params: -32602.
    let reply = call(&sandbox, 4, "tools/call", json!({"arguments": {}})).await;
    assert_eq!(reply["error"]["code"], -32602);
    let reply = call(&sandbox, 5, "tools/call", json!({"name": "noSuchTool"})).await;
    assert_eq!(reply["error"]["code"], -32602);
    assert!(reply["error"]["message"].as_str().unwrap().contains("Unknown tool"));
    let reply = call(
        &sandbox,
        6,
        "tools/call",
        json!({"name": "runPythonCodeInRemoteEnvironment", "arguments": {"environmentId": 5}}),
    )
    .await;
    assert_eq!(reply["error"]["code"], -32602);
    // Unknown environment: the service's "not found" error.
    let reply = run_python(&sandbox, "no-such-environment", "1").await;
    assert_eq!(reply["error"]["code"], -32602);
    assert!(reply["error"]["message"].as_str().unwrap().contains("Environment not found"));
    // ping.
    assert_eq!(call(&sandbox, 7, "ping", Value::Null).await["result"], json!({}));
}

#[tokio::test]
async fn notifications_get_202_and_get_delete_get_405() {
    let sandbox = sandbox(config()).await;
    let key = sandbox.api_key().expose().to_owned();
    for body in [
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9}}"#,
    ] {
        let (status, _, text) = post_raw(sandbox.endpoint(), Some(&key), body, None).await;
        assert_eq!((status, text.as_str()), (202, ""));
    }
    let http = reqwest::Client::new();
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let response =
            http.request(method.clone(), sandbox.endpoint()).header("x-ms-apikey", &key).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 405, "{method}");
        // Without the key, even these are refused.
        let response = http.request(method, sandbox.endpoint()).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401);
    }
}

#[tokio::test]
async fn batches_answer_requests_only() {
    let sandbox = sandbox(config()).await;
    let body = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":2,"method":"nope"}]"#;
    let (status, _, text) = post_raw(sandbox.endpoint(), Some(sandbox.api_key().expose()), body, None).await;
    assert_eq!(status, 200);
    let replies: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0]["result"], json!({}));
    assert_eq!(replies[1]["error"]["code"], -32601);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let sandbox = sandbox(azure_sandbox_lsp::sandbox::SandboxConfig { max_request_bytes: 64 * 1024, ..config() }).await;
    let code = "x = 1\n".repeat(20_000);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "runPythonCodeInRemoteEnvironment", "arguments": {"environmentId": "e", "pythonCode": code}}});
    let (status, _, _) = post_raw(sandbox.endpoint(), Some(sandbox.api_key().expose()), &body.to_string(), None).await;
    assert_eq!(status, 413);
    // The server keeps serving.
    assert_eq!(call(&sandbox, 2, "ping", json!({})).await["result"], json!({}));
}

#[tokio::test]
async fn cross_origin_browser_requests_are_refused() {
    let sandbox = sandbox(config()).await;
    let http = reqwest::Client::new();
    let response = http
        .post(sandbox.endpoint())
        .header("x-ms-apikey", sandbox.api_key().expose())
        .header("origin", "https://evil.example")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
}

#[tokio::test]
async fn tool_results_mirror_structured_content_as_text() {
    let sandbox = sandbox(config()).await;
    let tools = call(&sandbox, 1, "tools/list", json!({})).await;
    let names: Vec<&str> =
        tools["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    for name in [
        "launchShell",
        "launchPythonEnvironment",
        "runPythonCodeInRemoteEnvironment",
        "runShellCommandInRemoteEnvironment",
    ] {
        assert!(names.contains(&name), "{name} listed");
    }
    let environment = launch(&sandbox).await;
    assert_eq!(environment.len(), 36, "UUID-shaped id");
    let reply = run_python(&sandbox, &environment, "print('hi')\n6 * 7").await;
    let result = &reply["result"];
    assert_eq!(result["isError"], false);
    let mirrored: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(&mirrored, content(&reply));
    assert_eq!(content(&reply)["stdout"], "hi\n");
    assert_eq!(content(&reply)["executionResult"], "42");
    assert_eq!(content(&reply)["status"], "Succeeded");
    assert!(content(&reply)["executionTimeInMilliseconds"].is_u64());
    let reply = run_python(&sandbox, &environment, "1/0").await;
    assert_eq!(reply["result"]["isError"], true);
    assert_eq!(content(&reply)["status"], "Failed");
    assert!(content(&reply)["stderr"].as_str().unwrap().contains("ZeroDivisionError: division by zero"));
}

/// The tutorials' own commands, run with curl and jq exactly as written.
#[tokio::test]
async fn tutorial_curl_commands_work_as_written() {
    if std::process::Command::new("curl").arg("--version").output().is_err()
        || std::process::Command::new("jq").arg("--version").output().is_err()
    {
        panic!("curl and jq are needed for this test: scripts/test.sh installs them");
    }
    let sandbox = sandbox(config()).await;
    let script = r#"
set -e
curl -sS -X POST "$MCP_ENDPOINT" \
  -H "Content-Type: application/json" \
  -H "x-ms-apikey: $API_KEY" \
  -d '{ "jsonrpc": "2.0", "id": "1", "method": "initialize" }' | jq -r '.result.protocolVersion'
ENVIRONMENT_RESPONSE=$(curl -sS -X POST "$MCP_ENDPOINT" \
    -H "Content-Type: application/json" \
    -H "x-ms-apikey: $API_KEY" \
    -d '{ "jsonrpc": "2.0", "id": "2", "method": "tools/call", "params": { "name": "launchPythonEnvironment", "arguments": {} } }')
ENVIRONMENT_ID=$(echo $ENVIRONMENT_RESPONSE | jq -r '.result.structuredContent.environmentId')
curl -sS -X POST "$MCP_ENDPOINT" \
    -H "Content-Type: application/json" \
    -H "x-ms-apikey: $API_KEY" \
    -d '{
        "jsonrpc": "2.0",
        "id": "4",
        "method": "tools/call",
        "params": {
            "name": "runPythonCodeInRemoteEnvironment",
            "arguments": {
                "environmentId": "'"$ENVIRONMENT_ID"'",
                "pythonCode": "import math\nresults = {n: math.factorial(n) for n in range(1, 11)}\nfor k, v in results.items():\n    print(f\"{k}! = {v}\")"
            }
        }
    }' | jq -r '.result.structuredContent.stdout'
"#;
    let endpoint = sandbox.endpoint().to_owned();
    let key = sandbox.api_key().expose().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(script)
            .env("MCP_ENDPOINT", endpoint)
            .env("API_KEY", key)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("2025-03-26\n"), "{stdout}");
    assert!(stdout.contains("1! = 1\n") && stdout.contains("10! = 3628800\n"), "{stdout}");
}
