//! Trust boundaries, against the real binary: code runs only when the user
//! asks, only files the user has open or keeps in a workspace folder run,
//! the key never travels in clear text to another machine, and the local
//! sandbox listens on loopback unless told otherwise.

use std::time::Duration;

use crate::common::inside::Beacon;
use crate::common::local_server::LocalServer;
use crate::common::lsp::*;
use serde_json::json;

/// Code that says `mark` to the beacon when it runs (its files are not the
/// test's to look at: in namespaces, not even its /tmp).
fn marking_code(beacon: &Beacon, mark: &str) -> String {
    format!("# %% cell\n{}\n", beacon.send(&format!("{mark:?}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_runs_only_on_an_explicit_command() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let beacon = Beacon::start();
    let path = root.join("nb.py");
    let text = marking_code(&beacon, "ran");
    std::fs::write(&path, &text).unwrap();
    let client = LspClient::binary(&[("AZURE_SANDBOX_CACHE_DIR", cache.path().to_str().unwrap())]);
    client.initialize(&root, json!({"backend": "local"}), rich_capabilities()).await;
    let uri = file_uri(&path);
    // Everything an editor does to a file without the user asking for a run.
    client.open(&uri, &text).await;
    client
        .notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": format!("{text}\n")}]}),
        )
        .await;
    client.notify("textDocument/didSave", json!({"textDocument": {"uri": uri}, "text": text})).await;
    client
        .notify("workspace/didChangeConfiguration", json!({"settings": {"azureSandbox": {"backend": "local"}}}))
        .await;
    let position = json!({"line": 2, "character": 3});
    client.code_lenses(&uri).await;
    client.result("textDocument/hover", json!({"textDocument": {"uri": uri}, "position": position})).await;
    client
        .result(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": {"start": position, "end": position}, "context": {"diagnostics": []}}),
        )
        .await;
    client
        .result(
            "textDocument/inlayHint",
            json!({"textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 9, "character": 0}}}),
        )
        .await;
    client.result("azureSandbox/output", json!({"uri": uri})).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(beacon.messages().is_empty(), "code ran without a command");
    assert!(client.messages(0, "window/workDoneProgress/create").is_empty(), "a run started without a command");
    // The explicit command runs it.
    client
        .run_and_wait("azureSandbox.runCell", json!([{"uri": uri, "position": {"line": 0, "character": 0}}]), &uri)
        .await;
    assert_eq!(beacon.next_after(0, std::time::Duration::from_secs(10)).await.as_deref(), Some("ran"));
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_lines_by_path_runs_open_files_anywhere_but_closed_ones_only_inside_the_workspace() {
    let workspace = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let root = workspace.path().canonicalize().unwrap();
    let outside = elsewhere.path().canonicalize().unwrap();
    let beacon = Beacon::start();
    let open_path = outside.join("open.py");
    let closed_path = outside.join("closed.py");
    std::fs::write(&open_path, marking_code(&beacon, "open")).unwrap();
    std::fs::write(&closed_path, marking_code(&beacon, "closed")).unwrap();
    let client = LspClient::binary(&[("AZURE_SANDBOX_CACHE_DIR", cache.path().to_str().unwrap())]);
    client.initialize(&root, json!({"backend": "local"}), json!({})).await;
    let open_uri = file_uri(&open_path);
    client.open(&open_uri, &marking_code(&beacon, "open")).await;
    // Open in the editor, outside the workspace: the user is looking at it.
    client.run_and_wait("azureSandbox.runLines", json!([open_path.display().to_string(), 2, 3]), &open_uri).await;
    assert_eq!(beacon.next_after(0, std::time::Duration::from_secs(10)).await.as_deref(), Some("open"));
    // Neither open nor in the workspace: refused, and nothing ran.
    let refused = client
        .request(
            "workspace/executeCommand",
            json!({"command": "azureSandbox.runLines", "arguments": [closed_path.display().to_string(), 2, 3]}),
        )
        .await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    assert!(
        refused["error"]["message"].as_str().unwrap().contains("neither open in the editor nor inside a workspace")
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(beacon.messages(), ["open"], "the closed file did not run");
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_is_never_sent_in_clear_text_to_another_machine() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let path = root.join("nb.py");
    std::fs::write(&path, "1 + 1\n").unwrap();
    // 192.0.2.0/24 is reserved for documentation: nothing answers there, so
    // a client that tried to connect would wait out its connect timeout.
    let client = LspClient::binary(&[
        ("AZURE_SANDBOX_CACHE_DIR", cache.path().to_str().unwrap()),
        ("AZURE_SANDBOX_MCP_ENDPOINT", "http://192.0.2.10/mcp"),
        ("AZURE_SANDBOX_API_KEY", "trust-test-key-0123456789"),
    ]);
    client.initialize(&root, json!({}), json!({})).await;
    let uri = file_uri(&path);
    client.open(&uri, "1 + 1\n").await;
    let mark = client.mark();
    let started = std::time::Instant::now();
    client.run_and_wait("azureSandbox.runLines", json!([uri, 1, 1]), &uri).await;
    let error = client.wait_after(mark, "the refusal", |m| m["method"] == "window/showMessage").await;
    let message = error["params"]["message"].as_str().unwrap();
    assert!(message.contains("refusing plain http:// to 192.0.2.10"), "{message}");
    assert!(message.contains("AZURE_SANDBOX_ALLOW_INSECURE_HTTP"), "says how to allow it: {message}");
    assert!(started.elapsed() < Duration::from_secs(5), "refused before any connection attempt");
    client.shutdown().await;
}

#[test]
fn serve_local_listens_on_loopback_unless_told_otherwise() {
    let logs = tempfile::tempdir().unwrap();
    let server = LocalServer::start(&[], "trust-test-key-0123456789", &logs.path().join("log"));
    assert!(server.endpoint.starts_with("http://127.0.0.1:"), "{}", server.endpoint);
}
