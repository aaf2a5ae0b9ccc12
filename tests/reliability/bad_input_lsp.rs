//! The language server (the real binary, over its real stdio framing) under
//! malformed traffic: random and mutated JSON-RPC messages, broken frames,
//! and a 50 MB document. Every request gets a response or a JSON-RPC error,
//! the server never panics and never stops reading, and afterwards a real
//! run through a local sandbox still works.
//!
//! The generator is seeded: the seed is printed in the summary and in every
//! failure. `BAD_INPUT_SEED` replays one, `BAD_INPUT_MESSAGES` sets how many
//! messages to send (default 10,000; e.g. 200000 for a long run).
//!
//! What the framing reader can recover from, and so what is sent: a
//! `Content-Length` that is too small (the body is cut; the rest is skipped
//! up to the next header), a bad or missing one (the bytes up to the next
//! header are skipped), noise between messages, and a `Content-Length` that
//! is too large *when the bytes that make up the difference follow* (the
//! frame then takes them and becomes a parse error). A length that is too
//! large with nothing after it waits for bytes that never come, as any LSP
//! reader must; that is not sent.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::common::json_paths::{at_path, paths_of};
use crate::common::lsp::*;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const DEFAULT_SEED: u64 = 0x6ad1_6e75;
const DEFAULT_MESSAGES: usize = 10_000;
const BIG_DOCUMENT: usize = 50_000_000;

/// What the server must (and may) answer to what was sent.
#[derive(Default)]
struct Expected {
    /// Answers per id (as JSON text): (at least, at most).
    ids: HashMap<String, (usize, usize)>,
    /// Answers with a `null` id: at least, and at most.
    null_min: usize,
    null_max: usize,
    /// Answers owed to an id, in all.
    owed_ids: usize,
    /// A description of the message that carried each id, for failures.
    carried_by: HashMap<String, String>,
}

impl Expected {
    fn must_id(&mut self, id: &Value, what: &str) {
        let key = id.to_string();
        let entry = self.ids.entry(key.clone()).or_default();
        entry.0 += 1;
        entry.1 += 1;
        self.owed_ids += 1;
        self.carried_by.entry(key).or_insert_with(|| what.chars().take(300).collect());
    }

    fn may_id(&mut self, id: &Value, what: &str) {
        let key = id.to_string();
        self.ids.entry(key.clone()).or_default().1 += 1;
        self.carried_by.entry(key).or_insert_with(|| what.chars().take(300).collect());
    }

    fn must_null(&mut self) {
        self.null_min += 1;
        self.null_max += 1;
    }

    fn may_null(&mut self) {
        self.null_max += 1;
    }

    /// The answers owed to one well-framed body, by JSON-RPC's rules (not by
    /// the server's code): a request is an object with a method and an id.
    fn body(&mut self, body: &[u8]) {
        let what = String::from_utf8_lossy(body).into_owned();
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            return self.must_null(); // not UTF-8, or not JSON: a parse error
        };
        match &value {
            Value::Array(batch) => {
                let ids: Vec<Value> = batch.iter().filter_map(usable_id).collect();
                if ids.is_empty() {
                    self.must_null();
                }
                for id in ids {
                    self.must_id(&id, &what);
                }
            }
            Value::Object(object) => {
                let valid =
                    object.get("jsonrpc") == Some(&json!("2.0")) && object.get("method").is_none_or(Value::is_string);
                match (object.contains_key("method"), object.get("id")) {
                    // A request.
                    (true, Some(id)) => match usable_id(&value) {
                        Some(id) => self.must_id(&id, &what),
                        None => {
                            let _ = id;
                            self.must_null();
                        }
                    },
                    // A notification: nothing, unless it is no valid message.
                    (true, None) if valid => {}
                    (true, None) => self.must_null(),
                    // No method: a response to the server, or no message.
                    (false, _) => match usable_id(&value) {
                        Some(id) => self.may_id(&id, &what),
                        None => self.may_null(),
                    },
                }
            }
            _ => self.must_null(),
        }
    }
}

fn usable_id(message: &Value) -> Option<Value> {
    match message.get("id")? {
        id @ Value::String(_) => Some(id.clone()),
        id @ Value::Number(n) if n.is_i64() => Some(id.clone()),
        _ => None,
    }
}

struct Storm<'a> {
    rng: StdRng,
    seed: u64,
    uris: Vec<String>,
    paths: Vec<String>,
    next_id: i64,
    last_id: Value,
    expected: Expected,
    per_category: BTreeMap<&'static str, usize>,
    requests: usize,
    client: &'a LspClient,
}

/// Strings that replace others: none is a package name pip would fetch, a
/// host name, or a path outside the test's directories.
const WEIRD_STRINGS: &[&str] = &[
    "",
    " ",
    "💥",
    "\u{0}",
    "a\u{0}b",
    "\u{feff}",
    "\r\n\r\n",
    "Content-Length: 12",
    "../../../../etc/passwd",
    "file:///",
    "file:///nowhere/else.py",
    "file://%00/x",
    "untitled:",
    "azure-sandbox-output://0000/x-output.txt",
    "http://127.0.0.1:1/mcp",
    "not a uri",
    "-e .",
    "x; rm -rf /",
    "中文🙂é",
    "\u{202e}evil",
];

fn weird_value(rng: &mut StdRng) -> Value {
    match rng.random_range(0..22) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(false),
        3 => json!(0),
        4 => json!(-1),
        5 => json!(i64::MIN),
        6 => json!(u64::MAX),
        7 => json!(u32::MAX),
        8 => json!(u64::from(u32::MAX) + 1),
        9 => json!(1e308),
        10 => json!(-1e308),
        11 => json!(0.5),
        12 => json!(i32::MAX),
        13 => json!(i32::MIN),
        14 => json!([]),
        15 => json!({}),
        16 => json!("x".repeat(rng.random_range(1_000..70_000))),
        17 => json!([[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]),
        18 => json!({"line": u32::MAX, "character": u32::MAX}),
        19 => json!({"start": {"line": 5, "character": 0}, "end": {"line": 0, "character": 0}}),
        _ => json!(WEIRD_STRINGS.choose(rng).unwrap()),
    }
}

impl Storm<'_> {
    fn id(&mut self) -> Value {
        self.next_id += 1;
        self.last_id = if self.rng.random_bool(0.3) {
            json!(format!("req-{}-{}", self.next_id, WEIRD_STRINGS.choose(&mut self.rng).unwrap()))
        } else {
            json!(self.next_id)
        };
        self.last_id.clone()
    }

    fn uri(&mut self) -> String {
        self.uris.choose(&mut self.rng).unwrap().clone()
    }

    fn position(&mut self) -> Value {
        let line: u64 = *[0, 1, 2, 3, 5, 8, 40, u64::from(u32::MAX)].choose(&mut self.rng).unwrap();
        let character: u64 = *[0, 1, 2, 4, 7, 100, u64::from(u32::MAX)].choose(&mut self.rng).unwrap();
        json!({"line": line, "character": character})
    }

    fn range(&mut self) -> Value {
        json!({"start": self.position(), "end": self.position()})
    }

    fn text(&mut self) -> String {
        let texts = [
            "# %% first\nx = 41\nx + 1\n# %% second\nprint('hi')\n",
            "import math\n\ndef f(a):\n    return a / 0\n\n# %%\nf(1)\n",
            "# %% [markdown]\n# notes\n# %% code 🙂\nvalue = '中文'\nvalue\n",
            "a = 1\r\nb = 2\rc = 3\n\u{c}d = 4\u{2028}\n",
            "",
            "\n\n\n",
            "x = '\u{0}'\n",
            "# %%\n    indented = 1\n  bad\n",
        ];
        texts.choose(&mut self.rng).unwrap().to_string()
    }

    /// A message the server accepts as it is.
    fn valid(&mut self) -> Value {
        let uri = self.uri();
        let (method, params, request) = match self.rng.random_range(0..26) {
            0 => (
                "initialize",
                json!({"processId": null, "rootUri": null, "capabilities": rich_capabilities(),
                       "initializationOptions": {"runTimeout": 30}}),
                true,
            ),
            1 => ("initialized", json!({}), false),
            2 => {
                let text = self.text();
                let version = self.rng.random_range(-5..100);
                (
                    "textDocument/didOpen",
                    json!({"textDocument": {"uri": uri, "languageId": "python", "version": version, "text": text}}),
                    false,
                )
            }
            3 | 4 => {
                let range = self.range();
                let text = self.text();
                let version = self.rng.random_range(-5..100);
                let change = if self.rng.random_bool(0.2) {
                    json!({"text": text})
                } else {
                    json!({"range": range, "text": text})
                };
                (
                    "textDocument/didChange",
                    json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]}),
                    false,
                )
            }
            5 => ("textDocument/didClose", json!({"textDocument": {"uri": uri}}), false),
            6 => ("textDocument/didSave", json!({"textDocument": {"uri": uri}}), false),
            7 | 8 => ("textDocument/codeLens", json!({"textDocument": {"uri": uri}}), true),
            9 => {
                let data =
                    json!([self.rng.random_range(0..4), self.rng.random_range(0..9), self.rng.random_range(0..3)]);
                ("codeLens/resolve", json!({"range": self.range(), "data": data}), true)
            }
            10 => ("textDocument/hover", json!({"textDocument": {"uri": uri}, "position": self.position()}), true),
            11 => ("textDocument/inlayHint", json!({"textDocument": {"uri": uri}, "range": self.range()}), true),
            12 => {
                let diagnostic = json!({"range": self.range(), "message": "x", "source": "azure-sandbox",
                                        "data": {"missingModule": "sklearn", "runId": 3}});
                (
                    "textDocument/codeAction",
                    json!({"textDocument": {"uri": uri}, "range": self.range(), "context": {"diagnostics": [diagnostic]}}),
                    true,
                )
            }
            13..=19 => ("workspace/executeCommand", self.command(&uri), true),
            20 => ("azureSandbox/output", json!({"uri": uri}), true),
            21 => ("workspace/textDocumentContent", json!({"uri": "azure-sandbox-output://00/ws-output.txt"}), true),
            22 => ("window/workDoneProgress/cancel", json!({"token": self.rng.random_range(0..5)}), false),
            23 => ("$/cancelRequest", json!({"id": self.next_id}), false),
            24 => {
                let settings = if self.rng.random_bool(0.5) {
                    json!({"azureSandbox": {"runTimeout": 30, "cellMarker": "^# (%%|In\\[)"}})
                } else {
                    json!({"azureSandbox": {"cellMarker": "(["}})
                };
                ("workspace/didChangeConfiguration", json!({"settings": settings}), false)
            }
            _ => {
                let folder = json!({"uri": self.paths[0].clone(), "name": "ws"});
                (
                    "workspace/didChangeWorkspaceFolders",
                    json!({"event": {"added": [folder.clone()], "removed": [folder]}}),
                    false,
                )
            }
        };
        let mut message = json!({"jsonrpc": "2.0", "method": method, "params": params});
        if request {
            message["id"] = self.id();
        }
        message
    }

    /// `workspace/executeCommand` params for one of the server's commands.
    fn command(&mut self, uri: &str) -> Value {
        let position = json!({"uri": uri, "position": self.position()});
        let path = self.paths.choose(&mut self.rng).unwrap().clone();
        let (command, arguments) = match self.rng.random_range(0..12) {
            0 => ("azureSandbox.run", json!([{"uri": uri, "range": self.range()}])),
            1 => ("azureSandbox.runCell", json!([position])),
            2 => ("azureSandbox.runAbove", json!([position])),
            3 => ("azureSandbox.runFile", json!([{"uri": uri}])),
            4 => ("azureSandbox.runFile", json!([path])),
            5 => ("azureSandbox.runLines", json!([uri, self.rng.random_range(0..4), self.rng.random_range(0..6)])),
            6 => ("azureSandbox.restart", json!([{"uri": uri}])),
            7 => ("azureSandbox.cancel", if self.rng.random_bool(0.5) { json!([]) } else { json!([{"uri": uri}]) }),
            // A requirement the server refuses: no pip runs in the storm.
            8 => ("azureSandbox.installPackage", json!([{"uri": uri, "package": "not a package", "runId": 1}])),
            9 => ("azureSandbox.showOutput", json!([{"uri": uri}])),
            10 => ("azureSandbox.runFile", json!([])),
            _ => ("azureSandbox.noSuchCommand", json!([])),
        };
        json!({"command": command, "arguments": arguments})
    }

    /// 1 to 3 changes anywhere in the message: wrong types, missing or
    /// unknown fields, weird values.
    fn mutate(&mut self, message: &mut Value) {
        for _ in 0..self.rng.random_range(1..=3) {
            let mut paths = Vec::new();
            paths_of(message, &mut Vec::new(), &mut paths);
            // Never the root, and never make `exit` or `shutdown`.
            let path = paths[1..].choose(&mut self.rng).cloned().unwrap_or_default();
            if path.is_empty() {
                continue;
            }
            let (parent_path, last) = path.split_at(path.len() - 1);
            let replacement = weird_value(&mut self.rng);
            let parent = at_path(message, parent_path);
            match (self.rng.random_range(0..4), parent, &last[0]) {
                (0, Value::Object(map), Value::String(key)) => {
                    map.remove(key);
                }
                (1, Value::Object(map), _) => {
                    map.insert(format!("unknown{}", self.rng.random_range(0..9)), replacement);
                }
                (_, parent, step) => {
                    let slot = at_path(parent, std::slice::from_ref(step));
                    *slot = replacement;
                }
            }
        }
        if message.get("method").and_then(Value::as_str).is_some_and(|m| m == "exit" || m == "shutdown") {
            message["method"] = json!("not/exit");
        }
    }

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        frame.extend_from_slice(body);
        frame
    }

    async fn send(&mut self, category: &'static str, bytes: Vec<u8>) {
        *self.per_category.entry(category).or_default() += 1;
        write_raw(self.client, &bytes).await;
    }

    /// Records what a body that arrives whole is owed.
    fn owe(&mut self, body: &[u8]) {
        let before = self.expected.owed_ids;
        self.expected.body(body);
        self.requests += self.expected.owed_ids - before;
    }

    /// Sends a well-framed body and records what it is owed.
    async fn send_body(&mut self, category: &'static str, body: Vec<u8>) {
        self.owe(&body);
        self.send(category, Self::frame(&body)).await;
    }

    async fn one(&mut self) {
        match self.rng.random_range(0..100) {
            0..=11 => {
                let message = self.valid();
                self.send_body("valid", message.to_string().into_bytes()).await;
            }
            12..=49 => {
                let mut message = self.valid();
                self.mutate(&mut message);
                self.send_body("mutated", message.to_string().into_bytes()).await;
            }
            50..=59 => {
                let mut message = self.valid();
                let id = match self.rng.random_range(0..9) {
                    0 => Value::Null,
                    1 => json!(u64::MAX),
                    2 => json!(1.5),
                    3 => json!(-(self.next_id + 7)),
                    4 => json!({"nested": 1}),
                    5 => json!(true),
                    6 => json!([1]),
                    7 => self.last_id.clone(), // a duplicate of the last request's id
                    _ => json!(format!("dup-{}", self.next_id)),
                };
                message["id"] = id;
                self.next_id += 1;
                self.send_body("ids", message.to_string().into_bytes()).await;
            }
            60..=69 => {
                let mut message = self.valid();
                message["method"] = json!(
                    *[
                        "",
                        "$/unknown",
                        "$/azureSandbox/x",
                        "textDocument/completion",
                        "workspace/symbol",
                        "foo/bar",
                        "azureSandbox/unknown",
                        "initialize",
                        "💥",
                        "textDocument/hover/extra"
                    ]
                    .choose(&mut self.rng)
                    .unwrap()
                );
                if message.get("id").is_none() && self.rng.random_bool(0.5) {
                    message["id"] = self.id();
                }
                self.send_body("methods", message.to_string().into_bytes()).await;
            }
            70..=74 => {
                let size = self.rng.random_range(0..4);
                let batch: Vec<Value> = (0..size)
                    .map(|_| {
                        let mut m = self.valid();
                        if m.get("id").is_some() {
                            m["id"] = self.id();
                        }
                        m
                    })
                    .collect();
                self.send_body("batch", Value::Array(batch).to_string().into_bytes()).await;
            }
            75..=79 => {
                let body = match self.rng.random_range(0..8) {
                    0 => "42".to_owned(),
                    1 => "\"just a string\"".to_owned(),
                    2 => "null".to_owned(),
                    3 => "[".repeat(100_000) + &"]".repeat(100_000),
                    4 => format!("{}{}", "{\"a\":".repeat(5_000), "}".repeat(5_000)),
                    5 => r#"{"jsonrpc":"2.0","id":1e400,"method":"x"}"#.to_owned(),
                    6 => format!(
                        r#"{{"jsonrpc":"2.0","id":{},"method":"textDocument/hover","params":{{"textDocument":{{"uri":"{}"}},"position":{{"line":1e400,"character":0}}}}}}"#,
                        self.next_id + 1,
                        self.uris[0]
                    ),
                    _ => r#"{"jsonrpc":"2.0","id":"\ud800","method":"x"}"#.to_owned(),
                };
                self.next_id += 1;
                self.send_body("json", body.into_bytes()).await;
            }
            _ => self.broken_frame().await,
        }
    }

    /// Messages whose frame, headers or bytes are broken.
    async fn broken_frame(&mut self) {
        let mut message = self.valid();
        let kind = self.rng.random_range(0..12);
        // A duplicate key (kind 11) is a JSON object, but no message: give
        // it an id, so that what it is owed is clear.
        if message.get("id").is_some() || kind == 11 {
            message["id"] = self.id();
        }
        let body = message.to_string().into_bytes();
        match kind {
            0 => {
                // Invalid UTF-8 inside the body.
                let mut bad = body.clone();
                let at = bad.iter().position(|&b| b == b':').unwrap_or(0) + 2;
                bad.insert(at.min(bad.len()), 0xff);
                self.send_body("framing", bad).await;
            }
            1 => {
                // Invalid UTF-8 in an extra header: the message still counts.
                self.owe(&body);
                let mut frame = b"X-Junk: \xff\xfe\r\n".to_vec();
                frame.extend(Self::frame(&body));
                self.send("framing", frame).await;
            }
            2 => {
                // Content-Length too small: the cut body is a parse error,
                // the rest is skipped.
                self.expected.must_null();
                let cut = self.rng.random_range(1..body.len());
                let mut frame = format!("Content-Length: {cut}\r\n\r\n").into_bytes();
                frame.extend_from_slice(&body);
                self.send("framing", frame).await;
            }
            3 => {
                // Content-Length too large, and the bytes that make up the
                // difference follow: a parse error.
                self.expected.must_null();
                let extra = self.rng.random_range(1..64);
                let mut frame = format!("Content-Length: {}\r\n\r\n", body.len() + extra).into_bytes();
                frame.extend_from_slice(&body);
                frame.extend(std::iter::repeat_n(b'x', extra));
                self.send("framing", frame).await;
            }
            4 => {
                // Not a number, negative, over the limit, missing, empty.
                self.expected.must_null();
                let header: &[u8] = [
                    &b"Content-Length: twelve\r\n"[..],
                    b"Content-Length: -5\r\n",
                    b"Content-Length: 99999999999999999999\r\n",
                    b"Content-Length: 4294967296000\r\n",
                    b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n",
                    b"Content-Length: 1\xff2\r\n",
                ]
                .choose(&mut self.rng)
                .unwrap();
                let mut frame = [header, b"\r\n"].concat();
                frame.extend_from_slice(&body);
                self.send("framing", frame).await;
            }
            5 => {
                self.expected.must_null();
                self.send("framing", b"Content-Length: 0\r\n\r\n".to_vec()).await;
            }
            6 => {
                // Noise between messages (no line break, so it cannot pass
                // for a header): skipped, unanswered.
                let length = self.rng.random_range(1..400);
                let mut noise: Vec<u8> = vec![0x80 | self.rng.random::<u8>()];
                noise.extend((0..length).map(|_| self.rng.random::<u8>()).filter(|&b| b != b'\n'));
                self.send("framing", noise).await;
            }
            7 => {
                // LF-only line ends, lowercase name: lenient, counted.
                self.owe(&body);
                let mut frame = format!("content-length: {}\n\n", body.len()).into_bytes();
                frame.extend_from_slice(&body);
                self.send("framing", frame).await;
            }
            8 => {
                // A header block of 100 KiB before the length: skipped up to it.
                self.owe(&body);
                let mut frame = format!("X-Pad: {}\r\n", "p".repeat(100 << 10)).into_bytes();
                frame.extend(Self::frame(&body));
                self.send("framing", frame).await;
            }
            9 => {
                // Another charset: the body is read as UTF-8 regardless.
                self.owe(&body);
                let mut frame = format!(
                    "Content-Type: application/vscode-jsonrpc; charset=latin1\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                frame.extend_from_slice(&body);
                self.send("framing", frame).await;
            }
            10 => {
                // Blank lines between messages.
                self.send("framing", b"\r\n\r\n\n".to_vec()).await;
            }
            _ => {
                // A duplicate key: a JSON object, but no JSON-RPC message.
                let text = String::from_utf8(body).unwrap();
                let doubled = text.replacen('{', "{\"jsonrpc\":\"2.0\",", 1);
                self.send_body("framing", doubled.into_bytes()).await;
            }
        }
        if self.rng.random_bool(0.01) {
            tokio::task::yield_now().await;
        }
    }
}

/// Waits until the answers cover what is owed; returns the answers.
async fn answers(client: &LspClient, expected: &Expected, limit: Duration) -> Vec<Value> {
    let deadline = Instant::now() + limit;
    let (mut counts, mut nulls, mut seen): (HashMap<String, usize>, usize, usize) = (HashMap::new(), 0, 0);
    let mut missing: usize = expected.ids.values().filter(|(min, _)| *min > 0).count();
    loop {
        let new: Vec<Value> = client.unmatched.lock().unwrap()[seen..].to_vec();
        seen += new.len();
        for answer in &new {
            match &answer["id"] {
                Value::Null => nulls += 1,
                id => {
                    let key = id.to_string();
                    let count = counts.entry(key.clone()).or_default();
                    *count += 1;
                    if expected.ids.get(&key).is_some_and(|(min, _)| *count == *min) {
                        missing -= 1;
                    }
                }
            }
        }
        let complete = nulls >= expected.null_min && missing == 0;
        if complete || Instant::now() > deadline {
            // Anything late and extra shows up now too.
            tokio::time::sleep(Duration::from_millis(300)).await;
            return client.unmatched.lock().unwrap().clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn check(seed: u64, expected: &Expected, got: &[Value]) {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut nulls = 0;
    for answer in got {
        assert!(
            answer.get("result").is_some() ^ answer.get("error").is_some(),
            "seed {seed}: an answer has neither or both of result and error: {answer}"
        );
        match &answer["id"] {
            Value::Null => nulls += 1,
            id => *counts.entry(id.to_string()).or_default() += 1,
        }
    }
    let mut problems = Vec::new();
    for (id, (min, max)) in &expected.ids {
        let n = counts.get(id).copied().unwrap_or(0);
        if n < *min || n > *max {
            problems.push(format!("id {id}: {n} answers, expected {min}..={max}, for {}", expected.carried_by[id]));
        }
    }
    for (id, n) in &counts {
        if !expected.ids.contains_key(id) {
            problems.push(format!("{n} answers to id {id}, which was never sent"));
        }
    }
    if nulls < expected.null_min || nulls > expected.null_max {
        problems
            .push(format!("{nulls} answers with a null id, expected {}..={}", expected.null_min, expected.null_max));
    }
    problems.sort();
    assert!(
        problems.is_empty(),
        "seed {seed} (replay with BAD_INPUT_SEED={seed}): {} problems, the first:\n{}",
        problems.len(),
        problems.iter().take(15).cloned().collect::<Vec<_>>().join("\n")
    );
}

fn alive(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().any(|l| l.starts_with("State:") && !l.contains("zombie"))
}

/// Resident memory of a process: (now, peak), in MiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb / 1024)
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A 50 MB Python file: cells every 1,000 lines, non-ASCII text, and one
/// 5 MB line.
fn big_document() -> String {
    let mut text = String::with_capacity(BIG_DOCUMENT + 100);
    text.push_str(&format!("huge = '{}'\n", "é🙂".repeat(5_000_000 / 6)));
    let mut line = 0usize;
    while text.len() < BIG_DOCUMENT {
        if line % 1000 == 0 {
            text.push_str(&format!("# %% cell {}\n", line / 1000));
        }
        text.push_str(&format!("value_{line} = {line} * 2  # 中文 comment\n"));
        line += 1;
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_traffic_is_answered_and_the_server_keeps_going() {
    let _alone = common::alone().await;
    let seed = std::env::var("BAD_INPUT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_SEED);
    let count = std::env::var("BAD_INPUT_MESSAGES").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_MESSAGES);
    // Restarts in the storm leave environments behind until their
    // cool-down: a short one, and room for them.
    let sandbox = common::sandbox(azure_sandbox_lsp::sandbox::SandboxConfig {
        max_environments: 32,
        cool_down: Duration::from_secs(4),
        ..common::config()
    })
    .await;
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::write(root.join("main.py"), "x = 1\nx + 1\n").unwrap();
    std::fs::write(root.join("disk.py"), "# %%\nprint('from disk')\n").unwrap();
    let log = root.join("server.log");
    let client = LspClient::binary_logging(
        &[
            ("AZURE_SANDBOX_CACHE_DIR", cache.path().to_str().unwrap()),
            ("AZURE_SANDBOX_MCP_ENDPOINT", sandbox.endpoint()),
            ("AZURE_SANDBOX_API_KEY", sandbox.api_key().expose()),
            // The server's own debug log, for the key scan at the end.
            ("AZURE_SANDBOX_LOG", "azure_sandbox_lsp=debug"),
        ],
        Some(&log),
    );
    let pid = client.pid().unwrap();
    client.initialize(&root, json!({}), rich_capabilities()).await;
    let main_uri = file_uri(&root.join("main.py"));
    client.open(&main_uri, "x = 1\nx + 1\n").await;

    let started = Instant::now();
    let mut storm = Storm {
        rng: StdRng::seed_from_u64(seed),
        seed,
        uris: vec![
            main_uri.clone(),
            file_uri(&root.join("scratch.py")),
            file_uri(&root.join("disk.py")),
            "untitled:Untitled-1".into(),
            "file:///nowhere/else.py".into(),
        ],
        paths: vec![
            file_uri(&root),
            root.join("disk.py").display().to_string(),
            "disk.py".into(),
            "/etc/passwd".into(),
        ],
        next_id: 1_000_000_000,
        last_id: json!(0),
        expected: Expected::default(),
        per_category: BTreeMap::new(),
        requests: 0,
        client: &client,
    };
    for _ in 0..count {
        storm.one().await;
    }
    let sent = started.elapsed();
    let got = answers(&client, &storm.expected, Duration::from_secs(60 + count as u64 / 500)).await;
    let storm_time = started.elapsed();
    assert!(alive(pid), "seed {seed}: the server exited during the storm; its log:\n{}", tail_of_log(&log));
    check(storm.seed, &storm.expected, &got);
    let (requests, categories) = (storm.requests, storm.per_category.clone());
    drop(storm);

    // The 50 MB document: open, the read-only features, then edits.
    let big_uri = file_uri(&root.join("big.py"));
    let text = big_document();
    let mut timings = Vec::new();
    let mut memories = vec![("before", memory(pid).0)];
    let timed = Instant::now();
    client.open(&big_uri, &text).await;
    let lenses = client.result("textDocument/codeLens", json!({"textDocument": {"uri": big_uri}})).await;
    timings.push(("didOpen+codeLens", timed.elapsed()));
    assert!(lenses.as_array().unwrap().len() > 1000, "a lens per cell");
    let timed = Instant::now();
    for (line, character) in [(0u32, 100u32), (500_000, 3), (u32::MAX, u32::MAX)] {
        let at = json!({"textDocument": {"uri": big_uri}, "position": {"line": line, "character": character}});
        client.result("textDocument/hover", at).await;
    }
    timings.push(("hover x3", timed.elapsed()));
    let timed = Instant::now();
    let everything = json!({"start": {"line": 0, "character": 0}, "end": {"line": u32::MAX, "character": 0}});
    client.result("textDocument/inlayHint", json!({"textDocument": {"uri": big_uri}, "range": everything})).await;
    timings.push(("inlayHint", timed.elapsed()));
    memories.push(("open", memory(pid).0));
    let timed = Instant::now();
    let cursor = json!({"start": {"line": 700_000, "character": 0}, "end": {"line": 700_000, "character": 0}});
    // Code actions parsed the whole document (for "Run statement") on every
    // request: 19 s and 1.2 GB more memory here, for each cursor move. (Waited
    // for longer than `request` waits, to measure it when it is slow.)
    let params = json!({"textDocument": {"uri": big_uri}, "range": cursor, "context": {"diagnostics": []}});
    let actions = slow_request(&client, "textDocument/codeAction", params).await;
    let took = timed.elapsed();
    timings.push(("codeAction", took));
    memories.push(("codeAction", memory(pid).0));
    assert!(took < Duration::from_secs(5), "a code action on a 50 MB document took {took:?}");
    assert!(memory(pid).0 < memories[1].1 + 200, "a code action took memory: {memories:?}");
    assert!(actions.as_array().unwrap().iter().any(|a| a["command"]["command"] == "azureSandbox.runCell"));
    let timed = Instant::now();
    client
        .notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": big_uri, "version": 2}, "contentChanges": [
                {"range": {"start": {"line": 1_000_000, "character": 0}, "end": {"line": 1_000_000, "character": 0}}, "text": "# %% inserted\n"},
                {"range": {"start": {"line": 0, "character": 9}, "end": {"line": 0, "character": 4_000_000}}, "text": ""}
            ]}),
        )
        .await;
    let lenses_after = client.result("textDocument/codeLens", json!({"textDocument": {"uri": big_uri}})).await;
    timings.push(("didChange+codeLens", timed.elapsed()));
    assert!(lenses_after.as_array().unwrap().len() > lenses.as_array().unwrap().len(), "the inserted cell has lenses");
    let timed = Instant::now();
    client
        .notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": big_uri, "version": 3}, "contentChanges": [{"text": text}]}),
        )
        .await;
    client
        .result(
            "textDocument/hover",
            json!({"textDocument": {"uri": big_uri}, "position": {"line": 3, "character": 0}}),
        )
        .await;
    timings.push(("full didChange+hover", timed.elapsed()));
    client.notify("textDocument/didClose", json!({"textDocument": {"uri": big_uri}})).await;
    drop(text);
    client.result("textDocument/codeLens", json!({"textDocument": {"uri": big_uri}})).await;
    let (rss, peak) = memory(pid);
    memories.push(("closed", rss));

    // Afterwards: still alive, still answering, and a real run works. The
    // storm may have changed settings, folders and queues: put them back.
    assert!(alive(pid), "seed {seed}: the server exited; its log:\n{}", tail_of_log(&log));
    client.notify("workspace/didChangeConfiguration", json!({"settings": {"azureSandbox": {}}})).await;
    client.result("workspace/executeCommand", json!({"command": "azureSandbox.cancel", "arguments": []})).await;
    for _ in 0..100 {
        if sandbox.pool().counts().0 < 32 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = tempfile::tempdir().unwrap();
    let after_root = after.path().canonicalize().unwrap();
    let after_uri = file_uri(&after_root.join("after.py"));
    client.open(&after_uri, "total = sum(range(10))\nprint(total)\n").await;
    client
        .result(
            "workspace/executeCommand",
            json!({"command": "azureSandbox.runFile", "arguments": [{"uri": after_uri}]}),
        )
        .await;
    let deadline = Instant::now() + WAIT;
    loop {
        let output = client.result("azureSandbox/output", json!({"uri": after_uri})).await;
        let text = output["text"].as_str().unwrap().to_owned();
        if text.contains("→ 45") || text.contains("✓") {
            assert!(text.contains("45") && !text.contains("Traceback"), "seed {seed}: {text}");
            break;
        }
        assert!(Instant::now() < deadline, "seed {seed}: the run after the storm did not finish: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(!log_text.contains("panicked"), "seed {seed}: the server panicked:\n{}", tail_of_log(&log));
    // Whatever the storm made the server say or log, the key is not in it.
    let key = sandbox.api_key().expose();
    assert!(log_text.contains("DEBUG"), "debug logging was on");
    assert!(!log_text.contains(key), "seed {seed}: the key is in the server's log");
    for message in client.received.lock().unwrap().iter() {
        assert!(!message.to_string().contains(key), "seed {seed}: the key is in {}", message["method"]);
    }
    client.shutdown().await;

    let answered = got.len();
    println!(
        "bad-input-lsp: seed {seed}, {count} messages ({}), {requests} requests owed an answer, all answered \
         ({answered} answers); sent in {:.1} s, answered by {:.1} s",
        categories.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "),
        sent.as_secs_f64(),
        storm_time.as_secs_f64(),
    );
    println!(
        "bad-input-lsp: 50 MB document: {}; server resident memory (MiB): {}, peak {peak}",
        timings.iter().map(|(what, t)| format!("{what} {} ms", t.as_millis())).collect::<Vec<_>>().join(", "),
        memories.iter().map(|(what, m)| format!("{what} {m}")).collect::<Vec<_>>().join(", ")
    );
}

/// A request sent raw and waited for up to two minutes; returns its result.
async fn slow_request(client: &LspClient, method: &str, params: Value) -> Value {
    let id = format!("slow-{method}");
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
    write_raw(client, format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes()).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let found = client.unmatched.lock().unwrap().iter().find(|a| a["id"] == json!(id)).cloned();
        if let Some(answer) = found {
            assert!(answer.get("error").is_none(), "{method} failed: {answer}");
            return answer["result"].clone();
        }
        assert!(Instant::now() < deadline, "no answer to {method} within 120 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn tail_of_log(log: &std::path::Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    // A panic's message, else the end.
    let start = text.find("panicked").map(|at| at.saturating_sub(200)).unwrap_or(text.len().saturating_sub(4000));
    let text = &text[..(start + 4000).min(text.len())];
    String::from_utf8_lossy(&text.as_bytes()[start..]).into_owned()
}
