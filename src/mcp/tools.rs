//! The sandbox's tools: their names, their arguments, and tolerant parsing of
//! their results. Only `environmentId` (launcher) and `stdout` (runners) are
//! documented; every other field is read if present and never required.

use serde_json::{Map, Value, json};

pub const LAUNCH_PYTHON: &str = "launchPythonEnvironment";
pub const LAUNCH_SHELL: &str = "launchShell";
pub const RUN_PYTHON: &str = "runPythonCodeInRemoteEnvironment";
pub const RUN_SHELL: &str = "runShellCommandInRemoteEnvironment";

/// An environment id as the launcher returned it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct EnvironmentId(pub String);

impl std::fmt::Display for EnvironmentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What `runPythonCodeInRemoteEnvironment` gave back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PythonOutput {
    pub stdout: String,
    /// `None` when the service did not send a stderr field at all.
    pub stderr: Option<String>,
    /// Value of a trailing expression (`executionResult`, or `result`).
    pub execution_result: Option<Value>,
    /// `Succeeded`/`Success`/`Failed`, when given.
    pub status: Option<String>,
    pub duration_ms: Option<u64>,
    /// The result's `isError`.
    pub is_error: bool,
    /// `errorName` (e.g. `Timeout`), when given.
    pub error_name: Option<String>,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    /// Whether the environment's state survived a failure (local sandbox).
    pub state_survived: Option<bool>,
    /// The result's image content blocks, in order.
    pub images: Vec<ImageBlock>,
}

/// An MCP `image` content block: base64 data and its MIME type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageBlock {
    pub mime_type: String,
    pub data: String,
}

impl PythonOutput {
    pub fn failed(&self) -> bool {
        self.is_error || self.status.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("failed"))
    }
}

/// What `runShellCommandInRemoteEnvironment` gave back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShellOutput {
    pub stdout: String,
    pub stderr: Option<String>,
    pub exit_code: Option<i64>,
    pub status: Option<String>,
    pub duration_ms: Option<u64>,
    pub is_error: bool,
}

/// A shell command: one string for `bash -c`, or an argument vector.
#[derive(Debug, Clone, PartialEq)]
pub enum ShellCommand {
    Line(String),
    Argv(Vec<String>),
}

pub fn run_python_arguments(environment: &EnvironmentId, code: &str) -> Value {
    json!({"environmentId": environment.0, "pythonCode": code})
}

pub fn run_shell_arguments(environment: &EnvironmentId, command: &ShellCommand) -> Value {
    match command {
        ShellCommand::Line(line) => json!({"environmentId": environment.0, "shellCommand": line}),
        ShellCommand::Argv(argv) => json!({"environmentId": environment.0, "execCommandAndArgs": argv}),
    }
}

/// A `tools/call` result, reduced to what we read.
#[derive(Debug, Clone, PartialEq)]
pub struct CallResult {
    /// `structuredContent`, or the first text block parsed as a JSON object.
    pub structured: Option<Map<String, Value>>,
    /// All text blocks of `content`, joined.
    pub text: String,
    /// The image blocks of `content` (text is not the only content type).
    pub images: Vec<ImageBlock>,
    pub is_error: bool,
}

/// Reads a `tools/call` result; `None` if it is not an object. Takes the
/// result by value: its output is moved out, not copied.
pub fn parse_call_result(result: Value) -> Option<CallResult> {
    let Value::Object(mut object) = result else { return None };
    let is_error = object.get("isError").and_then(Value::as_bool).unwrap_or(false);
    let structured = match object.remove("structuredContent") {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    };
    // The text blocks matter only without structured content, or to read a
    // failure's message; joining them would copy the whole output again.
    let text = if structured.is_none() || is_error {
        object
            .get("content")
            .and_then(Value::as_array)
            .map(|blocks| {
                blocks.iter().filter_map(|b| b.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
            })
            .unwrap_or_default()
    } else {
        String::new()
    };
    let structured = structured.or_else(|| match serde_json::from_str::<Value>(text.trim()) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    });
    let images = object
        .get("content")
        .and_then(Value::as_array)
        .map(|blocks| blocks.iter().filter_map(image_block).collect())
        .unwrap_or_default();
    Some(CallResult { structured, text, images, is_error })
}

fn image_block(block: &Value) -> Option<ImageBlock> {
    if block.get("type").and_then(Value::as_str) != Some("image") {
        return None;
    }
    Some(ImageBlock {
        mime_type: block.get("mimeType").and_then(Value::as_str)?.to_owned(),
        data: block.get("data").and_then(Value::as_str)?.to_owned(),
    })
}

/// A string field moved out of the map (or out of a nested `result`).
fn take_string(map: &mut Map<String, Value>, name: &str) -> Option<String> {
    let value = match map.remove(name) {
        Some(value) => value,
        None => map.get_mut("result").and_then(Value::as_object_mut).and_then(|inner| inner.remove(name))?,
    };
    match value {
        Value::String(s) => Some(s),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Python-code-interpreter results sometimes nest the streams in `result`
/// (the data-plane shape); look there when the top level lacks them.
fn field<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| map.get("result").and_then(Value::as_object).and_then(|inner| inner.get(name)))
}

fn string_field(map: &Map<String, Value>, name: &str) -> Option<String> {
    match field(map, name)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn bool_field(map: &Map<String, Value>, name: &str) -> Option<bool> {
    field(map, name).and_then(Value::as_bool)
}

fn u64_field(map: &Map<String, Value>, name: &str) -> Option<u64> {
    field(map, name).and_then(|v| v.as_u64().or_else(|| v.as_f64().map(|f| f.max(0.0) as u64)))
}

pub fn python_output(call: &mut CallResult) -> PythonOutput {
    let mut owned = call.structured.take();
    let empty = Map::new();
    let map = owned.as_ref().unwrap_or(&empty);
    let execution_result = match map.get("executionResult") {
        Some(Value::Null) | None => match map.get("result") {
            // `result` is the value itself in the legacy shape, but an object
            // holding the streams in the data-plane shape.
            Some(Value::Object(inner)) if inner.contains_key("stdout") => {
                inner.get("executionResult").filter(|v| !v.is_null()).cloned()
            }
            Some(Value::Null) | None => None,
            Some(other) => Some(other.clone()),
        },
        Some(value) => Some(value.clone()),
    }
    .filter(|v| v.as_str() != Some(""));
    let mut output = PythonOutput {
        stdout: String::new(),
        stderr: None,
        execution_result,
        status: string_field(map, "status"),
        duration_ms: u64_field(map, "executionTimeInMilliseconds"),
        is_error: call.is_error,
        error_name: string_field(map, "errorName").filter(|s| !s.is_empty()),
        stdout_truncated: bool_field(map, "stdoutTruncated").unwrap_or(false),
        stderr_truncated: bool_field(map, "stderrTruncated").unwrap_or(false),
        state_survived: bool_field(map, "stateSurvived"),
        images: std::mem::take(&mut call.images),
    };
    // The streams are moved out, not copied: they can be megabytes.
    match owned.as_mut() {
        Some(map) => {
            output.stdout = take_string(map, "stdout").unwrap_or_default();
            output.stderr = take_string(map, "stderr");
        }
        // With no structured content at all, the text blocks are the output.
        None => output.stdout = call.text.clone(),
    }
    call.structured = owned;
    output
}

pub fn shell_output(call: &CallResult) -> ShellOutput {
    let empty = Map::new();
    let map = call.structured.as_ref().unwrap_or(&empty);
    ShellOutput {
        stdout: string_field(map, "stdout")
            .unwrap_or_else(|| if call.structured.is_none() { call.text.clone() } else { String::new() }),
        stderr: string_field(map, "stderr"),
        exit_code: field(map, "exitCode").and_then(Value::as_i64),
        status: string_field(map, "status"),
        duration_ms: u64_field(map, "executionTimeInMilliseconds"),
        is_error: call.is_error,
    }
}

/// The environment id from a launcher result.
pub fn environment_id(call: &CallResult) -> Option<EnvironmentId> {
    let map = call.structured.as_ref()?;
    let id = map.get("environmentId").or_else(|| map.get("environmentID")).or_else(|| map.get("id"))?;
    let id = id.as_str()?.trim();
    (!id.is_empty()).then(|| EnvironmentId(id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_minimum_only_stdout() {
        let mut call = parse_call_result(json!({"structuredContent": {"stdout": "hi\n"}})).unwrap();
        let out = python_output(&mut call);
        assert_eq!(out.stdout, "hi\n");
        assert_eq!(out.stderr, None);
        assert!(!out.failed());
    }

    #[test]
    fn full_emulator_shape() {
        let mut call = parse_call_result(json!({
            "content": [{"type": "text", "text": "{}"}],
            "structuredContent": {"stdout": "", "stderr": "Traceback", "executionResult": "4",
                                  "status": "Failed", "executionTimeInMilliseconds": 12, "stdoutTruncated": true},
            "isError": true}))
        .unwrap();
        let out = python_output(&mut call);
        assert_eq!(out.stderr.as_deref(), Some("Traceback"));
        assert_eq!(out.execution_result, Some(json!("4")));
        assert_eq!(out.duration_ms, Some(12));
        assert!(out.failed() && out.stdout_truncated);
    }

    #[test]
    fn data_plane_nesting_and_legacy_result() {
        let mut call = parse_call_result(json!({"structuredContent": {"status": "Succeeded",
            "result": {"stdout": "63\n", "stderr": "", "executionResult": 4, "executionTimeInMilliseconds": 4}}}))
        .unwrap();
        let out = python_output(&mut call);
        assert_eq!((out.stdout.as_str(), out.execution_result), ("63\n", Some(json!(4))));
        let mut call = parse_call_result(json!({"structuredContent": {"stdout": "x", "result": ""}})).unwrap();
        assert_eq!(python_output(&mut call).execution_result, None);
    }

    #[test]
    fn content_only_results_are_read_from_text() {
        let call =
            parse_call_result(json!({"content": [{"type": "text", "text": "{\"environmentId\": \"e-1\"}"}]})).unwrap();
        assert_eq!(environment_id(&call), Some(EnvironmentId("e-1".into())));
        let mut call = parse_call_result(json!({"content": [{"type": "text", "text": "plain output"}]})).unwrap();
        assert_eq!(python_output(&mut call).stdout, "plain output");
    }

    #[test]
    fn shell_fields() {
        let call = parse_call_result(json!({"structuredContent": {"stdout": "2\n", "exitCode": 3}})).unwrap();
        let out = shell_output(&call);
        assert_eq!((out.stdout.as_str(), out.exit_code), ("2\n", Some(3)));
    }

    #[test]
    fn missing_or_blank_environment_id() {
        assert_eq!(environment_id(&parse_call_result(json!({"structuredContent": {}})).unwrap()), None);
        assert_eq!(
            environment_id(&parse_call_result(json!({"structuredContent": {"environmentId": " "}})).unwrap()),
            None
        );
        assert!(parse_call_result(json!("x")).is_none());
    }
}
