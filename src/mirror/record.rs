//! What each environment was sent: `relative path → SHA-256`, so that a
//! sync sends only what changed. A new or relaunched environment has a new
//! id, so it gets everything again. Remote environments outlive this
//! process, so their records are kept in an owner-only file.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;

type Files = BTreeMap<String, String>;

pub struct MirrorRecord {
    file: Option<PathBuf>,
    environments: Mutex<HashMap<String, Files>>,
}

impl MirrorRecord {
    pub fn in_memory() -> Self {
        Self { file: None, environments: Mutex::default() }
    }

    /// Kept in `file` (read now, written after each change).
    pub fn persistent(file: PathBuf) -> Self {
        let environments = std::fs::read(&file).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        Self { file: Some(file), environments: Mutex::new(environments) }
    }

    /// What environment `key` (endpoint and id) was sent.
    pub fn files(&self, key: &str) -> Files {
        self.environments.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned().unwrap_or_default()
    }

    /// Environment `key` now has these files (added to what it had).
    pub fn add(&self, key: &str, sent: impl IntoIterator<Item = (String, String)>) {
        let snapshot = {
            let mut environments = self.environments.lock().unwrap_or_else(|e| e.into_inner());
            environments.entry(key.to_owned()).or_default().extend(sent);
            // Only the last hundred environments are worth remembering.
            while environments.len() > 100 {
                let Some(oldest) = environments.keys().next().cloned() else { break };
                environments.remove(&oldest);
            }
            self.file.is_some().then(|| serde_json::to_vec(&*environments).unwrap_or_default())
        };
        if let (Some(file), Some(bytes)) = (&self.file, snapshot) {
            if let Err(e) = write_private(file, &bytes) {
                tracing::warn!("could not keep the mirror record in {}: {e}", file.display());
            }
        }
    }
}

fn write_private(file: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = file.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    let temporary = file.with_extension(format!("tmp{}", std::process::id()));
    let mut out = std::fs::OpenOptions::new().create(true).truncate(true).write(true).mode(0o600).open(&temporary)?;
    out.write_all(bytes)?;
    std::fs::rename(temporary, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_persist_per_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mirrors.json");
        let record = MirrorRecord::persistent(file.clone());
        record.add("e1", [("a.py".to_owned(), "h1".to_owned())]);
        record.add("e1", [("b.py".to_owned(), "h2".to_owned())]);
        let again = MirrorRecord::persistent(file.clone());
        assert_eq!(again.files("e1").len(), 2);
        assert!(again.files("e2").is_empty(), "a new environment has nothing");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
