//! The LSP base protocol (`Content-Length` framing) in front of tower-lsp,
//! hardened against malformed input.
//!
//! tower-lsp's own reader stops for good at the first message it cannot
//! decode: one body that is not JSON, not UTF-8, or not a JSON-RPC message
//! (a batch, an id that is not an integer or a string) ended the server, and
//! the requests after it were never answered. So the server reads the client
//! here instead:
//!
//! - Only frames that tower-lsp accepts reach it, re-framed with a plain
//!   `Content-Length` header. A message is accepted exactly when it
//!   deserializes as tower-lsp's own `Message` type (see [`Message`]).
//! - Everything else is answered here, as JSON-RPC says: a body that is not
//!   JSON (or not UTF-8) with a parse error (-32700), a header block without
//!   a usable `Content-Length` with the same, and JSON that is not a message
//!   with an invalid request (-32600) carrying the message's id when it has a
//!   usable one, else `null`. A batch gets one such error per member with an
//!   id (LSP has no batches). Responses to the server's own requests that do
//!   not parse are dropped, since responses are never answered.
//! - Bytes that are no header at all (the rest of a body whose
//!   `Content-Length` was too small, or noise) are skipped up to the next
//!   `Content-Length`, with a warning.
//!
//! A `Content-Length` larger than the body cannot be told from a slow
//! client: the reader waits for the missing bytes and takes them from what
//! follows, so the frame becomes whatever those bytes make it (usually a
//! parse error). Lengths over [`MAX_MESSAGE`] are refused at once.
//!
//! The answers are written between tower-lsp's own frames, never inside
//! one: its output goes through [`forward_output`], which copies whole frames.

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Request, Response};

/// The largest message accepted (a 50 MB document is an ordinary one).
pub const MAX_MESSAGE: usize = 1 << 30;
/// The longest header block; real ones are under 100 bytes.
const MAX_HEADERS: usize = 64 << 10;
const CONTENT_LENGTH: &[u8] = b"content-length";

/// tower-lsp's `jsonrpc::Message`, which it does not export: the same
/// untagged enum of its public types, so it accepts exactly what tower-lsp's
/// reader accepts.
#[derive(Deserialize)]
#[serde(untagged)]
#[allow(dead_code)] // only parsed, to check
enum Message {
    Response(Response),
    Request(Request),
}

/// Reads `input`, writes the frames tower-lsp accepts to `server`, and sends
/// the answers to the others to `answers` (whole frames, ready to write).
/// Returns at the end of `input` (or when the server stops reading).
pub async fn sanitize<I, S>(input: I, mut server: S, answers: mpsc::Sender<Vec<u8>>)
where
    I: AsyncRead + Unpin,
    S: AsyncWrite + Unpin,
{
    let mut reader = FrameReader { input, buffer: Vec::with_capacity(1 << 16), eof: false };
    while let Some(frame) = reader.next().await {
        let verdict = match frame {
            Frame::Body(body) => judge(&body).map(|()| body),
            Frame::BadHeader(why) => Err(vec![error(Value::Null, -32700, format!("Parse error: {why}"))]),
        };
        match verdict {
            Ok(body) => {
                let header = format!("Content-Length: {}\r\n\r\n", body.len());
                if server.write_all(header.as_bytes()).await.is_err() || server.write_all(&body).await.is_err() {
                    return;
                }
                let _ = server.flush().await;
            }
            Err(errors) => {
                for answer in errors {
                    if answers.send(frame_of(&answer)).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Copies tower-lsp's output to `output` frame by frame, and writes the
/// answers from [`sanitize`] between frames. Returns when the server's
/// output ends.
pub async fn forward_output<R, O>(mut from_server: R, mut answers: mpsc::Receiver<Vec<u8>>, output: O)
where
    R: AsyncRead + Unpin,
    O: AsyncWrite,
{
    tokio::pin!(output);
    let mut buffer: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut answers_open = true;
    loop {
        // Whole frames only: what is left in `buffer` is an unfinished one.
        let mut written = 0;
        while let Some(length) = frame_length(&buffer[written..]) {
            if output.write_all(&buffer[written..written + length]).await.is_err() {
                return;
            }
            written += length;
        }
        if written > 0 {
            buffer.drain(..written);
            let _ = output.flush().await;
        }
        buffer.reserve(1 << 16);
        tokio::select! {
            read = from_server.read_buf(&mut buffer) => {
                if !matches!(read, Ok(n) if n > 0) {
                    break;
                }
            }
            answer = answers.recv(), if answers_open => match answer {
                Some(answer) => {
                    if output.write_all(&answer).await.is_err() {
                        return;
                    }
                    let _ = output.flush().await;
                }
                None => answers_open = false,
            },
        }
    }
    // The server is gone; say what is still to be said.
    while let Ok(answer) = answers.try_recv() {
        if output.write_all(&answer).await.is_err() {
            return;
        }
    }
    let _ = output.flush().await;
}

/// The length of the first whole frame in `bytes` (tower-lsp's own output:
/// `Content-Length: N\r\n\r\n` and N bytes), if it is all there.
fn frame_length(bytes: &[u8]) -> Option<usize> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let headers = std::str::from_utf8(&bytes[..end]).ok()?;
    let length: usize = headers.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim().eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
    })?;
    let total = end + 4 + length;
    (bytes.len() >= total).then_some(total)
}

/// `Ok` when tower-lsp accepts the message; else the answers to give.
fn judge(body: &[u8]) -> Result<(), Vec<Value>> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(vec![error(Value::Null, -32700, "Parse error: the message is not valid UTF-8")]);
    };
    if serde_json::from_str::<Message>(text).is_ok() {
        return Ok(());
    }
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) => return Err(vec![error(Value::Null, -32700, format!("Parse error: {e}"))]),
    };
    match value {
        Value::Array(batch) => {
            let why = "Invalid request: LSP does not support batches; send each message on its own";
            let mut errors: Vec<Value> = batch.iter().filter_map(usable_id).map(|id| error(id, -32600, why)).collect();
            if errors.is_empty() {
                errors.push(error(Value::Null, -32600, why));
            }
            Err(errors)
        }
        Value::Object(ref object) => {
            let is_response = !object.contains_key("method")
                && (object.contains_key("result") || object.contains_key("error"))
                && object.contains_key("id");
            if is_response {
                tracing::warn!("dropped a malformed response from the client");
                return Err(Vec::new());
            }
            let why = invalid_reason(object);
            Err(vec![error(usable_id(&value).unwrap_or(Value::Null), -32600, format!("Invalid request: {why}"))])
        }
        _ => Err(vec![error(Value::Null, -32600, "Invalid request: a message must be a JSON object")]),
    }
}

/// What makes a JSON object no message (for the error's text).
fn invalid_reason(object: &serde_json::Map<String, Value>) -> &'static str {
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        "\"jsonrpc\" must be \"2.0\""
    } else if object.get("method").is_some_and(|m| !m.is_string()) {
        "\"method\" must be a string"
    } else if object.get("id").is_some_and(|id| usable_id_value(id).is_none()) {
        "\"id\" must be an integer, a string or null"
    } else {
        "not a JSON-RPC request, notification or response"
    }
}

/// The id of a message, when an answer can carry it.
fn usable_id(message: &Value) -> Option<Value> {
    usable_id_value(message.get("id")?)
}

fn usable_id_value(id: &Value) -> Option<Value> {
    match id {
        Value::String(_) => Some(id.clone()),
        Value::Number(n) if n.is_i64() => Some(id.clone()),
        _ => None,
    }
}

fn error(id: Value, code: i64, message: impl Into<String>) -> Value {
    json!({"jsonrpc": "2.0", "error": {"code": code, "message": message.into()}, "id": id})
}

fn frame_of(message: &Value) -> Vec<u8> {
    let body = message.to_string();
    let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    frame.extend_from_slice(body.as_bytes());
    frame
}

enum Frame {
    Body(Vec<u8>),
    /// A header block without a usable `Content-Length`: why.
    BadHeader(String),
}

struct FrameReader<I> {
    input: I,
    buffer: Vec<u8>,
    eof: bool,
}

impl<I: AsyncRead + Unpin> FrameReader<I> {
    /// Reads more input; false at its end.
    async fn fill(&mut self) -> bool {
        if self.eof {
            return false;
        }
        self.buffer.reserve(1 << 16);
        match self.input.read_buf(&mut self.buffer).await {
            Ok(n) if n > 0 => true,
            _ => {
                self.eof = true;
                false
            }
        }
    }

    /// The next frame; `None` at the end of the input.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            // Blank lines between messages are harmless.
            let blank = self.buffer.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
            self.buffer.drain(..blank);
            if self.buffer.is_empty() {
                if !self.fill().await {
                    return None;
                }
                continue;
            }
            match self.headers().await? {
                Ok(Some(length)) => {
                    while self.buffer.len() < length {
                        if !self.fill().await {
                            return None;
                        }
                    }
                    let body: Vec<u8> = self.buffer.drain(..length).collect();
                    return Some(Frame::Body(body));
                }
                Ok(None) => self.skip_garbage().await?,
                Err(why) => return Some(Frame::BadHeader(why)),
            }
        }
    }

    /// Parses the header block at the start of the buffer and consumes it.
    /// `Ok(Some(length))` for a usable one, `Ok(None)` when the bytes are no
    /// header block (nothing consumed), `Err` for a header block without a
    /// usable length (consumed).
    async fn headers(&mut self) -> Option<Result<Option<usize>, String>> {
        let end = loop {
            if let Some(end) = header_end(&self.buffer) {
                break end;
            }
            // Give up on anything that is already not a header.
            if !looks_like_headers(&self.buffer, false) || self.buffer.len() > MAX_HEADERS {
                return Some(Ok(None));
            }
            if !self.fill().await {
                return None;
            }
        };
        let (block, consumed) = end;
        if !looks_like_headers(&self.buffer[..block], true) {
            return Some(Ok(None));
        }
        let mut length = None;
        for line in self.buffer[..block].split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
            if line[..colon].eq_ignore_ascii_case(CONTENT_LENGTH) {
                length =
                    Some(std::str::from_utf8(&line[colon + 1..]).ok().and_then(|v| v.trim().parse::<usize>().ok()));
            }
        }
        // Noise glued to the front of a header ("…}Content-Length: 9"), or
        // noise that itself holds the name ("Content-Length: 12\"}…" from a
        // skipped body, then the real header): without a usable length here,
        // a later "Content-Length" in the block is the header; skip to it.
        let later = self.buffer[1..block].windows(CONTENT_LENGTH.len()).any(|w| w.eq_ignore_ascii_case(CONTENT_LENGTH));
        if later && !matches!(length, Some(Some(_))) {
            return Some(Ok(None));
        }
        self.buffer.drain(..consumed);
        Some(match length {
            Some(Some(0)) => Err("empty message (Content-Length: 0)".into()),
            Some(Some(length)) if length > MAX_MESSAGE => {
                Err(format!("Content-Length {length} is over the limit of {MAX_MESSAGE} bytes"))
            }
            Some(Some(length)) => Ok(Some(length)),
            Some(None) => Err("the Content-Length header is not a number".into()),
            None => Err("missing Content-Length header".into()),
        })
    }

    /// Drops bytes up to the next `Content-Length` (any case).
    async fn skip_garbage(&mut self) -> Option<()> {
        let mut skipped = 0usize;
        loop {
            // Not at 0: the garbage may itself start with the name.
            let found =
                self.buffer.windows(CONTENT_LENGTH.len()).skip(1).position(|w| w.eq_ignore_ascii_case(CONTENT_LENGTH));
            if let Some(at) = found {
                skipped += at + 1;
                self.buffer.drain(..at + 1);
                break;
            }
            // Keep a tail that may be the start of the name.
            let keep = (CONTENT_LENGTH.len() - 1).min(self.buffer.len());
            let drop = self.buffer.len() - keep;
            skipped += drop;
            self.buffer.drain(..drop);
            if !self.fill().await {
                tracing::warn!("skipped {skipped} bytes that were no LSP message");
                return None;
            }
        }
        tracing::warn!("skipped {skipped} bytes that were no LSP message");
        Some(())
    }
}

/// The end of the header block at the start of `bytes`, at its first
/// blank line: (its length without the blank line, its length with it).
fn header_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut start = 0;
    while let Some(newline) = bytes[start..].iter().position(|&b| b == b'\n') {
        let line = &bytes[start..start + newline];
        if line.strip_suffix(b"\r").unwrap_or(line).is_empty() {
            return Some((start, start + newline + 1));
        }
        start += newline + 1;
    }
    None
}

/// Do these bytes read as header lines, `Name: value` (so far, unless the
/// block is `complete`)? The name is an HTTP token; the value is anything.
fn looks_like_headers(bytes: &[u8], complete: bool) -> bool {
    let mut lines = bytes.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let name_end = line.iter().position(|&b| b == b':');
        let name = &line[..name_end.unwrap_or(line.len())];
        let token = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
        if name.is_empty() || !name.iter().all(token) {
            return false;
        }
        // The last line may still be arriving.
        if name_end.is_none() && (complete || !last) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(input: &[u8]) -> (Vec<u8>, Vec<Value>) {
        let (to_server, mut server_side) = tokio::io::duplex(1 << 20);
        let (sender, mut receiver) = mpsc::channel(1024);
        sanitize(input, to_server, sender).await;
        let mut passed = Vec::new();
        server_side.read_to_end(&mut passed).await.unwrap();
        let mut answers = Vec::new();
        while let Ok(frame) = receiver.try_recv() {
            let at = frame.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            answers.push(serde_json::from_slice(&frame[at + 4..]).unwrap());
        }
        (passed, answers)
    }

    fn frame(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    #[tokio::test]
    async fn good_frames_pass_and_bad_ones_are_answered() {
        let good = r#"{"jsonrpc":"2.0","id":1,"method":"x"}"#;
        let input = [
            frame("{not json"),
            frame(good),
            frame(r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#),
            frame(r#"{"jsonrpc":"2.0","id":"s","method":7}"#),
            frame(r#"[{"jsonrpc":"2.0","id":4,"method":"x"},{"jsonrpc":"2.0","method":"y"}]"#),
            "Content-Type: x\r\n\r\n".into(),
            "noise\r\n\r\n".into(),                     // no header: skipped
            format!("Content-Length: 5\r\n\r\n{good}"), // too small: the rest is skipped
            frame(good),
            // A body that says "Content-Length", cut short: the rest, which
            // starts with the name, is skipped up to the real header.
            "Content-Length: 14\r\n\r\n{\"a\":\"x\",\"b\":\"Content-Length: 12\",\"c\":1}".into(),
            frame(good),
        ]
        .concat();
        let (passed, answers) = run(input.as_bytes()).await;
        assert_eq!(String::from_utf8(passed).unwrap(), frame(good).repeat(3));
        let summary: Vec<(i64, Value)> =
            answers.iter().map(|a| (a["error"]["code"].as_i64().unwrap(), a["id"].clone())).collect();
        assert_eq!(
            summary,
            vec![
                (-32700, Value::Null),
                (-32600, Value::Null),
                (-32600, json!("s")),
                (-32600, json!(4)),
                (-32700, Value::Null),
                (-32700, Value::Null),
                (-32700, Value::Null),
            ]
        );
    }

    #[tokio::test]
    async fn invalid_utf8_and_lf_only_headers() {
        let mut input = b"Content-Length: 4\n\n\"\xff\"x".to_vec();
        input.extend_from_slice(b"Content-Length: 2\r\nX-Other: \xfe\r\n\r\n{}");
        let (passed, answers) = run(&input).await;
        assert!(passed.is_empty());
        assert_eq!(answers.len(), 2);
        assert!(answers[0]["error"]["message"].as_str().unwrap().contains("UTF-8"));
        assert_eq!(answers[1]["error"]["code"], -32600);
    }

    #[test]
    fn output_frames() {
        let two = format!("{}{}", frame("{}"), frame("[1]"));
        assert_eq!(frame_length(two.as_bytes()), Some(frame("{}").len()));
        assert_eq!(frame_length(&two.as_bytes()[..10]), None);
    }
}
