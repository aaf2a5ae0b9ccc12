//! `workspace/executeCommand`: parse the arguments, decide what to run, queue
//! it and answer at once. Bad arguments get an `invalid_params` error.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};
use tower_lsp_server::UriExt;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::lsp_types::{Position, Range, Uri};

use super::convert;
use super::ext::{RunAccepted, command};
use super::runner::{self, Work};
use super::session::Session;
use crate::run::Snippet;
use crate::run::cells::{self, CellKind};
use crate::text::{Document, Pos};

#[derive(Deserialize)]
struct UriArg {
    uri: Uri,
}

/// `{uri}`, or (for Helix's `:lsp-workspace-command`) a URI or path string,
/// or nothing: the document the editor last sent or asked about.
fn uri_arg(session: &Session, arguments: &[Value]) -> Result<Uri> {
    match arguments.first() {
        None => session.last_document().ok_or_else(|| invalid("no document is open; pass [{uri}] or a path")),
        Some(Value::String(target)) => resolve_target(session, target),
        _ => first::<UriArg>(arguments, "{uri} or a path").map(|a| a.uri),
    }
}

/// A URI, an absolute path, or a path relative to the server's working
/// directory or a workspace folder (the first where the file exists).
fn resolve_target(session: &Session, target: &str) -> Result<Uri> {
    if target.contains("://") || target.starts_with("untitled:") {
        return target.parse::<Uri>().map_err(|e| invalid(format!("not a URI: {e}")));
    }
    let path = PathBuf::from(target);
    let path = if path.is_absolute() {
        path
    } else {
        let folders = session.folders.read().unwrap_or_else(|e| e.into_inner()).clone();
        let bases = std::env::current_dir().into_iter().chain(folders);
        let candidates: Vec<PathBuf> = bases.map(|base| base.join(&path)).collect();
        candidates.iter().find(|p| p.exists()).or(candidates.first()).cloned().unwrap_or(path)
    };
    Uri::from_file_path(&path).ok_or_else(|| invalid(format!("not a usable path: {}", path.display())))
}

#[derive(Deserialize)]
struct RangeArg {
    uri: Uri,
    range: Range,
}

#[derive(Deserialize)]
struct PositionArg {
    uri: Uri,
    position: Position,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InstallArg {
    uri: Uri,
    package: String,
    #[serde(default)]
    run_id: Option<u64>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid_params(message.into())
}

fn first<T: for<'de> Deserialize<'de>>(arguments: &[Value], shape: &str) -> Result<T> {
    let value = arguments.first().ok_or_else(|| invalid(format!("expected one argument {shape}")))?;
    serde_json::from_value(value.clone()).map_err(|e| invalid(format!("expected {shape}: {e}")))
}

/// Runs a command. Everything slow happens in spawned tasks.
pub fn execute(session: &Arc<Session>, name: &str, arguments: &[Value]) -> Result<Option<Value>> {
    match name {
        command::RUN => {
            let arg: RangeArg = first(arguments, "{uri, range}")?;
            let (doc, seen) = document(session, &arg.uri)?;
            let (snippet, first, last) = range_snippet(&doc, &arg.uri, arg.range, session)?;
            accepted(runner::submit_python(session, arg.uri, snippet, first, last, seen))
        }
        command::RUN_CELL => {
            let arg: PositionArg = first(arguments, "{uri, position}")?;
            let (doc, seen) = document(session, &arg.uri)?;
            let (first, last) = cell_lines(session, &arg.uri, &doc, arg.position.line)?;
            run_lines(session, arg.uri, &doc, first, last, seen)
        }
        command::RUN_ABOVE => {
            let arg: PositionArg = first(arguments, "{uri, position}")?;
            let (doc, seen) = document(session, &arg.uri)?;
            let all = session.cells(&arg.uri, &doc);
            let start = cells::cell_at(&all, arg.position.line as usize)
                .map(|c| c.marker.unwrap_or(c.body.start))
                // u64: the line may be u32::MAX (an overflow panicked here).
                .ok_or_else(|| invalid(format!("line {} is in no cell", u64::from(arg.position.line) + 1)))?;
            if start == 0 {
                return Err(invalid("there is nothing above the first cell"));
            }
            run_lines(session, arg.uri, &doc, 0, start as u32 - 1, seen)
        }
        command::RUN_FILE => {
            let uri = uri_arg(session, arguments)?;
            let (doc, seen) = document(session, &uri)?;
            // Up to the last line with something on it (not the empty line
            // after a final newline).
            let last = (0..doc.line_count()).rev().find(|&l| !doc.line(l).trim().is_empty()).unwrap_or(0);
            run_lines(session, uri, &doc, 0, last, seen)
        }
        command::RUN_LINES => {
            let (uri, start, end) = positional_lines(session, arguments)?;
            let (doc, seen) = document(session, &uri)?;
            if start == 0 || end < start || end > doc.line_count() {
                return Err(invalid(format!(
                    "lines {start}-{end} are not in the document, which has {} lines (lines are 1-based)",
                    doc.line_count()
                )));
            }
            run_lines(session, uri, &doc, start - 1, end - 1, seen)
        }
        command::RESTART => {
            let uri = uri_arg(session, arguments)?;
            let root = session.workspace_of(&uri);
            session.runner.cancel_workspace(&root);
            let id = runner::submit_other(session, &uri, Work::Restart { uri: uri.clone() });
            Ok(Some(json!({"jobId": id})))
        }
        command::CANCEL => {
            // With no argument (Helix: `:lsp-workspace-command azureSandbox.cancel`), every run.
            let count = if arguments.is_empty() {
                session.runner.cancel_all()
            } else {
                session.runner.cancel_workspace(&session.workspace_of(&uri_arg(session, arguments)?))
            };
            Ok(Some(json!({"cancelled": count})))
        }
        command::INSTALL_PACKAGE => {
            let arg: InstallArg = first(arguments, "{uri, package}")?;
            let package = arg.package.trim().to_owned();
            if !valid_requirement(&package) {
                return Err(invalid(format!("`{package}` does not look like a package name")));
            }
            let rerun = arg.run_id.map(|id| (arg.uri.clone(), id));
            let id = runner::submit_other(session, &arg.uri, Work::Install { uri: arg.uri.clone(), package, rerun });
            Ok(Some(json!({"jobId": id})))
        }
        command::SHOW_OUTPUT => {
            let uri = uri_arg(session, arguments)?;
            let root = session.workspace_of(&uri);
            let uri = output_location(session, &root);
            if let Some(uri) = uri.as_ref().and_then(|u| u.parse::<Uri>().ok()) {
                runner::show_document(session, uri);
            }
            Ok(Some(json!({"uri": uri})))
        }
        other => Err(invalid(format!("unknown command `{other}`; this server has {}", command::ALL.join(", ")))),
    }
}

/// Where to open the output: the virtual document for clients that can
/// show it, else the file mirror (written now, so it exists).
pub fn output_location(session: &Session, root: &std::path::Path) -> Option<String> {
    let flags = session.flags();
    if flags.text_document_content {
        return Some(super::output::Transcripts::uri_for(root));
    }
    // Written now, so the file opened is the transcript as it is.
    let file = session.transcripts.write_mirror_now(root)?;
    Uri::from_file_path(&file).map(|u| u.as_str().to_owned())
}

fn accepted(run_id: u64) -> Result<Option<Value>> {
    Ok(Some(serde_json::to_value(RunAccepted { run_id }).unwrap_or(Value::Null)))
}

fn run_lines(
    session: &Arc<Session>,
    uri: Uri,
    doc: &Document,
    first: u32,
    last: u32,
    seen: usize,
) -> Result<Option<Value>> {
    let snippet = lines_snippet(doc, &uri, first, last);
    accepted(runner::submit_python(session, uri, snippet, first, last, seen))
}

/// The open document, or (for a file in a workspace folder) the file on disk.
/// The open document, or (for a file in a workspace folder) the file on
/// disk; with the number of edits it has had, taken together with it (see
/// [`Session::snapshot`]).
fn document(session: &Session, uri: &Uri) -> Result<(Document, usize)> {
    if let Some(snapshot) = session.snapshot(uri) {
        return Ok(snapshot);
    }
    let path = convert::file_path(uri).ok_or_else(|| invalid(format!("{} is not open in the editor", uri.as_str())))?;
    if !session.in_workspace(&path) {
        return Err(invalid(format!(
            "refusing to run {}: it is neither open in the editor nor inside a workspace folder",
            path.display()
        )));
    }
    let bytes = std::fs::read(&path).map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
    Ok((Document::new(&String::from_utf8_lossy(&bytes), 0), 0))
}

/// `[uriOrPath, startLine, endLine]`, numbers or numeric strings.
fn positional_lines(session: &Session, arguments: &[Value]) -> Result<(Uri, u32, u32)> {
    let shape = "[uriOrPath, startLine, endLine] with 1-based lines";
    let [target, start, end] = arguments else {
        return Err(invalid(format!("expected {shape}")));
    };
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse::<u32>().ok(),
        _ => None,
    };
    let (Some(start), Some(end)) = (number(start), number(end)) else {
        return Err(invalid(format!("expected {shape}")));
    };
    let target = target.as_str().ok_or_else(|| invalid(format!("expected {shape}")))?;
    Ok((resolve_target(session, target)?, start, end))
}

/// Lines of the cell at `line` (its body, without the marker).
fn cell_lines(session: &Session, uri: &Uri, doc: &Document, line: u32) -> Result<(u32, u32)> {
    let all = session.cells(uri, doc);
    if all.iter().all(|c| c.marker.is_none()) {
        return Err(invalid("the document has no cells (no cell marker lines such as `# %%`)"));
    }
    let cell = cells::cell_at(&all, line as usize)
        .ok_or_else(|| invalid(format!("line {} is in no cell", u64::from(line) + 1)))?;
    if cell.kind == CellKind::Markdown {
        return Err(invalid("that is a markdown cell; there is nothing to run"));
    }
    // Trailing blank lines are not part of what the user sees as the cell's code.
    let last = (cell.body.start..cell.body.end).rev().find(|&l| !doc.line(l as u32).trim().is_empty());
    match last {
        Some(last) => Ok((cell.body.start as u32, last as u32)),
        None => Err(invalid("that cell is empty")),
    }
}

pub(crate) fn lines_snippet(doc: &Document, uri: &Uri, first: u32, last: u32) -> Snippet {
    let lines: Vec<String> = (first..=last).map(|l| doc.line(l)).collect();
    let borrowed: Vec<&str> = lines.iter().map(String::as_str).collect();
    Snippet::build(&convert::filename(uri), &borrowed, first as usize + 1)
}

/// A range: whole lines when it spans lines (a range ending at the start
/// of a line does not take that line), exactly the text within one line.
fn range_snippet(doc: &Document, uri: &Uri, range: Range, session: &Session) -> Result<(Snippet, u32, u32)> {
    let encoding = session.encoding();
    let last_line = doc.line_count().saturating_sub(1);
    let (start, end) = (convert::pos(range.start), convert::pos(range.end));
    let (start, end) = if end < start { (end, start) } else { (start, end) };
    if start.line > last_line {
        return Err(invalid(format!(
            "the range starts at line {}, past the end of the document ({} lines)",
            // u64: the line may be u32::MAX (an overflow panicked here).
            u64::from(start.line) + 1,
            u64::from(last_line) + 1
        )));
    }
    let spans_lines = end.line > start.line;
    let end = if end.line > last_line { doc.line_end(last_line, encoding) } else { end };
    if !spans_lines && start.character != end.character {
        let a = doc.char_index(start, encoding);
        let text = doc.slice(start, end, encoding);
        let column = a - doc.char_index(Pos::new(start.line, 0), encoding);
        let snippet =
            Snippet { filename: convert::filename(uri), first_line: start.line + 1, code: text, dedent: column as u32 };
        return Ok((snippet, start.line, start.line));
    }
    let last = if end.line > start.line && end.character == 0 { end.line - 1 } else { end.line };
    let last = last.max(start.line);
    Ok((lines_snippet(doc, uri, start.line, last), start.line, last))
}

/// A pip requirement we are willing to put on a command line: a name with
/// optional extras and version specifiers, no spaces, no options.
fn valid_requirement(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 200
        && text.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || "._-[],=<>!~".contains(c))
}

/// The package that provides a missing top-level module, for the common
/// cases where the names differ.
pub fn package_for_module(module: &str) -> String {
    let top = module.split('.').next().unwrap_or(module);
    match top {
        "sklearn" => "scikit-learn",
        "cv2" => "opencv-python",
        "PIL" => "pillow",
        "yaml" => "pyyaml",
        "bs4" => "beautifulsoup4",
        "dateutil" => "python-dateutil",
        "dotenv" => "python-dotenv",
        "Crypto" => "pycryptodome",
        "skimage" => "scikit-image",
        "attr" => "attrs",
        other => other,
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements() {
        for ok in ["numpy", "scikit-learn", "requests[socks]>=2.0", "a.b_c"] {
            assert!(valid_requirement(ok), "{ok}");
        }
        for bad in ["", "-e .", "x; rm -rf /", "--index-url=http://x", "a b", "ünï"] {
            assert!(!valid_requirement(bad), "{bad}");
        }
        assert_eq!(package_for_module("sklearn.linear_model"), "scikit-learn");
        assert_eq!(package_for_module("numpy"), "numpy");
    }
}
