//! Read-only views of a document and its runs: code lenses, code actions,
//! hover and inlay hints. Each works on copies taken at the start, so none
//! holds state across an await (none awaits at all).

use serde_json::{Value, json};
use tower_lsp_server::lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, CodeLens, Command, Hover, HoverContents,
    InlayHint, InlayHintLabel, InlayHintTooltip, MarkupContent, MarkupKind, Position, Range, Uri,
};

use super::convert;
use super::ext::command;
use super::output_document;
use super::session::Session;
use crate::run::cells::CellKind;
use crate::run::{RunResult, Selection};
use crate::text::Pos;
use crate::workbench::{RunRecord, RunState, duration_text, one_line, timestamp};

/// Documents longer than this (in characters) get no "Run statement"
/// action. A parse of 1 MiB takes tens of milliseconds.
pub const STATEMENT_PARSE_LIMIT: usize = 1 << 20;

fn at_line(line: u32) -> Range {
    Range::new(Position::new(line, 0), Position::new(line, 0))
}

fn cmd(title: String, name: &str, argument: Value) -> Command {
    Command { title, command: name.to_owned(), arguments: Some(vec![argument]) }
}

/// Lenses: "Run file" on line 0; "▶ Run in …" and "Run above" on each code
/// cell's marker; the cell's last outcome once it has run.
///
/// The two lenses per cell come without their command: the editor resolves
/// only the ones on screen (`codeLens/resolve`). A file of 2,000 cells would
/// otherwise send 4,000 commands, each with its document's URI, on every
/// request: a megabyte of JSON per keystroke.
pub fn code_lenses(session: &Session, uri: &Uri) -> Vec<CodeLens> {
    let Some(doc) = session.document(uri) else { return Vec::new() };
    let sandbox = session.sandbox_name();
    let records = session.records_of(uri);
    let all = session.cells(uri, &doc);
    let uri_id = session.lens_uri_id(uri);
    let mut lenses = vec![CodeLens {
        range: at_line(0),
        command: Some(cmd(format!("Run file in {sandbox}"), command::RUN_FILE, json!({"uri": uri}))),
        data: None,
    }];
    for (index, cell) in all.iter().enumerate() {
        let (Some(marker), CellKind::Code) = (cell.marker, cell.kind) else { continue };
        let line = marker as u32;
        lenses.push(unresolved(uri_id, line, LazyLens::RunCell));
        if index > 0 || marker > 0 {
            lenses.push(unresolved(uri_id, line, LazyLens::RunAbove));
        }
        let (first, last) = (cell.body.start as u32, (cell.body.end.max(cell.body.start + 1) - 1) as u32);
        if let Some(record) = records.iter().rev().find(|r| r.overlaps(first, last) && !r.edited) {
            lenses.push(CodeLens {
                range: at_line(line),
                command: Some(cmd(record.status(), command::SHOW_OUTPUT, json!({"uri": uri}))),
                data: None,
            });
        }
    }
    lenses
}

/// The lenses sent without a command, and resolved on demand.
#[derive(Clone, Copy)]
enum LazyLens {
    RunCell = 0,
    RunAbove = 1,
}

fn unresolved(uri_id: u32, line: u32, kind: LazyLens) -> CodeLens {
    CodeLens { range: at_line(line), command: None, data: Some(json!([uri_id, line, kind as u8])) }
}

/// Fills in the command of a lens from [`code_lenses`]. The command runs the
/// cell at the lens's line when it is clicked, so a lens resolved after an
/// edit still runs what is there then. `None` when the lens is not one of
/// ours or its document is unknown.
pub fn resolve_code_lens(session: &Session, mut lens: CodeLens) -> Option<CodeLens> {
    let data = lens.data.as_ref()?.as_array()?;
    let [uri_id, line, kind] = data.as_slice() else { return None };
    let uri = session.lens_uri(u32::try_from(uri_id.as_u64()?).ok()?)?;
    let line = u32::try_from(line.as_u64()?).ok()?;
    let position = json!({"uri": uri, "position": {"line": line, "character": 0}});
    lens.command = Some(match kind.as_u64()? {
        0 => cmd(format!("▶ Run in {}", session.sandbox_name()), command::RUN_CELL, position),
        1 => cmd("Run above".into(), command::RUN_ABOVE, position),
        _ => return None,
    });
    lens.data = None;
    Some(lens)
}

/// Actions at the cursor or selection; every lens has one (Helix has no lenses).
pub fn code_actions(session: &Session, params: &CodeActionParams) -> Vec<CodeActionOrCommand> {
    let uri = &params.text_document.uri;
    let Some(doc) = session.document(uri) else { return Vec::new() };
    let sandbox = session.sandbox_name();
    let encoding = session.encoding();
    let range = params.range;
    let line = range.start.line.min(doc.line_count().saturating_sub(1));
    let mut actions = Vec::new();
    let action = |title: String, name: &str, argument: Value| {
        CodeActionOrCommand::CodeAction(CodeAction {
            title: title.clone(),
            command: Some(cmd(title, name, argument)),
            ..CodeAction::default()
        })
    };
    // Quick fixes first: install a missing module.
    for diagnostic in &params.context.diagnostics {
        let Some(module) = diagnostic.data.as_ref().and_then(|d| d.get("missingModule")).and_then(Value::as_str) else {
            continue;
        };
        if diagnostic.source.as_deref() != Some("azure-sandbox") {
            continue;
        }
        let package = package_for_module(module);
        let run_id = diagnostic.data.as_ref().and_then(|d| d.get("runId")).cloned().unwrap_or(Value::Null);
        let title = format!("Install {package} in the sandbox");
        actions.push(CodeActionOrCommand::CodeAction(CodeAction {
            title: title.clone(),
            kind: Some(CodeActionKind::QUICKFIX),
            diagnostics: Some(vec![diagnostic.clone()]),
            command: Some(cmd(
                title,
                command::INSTALL_PACKAGE,
                json!({"uri": uri, "package": package, "runId": run_id}),
            )),
            is_preferred: Some(true),
            ..CodeAction::default()
        }));
    }
    // A workspace file or module the run did not find in the sandbox.
    let root = session.workspace_of(uri);
    let here = convert::file_path(uri).and_then(|p| p.parent().map(std::path::Path::to_path_buf));
    for diagnostic in &params.context.diagnostics {
        if diagnostic.source.as_deref() != Some("azure-sandbox") {
            continue;
        }
        let data = diagnostic.data.as_ref();
        let run_id = data.and_then(|d| d.get("runId")).cloned().unwrap_or(Value::Null);
        let local = match (
            data.and_then(|d| d.get("missingFile")).and_then(Value::as_str),
            data.and_then(|d| d.get("missingModule")).and_then(Value::as_str),
        ) {
            (Some(file), _) => Some(file.to_owned()).filter(|f| root.join(f).is_file()),
            (None, Some(module)) => local_module(&root, here.as_deref(), module),
            (None, None) => None,
        };
        let Some(path) = local.filter(|p| !crate::mirror::looks_secret(p)) else { continue };
        let title = format!("Send {path} to the sandbox and run again");
        actions.push(CodeActionOrCommand::CodeAction(CodeAction {
            title: title.clone(),
            kind: Some(CodeActionKind::QUICKFIX),
            diagnostics: Some(vec![diagnostic.clone()]),
            command: Some(cmd(title, command::SEND_FILES, json!({"uri": uri, "paths": [path], "runId": run_id}))),
            is_preferred: Some(true),
            ..CodeAction::default()
        }));
    }
    let selected = doc.slice(convert::pos(range.start), convert::pos(range.end), encoding);
    if selected.chars().count() > 1 && !selected.trim().is_empty() {
        actions.push(action(format!("Run selection in {sandbox}"), command::RUN, json!({"uri": uri, "range": range})));
    }
    // The actions the commands would accept: the same selections, cut the same way.
    if session.lines_of(uri, &doc, &Selection::CellAt { line }).is_ok() {
        let position = json!({"uri": uri, "position": {"line": line, "character": 0}});
        actions.push(action(format!("Run cell in {sandbox}"), command::RUN_CELL, position.clone()));
        if session.lines_of(uri, &doc, &Selection::CellsAbove { line }).is_ok() {
            actions.push(action(format!("Run cells above in {sandbox}"), command::RUN_ABOVE, position));
        }
    }
    let whole_line = Range::new(Position::new(line, 0), Position::new(line + 1, 0));
    if !doc.line(line).trim().is_empty() {
        actions.push(action(
            format!("Run line {} in {sandbox}", line + 1),
            command::RUN,
            json!({"uri": uri, "range": whole_line}),
        ));
    }
    // The statement needs a parse of the whole document, on every cursor
    // move: skipped for huge ones (a 50 MB file took seconds and 1.7 GB a
    // request, on a runtime thread).
    let statement = (doc.len_chars() <= STATEMENT_PARSE_LIMIT)
        .then(|| session.lines_of(uri, &doc, &Selection::Statement { line }).ok())
        .flatten()
        .filter(|(s, e)| e > s);
    if let Some((start, end)) = statement {
        let statement = Range::new(Position::new(start, 0), Position::new(end + 1, 0));
        actions.push(action(
            format!("Run statement (lines {}-{}) in {sandbox}", start + 1, end + 1),
            command::RUN,
            json!({"uri": uri, "range": statement}),
        ));
    }
    actions.push(action(format!("Run file in {sandbox}"), command::RUN_FILE, json!({"uri": uri})));
    actions.push(action("Restart sandbox environment".into(), command::RESTART, json!({"uri": uri})));
    actions.push(action("Show sandbox output".into(), command::SHOW_OUTPUT, json!({"uri": uri})));
    actions.push(action("Show sandbox variables".into(), command::SHOW_VARIABLES, json!({"uri": uri})));
    let written = session.workbench.latest_files(&root);
    if !written.is_empty() {
        let title = match written.as_slice() {
            [one] => format!("Fetch {} from the sandbox", one.path),
            many => format!("Fetch the {} files the last run wrote from the sandbox", many.len()),
        };
        actions.push(action(title, command::FETCH_FILES, json!({"uri": uri})));
    }
    actions.push(action("List the sandbox's files".into(), command::LIST_FILES, json!({"uri": uri})));
    actions
}

/// The workspace file a missing module would be (`helpers.py` or
/// `helpers/` beside the file or at the root), workspace-relative.
fn local_module(root: &std::path::Path, here: Option<&std::path::Path>, module: &str) -> Option<String> {
    let top = module.split('.').next()?;
    let bases = here.into_iter().chain([root]);
    for base in bases {
        for candidate in [base.join(format!("{top}.py")), base.join(top).join("__init__.py")] {
            if candidate.is_file() {
                let found =
                    if candidate.ends_with("__init__.py") { candidate.parent()?.to_path_buf() } else { candidate };
                let rel = found.strip_prefix(root).ok()?;
                return Some(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    None
}

/// The newest run covering the line, as Markdown, and the value the name
/// under the cursor holds in the environment.
pub fn hover(session: &Session, uri: &Uri, position: Position) -> Option<Hover> {
    let value = super::variables::hover_value(session, uri, position);
    let markdown = |value: String| Hover {
        contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value }),
        range: None,
    };
    let Some(record) = session.record_at(uri, position.line) else { return value.map(markdown) };
    let limit = session.settings().hover_limit();
    let root = session.workspace_of(uri);
    let output_uri = output_document::uri_for(&root);
    let mut text = format!(
        "**{}** · `{}` · {} · {}\n\n",
        record.sandbox,
        record.label,
        record.status(),
        timestamp(record.requested_at)
    );
    match &record.state {
        RunState::Finished(f) => {
            if let RunResult::Succeeded { value: Some(value) } = &f.result {
                text.push_str(&format!("→ `{}`\n\n", one_line(value, 200).replace('`', "'")));
            }
            if let RunResult::Raised(e) = &f.result {
                text.push_str(&format!("**{}**\n\n", e.headline()));
            }
            if let RunResult::Failed { reason, .. } = &f.result {
                text.push_str(&format!("Stopped: {reason}\n\n"));
            }
            let mut cut = false;
            for (name, stream) in [("stdout", &f.stdout), ("stderr", &f.stderr)] {
                if stream.is_empty() {
                    continue;
                }
                let shown: String = stream.chars().take(limit).collect();
                cut |= shown.len() < stream.len();
                text.push_str(&format!("{name}:\n```text\n{}\n```\n", shown.trim_end().replace("```", "'''")));
            }
            for (index, item) in f.displays.iter().enumerate() {
                if record.figures.iter().any(|fig| fig.display == index) || item.is_result {
                    continue;
                }
                if let Some(plain) = item.plain() {
                    let shown: String = plain.chars().take(limit).collect();
                    cut |= shown.len() < plain.len();
                    text.push_str(&format!("```text\n{}\n```\n", shown.trim_end().replace("```", "'''")));
                }
            }
            push_figures(&mut text, &record.figures);
            for notice in &f.notices {
                text.push_str(&format!("\n_{}_\n", notice.message()));
            }
            if cut {
                text.push_str(&format!(
                    "\n_Output cut; the full transcript is in the output document ({output_uri})._\n"
                ));
            }
            text.push_str(&format!("\nTook {}.", duration_text(f.duration())));
        }
        RunState::Failed(why) => text.push_str(&format!("Not run: {}\n", why.message)),
        RunState::Cancelled => text.push_str("Cancelled.\n"),
        RunState::Queued | RunState::Running => {}
    }
    if record.edited {
        text.push_str("\n\n_The code changed since this run._");
    }
    if let Some(value) = value {
        text.push_str("\n\n---\n\n");
        text.push_str(&value);
    }
    Some(markdown(text))
}

/// VS Code cuts hover Markdown at 100,000 characters: thumbnails stop well
/// before that, and every figure keeps its link.
const HOVER_IMAGE_BUDGET: usize = 80_000;

/// Each figure as a link to its file, the first ones with a thumbnail.
fn push_figures(text: &mut String, figures: &[crate::workbench::Figure]) {
    let mut budget = HOVER_IMAGE_BUDGET;
    for (n, figure) in figures.iter().enumerate() {
        text.push('\n');
        if let Some(thumbnail) = figure.thumbnail.as_ref().filter(|t| t.len() <= budget) {
            budget -= thumbnail.len();
            text.push_str(&format!("![figure {}](data:image/png;base64,{thumbnail})\n\n", n + 1));
        }
        text.push_str(&format!("[Figure {}: {}]({})\n", n + 1, figure.describe(), figure.uri));
    }
}

/// At the end of each run's last line in `range`: its value or status.
pub fn inlay_hints(session: &Session, uri: &Uri, range: Range) -> Vec<InlayHint> {
    let Some(doc) = session.document(uri) else { return Vec::new() };
    let encoding = session.encoding();
    let mut hints: Vec<(u32, RunRecord)> = Vec::new();
    for record in session.records_of(uri) {
        if record.edited || record.last_line < range.start.line || record.last_line > range.end.line {
            continue;
        }
        // One hint per line: the newest run wins.
        hints.retain(|(line, _)| *line != record.last_line);
        hints.push((record.last_line, record));
    }
    hints
        .into_iter()
        .filter_map(|(line, record)| {
            let label = record.hint()?;
            let end: Pos = doc.line_end(line, encoding);
            Some(InlayHint {
                position: convert::position(end),
                label: InlayHintLabel::String(label),
                kind: None,
                text_edits: None,
                tooltip: Some(InlayHintTooltip::String(format!("{} · {}", record.label, record.status()))),
                padding_left: Some(true),
                padding_right: None,
                data: None,
            })
        })
        .collect()
}

/// The package that provides a missing top-level module, for the common
/// cases where the names differ.
fn package_for_module(module: &str) -> String {
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
