//! The workspace's files under the mirror's rules, with their hashes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::rules::{MirrorRules, looks_secret};

/// One file to mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// Relative to the workspace root, `/`-separated.
    pub rel: String,
    pub path: PathBuf,
    pub size: u64,
    /// SHA-256 of its content, hex.
    pub sha256: String,
}

/// What a scan found.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub files: Vec<LocalFile>,
    /// Files left out because they look like secrets (never sent).
    pub secrets: Vec<String>,
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// The files the rules take are more than the budget: nothing is sent.
    OverBudget { total: u64, budget: u64, largest: Vec<(String, u64)> },
    /// More files than a workspace mirror takes (a home or downloads folder
    /// rather than a project): nothing is sent.
    TooMany { limit: usize },
    /// A glob in the settings does not parse.
    Rules(String),
    /// A path given explicitly is not one the mirror may send.
    Refused { path: String, why: String },
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::OverBudget { total, budget, largest } => {
                let largest: Vec<String> =
                    largest.iter().map(|(rel, size)| format!("{rel} ({})", crate::run::human_bytes(*size))).collect();
                write!(
                    f,
                    "the workspace's files come to {}, over the mirror's budget of {}, so none were sent. Exclude \
                     some (azureSandbox.mirrorExclude, e.g. \"data/raw/**\", or .gitignore) or raise \
                     azureSandbox.mirrorBudget. The largest: {}",
                    crate::run::human_bytes(*total),
                    crate::run::human_bytes(*budget),
                    largest.join(", ")
                )
            }
            ScanError::TooMany { limit } => write!(
                f,
                "the workspace has more than {limit} files, so none were sent (is its folder a project? A folder \
                 with .git marks one). Exclude some (azureSandbox.mirrorExclude or .gitignore), or open the \
                 project's own folder"
            ),
            ScanError::Rules(why) => write!(f, "the mirror's settings: {why}"),
            ScanError::Refused { path, why } => write!(f, "not sending {path}: {why}"),
        }
    }
}

impl std::error::Error for ScanError {}

impl ScanError {
    /// Too much to send: the run goes ahead without the mirror, and says so.
    pub fn is_too_much(&self) -> bool {
        matches!(self, ScanError::OverBudget { .. } | ScanError::TooMany { .. })
    }
}

/// The most files a workspace mirror takes.
pub const MAX_FILES: usize = 10_000;

/// Hashes by path, size and modification time: a file unchanged since the
/// last scan is not read again.
type HashCache = HashMap<PathBuf, (u64, SystemTime, String)>;
static HASHES: Mutex<Option<HashCache>> = Mutex::new(None);

fn hash_of(path: &Path, size: u64, modified: SystemTime) -> std::io::Result<String> {
    if let Some((s, m, hash)) = HASHES.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_default().get(path) {
        if *s == size && *m == modified {
            return Ok(hash.clone());
        }
    }
    let hash = sha256_hex(&std::fs::read(path)?);
    HASHES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_default()
        .insert(path.to_owned(), (size, modified, hash.clone()));
    Ok(hash)
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// `path` relative to `root`, `/`-separated; `None` outside it.
fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The workspace's files under `rules`: what git would track (its ignore
/// files are honoured even without a repository), never `.git/` or a
/// secret, nothing outside the root (a link out of it is skipped).
pub fn scan(root: &Path, rules: &MirrorRules) -> Result<Scan, ScanError> {
    let globs = rules.globs().map_err(ScanError::Rules)?;
    let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    let skip: Vec<PathBuf> = rules.skip.iter().map(|d| d.canonicalize().unwrap_or_else(|_| d.clone())).collect();
    let mut walker = ignore::WalkBuilder::new(&root);
    walker
        .hidden(false)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        .ignore(true)
        .parents(false)
        .require_git(false)
        .follow_links(false)
        // Never the repository, Python's caches (made for this machine) or
        // the directories the rules skip.
        .filter_entry(move |entry| {
            entry.file_name() != ".git"
                && entry.file_name() != "__pycache__"
                && !skip.iter().any(|dir| entry.path() == dir.as_path())
        });
    let mut scan = Scan::default();
    for entry in walker.build().flatten() {
        let Some(kind) = entry.file_type() else { continue };
        let path = if kind.is_symlink() {
            // A link counts only if what it points at is a file inside.
            match entry.path().canonicalize() {
                Ok(target) if target.starts_with(&root) && target.is_file() => entry.path().to_owned(),
                _ => continue,
            }
        } else if kind.is_file() {
            entry.path().to_owned()
        } else {
            continue;
        };
        let Some(rel) = relative(&root, &path) else { continue };
        if looks_secret(&rel) {
            scan.secrets.push(rel);
            continue;
        }
        if !globs.allows(&rel) {
            continue;
        }
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if scan.files.len() >= MAX_FILES {
            return Err(ScanError::TooMany { limit: MAX_FILES });
        }
        scan.total += meta.len();
        scan.files.push(LocalFile { rel, path, size: meta.len(), sha256: String::new() });
    }
    if scan.total > rules.budget {
        let mut largest: Vec<(String, u64)> = scan.files.iter().map(|f| (f.rel.clone(), f.size)).collect();
        largest.sort_by_key(|f| std::cmp::Reverse(f.1));
        largest.truncate(3);
        return Err(ScanError::OverBudget { total: scan.total, budget: rules.budget, largest });
    }
    for file in &mut scan.files {
        let modified = std::fs::metadata(&file.path).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
        file.sha256 = hash_of(&file.path, file.size, modified).unwrap_or_default();
    }
    scan.files.retain(|f| !f.sha256.is_empty());
    scan.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(scan)
}

/// Files the user named (a file or a folder each), inside the workspace:
/// sent even if ignored or outside the globs, but never a secret. A secret
/// named beside other paths (a selection in the Explorer) is left out and
/// listed in `secrets`; a request that names only secrets is refused, as is
/// any path outside the workspace.
pub fn scan_paths(root: &Path, paths: &[PathBuf]) -> Result<Scan, ScanError> {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    let mut scan = Scan::default();
    let mut named_secret = None;
    for given in paths {
        let full = if given.is_absolute() { given.clone() } else { root.join(given) };
        let refused = |why: &str| ScanError::Refused { path: given.display().to_string(), why: why.to_owned() };
        let full = full.canonicalize().map_err(|e| refused(&e.to_string()))?;
        let Some(rel) = relative(&root, &full).or_else(|| (full == root).then(String::new)) else {
            return Err(refused("it is outside the workspace"));
        };
        if !rel.is_empty() && looks_secret(&rel) {
            named_secret.get_or_insert_with(|| refused("it looks like a secret, and those never leave this machine"));
            scan.secrets.push(rel);
            continue;
        }
        let mut files = Vec::new();
        if full.is_dir() {
            let mut walker = ignore::WalkBuilder::new(&full);
            walker.standard_filters(false).follow_links(false).filter_entry(|e| e.file_name() != ".git");
            for entry in walker.build().flatten() {
                if entry.file_type().is_some_and(|t| t.is_file()) {
                    files.push(entry.path().to_owned());
                }
            }
        } else {
            files.push(full.clone());
        }
        for path in files {
            let Some(rel) = relative(&root, &path) else { continue };
            if looks_secret(&rel) {
                scan.secrets.push(rel);
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| refused(&e.to_string()))?;
            scan.total += bytes.len() as u64;
            scan.files.push(LocalFile { rel, path, size: bytes.len() as u64, sha256: sha256_hex(&bytes) });
        }
    }
    if let Some(refusal) = named_secret.filter(|_| scan.files.is_empty()) {
        return Err(refusal);
    }
    scan.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    scan.files.dedup_by(|a, b| a.rel == b.rel);
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn scans_honour_gitignore_secrets_globs_and_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, ".gitignore", "build/\n*.log\n");
        write(root, "main.py", "import helpers\n");
        write(root, "helpers.py", "x = 1\n");
        write(root, "data/sales.csv", "region,amount\nnorth,1\nsouth,2\n");
        write(root, "build/out.bin", "ignored");
        write(root, "run.log", "ignored");
        write(root, ".env", "KEY=secret");
        write(root, "certs/tls.key", "secret");
        write(root, ".git/config", "never");
        std::os::unix::fs::symlink("/etc/hostname", root.join("outside")).unwrap();
        let scan = scan(root, &MirrorRules::default()).unwrap();
        let rels: Vec<&str> = scan.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, [".gitignore", "data/sales.csv", "helpers.py", "main.py"]);
        assert_eq!(scan.secrets.len(), 2);
        assert_eq!(scan.files[2].sha256, sha256_hex(b"x = 1\n"));
        write(root, "tool-cache/figures/a.png", "not the user's");
        let skipping = MirrorRules { skip: vec![root.join("tool-cache")], ..MirrorRules::default() };
        assert!(super::scan(root, &skipping).unwrap().files.iter().all(|f| !f.rel.starts_with("tool-cache")));
        std::fs::remove_dir_all(root.join("tool-cache")).unwrap();
        let only_py = MirrorRules { include: vec!["**.py".into()], ..MirrorRules::default() };
        assert_eq!(super::scan(root, &only_py).unwrap().files.len(), 2);
        let tiny = MirrorRules { budget: 10, ..MirrorRules::default() };
        let error = super::scan(root, &tiny).unwrap_err();
        assert!(matches!(&error, ScanError::OverBudget { largest, .. } if largest[0].0 == "data/sales.csv"));
        assert!(error.to_string().contains("none were sent"));
    }

    #[test]
    fn named_paths_pass_the_ignore_rules_but_never_secrets_or_the_outside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, ".gitignore", "data/\n");
        write(root, "data/big.csv", "1\n");
        write(root, ".env", "KEY=1");
        let forced = scan_paths(root, &[PathBuf::from("data")]).unwrap();
        assert_eq!(forced.files.iter().map(|f| f.rel.as_str()).collect::<Vec<_>>(), ["data/big.csv"]);
        assert!(matches!(scan_paths(root, &[PathBuf::from(".env")]), Err(ScanError::Refused { .. })));
        // Beside other files (an Explorer selection): left out, and said.
        let mixed = scan_paths(root, &[PathBuf::from("data"), PathBuf::from(".env")]).unwrap();
        assert_eq!(mixed.files.iter().map(|f| f.rel.as_str()).collect::<Vec<_>>(), ["data/big.csv"]);
        assert_eq!(mixed.secrets, [".env"]);
        assert!(matches!(scan_paths(root, &[PathBuf::from("../")]), Err(ScanError::Refused { .. })));
        assert!(matches!(scan_paths(root, &[PathBuf::from("missing.py")]), Err(ScanError::Refused { .. })));
    }
}
