//! A language-server client for tests: real LSP framing over a duplex
//! stream (server in this process) or over the real binary's stdio.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{Mutex, Notify, oneshot};

type Writer = Box<dyn AsyncWrite + Unpin + Send>;

pub struct LspClient {
    writer: Arc<Mutex<Writer>>,
    next_id: AtomicI64,
    pending: Arc<std::sync::Mutex<HashMap<i64, oneshot::Sender<Value>>>>,
    /// Every message from the server that is not a response, in order.
    pub received: Arc<std::sync::Mutex<Vec<Value>>>,
    /// Responses to no request sent with `request` (answers to raw traffic
    /// sent with `write_raw`, errors with a `null` id), in order.
    pub unmatched: Arc<std::sync::Mutex<Vec<Value>>>,
    arrived: Arc<Notify>,
    /// What `workspace/configuration` is answered with.
    pub configuration: Arc<std::sync::Mutex<Value>>,
    /// Which action `window/showMessageRequest` picks (by title), if any.
    pub message_choice: Arc<std::sync::Mutex<Option<String>>>,
    /// When set, requests from the server are recorded and never answered,
    /// as a client that hangs would.
    pub silent: Arc<std::sync::atomic::AtomicBool>,
    child: Option<tokio::process::Child>,
}

pub const WAIT: Duration = Duration::from_secs(30);

impl LspClient {
    /// The server in this process, over an in-memory duplex stream.
    pub fn in_process() -> Self {
        let (client_side, server_side) = tokio::io::duplex(1 << 20);
        let (server_read, server_write) = tokio::io::split(server_side);
        tokio::spawn(azure_sandbox_lsp::lsp::serve(server_read, server_write));
        let (read, write) = tokio::io::split(client_side);
        Self::over(read, Box::new(write), None)
    }

    /// The real binary (`azure-sandbox-lsp` with no subcommand) over stdio.
    pub fn binary(env: &[(&str, &str)]) -> Self {
        Self::binary_logging(env, None)
    }

    /// [`LspClient::binary`] with the server's stderr (its log) in a file.
    pub fn binary_logging(env: &[(&str, &str)], log: Option<&std::path::Path>) -> Self {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_azure-sandbox-lsp"));
        for var in ["AZURE_SANDBOX_MCP_ENDPOINT", "AZURE_SANDBOX_API_KEY", "AZURE_SANDBOX_LOG"] {
            command.env_remove(var);
        }
        command.envs(env.iter().copied());
        let stderr = match log {
            Some(path) => std::process::Stdio::from(std::fs::File::create(path).expect("log file")),
            None => std::process::Stdio::inherit(),
        };
        command.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(stderr);
        command.kill_on_drop(true);
        let mut child = command.spawn().expect("server starts");
        let read = child.stdout.take().unwrap();
        let write = child.stdin.take().unwrap();
        Self::over(read, Box::new(write), Some(child))
    }

    fn over<R: AsyncRead + Unpin + Send + 'static>(
        read: R,
        write: Writer,
        child: Option<tokio::process::Child>,
    ) -> Self {
        let client = Self {
            writer: Arc::new(Mutex::new(write)),
            next_id: AtomicI64::new(1),
            pending: Arc::default(),
            received: Arc::default(),
            unmatched: Arc::default(),
            arrived: Arc::new(Notify::new()),
            configuration: Arc::new(std::sync::Mutex::new(json!({}))),
            message_choice: Arc::default(),
            silent: Arc::default(),
            child,
        };
        let silent = Arc::clone(&client.silent);
        let (writer, pending, received, unmatched, arrived, configuration, choice) = (
            Arc::clone(&client.writer),
            Arc::clone(&client.pending),
            Arc::clone(&client.received),
            Arc::clone(&client.unmatched),
            Arc::clone(&client.arrived),
            Arc::clone(&client.configuration),
            Arc::clone(&client.message_choice),
        );
        tokio::spawn(async move {
            let mut reader = BufReader::new(read);
            while let Some(message) = read_message(&mut reader).await {
                let method = message.get("method").and_then(Value::as_str).map(str::to_owned);
                let id = message.get("id").cloned();
                match (method, id) {
                    (None, Some(id)) => {
                        if let Some(sender) = id.as_i64().and_then(|id| pending.lock().unwrap().remove(&id)) {
                            let _ = sender.send(message);
                        } else {
                            unmatched.lock().unwrap().push(message);
                        }
                    }
                    (Some(method), Some(id)) => {
                        let result = match method.as_str() {
                            "workspace/configuration" => json!([configuration.lock().unwrap().clone()]),
                            "window/showDocument" => json!({"success": true}),
                            "window/showMessageRequest" => {
                                let wanted = choice.lock().unwrap().clone();
                                let actions = message
                                    .pointer("/params/actions")
                                    .and_then(Value::as_array)
                                    .cloned()
                                    .unwrap_or_default();
                                actions
                                    .into_iter()
                                    .find(|a| Some(a["title"].as_str().unwrap_or("")) == wanted.as_deref())
                                    .unwrap_or(Value::Null)
                            }
                            _ => Value::Null,
                        };
                        received.lock().unwrap().push(message);
                        arrived.notify_waiters();
                        if silent.load(std::sync::atomic::Ordering::SeqCst) {
                            continue;
                        }
                        let reply = json!({"jsonrpc": "2.0", "id": id, "result": result});
                        // Written by a task of its own, so that reading goes
                        // on while a long write holds the writer: a server
                        // that blocks writing to us would otherwise never
                        // read what we are writing (a deadlock under load).
                        let writer = Arc::clone(&writer);
                        tokio::spawn(async move { write_message(&mut **writer.lock().await, &reply).await });
                    }
                    (Some(_), None) => {
                        received.lock().unwrap().push(message);
                        arrived.notify_waiters();
                    }
                    (None, None) => {}
                }
            }
        });
        client
    }

    /// The server's process id, for a server started with [`LspClient::binary`].
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// Sends a request; returns the whole response (`result` or `error`).
    pub async fn request(&self, method: &str, params: Value) -> Value {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, sender);
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        write_message(&mut **self.writer.lock().await, &message).await;
        tokio::time::timeout(WAIT, receiver)
            .await
            .unwrap_or_else(|_| panic!("no response to {method} within {WAIT:?}"))
            .unwrap()
    }

    /// A request that must succeed; returns its result.
    pub async fn result(&self, method: &str, params: Value) -> Value {
        let response = self.request(method, params).await;
        assert!(response.get("error").is_none(), "{method} failed: {response}");
        response["result"].clone()
    }

    /// `textDocument/codeLens`, then `codeLens/resolve` for each lens that
    /// came without its command: what an editor does for the lenses on screen.
    #[allow(dead_code)]
    pub async fn code_lenses(&self, uri: &str) -> Value {
        let lenses = self.result("textDocument/codeLens", json!({"textDocument": {"uri": uri}})).await;
        let mut resolved = Vec::new();
        for lens in lenses.as_array().expect("codeLens answers a list") {
            if lens.get("command").is_some_and(|c| !c.is_null()) {
                resolved.push(lens.clone());
            } else {
                resolved.push(self.result("codeLens/resolve", lens.clone()).await);
            }
        }
        Value::Array(resolved)
    }

    pub async fn notify(&self, method: &str, params: Value) {
        let message = json!({"jsonrpc": "2.0", "method": method, "params": params});
        write_message(&mut **self.writer.lock().await, &message).await;
    }

    /// How many messages have arrived so far (for `wait_after`).
    pub fn mark(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// The first message after `mark` that `matches`, waiting up to `WAIT`.
    pub async fn wait_after(&self, mark: usize, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let arrived = self.arrived.notified();
            if let Some(found) = self.received.lock().unwrap().iter().skip(mark).find(|m| matches(m)).cloned() {
                return found;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                let seen: Vec<String> =
                    self.received.lock().unwrap().iter().skip(mark).map(|m| m["method"].to_string()).collect();
                panic!("waited {WAIT:?} for {what}; saw {seen:?}");
            }
        }
    }

    /// Messages after `mark` with this method.
    pub fn messages(&self, mark: usize, method: &str) -> Vec<Value> {
        self.received.lock().unwrap().iter().skip(mark).filter(|m| m["method"] == method).cloned().collect()
    }

    /// initialize + initialized, for one workspace folder.
    pub async fn initialize(&self, root: &Path, options: Value, capabilities: Value) -> Value {
        let result = self
            .result(
                "initialize",
                json!({
                    "processId": null,
                    "clientInfo": {"name": "test-client", "version": "1"},
                    "rootUri": file_uri(root),
                    "workspaceFolders": [{"uri": file_uri(root), "name": "ws"}],
                    "initializationOptions": options,
                    "capabilities": capabilities,
                }),
            )
            .await;
        self.notify("initialized", json!({})).await;
        result
    }

    pub async fn open(&self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}),
        )
        .await;
    }

    /// Runs a command and waits for the run's diagnostics publication.
    pub async fn run_and_wait(&self, command: &str, arguments: Value, uri: &str) -> (Value, Value) {
        let mark = self.mark();
        let accepted =
            self.result("workspace/executeCommand", json!({"command": command, "arguments": arguments})).await;
        let diagnostics = self
            .wait_after(mark, "diagnostics", |m| {
                m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri
            })
            .await;
        (accepted, diagnostics["params"]["diagnostics"].clone())
    }

    pub async fn shutdown(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.request("shutdown", Value::Null)).await;
        self.notify("exit", Value::Null).await;
        if let Some(mut child) = self.child.take() {
            let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
            assert!(matches!(status, Ok(Ok(s)) if s.success()), "the server exits cleanly after exit: {status:?}");
        }
    }
}

pub fn file_uri(path: &Path) -> String {
    let mut uri = String::from("file://");
    for byte in path.to_string_lossy().bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => uri.push(byte as char),
            other => uri.push_str(&format!("%{other:02X}")),
        }
    }
    uri
}

/// Capabilities of a capable client (VS Code-like), with UTF-8 offered.
pub fn rich_capabilities() -> Value {
    json!({
        "general": {"positionEncodings": ["utf-8", "utf-16"]},
        "window": {"workDoneProgress": true, "showDocument": {"support": true}},
        "workspace": {"configuration": true, "codeLens": {"refreshSupport": true}, "inlayHint": {"refreshSupport": true},
                      "textDocumentContent": {"dynamicRegistration": false}},
        "textDocument": {"publishDiagnostics": {"versionSupport": true, "relatedInformation": true}}
    })
}

pub async fn write_message(writer: &mut (dyn AsyncWrite + Unpin + Send), message: &Value) {
    let body = message.to_string();
    let frame = format!("Content-Length: {}\r\n\r\n{body}", body.len());
    let _ = writer.write_all(frame.as_bytes()).await;
    let _ = writer.flush().await;
}

/// Writes raw bytes (malformed-input tests).
pub async fn write_raw(client: &LspClient, bytes: &[u8]) {
    let mut writer = client.writer.lock().await;
    let _ = writer.write_all(bytes).await;
    let _ = writer.flush().await;
}

async fn read_message<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("Content-Length:") {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0u8; length?];
    reader.read_exact(&mut body).await.ok()?;
    serde_json::from_slice(&body).ok()
}
