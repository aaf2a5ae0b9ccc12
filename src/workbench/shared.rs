//! Transcript entries shared between processes on this machine.
//!
//! An agent's MCP server and the editor's language server are separate
//! processes working in the same environment. The agent's process publishes
//! each transcript entry it makes; the editor's process follows the
//! workspace's log and adds those entries to its own transcript, marked as
//! the agent's, so the user sees what the agent ran.
//!
//! One append-only file per workspace in the cache directory, owner-only
//! (directory 0700, file 0600), one JSON object per line. It holds what a
//! transcript holds (code, output, file names), never a key: keys live in
//! the HTTP clients and are never part of an entry. A file over
//! [`FILE_LIMIT`] is emptied before the next entry (followers start over).

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::naming::workspace_names;

/// Bytes a workspace's shared log may grow to before it is emptied.
const FILE_LIMIT: u64 = 4 << 20;
/// How often a follower looks for new entries: well inside the second in
/// which the user should see what an agent did.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(200);

/// Who made an entry, as the user is shown it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// An agent, through `azure-sandbox-lsp mcp`.
    Agent,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Agent => "agent",
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Line {
    /// The writing process, so a process skips its own entries.
    pid: u32,
    source: Source,
    entry: String,
}

/// The shared logs' directory (none without a cache directory).
#[derive(Clone)]
pub struct SharedLogs {
    dir: Option<PathBuf>,
}

impl SharedLogs {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir }
    }

    /// `<cache>/shared`.
    pub fn in_cache() -> Self {
        Self::new(crate::config::cache_dir().map(|dir| dir.join("shared")))
    }

    /// Workspace `root`'s log file.
    pub fn file_for(&self, root: &Path) -> Option<PathBuf> {
        let (hash, name) = workspace_names(root);
        Some(self.dir.as_ref()?.join(format!("{hash}-{name}.jsonl")))
    }

    /// Appends `entry` to workspace `root`'s log. Failures are logged, not
    /// returned: sharing is a courtesy, never a reason for a run to fail.
    pub fn publish(&self, root: &Path, source: Source, entry: &str) {
        let Some(file) = self.file_for(root) else { return };
        let line = Line { pid: std::process::id(), source, entry: entry.to_owned() };
        let Ok(mut text) = serde_json::to_string(&line) else { return };
        text.push('\n');
        if let Err(e) = append_private(&file, text.as_bytes()) {
            tracing::warn!("could not share a transcript entry in {}: {e}", file.display());
        }
    }

    /// Follows workspace `root`'s log from its current end: calls `seen`
    /// with each entry other processes add, marked with its source.
    /// Returns when `seen` returns false.
    pub async fn follow(&self, root: PathBuf, mut seen: impl FnMut(Source, String) -> bool) {
        let Some(file) = self.file_for(&root) else { return };
        let mut offset = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        let own = std::process::id();
        let mut ticker = tokio::time::interval(FOLLOW_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let (lines, next) = match read_new_lines(&file, offset) {
                Ok(read) => read,
                Err(e) => {
                    tracing::debug!("cannot read {}: {e}", file.display());
                    continue;
                }
            };
            offset = next;
            for line in lines {
                let Ok(line) = serde_json::from_str::<Line>(&line) else { continue };
                if line.pid != own && !seen(line.source, mark(&line.entry, line.source)) {
                    return;
                }
            }
        }
    }
}

/// The complete lines after `offset`, and the offset after them. A file
/// shorter than `offset` was emptied: read it from the start.
fn read_new_lines(file: &Path, offset: u64) -> std::io::Result<(Vec<String>, u64)> {
    let mut handle = match std::fs::File::open(file) {
        Ok(handle) => handle,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let len = handle.metadata()?.len();
    let start = if len < offset { 0 } else { offset };
    if len == start {
        return Ok((Vec::new(), start));
    }
    handle.seek(SeekFrom::Start(start))?;
    // At most one file's worth: it is emptied past FILE_LIMIT.
    let mut bytes = Vec::new();
    handle.take(FILE_LIMIT * 2).read_to_end(&mut bytes)?;
    // A line still being written waits for its newline.
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |at| at + 1);
    let lines = String::from_utf8_lossy(&bytes[..complete]).lines().map(str::to_owned).collect();
    Ok((lines, start + complete as u64))
}

/// An entry as the user sees it in another process: its header names who
/// ran it (`=== [agent] main.py:3 | … ===`).
fn mark(entry: &str, source: Source) -> String {
    match entry.strip_prefix("=== ") {
        Some(rest) => format!("=== [{}] {rest}", source.label()),
        None => format!("[{}] {entry}", source.label()),
    }
}

fn append_private(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    let mut handle = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(file)?;
    if handle.metadata()?.len() > FILE_LIMIT {
        handle.set_len(0)?;
    }
    // One write per line: appends of a few KB from two processes do not
    // interleave on a local file system.
    handle.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_marked_with_their_source() {
        assert_eq!(
            mark("=== a.py:1 | t | local sandbox | ✓ 1 ms ===\nx\n", Source::Agent).lines().next(),
            Some("=== [agent] a.py:1 | t | local sandbox | ✓ 1 ms ===")
        );
        assert_eq!(mark("files: a", Source::Agent), "[agent] files: a");
    }

    #[test]
    fn only_complete_lines_are_read_and_an_emptied_file_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("log.jsonl");
        std::fs::write(&file, "one\ntw").unwrap();
        let (lines, offset) = read_new_lines(&file, 0).unwrap();
        assert_eq!((lines, offset), (vec!["one".to_owned()], 4));
        std::fs::write(&file, "one\ntwo\n").unwrap();
        assert_eq!(read_new_lines(&file, 4).unwrap(), (vec!["two".to_owned()], 8));
        std::fs::write(&file, "x\n").unwrap();
        assert_eq!(read_new_lines(&file, 8).unwrap(), (vec!["x".to_owned()], 2));
        assert_eq!(read_new_lines(&dir.path().join("none"), 5).unwrap(), (Vec::new(), 0));
    }

    #[test]
    fn the_log_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let logs = SharedLogs::new(Some(dir.path().join("shared")));
        logs.publish(Path::new("/w/proj"), Source::Agent, "=== x ===\n");
        let file = logs.file_for(Path::new("/w/proj")).unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(file.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        let text = std::fs::read_to_string(file).unwrap();
        assert!(text.ends_with("\n") && text.contains("\"source\":\"agent\""), "{text}");
    }
}
