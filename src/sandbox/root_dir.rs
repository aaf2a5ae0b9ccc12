//! The sandbox's own directory (`azure-sandbox-local-<random>` under the
//! temporary directory), which holds every environment's files, and the
//! clean-up of those a sandbox that was killed left behind.
//!
//! A sandbox removes its directory when it stops, but not when it is killed
//! (an editor that crashed, `kill -9`, a test harness), and the directories
//! hold the user's mirrored files and whatever their code wrote. So each
//! directory has a sibling `<dir>.lock` that its sandbox holds locked
//! (`flock`) while it lives: the kernel drops the lock when the process dies,
//! however it dies, and the next sandbox to start removes every directory
//! whose lock it can take.

use std::fs::File;
use std::path::{Path, PathBuf};

const PREFIX: &str = "azure-sandbox-local-";
const LOCK_SUFFIX: &str = ".lock";

/// A sandbox's directory, removed with its lock when dropped.
#[derive(Debug)]
pub struct RootDir {
    path: PathBuf,
    /// Held locked for the sandbox's lifetime (the lock dies with the file).
    lock: Option<File>,
}

impl RootDir {
    /// Creates a new directory under `base` (the temporary directory when
    /// `None`), after removing the ones dead sandboxes left there.
    /// `shared_with_private_uids`: the environments run as other users, who
    /// must reach their own directory inside but not list the others.
    pub fn create(base: Option<&Path>, shared_with_private_uids: bool) -> Result<Self, String> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        let base = base.map(Path::to_path_buf).unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
        remove_abandoned(&base);
        let suffix: u64 = rand::random();
        let path = base.join(format!("{PREFIX}{suffix:016x}"));
        // The lock first, locked, then the directory: a sandbox cleaning up
        // never sees this directory without its lock held.
        let lock_path = lock_path_of(&path);
        let lock = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| format!("cannot create {}: {e}", lock_path.display()))?;
        // From here on, an error removes what was made (on drop).
        let root = Self { path, lock: Some(lock) };
        if !try_lock(root.lock.as_ref().expect("just set")) {
            let e = std::io::Error::last_os_error();
            return Err(format!("cannot lock {}: {e}", lock_path.display()));
        }
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&root.path)
            .map_err(|e| format!("cannot create the sandbox directory {}: {e}", root.path.display()))?;
        if shared_with_private_uids {
            std::fs::set_permissions(&root.path, std::fs::Permissions::from_mode(0o711)).map_err(|e| e.to_string())?;
        }
        Ok(root)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the directory and its lock (also done on drop).
    pub fn remove(&mut self) {
        if let Some(lock) = self.lock.take() {
            // A spare interpreter's directory may be in the making as the
            // sandbox stops: what it adds after the first pass makes that
            // pass fail, so once more a moment later.
            if std::fs::remove_dir_all(&self.path).is_err() && self.path.exists() {
                std::thread::sleep(std::time::Duration::from_millis(50));
                let _ = std::fs::remove_dir_all(&self.path);
            }
            // The lock goes only with the directory: a directory left with
            // its lock (free once this process ends) is removed by the next
            // sandbox to start, one left without would stay. Unlinked while
            // still locked, so nobody takes it in between.
            if !self.path.exists() {
                let _ = std::fs::remove_file(lock_path_of(&self.path));
            }
            drop(lock);
        }
    }
}

impl Drop for RootDir {
    fn drop(&mut self) {
        self.remove();
    }
}

/// An exclusive `flock` on `file`, if nobody holds one (`File::try_lock`
/// is newer than this crate's minimum Rust).
fn try_lock(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor `file` owns for the call.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

fn lock_path_of(dir: &Path) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(LOCK_SUFFIX);
    PathBuf::from(name)
}

/// Removes every sandbox directory under `base` whose lock is free (its
/// sandbox is gone), with its lock. Directories with no lock file (from
/// older versions) and those of other users (whose locks this process may
/// not open) are left alone.
pub fn remove_abandoned(base: &Path) -> usize {
    let mut removed = 0;
    for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(PREFIX) || name.ends_with(LOCK_SUFFIX) {
            continue;
        }
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let dir = entry.path();
        let lock_path = lock_path_of(&dir);
        let Ok(lock) = std::fs::OpenOptions::new().write(true).open(&lock_path) else { continue };
        if !try_lock(&lock) {
            continue; // its sandbox is alive
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {
                removed += 1;
                tracing::info!(
                    "removed {}, left by a local sandbox that was stopped without cleaning up",
                    dir.display()
                );
                let _ = std::fs::remove_file(&lock_path);
            }
            Err(e) => tracing::warn!("cannot remove {}, left by a stopped local sandbox: {e}", dir.display()),
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_directory_is_kept_and_a_dead_one_removed() {
        let base = tempfile::tempdir().unwrap();
        let mut live = RootDir::create(Some(base.path()), false).unwrap();
        std::fs::write(live.path().join("data.csv"), "a\n").unwrap();
        // A sandbox killed before it could clean up: its directory and an
        // unlocked lock file stay.
        let dead = base.path().join(format!("{PREFIX}00000000000000aa"));
        std::fs::create_dir_all(dead.join("env-1")).unwrap();
        std::fs::write(dead.join("env-1/out.csv"), "x\n").unwrap();
        std::fs::write(lock_path_of(&dead), "").unwrap();
        // An older version's directory, with no lock: left alone.
        let legacy = base.path().join(format!("{PREFIX}00000000000000bb"));
        std::fs::create_dir(&legacy).unwrap();

        assert_eq!(remove_abandoned(base.path()), 1);
        assert!(!dead.exists() && !lock_path_of(&dead).exists());
        assert!(live.path().join("data.csv").exists() && legacy.exists());

        let path = live.path().to_path_buf();
        live.remove();
        assert!(!path.exists() && !lock_path_of(&path).exists());
    }
}
