//! A fault-injecting HTTP proxy on 127.0.0.1, in front of a real local
//! sandbox: it stands in for what lies between a client and Azure (a
//! gateway, a network, a key rotation) and misbehaves on demand.
//!
//! It speaks HTTP/1.1 itself over raw TCP, so it can do what a well-behaved
//! HTTP library would not: cut a stream halfway, reset a connection, answer
//! nothing at all.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to the requests a fault applies to.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Forward faithfully.
    None,
    /// `500 Internal Server Error` with a plain-text body.
    Status500,
    /// `502 Bad Gateway` with an HTML page, as a front end answers; the page
    /// echoes the request's headers (key included), as debugging gateways do.
    BadGatewayHtml,
    /// `200` with a JSON content type and a body that is not JSON.
    InvalidJson,
    /// `200` as an event stream whose body stops mid-event, then the
    /// connection closes.
    TruncatedSse,
    /// Read the request, answer nothing, keep the connection open.
    Hang,
    /// Read the request, then reset the connection (RST).
    Reset,
    /// Forward, but give back only what the service documents for a run:
    /// `stdout`, with every other result field dropped.
    StdoutOnly,
}

/// Which requests a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scope {
    /// Only runs (`tools/call` of `runPythonCodeInRemoteEnvironment`).
    Runs,
    /// Every request.
    All,
}

struct State {
    upstream: Mutex<String>,
    fault: Mutex<(Fault, Scope)>,
    /// The key clients must send; `None` passes what they send.
    accepted_key: Mutex<Option<String>>,
    /// The key sent upstream when `accepted_key` is set.
    upstream_key: Mutex<Option<String>>,
    faulted: AtomicUsize,
    forwarded: AtomicUsize,
    /// Connections held open by `Hang`, released when the fault changes.
    held: Mutex<Vec<TcpStream>>,
    /// What each forwarded request asked for: the JSON-RPC method, and the
    /// tool's name for `tools/call` (`tools/call runPythonCodeInRemoteEnvironment`),
    /// with the request body's size in bytes.
    calls: Mutex<Vec<(String, usize)>>,
}

pub struct FaultProxy {
    state: Arc<State>,
    pub url: String,
}

impl FaultProxy {
    /// Starts forwarding to `upstream` (an MCP endpoint URL).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let state = Arc::new(State {
            upstream: Mutex::new(upstream.to_owned()),
            fault: Mutex::new((Fault::None, Scope::Runs)),
            accepted_key: Mutex::new(None),
            upstream_key: Mutex::new(None),
            faulted: AtomicUsize::new(0),
            forwarded: AtomicUsize::new(0),
            held: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
        });
        let accepting = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((connection, _)) = listener.accept().await {
                tokio::spawn(serve_connection(connection, Arc::clone(&accepting)));
            }
        });
        Self { state, url }
    }

    pub fn set_fault(&self, fault: Fault, scope: Scope) {
        *self.state.fault.lock().unwrap() = (fault, scope);
        // Whatever a hang held is let go (closed) once the fault changes.
        self.state.held.lock().unwrap().clear();
    }

    pub fn set_upstream(&self, upstream: &str) {
        *self.state.upstream.lock().unwrap() = upstream.to_owned();
    }

    /// Models a rotated key: from now on only `accepted` is let through
    /// (anything else gets 401 as the service answers it), and `upstream_key`
    /// is what the proxy sends to the real sandbox behind it.
    pub fn rotate_key(&self, accepted: &str, upstream_key: &str) {
        *self.state.accepted_key.lock().unwrap() = Some(accepted.to_owned());
        *self.state.upstream_key.lock().unwrap() = Some(upstream_key.to_owned());
    }

    /// How many requests a fault was applied to so far.
    pub fn faulted(&self) -> usize {
        self.state.faulted.load(Ordering::SeqCst)
    }

    /// The calls forwarded so far, in order (see `State::calls`).
    pub fn calls(&self) -> Vec<(String, usize)> {
        self.state.calls.lock().unwrap().clone()
    }

    pub fn forwarded(&self) -> usize {
        self.state.forwarded.load(Ordering::SeqCst)
    }
}

struct Request {
    method: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    // The path is not forwarded: the upstream URL names the endpoint itself.
    let method = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.ok()?;
    Some(Request { method, headers, body })
}

async fn serve_connection(connection: TcpStream, state: Arc<State>) {
    let _ = connection.set_nodelay(true);
    let mut reader = BufReader::new(connection);
    let http = reqwest::Client::new();
    while let Some(request) = read_request(&mut reader).await {
        let (fault, scope) = state.fault.lock().unwrap().clone();
        let body_text = String::from_utf8_lossy(&request.body);
        let applies = match scope {
            Scope::All => true,
            Scope::Runs => body_text.contains("runPythonCodeInRemoteEnvironment"),
        };
        let accepted = state.accepted_key.lock().unwrap().clone();
        if let Some(accepted) = accepted {
            if request.header("x-ms-apikey") != Some(accepted.as_str()) {
                // The service's answer to a key it no longer accepts.
                let body = r#"{"error":{"code":"Unauthorized","message":"Access denied due to invalid subscription key or wrong API endpoint."}}"#;
                let _ = write_response(reader.get_mut(), 401, "application/json", body.as_bytes()).await;
                return;
            }
        }
        let stdout_only = applies && fault == Fault::StdoutOnly;
        if applies && fault != Fault::None && !stdout_only {
            state.faulted.fetch_add(1, Ordering::SeqCst);
            let stream = reader.get_mut();
            match fault {
                Fault::None | Fault::StdoutOnly => unreachable!(),
                Fault::Status500 => {
                    let _ = write_response(stream, 500, "text/plain", b"Internal Server Error").await;
                }
                Fault::BadGatewayHtml => {
                    let echoed: String =
                        request.headers.iter().map(|(n, v)| format!("<li>{n}: {v}</li>")).collect::<Vec<_>>().join("");
                    let page = format!(
                        "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>\
                         <h1>502 Bad Gateway</h1><p>The upstream session host did not answer.</p>\
                         <ul>{echoed}</ul></body></html>"
                    );
                    let _ = write_response(stream, 502, "text/html; charset=utf-8", page.as_bytes()).await;
                }
                Fault::InvalidJson => {
                    let _ =
                        write_response(stream, 200, "application/json", b"{\"jsonrpc\": \"2.0\", \"id\": 7, \"resu")
                            .await;
                }
                Fault::TruncatedSse => {
                    let head =
                        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                    let event = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{\"content\":[{\"ty";
                    let chunk = format!("{:x}\r\n{event}\r\n", event.len());
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(chunk.as_bytes()).await;
                    let _ = stream.flush().await;
                    // Closed without the last chunk: the stream ends mid-event.
                }
                Fault::Hang => {
                    let connection = reader.into_inner();
                    state.held.lock().unwrap().push(connection);
                    return;
                }
                Fault::Reset => {
                    reset(reader.into_inner());
                    return;
                }
            }
            // Every fault but a hang ends the connection.
            return;
        }
        state.forwarded.fetch_add(1, Ordering::SeqCst);
        state.calls.lock().unwrap().push((call_of(&request.body), request.body.len()));
        let upstream = state.upstream.lock().unwrap().clone();
        let mut outgoing = http.request(request.method.parse().unwrap(), upstream);
        let upstream_key = state.upstream_key.lock().unwrap().clone();
        for (name, value) in &request.headers {
            let lower = name.to_ascii_lowercase();
            if ["host", "content-length", "connection", "transfer-encoding"].contains(&lower.as_str()) {
                continue;
            }
            if lower == "x-ms-apikey" && upstream_key.is_some() {
                continue;
            }
            outgoing = outgoing.header(name, value);
        }
        if let Some(key) = upstream_key {
            outgoing = outgoing.header("x-ms-apikey", key);
        }
        let reply = match outgoing.body(request.body).send().await {
            Ok(reply) => reply,
            Err(_) => {
                // The sandbox behind is gone (killed, restarting): the client
                // sees what it would see from the sandbox itself, a reset.
                reset(reader.into_inner());
                return;
            }
        };
        let status = reply.status().as_u16();
        let content_type = reply.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let session = reply.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let Ok(mut body) = reply.bytes().await.map(|b| b.to_vec()) else {
            reset(reader.into_inner());
            return;
        };
        if stdout_only {
            if let Some(stripped) = only_stdout(&body) {
                state.faulted.fetch_add(1, Ordering::SeqCst);
                body = stripped;
            }
        }
        let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
        if !content_type.is_empty() {
            head.push_str(&format!("content-type: {content_type}\r\n"));
        }
        if let Some(session) = session {
            head.push_str(&format!("mcp-session-id: {session}\r\n"));
        }
        head.push_str("\r\n");
        let stream = reader.get_mut();
        if stream.write_all(head.as_bytes()).await.is_err() || stream.write_all(&body).await.is_err() {
            return;
        }
    }
}

/// `method`, or `tools/call NAME`, of a JSON-RPC request body.
fn call_of(body: &[u8]) -> String {
    let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let method = request["method"].as_str().unwrap_or("?");
    match request["params"]["name"].as_str() {
        Some(tool) if method == "tools/call" => format!("{method} {tool}"),
        _ => method.to_owned(),
    }
}

/// A JSON-RPC reply to a run, reduced to the documented minimum: the result
/// holds `stdout` and nothing else (as structured content and as its text).
fn only_stdout(body: &[u8]) -> Option<Vec<u8>> {
    let mut reply: serde_json::Value = serde_json::from_slice(body).ok()?;
    let stdout = reply["result"]["structuredContent"]["stdout"].as_str()?.to_owned();
    let minimal = serde_json::json!({"stdout": stdout});
    reply["result"] = serde_json::json!({
        "structuredContent": minimal,
        "content": [{"type": "text", "text": minimal.to_string()}],
    });
    serde_json::to_vec(&reply).ok()
}

async fn write_response(stream: &mut TcpStream, status: u16, content_type: &str, body: &[u8]) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await
}

/// Closes with RST instead of FIN: SO_LINGER with a zero timeout.
fn reset(stream: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: setsockopt on a socket this function owns, with a valid pointer and size.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}
