//! The output document: each workspace's transcript as a virtual document
//! `azure-sandbox-output://<hash of the root>/<root's name>-output.txt` for
//! clients that can show one, or its owner-only file mirror for the rest.
//! (With `//`, Vim and Neovim treat the name as a URL, not a file path.)

use std::path::{Path, PathBuf};

use tower_lsp_server::UriExt;
use tower_lsp_server::lsp_types::Uri;

use super::session::Session;
use crate::workbench::Transcripts;

pub const SCHEME: &str = "azure-sandbox-output";

/// The output document's URI for a workspace.
pub fn uri_for(root: &Path) -> String {
    let (hash, name) = Transcripts::parts(root);
    format!("{SCHEME}://{hash}/{name}-output.txt")
}

pub fn is_output_uri(uri: &str) -> bool {
    uri.starts_with(&format!("{SCHEME}:"))
}

/// The workspace whose output document `uri` is: one with a transcript, or
/// a workspace folder nothing has run in yet.
pub fn root_of(session: &Session, uri: &str) -> Option<PathBuf> {
    let folders = session.folders.read().unwrap_or_else(|e| e.into_inner()).clone();
    session.workbench.transcripts().roots().into_iter().chain(folders).find(|root| uri_for(root) == uri)
}

/// Where to open the output: the virtual document for clients that can
/// show it, else the file mirror (written now, so the file opened is the
/// transcript as it is).
pub fn location(session: &Session, root: &Path) -> Option<String> {
    if session.flags().text_document_content {
        return Some(uri_for(root));
    }
    let file = session.workbench.transcripts().write_mirror_now(root)?;
    Uri::from_file_path(&file).map(|u| u.as_str().to_owned())
}
