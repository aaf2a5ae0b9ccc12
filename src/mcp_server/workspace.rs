//! Which workspace an agent works in, and which paths it may name.
//!
//! The directory given with `--workspace`; else the client's first root
//! (asked once, when the client offers roots); else the workspace of the
//! current directory, by the rule `run` uses (the nearest directory with
//! `.git`, else the directory itself). Paths an agent names must stay inside
//! it: the server never reads, sends or writes a file outside.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use rmcp::RoleServer;
use rmcp::service::Peer;
use tokio::sync::OnceCell;

use crate::run::workspace_root;

/// How long to wait for the client's `roots/list` answer.
const ROOTS_TIMEOUT: Duration = Duration::from_secs(5);

pub struct WorkspaceChoice {
    given: Option<PathBuf>,
    chosen: OnceCell<PathBuf>,
}

impl WorkspaceChoice {
    pub fn new(given: Option<PathBuf>) -> Self {
        Self { given, chosen: OnceCell::new() }
    }

    /// The workspace root, decided on first use and then kept.
    pub async fn root(&self, peer: &Peer<RoleServer>) -> PathBuf {
        self.chosen
            .get_or_init(|| async {
                if let Some(dir) = &self.given {
                    return dir.canonicalize().unwrap_or_else(|_| dir.clone());
                }
                if let Some(root) = client_root(peer).await {
                    return root;
                }
                workspace_root(&std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")))
            })
            .await
            .clone()
    }
}

/// The client's first `file://` root that is a directory here. Roots are
/// deprecated in the newest protocol revision, but the clients of today
/// (VS Code, Claude Code) send them, and they name the user's workspace.
#[allow(deprecated)]
async fn client_root(peer: &Peer<RoleServer>) -> Option<PathBuf> {
    let offers_roots = peer.peer_info().is_some_and(|info| info.capabilities.roots.is_some());
    if !offers_roots {
        return None;
    }
    let roots = match tokio::time::timeout(ROOTS_TIMEOUT, peer.list_roots()).await {
        Ok(Ok(roots)) => roots.roots,
        Ok(Err(e)) => {
            tracing::info!("the client did not list its roots ({e}); using the current directory's workspace");
            return None;
        }
        Err(_) => {
            tracing::info!("the client did not list its roots within 5 s; using the current directory's workspace");
            return None;
        }
    };
    roots.iter().find_map(|root| {
        let path = url::Url::parse(&root.uri).ok()?.to_file_path().ok()?;
        path.is_dir().then(|| path.canonicalize().unwrap_or(path))
    })
}

/// A workspace file or folder an agent named (relative to the root, or
/// absolute inside it), resolved; an error an agent can act on when it is
/// outside the workspace or missing.
pub fn local_path(root: &Path, named: &str) -> Result<PathBuf, String> {
    let named_path = Path::new(named);
    let joined = if named_path.is_absolute() { named_path.to_path_buf() } else { root.join(named_path) };
    let resolved = joined.canonicalize().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{named}: no such file or folder in the workspace {}", root.display()),
        _ => format!("{named}: {e}"),
    })?;
    if !resolved.starts_with(root) {
        return Err(format!(
            "{named} is outside the workspace {}; only workspace files can be used (links out of it count as \
             outside)",
            root.display()
        ));
    }
    Ok(resolved)
}

/// A path in the environment's copy of the workspace, as the mirror names
/// it (relative, `/`-separated); refuses absolute paths and `..`.
pub fn mirror_path(named: &str) -> Result<String, String> {
    let path = Path::new(named);
    let plain = path.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if named.trim().is_empty() || !plain {
        return Err(format!(
            "{named:?}: name a file by its path relative to the workspace (as list_files shows it), without `..` \
             and not absolute"
        ));
    }
    let parts: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_workspace_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("a.py"), "").unwrap();
        assert_eq!(local_path(&root, "a.py").unwrap(), root.join("a.py"));
        assert_eq!(local_path(&root, &root.join("a.py").to_string_lossy()).unwrap(), root.join("a.py"));
        assert!(local_path(&root, "../").unwrap_err().contains("outside the workspace"));
        assert!(local_path(&root, "/etc/passwd").unwrap_err().contains("outside the workspace"));
        assert!(local_path(&root, "missing.csv").unwrap_err().contains("no such file"));
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        assert!(local_path(&root, "link/passwd").unwrap_err().contains("outside the workspace"));
    }

    #[test]
    fn mirror_paths_are_relative_and_plain() {
        assert_eq!(mirror_path("out/result.csv").unwrap(), "out/result.csv");
        assert_eq!(mirror_path("./a.csv").unwrap(), "a.csv");
        assert!(mirror_path("../x").is_err());
        assert!(mirror_path("a/../../x").is_err());
        assert!(mirror_path("/etc/passwd").is_err());
        assert!(mirror_path(" ").is_err());
    }
}
