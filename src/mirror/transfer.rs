//! Moving files between the workspace and its environment. In: Python code
//! carrying the files (zlib, base64), which checks each file's SHA-256 and moves
//! it into place whole (a big file is written in parts beside the mirror,
//! then checked and moved). Out: the runtime keeps the file's bytes as a
//! record and the bulk channel fetches it; the client checks the hash and
//! never overwrites a local file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::record::MirrorRecord;
use super::rules::MirrorRules;
use super::scan::{LocalFile, Scan, ScanError, scan, scan_paths, sha256_hex};
use crate::mcp::{EnvironmentId, McpError};
use crate::run::wrapper::{self, MARKER};
use crate::run::{Engine, WorkspaceKey};

/// File bytes per request (before base64): well within any request limit.
const REQUEST_BYTES: usize = 192 * 1024;
/// Changes up to this many bytes ride on the run's own request.
const INLINE_BYTES: u64 = 64 * 1024;
/// Requests in flight at once.
const IN_FLIGHT: usize = 8;
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);

/// What a sync or a send did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Files sent, and their bytes.
    pub files: usize,
    pub bytes: u64,
    /// Files the environment already had.
    pub unchanged: usize,
    /// Files left out because they look like secrets.
    pub secrets: Vec<String>,
    /// Requests made.
    pub requests: usize,
    /// The workspace-relative paths of the files sent.
    pub sent: Vec<String>,
}

#[derive(Debug)]
pub enum MirrorError {
    Scan(ScanError),
    Sandbox(McpError),
    /// The environment refused or could not check a file, or answered
    /// something unreadable.
    Transfer(String),
    /// Nothing is at that path in the environment.
    Missing(String),
}

impl std::fmt::Display for MirrorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MirrorError::Scan(e) => e.fmt(f),
            MirrorError::Sandbox(e) => e.fmt(f),
            MirrorError::Transfer(why) => write!(f, "the workspace mirror: {why}"),
            MirrorError::Missing(path) => write!(f, "{path} is not in the sandbox's copy of the workspace"),
        }
    }
}

impl std::error::Error for MirrorError {}

impl From<McpError> for MirrorError {
    fn from(e: McpError) -> Self {
        MirrorError::Sandbox(e)
    }
}

impl From<ScanError> for MirrorError {
    fn from(e: ScanError) -> Self {
        MirrorError::Scan(e)
    }
}

/// Reports bytes sent so far of a total.
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Send + Sync);

/// What a sync did, and what it left for the run's own request to carry.
#[derive(Debug, Clone, Default)]
pub struct Synced {
    pub report: SyncReport,
    /// Changes small enough to go with the run (see [`Synced::confirm`]):
    /// `(path, SHA-256, base64)`, for [`crate::run::MirrorSpec::files`].
    pub inline: Vec<(String, String, String)>,
    /// The environment the record is kept for.
    environment: Option<EnvironmentId>,
}

impl Synced {
    /// The run carried [`Synced::inline`]: records what arrived (all but
    /// `failed`, the paths the environment refused).
    pub fn confirm(&self, key: &WorkspaceKey, record: &MirrorRecord, failed: &[String]) {
        let Some(environment) = &self.environment else { return };
        let arrived = self.inline.iter().filter(|(rel, _, _)| !failed.contains(rel));
        record.add(&record_key(key, environment), arrived.map(|(rel, sha, _)| (rel.clone(), sha.clone())));
    }
}

/// Sends what changed in the workspace (under `rules`) since the
/// environment last saw it. Nothing changed: no request at all; a small
/// change is left for the run's own request to carry ([`Synced::inline`]).
pub async fn sync(
    engine: &Engine,
    key: &WorkspaceKey,
    rules: &MirrorRules,
    record: &MirrorRecord,
    progress: Progress<'_>,
) -> Result<Synced, MirrorError> {
    let (root, rules) = (key.root.clone(), rules.clone());
    let scan = tokio::task::spawn_blocking(move || scan(&root, &rules))
        .await
        .map_err(|e| MirrorError::Transfer(format!("the scan stopped: {e}")))??;
    // Launched here, the environment's first run still brings the runtime.
    engine.prepare(key).await?;
    let assigned = engine.environment(key).await?;
    let had = record.files(&record_key(key, &assigned.id));
    let todo: Vec<&LocalFile> = scan.files.iter().filter(|f| had.get(&f.rel) != Some(&f.sha256)).collect();
    if todo.iter().map(|f| f.size).sum::<u64>() <= INLINE_BYTES {
        let mut inline = Vec::new();
        for file in &todo {
            // The hash of the bytes sent (the file may change meanwhile).
            let Some(bytes) = read_now(file).await? else { continue };
            let data = base64::engine::general_purpose::STANDARD.encode(&bytes);
            inline.push((file.rel.clone(), sha256_hex(&bytes), data));
        }
        let report = SyncReport {
            sent: inline.iter().map(|(rel, _, _)| rel.clone()).collect(),
            files: inline.len(),
            bytes: todo.iter().map(|f| f.size).sum(),
            unchanged: scan.files.len() - todo.len(),
            secrets: scan.secrets.clone(),
            requests: 0,
        };
        return Ok(Synced { report, inline, environment: Some(assigned.id) });
    }
    let report = deliver(engine, key, scan, record, false, progress).await?;
    Ok(Synced { report, inline: Vec::new(), environment: None })
}

/// Sends the files and folders the user named (even ignored ones; never a
/// secret or anything outside the workspace), whatever the record says.
pub async fn send(
    engine: &Engine,
    key: &WorkspaceKey,
    paths: &[PathBuf],
    record: &MirrorRecord,
    progress: Progress<'_>,
) -> Result<SyncReport, MirrorError> {
    let (root, paths) = (key.root.clone(), paths.to_vec());
    let scan = tokio::task::spawn_blocking(move || scan_paths(&root, &paths))
        .await
        .map_err(|e| MirrorError::Transfer(format!("the scan stopped: {e}")))??;
    deliver(engine, key, scan, record, true, progress).await
}

async fn deliver(
    engine: &Engine,
    key: &WorkspaceKey,
    scan: Scan,
    record: &MirrorRecord,
    force: bool,
    progress: Progress<'_>,
) -> Result<SyncReport, MirrorError> {
    let name = super::names::mirror_name(&key.root);
    // Launched here, the environment's first run still brings the runtime.
    engine.prepare(key).await?;
    let assigned = engine.environment(key).await?;
    let mut environment = assigned.id;
    let had = record.files(&record_key(key, &environment));
    let todo: Vec<&LocalFile> = scan.files.iter().filter(|f| force || had.get(&f.rel) != Some(&f.sha256)).collect();
    let mut report =
        SyncReport { unchanged: scan.files.len() - todo.len(), secrets: scan.secrets.clone(), ..Default::default() };
    if todo.is_empty() {
        return Ok(report);
    }
    let sent = match put(engine, &environment, &name, &todo, progress).await {
        Err(MirrorError::Sandbox(e)) if e.is_environment_gone() => {
            // Relaunched: the new environment gets everything.
            environment = engine.replace_gone(key, &environment).await?.id;
            let all: Vec<&LocalFile> = scan.files.iter().collect();
            report.unchanged = 0;
            put(engine, &environment, &name, &all, progress).await?
        }
        other => other?,
    };
    report.files = sent.files.len();
    report.bytes = sent.bytes;
    report.requests = sent.requests;
    report.sent = sent.files.iter().map(|(rel, _)| rel.clone()).collect();
    record.add(&record_key(key, &environment), sent.files);
    Ok(report)
}

fn record_key(key: &WorkspaceKey, environment: &EnvironmentId) -> String {
    format!("{}#{}", key.endpoint, environment)
}

struct Sent {
    /// (relative path, hash) of each file now in place.
    files: Vec<(String, String)>,
    bytes: u64,
    requests: usize,
}

/// A file's bytes as they are now; `None` if it went away since the scan
/// (a temporary file renamed away): it is simply not sent.
async fn read_now(file: &LocalFile) -> Result<Option<Vec<u8>>, MirrorError> {
    match tokio::fs::read(&file.path).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(MirrorError::Transfer(format!("cannot read {}: {e}", file.rel))),
    }
}

/// One entry of a request: a whole file (`w`), a part of a big one (`p`),
/// or the check-and-move of a big one whose parts all arrived (`c`).
fn item(kind: &str, rel: &str, sha: &str, data: Value, offset: usize) -> Value {
    json!([kind, rel, sha, data, offset])
}

async fn put(
    engine: &Engine,
    environment: &EnvironmentId,
    name: &str,
    files: &[&LocalFile],
    progress: Progress<'_>,
) -> Result<Sent, MirrorError> {
    // Read now: the hash sent is that of these bytes, so a file that
    // changes meanwhile arrives as it was read, and its change next time.
    let mut requests: Vec<(Vec<Value>, u64)> = vec![(Vec::new(), 0)];
    let mut commits = Vec::new();
    let mut sent = Sent { files: Vec::new(), bytes: 0, requests: 0 };
    // Compressed (fast, level 1): code and data files shrink several times,
    // and the environment has less to decode.
    let b64 = |bytes: &[u8]| {
        let packed = miniz_oxide::deflate::compress_to_vec_zlib(bytes, 1);
        Value::String(base64::engine::general_purpose::STANDARD.encode(packed))
    };
    for file in files {
        let Some(bytes) = read_now(file).await? else { continue };
        let sha = sha256_hex(&bytes);
        sent.bytes += bytes.len() as u64;
        sent.files.push((file.rel.clone(), sha.clone()));
        if bytes.len() <= REQUEST_BYTES {
            if requests.last().is_some_and(|(_, size)| *size + bytes.len() as u64 > REQUEST_BYTES as u64) {
                requests.push((Vec::new(), 0));
            }
            let last = requests.last_mut().expect("one request at least");
            last.0.push(item("w", &file.rel, &sha, b64(&bytes), 0));
            last.1 += bytes.len() as u64;
        } else {
            for (n, chunk) in bytes.chunks(REQUEST_BYTES).enumerate() {
                requests.push((vec![item("p", &file.rel, &sha, b64(chunk), n * REQUEST_BYTES)], chunk.len() as u64));
            }
            commits.push(item("c", &file.rel, &sha, json!(bytes.len()), 0));
        }
    }
    requests.retain(|(items, _)| !items.is_empty());
    let total = sent.bytes;
    let done = std::sync::atomic::AtomicU64::new(0);
    let replies: Vec<Result<(), MirrorError>> = futures_util::stream::iter(requests)
        .map(|(items, bytes)| {
            let done = &done;
            async move {
                request(engine, environment, name, items).await?;
                let so_far = done.fetch_add(bytes, std::sync::atomic::Ordering::SeqCst) + bytes;
                progress(so_far, total);
                Ok(())
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    sent.requests = replies.len();
    replies.into_iter().collect::<Result<Vec<()>, _>>()?;
    if !commits.is_empty() {
        request(engine, environment, name, commits).await?;
        sent.requests += 1;
    }
    Ok(sent)
}

/// The code for one request: self-contained (it needs no runtime), it
/// writes into the mirror only, checks every hash, and prints what it did.
const PUT: &str = r#"import base64 as b,hashlib as h,os,zlib as z
B=os.environ.get('AZSB_MIRROR_BASE')
if not B:
 B='/mnt/data' if os.path.isdir('/mnt/data') and os.access('/mnt/data',os.W_OK) else os.getcwd()
 os.environ['AZSB_MIRROR_BASE']=B
R=os.path.normpath(os.path.join(B,NAME))
U=os.path.join(B,'.azsb-upload')
ok,bad=0,{}
for k,rel,d,data,at in ITEMS:
 t=os.path.normpath(os.path.join(R,*rel.split('/')))
 if not t.startswith(R+os.sep):
  bad[rel]='outside the mirror';continue
 try:
  if k=='w':
   raw=z.decompress(b.b64decode(data))
   if h.sha256(raw).hexdigest()!=d:
    bad[rel]='its hash did not match';continue
   os.makedirs(os.path.dirname(t),exist_ok=True)
   with open(t+'.azsb-tmp','wb') as f:
    f.write(raw)
   os.replace(t+'.azsb-tmp',t)
  elif k=='p':
   os.makedirs(U,exist_ok=True)
   fd=os.open(os.path.join(U,d),os.O_RDWR|os.O_CREAT,0o644)
   try:
    os.pwrite(fd,z.decompress(b.b64decode(data)),at)
   finally:
    os.close(fd)
  else:
   p=os.path.join(U,d)
   with open(p,'rb') as f:
    raw=f.read()
   if len(raw)!=data or h.sha256(raw).hexdigest()!=d:
    os.remove(p);bad[rel]='its hash did not match';continue
   os.makedirs(os.path.dirname(t),exist_ok=True)
   os.replace(p,t)
  ok+=1
 except Exception as e:
  bad[rel]='%s: %s'%(type(e).__name__,e)
import json,sys
sys.stdout.write('\n%s%s %s\n'%(MARKER,NONCE,json.dumps({'ok':ok,'bad':bad})))
"#;

#[derive(Deserialize)]
struct PutReply {
    #[serde(default)]
    bad: std::collections::BTreeMap<String, String>,
}

async fn request(
    engine: &Engine,
    environment: &EnvironmentId,
    name: &str,
    items: Vec<Value>,
) -> Result<(), MirrorError> {
    let nonce = wrapper::new_nonce();
    let code = wrapper::statement(
        &nonce,
        PUT,
        &[
            ("NAME", wrapper::py_literal(name)),
            ("ITEMS", wrapper::py_value(&Value::Array(items))),
            ("MARKER", wrapper::py_literal(MARKER)),
            ("NONCE", wrapper::py_literal(&nonce)),
        ],
    );
    let output = engine.client().run_python_with_timeout(environment, &code, TRANSFER_TIMEOUT).await?;
    let reply = crate::run::marker_reply::<PutReply>(&output.stdout, &nonce).ok_or_else(|| {
        MirrorError::Transfer(format!(
            "the sandbox did not confirm a transfer: {}",
            output.stderr.unwrap_or_default().trim()
        ))
    })?;
    match reply.bad.into_iter().next() {
        Some((rel, why)) => Err(MirrorError::Transfer(format!("the sandbox could not take {rel}: {why}"))),
        None => Ok(()),
    }
}

/// A file in the environment's mirror.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct RemoteFile {
    pub path: String,
    pub size: u64,
    /// Seconds since the epoch.
    pub mtime: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Listing {
    /// The mirror's directory in the environment.
    #[serde(default)]
    pub root: String,
    #[serde(default)]
    pub files: Vec<RemoteFile>,
    #[serde(default)]
    pub more: u64,
}

/// The files in the workspace's mirror.
pub async fn list(engine: &Engine, key: &WorkspaceKey) -> Result<Listing, MirrorError> {
    let name = super::names::mirror_name(&key.root);
    let Some(listing) = engine.call_runtime::<Listing>(key, "list_files", &[json!(name)]).await? else {
        return Ok(Listing::default());
    };
    Ok(listing)
}

#[derive(Deserialize)]
struct FileReply {
    #[serde(default)]
    missing: bool,
    #[serde(default, rename = "tooLarge")]
    too_large: Option<u64>,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    sha256: String,
    #[serde(default)]
    data: String,
}

/// A file fetched from the mirror, checked against its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub rel: String,
    pub bytes: Vec<u8>,
}

/// Fetches `rel` (workspace-relative) from the mirror.
pub async fn fetch(engine: &Engine, key: &WorkspaceKey, rel: &str) -> Result<Fetched, MirrorError> {
    let rel = clean_relative(rel).ok_or_else(|| MirrorError::Missing(rel.to_owned()))?;
    let name = super::names::mirror_name(&key.root);
    let reply = engine.call_runtime::<FileReply>(key, "fetch_file", &[json!(name), json!(rel)]).await?;
    let reply = reply.ok_or_else(|| MirrorError::Missing(rel.clone()))?;
    if reply.missing {
        return Err(MirrorError::Missing(rel));
    }
    if let Some(size) = reply.too_large {
        return Err(MirrorError::Transfer(format!(
            "{rel} is {}, over the 50 MB a fetch takes",
            crate::run::human_bytes(size)
        )));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(reply.data.as_bytes())
        .map_err(|_| MirrorError::Transfer(format!("{rel} came back garbled")))?;
    if bytes.len() as u64 != reply.size || sha256_hex(&bytes) != reply.sha256 {
        return Err(MirrorError::Transfer(format!("{rel} came back with another hash than the sandbox's; not saved")));
    }
    Ok(Fetched { rel, bytes })
}

/// A fetched file is in the environment as it is now here: the next sync
/// need not send it back.
pub fn note_fetched(engine: &Engine, key: &WorkspaceKey, record: &MirrorRecord, fetched: &Fetched) {
    if let Some(environment) = engine.registry().current(key) {
        record.add(&record_key(key, &environment), [(fetched.rel.clone(), sha256_hex(&fetched.bytes))]);
    }
}

/// A workspace-relative path the mirror may name: `/`-separated, no
/// absolute path, no `..`, no empty or `.` step, no NUL.
pub(crate) fn clean_relative(rel: &str) -> Option<String> {
    let rel = rel.replace('\\', "/");
    let steps: Vec<&str> = rel.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
    let bad = rel.starts_with('/') || rel.contains('\0') || steps.is_empty() || steps.contains(&"..");
    (!bad).then(|| steps.join("/"))
}

/// Where a fetched file went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub path: PathBuf,
    /// A different local file was there: it stays, and this one was saved
    /// beside it under another name.
    pub kept_both: bool,
    /// The local file already had these bytes: nothing written.
    pub unchanged: bool,
}

/// Saves a fetched file into the workspace at its relative path, never
/// outside the workspace (through `..` or a link) and never over a local
/// file: a different one is kept and this one saved as `name (sandbox).ext`.
pub fn save_download(root: &Path, fetched: &Fetched) -> Result<Saved, MirrorError> {
    let refuse = |why: &str| MirrorError::Transfer(format!("not saving {}: {why}", fetched.rel));
    let rel = clean_relative(&fetched.rel).ok_or_else(|| refuse("the path leaves the workspace"))?;
    let root = root.canonicalize().map_err(|e| refuse(&e.to_string()))?;
    let target = root.join(&rel);
    let parent = target.parent().ok_or_else(|| refuse("no directory"))?;
    std::fs::create_dir_all(parent).map_err(|e| refuse(&e.to_string()))?;
    if !parent.canonicalize().map_err(|e| refuse(&e.to_string()))?.starts_with(&root) {
        return Err(refuse("its directory leads outside the workspace"));
    }
    let mut path = target.clone();
    let mut kept_both = false;
    if let Ok(meta) = std::fs::symlink_metadata(&target) {
        if meta.is_file() && std::fs::read(&target).is_ok_and(|b| b == fetched.bytes) {
            return Ok(Saved { path: target, kept_both: false, unchanged: true });
        }
        kept_both = true;
        let stem = target.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let ext = target.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
        path = (1..1000)
            .map(|n| {
                let tag = if n == 1 { " (sandbox)".to_owned() } else { format!(" (sandbox {n})") };
                parent.join(format!("{stem}{tag}{ext}"))
            })
            .find(|p| std::fs::symlink_metadata(p).is_err())
            .ok_or_else(|| refuse("too many copies already"))?;
    }
    let temporary = parent.join(format!(".{}.azsb-part", std::process::id()));
    std::fs::write(&temporary, &fetched.bytes).map_err(|e| refuse(&e.to_string()))?;
    // A name taken meanwhile is not overwritten either.
    if std::fs::symlink_metadata(&path).is_ok() {
        let _ = std::fs::remove_file(&temporary);
        return Err(refuse("a file appeared there meanwhile"));
    }
    std::fs::rename(&temporary, &path).map_err(|e| refuse(&e.to_string()))?;
    Ok(Saved { path, kept_both, unchanged: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_never_leave_the_workspace() {
        assert_eq!(clean_relative("data/out.csv").as_deref(), Some("data/out.csv"));
        assert_eq!(clean_relative("./a//b.txt").as_deref(), Some("a/b.txt"));
        for bad in ["../../x", "/etc/passwd", "a/../../b", "", ".", "a\0b", "..\\x"] {
            assert_eq!(clean_relative(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn downloads_keep_both_on_conflict_and_refuse_the_outside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let fetched = |rel: &str, bytes: &[u8]| Fetched { rel: rel.into(), bytes: bytes.to_vec() };
        let saved = save_download(root, &fetched("out/result.csv", b"1,2\n")).unwrap();
        assert!(!saved.kept_both && saved.path.ends_with("out/result.csv"));
        let same = save_download(root, &fetched("out/result.csv", b"1,2\n")).unwrap();
        assert!(same.unchanged);
        let other = save_download(root, &fetched("out/result.csv", b"3,4\n")).unwrap();
        assert!(other.kept_both && other.path.ends_with("out/result (sandbox).csv"));
        assert_eq!(std::fs::read(root.join("out/result.csv")).unwrap(), b"1,2\n", "the local file stays");
        let third = save_download(root, &fetched("out/result.csv", b"5\n")).unwrap();
        assert!(third.path.ends_with("out/result (sandbox 2).csv"));
        assert!(save_download(root, &fetched("../../x", b"no")).is_err());
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
        assert!(save_download(root, &fetched("link/escape.txt", b"no")).is_err());
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none(), "nothing landed outside");
    }
}
