//! The local session pool: environments, their lifetimes and their limits.
//!
//! Mirrors the service's documented behaviour: a launcher hands out an id at
//! once and the session is allocated lazily on the first call; at most
//! `max_environments` are allocated at a time; an environment idle for its
//! cool-down is destroyed and its id is then unknown. Calls to one
//! environment run one at a time in arrival order (a fair mutex); different
//! environments run in parallel.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::io::AsyncReadExt;

use super::config::SandboxConfig;
use super::procs::{Watch, count_tasks, kill_all, kill_all_of_uid, kill_group, system_tasks};
use super::worker::{Confinement, ExecOutcome, Placement, Worker, sandboxed_command};

/// Why a tool call could not run.
#[derive(Debug, Clone, PartialEq)]
pub enum PoolError {
    NotFound(String),
    Full { allocated: usize, max: usize },
    Internal(String),
}

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolError::NotFound(id) => {
                write!(f, "Environment not found: {id}. It may have expired after its idle cool-down; launch a new one")
            }
            PoolError::Full { allocated, max } => write!(
                f,
                "Session pool is full: {allocated} of {max} sessions are in use (maxConcurrentSessions={max}); \
                 no more sessions can be allocated until one expires"
            ),
            PoolError::Internal(why) => write!(f, "{why}"),
        }
    }
}

/// A shell command as the tool received it.
#[derive(Debug, Clone)]
pub enum ShellRequest {
    Line(String),
    Argv(Vec<String>),
}

pub struct Pool {
    config: Arc<SandboxConfig>,
    confinement: Confinement,
    root: PathBuf,
    /// Private uids are handed out from here when isolating users.
    next_uid: Option<AtomicU32>,
    envs: Mutex<HashMap<String, Arc<Environment>>>,
    /// JSON-RPC ids of Python runs in progress (or queued), with their
    /// environment, so `notifications/cancelled` can interrupt the right one.
    /// Owned by the run task, not the HTTP handler: a client that times out
    /// hangs up first and cancels after.
    in_flight: Mutex<Vec<Tracked>>,
    /// An interpreter started ahead of time, in a directory (and with a uid)
    /// of its own, for the next environment: a new environment's first run
    /// then costs what a warm run costs.
    spare: Mutex<Option<(Placement, Worker)>>,
    making_spare: AtomicBool,
    /// The process watch's last full look (see `police_processes`).
    watch: Mutex<ProcessWatch>,
}

/// When `police_processes` last counted every environment's processes, and
/// how many tasks the machine had then.
struct ProcessWatch {
    scanned: Instant,
    machine_tasks: u64,
}

/// A Python run that a client may cancel by its JSON-RPC id.
struct Tracked {
    request: String,
    environment: String,
    /// Set by a cancel; a queued run that sees it never starts.
    cancelled: Arc<AtomicBool>,
    /// Set once the run holds its environment: only then may a cancel
    /// interrupt the environment's interpreter (it is this run's code).
    started: Arc<AtomicBool>,
}

pub struct Environment {
    id: String,
    placement: Placement,
    /// Held for the length of each call: the FIFO queue of this environment.
    slot: tokio::sync::Mutex<Slot>,
    allocated: AtomicBool,
    destroyed: AtomicBool,
    last_used: Mutex<Instant>,
    /// The worker while a call runs, so a cancel can interrupt it and the
    /// process watch can count its processes.
    running: Mutex<Option<Running>>,
    /// Set when the process watch stopped this environment's processes for
    /// being too many; the run that finds its interpreter dead says so.
    over_process_limit: AtomicBool,
    /// Set when a run lost the state after its client had cancelled it (it
    /// timed out waiting), so no one was told: the next run says so.
    unreported_loss: AtomicBool,
}

#[derive(Default)]
struct Slot {
    worker: Option<Worker>,
}

/// What is known of a worker while it runs a call.
#[derive(Clone, Copy)]
struct Running {
    /// The interpreter, for SIGINT.
    pid: i32,
    /// Its process group, to kill it and what stayed with it.
    group: i32,
    watch: Watch,
}

impl Running {
    fn of(worker: &Worker) -> Self {
        Self { pid: worker.pid(), group: worker.group(), watch: worker.watch() }
    }
}

impl Pool {
    pub fn new(config: Arc<SandboxConfig>, confinement: Confinement, root: PathBuf, isolate_uids: bool) -> Self {
        let next_uid = isolate_uids.then(|| AtomicU32::new(config.first_uid));
        Self {
            config,
            confinement,
            root,
            next_uid,
            envs: Mutex::new(HashMap::new()),
            in_flight: Mutex::default(),
            spare: Mutex::new(None),
            making_spare: AtomicBool::new(false),
            watch: Mutex::new(ProcessWatch { scanned: Instant::now(), machine_tasks: 0 }),
        }
    }

    fn new_placement(&self) -> Result<Placement, PoolError> {
        let suffix: u64 = rand::random();
        let dir = self.root.join(format!("env-{suffix:016x}"));
        let uid = self.next_uid.as_ref().map(|n| n.fetch_add(1, Ordering::Relaxed));
        create_private_dir(&dir, uid, &self.confinement)
            .map_err(|e| PoolError::Internal(format!("cannot create the environment directory: {e}")))?;
        Ok(Placement { dir, uid })
    }

    /// Starts a spare interpreter in the background, unless one exists or
    /// is being started (or spares are off).
    pub fn replenish(self: &Arc<Self>) {
        if !self.config.spare_interpreter || self.making_spare.swap(true, Ordering::SeqCst) {
            return;
        }
        if self.spare.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
            self.making_spare.store(false, Ordering::SeqCst);
            return;
        }
        let pool = Arc::clone(self);
        tokio::spawn(async move {
            let made = match pool.new_placement() {
                Ok(placement) => match Worker::spawn(&pool.confinement, &placement).await {
                    Ok(worker) => Some((placement, worker)),
                    Err(e) => {
                        tracing::warn!("could not start a spare interpreter: {e}");
                        remove_dir(&placement);
                        None
                    }
                },
                Err(e) => {
                    tracing::warn!("{e}");
                    None
                }
            };
            if let Some(spare) = made {
                *pool.spare.lock().unwrap_or_else(|e| e.into_inner()) = Some(spare);
            }
            pool.making_spare.store(false, Ordering::SeqCst);
        });
    }

    pub fn isolates_users(&self) -> bool {
        self.next_uid.is_some()
    }

    /// The launcher: a new id, allocated lazily.
    pub fn launch(self: &Arc<Self>) -> Result<String, PoolError> {
        let id = new_environment_id();
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).take();
        let (placement, worker) = match spare {
            Some((placement, worker)) => {
                self.replenish();
                (placement, Some(worker))
            }
            None => (self.new_placement()?, None),
        };
        let env = Arc::new(Environment {
            id: id.clone(),
            placement,
            slot: tokio::sync::Mutex::new(Slot { worker }),
            allocated: AtomicBool::new(false),
            destroyed: AtomicBool::new(false),
            last_used: Mutex::new(Instant::now()),
            running: Mutex::new(None),
            over_process_limit: AtomicBool::new(false),
            unreported_loss: AtomicBool::new(false),
        });
        let mut envs = self.envs.lock().unwrap_or_else(|e| e.into_inner());
        // Unallocated ids cost a directory each; bound them like the service bounds sessions.
        let pending = envs.values().filter(|e| !e.allocated.load(Ordering::Relaxed)).count();
        if pending >= self.config.max_environments.max(1) * 20 {
            drop(envs);
            destroy_files(&env);
            return Err(PoolError::Internal("too many launched environments that were never used".into()));
        }
        envs.insert(id.clone(), env);
        Ok(id)
    }

    fn get(&self, id: &str) -> Result<Arc<Environment>, PoolError> {
        let envs = self.envs.lock().unwrap_or_else(|e| e.into_inner());
        let env = envs.get(id).cloned().ok_or_else(|| PoolError::NotFound(id.to_owned()))?;
        env.touch();
        Ok(env)
    }

    /// Marks `env` allocated if the pool has room.
    fn allocate(&self, env: &Environment) -> Result<(), PoolError> {
        let envs = self.envs.lock().unwrap_or_else(|e| e.into_inner());
        if env.allocated.load(Ordering::Relaxed) {
            return Ok(());
        }
        let allocated = envs.values().filter(|e| e.allocated.load(Ordering::Relaxed)).count();
        if allocated >= self.config.max_environments {
            return Err(PoolError::Full { allocated, max: self.config.max_environments });
        }
        env.allocated.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Runs Python in an environment; returns the tool's `structuredContent`.
    /// `request` is the JSON-RPC id of the call, for cancellation.
    pub async fn run_python(
        self: &Arc<Self>,
        id: &str,
        code: String,
        limit: Duration,
        request: Option<String>,
    ) -> Result<Map<String, Value>, PoolError> {
        let env = self.get(id)?;
        let pool = Arc::clone(self);
        // The call runs in its own task so that a client hanging up does not
        // cut it off half-way and leave the worker's answer unread.
        let task = tokio::spawn(async move {
            let tracked = request.map(|key| InFlight::new(&pool, key, env.id.clone()));
            let mut slot = env.slot.lock().await;
            if env.destroyed.load(Ordering::Relaxed) {
                return Err(PoolError::NotFound(env.id.clone()));
            }
            if let Some(tracked) = &tracked {
                if tracked.cancelled.load(Ordering::SeqCst) {
                    let mut content = failure_content("Cancelled", "The run was cancelled before it started.".into());
                    content.insert("stateSurvived".into(), json!(true));
                    return Ok(content);
                }
                tracked.started.store(true, Ordering::SeqCst);
            }
            pool.allocate(&env)?;
            if slot.worker.is_none() {
                let worker = Worker::spawn(&pool.confinement, &env.placement).await.map_err(PoolError::Internal)?;
                slot.worker = Some(worker);
            }
            let worker = slot.worker.as_mut().expect("worker present");
            let lost_unseen = env.unreported_loss.swap(false, Ordering::SeqCst);
            *env.running.lock().unwrap_or_else(|e| e.into_inner()) = Some(Running::of(worker));
            // The worker keeps bytes: four per character is enough for any
            // text, and the cut to characters happens below.
            let outcome = worker.exec(&code, pool.config.output_cap.saturating_mul(4), limit).await;
            *env.running.lock().unwrap_or_else(|e| e.into_inner()) = None;
            env.touch();
            let over_limit = env.over_process_limit.swap(false, Ordering::SeqCst);
            let mut content = match outcome {
                ExecOutcome::Died { .. } | ExecOutcome::TimedOut { reply: None } if over_limit => {
                    slot.worker = None;
                    failure_content(
                        "ProcessLimit",
                        format!(
                            "The processes of this environment grew past the limit of {} processes and threads \
                             (a fork bomb?), so all of them were stopped. The environment's state (variables, \
                             imports) was lost; the next run starts a fresh interpreter.",
                            pool.config.max_processes.unwrap_or_default()
                        ),
                    )
                }
                ExecOutcome::Done(reply) => python_content(reply, None, pool.config.output_cap),
                ExecOutcome::TimedOut { reply: Some(reply) } => python_content(
                    reply,
                    Some(format!(
                        "TimeoutError: the run exceeded the {} s execution limit and was interrupted. \
                         The environment's state (variables, imports) was kept.",
                        limit.as_secs()
                    )),
                    pool.config.output_cap,
                )
                .tap_timeout(true),
                ExecOutcome::TimedOut { reply: None } => {
                    slot.worker = None;
                    failure_content(
                        "Timeout",
                        format!(
                            "TimeoutError: the run exceeded the {} s execution limit and did not stop when \
                             interrupted, so its Python process was killed. The environment's state \
                             (variables, imports) was lost; the next run starts a fresh interpreter.",
                            limit.as_secs()
                        ),
                    )
                }
                ExecOutcome::Died { how } => {
                    slot.worker = None;
                    failure_content(
                        "ProcessExited",
                        format!(
                            "The Python process of this environment {how} during the run. The environment's \
                             state (variables, imports) was lost; the next run starts a fresh interpreter."
                        ),
                    )
                }
            };
            let lost = content.get("stateSurvived") == Some(&json!(false));
            if lost && tracked.as_ref().is_some_and(|t| t.cancelled.load(Ordering::SeqCst)) {
                // The client stopped waiting (and cancelled): this answer
                // reaches no one. Without this, the next run just found its
                // variables gone, unexplained.
                env.unreported_loss.store(true, Ordering::SeqCst);
            } else if lost_unseen && !lost {
                content.insert("stateSurvived".into(), json!(false));
            }
            Ok(content)
        });
        task.await.map_err(|e| PoolError::Internal(format!("the run failed inside the sandbox server: {e}")))?
    }

    /// Runs a shell command in an environment's directory.
    pub async fn run_shell(
        self: &Arc<Self>,
        id: &str,
        request: ShellRequest,
        limit: Duration,
    ) -> Result<Map<String, Value>, PoolError> {
        let env = self.get(id)?;
        let pool = Arc::clone(self);
        let task = tokio::spawn(async move {
            let _slot = env.slot.lock().await;
            if env.destroyed.load(Ordering::Relaxed) {
                return Err(PoolError::NotFound(env.id.clone()));
            }
            pool.allocate(&env)?;
            let result = pool.shell(&env, request, limit).await;
            env.touch();
            Ok(result)
        });
        task.await.map_err(|e| PoolError::Internal(format!("the command failed inside the sandbox server: {e}")))?
    }

    async fn shell(&self, env: &Environment, request: ShellRequest, limit: Duration) -> Map<String, Value> {
        let placement = &env.placement;
        let started = Instant::now();
        let mut command = match &request {
            ShellRequest::Line(line) => {
                let mut c = sandboxed_command(&self.confinement, placement, Path::new("/bin/bash"));
                c.arg("-c").arg(line);
                c
            }
            ShellRequest::Argv(argv) => {
                let mut c = sandboxed_command(&self.confinement, placement, Path::new(&argv[0]));
                c.args(&argv[1..]);
                c
            }
        };
        command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                let mut content = failure_content("CommandStartError", format!("cannot start the command: {e}"));
                content.insert("exitCode".into(), json!(-1));
                return content;
            }
        };
        let pid = child.id().map(|p| p as i32).unwrap_or(0);
        // The process watch counts the command's processes while it runs:
        // its session (it called setsid), then in namespaces its PID
        // namespace once bubblewrap has made it (a child that calls setsid
        // leaves the session, never the namespace).
        *env.running.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Running { pid, group: pid, watch: Watch::Session(pid) });
        let namespaced = self.confinement.namespaces.is_some();
        let cap = self.config.output_cap;
        let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
        // Something the command left running in the background (`server &`)
        // holds its pipes open: reading to their end waited for the time
        // limit, and the command was reported as timed out. So the reading
        // stops shortly after the command itself ends.
        let (exited, exit_seen) = tokio::sync::watch::channel(false);
        let after_exit = move || {
            let mut exit_seen = exit_seen.clone();
            async move {
                let _ = exit_seen.wait_for(|done| *done).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        let (out_done, err_done) = (after_exit(), after_exit());
        let read_out = async move { read_capped(out.as_mut(), cap, out_done).await };
        let read_err = async move { read_capped(err.as_mut(), cap, err_done).await };
        let exit_seen_by_watch = exited.subscribe();
        let wait = async {
            let status = child.wait().await;
            let _ = exited.send(true);
            status
        };
        let find_namespace = async {
            if namespaced {
                watch_namespace_of(env, pid, exit_seen_by_watch).await;
            }
        };
        let run = async { tokio::join!(wait, read_out, read_err, find_namespace) };
        let outcome = tokio::time::timeout(limit, run).await;
        *env.running.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if env.over_process_limit.swap(false, Ordering::SeqCst) {
            kill_group(pid);
            let mut content = failure_content(
                "ProcessLimit",
                format!(
                    "The command's processes grew past the limit of {} processes and threads (a fork bomb?), \
                     so all of them were stopped. The environment's Python state was kept.",
                    self.config.max_processes.unwrap_or_default()
                ),
            );
            content.insert("exitCode".into(), json!(-1));
            return content;
        }
        match outcome {
            Ok((status, (stdout, out_cut), (stderr, err_cut), ())) => {
                kill_group(pid); // anything it left running in the background
                let code = status.ok().and_then(|s| s.code()).unwrap_or(-1);
                // In namespaces the command is started by bwrap, which
                // says why it could not start it on stderr and exits 1.
                if self.confinement.namespaces.is_some() && code == 1 && stderr.starts_with("bwrap: ") {
                    let why = stderr.trim_start_matches("bwrap: ").trim();
                    let mut content = failure_content("CommandStartError", format!("cannot start the command: {why}"));
                    content.insert("exitCode".into(), json!(-1));
                    return content;
                }
                let mut content = Map::new();
                content.insert("status".into(), json!("Succeeded"));
                content.insert("exitCode".into(), json!(code));
                content.insert("stdout".into(), json!(stdout));
                content.insert("stderr".into(), json!(stderr));
                content.insert("stdoutTruncated".into(), json!(out_cut));
                content.insert("stderrTruncated".into(), json!(err_cut));
                content.insert("executionTimeInMilliseconds".into(), json!(started.elapsed().as_millis() as u64));
                content
            }
            Err(_) => {
                kill_group(pid);
                let mut content = failure_content(
                    "ExecutionTimeout",
                    format!("the command exceeded the {} s execution limit and was killed", limit.as_secs()),
                );
                content.insert("exitCode".into(), json!(-1));
                content
            }
        }
    }

    /// Handles `notifications/cancelled` for JSON-RPC id `request`. Ids are
    /// chosen by each client and this server keeps no sessions by default, so
    /// it acts only when the id names exactly one run.
    pub fn cancel_request(&self, request: &str) -> bool {
        let target = {
            let in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            let matching: Vec<&Tracked> = in_flight.iter().filter(|t| t.request == request).collect();
            match matching.as_slice() {
                [one] => {
                    one.cancelled.store(true, Ordering::SeqCst);
                    Some((one.environment.clone(), one.started.load(Ordering::SeqCst)))
                }
                _ => None,
            }
        };
        match target {
            Some((environment, true)) => {
                tracing::info!(environment, "running run cancelled by the client");
                self.interrupt(&environment)
            }
            Some((environment, false)) => {
                tracing::info!(environment, "queued run cancelled by the client");
                true
            }
            None => false,
        }
    }

    /// Interrupts the run in progress in `id`, if any (KeyboardInterrupt).
    pub fn interrupt(&self, id: &str) -> bool {
        let envs = self.envs.lock().unwrap_or_else(|e| e.into_inner());
        let Some(env) = envs.get(id) else { return false };
        let pid = env.running.lock().unwrap_or_else(|e| e.into_inner()).map(|r| r.pid);
        if let Some(pid) = pid {
            // SAFETY: plain syscall on our worker's pid.
            unsafe {
                libc::kill(pid, libc::SIGINT);
            }
            return true;
        }
        false
    }

    /// Bounds fork bombs, whatever the uid: stops every process of an
    /// environment that holds more than `max_processes` processes and
    /// threads. Its processes are those of its PID namespace (namespaces),
    /// or of its interpreter's session (process isolation: the interpreter
    /// called setsid, and its children inherit the session; code that calls
    /// setsid itself escapes that count). `RLIMIT_NPROC` does this only with
    /// a private uid: root ignores it, and for any other user it would count
    /// all of that user's processes. Called every 100 ms; counts only when
    /// the machine's task count grew by a quarter of the limit, or every
    /// 2 s. Blocking (it reads /proc): call it off the runtime.
    pub fn police_processes(&self) {
        let Some(limit) = self.config.max_processes else { return };
        let watched: Vec<(Watch, Arc<Environment>)> = {
            let envs = self.envs.lock().unwrap_or_else(|e| e.into_inner());
            envs.values()
                .filter_map(|env| {
                    let running = env.running.lock().unwrap_or_else(|e| e.into_inner()).map(|r| r.watch);
                    let idle = || env.slot.try_lock().ok().and_then(|slot| slot.worker.as_ref().map(Worker::watch));
                    running.or_else(idle).map(|watch| (watch, Arc::clone(env)))
                })
                .collect()
        };
        if watched.is_empty() {
            return;
        }
        let machine = system_tasks().unwrap_or(u64::MAX);
        {
            let mut watch = self.watch.lock().unwrap_or_else(|e| e.into_inner());
            let grew = machine.saturating_sub(watch.machine_tasks) >= (limit / 4).max(8);
            if !grew && watch.scanned.elapsed() < Duration::from_secs(2) {
                // Growth counts from the lowest count since the last scan,
                // or a bomb after a busy moment would wait for the 2 s scan.
                watch.machine_tasks = watch.machine_tasks.min(machine);
                return;
            }
            *watch = ProcessWatch { scanned: Instant::now(), machine_tasks: machine };
        }
        let watches: Vec<Watch> = watched.iter().map(|(watch, _)| *watch).collect();
        let counts = count_tasks(&watches, limit as usize);
        for (watch, env) in watched {
            let tasks = counts.get(&watch).copied().unwrap_or(0);
            if tasks as u64 > limit {
                tracing::warn!(environment = %env.id, tasks, limit, "too many processes (a fork bomb?): stopping them all");
                env.over_process_limit.store(true, Ordering::SeqCst);
                kill_all(watch);
            }
        }
    }

    /// Destroys environments idle for longer than the cool-down. Busy ones
    /// (a call holds their slot) are never idle.
    pub async fn reap_idle(&self) {
        let cool_down = self.config.cool_down;
        let idle: Vec<Arc<Environment>> = {
            let envs = self.envs.lock().unwrap_or_else(|e| e.into_inner());
            envs.values().filter(|e| e.idle_for() >= cool_down).cloned().collect()
        };
        for env in idle {
            let Ok(mut slot) = env.slot.try_lock() else { continue };
            if env.idle_for() < cool_down {
                continue; // touched since we looked
            }
            self.envs.lock().unwrap_or_else(|e| e.into_inner()).remove(&env.id);
            env.destroyed.store(true, Ordering::Relaxed);
            if let Some(mut worker) = slot.worker.take() {
                worker.kill().await;
            }
            tracing::info!(environment = %env.id, "destroyed after {} s idle", cool_down.as_secs());
            destroy_files(&env);
        }
    }

    /// Destroys every environment (server shutdown).
    pub async fn shutdown(&self) {
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((placement, mut worker)) = spare {
            worker.kill().await;
            remove_dir(&placement);
        }
        let all: Vec<Arc<Environment>> =
            self.envs.lock().unwrap_or_else(|e| e.into_inner()).drain().map(|(_, e)| e).collect();
        for env in all {
            env.destroyed.store(true, Ordering::Relaxed);
            if let Some(running) = *env.running.lock().unwrap_or_else(|e| e.into_inner()) {
                kill_group(running.group);
            }
            if let Ok(mut slot) = env.slot.try_lock() {
                if let Some(mut worker) = slot.worker.take() {
                    worker.kill().await;
                }
            }
            destroy_files(&env);
        }
    }

    /// Where environment `id`'s own directory is on this machine (inside its
    /// namespaces it is `/mnt/data`).
    pub fn directory_of(&self, id: &str) -> Option<PathBuf> {
        self.envs.lock().unwrap_or_else(|e| e.into_inner()).get(id).map(|env| env.placement.dir.clone())
    }

    /// Is a spare interpreter waiting for the next environment?
    pub fn spare_ready(&self) -> bool {
        self.spare.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// Counts (allocated, launched) environments.
    pub fn counts(&self) -> (usize, usize) {
        let envs = self.envs.lock().unwrap_or_else(|e| e.into_inner());
        (envs.values().filter(|e| e.allocated.load(Ordering::Relaxed)).count(), envs.len())
    }
}

impl Environment {
    fn touch(&self) {
        *self.last_used.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last_used.lock().unwrap_or_else(|e| e.into_inner()).elapsed()
    }
}

/// Registers a run as in flight for as long as it lives.
struct InFlight {
    pool: Arc<Pool>,
    cancelled: Arc<AtomicBool>,
    started: Arc<AtomicBool>,
}

impl InFlight {
    fn new(pool: &Arc<Pool>, request: String, environment: String) -> Self {
        let (cancelled, started) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let tracked =
            Tracked { request, environment, cancelled: Arc::clone(&cancelled), started: Arc::clone(&started) };
        pool.in_flight.lock().unwrap_or_else(|e| e.into_inner()).push(tracked);
        Self { pool: Arc::clone(pool), cancelled, started }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut in_flight = self.pool.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = in_flight.iter().position(|t| Arc::ptr_eq(&t.cancelled, &self.cancelled)) {
            in_flight.swap_remove(at);
        }
    }
}

trait TapTimeout {
    fn tap_timeout(self, survived: bool) -> Self;
}

impl TapTimeout for Map<String, Value> {
    fn tap_timeout(mut self, survived: bool) -> Self {
        self.insert("status".into(), json!("Failed"));
        self.insert("errorName".into(), json!("Timeout"));
        self.insert("stateSurvived".into(), json!(survived));
        self
    }
}

/// Fields of the worker's answer that belong to its control channel, not
/// to the tool's result.
const CONTROL_FIELDS: [&str; 5] = ["id", "stdoutLength", "stderrLength", "stdoutBytes", "stderrBytes"];

/// The worker's answer as the tool's `structuredContent`: every field it
/// gave, so a new one reaches the client without a change here, less those
/// of the control channel. Fields the service always has are present.
fn python_content(reply: Value, note: Option<String>, cap: usize) -> Map<String, Value> {
    // Moved, not copied: stdout can be megabytes.
    let mut content = match reply {
        Value::Object(fields) => fields,
        _ => Map::new(),
    };
    let internal = |key: &str, value: &Value| CONTROL_FIELDS.contains(&key) || (key == "errorName" && value.is_null());
    content.retain(|key, value| !internal(key, value));
    for key in ["status", "stdout", "stderr", "executionResult"] {
        content.entry(key).or_insert(Value::Null);
    }
    for (stream, flag) in [("stdout", "stdoutTruncated"), ("stderr", "stderrTruncated")] {
        if let Some(Value::String(text)) = content.get_mut(stream) {
            if let Some((cut, _)) = text.char_indices().nth(cap) {
                text.truncate(cut);
                content.insert(flag.into(), json!(true));
            }
        }
    }
    if let Some(note) = note {
        let stderr = content.get("stderr").and_then(Value::as_str).unwrap_or_default();
        let joined = if stderr.is_empty() || stderr.ends_with('\n') {
            format!("{stderr}{note}\n")
        } else {
            format!("{stderr}\n{note}\n")
        };
        content.insert("stderr".into(), json!(joined));
    }
    content
}

/// Once bubblewrap (`bwrap`, a shell command's process) has started the
/// namespace's init, the process watch counts the command by its PID
/// namespace. Gives up when the command ends, or after a second.
async fn watch_namespace_of(env: &Environment, bwrap: i32, mut exited: tokio::sync::watch::Receiver<bool>) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline && !*exited.borrow() {
        let found = super::procs::children_of(bwrap)
            .first()
            .and_then(|&init| super::procs::pid_namespace(init).map(|inode| Watch::Namespace { inode, init }));
        if let Some(watch) = found {
            if let Some(running) = env.running.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                running.watch = watch;
            }
            return;
        }
        let _ = tokio::time::timeout(Duration::from_millis(5), exited.changed()).await;
    }
}

fn failure_content(error_name: &str, message: String) -> Map<String, Value> {
    let mut content = Map::new();
    content.insert("status".into(), json!("Failed"));
    content.insert("stdout".into(), json!(""));
    content.insert("stderr".into(), json!(format!("{message}\n")));
    content.insert("executionResult".into(), Value::Null);
    content.insert("errorName".into(), json!(error_name));
    content.insert("stateSurvived".into(), json!(false));
    content
}

/// Reads `reader` to its end, or until `stop` completes, keeping `cap` bytes.
async fn read_capped<R: tokio::io::AsyncRead + Unpin>(
    reader: Option<&mut R>,
    cap: usize,
    stop: impl std::future::Future<Output = ()>,
) -> (String, bool) {
    let Some(reader) = reader else { return (String::new(), false) };
    let mut kept = Vec::new();
    let mut total = 0usize;
    let mut buffer = vec![0u8; 64 * 1024];
    tokio::pin!(stop);
    loop {
        let read = tokio::select! {
            read = reader.read(&mut buffer) => read,
            () = &mut stop => break,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n;
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..n.min(room)]);
            }
        }
    }
    (String::from_utf8_lossy(&kept).into_owned(), total > kept.len())
}

fn new_environment_id() -> String {
    // A UUID-v4-shaped id, like the service's.
    let b: [u8; 16] = rand::random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
        (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]]),
    )
}

/// The environment's directory, its `.tmp` and `.local` (with the user
/// site-packages in it), and, for its namespaces, `.shm` (its `/dev/shm`):
/// owner-only, owned by its uid.
pub(super) fn create_private_dir(dir: &Path, uid: Option<u32>, confinement: &Confinement) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, chown};
    let shm = confinement.namespaces.is_some().then(|| dir.join(".shm"));
    let local = dir.join(".local");
    let mut site = Vec::new();
    if let Some(relative) = &confinement.user_site {
        let mut at = local.clone();
        for part in relative.components() {
            at.push(part);
            site.push(at.clone());
        }
    }
    for path in [dir.to_path_buf(), dir.join(".tmp"), local].into_iter().chain(shm).chain(site) {
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        if let Some(uid) = uid {
            chown(&path, Some(uid), Some(uid))?;
        }
    }
    Ok(())
}

fn destroy_files(env: &Environment) {
    remove_dir(&env.placement);
}

/// Kills what runs as the placement's uid and removes its directory.
fn remove_dir(placement: &Placement) {
    if let Some(uid) = placement.uid {
        kill_all_of_uid(uid);
    }
    if let Err(e) = std::fs::remove_dir_all(&placement.dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("could not remove {}: {e}", placement.dir.display());
        }
    }
}
