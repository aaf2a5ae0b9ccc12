//! `workspace/executeCommand`: parse the arguments, decide what to run, queue
//! it and answer at once. Bad arguments get an `invalid_params` error.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};
use tower_lsp_server::UriExt;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::lsp_types::{MessageType, Position, Range, Uri};

use super::convert;
use super::ext::{RunAccepted, command};
use super::output_document;
use super::session::Session;
use crate::run::{Cut, Selection};
use crate::text::Document;
use crate::workbench::SandboxStart;

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

/// Runs a command. Everything slow happens in the workbench's queues.
pub fn execute(session: &Arc<Session>, name: &str, arguments: &[Value]) -> Result<Option<Value>> {
    match name {
        command::RUN => {
            let arg: RangeArg = first(arguments, "{uri, range}")?;
            let (doc, seen) = document(session, &arg.uri)?;
            let selection = range_selection(session, &doc, arg.range)?;
            run_in(session, arg.uri, &doc, seen, selection)
        }
        command::RUN_CELL => {
            let arg: PositionArg = first(arguments, "{uri, position}")?;
            run(session, arg.uri, Selection::CellAt { line: arg.position.line })
        }
        command::RUN_ABOVE => {
            let arg: PositionArg = first(arguments, "{uri, position}")?;
            run(session, arg.uri, Selection::CellsAbove { line: arg.position.line })
        }
        command::RUN_FILE => run(session, uri_arg(session, arguments)?, Selection::File),
        command::RUN_LINES => {
            let (uri, start, end) = positional_lines(session, arguments)?;
            let (doc, seen) = document(session, &uri)?;
            if start == 0 || end < start || end > doc.line_count() {
                return Err(invalid(format!(
                    "lines {start}-{end} are not in the document, which has {} lines (lines are 1-based)",
                    doc.line_count()
                )));
            }
            run_in(session, uri, &doc, seen, Selection::Lines { first: start - 1, last: end - 1 })
        }
        command::RESTART => {
            let uri = uri_arg(session, arguments)?;
            let id = session.workbench.submit_restart(session.workspace_of(&uri), Some(uri.as_str().to_owned()));
            Ok(Some(json!({"jobId": id})))
        }
        command::CANCEL => {
            // With no argument (Helix: `:lsp-workspace-command azureSandbox.cancel`), every run.
            let count = if arguments.is_empty() {
                session.workbench.cancel_all()
            } else {
                session.workbench.cancel_workspace(&session.workspace_of(&uri_arg(session, arguments)?))
            };
            Ok(Some(json!({"cancelled": count})))
        }
        command::INSTALL_PACKAGE => {
            let arg: InstallArg = first(arguments, "{uri, package}")?;
            let package = arg.package.trim().to_owned();
            if !valid_requirement(&package) {
                return Err(invalid(format!("`{package}` does not look like a package name")));
            }
            let root = session.workspace_of(&arg.uri);
            let id = session.workbench.submit_install(root, Some(arg.uri.as_str().to_owned()), package, arg.run_id);
            Ok(Some(json!({"jobId": id})))
        }
        command::SHOW_OUTPUT => {
            let uri = uri_arg(session, arguments)?;
            let root = session.workspace_of(&uri);
            let uri = output_document::location(session, &root);
            if let Some(uri) = uri.as_ref().and_then(|u| u.parse::<Uri>().ok()) {
                session.show_document(uri);
            }
            Ok(Some(json!({"uri": uri})))
        }
        command::SEND_FILES => {
            let (uri, paths, run_id) = files_arguments(session, arguments)?;
            if paths.is_empty() {
                return Err(invalid("name at least one file or folder to send"));
            }
            let root = session.workspace_of(&uri);
            let paths = paths.into_iter().map(PathBuf::from).collect();
            let id = session.workbench.submit_send(root, Some(uri.as_str().to_owned()), paths, run_id);
            Ok(Some(json!({"jobId": id})))
        }
        command::FETCH_FILES => {
            let (uri, paths, _) = files_arguments(session, arguments)?;
            let root = session.workspace_of(&uri);
            let id = session.workbench.submit_fetch(root, Some(uri.as_str().to_owned()), paths);
            Ok(Some(json!({"jobId": id})))
        }
        command::LIST_FILES => {
            let uri = uri_arg(session, arguments)?;
            let root = session.workspace_of(&uri);
            let session = Arc::clone(session);
            // Answered at once; the list lands in the transcript.
            tokio::spawn(async move {
                let entry = match session.workbench.list_files(&root, SandboxStart::OnlyInUse).await {
                    Ok(listing) => crate::workbench::files_entry(&listing),
                    Err(e) => format!("=== sandbox files ===\ncould not list them: {e}\n"),
                };
                session.workbench.append_transcript(&root, entry);
                super::reporting::announce_transcript(&session, &root);
                if let Some(output) = output_document::location(&session, &root).and_then(|u| u.parse::<Uri>().ok()) {
                    session.show_document(output);
                }
            });
            Ok(Some(json!({})))
        }
        command::SHOW_VARIABLES => {
            let uri = uri_arg(session, arguments)?;
            let root = session.workspace_of(&uri);
            let count = session.workbench.show_variables_in_transcript(&root);
            super::reporting::announce_transcript(session, &root);
            if let Some(output) = output_document::location(session, &root).and_then(|u| u.parse::<Uri>().ok()) {
                session.show_document(output);
            }
            Ok(Some(json!({"count": count})))
        }
        command::LATEST_FIGURE | command::OPEN_FIGURE => {
            let root = match arguments.is_empty() {
                true => None,
                false => Some(session.workspace_of(&uri_arg(session, arguments)?)),
            };
            let Some(figure) = session.workbench.latest_figure(root.as_deref()) else {
                if name == command::OPEN_FIGURE {
                    show_message(
                        session,
                        MessageType::INFO,
                        "No figure yet: run code that plots (plt.show(), or a figure left open at the end of a run)."
                            .to_owned(),
                    );
                }
                return Ok(Some(Value::Null));
            };
            if name == command::OPEN_FIGURE {
                if let Err(e) = crate::workbench::open_in_viewer(&figure.path) {
                    show_message(session, MessageType::WARNING, e);
                }
            }
            Ok(Some(serde_json::to_value(&figure).unwrap_or(Value::Null)))
        }
        other => Err(invalid(format!("unknown command `{other}`; this server has {}", command::ALL.join(", ")))),
    }
}

/// A message for the user, sent after the command's answer (a handler does
/// not wait on the editor).
fn show_message(session: &Arc<Session>, kind: MessageType, message: String) {
    let client = session.client.clone();
    tokio::spawn(async move { client.show_message(kind, format!("Azure sandbox: {message}")).await });
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilesArg {
    uri: Uri,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    run_id: Option<u64>,
}

/// `[{uri, paths, runId?}]`, or (Helix) `[path, ...]` in the last
/// document's workspace, or nothing.
fn files_arguments(session: &Session, arguments: &[Value]) -> Result<(Uri, Vec<String>, Option<u64>)> {
    match arguments.first() {
        Some(Value::Object(_)) => {
            let arg: FilesArg = first(arguments, "{uri, paths, runId?}")?;
            Ok((arg.uri, arg.paths, arg.run_id))
        }
        _ => {
            let paths: Vec<String> = arguments
                .iter()
                .map(|a| a.as_str().map(str::to_owned).ok_or_else(|| invalid("expected paths as strings")))
                .collect::<Result<_>>()?;
            let uri = match paths.first() {
                Some(path) => resolve_target(session, path)?,
                None => session.last_document().ok_or_else(|| invalid("no document is open; pass [{uri, paths}]"))?,
            };
            Ok((uri, paths, None))
        }
    }
}

/// Cuts `selection` from the document as it is now and queues the run.
fn run(session: &Arc<Session>, uri: Uri, selection: Selection) -> Result<Option<Value>> {
    let (doc, seen) = document(session, &uri)?;
    run_in(session, uri, &doc, seen, selection)
}

/// Cuts `selection` from `doc` (the text of `uri` after `seen` edits) and
/// queues the run.
fn run_in(
    session: &Arc<Session>,
    uri: Uri,
    doc: &Document,
    seen: usize,
    selection: Selection,
) -> Result<Option<Value>> {
    let cut: Cut = session.cut(&uri, doc, &selection).map_err(|e| invalid(e.to_string()))?;
    let run_id = session.submit_run(uri, cut, seen);
    Ok(Some(serde_json::to_value(RunAccepted { run_id }).unwrap_or(Value::Null)))
}

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

/// A range: whole lines when it spans lines (a range ending at the start
/// of a line does not take that line), exactly the text within one line.
fn range_selection(session: &Session, doc: &Document, range: Range) -> Result<Selection> {
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
        let line_start = doc.char_index(crate::text::Pos::new(start.line, 0), encoding);
        let column = |pos| (doc.char_index(pos, encoding) - line_start) as u32;
        return Ok(Selection::Span { line: start.line, start: column(start), end: column(end) });
    }
    let last = if end.line > start.line && end.character == 0 { end.line - 1 } else { end.line };
    Ok(Selection::Lines { first: start.line, last: last.max(start.line) })
}

/// A pip requirement we are willing to put on a command line: a name with
/// optional extras and version specifiers, no spaces, no options.
fn valid_requirement(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 200
        && text.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || "._-[],=<>!~".contains(c))
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
    }
}
