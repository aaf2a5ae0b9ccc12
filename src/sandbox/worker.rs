//! One Python interpreter process: the state of one local environment.
//!
//! The process runs `worker.py` and answers one JSON line per request on its
//! original stdout (see that file). This side spawns it with resource limits
//! (inside its namespaces, when there are: isolation.rs), sends code,
//! enforces the time limit (SIGINT first, so state survives when the code
//! lets itself be interrupted; SIGKILL after a grace period), and notices
//! when the process dies.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::isolation::{DATA_DIR, Namespaces};
use super::procs::{Watch, children_of, kill_group, pid_namespace};

const WORKER_SOURCE: &str = include_str!("worker.py");
/// How long an interrupted run gets to unwind before the process is killed.
const INTERRUPT_GRACE: Duration = Duration::from_secs(2);
const STARTUP_LIMIT: Duration = Duration::from_secs(30);
/// How long the rest of an answer may keep the reader waiting once its
/// header has come: the worker writes an answer in one go, so only a forged
/// header (user code can write to the channel) leaves it waiting longer.
const ANSWER_STALL: Duration = Duration::from_secs(5);

/// How a worker process is confined. Built once per pool.
#[derive(Debug, Clone)]
pub struct Confinement {
    pub python: PathBuf,
    /// `RLIMIT_AS` in bytes.
    pub memory_bytes: Option<u64>,
    /// `RLIMIT_NPROC`; only meaningful with a private uid.
    pub max_processes: Option<u64>,
    /// `RLIMIT_FSIZE` in bytes.
    pub max_file_bytes: Option<u64>,
    /// Set `PIP_USER=1` so `pip install` goes into the environment's own
    /// user base. A virtual environment forbids that (and hides the user
    /// site), so there `pip install` goes to the same place as a prefix
    /// (`PIP_PREFIX`), put on `sys.path` with `PYTHONPATH`: never into the
    /// virtual environment itself, which is the user's, shared by every
    /// environment, and read-only in namespaces.
    pub pip_user: bool,
    /// The site-packages directory relative to the user base (`.local`):
    /// made before the interpreter starts, so that it is on `sys.path`
    /// (Python adds it only if it exists then) and what `pip install` puts
    /// there imports without a restart.
    pub user_site: Option<PathBuf>,
    /// PATH for the sandboxed processes.
    pub path_var: String,
    /// The namespaces every process of an environment runs in (bubblewrap),
    /// or none: process isolation alone.
    pub namespaces: Option<Arc<Namespaces>>,
}

/// The environment's identity on this machine.
#[derive(Debug, Clone)]
pub struct Placement {
    pub dir: PathBuf,
    /// A private uid/gid, when the server runs as root and isolates users.
    pub uid: Option<u32>,
}

/// What became of one `exec`.
#[derive(Debug)]
pub enum ExecOutcome {
    /// The worker answered.
    Done(Value),
    /// The time limit passed. `reply` is the interrupted run's answer when
    /// the interrupt worked (state kept); `None` when the process was killed.
    TimedOut { reply: Option<Value> },
    /// The process exited while running; `how` says how (signal, status).
    Died { how: String },
}

pub struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// The interpreter's pid on this machine, for signals. In namespaces it
    /// is the grandchild: bwrap, then the namespace's init, then it.
    pid: i32,
    /// The process group the child leads (it called setsid).
    group: i32,
    /// How to find all of the environment's processes.
    watch: Watch,
    /// In namespaces the child is bwrap, which reports a signal's death as
    /// status 128 + the signal, as a shell does.
    namespaced: bool,
    next_id: u64,
    /// Set when the interpreter wrote something on its control channel that
    /// breaks the protocol (user code can reach that pipe): why, for the
    /// run's error. The interpreter is then replaced.
    broken: Option<String>,
}

impl Worker {
    /// Starts an interpreter and waits until it says it is ready.
    pub async fn spawn(confinement: &Confinement, placement: &Placement) -> Result<Self, String> {
        let mut command = sandboxed_command(confinement, placement, &confinement.python);
        command.arg("-c").arg(WORKER_SOURCE);
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|e| format!("cannot start {}: {e}", confinement.python.display()))?;
        let group = child.id().map(|p| p as i32).ok_or("the interpreter exited at once")?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        // Big: a run's answer carries its whole (capped) output.
        let mut stdout = BufReader::with_capacity(1 << 20, child.stdout.take().ok_or("no stdout")?);
        let mut stderr = child.stderr.take();
        let mut line = String::new();
        let ready = tokio::time::timeout(STARTUP_LIMIT, stdout.read_line(&mut line)).await;
        let ok = matches!(ready, Ok(Ok(n)) if n > 0) && line.contains("\"ready\"");
        if !ok {
            let mut why = String::new();
            if let Some(stderr) = stderr.as_mut() {
                let _ = tokio::time::timeout(Duration::from_secs(1), stderr.read_to_string(&mut why)).await;
            }
            kill_group(group);
            let _ = child.wait().await;
            let why = why.trim();
            return Err(format!(
                "the Python interpreter {} did not start{}",
                confinement.python.display(),
                if why.is_empty() { String::new() } else { format!(": {}", tail(why, 800)) }
            ));
        }
        // After "ready" the worker points its fd 2 at /dev/null; nothing more comes here.
        drop(stderr);
        let namespaced = confinement.namespaces.is_some();
        let (pid, watch) = if namespaced {
            match inside_namespaces(group) {
                Some(found) => found,
                None => {
                    kill_group(group);
                    let _ = child.wait().await;
                    return Err("the interpreter started, but not where its namespaces should be".into());
                }
            }
        } else {
            (group, Watch::Session(group))
        };
        Ok(Self { child, stdin, stdout, pid, group, watch, namespaced, next_id: 1, broken: None })
    }

    /// The interpreter's pid on this machine (for SIGINT).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// What the process watch and a kill of everything go by.
    pub fn watch(&self) -> Watch {
        self.watch
    }

    /// The process group to kill for all of the environment's processes
    /// that stayed in it (in namespaces: bwrap, and with it the namespace).
    pub fn group(&self) -> i32 {
        self.group
    }

    /// Runs `code` and waits for the answer, up to `limit`.
    pub async fn exec(&mut self, code: &str, cap: usize, limit: Duration) -> ExecOutcome {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"id": id, "op": "exec", "code": code, "cap": cap});
        let mut line = serde_json::to_vec(&request).unwrap_or_default();
        line.push(b'\n');
        if self.stdin.write_all(&line).await.is_err() || self.stdin.flush().await.is_err() {
            return ExecOutcome::Died { how: self.exit_description().await };
        }
        match tokio::time::timeout(limit, self.read_reply(id, cap)).await {
            Ok(Some(reply)) => ExecOutcome::Done(reply),
            Ok(None) => match self.broken.take() {
                Some(reason) => {
                    self.kill().await;
                    ExecOutcome::Died { how: reason }
                }
                None => ExecOutcome::Died { how: self.exit_description().await },
            },
            Err(_) => {
                self.interrupt();
                match tokio::time::timeout(INTERRUPT_GRACE, self.read_reply(id, cap)).await {
                    Ok(Some(reply)) => ExecOutcome::TimedOut { reply: Some(reply) },
                    _ => {
                        self.kill().await;
                        ExecOutcome::TimedOut { reply: None }
                    }
                }
            }
        }
    }

    /// Asks the running code to stop (KeyboardInterrupt); state survives.
    pub fn interrupt(&self) {
        // SAFETY: plain syscall on our own child's pid.
        unsafe {
            libc::kill(self.pid, libc::SIGINT);
        }
    }

    /// Kills the interpreter and everything it started in its process group
    /// (in namespaces: everything it started at all).
    pub async fn kill(&mut self) {
        kill_group(self.group);
        let _ = self.child.wait().await;
    }

    /// The answer to request `id`: a JSON header line, then the raw bytes
    /// of stdout and stderr whose lengths the header gives (see worker.py).
    /// The worker keeps each stream under `cap`, so longer lengths, or a
    /// header line longer than any answer could make, or a line that is not
    /// an answer, are a broken (or tampered-with) channel: `None`, with the
    /// reason in `broken`, and nothing allocated for what was claimed.
    async fn read_reply(&mut self, id: u64, cap: usize) -> Option<Value> {
        // The header holds the value's repr (up to `cap` characters, each at
        // most 12 bytes as ASCII-escaped JSON) and a few small fields.
        let header_limit = cap.saturating_mul(12).saturating_add(64 << 10) as u64;
        loop {
            let mut line = Vec::new();
            match (&mut self.stdout).take(header_limit).read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
            if line.last() != Some(&b'\n') {
                return self.break_protocol(format!("its answer's header ran past {header_limit} bytes"));
            }
            // The worker writes nothing but answers, so anything else means
            // the stream can no longer be trusted to be in step.
            let Ok(mut reply) = serde_json::from_slice::<Value>(&line) else {
                return self.break_protocol(format!("{} bytes that are not an answer", line.len()));
            };
            let length = |name: &str| reply.get(name).and_then(Value::as_u64).unwrap_or(0);
            let (out_length, err_length) = (length("stdoutLength"), length("stderrLength"));
            if out_length > cap as u64 || err_length > cap as u64 {
                return self.break_protocol(format!(
                    "its answer claimed {out_length} + {err_length} bytes of output, over the cap of {cap}"
                ));
            }
            let Some(stdout) = self.read_promised(out_length as usize).await? else {
                return self.break_protocol(format!("its answer promised {out_length} bytes that did not come"));
            };
            let Some(stderr) = self.read_promised(err_length as usize).await? else {
                return self.break_protocol(format!("its answer promised {err_length} bytes that did not come"));
            };
            // A reply to an earlier, abandoned request is skipped (after its
            // streams, so the next header is read from the right place).
            if reply.get("id").and_then(Value::as_u64) != Some(id) {
                continue;
            }
            if let Some(object) = reply.as_object_mut() {
                object.insert("stdout".into(), Value::String(text_of(stdout)));
                object.insert("stderr".into(), Value::String(text_of(stderr)));
            }
            return Some(reply);
        }
    }

    /// `length` bytes that a header promised: `None` when the channel
    /// closed, `Some(None)` when they stopped coming for `ANSWER_STALL` (a
    /// forged header: without this, the reader waited for the run's time
    /// limit, 120 s by default).
    async fn read_promised(&mut self, length: usize) -> Option<Option<Vec<u8>>> {
        let mut bytes = vec![0; length];
        let mut filled = 0;
        while filled < length {
            match tokio::time::timeout(ANSWER_STALL, self.stdout.read(&mut bytes[filled..])).await {
                Ok(Ok(0)) | Ok(Err(_)) => return None,
                Ok(Ok(n)) => filled += n,
                Err(_) => return Some(None),
            }
        }
        Some(Some(bytes))
    }

    fn break_protocol(&mut self, what: String) -> Option<Value> {
        tracing::warn!("an interpreter broke the control protocol: {what}; replacing it");
        self.broken = Some(format!("wrote on the sandbox's control channel ({what}) and was replaced"));
        None
    }

    async fn exit_description(&mut self) -> String {
        use std::os::unix::process::ExitStatusExt;
        kill_group(self.group); // children it left behind
        match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(Ok(status)) => match (status.code(), status.signal()) {
                (Some(code), _) if self.namespaced && (129..=128 + 64).contains(&code) => {
                    let signal = code - 128;
                    format!("was killed by signal {signal} ({})", signal_name(signal))
                }
                (Some(code), _) => format!("exited with status {code}"),
                (None, Some(signal)) => format!("was killed by signal {signal} ({})", signal_name(signal)),
                _ => "exited".to_owned(),
            },
            _ => "stopped answering".to_owned(),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        kill_group(self.group);
    }
}

/// In namespaces, the child is bwrap; its child is the namespace's init,
/// whose child is the interpreter: (the interpreter's pid, the namespace).
fn inside_namespaces(bwrap: i32) -> Option<(i32, Watch)> {
    let init = *children_of(bwrap).first()?;
    let interpreter = *children_of(init).first()?;
    let inode = pid_namespace(init)?;
    Some((interpreter, Watch::Namespace { inode, init }))
}

/// A command that runs inside an environment: its own directory, a clean
/// environment (no variables of the server's, so no key), its own session
/// and process group, resource limits, a private uid when configured, and
/// its namespaces when there are (then the directory is `/mnt/data`).
pub fn sandboxed_command(confinement: &Confinement, placement: &Placement, program: &Path) -> Command {
    let dir = &placement.dir;
    let mut command = match &confinement.namespaces {
        Some(namespaces) => {
            let mut command = Command::new(&namespaces.bwrap);
            command.args(namespaces.args(dir, program));
            command
        }
        None => Command::new(program),
    };
    // Inside the namespaces the directory is at the service's path.
    let (home, tmp) = match confinement.namespaces {
        Some(_) => (PathBuf::from(DATA_DIR), PathBuf::from("/tmp")),
        None => (dir.clone(), dir.join(".tmp")),
    };
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", &confinement.path_var)
        .env("HOME", &home)
        .env("TMPDIR", tmp)
        .env("PYTHONUSERBASE", home.join(".local"))
        .env("PYTHONIOENCODING", "utf-8")
        .env("LANG", "C.UTF-8")
        .env("MPLBACKEND", "Agg")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1")
        .kill_on_drop(true);
    if confinement.pip_user {
        // The user base is the environment's own directory, so a "user"
        // install touches nothing outside it (PEP 668 guards system Pythons).
        command.env("PIP_USER", "1").env("PIP_BREAK_SYSTEM_PACKAGES", "1");
    } else if let Some(site) = &confinement.user_site {
        // A virtual environment: the same directories, as a prefix.
        let local = home.join(".local");
        command
            .env("PIP_PREFIX", &local)
            .env("PYTHONPATH", local.join(site))
            .env("PATH", format!("{}:{}", local.join("bin").display(), confinement.path_var));
    }
    let limits = confinement.clone();
    let uid = placement.uid;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            close_inherited_descriptors();
            set_limit(libc::RLIMIT_CORE as libc::c_int, Some(0))?;
            set_limit(libc::RLIMIT_AS as libc::c_int, limits.memory_bytes)?;
            set_limit(libc::RLIMIT_FSIZE as libc::c_int, limits.max_file_bytes)?;
            if let Some(uid) = uid {
                set_limit(libc::RLIMIT_NPROC as libc::c_int, limits.max_processes)?;
                if libc::setgroups(0, std::ptr::null()) < 0
                    || libc::setgid(uid as libc::gid_t) < 0
                    || libc::setuid(uid as libc::uid_t) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    command
}

/// Marks every descriptor above stderr close-on-exec, in the child between
/// fork and exec. The server's own are already; this catches those the
/// server inherited from whoever started it (an editor's pipes, a build
/// tool's jobserver), which user code could otherwise write to. Marking
/// rather than closing keeps the pipe the standard library uses to report a
/// failed exec.
fn close_inherited_descriptors() {
    // SAFETY: plain syscalls on descriptors of this (forked) process; no
    // allocation, so safe between fork and exec.
    unsafe {
        if libc::syscall(libc::SYS_close_range, 3 as libc::c_uint, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC) == 0 {
            return;
        }
        // Kernels before 5.11: one descriptor at a time, up to the limit.
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        let top =
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 { limit.rlim_cur.min(1 << 16) } else { 1024 };
        for fd in 3..top as libc::c_int {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
}

fn set_limit(resource: libc::c_int, value: Option<u64>) -> std::io::Result<()> {
    let Some(value) = value else { return Ok(()) };
    let limit = libc::rlimit { rlim_cur: value as libc::rlim_t, rlim_max: value as libc::rlim_t };
    // SAFETY: setrlimit with a valid pointer.
    // The resource parameter's type differs between C libraries.
    if unsafe { libc::setrlimit(resource as _, &limit) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Output bytes as text: UTF-8 without a copy when it is valid; a character
/// cut in half at the end (by the output cap) is dropped; anything else
/// invalid becomes U+FFFD.
fn text_of(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let mut bytes = error.into_bytes();
            if let Err(e) = std::str::from_utf8(&bytes) {
                if e.error_len().is_none() {
                    bytes.truncate(e.valid_up_to());
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => "SIGKILL: killed, possibly for using too much memory",
        libc::SIGSEGV => "SIGSEGV: segmentation fault",
        libc::SIGABRT => "SIGABRT: aborted",
        libc::SIGTERM => "SIGTERM: terminated",
        libc::SIGBUS => "SIGBUS: bus error",
        libc::SIGXCPU => "SIGXCPU: CPU time limit",
        libc::SIGXFSZ => "SIGXFSZ: file size limit",
        _ => "signal",
    }
}

fn tail(text: &str, max: usize) -> &str {
    match text.char_indices().rev().nth(max) {
        Some((at, _)) => &text[at..],
        None => text,
    }
}
