//! The language server over its real framing, against the real local sandbox.

use std::time::{Duration, Instant};

use crate::common::lsp::*;
use serde_json::{Value, json};

/// Lines (0-based): 0 marker, 1 import, 3 def, 4 `return a / b`, 6 marker,
/// 7 print, 8 `ratio(1, 0)`.
const CELLS: &str = "# %% Setup 🙂\nimport math\n\ndef ratio(a, b):\n    return a / b\n\n# %% Use 中文\nprint('héllo →')\nratio(1, 0)\n";

struct Fixture {
    client: LspClient,
    _dir: tempfile::TempDir,
    uri: String,
}

async fn fixture(text: &str, capabilities: Value) -> Fixture {
    fixture_with(text, json!({"backend": "local"}), capabilities).await
}

async fn fixture_with(text: &str, options: Value, capabilities: Value) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let path = root.join("main.py");
    std::fs::write(&path, text).unwrap();
    let client = LspClient::in_process();
    client.initialize(&root, options, capabilities).await;
    let uri = file_uri(&path);
    client.open(&uri, text).await;
    Fixture { client, _dir: dir, uri }
}

fn titles(lenses: &Value) -> Vec<(u64, String)> {
    lenses
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["range"]["start"]["line"].as_u64().unwrap(), l["command"]["title"].as_str().unwrap().to_owned()))
        .collect()
}

/// Runs `command` and waits for its progress to say "running"; returns the
/// mark from before the command, for waiting on what follows.
async fn start_and_wait_until_running(f: &Fixture, command: &str, arguments: Value) -> usize {
    let mark = f.client.mark();
    f.client.result("workspace/executeCommand", json!({"command": command, "arguments": arguments})).await;
    f.client
        .wait_after(mark, "the run to start", |m| {
            m["method"] == "$/progress"
                && m["params"]["value"]["message"].as_str().is_some_and(|s| s.starts_with("running"))
        })
        .await;
    mark
}

fn at(uri: &str, line: u32) -> Value {
    json!({"uri": uri, "position": {"line": line, "character": 0}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capabilities_and_encoding_negotiation() {
    let dir = tempfile::tempdir().unwrap();
    let client = LspClient::in_process();
    let result = client.initialize(dir.path(), json!({}), rich_capabilities()).await;
    let caps = &result["capabilities"];
    assert_eq!(caps["positionEncoding"], "utf-8");
    let commands: Vec<&str> =
        caps["executeCommandProvider"]["commands"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    for name in [
        "azureSandbox.run",
        "azureSandbox.runCell",
        "azureSandbox.runAbove",
        "azureSandbox.runFile",
        "azureSandbox.runLines",
        "azureSandbox.restart",
        "azureSandbox.cancel",
        "azureSandbox.installPackage",
        "azureSandbox.showOutput",
    ] {
        assert!(commands.contains(&name), "{name}");
    }
    assert_eq!(caps["workspace"]["textDocumentContent"]["schemes"], json!(["azure-sandbox-output"]));
    assert_eq!(caps["textDocumentSync"]["change"], 2, "incremental");
    for provider in ["codeLensProvider", "codeActionProvider", "hoverProvider", "inlayHintProvider"] {
        assert!(!caps[provider].is_null(), "{provider}");
    }
    // A client that offers nothing gets UTF-16.
    let client = LspClient::in_process();
    let result = client.initialize(dir.path(), json!({}), json!({})).await;
    assert_eq!(result["capabilities"]["positionEncoding"], "utf-16");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lenses_on_cells_with_emoji_and_cjk() {
    let f = fixture(CELLS, rich_capabilities()).await;
    let lenses = f.client.code_lenses(&f.uri).await;
    let titles = titles(&lenses);
    assert_eq!(
        titles,
        vec![
            (0, "Run file in local sandbox".into()),
            (0, "▶ Run in local sandbox".into()),
            (6, "▶ Run in local sandbox".into()),
            (6, "Run above".into()),
        ]
    );
    let cell = &lenses[2]["command"];
    assert_eq!(cell["command"], "azureSandbox.runCell");
    assert_eq!(cell["arguments"][0]["position"]["line"], 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cell_lenses_are_resolved_on_demand() {
    let f = fixture(CELLS, rich_capabilities()).await;
    let raw = f.client.result("textDocument/codeLens", json!({"textDocument": {"uri": f.uri}})).await;
    let raw = raw.as_array().unwrap();
    // The file lens is complete; the cells' lenses carry only a few numbers,
    // not the document's URI.
    assert_eq!(raw[0]["command"]["command"], "azureSandbox.runFile");
    for lens in &raw[1..] {
        assert!(lens.get("command").is_none_or(Value::is_null), "{lens}");
        assert!(lens["data"].to_string().len() < 20, "{lens}");
    }
    let resolved = f.client.result("codeLens/resolve", raw[3].clone()).await;
    assert_eq!(resolved["command"]["title"], "Run above");
    assert_eq!(resolved["command"]["command"], "azureSandbox.runAbove");
    assert_eq!(resolved["command"]["arguments"][0]["uri"], f.uri);
    assert_eq!(resolved["range"], raw[3]["range"]);
    // Lenses that are not ours are refused with a reason; the server goes on.
    for bad in [
        json!({"range": raw[1]["range"]}),
        json!({"range": raw[1]["range"], "data": [999_999, 1, 0]}),
        json!({"range": raw[1]["range"], "data": [0, 1, 7]}),
        json!({"range": raw[1]["range"], "data": "x"}),
    ] {
        let response = f.client.request("codeLens/resolve", bad).await;
        assert!(
            response["error"]["message"].as_str().unwrap().contains("not a code lens from this server"),
            "{response}"
        );
    }
    assert_eq!(titles(&f.client.code_lenses(&f.uri).await).len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_in_a_function_from_an_earlier_cell_lands_on_its_line() {
    let f = fixture(CELLS, rich_capabilities()).await;
    let (accepted, diagnostics) = f.client.run_and_wait("azureSandbox.runCell", json!([at(&f.uri, 0)]), &f.uri).await;
    assert!(accepted["runId"].as_u64().is_some(), "{accepted}");
    assert_eq!(diagnostics, json!([]));
    let output = f.client.result("azureSandbox/output", json!({"uri": f.uri})).await;
    assert!(output["text"].as_str().unwrap().contains("| ✓ "), "the first cell ran: {output}");
    let (_, diagnostics) = f.client.run_and_wait("azureSandbox.runCell", json!([at(&f.uri, 6)]), &f.uri).await;
    let d = &diagnostics[0];
    assert_eq!(diagnostics.as_array().unwrap().len(), 1, "{diagnostics}");
    assert_eq!(d["message"], "ZeroDivisionError: division by zero");
    assert_eq!(d["code"], "ZeroDivisionError");
    assert_eq!(d["source"], "azure-sandbox");
    assert_eq!(d["severity"], 1);
    assert_eq!(d["range"], json!({"start": {"line": 4, "character": 11}, "end": {"line": 4, "character": 16}}));
    let related = d["relatedInformation"].as_array().unwrap();
    assert!(
        related.iter().any(|r| r["location"]["uri"] == f.uri.as_str() && r["location"]["range"]["start"]["line"] == 8),
        "{related:?}"
    );

    // Hover on the cell that ran: status, stdout (non-ASCII intact), exception.
    let hover = f
        .client
        .result("textDocument/hover", json!({"textDocument": {"uri": f.uri}, "position": {"line": 8, "character": 2}}))
        .await;
    let text = hover["contents"]["value"].as_str().unwrap();
    assert!(text.contains("✗ ZeroDivisionError") && text.contains("héllo →") && text.contains("main.py:8-9"), "{text}");
    // Inlay hint at the end of the run's last line (UTF-8 columns).
    let hints = f
        .client
        .result(
            "textDocument/inlayHint",
            json!({"textDocument": {"uri": f.uri},
        "range": {"start": {"line": 0, "character": 0}, "end": {"line": 9, "character": 0}}}),
        )
        .await;
    let hint = hints.as_array().unwrap().iter().find(|h| h["position"]["line"] == 8).expect("hint on line 8");
    assert_eq!(hint["label"], "✗ ZeroDivisionError");
    assert_eq!(hint["position"]["character"], "ratio(1, 0)".len());
    // The cell's lens shows the outcome.
    let lenses = f.client.code_lenses(&f.uri).await;
    assert!(titles(&lenses).contains(&(6, "✗ ZeroDivisionError".into())), "{lenses}");

    // Fix the call and run again: the error's diagnostics are gone, the value shows.
    f.client
        .notify("textDocument/didChange", json!({"textDocument": {"uri": f.uri, "version": 2},
            "contentChanges": [{"range": {"start": {"line": 8, "character": 9}, "end": {"line": 8, "character": 10}}, "text": "4"}]}))
        .await;
    let (_, diagnostics) = f.client.run_and_wait("azureSandbox.runCell", json!([at(&f.uri, 7)]), &f.uri).await;
    assert_eq!(diagnostics, json!([]));
    let hints = f
        .client
        .result(
            "textDocument/inlayHint",
            json!({"textDocument": {"uri": f.uri},
        "range": {"start": {"line": 0, "character": 0}, "end": {"line": 9, "character": 0}}}),
        )
        .await;
    assert_eq!(hints.as_array().unwrap().iter().find(|h| h["position"]["line"] == 8).unwrap()["label"], "→ 0.25");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syntax_errors_at_utf16_columns() {
    let text = "# %%\ns = '🙂🙂' + (1,\n";
    let f = fixture(text, json!({"window": {"workDoneProgress": false}})).await;
    let (_, diagnostics) = f.client.run_and_wait("azureSandbox.runFile", json!([{"uri": f.uri}]), &f.uri).await;
    let d = &diagnostics[0];
    assert_eq!(d["code"], "SyntaxError");
    assert!(d["message"].as_str().unwrap().contains("was never closed"), "{d}");
    let line = "s = '🙂🙂' + (1,";
    let paren = line.find('(').unwrap();
    let utf16 = line[..paren].encode_utf16().count();
    assert_eq!(d["range"]["start"], json!({"line": 1, "character": utf16}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_selection_lines_file_above_and_runlines() {
    let text = "a = 2\nb = 3\n# %%\nc = a * b\nc + 1\n";
    let f = fixture(text, json!({})).await;
    // Exactly the text within one line: "b = 3" selected from column 0.
    let range = json!({"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 5}});
    f.client.run_and_wait("azureSandbox.run", json!([{"uri": f.uri, "range": range}]), &f.uri).await;
    // Run above the cell at line 3: lines 0-1.
    f.client.run_and_wait("azureSandbox.runAbove", json!([at(&f.uri, 3)]), &f.uri).await;
    // Whole lines: a range over lines 3-4 ending at column 0 of line 5.
    let range = json!({"start": {"line": 3, "character": 2}, "end": {"line": 5, "character": 0}});
    f.client.run_and_wait("azureSandbox.run", json!([{"uri": f.uri, "range": range}]), &f.uri).await;
    let hover = f
        .client
        .result("textDocument/hover", json!({"textDocument": {"uri": f.uri}, "position": {"line": 4, "character": 0}}))
        .await;
    assert!(hover["contents"]["value"].as_str().unwrap().contains("→ `7`"), "{hover}");
    // Helix's positional form: a relative path and lines as strings.
    f.client.run_and_wait("azureSandbox.runLines", json!(["main.py", "5", "5"]), &f.uri).await;
    let hints = f
        .client
        .result(
            "textDocument/inlayHint",
            json!({"textDocument": {"uri": f.uri},
        "range": {"start": {"line": 0, "character": 0}, "end": {"line": 6, "character": 0}}}),
        )
        .await;
    assert_eq!(hints.as_array().unwrap().iter().find(|h| h["position"]["line"] == 4).unwrap()["label"], "→ 7");
    // The whole file.
    let (_, diagnostics) = f.client.run_and_wait("azureSandbox.runFile", json!([{"uri": f.uri}]), &f.uri).await;
    assert_eq!(diagnostics, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_actions_mirror_the_lenses() {
    let f = fixture(CELLS, json!({})).await;
    let actions = f.client.result("textDocument/codeAction", json!({"textDocument": {"uri": f.uri},
        "range": {"start": {"line": 4, "character": 4}, "end": {"line": 4, "character": 10}}, "context": {"diagnostics": []}})).await;
    let titles: Vec<&str> = actions.as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap()).collect();
    for expected in [
        "Run selection in local sandbox",
        "Run cell in local sandbox",
        "Run line 5 in local sandbox",
        "Run statement (lines 4-5) in local sandbox",
        "Run file in local sandbox",
        "Restart sandbox environment",
    ] {
        assert!(titles.contains(&expected), "{expected} in {titles:?}");
    }
    // Helix's cursor: a one-character selection is not a selection.
    let actions = f.client.result("textDocument/codeAction", json!({"textDocument": {"uri": f.uri},
        "range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 1}}, "context": {"diagnostics": []}})).await;
    assert!(!actions.as_array().unwrap().iter().any(|a| a["title"].as_str().unwrap().starts_with("Run selection")));
    assert!(
        actions.as_array().unwrap().iter().all(|a| a["command"]["command"].is_string()),
        "every action has a command"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_module_quick_fix_installs_and_offers_a_rerun() {
    let text = "import surely_missing_module_xyz\n";
    let f = fixture(text, json!({})).await;
    let (_, diagnostics) = f.client.run_and_wait("azureSandbox.runFile", json!([{"uri": f.uri}]), &f.uri).await;
    let diagnostic = diagnostics[0].clone();
    assert_eq!(diagnostic["code"], "ModuleNotFoundError");
    assert_eq!(diagnostic["data"]["missingModule"], "surely_missing_module_xyz");
    let actions = f.client.result("textDocument/codeAction", json!({"textDocument": {"uri": f.uri},
        "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "context": {"diagnostics": [diagnostic]}})).await;
    let fix = &actions[0];
    assert_eq!(fix["title"], "Install surely_missing_module_xyz in the sandbox");
    assert_eq!(fix["kind"], "quickfix");
    // Install a package that is certainly present (no network needed), then accept the re-run.
    *f.client.message_choice.lock().unwrap() = Some("Re-run".into());
    let mut arguments = fix["command"]["arguments"].clone();
    arguments[0]["package"] = json!("pip");
    let mark = f.client.mark();
    f.client
        .result("workspace/executeCommand", json!({"command": "azureSandbox.installPackage", "arguments": arguments}))
        .await;
    let ask = f.client.wait_after(mark, "the re-run offer", |m| m["method"] == "window/showMessageRequest").await;
    assert!(ask["params"]["message"].as_str().unwrap().contains("installed pip"), "{ask}");
    f.client.wait_after(mark, "the re-run's diagnostics", |m| m["method"] == "textDocument/publishDiagnostics").await;
    let output = f.client.result("azureSandbox/output", json!({"uri": f.uri})).await;
    assert!(output["text"].as_str().unwrap().contains("=== pip install pip"), "{output}");
    // Bad package names are refused before anything runs.
    let response = f
        .client
        .request(
            "workspace/executeCommand",
            json!({"command": "azureSandbox.installPackage",
        "arguments": [{"uri": f.uri, "package": "x; rm -rf /"}]}),
        )
        .await;
    assert_eq!(response["error"]["code"], -32602);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_document_progress_and_show_output() {
    // No backend setting and no endpoint: `auto` picks the local sandbox.
    let f = fixture_with(CELLS, json!({}), rich_capabilities()).await;
    let mark = f.client.mark();
    f.client.run_and_wait("azureSandbox.runCell", json!([at(&f.uri, 0)]), &f.uri).await;
    let changed = f.client.wait_after(mark, "outputChanged", |m| m["method"] == "azureSandbox/outputChanged").await;
    let output_uri = changed["params"]["uri"].as_str().unwrap().to_owned();
    assert!(output_uri.starts_with("azure-sandbox-output:"), "{output_uri}");
    let by_document = f.client.result("azureSandbox/output", json!({"uri": f.uri})).await;
    assert_eq!(by_document["uri"], output_uri.as_str());
    let text = by_document["text"].as_str().unwrap();
    assert!(text.contains("=== main.py:2-5 |") && text.contains("local sandbox"), "{text}");
    let by_scheme = f.client.result("workspace/textDocumentContent", json!({"uri": output_uri})).await;
    assert_eq!(by_scheme["text"], by_document["text"]);
    // Progress: created by the server, begun with a title, ended with the status.
    let create = f.client.messages(mark, "window/workDoneProgress/create");
    assert_eq!(create.len(), 1, "one progress per run");
    let progress = f.client.messages(mark, "$/progress");
    let begin = progress.iter().find(|p| p["params"]["value"]["kind"] == "begin").expect("begin");
    assert_eq!(begin["params"]["value"]["title"], "Running main.py:2-5 in local sandbox");
    assert_eq!(begin["params"]["value"]["cancellable"], true);
    let end = f
        .client
        .wait_after(mark, "progress end", |m| m["method"] == "$/progress" && m["params"]["value"]["kind"] == "end")
        .await;
    assert!(end["params"]["value"]["message"].as_str().unwrap().starts_with('✓'), "{end}");
    assert!(!f.client.messages(mark, "workspace/codeLens/refresh").is_empty());
    assert!(!f.client.messages(mark, "window/logMessage").is_empty());
    // showOutput opens the virtual document in a client that has the feature.
    let mark = f.client.mark();
    let shown = f
        .client
        .result(
            "workspace/executeCommand",
            json!({"command": "azureSandbox.showOutput", "arguments": [{"uri": f.uri}]}),
        )
        .await;
    assert_eq!(shown["uri"], output_uri.as_str());
    let show = f.client.wait_after(mark, "showDocument", |m| m["method"] == "window/showDocument").await;
    assert_eq!(show["params"]["uri"], output_uri.as_str());
    // The first run said, once, that code runs locally and how to use Azure.
    f.client.run_and_wait("azureSandbox.runCell", json!([at(&f.uri, 0)]), &f.uri).await;
    let notices: Vec<Value> = f.client.messages(0, "window/showMessage");
    let local: Vec<&Value> = notices
        .iter()
        .filter(|m| m["params"]["message"].as_str().unwrap().contains("local sandbox on this machine"))
        .collect();
    assert_eq!(local.len(), 1, "{notices:?}");
    let message = local[0]["params"]["message"].as_str().unwrap();
    assert!(message.contains("azureSandbox.pool"), "{message}");
    // And how far that code is kept from the user's.
    assert!(message.contains("Its isolation: namespaces") || message.contains("Its isolation: process isolation"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_from_workspace_configuration_and_changes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let client = LspClient::in_process();
    // The pull at `initialized` brings a custom cell marker.
    *client.configuration.lock().unwrap() = json!({"backend": "local", "cellMarker": "#\\s*-{3,}"});
    client.initialize(&root, json!({}), json!({"workspace": {"configuration": true}})).await;
    let uri = file_uri(&root.join("m.py"));
    client.open(&uri, "a = 1\n# ---- part two\nb = 2\n").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut lenses = Value::Null;
    while Instant::now() < deadline {
        lenses = client.code_lenses(&uri).await;
        if lenses.as_array().unwrap().len() > 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(titles(&lenses).contains(&(1, "▶ Run in local sandbox".into())), "{lenses}");
    // didChangeConfiguration with settings in it: back to the standard markers.
    client
        .notify("workspace/didChangeConfiguration", json!({"settings": {"azureSandbox": {"backend": "local"}}}))
        .await;
    let lenses = client.code_lenses(&uri).await;
    assert_eq!(titles(&lenses), vec![(0, "Run file in local sandbox".into())]);
    // A malformed value is refused with a message, and the settings stay.
    let mark = client.mark();
    client.notify("workspace/didChangeConfiguration", json!({"settings": {"azureSandbox": {"backend": 7}}})).await;
    let warning = client.wait_after(mark, "a settings warning", |m| m["method"] == "window/showMessage").await;
    assert!(warning["params"]["message"].as_str().unwrap().contains("keeping the previous settings"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_run_and_marks_it_everywhere() {
    let text = "# %%\nimport time\ntime.sleep(30)\n# %%\nquick = 1\n";
    let f = fixture(text, rich_capabilities()).await;
    let mark = start_and_wait_until_running(&f, "azureSandbox.runCell", json!([at(&f.uri, 1)])).await;
    let started = Instant::now();
    let cancelled = f
        .client
        .result("workspace/executeCommand", json!({"command": "azureSandbox.cancel", "arguments": [{"uri": f.uri}]}))
        .await;
    assert_eq!(cancelled["cancelled"], 1);
    let end = f
        .client
        .wait_after(mark, "progress end", |m| m["method"] == "$/progress" && m["params"]["value"]["kind"] == "end")
        .await;
    assert_eq!(end["params"]["value"]["message"], "⏹ cancelled");
    let hover = f
        .client
        .result("textDocument/hover", json!({"textDocument": {"uri": f.uri}, "position": {"line": 2, "character": 0}}))
        .await;
    assert!(hover["contents"]["value"].as_str().unwrap().contains("Cancelled"), "{hover}");
    // The sandbox was told: the environment is free again at once.
    f.client.run_and_wait("azureSandbox.runCell", json!([at(&f.uri, 4)]), &f.uri).await;
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let output = f.client.result("azureSandbox/output", json!({"uri": f.uri})).await;
    assert!(output["text"].as_str().unwrap().contains("cancelled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_cancel_button_cancels_that_run() {
    let text = "import time\ntime.sleep(30)\n";
    let f = fixture(text, rich_capabilities()).await;
    let mark = f.client.mark();
    f.client
        .result("workspace/executeCommand", json!({"command": "azureSandbox.runFile", "arguments": [{"uri": f.uri}]}))
        .await;
    let begin = f
        .client
        .wait_after(mark, "progress begin", |m| m["method"] == "$/progress" && m["params"]["value"]["kind"] == "begin")
        .await;
    let token = begin["params"]["token"].clone();
    f.client.notify("window/workDoneProgress/cancel", json!({"token": token})).await;
    let end = f
        .client
        .wait_after(mark, "progress end", |m| m["method"] == "$/progress" && m["params"]["value"]["kind"] == "end")
        .await;
    assert_eq!(end["params"]["value"]["message"], "⏹ cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_gives_a_fresh_environment() {
    let text = "x = 1\nx\n";
    let f = fixture(text, json!({})).await;
    f.client.run_and_wait("azureSandbox.runLines", json!([f.uri, 1, 1]), &f.uri).await;
    let mark = f.client.mark();
    f.client
        .result("workspace/executeCommand", json!({"command": "azureSandbox.restart", "arguments": [{"uri": f.uri}]}))
        .await;
    let message = f.client.wait_after(mark, "restart message", |m| m["method"] == "window/showMessage").await;
    assert!(
        message["params"]["message"].as_str().unwrap().contains("started a new local sandbox environment"),
        "{message}"
    );
    let (_, diagnostics) = f.client.run_and_wait("azureSandbox.runLines", json!([f.uri, 2, 2]), &f.uri).await;
    assert_eq!(diagnostics[0]["message"], "NameError: name 'x' is not defined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_during_a_run_moves_its_diagnostic() {
    let text = "# %%\nimport time\ntime.sleep(1)\n1 / 0\n";
    let f = fixture(text, rich_capabilities()).await;
    let mark = start_and_wait_until_running(&f, "azureSandbox.runCell", json!([at(&f.uri, 1)])).await;
    // Two lines typed above the cell while it runs.
    f.client
        .notify("textDocument/didChange", json!({"textDocument": {"uri": f.uri, "version": 2},
            "contentChanges": [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "text": "# new\n# lines\n"}]}))
        .await;
    let published =
        f.client.wait_after(mark, "diagnostics", |m| m["method"] == "textDocument/publishDiagnostics").await;
    assert_eq!(published["params"]["version"], 2);
    assert_eq!(published["params"]["diagnostics"][0]["range"]["start"]["line"], 5, "line 3 moved down by two");
    // An edit on the diagnostic's line clears it.
    let mark = f.client.mark();
    f.client
        .notify("textDocument/didChange", json!({"textDocument": {"uri": f.uri, "version": 3},
            "contentChanges": [{"range": {"start": {"line": 5, "character": 0}, "end": {"line": 5, "character": 5}}, "text": "1 / 1"}]}))
        .await;
    let published =
        f.client.wait_after(mark, "cleared diagnostics", |m| m["method"] == "textDocument/publishDiagnostics").await;
    assert_eq!(published["params"]["diagnostics"], json!([]));
    assert_eq!(published["params"]["version"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_run_in_parallel_and_runs_in_order_within_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let (a, b) = (root.join("a"), root.join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let client = LspClient::in_process();
    client
        .result(
            "initialize",
            json!({"processId": null, "capabilities": {}, "initializationOptions": {"backend": "local"},
            "workspaceFolders": [{"uri": file_uri(&a), "name": "a"}, {"uri": file_uri(&b), "name": "b"}]}),
        )
        .await;
    client.notify("initialized", json!({})).await;
    let text = "import time\ntime.sleep(1.5); order = [1]\norder.append(2)\norder.append(3); order\n";
    let (ua, ub) = (file_uri(&a.join("x.py")), file_uri(&b.join("y.py")));
    client.open(&ua, text).await;
    client.open(&ub, "import time\ntime.sleep(1.5)\n'b done'\n").await;
    let started = Instant::now();
    let mark = client.mark();
    for lines in [[1, 2], [3, 3], [4, 4]] {
        client
            .result(
                "workspace/executeCommand",
                json!({"command": "azureSandbox.runLines", "arguments": [ua, lines[0], lines[1]]}),
            )
            .await;
    }
    client
        .result("workspace/executeCommand", json!({"command": "azureSandbox.runFile", "arguments": [{"uri": ub}]}))
        .await;
    // Wait for both documents' last runs.
    let mut published_a = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while published_a < 3 && Instant::now() < deadline {
        published_a = client
            .messages(mark, "textDocument/publishDiagnostics")
            .iter()
            .filter(|m| m["params"]["uri"] == ua.as_str())
            .count();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client
        .wait_after(mark, "b's run", |m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == ub.as_str()
        })
        .await;
    let elapsed = started.elapsed();
    let hints = client
        .result(
            "textDocument/inlayHint",
            json!({"textDocument": {"uri": ua},
        "range": {"start": {"line": 0, "character": 0}, "end": {"line": 5, "character": 0}}}),
        )
        .await;
    let last = hints.as_array().unwrap().iter().find(|h| h["position"]["line"] == 3).expect("hint for the last run");
    assert_eq!(last["label"], "→ [1, 2, 3]", "runs in one workspace keep their order");
    // Two 1.5 s sleeps in different workspaces overlap.
    assert!(elapsed < Duration::from_millis(2900), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_params_get_errors_or_clamping_never_a_crash() {
    let f = fixture("x = 1\n", json!({})).await;
    let client = &f.client;
    let errors = [
        json!({"command": "azureSandbox.run", "arguments": [{"uri": "file:///nowhere/else.py", "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}}}]}),
        json!({"command": "azureSandbox.run", "arguments": [{"uri": f.uri, "range": {"start": {"line": 90, "character": 0}, "end": {"line": 99, "character": 0}}}]}),
        json!({"command": "azureSandbox.runLines", "arguments": [f.uri, "one", "two"]}),
        json!({"command": "azureSandbox.runLines", "arguments": [f.uri, 5, 9]}),
        json!({"command": "azureSandbox.runCell", "arguments": [at(&f.uri, 0)]}),
        json!({"command": "azureSandbox.runCell", "arguments": []}),
        json!({"command": "azureSandbox.run", "arguments": [42]}),
        json!({"command": "azureSandbox.noSuchCommand", "arguments": []}),
    ];
    for params in errors {
        let response = client.request("workspace/executeCommand", params.clone()).await;
        assert_eq!(response["error"]["code"], -32602, "{params} -> {response}");
    }
    // Unknown documents: empty answers.
    let unknown = json!({"textDocument": {"uri": "file:///nowhere/else.py"}});
    assert_eq!(client.result("textDocument/codeLens", unknown.clone()).await, json!([]));
    assert_eq!(
        client
            .result(
                "textDocument/hover",
                json!({"textDocument": {"uri": "file:///nowhere/else.py"}, "position": {"line": 0, "character": 0}})
            )
            .await,
        Value::Null
    );
    // Positions past the end are clamped: an edit far away appends.
    client
        .notify("textDocument/didChange", json!({"textDocument": {"uri": f.uri, "version": 2},
            "contentChanges": [{"range": {"start": {"line": 40, "character": 9}, "end": {"line": 41, "character": 0}}, "text": "y = 2\n"}]}))
        .await;
    // A range ending past the end runs to the end.
    let range = json!({"start": {"line": 0, "character": 0}, "end": {"line": 500, "character": 0}});
    let (_, diagnostics) =
        client.run_and_wait("azureSandbox.run", json!([{"uri": f.uri, "range": range}]), &f.uri).await;
    assert_eq!(diagnostics, json!([]));
    let output = client.result("azureSandbox/output", json!({"uri": f.uri})).await;
    assert!(output["text"].as_str().unwrap().contains("✓"));
    // Malformed requests are answered, and the server keeps going.
    let response = client.request("textDocument/hover", json!({"wrong": true})).await;
    assert!(response["error"].is_object(), "{response}");
    let response = client.request("azureSandbox/output", json!({"uri": "not a uri"})).await;
    assert!(response["error"].is_object(), "{response}");
    assert_eq!(client.code_lenses(&f.uri).await[0]["command"]["command"], "azureSandbox.runFile");
}

/// The real binary over stdio, against a local sandbox playing the Azure
/// endpoint (with a short cool-down), with the registry in a private cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_binary_against_an_endpoint_relaunches_an_expired_environment() {
    let sandbox = azure_sandbox_lsp::sandbox::LocalSandbox::start(
        azure_sandbox_lsp::sandbox::SandboxConfig {
            isolate_users: false,
            cool_down: Duration::from_millis(600),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let path = root.join("nb.py");
    let text = "x = 41\nx + 1\n";
    std::fs::write(&path, text).unwrap();
    let client = LspClient::binary(&[
        ("AZURE_SANDBOX_CACHE_DIR", cache.path().to_str().unwrap()),
        ("AZURE_SANDBOX_MCP_ENDPOINT", sandbox.endpoint()),
        ("AZURE_SANDBOX_API_KEY", sandbox.api_key().expose()),
    ]);
    let result = client.initialize(&root, json!({}), json!({})).await;
    assert_eq!(result["serverInfo"]["name"], "azure-sandbox-lsp");
    assert_eq!(result["serverInfo"]["version"], env!("CARGO_PKG_VERSION"), "the version is Cargo.toml's");
    let uri = file_uri(&path);
    client.open(&uri, text).await;
    let lenses = client.code_lenses(&uri).await;
    assert_eq!(lenses[0]["command"]["title"], "Run file in Azure sandbox");
    client.run_and_wait("azureSandbox.runLines", json!([uri, 1, 1]), &uri).await;
    let (_, diagnostics) = client.run_and_wait("azureSandbox.runLines", json!([uri, 2, 2]), &uri).await;
    assert_eq!(diagnostics, json!([]));
    assert!(cache.path().join("environments.json").exists(), "the registry is kept");
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let mark = client.mark();
    let (_, diagnostics) = client.run_and_wait("azureSandbox.runLines", json!([uri, 2, 2]), &uri).await;
    assert_eq!(diagnostics[0]["message"], "NameError: name 'x' is not defined");
    let warning = client.wait_after(mark, "the expiry message", |m| m["method"] == "window/showMessage").await;
    assert_eq!(warning["params"]["type"], 2);
    assert!(warning["params"]["message"].as_str().unwrap().contains("expired"), "{warning}");
    // showOutput in a client without the virtual document: the file mirror, owner-only.
    let shown = client
        .result("workspace/executeCommand", json!({"command": "azureSandbox.showOutput", "arguments": [{"uri": uri}]}))
        .await;
    let file = shown["uri"].as_str().unwrap().strip_prefix("file://").unwrap().to_owned();
    let file = std::path::PathBuf::from(file.replace("%20", " "));
    assert!(file.starts_with(cache.path()), "{file:?}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&file).unwrap().contains("NameError"));
    client.shutdown().await;
}

/// Regression: a `workspace/configuration` answer that changes nothing about
/// the sandbox must not replace it (that lost the environment's state).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_pull_keeps_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let client = LspClient::in_process();
    *client.configuration.lock().unwrap() = json!({"runTimeout": 60});
    client.initialize(&root, json!({"backend": "local"}), json!({"workspace": {"configuration": true}})).await;
    let uri = file_uri(&root.join("s.py"));
    client.open(&uri, "kept = 'yes'\nkept\n").await;
    client.run_and_wait("azureSandbox.runLines", json!([uri, 1, 1]), &uri).await;
    client.wait_after(0, "the configuration pull", |m| m["method"] == "workspace/configuration").await;
    // The pull is answered; give the server a moment to apply it, then use the state.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, diagnostics) = client.run_and_wait("azureSandbox.runLines", json!([uri, 2, 2]), &uri).await;
    assert_eq!(diagnostics, json!([]), "the variable from the first run is still there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_document_mid_run_still_ends_the_run_everywhere() {
    let f = fixture("import time\ntime.sleep(0.8)\nprint('finished after close')\n", rich_capabilities()).await;
    // A run shorter than the first progress tick still says "running"
    // (the report made before the editor created the progress is kept).
    let mark = start_and_wait_until_running(&f, "azureSandbox.runFile", json!([{"uri": f.uri}])).await;
    f.client.notify("textDocument/didClose", json!({"textDocument": {"uri": f.uri}})).await;
    let end = f
        .client
        .wait_after(mark, "progress end", |m| m["method"] == "$/progress" && m["params"]["value"]["kind"] == "end")
        .await;
    assert!(end["params"]["value"]["message"].as_str().unwrap().starts_with('✓'), "{end}");
    let output = f.client.result("azureSandbox/output", json!({"uri": f.uri})).await;
    assert!(output["text"].as_str().unwrap().contains("finished after close"), "{output}");
    // Exactly one begin and one end for the run.
    let progress = f.client.messages(mark, "$/progress");
    assert_eq!(progress.iter().filter(|p| p["params"]["value"]["kind"] == "begin").count(), 1);
    assert_eq!(progress.iter().filter(|p| p["params"]["value"]["kind"] == "end").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_outside_the_workspace_are_refused_even_through_dot_dot_or_links() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().canonicalize().unwrap().join("outside.py");
    std::fs::write(&secret, "print('must not run')\n").unwrap();
    let f = fixture("x = 1\n", json!({})).await;
    let root = std::path::PathBuf::from(f.uri.strip_prefix("file://").unwrap()).parent().unwrap().to_path_buf();
    let sneaky = format!(
        "{}/../{}/outside.py",
        root.display(),
        outside.path().canonicalize().unwrap().strip_prefix("/").unwrap().display()
    );
    std::os::unix::fs::symlink(&secret, root.join("link.py")).unwrap();
    for target in [secret.display().to_string(), sneaky, root.join("link.py").display().to_string()] {
        let response = f
            .client
            .request(
                "workspace/executeCommand",
                json!({"command": "azureSandbox.runLines", "arguments": [target, 1, 1]}),
            )
            .await;
        assert_eq!(response["error"]["code"], -32602, "{target}: {response}");
        assert!(response["error"]["message"].as_str().unwrap().contains("refusing"), "{response}");
    }
    // Helix-style string arguments and a bare cancel work.
    let cancelled =
        f.client.result("workspace/executeCommand", json!({"command": "azureSandbox.cancel", "arguments": []})).await;
    assert_eq!(cancelled["cancelled"], 0);
    let (_, diagnostics) = f.client.run_and_wait("azureSandbox.runFile", json!([f.uri]), &f.uri).await;
    assert_eq!(diagnostics, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_line_on_an_indented_last_line_is_dedented() {
    // No trailing newline: the action's range (line 1 .. line 2) is clamped.
    let f = fixture("if True:\n    value = 6 * 7", json!({})).await;
    let range = json!({"start": {"line": 1, "character": 0}, "end": {"line": 2, "character": 0}});
    let (_, diagnostics) =
        f.client.run_and_wait("azureSandbox.run", json!([{"uri": f.uri, "range": range}]), &f.uri).await;
    assert_eq!(diagnostics, json!([]), "not an IndentationError");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_timeout_setting_bounds_each_run() {
    let f =
        fixture_with("import time\ntime.sleep(20)\n'after'\n", json!({"backend": "local", "runTimeout": 1}), json!({}))
            .await;
    let started = Instant::now();
    let mark = f.client.mark();
    f.client.run_and_wait("azureSandbox.runFile", json!([{"uri": f.uri}]), &f.uri).await;
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let message = f.client.wait_after(mark, "the timeout message", |m| m["method"] == "window/showMessage").await;
    assert!(message["params"]["message"].as_str().unwrap().contains("within 1 s"), "{message}");
    // The sandbox was told to stop, so the environment answers again at once.
    let (_, diagnostics) = f.client.run_and_wait("azureSandbox.runLines", json!([f.uri, 3, 3]), &f.uri).await;
    assert_eq!(diagnostics, json!([]));
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

/// Helix 25.01 cannot pass arguments to `:lsp-workspace-command`: commands
/// without them act on the document last sent or asked about.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_without_arguments_use_the_last_document() {
    let f = fixture("answer = 6 * 7\nanswer\n", json!({})).await;
    let (_, diagnostics) = f.client.run_and_wait("azureSandbox.runFile", json!([]), &f.uri).await;
    assert_eq!(diagnostics, json!([]));
    let output = f.client.result("azureSandbox/output", json!({"uri": f.uri})).await;
    assert!(output["text"].as_str().unwrap().contains("=== main.py:1-2 |"), "{output}");
    let shown = f
        .client
        .result("workspace/executeCommand", json!({"command": "azureSandbox.showOutput", "arguments": []}))
        .await;
    assert!(shown["uri"].is_string(), "{shown}");
}

/// A client that never answers the server's requests (progress create,
/// configuration, refreshes, showDocument) loses only those features: runs
/// finish and are published, and every request of its own is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_answers_loses_only_those_features() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let path = root.join("main.py");
    std::fs::write(&path, CELLS).unwrap();
    let client = LspClient::in_process();
    client.silent.store(true, std::sync::atomic::Ordering::SeqCst);
    let started = Instant::now();
    client.initialize(&root, json!({"backend": "local"}), rich_capabilities()).await;
    let uri = file_uri(&path);
    client.open(&uri, CELLS).await;
    let mark = client.mark();
    client.run_and_wait("azureSandbox.runCell", json!([at(&uri, 1)]), &uri).await;
    let (_, diagnostics) = client.run_and_wait("azureSandbox.runCell", json!([at(&uri, 7)]), &uri).await;
    assert_eq!(diagnostics[0]["message"], "ZeroDivisionError: division by zero");
    let shown = client
        .result("workspace/executeCommand", json!({"command": "azureSandbox.showOutput", "arguments": [{"uri": uri}]}))
        .await;
    assert!(shown["uri"].as_str().unwrap().starts_with("azure-sandbox-output://"), "{shown}");
    let hover = client
        .result("textDocument/hover", json!({"textDocument": {"uri": uri}, "position": {"line": 8, "character": 0}}))
        .await;
    assert!(hover["contents"]["value"].as_str().unwrap().contains("héllo"), "{hover}");
    assert!(client.code_lenses(&uri).await.as_array().unwrap().len() > 3, "the lenses and the runs' outcomes");
    // The server asked, and went on without the answers.
    let asked: Vec<String> = client
        .received
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.get("id").is_some() && m.get("method").is_some())
        .map(|m| m["method"].as_str().unwrap().to_owned())
        .collect();
    for method in ["workspace/configuration", "window/workDoneProgress/create", "workspace/codeLens/refresh"] {
        assert!(asked.iter().any(|m| m == method), "{method} not asked: {asked:?}");
    }
    assert!(client.messages(mark, "$/progress").is_empty(), "no progress without a created token");
    assert!(started.elapsed() < Duration::from_secs(10), "nothing waited for the client: {:?}", started.elapsed());
}
