//! `azureSandbox/runFinished`: every job a command queues ends with exactly
//! one, typed, however it ends; and the failures a user must act on
//! differently arrive as different error kinds.

use std::time::Duration;

use crate::common::lsp::*;
use azure_sandbox_lsp::sandbox::{LocalSandbox, SandboxConfig};
use serde_json::{Value, json};

fn at(uri: &str, line: u32) -> Value {
    json!({"uri": uri, "position": {"line": line, "character": 0}})
}

async fn command(client: &LspClient, name: &str, arguments: Value) -> Value {
    client.result("workspace/executeCommand", json!({"command": name, "arguments": arguments})).await
}

/// The id a command's answer carries (`runId` for runs, `jobId` otherwise).
fn job_id(accepted: &Value) -> u64 {
    accepted["runId"].as_u64().or_else(|| accepted["jobId"].as_u64()).unwrap_or_else(|| panic!("{accepted}"))
}

/// The `runFinished` for job `id`, after `mark`.
async fn finished(client: &LspClient, mark: usize, id: u64) -> Value {
    let message = client
        .wait_after(mark, &format!("runFinished for job {id}"), |m| {
            m["method"] == "azureSandbox/runFinished" && m["params"]["runId"] == id
        })
        .await;
    message["params"].clone()
}

struct Workspace {
    client: LspClient,
    dir: tempfile::TempDir,
    uri: String,
}

async fn workspace(text: &str, options: Value) -> Workspace {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let path = root.join("main.py");
    std::fs::write(&path, text).unwrap();
    let client = LspClient::in_process();
    client.initialize(&root, options, rich_capabilities()).await;
    let uri = file_uri(&path);
    client.open(&uri, text).await;
    Workspace { client, dir, uri }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_job_ends_with_exactly_one_typed_run_finished() {
    let text = "# %%\nvalue = 6 * 7\nvalue\n# %%\n1 / 0\n# %%\nimport time\ntime.sleep(30)\n";
    let w = workspace(text, json!({"backend": "local"})).await;
    let c = &w.client;
    let mark = c.mark();

    let ok = job_id(&command(c, "azureSandbox.runCell", json!([at(&w.uri, 1)])).await);
    let done = finished(c, mark, ok).await;
    assert_eq!((done["kind"].as_str(), done["status"].as_str()), (Some("python"), Some("succeeded")), "{done}");
    assert_eq!((done["firstLine"].as_u64(), done["lastLine"].as_u64()), (Some(1), Some(2)));
    assert!(done["durationMs"].is_u64() && done["uri"] == w.uri.as_str(), "{done}");
    assert!(done["outputUri"].as_str().unwrap().starts_with("azure-sandbox-output://"), "{done}");
    assert_eq!(done["notices"], json!([]));

    let raised = job_id(&command(c, "azureSandbox.runCell", json!([at(&w.uri, 4)])).await);
    assert_eq!(finished(c, mark, raised).await["status"], "raised");

    // A run that holds the queue, and behind it an install and a run, all
    // cancelled: each still ends with its own runFinished.
    let long = job_id(&command(c, "azureSandbox.runCell", json!([at(&w.uri, 7)])).await);
    c.wait_after(mark, "the long run to start", |m| {
        m["method"] == "$/progress"
            && m["params"]["value"]["message"].as_str().is_some_and(|s| s.starts_with("running"))
    })
    .await;
    let install = job_id(&command(c, "azureSandbox.installPackage", json!([{"uri": w.uri, "package": "six"}])).await);
    let queued = job_id(&command(c, "azureSandbox.runCell", json!([at(&w.uri, 1)])).await);
    let cancelled = command(c, "azureSandbox.cancel", json!([{"uri": w.uri}])).await;
    assert_eq!(cancelled["cancelled"], 3, "{cancelled}");
    for (id, kind) in [(long, "python"), (install, "install"), (queued, "python")] {
        let end = finished(c, mark, id).await;
        assert_eq!((end["kind"].as_str(), end["status"].as_str()), (Some(kind), Some("cancelled")), "{end}");
    }

    let restart = job_id(&command(c, "azureSandbox.restart", json!([{"uri": w.uri}])).await);
    let end = finished(c, mark, restart).await;
    assert_eq!((end["kind"].as_str(), end["status"].as_str()), (Some("restart"), Some("succeeded")), "{end}");

    // Exactly one each, and nothing for a job that was never queued.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ends = c.messages(mark, "azureSandbox/runFinished");
    let mut ids: Vec<u64> = ends.iter().map(|m| m["params"]["runId"].as_u64().unwrap()).collect();
    ids.sort_unstable();
    let mut expected = vec![ok, raised, long, install, queued, restart];
    expected.sort_unstable();
    assert_eq!(ids, expected, "{ends:?}");
    drop(w.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_environment_is_a_typed_state_lost_notice() {
    let sandbox = LocalSandbox::start(
        SandboxConfig { isolate_users: false, cool_down: Duration::from_millis(500), ..Default::default() },
        None,
    )
    .await
    .unwrap();
    let options = json!({"endpoint": sandbox.endpoint(), "apiKey": sandbox.api_key().expose()});
    let w = workspace("x = 1\nx\n", options).await;
    let mark = w.client.mark();
    let first = job_id(&command(&w.client, "azureSandbox.runLines", json!([w.uri, 1, 1])).await);
    assert_eq!(finished(&w.client, mark, first).await["status"], "succeeded");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = job_id(&command(&w.client, "azureSandbox.runLines", json!([w.uri, 2, 2])).await);
    let end = finished(&w.client, mark, second).await;
    assert_eq!(end["status"], "raised", "{end}");
    assert_eq!(end["notices"], json!([{"kind": "stateLost", "reason": "expired"}]));
}

/// Runs the file under `settings` and returns its runFinished.
async fn run_with(w: &Workspace, settings: Value) -> Value {
    // A configuration pull (the server makes one after `initialized`) gets
    // the same settings, whenever it is answered.
    *w.client.configuration.lock().unwrap() = settings.clone();
    w.client.notify("workspace/didChangeConfiguration", json!({"settings": {"azureSandbox": settings}})).await;
    let mark = w.client.mark();
    let id = job_id(&command(&w.client, "azureSandbox.runFile", json!([{"uri": w.uri}])).await);
    finished(&w.client, mark, id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_to_run_arrive_as_distinct_error_kinds_that_say_what_to_do() {
    let w = workspace("print('hi')\n", json!({"backend": "local"})).await;
    let kind_and_message = |end: &Value| {
        assert_eq!(end["status"], "failed", "{end}");
        (end["error"]["kind"].as_str().unwrap().to_owned(), end["error"]["message"].as_str().unwrap().to_owned())
    };

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (kind, message) = kind_and_message(
        &run_with(&w, json!({"backend": "azure", "endpoint": format!("http://127.0.0.1:{closed}/mcp")})).await,
    );
    assert_eq!(kind, "unreachable");
    assert!(message.contains("cannot reach") && message.contains("serve-local"), "{message}");

    let (kind, message) =
        kind_and_message(&run_with(&w, json!({"backend": "auto", "endpoint": "https://sandbox.invalid/mcp"})).await);
    assert_eq!(kind, "noKey");
    assert!(message.contains("AZURE_SANDBOX_API_KEY"), "{message}");

    let (kind, message) = kind_and_message(&run_with(&w, json!({"backend": "azure", "endpoint": null})).await);
    assert_eq!(kind, "notConfigured");
    assert!(message.contains("azureSandbox.endpoint"), "{message}");

    let sandbox =
        LocalSandbox::start(SandboxConfig { isolate_users: false, max_environments: 1, ..Default::default() }, None)
            .await
            .unwrap();
    let (kind, message) = kind_and_message(
        &run_with(&w, json!({"backend": "auto", "endpoint": sandbox.endpoint(), "apiKey": "wrong-key-0123456789"}))
            .await,
    );
    assert_eq!(kind, "keyRefused");
    assert!(message.contains("refused") && !message.contains("wrong-key-0123456789"), "{message}");

    // The right key: this workspace takes the pool's only session; a file in
    // another folder (another workspace) finds the pool full.
    let right = json!({"backend": "auto", "endpoint": sandbox.endpoint(), "apiKey": sandbox.api_key().expose()});
    assert_eq!(run_with(&w, right).await["status"], "succeeded");
    let elsewhere = tempfile::tempdir().unwrap();
    let other = file_uri(&elsewhere.path().canonicalize().unwrap().join("other.py"));
    w.client.open(&other, "print('elsewhere')\n").await;
    let mark = w.client.mark();
    let id = job_id(&command(&w.client, "azureSandbox.runFile", json!([{"uri": other}])).await);
    let (kind, message) = kind_and_message(&finished(&w.client, mark, id).await);
    assert_eq!(kind, "poolFull");
    assert!(message.contains("maxConcurrentSessions"), "{message}");
}

/// Opening a file against a remote sandbox gets the workspace ready (the
/// MCP session, the launcher, an environment) without running anything, so
/// the first run is one request, like every run after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_file_prepares_the_workspace_so_the_first_run_is_one_request() {
    use crate::common::fault_proxy::FaultProxy;
    let sandbox =
        LocalSandbox::start(SandboxConfig { isolate_users: false, ..Default::default() }, None).await.unwrap();
    let proxy = FaultProxy::start(sandbox.endpoint()).await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let beacon = crate::common::inside::Beacon::start();
    let text = format!("{}\nprint('hello')\n", beacon.send("'ran'"));
    let path = root.join("main.py");
    std::fs::write(&path, &text).unwrap();
    let client = LspClient::in_process();
    let settings = json!({"endpoint": proxy.url, "apiKey": sandbox.api_key().expose()});
    *client.configuration.lock().unwrap() = settings.clone();
    client.initialize(&root, settings, rich_capabilities()).await;
    let uri = file_uri(&path);
    client.open(&uri, &text).await;
    // Ready once the server has stopped talking to the sandbox (session,
    // tools, launch); nothing ran.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut seen = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = proxy.forwarded();
        if now > 0 && now == seen {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the server never prepared the workspace");
        seen = now;
    }
    assert!(beacon.messages().is_empty(), "opening a file must not run it");
    let before = proxy.forwarded();
    let mark = client.mark();
    let id = job_id(&command(&client, "azureSandbox.runFile", json!([{"uri": uri}])).await);
    assert_eq!(finished(&client, mark, id).await["status"], "succeeded");
    assert_eq!(beacon.next_after(0, Duration::from_secs(5)).await.as_deref(), Some("ran"));
    assert_eq!(proxy.forwarded() - before, 1, "the first run after opening is one request");
    let before = proxy.forwarded();
    let id = job_id(&command(&client, "azureSandbox.runFile", json!([{"uri": uri}])).await);
    assert_eq!(finished(&client, mark, id).await["status"], "succeeded");
    assert_eq!(proxy.forwarded() - before, 1, "and so is the next");
}
