//! `azure-sandbox-lsp mcp` as agents use it: the official MCP Python SDK as
//! a stdio client (tests/agents/mcp_client.py, which makes the checks of the
//! tools themselves), against serve-local on 127.0.0.1 with a sentinel key,
//! sharing the workspace's environment with `run` from the command line and
//! with the editor's language server, which shows the agent's runs. Then the
//! sentinel is looked for everywhere it could have leaked.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::common::local_server::LocalServer;
use crate::common::lsp::{LspClient, file_uri};

const BIN: &str = env!("CARGO_BIN_EXE_azure-sandbox-lsp");
const SENTINEL: &str = "sentinel-key-agents-5be04c7d19";

/// The official MCP Python SDK's interpreter (scripts/mcp-client-python.sh).
fn client_python() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mcp-client-python.sh");
    let output = Command::new("bash").arg(script).output().expect("mcp-client-python.sh runs");
    assert!(output.status.success(), "mcp-client-python.sh: {}", String::from_utf8_lossy(&output.stderr));
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// A workspace with data, a file that fails at line 4, and a script the
/// command line runs that uses the agent's DataFrame.
fn workspace(dir: &Path) -> PathBuf {
    let root = dir.join("project");
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(root.join("data.csv"), "x,y\n1,2\n3,4\n").unwrap();
    std::fs::write(root.join("analysis.py"), "# analysis\nimport os\ntotal = 1\nratio = total / 0\nprint(ratio)\n")
        .unwrap();
    std::fs::write(root.join("uses_agent.py"), "print('agent rows:', len(agent_df))\nfrom_cli = 42\n").unwrap();
    std::fs::write(root.join(".gitignore"), "ignored.csv\n").unwrap();
    std::fs::write(root.join("ignored.csv"), "kept out\n").unwrap();
    root.canonicalize().unwrap()
}

/// Runs the SDK client's scenario; returns its stderr (the checks it made).
fn run_client(python: &Path, scenario: &str, env: &[(&str, &str)], server_log: &Path) -> String {
    let mut command = Command::new(python);
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/mcp_client.py"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("AZSB_BIN", BIN)
        .env("AZSB_SCENARIO", scenario)
        .env("AZSB_SERVER_LOG", server_log)
        .env("AZURE_SANDBOX_LOG", "debug");
    command.envs(env.iter().copied());
    let output = command.output().expect("the MCP client runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let log = std::fs::read_to_string(server_log).unwrap_or_default();
    assert!(output.status.success(), "{scenario}: the client's checks failed:\n{stderr}\n--- server log ---\n{log}");
    assert!(stderr.contains("all checks passed"), "{stderr}");
    stderr
}

/// Every file under `dir` holding `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_symlink() {
            continue;
        }
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(path);
            }
        }
    }
    found
}

/// The main scenario: the agent and `run` share one environment; the
/// editor's language server shows what the agent ran, marked as the
/// agent's; the key is in no file, log, message or tool result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_shares_the_workspace_environment_and_the_editor_shows_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let root = workspace(dir.path());
    let cache = dir.path().join("cache");
    let serve_log = dir.path().join("serve-local.log");
    let figures_python = crate::common::figures_python();
    let python_arg = figures_python.to_string_lossy().into_owned();
    let server = LocalServer::start(&["--port", "0", "--python", &python_arg], SENTINEL, &serve_log);
    let cache_arg = cache.to_string_lossy().into_owned();
    let root_arg = root.to_string_lossy().into_owned();
    let env = [
        ("AZURE_SANDBOX_MCP_ENDPOINT", server.endpoint.as_str()),
        ("AZURE_SANDBOX_API_KEY", SENTINEL),
        ("AZURE_SANDBOX_CACHE_DIR", cache_arg.as_str()),
        ("AZSB_WORKSPACE", root_arg.as_str()),
    ];

    // The editor: its language server on the same workspace and endpoint.
    let lsp_log = dir.path().join("lsp.log");
    let editor = LspClient::binary_logging(
        &[
            ("AZURE_SANDBOX_MCP_ENDPOINT", server.endpoint.as_str()),
            ("AZURE_SANDBOX_API_KEY", SENTINEL),
            ("AZURE_SANDBOX_CACHE_DIR", cache_arg.as_str()),
            ("AZURE_SANDBOX_LOG", "debug"),
        ],
        Some(&lsp_log),
    );
    editor.initialize(&root, json!({}), crate::common::lsp::rich_capabilities()).await;
    let uri = file_uri(&root.join("analysis.py"));
    editor.open(&uri, &std::fs::read_to_string(root.join("analysis.py")).unwrap()).await;
    let mark = editor.mark();

    let server_log = dir.path().join("mcp-server.log");
    let python = client_python();
    let checks = tokio::task::spawn_blocking({
        let (python, server_log) = (python.clone(), server_log.clone());
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move || {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            run_client(&python, "shared", &env, &server_log)
        }
    })
    .await
    .unwrap();
    eprintln!("{checks}");

    // The editor saw the agent's runs: a log line each, and the output
    // document has them, marked as the agent's, with their code and output.
    let logged = editor
        .wait_after(mark, "the agent's run in the editor's log", |m| {
            m["method"] == "window/logMessage"
                && m["params"]["message"].as_str().is_some_and(|t| t.contains("the agent ran") && t.contains("$ ls"))
        })
        .await;
    assert!(logged["params"]["message"].as_str().unwrap().starts_with("[azure-sandbox] the agent ran"), "{logged}");
    let output = editor.result("azureSandbox/output", json!({"uri": uri})).await;
    let text = output["text"].as_str().unwrap_or_default();
    assert!(text.contains("=== [agent] agent:1 |"), "the agent's first run, marked: {text}");
    assert!(text.contains("agent_df = pd.read_csv('data.csv')"), "with its code: {text}");
    assert!(text.contains("=== [agent] analysis.py:3-4 |") && text.contains("ZeroDivisionError"), "{text}");
    assert!(text.contains("still here"), "with its output: {text}");
    let changed = editor.messages(mark, "azureSandbox/outputChanged");
    assert!(!changed.is_empty(), "the editor was told its output document changed");
    let methods = ["window/logMessage", "window/showMessage", "azureSandbox/runFinished", "$/progress"];
    let to_editor: Vec<Value> = methods.iter().flat_map(|m| editor.messages(0, m)).collect();
    assert!(to_editor.len() >= changed.len(), "{to_editor:?}");
    assert!(!serde_json::to_string(&to_editor).unwrap().contains(SENTINEL), "the key reached the editor");
    assert!(!text.contains(SENTINEL), "the key is in the output document");
    editor.shutdown().await;
    drop(server);

    // The sentinel key: in no file this product wrote (cache: registry,
    // transcripts, shared logs, figures; the workspace, with what was
    // fetched), no log, no message to the editor or tool result (the
    // client's stderr carries the results' text when a check fails).
    let leaks = [files_holding(&cache, SENTINEL), files_holding(&root, SENTINEL)].concat();
    assert!(leaks.is_empty(), "the key is in {leaks:?}");
    for log in [&server_log, &lsp_log] {
        let text = std::fs::read_to_string(log).unwrap();
        assert!(!text.is_empty(), "{} has the debug log", log.display());
        assert!(!text.contains(SENTINEL), "the key is in {}", log.display());
    }
    assert!(!checks.contains(SENTINEL), "the key is in the client's output");
    let shared: Vec<PathBuf> = std::fs::read_dir(cache.join("shared")).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(shared.len(), 1, "one shared log for the one workspace: {shared:?}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&shared[0]).unwrap().permissions().mode() & 0o777, 0o600);
}

/// With no Azure sandbox configured the editor's language server runs the
/// embedded local sandbox. The editor chose that sandbox's key (VS Code
/// does) and asks for its endpoint; an agent's server given both works in
/// the editor's environment: each sees what the other defined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_handed_the_editors_local_sandbox_shares_its_environment() {
    const LOCAL_KEY: &str = "local-key-chosen-by-the-editor-0f3e";
    let dir = tempfile::tempdir().unwrap();
    let root = workspace(dir.path());
    std::fs::write(root.join("editor.py"), "editor_value = 7\n").unwrap();
    std::fs::write(root.join("check.py"), "print('from the agent:', agent_value * 10)\n").unwrap();
    let cache = dir.path().join("cache").to_string_lossy().into_owned();
    let lsp_log = dir.path().join("lsp.log");
    let editor = LspClient::binary_logging(
        &[("AZURE_SANDBOX_LOCAL_API_KEY", LOCAL_KEY), ("AZURE_SANDBOX_CACHE_DIR", cache.as_str())],
        Some(&lsp_log),
    );
    editor.initialize(&root, json!({"backend": "local"}), crate::common::lsp::rich_capabilities()).await;
    let uri = file_uri(&root.join("editor.py"));
    editor.open(&uri, "editor_value = 7\n").await;
    let (_, diagnostics) = editor.run_and_wait("azureSandbox.runFile", json!([{"uri": uri}]), &uri).await;
    assert_eq!(diagnostics, json!([]));
    let answer = editor.result("azureSandbox/localSandbox", json!({})).await;
    let endpoint = answer["endpoint"].as_str().expect("the embedded sandbox's endpoint").to_owned();
    assert!(endpoint.starts_with("http://127.0.0.1:") && !answer.to_string().contains(LOCAL_KEY), "{answer}");

    let root_arg = root.to_string_lossy().into_owned();
    let server_log = dir.path().join("mcp-server.log");
    let env = [
        ("AZURE_SANDBOX_MCP_ENDPOINT", endpoint.as_str()),
        ("AZURE_SANDBOX_API_KEY", LOCAL_KEY),
        ("AZURE_SANDBOX_CACHE_DIR", cache.as_str()),
        ("AZSB_WORKSPACE", root_arg.as_str()),
    ];
    let python = client_python();
    let env_owned: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env_owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_client(&python, "local", &env, &server_log)
    })
    .await
    .unwrap();

    // And the editor's next run sees what the agent defined.
    let check = file_uri(&root.join("check.py"));
    editor.open(&check, "print('from the agent:', agent_value * 10)\n").await;
    let (_, diagnostics) = editor.run_and_wait("azureSandbox.runFile", json!([{"uri": check}]), &check).await;
    assert_eq!(diagnostics, json!([]), "agent_value is defined for the editor");
    let output = editor.result("azureSandbox/output", json!({"uri": check})).await;
    assert!(output["text"].as_str().unwrap().contains("from the agent: 50"), "{output}");
    editor.shutdown().await;
    assert!(!std::fs::read_to_string(&lsp_log).unwrap().contains(LOCAL_KEY));
}

/// A pool named, but the Azure CLI is not signed in: every tool call is an
/// error result that says to run `az login`; the server does not crash.
#[test]
fn a_pool_without_az_signed_in_is_a_tool_error_that_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let root = workspace(dir.path());
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    crate::common::management::fake_az(&bin, false);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let cache = dir.path().join("cache").to_string_lossy().into_owned();
    let root_arg = root.to_string_lossy().into_owned();
    let server_log = dir.path().join("mcp-server.log");
    run_client(
        &client_python(),
        "no-az",
        &[
            ("PATH", path.as_str()),
            ("AZURE_SANDBOX_POOL", "00000000-0000-0000-0000-000000000000/rg/pool"),
            ("AZURE_SANDBOX_CACHE_DIR", cache.as_str()),
            ("AZSB_WORKSPACE", root_arg.as_str()),
        ],
        &server_log,
    );
}
