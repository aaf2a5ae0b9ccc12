//! Live state in the editor: the `azureSandbox/variables` request (the
//! snapshot at once, a value's contents in one round trip), the value of a
//! name on hover, and completion from the live namespace.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::lsp_types::{
    CompletionItem, CompletionItemKind, CompletionList, CompletionParams, CompletionResponse, Position, Uri,
};

use super::convert;
use super::session::Session;
use crate::run::{AttributeKind, InspectKind, Variable};
use crate::text::Pos;
use crate::workbench::{Entry, SandboxStart, Snapshot, SnapshotState};

/// A value's contents: up to this long, one round trip (a run going on
/// delays it).
const EXPAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Completion waits this long for attribute names, then gives up.
const COMPLETION_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a look at attributes may take in the background (a slow
/// `__dir__`, a busy environment) before it is given up.
const ATTRIBUTES_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize)]
pub struct VariablesParams {
    pub uri: String,
    #[serde(default)]
    pub path: Vec<String>,
}

/// One name (or one item of a value's contents) as clients get it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VariableView {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub shape: Option<String>,
    pub size: Option<u64>,
    pub repr: String,
    /// The run that last set it (snapshots only).
    pub run_id: Option<u64>,
    pub expandable: bool,
}

impl VariableView {
    fn of(name: &str, value: &Variable, run_id: Option<u64>) -> Self {
        Self {
            name: name.to_owned(),
            type_name: value.type_name.clone(),
            shape: value.shape.clone(),
            size: value.size,
            repr: value.repr.clone(),
            run_id,
            expandable: value.expandable,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VariablesResult {
    pub state: SnapshotState,
    pub reason: Option<crate::workbench::LostReason>,
    pub message: Option<&'static str>,
    pub variables: Vec<VariableView>,
    /// Items not listed (a value's contents beyond the first 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub more: Option<u64>,
    /// The path no longer holds anything.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub missing: bool,
}

fn snapshot_result(snapshot: &Snapshot) -> VariablesResult {
    VariablesResult {
        state: snapshot.state,
        reason: snapshot.lost,
        message: snapshot.lost.map(|r| r.message()),
        variables: snapshot.entries.iter().map(|(n, e)| VariableView::of(n, &e.value, Some(e.run_id))).collect(),
        more: None,
        missing: false,
    }
}

/// `azureSandbox/variables`: without a path the snapshot, at once; with
/// one, that value's contents from the environment.
pub async fn request(session: &Arc<Session>, params: VariablesParams) -> Result<VariablesResult> {
    let root = root_of(session, &params.uri)?;
    let snapshot = session.workbench.variables(&root);
    if params.path.is_empty() {
        return Ok(snapshot_result(&snapshot));
    }
    if params.path.iter().any(|step| step.len() > 1000) || params.path.len() > 32 {
        return Err(Error::invalid_params("path: at most 32 steps of at most 1,000 characters"));
    }
    let mut result = snapshot_result(&snapshot);
    result.variables.clear();
    if !snapshot.entries.contains_key(&params.path[0]) {
        result.missing = true;
        return Ok(result);
    }
    let inspection = session
        .workbench
        .inspect(&root, &params.path, InspectKind::Children, EXPAND_TIMEOUT, SandboxStart::OnlyInUse)
        .await
        .map_err(|e| Error {
            code: tower_lsp_server::jsonrpc::ErrorCode::InternalError,
            message: e.message.into(),
            data: None,
        })?;
    match inspection {
        Some(found) if !found.missing => {
            if let Some(failed) = found.failed {
                return Err(Error::invalid_params(format!("listing it raised {failed}")));
            }
            result.variables = found.children.iter().map(|c| VariableView::of(&c.name, &c.value, None)).collect();
            result.more = Some(found.more);
        }
        _ => result.missing = true,
    }
    Ok(result)
}

/// The workspace a document URI (or a file path) belongs to.
fn root_of(session: &Session, target: &str) -> Result<std::path::PathBuf> {
    let uri = if target.contains("://") {
        target.parse::<Uri>().map_err(|e| Error::invalid_params(format!("not a URI: {e}")))?
    } else {
        convert::uri_of_file(target).ok_or_else(|| Error::invalid_params(format!("not a usable path: {target}")))?
    };
    Ok(session.workspace_of(&uri))
}

/// The Python identifier at `position`, if the cursor is on one.
fn identifier_at(session: &Session, uri: &Uri, position: Position) -> Option<String> {
    let doc = session.document(uri)?;
    let encoding = session.encoding();
    let line = doc.line(position.line);
    let start = doc.char_index(Pos::new(position.line, 0), encoding);
    let column = doc.char_index(convert::pos(position), encoding) - start;
    let chars: Vec<char> = line.chars().collect();
    let word = |c: &char| c.is_alphanumeric() || *c == '_';
    let column = column.min(chars.len());
    let begin = chars[..column].iter().rev().take_while(|c| word(c)).count();
    let end = chars[column..].iter().take_while(|c| word(c)).count();
    let name: String = chars[column - begin..column + end].iter().collect();
    // Not a name: empty, or a number.
    (!name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit())).then_some(name)
}

/// Markdown for the value `name` holds in the workspace's environment,
/// from the latest snapshot (no round trip).
pub fn hover_value(session: &Session, uri: &Uri, position: Position) -> Option<String> {
    let name = identifier_at(session, uri, position)?;
    let root = session.workspace_of(uri);
    let Entry { value, run_id } = session.workbench.variable(&root, &name)?;
    let shape = value.shape.as_deref().map(|s| format!(", {s}")).unwrap_or_default();
    let size = value.size.map(|s| format!(", {}", crate::run::human_bytes(s))).unwrap_or_default();
    let repr = value.repr.replace("```", "'''");
    Some(format!(
        "**{name}** in the {}: `{}`{shape}{size} · set by run {run_id}\n```text\n{repr}\n```\n",
        session.sandbox_name(),
        value.type_name
    ))
}

/// Completion from the live namespace (when `liveCompletion` is on): after
/// `name.`, the object's attributes (one round trip, 300 ms at most); in
/// `df["`, a DataFrame's columns from the snapshot.
pub async fn completion(session: &Arc<Session>, params: CompletionParams) -> Result<Option<CompletionResponse>> {
    if !session.settings().live_completion {
        return Ok(None);
    }
    let at = params.text_document_position;
    let uri = at.text_document.uri;
    let Some(doc) = session.document(&uri) else { return Ok(None) };
    let encoding = session.encoding();
    let start = doc.char_index(Pos::new(at.position.line, 0), encoding);
    let column = doc.char_index(convert::pos(at.position), encoding) - start;
    let before: String = doc.line(at.position.line).chars().take(column).collect();
    let root = session.workspace_of(&uri);
    let items = match completion_context(&before) {
        Some(Context::Columns { name, quote }) => CompletionResponse::Array(columns(session, &root, &name, quote)),
        Some(Context::Attributes { name }) => attributes(session, &root, &name).await,
        None => return Ok(None),
    };
    Ok(Some(items))
}

#[derive(Debug, PartialEq, Eq)]
enum Context {
    /// `name.` (and the start of an attribute).
    Attributes { name: String },
    /// `name["` or `name['`.
    Columns { name: String, quote: char },
}

/// What the text before the cursor asks for.
fn completion_context(before: &str) -> Option<Context> {
    let trimmed = before.trim_end_matches(|c: char| c.is_alphanumeric() || c == '_' || c == ' ');
    let name_before = |text: &str| {
        let name: String = text
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        (!name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit())).then_some(name)
    };
    if let Some(head) = trimmed.strip_suffix('.') {
        return name_before(head).map(|name| Context::Attributes { name });
    }
    // In a string opened right after `[`: the column name typed so far.
    let open = before.rfind(['"', '\''])?;
    let quote = before[open..].chars().next()?;
    let head = before[..open].trim_end();
    let head = head.strip_suffix('[')?;
    if before[open + 1..].contains(['"', '\'', ']']) {
        return None;
    }
    name_before(head.trim_end()).map(|name| Context::Columns { name, quote })
}

fn columns(session: &Session, root: &Path, name: &str, quote: char) -> Vec<CompletionItem> {
    let Some(entry) = session.workbench.variable(root, name) else { return Vec::new() };
    entry
        .value
        .columns
        .iter()
        .map(|column| CompletionItem {
            label: column.clone(),
            kind: Some(CompletionItemKind::FIELD),
            detail: Some(format!("column of {name} (live)")),
            // The closing quote is the user's to type.
            insert_text: Some(column.replace(quote, &format!("\\{quote}"))),
            ..CompletionItem::default()
        })
        .collect()
}

/// After `name.`: a DataFrame's columns (from the snapshot), then the
/// object's attributes. Those cost a round trip: looked at once per value
/// (the cache), and waited for 300 ms at most. A look that takes longer
/// goes on and lands in the cache, and the list says it is incomplete, so
/// the editor asks again as the user types and then gets them.
async fn attributes(session: &Arc<Session>, root: &Path, name: &str) -> CompletionResponse {
    let Some(entry) = session.workbench.variable(root, name) else { return CompletionResponse::Array(Vec::new()) };
    // A DataFrame's columns are attributes too (`df.price`), from the snapshot.
    let identifier =
        |c: &String| c.chars().all(|c| c.is_alphanumeric() || c == '_') && !c.starts_with(|c: char| c.is_ascii_digit());
    let columns = entry.value.columns.iter().filter(|c| identifier(c)).map(|column| CompletionItem {
        label: column.clone(),
        kind: Some(CompletionItemKind::FIELD),
        detail: Some(format!("column of {name} (live)")),
        sort_text: Some(format!("0{column}")),
        ..CompletionItem::default()
    });
    let mut items: Vec<CompletionItem> = columns.collect();
    let found = match session.attributes.get(root, name, entry.run_id) {
        Some(found) => Some(found),
        None if session.attributes.start_looking(root, name, entry.run_id) => {
            let look =
                tokio::spawn(look_at_attributes(Arc::clone(session), root.to_owned(), name.to_owned(), entry.run_id));
            tokio::time::timeout(COMPLETION_TIMEOUT, look).await.ok().and_then(|joined| joined.ok()).flatten()
        }
        // An earlier request's look is still under way.
        None => None,
    };
    let Some(found) = found else {
        return CompletionResponse::List(CompletionList { is_incomplete: true, items });
    };
    items.extend(found.iter().enumerate().map(|(n, attribute)| CompletionItem {
        label: attribute.name.clone(),
        kind: Some(match attribute.kind {
            AttributeKind::Method => CompletionItemKind::METHOD,
            AttributeKind::Property => CompletionItemKind::PROPERTY,
            AttributeKind::Field => CompletionItemKind::FIELD,
        }),
        detail: Some(format!("{name} (live)")),
        // Public names first, in the runtime's order.
        sort_text: Some(format!("1{n:05}")),
        ..CompletionItem::default()
    }));
    CompletionResponse::Array(items)
}

/// One look at `name`'s attributes, kept in the cache (a task of its own,
/// so that it finishes when completion stops waiting). Bounded by the
/// inspection's own time limit.
async fn look_at_attributes(
    session: Arc<Session>,
    root: std::path::PathBuf,
    name: String,
    run_id: u64,
) -> Option<Arc<Vec<crate::run::Attribute>>> {
    let path = [name.clone()];
    let inspection = session
        .workbench
        .inspect(&root, &path, InspectKind::Attributes, ATTRIBUTES_TIMEOUT, SandboxStart::OnlyInUse)
        .await;
    let found = inspection.ok().flatten().filter(|found| !found.missing).map(|found| Arc::new(found.attributes));
    session.attributes.done(&root, &name, run_id, found.clone());
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_contexts() {
        let attrs = |name: &str| Some(Context::Attributes { name: name.into() });
        assert_eq!(completion_context("df."), attrs("df"));
        assert_eq!(completion_context("x = df.he"), attrs("df"));
        assert_eq!(completion_context("print(model_2."), attrs("model_2"));
        assert_eq!(completion_context("df[\""), Some(Context::Columns { name: "df".into(), quote: '"' }));
        assert_eq!(completion_context("df['pri"), Some(Context::Columns { name: "df".into(), quote: '\'' }));
        assert_eq!(completion_context("df['a'] + 1."), None, "a number");
        assert_eq!(completion_context("df['a']"), None);
        assert_eq!(completion_context("'text"), None);
        assert_eq!(completion_context("x = 1"), None);
    }
}
