//! What each environment was sent: `relative path → SHA-256`, so that a
//! sync sends only what changed. A new or relaunched environment has a new
//! id, so it gets everything again. Remote environments outlive this
//! process, so their records are kept in an owner-only file.
//!
//! That file is shared: the editor's language server, an agent's server
//! and `run` send to the same environment. So each reads it again when
//! another process changed it, and adds to it under a lock, reading it
//! first: an edit one process sent and the user then undid is sent back by
//! the other, not skipped on an out-of-date record.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

type Files = BTreeMap<String, String>;

pub struct MirrorRecord {
    file: Option<PathBuf>,
    loaded: Mutex<Loaded>,
}

#[derive(Default)]
struct Loaded {
    environments: HashMap<String, Files>,
    /// The file as last read or written (inode, modification time, size):
    /// when it differs, another process wrote it.
    stamp: Option<(u64, std::time::SystemTime, u64)>,
}

impl Loaded {
    fn refresh(&mut self, file: &Path) {
        let stamp = stamp_of(file);
        // File times tick coarsely (a few milliseconds) and inodes are
        // reused, so a file written a moment ago is read again regardless.
        let recent = stamp.is_some_and(|(_, modified, _)| modified.elapsed().map_or(true, |age| age.as_secs() < 2));
        if stamp.is_some() && (stamp != self.stamp || recent) {
            if let Some(environments) =
                std::fs::read(file).ok().and_then(|b| serde_json::from_slice::<HashMap<String, Files>>(&b).ok())
            {
                self.environments = environments;
            }
            self.stamp = stamp;
        }
    }
}

fn stamp_of(file: &Path) -> Option<(u64, std::time::SystemTime, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(file).ok()?;
    Some((meta.ino(), meta.modified().ok()?, meta.len()))
}

impl MirrorRecord {
    pub fn in_memory() -> Self {
        Self { file: None, loaded: Mutex::default() }
    }

    /// Kept in `file`, which other processes may share.
    pub fn persistent(file: PathBuf) -> Self {
        let mut loaded = Loaded::default();
        loaded.refresh(&file);
        Self { file: Some(file), loaded: Mutex::new(loaded) }
    }

    /// What environment `key` (endpoint and id) was sent, by any process.
    pub fn files(&self, key: &str) -> Files {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(file) = &self.file {
            loaded.refresh(file);
        }
        loaded.environments.get(key).cloned().unwrap_or_default()
    }

    /// Environment `key` now has these files (added to what it had).
    pub fn add(&self, key: &str, sent: impl IntoIterator<Item = (String, String)>) {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        // Held while reading, merging and writing, so that no process's
        // additions are lost to another's write.
        let _lock = self.file.as_deref().and_then(|file| match ExclusiveLock::on(&file.with_extension("lock")) {
            Ok(lock) => Some(lock),
            Err(e) => {
                tracing::warn!("could not lock the mirror record {}: {e}", file.display());
                None
            }
        });
        if let Some(file) = &self.file {
            loaded.refresh(file);
        }
        let environments = &mut loaded.environments;
        environments.entry(key.to_owned()).or_default().extend(sent);
        // Only the last hundred environments are worth remembering.
        while environments.len() > 100 {
            let Some(oldest) = environments.keys().next().cloned() else { break };
            environments.remove(&oldest);
        }
        if let Some(file) = &self.file {
            let bytes = serde_json::to_vec(&*environments).unwrap_or_default();
            match write_private(file, &bytes) {
                Ok(()) => loaded.stamp = stamp_of(file),
                Err(e) => tracing::warn!("could not keep the mirror record in {}: {e}", file.display()),
            }
        }
    }
}

/// An exclusive `flock` on a lock file (made owner-only), released on drop.
struct ExclusiveLock {
    _file: std::fs::File,
}

impl ExclusiveLock {
    fn on(path: &Path) -> std::io::Result<Self> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(path)?;
        // SAFETY: flock on a descriptor `file` owns; released when it closes.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self { _file: file })
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

    /// Two processes (the editor's server and an agent's) on one file: each
    /// sees what the other sent, and neither's write loses the other's.
    #[test]
    fn processes_sharing_the_file_see_each_others_sends() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mirrors.json");
        let (editor, agent) = (MirrorRecord::persistent(file.clone()), MirrorRecord::persistent(file.clone()));
        editor.add("e1", [("helpers.py".to_owned(), "v1".to_owned())]);
        assert_eq!(agent.files("e1")["helpers.py"], "v1");
        // The agent changes helpers.py and sends it: the editor must not
        // believe the environment still has v1 (a user's undo back to v1
        // would then not be sent).
        agent.add("e1", [("helpers.py".to_owned(), "v2".to_owned())]);
        assert_eq!(editor.files("e1")["helpers.py"], "v2");
        editor.add("e1", [("data.csv".to_owned(), "d1".to_owned())]);
        let seen = agent.files("e1");
        assert_eq!((seen["helpers.py"].as_str(), seen["data.csv"].as_str()), ("v2", "d1"));
        assert_eq!(MirrorRecord::persistent(file).files("e1").len(), 2);
    }
}
