//! Load: the local sandbox under 50 concurrent clients, and the language
//! server under a sustained stream of edits while runs complete.
//!
//! Bounded by default so they belong in the everyday test command; the long
//! versions run from `scripts/reliability.sh`, through these variables:
//! - `LOAD_CLIENTS` (default 50), `LOAD_RUNS` per client (default 20),
//!   `LOAD_SECONDS` (default 0: stop at the run count; else run until then);
//! - `LOAD_EDITS` (default 400 edits, a run every 10).

use crate::common;

use std::time::{Duration, Instant};

use crate::common::local_server::LocalServer;
use crate::common::lsp::*;
use azure_sandbox_lsp::mcp::{ClientOptions, McpClient};
use azure_sandbox_lsp::secret::ApiKey;
use serde_json::{Value, json};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_sandbox_serves_50_concurrent_clients_without_an_error() {
    let _alone = common::alone().await;
    let clients = setting("LOAD_CLIENTS", 50) as usize;
    let runs = setting("LOAD_RUNS", 20);
    let seconds = setting("LOAD_SECONDS", 0);
    let logs = tempfile::tempdir().unwrap();
    let key = "load-test-key-0123456789abcdef";
    let max = clients.to_string();
    let server = LocalServer::start(&["--max-environments", &max], key, &logs.path().join("sandbox.log"));
    let started = Instant::now();
    let deadline = (seconds > 0).then(|| started + Duration::from_secs(seconds));
    let mut tasks = Vec::new();
    for client_index in 0..clients {
        let endpoint = server.endpoint.clone();
        tasks.push(tokio::spawn(async move {
            let client = McpClient::new(&endpoint, ApiKey::new(key), ClientOptions::default()).unwrap();
            let environment = client.launch().await.map_err(|e| format!("client {client_index}: launch: {e}"))?;
            let mut latencies = Vec::new();
            let mut expected: u64 = 0;
            let mut run: u64 = 0;
            loop {
                let more = match deadline {
                    Some(deadline) => Instant::now() < deadline,
                    None => run < runs,
                };
                if !more {
                    break;
                }
                run += 1;
                // Each run adds to a variable of its own environment: a run
                // lost, repeated, reordered or crossed with another client's
                // environment shows up as a wrong sum.
                let n = client_index as u64 * 1000 + run;
                expected += n;
                let code = format!("acc = globals().get('acc', 0) + {n}\nacc");
                let asked = Instant::now();
                let output = client
                    .run_python(&environment, &code)
                    .await
                    .map_err(|e| format!("client {client_index} run {run}: {e}"))?;
                latencies.push(asked.elapsed());
                let value = output.execution_result.as_ref().and_then(Value::as_str).unwrap_or_default().to_owned();
                if output.is_error || value != expected.to_string() {
                    return Err(format!("client {client_index} run {run}: expected {expected}, got {output:?}"));
                }
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for task in tasks {
        match tokio::time::timeout(Duration::from_secs(300 + seconds), task).await {
            Ok(Ok(Ok(mine))) => latencies.extend(mine),
            Ok(Ok(Err(error))) => errors.push(error),
            Ok(Err(panic)) => errors.push(format!("a client panicked: {panic}")),
            Err(_) => errors.push("a client did not finish within its time bound".into()),
        }
    }
    let elapsed = started.elapsed();
    assert!(errors.is_empty(), "{} errors, first: {:?}", errors.len(), errors.first());
    latencies.sort();
    assert!(latencies.len() as u64 >= clients as u64 * runs.min(1), "every client ran");
    eprintln!(
        "load (sandbox): {clients} concurrent clients, {} runs in {:.1} s ({:.0} runs/s), 0 errors; \
         latency p50 {}, p90 {}, p99 {}, max {}",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.90)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap()),
    );
    // The server is still well: a new client is served at once.
    let client = McpClient::new(&server.endpoint, ApiKey::new(key), ClientOptions::default()).unwrap();
    assert!(client.ping().await.is_ok());
}

/// The raising line of the document, wherever edits have moved it.
const RAISE: &str = "raise ValueError('boom')";

fn apply_insert_at_top(text: &str, line: &str) -> String {
    format!("{line}\n{text}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_streaming_in_while_runs_complete_never_get_stale_or_reordered_diagnostics() {
    let _alone = common::alone().await;
    let edits = setting("LOAD_EDITS", 400);
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let path = root.join("stream.py");
    let mut text = format!("# %% cell\nimport time\ntime.sleep(0.002)\n{RAISE}\n");
    std::fs::write(&path, &text).unwrap();
    let client = LspClient::binary(&[("AZURE_SANDBOX_CACHE_DIR", cache.path().to_str().unwrap())]);
    *client.configuration.lock().unwrap() = json!({"backend": "local"});
    client.initialize(&root, json!({"backend": "local"}), rich_capabilities()).await;
    let uri = file_uri(&path);
    client.open(&uri, &text).await;
    // The text of every version, to check each publication against the
    // version it claims.
    let mut texts = vec![(1i64, text.clone())];
    let mut run_ids = Vec::new();
    let mut marker = 0u32;
    let started = Instant::now();
    for edit in 0..edits {
        let version = edit as i64 + 2;
        let line = format!("# edit {edit}");
        text = apply_insert_at_top(&text, &line);
        marker += 1;
        client
            .notify(
                "textDocument/didChange",
                json!({
                    "textDocument": {"uri": uri, "version": version},
                    "contentChanges": [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "text": format!("{line}\n")}]
                }),
            )
            .await;
        texts.push((version, text.clone()));
        if edit % 10 == 0 {
            let accepted = client
                .result(
                    "workspace/executeCommand",
                    json!({"command": "azureSandbox.runCell", "arguments": [{"uri": uri, "position": {"line": marker, "character": 0}}]}),
                )
                .await;
            run_ids.push(accepted["runId"].as_u64().unwrap());
        }
        // A fast typist: an edit every 2 ms, runs of about 3 ms finishing among them.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let edit_time = started.elapsed();
    let last_version = texts.last().unwrap().0;
    // Every run ends, in the order they were asked for (one workspace: one queue).
    let last_token = format!("azure-sandbox-run-{}", run_ids.last().unwrap());
    client
        .wait_after(0, "the last run to end", |m| {
            m["method"] == "$/progress" && m["params"]["token"] == last_token && m["params"]["value"]["kind"] == "end"
        })
        .await;
    let ends: Vec<u64> = client
        .messages(0, "$/progress")
        .iter()
        .filter(|m| m["params"]["value"]["kind"] == "end")
        .filter_map(|m| m["params"]["token"].as_str()?.strip_prefix("azure-sandbox-run-")?.parse().ok())
        .collect();
    assert_eq!(ends, run_ids, "runs ended in the order they were asked for");
    // Let the last publication out, then check every one.
    let final_publication = client
        .wait_after(0, "diagnostics for the last version", |m| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["version"] == last_version
                && !m["params"]["diagnostics"].as_array().unwrap().is_empty()
        })
        .await;
    let publications = client.messages(0, "textDocument/publishDiagnostics");
    let mut previous_version = 0;
    let mut checked = 0;
    for publication in &publications {
        let version = publication["params"]["version"].as_i64().expect("published with a version");
        assert!(version >= previous_version, "version {version} published after {previous_version}");
        previous_version = version;
        let (_, text_then) = texts.iter().find(|(v, _)| *v == version).expect("a version the client sent");
        for diagnostic in publication["params"]["diagnostics"].as_array().unwrap() {
            let line = diagnostic["range"]["start"]["line"].as_u64().unwrap() as usize;
            assert_eq!(
                text_then.lines().nth(line),
                Some(RAISE),
                "version {version}: the diagnostic is on line {line}, not on the raise"
            );
            checked += 1;
        }
    }
    let final_line = final_publication["params"]["diagnostics"][0]["range"]["start"]["line"].as_u64().unwrap();
    assert_eq!(text.lines().nth(final_line as usize), Some(RAISE));
    eprintln!(
        "load (language server): {edits} edits in {:.2} s with {} runs among them; {} publications, \
         {checked} diagnostics, each on the raising line of the version it was published for, versions in order",
        edit_time.as_secs_f64(),
        run_ids.len(),
        publications.len(),
    );
    client.shutdown().await;
}
