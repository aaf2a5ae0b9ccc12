//! One remote environment per workspace.
//!
//! Maps (endpoint, workspace root) to an environment id. Within a process a
//! per-key async mutex makes two runs that start together launch once. The
//! map is persisted (owner-only file, under a file lock) so that the command
//! line, a restarted editor and a second editor on the same workspace reuse
//! the same remote state.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::mcp::{EnvironmentId, McpError};

/// Entries unused for this long are dropped: no service keeps an idle
/// session that long (the cool-down is at most an hour).
const FORGET_AFTER_SECS: u64 = 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkspaceKey {
    /// The endpoint as displayed (no query, no key).
    pub endpoint: String,
    pub root: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RegistryFile {
    version: u32,
    environments: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    endpoint: String,
    workspace: PathBuf,
    #[serde(rename = "environmentId")]
    environment_id: EnvironmentId,
    #[serde(rename = "lastUsedAt")]
    last_used_at: u64,
}

type Slot = Arc<tokio::sync::Mutex<Option<EnvironmentId>>>;

pub struct Registry {
    file: Option<PathBuf>,
    slots: Mutex<HashMap<WorkspaceKey, Slot>>,
    /// When each workspace's `lastUsedAt` was last written by this process.
    touched: Mutex<HashMap<WorkspaceKey, std::time::Instant>>,
}

/// How often use of an environment is written back to the file.
const TOUCH_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

/// Which environment a run got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned {
    pub id: EnvironmentId,
    /// True when it was launched just now for this run.
    pub fresh: bool,
}

impl Registry {
    /// A registry that lives only as long as this process (the embedded
    /// local sandbox, whose environments die with the process anyway).
    pub fn in_memory() -> Self {
        Self { file: None, slots: Mutex::default(), touched: Mutex::default() }
    }

    pub fn persistent(file: PathBuf) -> Self {
        Self { file: Some(file), slots: Mutex::default(), touched: Mutex::default() }
    }

    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    fn slot(&self, key: &WorkspaceKey) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(slots.entry(key.clone()).or_default())
    }

    /// The workspace's environment, launching one (once) if it has none.
    pub async fn environment<F, Fut>(&self, key: &WorkspaceKey, launch: F) -> Result<Assigned, McpError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<EnvironmentId, McpError>>,
    {
        let slot = self.slot(key);
        let mut current = slot.lock().await;
        if let Some(id) = current.as_ref() {
            self.touch(key, id);
            return Ok(Assigned { id: id.clone(), fresh: false });
        }
        if let Some(id) = self.load(key) {
            self.touch(key, &id);
            *current = Some(id.clone());
            return Ok(Assigned { id, fresh: false });
        }
        let launched = launch().await?;
        // Another process may have launched one meanwhile; prefer theirs so
        // both share state (ours is never used and expires).
        let id = self.store(key, &launched, None);
        *current = Some(id.clone());
        Ok(Assigned { fresh: id == launched, id })
    }

    /// Replaces `stale` (reported gone by the service) with a new environment.
    /// If another run already replaced it, that one is returned.
    pub async fn replace<F, Fut>(
        &self,
        key: &WorkspaceKey,
        stale: &EnvironmentId,
        launch: F,
    ) -> Result<Assigned, McpError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<EnvironmentId, McpError>>,
    {
        let slot = self.slot(key);
        let mut current = slot.lock().await;
        if let Some(id) = current.as_ref().filter(|id| *id != stale) {
            return Ok(Assigned { id: id.clone(), fresh: false });
        }
        let launched = launch().await?;
        let id = self.store(key, &launched, Some(stale));
        *current = Some(id.clone());
        Ok(Assigned { fresh: id == launched, id })
    }

    /// Forgets the workspace's environment (restart); returns what it was.
    pub async fn forget(&self, key: &WorkspaceKey) -> Option<EnvironmentId> {
        let slot = self.slot(key);
        let mut current = slot.lock().await;
        let old = current.take().or_else(|| self.load(key));
        if self.file.is_some() {
            let _ = self.update(|file| file.environments.retain(|e| !matches(e, key)));
        }
        old
    }

    /// Forgets every environment recorded for `endpoint`: a sandbox that
    /// just started there (the embedded one, on a port an earlier one may
    /// have had) holds none of them, and a run must not be told it lost a
    /// state it never had.
    pub fn forget_endpoint(&self, endpoint: &str) {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).retain(|key, _| key.endpoint != endpoint);
        if let Err(e) = self.update(|file| file.environments.retain(|e| e.endpoint != endpoint)) {
            tracing::debug!("could not update the environment registry: {e}");
        }
    }

    /// The current environment of a workspace, without launching.
    pub fn current(&self, key: &WorkspaceKey) -> Option<EnvironmentId> {
        let slot = self.slot(key);
        let known = slot.try_lock().ok().and_then(|c| c.clone());
        known.or_else(|| self.load(key))
    }

    /// Records that the environment is in use, so a busy workspace's entry
    /// does not age out. Written at most every few minutes.
    fn touch(&self, key: &WorkspaceKey, id: &EnvironmentId) {
        if self.file.is_none() {
            return;
        }
        {
            let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
            if touched.get(key).is_some_and(|at| at.elapsed() < TOUCH_EVERY) {
                return;
            }
            touched.insert(key.clone(), std::time::Instant::now());
        }
        let result = self.update(|file| {
            if let Some(entry) = file.environments.iter_mut().find(|e| matches(e, key) && e.environment_id == *id) {
                entry.last_used_at = now_secs();
            }
        });
        if let Err(e) = result {
            tracing::warn!("could not save the environment registry: {e}");
        }
    }

    fn load(&self, key: &WorkspaceKey) -> Option<EnvironmentId> {
        let path = self.file.as_ref()?;
        let file = read_file(path).ok()?;
        let now = now_secs();
        file.environments
            .into_iter()
            .find(|e| matches(e, key) && now.saturating_sub(e.last_used_at) < FORGET_AFTER_SECS)
            .map(|e| e.environment_id)
    }

    /// Records `id` for `key` unless the file already holds another live id
    /// (other than `stale`) for it; returns the id that won.
    fn store(&self, key: &WorkspaceKey, id: &EnvironmentId, stale: Option<&EnvironmentId>) -> EnvironmentId {
        if self.file.is_none() {
            return id.clone();
        }
        let mut winner = id.clone();
        let result = self.update(|file| {
            let now = now_secs();
            file.environments.retain(|e| now.saturating_sub(e.last_used_at) < FORGET_AFTER_SECS);
            match file.environments.iter_mut().find(|e| matches(e, key)) {
                Some(existing) if Some(&existing.environment_id) != stale && existing.environment_id != *id => {
                    existing.last_used_at = now;
                    winner = existing.environment_id.clone();
                }
                Some(existing) => {
                    existing.environment_id = id.clone();
                    existing.last_used_at = now;
                }
                None => file.environments.push(Entry {
                    endpoint: key.endpoint.clone(),
                    workspace: key.root.clone(),
                    environment_id: id.clone(),
                    last_used_at: now,
                }),
            }
        });
        if let Err(e) = result {
            tracing::warn!("could not save the environment registry: {e}");
        }
        winner
    }

    /// Read-modify-write under an exclusive lock on a sibling lock file.
    fn update(&self, change: impl FnOnce(&mut RegistryFile)) -> std::io::Result<()> {
        let Some(path) = self.file.as_ref() else { return Ok(()) };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path.with_extension("lock"))?;
        let _held = FileLock::exclusive(&lock)?;
        let mut file = read_file(path).unwrap_or_default();
        change(&mut file);
        file.version = 1;
        let temporary = path.with_extension(format!("tmp{}", std::process::id()));
        {
            let mut out = OpenOptions::new().create(true).truncate(true).write(true).mode(0o600).open(&temporary)?;
            out.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            out.write_all(&serde_json::to_vec_pretty(&file).unwrap_or_default())?;
            out.sync_all()?;
        }
        std::fs::rename(&temporary, path)
    }
}

fn matches(entry: &Entry, key: &WorkspaceKey) -> bool {
    entry.endpoint == key.endpoint && entry.workspace == key.root
}

fn read_file(path: &Path) -> std::io::Result<RegistryFile> {
    let mut text = String::new();
    File::open(path)?.read_to_string(&mut text)?;
    // A corrupt file is treated as empty, not as an error: it only caches ids.
    Ok(serde_json::from_str(&text).unwrap_or_default())
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

struct FileLock<'a>(&'a File);

impl<'a> FileLock<'a> {
    fn exclusive(file: &'a File) -> std::io::Result<Self> {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a file descriptor we own for the guard's lifetime.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self(file))
    }
}

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: as above.
        unsafe {
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

/// The workspace of a file: the nearest ancestor holding `.git`, else the
/// file's own directory.
pub fn workspace_root(file: &Path) -> PathBuf {
    let absolute = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let start = if absolute.is_dir() { absolute.as_path() } else { absolute.parent().unwrap_or(Path::new("/")) };
    start.ancestors().find(|dir| dir.join(".git").exists()).unwrap_or(start).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key(root: &str) -> WorkspaceKey {
        WorkspaceKey { endpoint: "http://127.0.0.1:1/mcp".into(), root: root.into() }
    }

    #[tokio::test]
    async fn concurrent_first_runs_launch_once() {
        let registry = Arc::new(Registry::in_memory());
        let launches = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (registry, launches) = (Arc::clone(&registry), Arc::clone(&launches));
            tasks.push(tokio::spawn(async move {
                registry
                    .environment(&key("/w"), || async {
                        launches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        Ok(EnvironmentId("e1".into()))
                    })
                    .await
                    .unwrap()
                    .id
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), EnvironmentId("e1".into()));
        }
        assert_eq!(launches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn persisted_owner_only_and_shared_between_registries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("environments.json");
        let first = Registry::persistent(path.clone());
        let got = first.environment(&key("/w"), || async { Ok(EnvironmentId("e1".into())) }).await.unwrap();
        assert!(got.fresh);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        // A second process (another registry on the same file) reuses it.
        let second = Registry::persistent(path.clone());
        let got = second.environment(&key("/w"), || async { panic!("must not launch") }).await.unwrap();
        assert_eq!((got.id.0.as_str(), got.fresh), ("e1", false));
        // Replacing a stale id launches anew; forgetting removes it.
        let got = second
            .replace(&key("/w"), &EnvironmentId("e1".into()), || async { Ok(EnvironmentId("e2".into())) })
            .await
            .unwrap();
        assert_eq!(got.id.0, "e2");
        assert_eq!(Registry::persistent(path.clone()).current(&key("/w")), Some(EnvironmentId("e2".into())));
        assert_eq!(second.forget(&key("/w")).await, Some(EnvironmentId("e2".into())));
        assert_eq!(Registry::persistent(path).current(&key("/w")), None);
    }

    #[tokio::test]
    async fn a_sandbox_new_on_an_endpoint_forgets_its_environments_there_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("environments.json");
        let other = WorkspaceKey { endpoint: "http://127.0.0.1:2/mcp".into(), root: "/w".into() };
        let registry = Registry::persistent(path.clone());
        registry.environment(&key("/w"), || async { Ok(EnvironmentId("old".into())) }).await.unwrap();
        registry.environment(&other, || async { Ok(EnvironmentId("kept".into())) }).await.unwrap();
        Registry::persistent(path.clone()).forget_endpoint("http://127.0.0.1:1/mcp");
        assert_eq!(Registry::persistent(path.clone()).current(&key("/w")), None);
        assert_eq!(Registry::persistent(path).current(&other), Some(EnvironmentId("kept".into())));
        registry.forget_endpoint("http://127.0.0.1:1/mcp");
        let got = registry.environment(&key("/w"), || async { Ok(EnvironmentId("new".into())) }).await.unwrap();
        assert_eq!((got.id.0.as_str(), got.fresh), ("new", true), "this process forgot its own too");
    }

    #[tokio::test]
    async fn corrupt_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("environments.json");
        std::fs::write(&path, "{not json").unwrap();
        let registry = Registry::persistent(path);
        let got = registry.environment(&key("/w"), || async { Ok(EnvironmentId("e9".into())) }).await.unwrap();
        assert_eq!(got.id.0, "e9");
    }

    #[test]
    fn workspace_root_is_nearest_git_ancestor() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("repo/.git")).unwrap();
        std::fs::create_dir_all(root.join("repo/pkg")).unwrap();
        std::fs::write(root.join("repo/pkg/a.py"), "").unwrap();
        std::fs::write(root.join("loose.py"), "").unwrap();
        assert_eq!(workspace_root(&root.join("repo/pkg/a.py")), root.join("repo"));
        assert_eq!(workspace_root(&root.join("loose.py")), root);
    }
}
