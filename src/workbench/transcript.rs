//! Transcripts: one per workspace, newest run last, bounded, and mirrored
//! to an owner-only file for clients that open only real files. Front ends
//! serve them (the language server as its output document).

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::clock::timestamp;
use super::naming::workspace_names;
use super::records::{RunRecord, RunState, duration_text};
use super::shared::{SharedLogs, Source};
use crate::run::RunResult;

struct Transcript {
    root: PathBuf,
    entries: VecDeque<String>,
    bytes: usize,
    dropped: usize,
}

/// All transcripts of this process, by workspace root.
pub struct Transcripts {
    by_root: Arc<Mutex<HashMap<PathBuf, Transcript>>>,
    mirror_dir: Option<PathBuf>,
    /// Transcripts whose file copy is due to be rewritten.
    mirror_due: Arc<Mutex<HashSet<PathBuf>>>,
    /// Where this process's entries are shared with other processes (an
    /// agent's server shares them with the editor's).
    publisher: std::sync::OnceLock<(SharedLogs, Source)>,
}

/// How long the file copy may lag behind the transcript: writes are
/// gathered, and kept off the runs' path.
const MIRROR_DELAY: std::time::Duration = std::time::Duration::from_millis(50);

impl Transcripts {
    /// `mirror_dir`: where the file copies go (`None`: no files).
    pub fn new(mirror_dir: Option<PathBuf>) -> Self {
        Self { by_root: Arc::default(), mirror_dir, mirror_due: Arc::default(), publisher: Default::default() }
    }

    /// A short, stable name for a workspace's transcript (see
    /// [`workspace_names`]).
    pub fn parts(root: &Path) -> (String, String) {
        workspace_names(root)
    }

    /// The file copy of a workspace's transcript.
    pub fn file_for(&self, root: &Path) -> Option<PathBuf> {
        let (hash, name) = Self::parts(root);
        Some(self.mirror_dir.as_ref()?.join(format!("{hash}-{name}-output.txt")))
    }

    /// The workspaces that have a transcript.
    pub fn roots(&self) -> Vec<PathBuf> {
        self.by_root.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
    }

    /// From now on, every entry is also published in `logs` as `source`'s.
    pub fn publish_as(&self, logs: SharedLogs, source: Source) {
        let _ = self.publisher.set((logs, source));
    }

    /// Adds an entry; keeps at most `limit` bytes (oldest entries go first).
    /// The file copy follows shortly after, in the background; so does the
    /// shared log's copy, for a process that publishes.
    pub fn append(&self, root: &Path, entry: String, limit: usize) {
        if let Some((logs, source)) = self.publisher.get() {
            logs.publish(root, *source, &entry);
        }
        self.append_shared(root, entry, limit);
    }

    /// Whether this process's entries are shared ([`Transcripts::publish_as`]).
    pub fn publishes(&self) -> bool {
        self.publisher.get().is_some()
    }

    /// Adds an entry another process published (not published again).
    pub fn append_shared(&self, root: &Path, entry: String, limit: usize) {
        {
            let mut all = self.by_root.lock().unwrap_or_else(|e| e.into_inner());
            let transcript = all.entry(root.to_path_buf()).or_insert_with(|| Transcript {
                root: root.to_path_buf(),
                entries: VecDeque::new(),
                bytes: 0,
                dropped: 0,
            });
            transcript.bytes += entry.len();
            transcript.entries.push_back(entry);
            while transcript.bytes > limit && transcript.entries.len() > 1 {
                if let Some(old) = transcript.entries.pop_front() {
                    transcript.bytes -= old.len();
                    transcript.dropped += 1;
                }
            }
        }
        self.schedule_mirror(root);
    }

    fn schedule_mirror(&self, root: &Path) {
        let Some(file) = self.file_for(root) else { return };
        let newly_due = self.mirror_due.lock().unwrap_or_else(|e| e.into_inner()).insert(file.clone());
        if !newly_due {
            return; // a write is already on its way and will take this entry
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.mirror_due.lock().unwrap_or_else(|e| e.into_inner()).remove(&file);
            self.write_mirror_now(root);
            return;
        };
        let (by_root, due, root) = (Arc::clone(&self.by_root), Arc::clone(&self.mirror_due), root.to_path_buf());
        runtime.spawn(async move {
            tokio::time::sleep(MIRROR_DELAY).await;
            due.lock().unwrap_or_else(|e| e.into_inner()).remove(&file);
            let text = by_root.lock().unwrap_or_else(|e| e.into_inner()).get(&root).map(render);
            if let Some(text) = text {
                let written =
                    tokio::task::spawn_blocking(move || write_private(&file, &text).map_err(|e| (file, e))).await;
                if let Ok(Err((file, e))) = written {
                    tracing::warn!("could not mirror the output to {}: {e}", file.display());
                }
            }
        });
    }

    /// Writes the file copy now (before it is opened).
    pub fn write_mirror_now(&self, root: &Path) -> Option<PathBuf> {
        let file = self.file_for(root)?;
        if let Err(e) = write_private(&file, &self.text(root)) {
            tracing::warn!("could not mirror the output to {}: {e}", file.display());
        }
        Some(file)
    }

    /// The transcript text of a workspace (an explanatory line when empty).
    pub fn text(&self, root: &Path) -> String {
        match self.by_root.lock().unwrap_or_else(|e| e.into_inner()).get(root) {
            Some(transcript) => render(transcript),
            None => {
                format!("# Azure sandbox output for {}\n\nNothing has run in this workspace yet.\n", root.display())
            }
        }
    }
}

fn render(transcript: &Transcript) -> String {
    let mut text = format!("# Azure sandbox output for {}\n", transcript.root.display());
    if transcript.dropped > 0 {
        text.push_str(&format!("# ({} older runs dropped to keep this transcript small)\n", transcript.dropped));
    }
    for entry in &transcript.entries {
        text.push('\n');
        text.push_str(entry);
    }
    text
}

/// Characters of a run's code an entry shows.
const CODE_LIMIT: usize = 20_000;

/// One run's entry: header, then (`with_code`: for runs another process
/// shows, whose code is in no editor) the code, then stdout, stderr, value
/// or reason.
pub fn entry(record: &RunRecord, sandbox: &str, with_code: bool) -> String {
    let mut text =
        format!("=== {} | {} | {} | {}", record.label, timestamp(record.requested_at), sandbox, record.status());
    if let RunState::Finished(f) = &record.state {
        if !matches!(f.result, RunResult::Succeeded { .. }) {
            // A success's status already says how long it took.
            text.push_str(&format!(" | {}", duration_text(f.duration())));
        }
    }
    text.push_str(" ===\n");
    if let Some(snippet) = record.snippet.as_ref().filter(|_| with_code) {
        text.push_str("--- code ---\n");
        match snippet.code.char_indices().nth(CODE_LIMIT) {
            Some((at, _)) => text.push_str(&format!("{}\n… (cut)\n", &snippet.code[..at])),
            None => text.push_str(snippet.code.trim_end()),
        }
        text.push('\n');
    }
    match &record.state {
        RunState::Finished(f) => {
            for notice in &f.notices {
                text.push_str(&format!("note: {}\n", notice.message()));
            }
            if !f.stdout.is_empty() {
                text.push_str("--- stdout ---\n");
                text.push_str(&f.stdout);
                if !f.stdout.ends_with('\n') {
                    text.push('\n');
                }
            }
            for (index, item) in f.displays.iter().enumerate() {
                match record.figures.iter().find(|fig| fig.display == index) {
                    Some(figure) => {
                        text.push_str(&format!("[figure] {}: {}\n", figure.describe(), figure.path.display()))
                    }
                    // The trailing value's text is its value, below.
                    None if item.is_result => {}
                    None => {
                        if let Some(plain) = item.plain() {
                            text.push_str(&format!("--- display ---\n{plain}\n"));
                        }
                    }
                }
            }
            for file in &f.files {
                text.push_str(&format!("[file] {} ({})\n", file.path, crate::run::human_bytes(file.size)));
            }
            if f.files_more > 0 {
                text.push_str(&format!("[file] … and {} more\n", f.files_more));
            }
            if !f.stderr.is_empty() {
                text.push_str("--- stderr ---\n");
                text.push_str(&f.stderr);
                if !f.stderr.ends_with('\n') {
                    text.push('\n');
                }
            }
            match &f.result {
                RunResult::Succeeded { value: Some(value) } => text.push_str(&format!("--- value ---\n{value}\n")),
                RunResult::Failed { reason, .. } if !f.stderr.contains(reason.as_str()) => {
                    text.push_str(&format!("--- stopped ---\n{reason}\n"))
                }
                _ => {}
            }
        }
        RunState::Failed(why) => text.push_str(&format!("not run: {}\n", why.message)),
        RunState::Cancelled => text.push_str("cancelled\n"),
        RunState::Queued | RunState::Running => {}
    }
    text
}

/// The mirror's files as a transcript entry: one line per file.
pub fn files_entry(listing: &crate::mirror::Listing) -> String {
    let mut text = format!("=== sandbox files | {} ===\n", timestamp(SystemTime::now()));
    if listing.files.is_empty() {
        text.push_str("The sandbox's copy of this workspace has no files yet.\n");
    } else {
        text.push_str(&format!("in {}\n", listing.root));
    }
    for file in &listing.files {
        text.push_str(&format!("{}  ({})\n", file.path, crate::run::human_bytes(file.size)));
    }
    if listing.more > 0 {
        text.push_str(&format!("… and {} more\n", listing.more));
    }
    text
}

/// A workspace's variables as a transcript entry: one line per name.
pub fn variables_entry(snapshot: &super::variables::Snapshot) -> String {
    use super::variables::SnapshotState;
    let mut text = format!("=== variables | {} ===\n", timestamp(SystemTime::now()));
    if let Some(reason) = snapshot.lost {
        text.push_str(&format!("note: {}\n", reason.message()));
    }
    if snapshot.state == SnapshotState::Empty {
        text.push_str("Nothing has run in this workspace's environment yet.\n");
    }
    let width = snapshot.entries.keys().map(|n| n.chars().count()).max().unwrap_or(0).min(24);
    for (name, entry) in &snapshot.entries {
        let value = &entry.value;
        let repr = value.repr.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
        let shape = value.shape.as_deref().map(|s| format!(" {s}")).unwrap_or_default();
        text.push_str(&format!("{name:<width$}  {}{shape}  {repr}  (run {})\n", value.type_name, entry.run_id));
    }
    text
}

fn write_private(file: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    let temporary = file.with_extension(format!("tmp{}", std::process::id()));
    let mut out = std::fs::OpenOptions::new().create(true).truncate(true).write(true).mode(0o600).open(&temporary)?;
    out.write_all(text.as_bytes())?;
    drop(out);
    std::fs::rename(temporary, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcripts_are_bounded_and_mirrored_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let transcripts = Transcripts::new(Some(dir.path().join("out")));
        let root = Path::new("/work/my project");
        assert_eq!(Transcripts::parts(root).1, "my_project");
        for i in 0..50 {
            transcripts.append(root, format!("=== run {i} ===\n{}\n", "x".repeat(100)), 1000);
        }
        let text = transcripts.text(root);
        assert!(text.contains("run 49") && !text.contains("run 0 ") && text.contains("older runs dropped"));
        assert_eq!(transcripts.roots(), vec![root.to_path_buf()]);
        // Outside a runtime the copy is written at once.
        let file = transcripts.file_for(root).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
