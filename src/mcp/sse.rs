//! A small parser for `text/event-stream` bodies (the SSE form of an MCP reply).
//!
//! Only what MCP needs: `data:` lines joined per event; `event:`, `id:`,
//! `retry:` and comments are accepted and ignored.

/// The `data` payloads of the complete events in `body`, in order. A final
/// event that is not terminated by a blank line is still returned: some
/// servers close the stream right after the last `data:` line.
pub fn data_events(body: &str) -> Vec<String> {
    let mut events = Vec::new();
    let mut data: Option<String> = None;
    for line in split_lines(body) {
        if line.is_empty() {
            if let Some(done) = data.take() {
                events.push(done);
            }
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field == "data" {
            match &mut data {
                Some(buffer) => {
                    buffer.push('\n');
                    buffer.push_str(value);
                }
                None => data = Some(value.to_owned()),
            }
        }
    }
    if let Some(done) = data {
        events.push(done);
    }
    events
}

/// Splits on `\r\n`, `\n` or `\r`, as the SSE grammar allows.
fn split_lines(body: &str) -> impl Iterator<Item = &str> {
    let mut rest = body;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.find(['\r', '\n']) {
            Some(at) => {
                let line = &rest[..at];
                let skip = if rest[at..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[at + skip..];
                Some(line)
            }
            None => {
                let line = rest;
                rest = "";
                Some(line)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_multi_line_data_and_skips_comments() {
        let body = ": keep-alive\nevent: message\nid: 1\ndata: {\"a\":\ndata: 1}\n\ndata: second\n\n";
        assert_eq!(data_events(body), vec!["{\"a\":\n1}", "second"]);
    }

    #[test]
    fn accepts_crlf_cr_and_unterminated_last_event() {
        assert_eq!(data_events("data: x\r\n\r\ndata:y\rdata: z"), vec!["x", "y\nz"]);
    }

    #[test]
    fn empty_and_garbage_bodies_yield_nothing() {
        assert!(data_events("").is_empty());
        assert!(data_events("retry: 10\n\n:comment\n\n").is_empty());
        assert!(data_events("garbage without colon\n\n").is_empty());
    }
}
