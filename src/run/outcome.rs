//! The structured outcome of a run, as the runtime reports it in its marker
//! line, and the parsing that separates it from the user's stdout.

use serde::Deserialize;

use super::wrapper::MARKER;

/// One frame of a traceback, innermost last. Lines are 1-based; columns are
/// 0-based characters in the document's own line, when Python knows them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Frame {
    pub file: String,
    pub line: u32,
    pub function: String,
    #[serde(default)]
    pub col: Option<u32>,
    #[serde(default, rename = "endLine")]
    pub end_line: Option<u32>,
    #[serde(default, rename = "endCol")]
    pub end_col: Option<u32>,
}

/// Where a SyntaxError in the run's own code is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SyntaxLocation {
    pub line: u32,
    pub col: u32,
    #[serde(default, rename = "endLine")]
    pub end_line: Option<u32>,
    #[serde(default, rename = "endCol")]
    pub end_col: Option<u32>,
}

/// An exception raised by the user's code.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PyException {
    /// `ZeroDivisionError`, or `package.module.Error` outside builtins.
    #[serde(rename = "type")]
    pub type_name: String,
    pub message: String,
    #[serde(default)]
    pub frames: Vec<Frame>,
    /// Set when the snippet itself did not compile.
    #[serde(default)]
    pub syntax: Option<SyntaxLocation>,
    /// Python's own rendering, wrapper frames removed.
    #[serde(default)]
    pub traceback: Option<String>,
    #[serde(default, rename = "missingModule")]
    pub missing_module: Option<String>,
    /// For `SystemExit`: the status python3 would exit with (0-255).
    #[serde(default, rename = "exitStatus")]
    pub exit_status: Option<u8>,
    /// For `FileNotFoundError` of a path in the workspace mirror: that path,
    /// relative to the workspace (for the "send it" quick fix).
    #[serde(default, rename = "missingFile")]
    pub missing_file: Option<String>,
}

impl PyException {
    /// `ZeroDivisionError: division by zero`, the way Python's last line says it.
    pub fn headline(&self) -> String {
        if self.message.is_empty() { self.type_name.clone() } else { format!("{}: {}", self.type_name, self.message) }
    }

    /// The innermost frame in `file`: where to put the diagnostic.
    pub fn innermost_in(&self, file: &str) -> Option<&Frame> {
        self.frames.iter().rev().find(|f| f.file == file)
    }
}

/// What the runtime stored about one run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Outcome {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub error: Option<PyException>,
    #[serde(default, rename = "durationMs")]
    pub duration_ms: Option<u64>,
    /// stderr as the runtime saw it (only when asked for).
    #[serde(default)]
    pub stderr: Option<String>,
    /// The runtime had no record of the run (its interpreter was replaced).
    #[serde(default)]
    pub missing: bool,
    /// The interpreter lacks the runtime: nothing ran (a lean run, sent
    /// without the runtime, to an interpreter that was replaced).
    #[serde(default, rename = "missingRuntime")]
    pub missing_runtime: bool,
    /// How many display items the run's record holds (fetched through the
    /// bulk channel).
    #[serde(default)]
    pub displays: usize,
    #[serde(default, rename = "displaysDropped")]
    pub displays_dropped: Option<DisplaysDropped>,
    /// The length of the run's record as the bulk channel sends it, when
    /// the runtime knows the client will fetch it.
    #[serde(default)]
    pub record: Option<usize>,
    /// What changed in the namespace, when short enough for this line.
    #[serde(default)]
    pub vars: Option<super::variables::VariablesDelta>,
    /// The change is in the run's record instead.
    #[serde(default, rename = "varsInRecord")]
    pub vars_in_record: bool,
    /// Files the run created or changed in the workspace mirror.
    #[serde(default)]
    pub files: Vec<ChangedFile>,
    /// How many more than those listed.
    #[serde(default, rename = "filesMore")]
    pub files_more: u64,
    /// Files the run carried that the environment refused: path → why.
    #[serde(default, rename = "mirrorBad")]
    pub mirror_bad: std::collections::BTreeMap<String, String>,
}

/// A file a run created or changed in the workspace mirror.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct ChangedFile {
    /// Relative to the workspace root, with `/`.
    pub path: String,
    pub size: u64,
}

/// Display items past the run's limit: how many, and their bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct DisplaysDropped {
    pub count: u64,
    pub bytes: u64,
}

/// The JSON text after the last marker of run `nonce`, if a marker line is
/// there (it may still be cut short).
pub fn marker_payload<'a>(stdout: &'a str, nonce: &str) -> Option<&'a str> {
    let needle = format!("{MARKER}{nonce} ");
    let start = stdout.rfind(&needle)? + needle.len();
    let end = stdout[start..].find('\n').map_or(stdout.len(), |n| start + n);
    Some(stdout[start..end].trim_end_matches('\r'))
}

/// The JSON on run `nonce`'s marker line in `stdout`, read as `T`.
pub fn marker_reply<T: serde::de::DeserializeOwned>(stdout: &str, nonce: &str) -> Option<T> {
    serde_json::from_str(marker_payload(stdout, nonce)?).ok()
}

/// Parses an outcome from its JSON text (the fuzz checks compare it with
/// `split_marker`).
#[cfg(any(test, feature = "fuzzing"))]
pub fn parse_outcome(json: &str) -> Option<Outcome> {
    serde_json::from_str(json).ok()
}

/// Splits the marker line of run `nonce` off `stdout`. Returns the user's
/// stdout without it, and the outcome if a well-formed marker was there. The
/// last marker wins; markers with another nonce (printed by user code) stay.
pub fn split_marker(stdout: &str, nonce: &str) -> (String, Option<Outcome>) {
    let needle = format!("{MARKER}{nonce} ");
    let Some(start) = stdout.rfind(&needle) else {
        return (stdout.to_owned(), None);
    };
    let line_end = stdout[start..].find('\n').map(|n| start + n);
    let json = &stdout[start + needle.len()..line_end.unwrap_or(stdout.len())];
    let Ok(outcome) = serde_json::from_str::<Outcome>(json.trim_end_matches('\r')) else {
        // A marker cut in the middle: leave stdout alone, fetch the outcome.
        return (stdout.to_owned(), None);
    };
    // The runtime writes "\n" before the marker so it starts a line.
    let cut_from = if start > 0 && stdout.as_bytes()[start - 1] == b'\n' { start - 1 } else { start };
    let rest = line_end.map(|end| &stdout[end + 1..]).unwrap_or("");
    (format!("{}{}", &stdout[..cut_from], rest), Some(outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(nonce: &str, json: &str) -> String {
        format!("\n{MARKER}{nonce} {json}\n")
    }

    #[test]
    fn strips_marker_and_keeps_output_exact() {
        let stdout = format!("hello\n{}", marker("n1", r#"{"v":1,"status":"ok","value":"3"}"#));
        let (clean, outcome) = split_marker(&stdout, "n1");
        assert_eq!(clean, "hello\n");
        assert_eq!(outcome.unwrap().value.as_deref(), Some("3"));
        let stdout = format!("no newline{}", marker("n1", r#"{"status":"ok"}"#));
        assert_eq!(split_marker(&stdout, "n1").0, "no newline");
    }

    #[test]
    fn other_nonces_and_cut_markers_are_left_alone() {
        let forged = marker("other", r#"{"status":"ok"}"#);
        let (clean, outcome) = split_marker(&forged, "n1");
        assert_eq!((clean.as_str(), outcome), (forged.as_str(), None));
        let cut = format!("x\n{MARKER}n1 {{\"status\":\"o");
        assert_eq!(split_marker(&cut, "n1"), (cut.clone(), None));
    }

    #[test]
    fn parses_exceptions() {
        let json = r#"{"status":"error","error":{"type":"ZeroDivisionError","message":"division by zero",
            "frames":[{"file":"/w/a.py","line":5,"function":"f","col":15,"endLine":5,"endCol":20},
                      {"file":"/w/b.py","line":2,"function":"g"}]}}"#
            .replace('\n', "");
        let (_, outcome) = split_marker(&marker("n", &json), "n");
        let error = outcome.unwrap().error.unwrap();
        assert_eq!(error.headline(), "ZeroDivisionError: division by zero");
        assert_eq!(error.innermost_in("/w/a.py").unwrap().line, 5);
        assert_eq!(error.innermost_in("/w/a.py").unwrap().col, Some(15));
        assert!(error.innermost_in("/w/c.py").is_none());
    }
}
