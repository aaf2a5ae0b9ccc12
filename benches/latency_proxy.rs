//! A latency-injecting HTTP/1.1 proxy on 127.0.0.1, for the benchmark's
//! `remote` section: it stands in front of a real `serve-local` and makes it
//! as far away as the real service.
//!
//! The model: **one network round trip per HTTP request**. Each request is
//! read whole, held for the whole latency once (not half on the way in and
//! half on the way out), then forwarded; the answer streams back at once.
//! Opening a TCP connection (and, on the real service, the TLS handshake)
//! costs nothing here, so a client that opens many connections looks
//! better than it would against Azure; the proxy counts connections so the
//! reader can see it.
//!
//! It counts requests and request body bytes, and records the JSON-RPC
//! `method` (and the tool name of a `tools/call`) of each request. Nothing
//! is buffered without bound: a request body over [`MAX_BODY`] is refused,
//! answers stream through in pieces, and the record keeps the last
//! [`LOG_LIMIT`] requests.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The largest request body forwarded; larger ones get `413`.
pub const MAX_BODY: usize = 64 << 20;
/// The largest request head (request line and headers).
const MAX_HEAD: usize = 64 << 10;
/// How many requests the record keeps (the counts go on past it).
pub const LOG_LIMIT: usize = 10_000;

/// One request as the proxy saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// What it was: the JSON-RPC method (`tools/call` with its tool name),
    /// several joined by `+` for a batch, or the HTTP method when the body
    /// is not JSON-RPC.
    pub label: String,
    pub body_bytes: usize,
}

/// A point in the proxy's counts, to measure a window from.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    requests: usize,
    body_bytes: u64,
    reply_bytes: u64,
    connections: usize,
}

/// What the proxy saw between a [`Mark`] and now.
#[derive(Clone, Debug, Default)]
pub struct Window {
    pub requests: usize,
    pub body_bytes: u64,
    /// Bytes of the replies' bodies.
    pub reply_bytes: u64,
    pub connections: usize,
    /// The requests in order (only those still in the record).
    pub seen: Vec<Seen>,
}

impl Window {
    /// "initialize, notifications/initialized, tools/call X", or "none".
    pub fn labels(&self) -> String {
        if self.requests == 0 {
            return "none".into();
        }
        let mut labels: Vec<&str> = self.seen.iter().map(|s| s.label.as_str()).collect();
        if labels.len() < self.requests {
            labels.insert(0, "…");
        }
        labels.join(", ")
    }

    /// Each request's body size: "tools/call X 812 B, …".
    pub fn sizes(&self) -> String {
        self.seen.iter().map(|s| format!("{} {} B", s.label, s.body_bytes)).collect::<Vec<_>>().join(", ")
    }
}

#[derive(Default)]
struct Log {
    /// The index (in arrival order) of `entries[0]`.
    first: usize,
    entries: VecDeque<Seen>,
}

struct State {
    upstream: String,
    latency: Duration,
    requests: AtomicUsize,
    body_bytes: AtomicU64,
    reply_bytes: AtomicU64,
    connections: AtomicUsize,
    log: Mutex<Log>,
    http: reqwest::Client,
}

pub struct LatencyProxy {
    state: Arc<State>,
    pub url: String,
    accepting: tokio::task::JoinHandle<()>,
}

impl LatencyProxy {
    /// Starts forwarding to `upstream` (an MCP endpoint URL), each request
    /// held for `latency` first. Its own URL has the upstream's path.
    pub async fn start(upstream: &str, latency: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let path = url::Url::parse(upstream).map(|u| u.path().to_owned()).unwrap_or_else(|_| "/".into());
        let url = format!("http://{}{path}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            upstream: upstream.to_owned(),
            latency,
            requests: AtomicUsize::new(0),
            body_bytes: AtomicU64::new(0),
            reply_bytes: AtomicU64::new(0),
            connections: AtomicUsize::new(0),
            log: Mutex::default(),
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        });
        let shared = Arc::clone(&state);
        let accepting = tokio::spawn(async move {
            // Connections live in the set, so stopping the proxy ends them all.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((connection, _)) = listener.accept().await {
                while connections.try_join_next().is_some() {}
                shared.connections.fetch_add(1, Ordering::SeqCst);
                connections.spawn(serve_connection(connection, Arc::clone(&shared)));
            }
        });
        Self { state, url, accepting }
    }

    pub fn mark(&self) -> Mark {
        Mark {
            requests: self.state.requests.load(Ordering::SeqCst),
            body_bytes: self.state.body_bytes.load(Ordering::SeqCst),
            reply_bytes: self.state.reply_bytes.load(Ordering::SeqCst),
            connections: self.state.connections.load(Ordering::SeqCst),
        }
    }

    /// What arrived since `mark`.
    pub fn since(&self, mark: Mark) -> Window {
        let log = self.state.log.lock().unwrap();
        let requests = self.state.requests.load(Ordering::SeqCst);
        let skip = mark.requests.saturating_sub(log.first);
        Window {
            requests: requests - mark.requests,
            body_bytes: self.state.body_bytes.load(Ordering::SeqCst) - mark.body_bytes,
            reply_bytes: self.state.reply_bytes.load(Ordering::SeqCst) - mark.reply_bytes,
            connections: self.state.connections.load(Ordering::SeqCst) - mark.connections,
            seen: log.entries.iter().skip(skip).cloned().collect(),
        }
    }
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

struct Request {
    method: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

enum Incoming {
    Request(Request),
    /// Too large or malformed: answered with this status, then closed.
    Refused(u16),
    Closed,
}

async fn read_line_bounded(reader: &mut BufReader<TcpStream>, line: &mut String, budget: &mut usize) -> bool {
    let mut limited = (&mut *reader).take(*budget as u64 + 1);
    match limited.read_line(line).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            *budget = budget.saturating_sub(n);
            line.ends_with('\n')
        }
    }
}

async fn read_request(reader: &mut BufReader<TcpStream>) -> Incoming {
    let mut budget = MAX_HEAD;
    let mut line = String::new();
    if !read_line_bounded(reader, &mut line, &mut budget).await {
        return if line.is_empty() { Incoming::Closed } else { Incoming::Refused(431) };
    }
    let Some(method) = line.split_whitespace().next().map(str::to_owned) else {
        return Incoming::Refused(400);
    };
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if !read_line_bounded(reader, &mut line, &mut budget).await {
            return Incoming::Refused(431);
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Incoming::Refused(400);
        };
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let header = |wanted: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(wanted)).map(|(_, v)| v.clone());
    let body = if header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        match read_chunked(reader).await {
            Some(body) => body,
            None => return Incoming::Refused(413),
        }
    } else {
        let length = header("content-length").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
        if length > MAX_BODY {
            return Incoming::Refused(413);
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return Incoming::Closed;
        }
        body
    };
    Incoming::Request(Request { method, headers, body })
}

/// A chunked request body, or `None` when it is malformed or over [`MAX_BODY`].
async fn read_chunked(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut budget = MAX_HEAD;
        let mut line = String::new();
        if !read_line_bounded(reader, &mut line, &mut budget).await {
            return None;
        }
        let size = usize::from_str_radix(line.trim().split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            // Trailers, up to the blank line.
            loop {
                let mut line = String::new();
                if !read_line_bounded(reader, &mut line, &mut budget).await {
                    return None;
                }
                if line.trim_end().is_empty() {
                    return Some(body);
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return None;
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).await.ok()?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf).await.ok()?;
    }
}

/// What a request was, for the record.
fn label(http_method: &str, body: &[u8]) -> String {
    fn one(message: &Value) -> Option<String> {
        let method = message.get("method")?.as_str()?;
        Some(match message.pointer("/params/name").and_then(Value::as_str) {
            Some(tool) if method == "tools/call" => format!("{method} {tool}"),
            _ => method.to_owned(),
        })
    }
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let labels: Vec<String> = match &parsed {
        Some(Value::Array(batch)) => batch.iter().filter_map(one).collect(),
        Some(message) => one(message).into_iter().collect(),
        None => Vec::new(),
    };
    if labels.is_empty() {
        let what = if parsed.is_some() { " (JSON-RPC answer)" } else { "" };
        format!("HTTP {http_method}{what}")
    } else {
        labels.join("+")
    }
}

/// Waits `latency`, to a tenth of a millisecond or so: tokio's timer fires
/// on the millisecond tick after its deadline, so the last two milliseconds
/// are slept on a blocking thread instead.
async fn hold(latency: Duration) {
    let deadline = std::time::Instant::now() + latency;
    let tail = Duration::from_millis(2);
    if latency > tail {
        tokio::time::sleep(latency - tail).await;
    }
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    if !left.is_zero() {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(left)).await;
    }
}

async fn serve_connection(connection: TcpStream, state: Arc<State>) {
    let _ = connection.set_nodelay(true);
    let mut reader = BufReader::new(connection);
    loop {
        let request = match read_request(&mut reader).await {
            Incoming::Request(request) => request,
            Incoming::Refused(status) => {
                let head = format!("HTTP/1.1 {status} Refused\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = reader.get_mut().write_all(head.as_bytes()).await;
                return;
            }
            Incoming::Closed => return,
        };
        let seen = Seen { label: label(&request.method, &request.body), body_bytes: request.body.len() };
        {
            let mut log = state.log.lock().unwrap();
            state.requests.fetch_add(1, Ordering::SeqCst);
            state.body_bytes.fetch_add(request.body.len() as u64, Ordering::SeqCst);
            log.entries.push_back(seen);
            if log.entries.len() > LOG_LIMIT {
                log.entries.pop_front();
                log.first += 1;
            }
        }
        // The network: the whole round trip, once per request.
        hold(state.latency).await;
        let close = request
            .headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"));
        let Ok(method) = request.method.parse::<reqwest::Method>() else { return };
        let mut outgoing = state.http.request(method, &state.upstream);
        for (name, value) in &request.headers {
            let lower = name.to_ascii_lowercase();
            if !["host", "content-length", "connection", "transfer-encoding", "keep-alive"].contains(&lower.as_str()) {
                outgoing = outgoing.header(name, value);
            }
        }
        let Ok(mut reply) = outgoing.body(request.body).send().await else {
            return; // The sandbox behind is gone: so is the connection.
        };
        let mut head =
            format!("HTTP/1.1 {} {}\r\n", reply.status().as_u16(), reply.status().canonical_reason().unwrap_or("X"));
        for (name, value) in reply.headers() {
            let lower = name.as_str();
            if ["content-length", "connection", "transfer-encoding", "keep-alive"].contains(&lower) {
                continue;
            }
            head.push_str(&format!("{name}: {}\r\n", String::from_utf8_lossy(value.as_bytes())));
        }
        let length = reply.content_length();
        match length {
            Some(n) => head.push_str(&format!("content-length: {n}\r\n")),
            None => head.push_str("transfer-encoding: chunked\r\n"),
        }
        if close {
            head.push_str("connection: close\r\n");
        }
        head.push_str("\r\n");
        let stream = reader.get_mut();
        if stream.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        // Streamed as it comes (an event stream may stay open a long time).
        loop {
            match reply.chunk().await {
                Ok(Some(piece)) => {
                    state.reply_bytes.fetch_add(piece.len() as u64, Ordering::SeqCst);
                    let written = if length.is_some() {
                        stream.write_all(&piece).await
                    } else {
                        let framed = format!("{:x}\r\n", piece.len());
                        match stream.write_all(framed.as_bytes()).await {
                            Ok(()) => match stream.write_all(&piece).await {
                                Ok(()) => stream.write_all(b"\r\n").await,
                                Err(e) => Err(e),
                            },
                            Err(e) => Err(e),
                        }
                    };
                    if written.is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(_) => return, // Cut upstream: cut here too.
            }
        }
        if length.is_none() && stream.write_all(b"0\r\n\r\n").await.is_err() {
            return;
        }
        if stream.flush().await.is_err() || close {
            return;
        }
    }
}
