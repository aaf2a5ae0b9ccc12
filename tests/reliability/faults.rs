//! Faults between the editor and the sandbox, injected into real processes:
//! the language server binary over stdio, `serve-local` as a child process,
//! a fault-injecting proxy between them, Python interpreters killed for real.
//!
//! For each fault: the command is answered at once; the user gets one clear
//! message saying what happened and what to do; the run is marked failed in
//! every channel (a diagnostic on its first line, the message, its lens, its
//! inlay hint, progress and the output document); no request to the server
//! goes unanswered; and the next run works once the fault is gone.
//!
//! The whole suite runs with a sentinel API key and debug logging, and ends
//! by looking for the key everywhere the product writes: see
//! `the_key_appears_nowhere`.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::fault_proxy::{Fault, FaultProxy, Scope};
use crate::common::inside::{Beacon, WHO_AM_I, host_pid};
use crate::common::local_server::LocalServer;
use crate::common::lsp::*;
use serde_json::{Value, json};

/// Looks like a key, appears in no code path: if it shows up anywhere the
/// product wrote, the product leaked it.
const SENTINEL_KEY: &str = "sentinel-Kx7Qm2Vz9Pw4Rt8Ny3Lb6Hd1Fs5Gj0Ce";
/// The key after a rotation.
const ROTATED_KEY: &str = "rotated-Ua3Wq8Ez1Xr6Ty4Io9Pl2Ak7Sd5Fg0Hj";

/// `runTimeout` for the suite: how long the hang fault takes.
const RUN_TIMEOUT_SECONDS: f64 = 3.0;

struct Suite {
    client: LspClient,
    proxy: FaultProxy,
    uri: String,
    /// Holds the logs (kept until the suite ends).
    _dir: tempfile::TempDir,
    cache: tempfile::TempDir,
    lsp_log: PathBuf,
    sandbox_log: PathBuf,
    /// Every response the server sent to our requests, for the key scan.
    responses: Vec<Value>,
    /// Where the long cell says who it is (its files and pids are not the
    /// test's to see in namespaces), and how many times it has.
    beacon: Beacon,
    long_cells: usize,
}

/// The document: cells at fixed lines (0-based marker lines).
const SET: u32 = 0; // x = 41
const USE: u32 = 2; // x + 1
const FRESH: u32 = 4; // independent of state
const LONG: u32 = 6; // says who it is to the beacon, then sleeps
const WILD: u32 = 10; // prints 3 MB, then leaves with os._exit

/// The line after the cell that starts at `marker`.
fn next_marker(marker: u32) -> u64 {
    [SET, USE, FRESH, LONG, WILD].into_iter().find(|m| *m > marker).map_or(u64::MAX, u64::from)
}

fn document(beacon: &Beacon) -> String {
    format!(
        "# %% set\nx = 41\n# %% use\nx + 1\n# %% fresh\nprint('fresh start')\n# %% long\n\
         import time\n{}\ntime.sleep(60)\n\
         # %% wild\nimport os, sys\nprint('x' * 3_000_000, flush=True); os._exit(3)\n",
        beacon.send(WHO_AM_I)
    )
}

/// What the editor shows after one run.
#[derive(Debug)]
struct Seen {
    /// The cell's marker line.
    marker: u32,
    /// How long the command took to be answered.
    answered_in: Duration,
    /// Progress's end message: the run's status.
    status: String,
    /// showMessage notifications during the run: (type, text).
    messages: Vec<(u64, String)>,
    /// The document's diagnostics after the run.
    diagnostics: Vec<Value>,
    /// The status lens on the cell's marker line.
    lens: Option<String>,
    /// The inlay hint on the cell's first line.
    hint: Option<String>,
    /// This run's entry in the output document.
    transcript: String,
}

impl Seen {
    /// The diagnostics on this cell's lines (others may remain from other cells).
    fn on_this_cell(&self) -> Vec<&Value> {
        self.diagnostics
            .iter()
            .filter(|d| {
                let line = d["range"]["start"]["line"].as_u64().unwrap();
                line > u64::from(self.marker) && line < next_marker(self.marker)
            })
            .collect()
    }

    fn errors(&self) -> Vec<&str> {
        self.messages.iter().filter(|(kind, _)| *kind == 1).map(|(_, text)| text.as_str()).collect()
    }

    /// The run is marked failed everywhere, with one message that contains
    /// every one of `says`.
    fn assert_failed(&self, fault: &str, says: &[&str]) {
        assert!(self.answered_in < Duration::from_secs(2), "{fault}: the command took {:?}", self.answered_in);
        assert!(self.status.starts_with('✗'), "{fault}: progress ended with {:?}", self.status);
        let errors = self.errors();
        assert_eq!(errors.len(), 1, "{fault}: one error message, got {:?}", self.messages);
        let message = errors[0];
        for part in says {
            let found = message.to_lowercase().contains(&part.to_lowercase());
            assert!(found, "{fault}: the message lacks {part:?}: {message}");
        }
        assert_eq!(self.lens.as_deref(), Some(self.status.as_str()), "{fault}: the lens shows the status");
        assert_eq!(self.hint.as_deref(), Some(self.status.as_str()), "{fault}: the hint shows the status");
        let marked: Vec<&Value> =
            self.on_this_cell().into_iter().filter(|d| d["source"] == "azure-sandbox" && d["severity"] == 2).collect();
        assert_eq!(marked.len(), 1, "{fault}: one warning diagnostic on the run: {:?}", self.diagnostics);
        assert!(self.transcript.contains(&self.status), "{fault}: transcript: {}", self.transcript);
        // The transcript carries the same explanation as the message.
        let why = message.strip_prefix("Azure sandbox: ").unwrap_or(message);
        let why = why.split_once(" stopped: ").map_or(why, |(_, reason)| reason);
        let first_sentence = why.split(". ").next().unwrap();
        assert!(
            self.transcript.contains(first_sentence),
            "{fault}: transcript lacks {first_sentence:?}: {}",
            self.transcript
        );
    }

    fn assert_succeeded(&self, what: &str) {
        assert!(self.status.starts_with('✓'), "{what}: progress ended with {:?} ({:?})", self.status, self.messages);
        assert!(self.errors().is_empty(), "{what}: {:?}", self.messages);
        let on_this_cell = self.on_this_cell();
        assert!(on_this_cell.is_empty(), "{what}: {on_this_cell:?}");
        assert_eq!(self.lens.as_deref(), Some(self.status.as_str()), "{what}");
    }
}

impl Suite {
    async fn start(upstream: &str) -> Self {
        let proxy = FaultProxy::start(upstream).await;
        let dir = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let lsp_log = dir.path().join("lsp.log");
        let sandbox_log = dir.path().join("sandbox.log");
        let root = dir.path().canonicalize().unwrap().join("ws");
        std::fs::create_dir(&root).unwrap();
        let path = root.join("nb.py");
        let beacon = Beacon::start();
        let text = document(&beacon);
        std::fs::write(&path, &text).unwrap();
        let client = LspClient::binary_logging(
            &[
                ("AZURE_SANDBOX_CACHE_DIR", cache.path().to_str().unwrap()),
                ("AZURE_SANDBOX_MCP_ENDPOINT", &proxy.url),
                ("AZURE_SANDBOX_API_KEY", SENTINEL_KEY),
                ("AZURE_SANDBOX_LOG", "debug"),
            ],
            Some(&lsp_log),
        );
        let settings = json!({"runTimeout": RUN_TIMEOUT_SECONDS});
        *client.configuration.lock().unwrap() = settings.clone();
        client.initialize(&root, settings, rich_capabilities()).await;
        let uri = file_uri(&path);
        client.open(&uri, &text).await;
        Self {
            client,
            proxy,
            uri,
            _dir: dir,
            cache,
            lsp_log,
            sandbox_log,
            responses: Vec::new(),
            beacon,
            long_cells: 0,
        }
    }

    /// Runs the cell at `marker` and gathers what every channel shows.
    async fn run_cell(&mut self, marker: u32) -> Seen {
        let started = self.start_cell(marker).await;
        self.finish_cell(marker, started).await
    }

    async fn start_cell(&mut self, marker: u32) -> (usize, u64, Duration) {
        let mark = self.client.mark();
        let asked = Instant::now();
        let accepted = self
            .client
            .request(
                "workspace/executeCommand",
                json!({"command": "azureSandbox.runCell", "arguments": [{"uri": self.uri, "position": {"line": marker, "character": 0}}]}),
            )
            .await;
        let answered_in = asked.elapsed();
        self.responses.push(accepted.clone());
        let run_id = accepted["result"]["runId"].as_u64().unwrap_or_else(|| panic!("runId: {accepted}"));
        (mark, run_id, answered_in)
    }

    async fn finish_cell(&mut self, marker: u32, (mark, run_id, answered_in): (usize, u64, Duration)) -> Seen {
        let token = format!("azure-sandbox-run-{run_id}");
        let end = self
            .client
            .wait_after(mark, "the run's progress to end", |m| {
                m["method"] == "$/progress" && m["params"]["token"] == token && m["params"]["value"]["kind"] == "end"
            })
            .await;
        let status = end["params"]["value"]["message"].as_str().unwrap().to_owned();
        let messages = self
            .client
            .messages(mark, "window/showMessage")
            .iter()
            .map(|m| (m["params"]["type"].as_u64().unwrap(), m["params"]["message"].as_str().unwrap().to_owned()))
            .collect();
        let diagnostics = self
            .client
            .messages(mark, "textDocument/publishDiagnostics")
            .into_iter()
            .rev()
            .find(|m| m["params"]["uri"] == self.uri.as_str())
            .map(|m| m["params"]["diagnostics"].as_array().unwrap().clone())
            .unwrap_or_default();
        let lenses = self.client.code_lenses(&self.uri).await;
        self.responses.push(lenses.clone());
        let lens = lenses
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["range"]["start"]["line"] == marker && l["command"]["command"] == "azureSandbox.showOutput")
            .map(|l| l["command"]["title"].as_str().unwrap().to_owned());
        let hints = self
            .client
            .result(
                "textDocument/inlayHint",
                json!({"textDocument": {"uri": self.uri}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 20, "character": 0}}}),
            )
            .await;
        self.responses.push(hints.clone());
        let hint = hints
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["position"]["line"].as_u64().is_some_and(|l| l > marker as u64 && l < next_marker(marker)))
            .map(|h| h["label"].as_str().unwrap_or_default().to_owned());
        let output = self.client.result("azureSandbox/output", json!({"uri": self.uri})).await;
        self.responses.push(output.clone());
        let text = output["text"].as_str().unwrap();
        let transcript = text[text.rfind("=== nb.py").unwrap_or(0)..].to_owned();
        Seen { marker, answered_in, status, messages, diagnostics, lens, hint, transcript }
    }

    /// Requests that must be answered while a run hangs: the server keeps
    /// serving the editor.
    async fn editor_requests_are_answered(&mut self) {
        for (method, params) in [
            ("textDocument/codeLens", json!({"textDocument": {"uri": self.uri}})),
            ("textDocument/hover", json!({"textDocument": {"uri": self.uri}, "position": {"line": 1, "character": 0}})),
            (
                "textDocument/codeAction",
                json!({"textDocument": {"uri": self.uri}, "range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 0}}, "context": {"diagnostics": []}}),
            ),
            ("azureSandbox/output", json!({"uri": self.uri})),
        ] {
            let asked = Instant::now();
            let response = self.client.request(method, params).await;
            assert!(response.get("error").is_none(), "{method}: {response}");
            assert!(asked.elapsed() < Duration::from_secs(2), "{method} took {:?} during a hung run", asked.elapsed());
            self.responses.push(response);
        }
    }

    /// Waits for the long cell's interpreter to say who it is; its pid on
    /// this machine.
    async fn pid_of_long_cell(&mut self) -> i32 {
        let who = self.beacon.next_after(self.long_cells, Duration::from_secs(20)).await;
        let who = who.expect("the long cell never started");
        self.long_cells += 1;
        host_pid(&who).unwrap_or_else(|| panic!("no process here is {who}"))
    }
}

/// The local sandboxes' directories under `tmp`.
fn sandbox_dirs(tmp: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().unwrap().to_string_lossy().starts_with("azure-sandbox-local-"))
        .collect();
    dirs.sort();
    dirs
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_reported_once_everywhere_and_the_next_run_works() {
    let _alone = common::alone().await;
    let logs = tempfile::tempdir().unwrap();
    let sandbox_log = logs.path().join("sandbox.log");
    // Its own temporary directory, to see what a killed server leaves there.
    let tmp = logs.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let tmp_env = [("TMPDIR", tmp.as_path())];
    let mut sandbox = LocalServer::start_with_env(&["--no-user-isolation"], SENTINEL_KEY, &sandbox_log, &tmp_env);
    let mut s = Suite::start(&sandbox.endpoint).await;
    s.sandbox_log = sandbox_log;
    let mut tally = Vec::new();

    s.run_cell(SET).await.assert_succeeded("the first run");

    // Faults on the way to the sandbox and back. The environment behind is
    // untouched, so the next run still sees `x`.
    let transport_faults: [(Fault, &str, &[&str]); 6] = [
        (Fault::Status500, "HTTP 500", &["HTTP 500", "run again"]),
        (Fault::BadGatewayHtml, "HTTP 502 with an HTML page", &["HTTP 502", "502 Bad Gateway", "run again"]),
        (Fault::InvalidJson, "invalid JSON", &["not JSON", "run again"]),
        (Fault::TruncatedSse, "a truncated event stream", &["broke while reading the reply", "run again"]),
        (Fault::Reset, "a reset connection", &["connection", "run again"]),
        (Fault::Hang, "no answer until the time limit", &["no answer", "3 s", "runTimeout"]),
    ];
    for (fault, name, says) in transport_faults {
        s.proxy.set_fault(fault.clone(), Scope::Runs);
        let faulted_before = s.proxy.faulted();
        let started = s.start_cell(USE).await;
        if fault == Fault::Hang {
            s.editor_requests_are_answered().await;
        }
        let seen = s.finish_cell(USE, started).await;
        assert!(s.proxy.faulted() > faulted_before, "{name}: the fault was not injected");
        seen.assert_failed(name, says);
        s.proxy.set_fault(Fault::None, Scope::Runs);
        let next = s.run_cell(USE).await;
        next.assert_succeeded(name);
        assert_eq!(next.hint.as_deref(), Some("→ 42"), "{name}: the environment kept its state");
        tally.push(name);
    }

    // The key is rotated: the old one gets 401. The message says to fetch a
    // new one; once the editor passes it (its secret store does, through the
    // apiKey setting), runs work again in the same environment.
    s.proxy.rotate_key(ROTATED_KEY, SENTINEL_KEY);
    let seen = s.run_cell(USE).await;
    seen.assert_failed("a rotated key", &["refused the API key", "HTTP 401", "fetch a fresh one"]);
    let settings = json!({"runTimeout": RUN_TIMEOUT_SECONDS, "apiKey": ROTATED_KEY});
    *s.client.configuration.lock().unwrap() = settings.clone();
    s.client.notify("workspace/didChangeConfiguration", json!({"settings": {"azureSandbox": settings}})).await;
    let next = s.run_cell(USE).await;
    next.assert_succeeded("a rotated key");
    tally.push("a rotated key");

    // The interpreter is killed mid-run: the run stops, says the state is
    // lost, and the environment goes on with a fresh interpreter.
    let started = s.start_cell(LONG).await;
    let pid = s.pid_of_long_cell().await;
    // SAFETY: kill(2) on the interpreter this test's code reported.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let seen = s.finish_cell(LONG, started).await;
    seen.assert_failed("a killed interpreter", &["stopped", "killed", "state"]);
    s.run_cell(FRESH).await.assert_succeeded("a killed interpreter");
    tally.push("a killed interpreter");

    // The sandbox server is killed mid-run, then started again (on another
    // port, behind the same endpoint). Its interpreters must not outlive it.
    let started = s.start_cell(LONG).await;
    let pid = s.pid_of_long_cell().await;
    let killed_dirs = sandbox_dirs(&tmp);
    assert_eq!(killed_dirs.len(), 1, "{killed_dirs:?}");
    sandbox.kill();
    let seen = s.finish_cell(LONG, started).await;
    seen.assert_failed("a killed sandbox server", &["connection", "run again"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!alive(pid), "the killed server's interpreter {pid} outlived it");
    // Restarted with a short cool-down and room for one environment, for
    // the next two faults.
    // The killed one's directory (the environments' files) went when the
    // next one started.
    assert!(killed_dirs[0].exists(), "a killed server cannot clean up");
    let sandbox = LocalServer::start_with_env(
        &["--no-user-isolation", "--cool-down", "2", "--max-environments", "1"],
        SENTINEL_KEY,
        &s.sandbox_log,
        &tmp_env,
    );
    let now = sandbox_dirs(&tmp);
    assert!(now.len() == 1 && !now.contains(&killed_dirs[0]), "before {killed_dirs:?}, now {now:?}");
    s.proxy.set_upstream(&sandbox.endpoint);
    let next = s.run_cell(FRESH).await;
    next.assert_succeeded("a restarted sandbox server");
    let warnings: Vec<&(u64, String)> = next.messages.iter().filter(|(kind, _)| *kind == 2).collect();
    assert_eq!(warnings.len(), 1, "one warning that the environment is new: {:?}", next.messages);
    tally.push("a killed and restarted sandbox server");

    // The environment expires between runs: the run goes to a new one and
    // the user is told, once, that earlier state is gone.
    s.run_cell(SET).await.assert_succeeded("before expiry");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let seen = s.run_cell(USE).await;
    let on_cell = seen.on_this_cell();
    assert_eq!(on_cell.len(), 1, "NameError, since x went with the environment: {seen:?}");
    assert_eq!(on_cell[0]["message"], "NameError: name 'x' is not defined");
    let warnings: Vec<&(u64, String)> = seen.messages.iter().filter(|(kind, _)| *kind == 2).collect();
    assert_eq!(warnings.len(), 1, "{:?}", seen.messages);
    assert!(warnings[0].1.contains("expired"), "{warnings:?}");
    assert!(seen.transcript.contains("expired"), "{}", seen.transcript);
    tally.push("an environment expired between runs");

    // The pool is full: someone else holds its one session when ours has
    // expired. Then theirs expires and ours is allocated.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let other = azure_sandbox_lsp::mcp::McpClient::new(
        &sandbox.endpoint,
        azure_sandbox_lsp::secret::ApiKey::new(SENTINEL_KEY),
        azure_sandbox_lsp::mcp::ClientOptions::default(),
    )
    .unwrap();
    let theirs = other.launch().await.unwrap();
    other.run_python(&theirs, "1").await.unwrap();
    let seen = s.run_cell(FRESH).await;
    seen.assert_failed("a full pool", &["no free sessions", "maxConcurrentSessions"]);
    drop(other);
    tokio::time::sleep(Duration::from_secs(3)).await;
    s.run_cell(FRESH).await.assert_succeeded("a full pool");
    tally.push("a full pool");

    eprintln!("faults: {} injected, each reported once and recovered from: {tally:?}", tally.len());

    // Before the key scan, the same server also meets misbehaving code and
    // malformed traffic, so the scan covers what they make it say.
    let seen = s.run_cell(WILD).await;
    seen.assert_failed("os._exit after 3 MB of output", &["stopped", "exited with status 3"]);
    write_raw(&s.client, b"Content-Length: 10\r\n\r\n{\"jsonrpc\"").await;
    write_raw(&s.client, b"Content-Length: 11\r\n\r\n\xff\xfe not json").await;
    for (method, params) in [
        ("no/suchMethod", json!({})),
        ("workspace/executeCommand", json!({"command": "azureSandbox.runCell", "arguments": [{"uri": 5}]})),
        ("workspace/executeCommand", json!({"command": "azureSandbox.runLines", "arguments": ["/etc/passwd", 1, 1]})),
        ("textDocument/hover", json!({"textDocument": {"uri": s.uri}, "position": {"line": -1, "character": "x"}})),
    ] {
        let response = s.client.request(method, params).await;
        assert!(response.get("error").is_some(), "{method}: {response}");
        s.responses.push(response);
    }
    s.run_cell(FRESH).await.assert_succeeded("after misbehaving code and malformed traffic");
    the_key_appears_nowhere(&s, &[SENTINEL_KEY, ROTATED_KEY]);
    let Suite { client, .. } = s;
    client.shutdown().await;
    drop(sandbox);
    // Stopped as Ctrl-C stops it: it removed its directory and lock itself.
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Called at the end of the fault suite: the keys appear in nothing the
/// product wrote or said.
fn the_key_appears_nowhere(s: &Suite, keys: &[&str]) {
    let mut places: Vec<(String, String)> = Vec::new();
    places.push(("the language server's stderr".into(), std::fs::read_to_string(&s.lsp_log).unwrap_or_default()));
    places.push(("the sandbox server's stderr".into(), std::fs::read_to_string(&s.sandbox_log).unwrap_or_default()));
    for message in s.client.received.lock().unwrap().iter() {
        places.push((format!("the server's {}", message["method"]), message.to_string()));
    }
    for response in &s.responses {
        places.push(("a response".into(), response.to_string()));
    }
    let mut files = 0;
    for entry in walk(s.cache.path()) {
        files += 1;
        // The registry, its lock and the transcript mirrors: owner-only.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&entry).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is mode {mode:o}", entry.display());
        let folder = std::fs::metadata(entry.parent().unwrap()).unwrap().permissions().mode() & 0o777;
        assert!(folder & 0o077 == 0 || entry.parent() == Some(s.cache.path()), "{} is open to others", entry.display());
        places.push((entry.display().to_string(), String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into()));
    }
    assert!(files >= 2, "the registry and the transcript mirror are in the cache directory: {files} files");
    let log = &places[0].1;
    assert!(log.contains("DEBUG"), "debug logging was on");
    for (place, text) in &places {
        for key in keys {
            // Any 12 characters in a row of the key: a cut-off key is a leak too.
            for start in 0..=key.len() - 12 {
                let piece = &key[start..start + 12];
                assert!(!text.contains(piece), "{place} contains part of the API key ({piece})");
            }
        }
    }
    eprintln!("secrets: {} places checked ({files} files), no trace of the key", places.len());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
