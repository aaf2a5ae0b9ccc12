//! The workspace mirror against a real local sandbox (whose environments,
//! like Azure's, see the workspace only through what the client sends): a
//! script that imports a sibling module, reads a CSV by relative path and
//! by `Path(__file__).parent` and writes `out.csv`, from the command line
//! (against `serve-local`) and from the language server; only changes
//! travel; a relaunched environment gets everything; secrets, ignored files
//! and the outside never leave; a file changing mid-transfer arrives whole;
//! over the budget nothing is sent; downloads never overwrite or escape.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use azure_sandbox_lsp::mirror::{self, MirrorError, MirrorRecord, MirrorRules, ScanError};
use azure_sandbox_lsp::run::{RunOptions, Snippet};
use serde_json::{Value, json};

use crate::common::{self, local_server::LocalServer, lsp::*};

const BIN: &str = env!("CARGO_BIN_EXE_azure-sandbox-lsp");
const SENTINEL: &str = "sentinel-3f9c1e-never-leaves";

const ANALYSIS: &str = "import csv
from pathlib import Path
import helpers
with open('data/sales.csv') as f:
    rows = list(csv.reader(f))[1:]
here = Path(__file__).parent
again = (here / 'data' / 'sales.csv').read_text()
total = helpers.total(rows)
print('total', total, 'same', again.count('\\n') == len(rows) + 1)
Path('out.csv').write_text('total\\n%d\\n' % total)
";

/// A workspace: a repository with a module, data, a secret and an ignored file.
fn workspace() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("my project").canonicalize().unwrap_or_else(|_| {
        std::fs::create_dir_all(dir.path().join("my project")).unwrap();
        dir.path().join("my project").canonicalize().unwrap()
    });
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    std::fs::create_dir_all(root.join(".git")).unwrap();
    write(".git/config", SENTINEL);
    write(".gitignore", "scratch/\n");
    write("helpers.py", "def total(rows):\n    return sum(int(r[1]) for r in rows)\n");
    write("data/sales.csv", "region,amount\nnorth,10\nsouth,32\n");
    write("analysis.py", ANALYSIS);
    write(".env", &format!("API_KEY={SENTINEL}\n"));
    write("certs/server.pem", SENTINEL);
    write("scratch/notes.txt", SENTINEL);
    write("données/ünï file.csv", "a\n1\n");
    (dir, root)
}

/// Code that looks for the sentinel in every file of the environment's data
/// directory and prints how many files hold it.
const HUNT: &str = "import os
base = os.environ.get('AZSB_MIRROR_BASE', os.getcwd())
hits = 0
for d, _, files in os.walk(base):
    for n in files:
        try:
            hits += b'sentinel-3f9c1e-never-leaves' in open(os.path.join(d, n), 'rb').read()
        except OSError:
            pass
print('hits', hits)
";

/// From the command line against serve-local: the script works unchanged,
/// its traceback would name local paths, what it wrote is named and can be
/// pulled; `files ls` shows the mirror without secrets or ignored files.
#[test]
fn the_script_works_from_the_command_line_against_serve_local() {
    let (_dir, root) = workspace();
    let log = root.parent().unwrap().join("serve.log");
    let server = LocalServer::start(&["--port", "0"], "test-key-0123456789", &log);
    let cache = root.parent().unwrap().join("cache");
    let cli = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .current_dir(&root)
            .env("AZURE_SANDBOX_MCP_ENDPOINT", &server.endpoint)
            .env("AZURE_SANDBOX_API_KEY", "test-key-0123456789")
            .env("AZURE_SANDBOX_CACHE_DIR", &cache)
            .env_remove("AZURE_SANDBOX_POOL")
            .output()
            .unwrap()
    };
    let output = cli(&["run", "analysis.py"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(stdout, "total 42 same True\n");
    assert!(stderr.contains("sent 5 changed files"), "{stderr}");
    assert!(stderr.contains("the run wrote out.csv (9 B)"), "{stderr}");
    // Nothing changed: nothing sent, and a failing line names the local file.
    std::fs::write(root.join("fail.py"), "import helpers\nhelpers.total([['x', 'nan?']])\n").unwrap();
    let output = cli(&["run", "fail.py"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("sent 1 changed file "), "only the new file: {stderr}");
    let helpers = root.join("helpers.py");
    assert!(stderr.contains(&format!("File \"{}\", line 2, in total", helpers.display())), "{stderr}");

    let output = cli(&["files", "ls"]);
    let listed = String::from_utf8_lossy(&output.stdout);
    for present in ["analysis.py", "helpers.py", "data/sales.csv", "out.csv", "données/ünï file.csv"] {
        assert!(listed.lines().any(|l| l.ends_with(&format!("\t{present}"))), "{present} in {listed}");
    }
    for absent in [".env", "certs/server.pem", "scratch/notes.txt", ".git/config"] {
        assert!(!listed.contains(absent), "{absent} in {listed}");
    }
    let output = cli(&["files", "pull", "out.csv"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(std::fs::read_to_string(root.join("out.csv")).unwrap(), "total\n42\n");
    // The fetched file is the same here as there: the next run does not send it back.
    let output = cli(&["run", "analysis.py"]);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("sent"), "{}", String::from_utf8_lossy(&output.stderr));
    std::fs::write(root.join("out.csv"), "mine\n").unwrap();
    let output = cli(&["files", "pull", "out.csv"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("a different local file was kept"));
    assert_eq!(std::fs::read_to_string(root.join("out.csv")).unwrap(), "mine\n");
    assert_eq!(std::fs::read_to_string(root.join("out (sandbox).csv")).unwrap(), "total\n42\n");
    let output = cli(&["files", "pull", "../../escape.txt"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(!root.parent().unwrap().parent().unwrap().join("escape.txt").exists());
    let output = cli(&["files", "push", ".env"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("looks like a secret"));
    // Beside another file: that one is sent, the secret left out and named.
    let output = cli(&["files", "push", "helpers.py", ".env"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("sent 1 file") && stderr.contains("not sent (it looks like a secret): .env"), "{stderr}");
    let listed = cli(&["files", "ls"]);
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(".env"), "{}", String::from_utf8_lossy(&listed.stdout));
}

struct Bench {
    sandbox: azure_sandbox_lsp::sandbox::LocalSandbox,
    engine: azure_sandbox_lsp::run::Engine,
    record: MirrorRecord,
}

async fn bench() -> Bench {
    let sandbox = common::sandbox(common::config()).await;
    let engine = common::engine(&sandbox);
    Bench { sandbox, engine, record: MirrorRecord::in_memory() }
}

fn quiet(_: u64, _: u64) {}

/// What a run of `root/probe.py` does: sync, then the run carries what is
/// small; what arrived is recorded. Returns the sync's report.
async fn sync_and_run(b: &Bench, root: &std::path::Path, rules: &MirrorRules) -> mirror::SyncReport {
    let key = b.engine.workspace_key(root.to_owned());
    let synced = mirror::sync(&b.engine, &key, rules, &b.record, &quiet).await.unwrap();
    let file = root.join("probe.py");
    let mut spec = mirror::spec_for(root, &file);
    spec.files = synced.inline.clone();
    let options = RunOptions { mirror: Some(spec), ..Default::default() };
    let report = b.engine.run_with(&key, &Snippet::whole(&file.to_string_lossy(), "pass"), &options).await.unwrap();
    assert!(report.mirror_failures.is_empty(), "{:?}", report.mirror_failures);
    synced.confirm(&key, &b.record, &[]);
    synced.report
}

/// Only what changed travels: a second sync sends nothing (no request at
/// all), a changed file is sent alone, a relaunched environment gets
/// everything again; no secret, ignored file or `.git` content is in the
/// environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_changes_travel_and_secrets_never_do() {
    let (_dir, root) = workspace();
    let b = bench().await;
    let key = b.engine.workspace_key(root.clone());
    let rules = MirrorRules::default();
    let first = sync_and_run(&b, &root, &rules).await;
    assert_eq!((first.files, first.unchanged, first.requests), (5, 0, 0), "small: carried by the run: {first:?}");
    assert_eq!(first.secrets, [".env", "certs/server.pem"]);
    let again = sync_and_run(&b, &root, &rules).await;
    assert_eq!((again.files, again.requests, again.unchanged), (0, 0, 5), "nothing changed: nothing sent");
    std::fs::write(root.join("helpers.py"), "def total(rows):\n    return -1\n").unwrap();
    let changed = sync_and_run(&b, &root, &rules).await;
    assert_eq!((changed.files, changed.requests, changed.bytes), (1, 0, 31), "one change rides on the run");
    // A change too big to carry goes ahead of the run, in its own requests.
    std::fs::write(root.join("data/sales.csv"), "region,amount\n".to_owned() + &"north,1\n".repeat(20_000)).unwrap();
    let big = sync_and_run(&b, &root, &rules).await;
    assert_eq!((big.files, big.requests), (1, 1));

    let hunt = b.engine.run(&key, &Snippet::whole("/x/hunt.py", HUNT)).await.unwrap();
    assert_eq!(hunt.stdout, "hits 0\n", "no secret, ignored file or .git content in the environment");

    b.engine.restart(&key).await.unwrap();
    let relaunched = sync_and_run(&b, &root, &rules).await;
    assert_eq!(relaunched.files, 5, "a new environment gets everything");
    b.sandbox.shutdown().await;
}

/// A file rewritten while it is being sent arrives whole: one version or
/// the other, never a mix, and its next change is sent next time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changing_mid_transfer_arrives_whole() {
    let (_dir, root) = workspace();
    let b = bench().await;
    let key = b.engine.workspace_key(root.clone());
    let big = root.join("data/big.bin");
    std::fs::write(&big, vec![b'a'; 3 << 20]).unwrap();
    let writer = {
        let big = big.clone();
        std::thread::spawn(move || {
            for round in 0..40u8 {
                let byte = b'a' + round % 26;
                let temporary = big.with_extension("tmp");
                std::fs::write(&temporary, vec![byte; 3 << 20]).unwrap();
                std::fs::rename(&temporary, &big).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    };
    let sent = mirror::sync(&b.engine, &key, &MirrorRules::default(), &b.record, &quiet).await.unwrap();
    writer.join().unwrap();
    assert!(sent.report.files >= 1 && sent.inline.is_empty(), "3 MB goes ahead of the run");
    let check = "data = open('data/big.bin', 'rb').read()\nprint(len(data), len(set(data)))";
    let options = RunOptions { mirror: Some(mirror::spec_for(&root, &root.join("check.py"))), ..Default::default() };
    let report = b
        .engine
        .run_with(&key, &Snippet::whole(&root.join("check.py").to_string_lossy(), check), &options)
        .await
        .unwrap();
    assert_eq!(report.stdout, format!("{} 1\n", 3 << 20), "one whole version: {:?}", report.stderr);
    let next = mirror::sync(&b.engine, &key, &MirrorRules::default(), &b.record, &quiet).await.unwrap();
    let fetched = mirror::fetch(&b.engine, &key, "data/big.bin").await.unwrap();
    assert_eq!(fetched.bytes, std::fs::read(&big).unwrap(), "the last version, after the next sync ({next:?})");
    b.sandbox.shutdown().await;
}

/// A workspace over the budget: a clear message, and nothing sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_budget_nothing_is_sent() {
    let (_dir, root) = workspace();
    std::fs::write(root.join("data/huge.bin"), vec![7u8; 60_000_000]).unwrap();
    let b = bench().await;
    let key = b.engine.workspace_key(root.clone());
    let error = mirror::sync(&b.engine, &key, &MirrorRules::default(), &b.record, &quiet).await.unwrap_err();
    assert!(matches!(&error, MirrorError::Scan(ScanError::OverBudget { .. })), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("60.0 MB") && message.contains("none were sent") && message.contains("data/huge.bin"),
        "{message}"
    );
    let listing = mirror::list(&b.engine, &key).await.unwrap();
    assert!(listing.files.is_empty(), "nothing partial: {listing:?}");
    // Excluding it is enough.
    let rules = MirrorRules { exclude: vec!["data/huge.bin".into()], ..MirrorRules::default() };
    assert_eq!(sync_and_run(&b, &root, &rules).await.files, 5);
    b.sandbox.shutdown().await;
}

/// What the environment names can never reach outside the workspace: a
/// link out of the mirror is not fetched, `..` is refused, and nothing lands
/// outside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_cannot_send_files_outside_the_workspace() {
    let (_dir, root) = workspace();
    let b = bench().await;
    let key = b.engine.workspace_key(root.clone());
    sync_and_run(&b, &root, &MirrorRules::default()).await;
    let spec = mirror::spec_for(&root, &root.join("evil.py"));
    let evil = "import os\nos.symlink('/etc/hostname', 'leak.txt')\nos.makedirs('deep', exist_ok=True)\n";
    let options = RunOptions { mirror: Some(spec), ..Default::default() };
    let report = b
        .engine
        .run_with(&key, &Snippet::whole(&root.join("evil.py").to_string_lossy(), evil), &options)
        .await
        .unwrap();
    assert!(report.succeeded(), "{}", report.stderr);
    assert!(
        matches!(mirror::fetch(&b.engine, &key, "leak.txt").await, Err(MirrorError::Missing(_))),
        "a link out is not followed"
    );
    for escape in ["../../x", "/etc/passwd", "deep/../../../x"] {
        assert!(mirror::fetch(&b.engine, &key, escape).await.is_err(), "{escape}");
    }
    let unicode = mirror::fetch(&b.engine, &key, "données/ünï file.csv").await.unwrap();
    assert_eq!(unicode.bytes, b"a\n1\n");
    b.sandbox.shutdown().await;
}

async fn finished_after(client: &LspClient, mark: usize, id: &Value) -> Value {
    let id = id.clone();
    client
        .wait_after(mark, "runFinished", move |m| {
            m["method"] == "azureSandbox/runFinished" && m["params"]["runId"] == id
        })
        .await["params"]
        .clone()
}

/// The language server: the script runs in its mirror, runFinished names
/// what it wrote, fetchFiles brings it home (keeping a different local
/// file), and a FileNotFoundError for an ignored workspace file offers
/// "Send … and run again", which works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_server_mirrors_runs_and_fetches_results() {
    let (_dir, root) = workspace();
    std::fs::write(root.join("scratch/input.txt"), "from scratch\n").unwrap();
    let client = Arc::new(LspClient::binary(&[(
        "AZURE_SANDBOX_CACHE_DIR",
        root.parent().unwrap().join("cache").to_str().unwrap(),
    )]));
    client.initialize(&root, json!({"backend": "local"}), rich_capabilities()).await;
    let uri = file_uri(&root.join("analysis.py"));
    client.open(&uri, ANALYSIS).await;
    let command = |name: &str, arguments: Value| {
        let client = Arc::clone(&client);
        let name = name.to_owned();
        async move { client.result("workspace/executeCommand", json!({"command": name, "arguments": arguments})).await }
    };
    let mark = client.mark();
    let accepted = command("azureSandbox.runFile", json!([{"uri": uri}])).await;
    let done = finished_after(&client, mark, &accepted["runId"]).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["outputs"][0]["text"], "total 42 same True\n");
    assert_eq!(done["files"], json!([{"path": "out.csv", "size": 9}]));
    let listing = client.result("azureSandbox/files", json!({"uri": uri})).await;
    let paths: Vec<&str> = listing["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"data/sales.csv") && !paths.contains(&".env"), "{paths:?}");

    std::fs::write(root.join("out.csv"), "local\n").unwrap();
    let mark = client.mark();
    let accepted = command("azureSandbox.fetchFiles", json!([{"uri": uri}])).await;
    let fetched = finished_after(&client, mark, &accepted["jobId"]).await;
    assert_eq!((fetched["kind"].as_str(), fetched["status"].as_str()), (Some("files"), Some("succeeded")), "{fetched}");
    assert_eq!(fetched["transferred"][0]["keptBoth"], true);
    assert_eq!(std::fs::read_to_string(root.join("out.csv")).unwrap(), "local\n");
    assert_eq!(std::fs::read_to_string(root.join("out (sandbox).csv")).unwrap(), "total\n42\n");

    // An ignored file the code needs: the quick fix sends it and runs again.
    let reader = "print(open('scratch/input.txt').read().strip())\n";
    let path = root.join("reader.py");
    std::fs::write(&path, reader).unwrap();
    let reader_uri = file_uri(&path);
    client.open(&reader_uri, reader).await;
    let mark = client.mark();
    let accepted = command("azureSandbox.runFile", json!([{"uri": reader_uri}])).await;
    let failed = finished_after(&client, mark, &accepted["runId"]).await;
    assert_eq!(failed["status"], "raised");
    let diagnostics = client
        .wait_after(mark, "diagnostics", |m| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == reader_uri.as_str()
                && !m["params"]["diagnostics"].as_array().unwrap().is_empty()
        })
        .await["params"]["diagnostics"]
        .clone();
    assert_eq!(diagnostics[0]["data"]["missingFile"], "scratch/input.txt");
    let actions = client
        .result(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": reader_uri}, "range": diagnostics[0]["range"], "context": {"diagnostics": diagnostics}}),
        )
        .await;
    let fix = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Send scratch/input.txt to the sandbox and run again")
        .unwrap_or_else(|| panic!("{actions}"));
    let mark = client.mark();
    let accepted = command(fix["command"]["command"].as_str().unwrap(), fix["command"]["arguments"].clone()).await;
    let sent = finished_after(&client, mark, &accepted["jobId"]).await;
    assert_eq!(sent["status"], "succeeded", "{sent}");
    assert_eq!(sent["transferred"], json!([{"path": "scratch/input.txt"}]));
    // The progress's begin goes out once the editor has created it, which
    // may be after the job's end.
    client
        .wait_after(mark, "the send's progress", |m| {
            m["method"] == "$/progress"
                && m["params"]["value"]["kind"] == "begin"
                && m["params"]["value"]["title"] == "Sending files in local sandbox"
        })
        .await;
    let rerun = client
        .wait_after(mark, "the run again", |m| {
            m["method"] == "azureSandbox/runFinished" && m["params"]["kind"] == "python"
        })
        .await["params"]
        .clone();
    assert_eq!(
        (rerun["status"].as_str(), rerun["outputs"][0]["text"].as_str()),
        (Some("succeeded"), Some("from scratch\n")),
        "{rerun}"
    );
    Arc::try_unwrap(client).ok().unwrap().shutdown().await;
}

/// A module the script imports changes between runs: the next run imports
/// the new one (the interpreter lives on, and `import helpers` gave the
/// first run's module). And the editor's language server and `run` (or an
/// agent's server) send to one environment: `run` sends a changed
/// helpers.py, the user undoes the change and runs from the editor, which
/// sends the old helpers.py back (it used to believe the environment still
/// had it, and the run used the other process's version).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_modules_are_imported_again_and_an_undone_change_is_sent_back() {
    let (_dir, root) = workspace();
    let key = "test-key-0123456789";
    let server = LocalServer::start(&["--port", "0"], key, &root.parent().unwrap().join("serve.log"));
    let cache = root.parent().unwrap().join("cache");
    let cache_arg = cache.to_string_lossy().into_owned();
    let env = [
        ("AZURE_SANDBOX_MCP_ENDPOINT", server.endpoint.as_str()),
        ("AZURE_SANDBOX_API_KEY", key),
        ("AZURE_SANDBOX_CACHE_DIR", cache_arg.as_str()),
    ];
    let client = LspClient::binary(&env);
    client.initialize(&root, json!({}), rich_capabilities()).await;
    let uri = file_uri(&root.join("analysis.py"));
    client.open(&uri, ANALYSIS).await;
    let run_in_editor = || async {
        let mark = client.mark();
        let accepted = client
            .result("workspace/executeCommand", json!({"command": "azureSandbox.runFile", "arguments": [{"uri": uri}]}))
            .await;
        finished_after(&client, mark, &accepted["runId"]).await
    };
    let done = run_in_editor().await;
    assert_eq!(done["outputs"][0]["text"], "total 42 same True\n", "{done}");

    let helpers = root.join("helpers.py");
    let original = std::fs::read_to_string(&helpers).unwrap();
    std::fs::write(&helpers, "def total(rows):\n    return -1\n").unwrap();
    let output = Command::new(BIN)
        .args(["run", "analysis.py"])
        .current_dir(&root)
        .envs(env)
        .env_remove("AZURE_SANDBOX_POOL")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "total -1 same True\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    std::fs::write(&helpers, &original).unwrap();
    let done = run_in_editor().await;
    assert_eq!(done["outputs"][0]["text"], "total 42 same True\n", "the environment has the undone helpers.py: {done}");

    // Changed in the editor's own loop: imported again.
    std::fs::write(&helpers, original.replace("return sum(", "return 100 + sum(")).unwrap();
    let done = run_in_editor().await;
    assert_eq!(done["outputs"][0]["text"], "total 142 same True\n", "the changed module: {done}");
    client.shutdown().await;
}
