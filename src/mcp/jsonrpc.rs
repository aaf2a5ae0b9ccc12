//! JSON-RPC 2.0 messages as the MCP endpoint exchanges them, and the pure
//! parsing of a reply body (plain JSON or SSE) into the response for one id.

use serde_json::{Value, json};

use super::sse;

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

/// Builds a request object.
pub fn request(id: u64, method: &str, params: Option<Value>) -> Value {
    let mut message = json!({"jsonrpc": "2.0", "id": id, "method": method});
    if let Some(params) = params {
        message["params"] = params;
    }
    message
}

/// Builds a notification object (no id: the server does not answer it).
pub fn notification(method: &str, params: Option<Value>) -> Value {
    let mut message = json!({"jsonrpc": "2.0", "method": method});
    if let Some(params) = params {
        message["params"] = params;
    }
    message
}

/// Why a reply body could not be turned into a response.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyError {
    /// The body is not JSON (nor SSE carrying JSON). Holds a short excerpt.
    NotJson(String),
    /// JSON, but no JSON-RPC response for our request in it.
    NoResponse(String),
}

/// Extracts the response to request `id` from a reply body. `content_type`
/// decides between SSE and JSON; a missing or unknown type is tried as JSON
/// first, then as SSE.
pub fn parse_reply(content_type: Option<&str>, body: &[u8], id: u64) -> Result<Result<Value, RpcError>, ReplyError> {
    let text = String::from_utf8_lossy(body);
    let is_sse = content_type.is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/event-stream"));
    if is_sse {
        return from_sse(&text, id);
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(value) => find_response(std::iter::once(value), id),
        // (The reply is moved into the result below, never copied: it can be
        // tens of megabytes of output.)
        Err(_) if content_type.is_none_or(|t| !t.contains("json")) && text.contains("data:") => from_sse(&text, id),
        Err(_) => Err(ReplyError::NotJson(excerpt(&text))),
    }
}

fn from_sse(text: &str, id: u64) -> Result<Result<Value, RpcError>, ReplyError> {
    let mut messages = Vec::new();
    for data in sse::data_events(text) {
        if data.trim().is_empty() {
            continue;
        }
        // Events that are not JSON (a stray keep-alive payload) are skipped,
        // but if nothing usable arrives the excerpt says what did.
        if let Ok(value) = serde_json::from_str::<Value>(&data) {
            messages.push(value);
        }
    }
    if messages.is_empty() {
        return Err(ReplyError::NoResponse(format!(
            "the event stream ended without a JSON-RPC response (received: {})",
            excerpt(text)
        )));
    }
    find_response(messages.into_iter(), id)
}

/// Finds the response for `id` among messages (batches are flattened);
/// server-to-client notifications and requests are skipped.
fn find_response(messages: impl Iterator<Item = Value>, id: u64) -> Result<Result<Value, RpcError>, ReplyError> {
    let mut orphan_error = None;
    for message in messages.flat_map(|m| match m {
        Value::Array(items) => items,
        other => vec![other],
    }) {
        let Value::Object(mut object) = message else { continue };
        if object.contains_key("method") {
            continue; // a notification or request from the server, not our answer
        }
        let matches = object.get("id").is_some_and(|v| id_matches(v, id));
        if let Some(error) = object.get("error") {
            let error = rpc_error(error);
            if matches {
                return Ok(Err(error));
            }
            if object.get("id").is_none_or(Value::is_null) {
                orphan_error = Some(error); // e.g. a parse error the server could not tie to an id
            }
            continue;
        }
        if matches {
            return match object.remove("result") {
                Some(result) => Ok(Ok(result)),
                None => Err(ReplyError::NoResponse("a response with neither `result` nor `error`".into())),
            };
        }
    }
    match orphan_error {
        Some(error) => Ok(Err(error)),
        None => Err(ReplyError::NoResponse(format!("no response with id {id} in the reply"))),
    }
}

fn id_matches(value: &Value, id: u64) -> bool {
    match value {
        Value::Number(n) => n.as_u64() == Some(id),
        Value::String(s) => s.parse::<u64>().ok() == Some(id),
        _ => false,
    }
}

fn rpc_error(value: &Value) -> RpcError {
    RpcError {
        code: value.get("code").and_then(Value::as_i64).unwrap_or(0),
        message: match value.get("message") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => value.to_string(),
        },
        data: value.get("data").cloned(),
    }
}

/// The first 200 characters of a body, on one line, for error messages. An
/// HTML page (a gateway's error page) is reduced to its text first.
///
/// Redact before taking an excerpt, not after: a key cut in two by the
/// limit no longer matches the redactor.
pub fn excerpt(text: &str) -> String {
    const LIMIT: usize = 200;
    let text = text.trim();
    let mut flat = String::with_capacity(text.len().min(4 * LIMIT));
    let html = looks_like_html(text);
    let mut in_tag = false;
    for c in text.chars() {
        if html && c == '<' {
            in_tag = true;
            continue;
        }
        if in_tag {
            in_tag = c != '>';
            if !in_tag && !flat.is_empty() && !flat.ends_with(' ') {
                flat.push(' ');
            }
            continue;
        }
        let c = if c.is_control() || (html && c.is_whitespace()) { ' ' } else { c };
        if html && c == ' ' && (flat.is_empty() || flat.ends_with(' ')) {
            continue;
        }
        flat.push(c);
        if flat.len() > 4 * LIMIT {
            break;
        }
    }
    let flat = flat.trim_end();
    match flat.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat.to_owned(),
    }
}

fn looks_like_html(text: &str) -> bool {
    let start: String = text.chars().take(64).collect::<String>().to_ascii_lowercase();
    start.starts_with("<!doctype html") || start.starts_with("<html") || start.starts_with("<head")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_json_result() {
        let body = br#"{"jsonrpc":"2.0","id":3,"result":{"x":1}}"#;
        assert_eq!(parse_reply(Some("application/json"), body, 3).unwrap().unwrap(), json!({"x":1}));
    }

    #[test]
    fn string_ids_match_numeric_ones() {
        let body = br#"{"jsonrpc":"2.0","id":"3","result":{}}"#;
        assert!(parse_reply(None, body, 3).unwrap().is_ok());
    }

    #[test]
    fn sse_with_notifications_before_the_response() {
        let body = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n\
                    data: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"ok\":true}}\n\n";
        let got = parse_reply(Some("text/event-stream; charset=utf-8"), body.as_bytes(), 7).unwrap().unwrap();
        assert_eq!(got, json!({"ok": true}));
    }

    #[test]
    fn truncated_sse_is_no_response() {
        let body = "data: {\"jsonrpc\":\"2.0\",\"id\":7,\"res";
        assert!(matches!(parse_reply(Some("text/event-stream"), body.as_bytes(), 7), Err(ReplyError::NoResponse(_))));
    }

    #[test]
    fn errors_with_our_id_or_null_id() {
        let body = br#"{"jsonrpc":"2.0","id":2,"error":{"code":-32602,"message":"Environment not found: e1"}}"#;
        let err = parse_reply(None, body, 2).unwrap().unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (-32602, "Environment not found: e1"));
        let body = br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#;
        assert_eq!(parse_reply(None, body, 9).unwrap().unwrap_err().code, -32700);
    }

    #[test]
    fn html_pages_become_their_text() {
        let page = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body>\n  <h1>502  Bad Gateway</h1>\n</body></html>";
        assert_eq!(excerpt(page), "502 Bad Gateway 502 Bad Gateway");
        assert_eq!(excerpt("a <b> c"), "a <b> c", "only whole pages are treated as HTML");
    }

    #[test]
    fn html_is_not_json_and_excerpt_is_short() {
        let body = format!("<html>{}</html>", "x".repeat(1000));
        match parse_reply(Some("text/html"), body.as_bytes(), 1) {
            Err(ReplyError::NotJson(e)) => assert!(e.starts_with("xxx") && e.chars().count() <= 201, "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn batches_and_wrong_ids() {
        let body = br#"[{"jsonrpc":"2.0","id":1,"result":1},{"jsonrpc":"2.0","id":2,"result":2}]"#;
        assert_eq!(parse_reply(None, body, 2).unwrap().unwrap(), json!(2));
        assert!(matches!(
            parse_reply(None, br#"{"jsonrpc":"2.0","id":5,"result":1}"#, 4),
            Err(ReplyError::NoResponse(_))
        ));
        assert!(matches!(parse_reply(None, br#"{"id":4}"#, 4), Err(ReplyError::NoResponse(_))));
        assert!(matches!(parse_reply(None, b"42", 4), Err(ReplyError::NoResponse(_))));
    }
}
