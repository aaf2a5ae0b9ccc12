//! User code that misbehaves, through the real local sandbox (MCP
//! `runPythonCodeInRemoteEnvironment`) and, where the wording matters to the
//! editor, through the run engine. For each: the sandbox survives (the next
//! run works) and the result says what happened. Cases already covered
//! elsewhere are not repeated: the time limit with `sleep` and state kept or
//! lost, `os._exit` and SIGKILL at the MCP level, a small output cap, forged
//! answers on the control channel (tests/sandbox_environments.rs);
//! `sys.stdout.close()`, printed markers, `os._exit(1)` through the engine
//! (tests/engine.rs).

use crate::common;

use std::time::{Duration, Instant};

use crate::common::inside::{WHO_AM_I, host_pid, namespace_of, tasks_in_namespace};
use crate::common::*;
use azure_sandbox_lsp::run::{RunResult, Snippet, StateLoss};
use azure_sandbox_lsp::sandbox::SandboxConfig;
use serde_json::{Value, json};

fn value(result: &RunResult) -> Option<&str> {
    match result {
        RunResult::Succeeded { value } => value.as_deref(),
        other => panic!("expected success, got {other:?}"),
    }
}

fn failure(result: &RunResult) -> &str {
    match result {
        RunResult::Failed { reason, .. } => reason,
        other => panic!("expected a failed run, got {other:?}"),
    }
}

fn raised(result: &RunResult) -> String {
    match result {
        RunResult::Raised(e) => e.headline(),
        other => panic!("expected an exception, got {other:?}"),
    }
}

/// Tasks (processes and threads) in each session, from /proc; zombies
/// (ended, waiting to be reaped) aside.
fn sessions() -> std::collections::HashMap<i32, usize> {
    let mut found = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) {
            let fields: Vec<&str> = stat[stat.rfind(')').unwrap_or(0) + 1..].split_whitespace().collect();
            if fields.first() == Some(&"Z") {
                continue;
            }
            if let (Some(session), Some(threads)) = (
                fields.get(3).and_then(|f| f.parse::<i32>().ok()),
                fields.get(17).and_then(|f| f.parse::<usize>().ok()),
            ) {
                *found.entry(session).or_default() += threads;
            }
        }
    }
    found
}

/// An environment's processes as this machine sees them: those of its
/// interpreter's session (process isolation), or of its PID namespace.
#[derive(Debug, Clone, Copy)]
enum Group {
    Session(i32),
    Namespace(u64),
}

fn tasks(group: Group) -> usize {
    match group {
        Group::Session(session) => sessions().get(&session).copied().unwrap_or(0),
        Group::Namespace(inode) => tasks_in_namespace(inode),
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z"))
}

// ---- endless loops -------------------------------------------------------

/// A loop that never sleeps, and a run timeout on the client: the run ends
/// with a clear error at the timeout, the loop is interrupted in the
/// sandbox, and the variables from before it are still there.
#[tokio::test]
async fn an_endless_loop_ends_at_the_run_timeout_and_keeps_the_state() {
    let _beside_each_other = common::beside_each_other().await;
    let sandbox = sandbox(config()).await;
    let engine = engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    engine.run(&key, &Snippet::whole("/w/a.py", "kept = 'yes'")).await.unwrap();
    let started = Instant::now();
    let error = engine
        .run_with_timeout(
            &key,
            &Snippet::whole("/w/a.py", "n = 0\nwhile True:\n    n += 1"),
            Some(Duration::from_secs(1)),
        )
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(error.to_string().contains("within 1 s"), "{error}");
    let report = engine.run(&key, &Snippet::whole("/w/a.py", "kept, n > 0")).await.unwrap();
    assert_eq!(value(&report.result), Some("('yes', True)"), "interrupted, not killed: the state is kept");
    assert!(report.state_lost().is_none());
}

/// A loop that swallows the interrupt: the sandbox kills it at its own
/// limit, and the run says the state was lost.
#[tokio::test]
async fn an_endless_loop_that_ignores_interrupts_is_killed_and_says_the_state_is_lost() {
    let _beside_each_other = common::beside_each_other().await;
    let sandbox = sandbox(SandboxConfig { python_timeout: Duration::from_secs(1), ..config() }).await;
    let engine = engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    engine.run(&key, &Snippet::whole("/w/a.py", "kept = 1")).await.unwrap();
    let stubborn =
        "while True:\n    try:\n        while True:\n            pass\n    except KeyboardInterrupt:\n        pass";
    let started = Instant::now();
    let report = engine.run(&key, &Snippet::whole("/w/a.py", stubborn)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let reason = failure(&report.result);
    assert!(reason.contains("execution limit") && reason.contains("was lost"), "{reason}");
    assert_eq!(report.state_lost(), Some(StateLoss::InterpreterReplaced));
    let report = engine.run(&key, &Snippet::whole("/w/a.py", "'kept' in globals()")).await.unwrap();
    assert_eq!(value(&report.result), Some("False"));
}

/// The same loop, but the client gives up first (its run timeout is
/// shorter than the sandbox's limit): the sandbox kills the interpreter
/// later, when no one is listening. The next run must still say that the
/// state was lost, or the user sees NameErrors with no explanation.
#[tokio::test]
async fn state_lost_after_the_client_gave_up_is_reported_by_the_next_run() {
    let _beside_each_other = common::beside_each_other().await;
    let sandbox = sandbox(SandboxConfig { python_timeout: Duration::from_secs(2), ..config() }).await;
    let engine = engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    engine.run(&key, &Snippet::whole("/w/a.py", "kept = 1")).await.unwrap();
    let stubborn =
        "while True:\n    try:\n        while True:\n            pass\n    except KeyboardInterrupt:\n        pass";
    let error = engine
        .run_with_timeout(&key, &Snippet::whole("/w/a.py", stubborn), Some(Duration::from_secs(1)))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("within 1 s"), "{error}");
    // Waits behind the stubborn run until the sandbox has killed it.
    let report = engine.run(&key, &Snippet::whole("/w/a.py", "'kept' in globals()")).await.unwrap();
    assert_eq!(value(&report.result), Some("False"));
    assert_eq!(
        report.state_lost(),
        Some(StateLoss::InterpreterReplaced),
        "the next run says the state was lost: {:?}",
        report.notices
    );
    assert!(report.notices.iter().any(|n| n.message().contains("state")), "{:?}", report.notices);
    // Once said, not again.
    let report = engine.run(&key, &Snippet::whole("/w/a.py", "1")).await.unwrap();
    assert!(report.state_lost().is_none(), "{:?}", report.notices);
}

// ---- fork bombs ------------------------------------------------------------

/// No spare interpreter: a namespace's number can be reused once it is
/// gone, and a spare started then would look like the bomb lived on. The
/// bomb tests run alone: one counts the machine's tasks, and a bomb beside
/// it would count too (CI failed so: 95 tasks before, 517 after).
fn bomb_sandbox_config() -> SandboxConfig {
    SandboxConfig {
        max_processes: Some(64),
        python_timeout: Duration::from_secs(20),
        spare_interpreter: false,
        ..config()
    }
}

/// Samples the tasks of `group` every 5 ms until `stop`; returns the most.
fn watch_group(group: Group, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut most = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            most = most.max(tasks(group));
            std::thread::sleep(Duration::from_millis(5));
        }
        most
    })
}

async fn group_of(sandbox: &azure_sandbox_lsp::sandbox::LocalSandbox, environment: &str) -> Group {
    if sandbox.isolation().is_namespaces() {
        let reply = run_python(sandbox, environment, WHO_AM_I).await;
        return Group::Namespace(namespace_of(content(&reply)["executionResult"].as_str().unwrap()));
    }
    let reply = run_python(sandbox, environment, "import os\nos.getsid(0)").await;
    Group::Session(content(&reply)["executionResult"].as_str().unwrap().parse().unwrap())
}

/// Waits (up to 5 s) until `group` has no process left.
async fn all_gone(group: Group) -> bool {
    for _ in 0..100 {
        if tasks(group) == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// 300 children that sleep: bounded by construction, so safe to run even
/// when nothing stops it; with the sandbox's process limit (64 here) it must
/// be stopped well before the 300th. (Without a private uid, and always for
/// root, RLIMIT_NPROC bounds nothing; this ran all 300 to the end.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_processes_are_stopped_and_the_run_says_so() {
    let _alone = common::alone().await;
    let sandbox = sandbox(bomb_sandbox_config()).await;
    let (env, other) = (launch(&sandbox).await, launch(&sandbox).await);
    run_python(&sandbox, &other, "neighbour = 'kept'").await;
    run_python(&sandbox, &env, "mine = 1").await;
    let group = group_of(&sandbox, &env).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = watch_group(group, stop.clone());
    // 2 ms apart, so that 300 take longer than a few looks of the watch.
    let code = "import os, time\nfor i in range(300):\n    if os.fork() == 0:\n        time.sleep(20)\n        os._exit(0)\n    time.sleep(0.002)\nprint('made all 300')";
    let started = Instant::now();
    let reply = run_python(&sandbox, &env, code).await;
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let most = watcher.join().unwrap();
    let stderr = content(&reply)["stderr"].as_str().unwrap_or_default().to_owned();
    assert!(all_gone(group).await, "every process of the bomb is gone");
    assert_eq!(content(&reply)["errorName"], "ProcessLimit", "{reply}");
    assert!(stderr.contains("limit of 64 processes") && stderr.contains("was lost"), "{stderr}");
    assert!(!content(&reply)["stdout"].as_str().unwrap_or_default().contains("made all 300"));
    assert!(most < 300, "at most {most} tasks at once");
    // The environment goes on with a fresh interpreter; its neighbour kept its state.
    assert_eq!(content(&run_python(&sandbox, &env, "'mine' in globals()").await)["executionResult"], "False");
    assert_eq!(content(&run_python(&sandbox, &other, "neighbour").await)["executionResult"], "'kept'");
    println!("fork-bomb (300 sleepers, limit 64): stopped after {took:?}, at most {most} tasks in its {group:?}");
}

/// The real thing, `while True: os.fork()`, with a deadline inside as a
/// safety net (each process stops forking after 5 s). It is stopped within
/// a second, every process it made is gone, and the machine's task count
/// comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_bomb_is_stopped_and_leaves_nothing_behind() {
    let _alone = common::alone().await;
    let before = sessions().values().sum::<usize>();
    let sandbox = sandbox(bomb_sandbox_config()).await;
    let env = launch(&sandbox).await;
    let group = group_of(&sandbox, &env).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = watch_group(group, stop.clone());
    let code = "import os, time\nend = time.time() + 5\nwhile time.time() < end:\n    os.fork()\nos._exit(0)";
    let started = Instant::now();
    let reply = run_python(&sandbox, &env, code).await;
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let most = watcher.join().unwrap();
    assert!(all_gone(group).await, "every process of the bomb is gone");
    assert_eq!(content(&reply)["errorName"], "ProcessLimit", "{reply}");
    assert!(took < Duration::from_millis(4500), "stopped after {took:?}");
    assert_eq!(content(&run_python(&sandbox, &env, "2 + 2").await)["executionResult"], "4");
    let after = sessions().values().sum::<usize>();
    assert!(after < before + 50, "tasks on the machine: {before} before, {after} after");
    println!("fork-bomb (while True: os.fork()): stopped after {took:?}, at most {most} tasks in its {group:?}");
}

/// 300 children that each call setsid and sleep: each leaves the
/// interpreter's session as soon as it is made, which under process
/// isolation escapes the process watch (it counts that session; this ran
/// all 300). Bounded by construction, like the 300 sleepers above. Their
/// PID namespace they never leave: stopped well before the 300th, and gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_that_call_setsid_are_still_counted_and_stopped() {
    let _alone = common::alone().await;
    if !namespaces_here("processes_that_call_setsid_are_still_counted_and_stopped").await {
        return;
    }
    let config =
        SandboxConfig { isolation: azure_sandbox_lsp::sandbox::IsolationMode::Namespaces, ..bomb_sandbox_config() };
    let sandbox = sandbox(config).await;
    let env = launch(&sandbox).await;
    let group = group_of(&sandbox, &env).await;
    let code = "import os, time\nfor i in range(300):\n    if os.fork() == 0:\n        os.setsid()\n        \
                time.sleep(20)\n        os._exit(0)\n    time.sleep(0.002)\nprint('made all 300')";
    let started = Instant::now();
    let reply = run_python(&sandbox, &env, code).await;
    let took = started.elapsed();
    assert_eq!(content(&reply)["errorName"], "ProcessLimit", "{reply}");
    assert!(!content(&reply)["stdout"].as_str().unwrap_or_default().contains("made all 300"));
    assert!(all_gone(group).await, "every process is gone, in a session of its own or not");
    assert_eq!(content(&run_python(&sandbox, &env, "2 + 2").await)["executionResult"], "4");
    println!("300 sleepers that call setsid, in namespaces: stopped after {took:?}");
}

/// A bomb left running in the background after its run ended: stopped all
/// the same, and the next run says why its state is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_bomb_left_in_the_background_is_stopped_and_reported_by_the_next_run() {
    let _alone = common::alone().await;
    let sandbox = sandbox(bomb_sandbox_config()).await;
    let env = launch(&sandbox).await;
    let group = group_of(&sandbox, &env).await;
    let code = "import os, time\nend = time.time() + 5\nif os.fork() == 0:\n    while time.time() < end:\n        os.fork()\n    os._exit(0)\n'left it running'";
    let reply = run_python(&sandbox, &env, code).await;
    assert_eq!(content(&reply)["executionResult"], "'left it running'");
    assert!(all_gone(group).await, "every process of the bomb is gone");
    let reply = run_python(&sandbox, &env, "1").await;
    assert_eq!(content(&reply)["errorName"], "ProcessLimit", "{reply}");
    assert_eq!(content(&run_python(&sandbox, &env, "2 + 2").await)["executionResult"], "4");
}

/// The same bound holds for shell commands (`executeShellCommand`), which
/// run beside the interpreter, not in it: 300 background sleepers (bounded
/// by construction) are stopped well before the 300th, with everything the
/// command started, and the interpreter's state is kept. In namespaces the
/// command's PID namespace is counted, so children that call setsid are too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_bomb_in_a_shell_command_is_stopped_and_the_python_state_kept() {
    // Alone, as the other bombs (see bomb_sandbox_config).
    let _alone = common::alone().await;
    let config = SandboxConfig { shell_timeout: Duration::from_secs(30), ..bomb_sandbox_config() };
    let sandbox = sandbox(config).await;
    let env = launch(&sandbox).await;
    run_python(&sandbox, &env, "mine = 1").await;
    // An odd duration marks the sleepers: none may be left on the machine.
    let mut bombs = vec![("sleepers", "sleep 20.4242 &")];
    if sandbox.isolation().is_namespaces() {
        bombs.push(("sleepers that call setsid", "setsid sleep 20.4242 &"));
    }
    let sleepers = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == b"sleep\x0020.4242\x00"))
            .count()
    };
    for (name, each) in bombs {
        let command = format!("for i in $(seq 300); do {each} sleep 0.002; done; echo made all 300");
        let started = Instant::now();
        let reply = run_shell(&sandbox, &env, json!({"shellCommand": command})).await;
        let took = started.elapsed();
        assert_eq!(content(&reply)["errorName"], "ProcessLimit", "{name}: {reply}");
        let stderr = content(&reply)["stderr"].as_str().unwrap_or_default().to_owned();
        assert!(stderr.contains("limit of 64 processes") && stderr.contains("state was kept"), "{stderr}");
        assert!(took < Duration::from_secs(15), "{name}: stopped after {took:?}");
        // Nothing it started is left on the machine.
        let mut left = usize::MAX;
        for _ in 0..100 {
            left = sleepers();
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(left, 0, "{name}: sleepers left running");
        assert_eq!(content(&run_python(&sandbox, &env, "mine").await)["executionResult"], "1", "{name}");
        let reply = run_shell(&sandbox, &env, json!({"shellCommand": "echo ok"})).await;
        assert_eq!(content(&reply)["stdout"], "ok\n", "{name}: {reply}");
        println!("shell fork bomb ({name}, limit 64): stopped after {took:?}");
    }
}

// ---- memory ------------------------------------------------------------------

/// 64 GB at once, against the default 4 GB address-space limit: a
/// MemoryError, and the state survives.
#[tokio::test]
async fn a_huge_allocation_is_a_memory_error_and_keeps_the_state() {
    let _beside_each_other = common::beside_each_other().await;
    let sandbox = sandbox(config()).await;
    let engine = engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    engine.run(&key, &Snippet::whole("/w/m.py", "kept = 'yes'")).await.unwrap();
    let report = engine.run(&key, &Snippet::whole("/w/m.py", "hog = bytearray(64 * 2**30)")).await.unwrap();
    assert_eq!(raised(&report.result), "MemoryError");
    assert!(report.state_lost().is_none());
    let report = engine.run(&key, &Snippet::whole("/w/m.py", "kept")).await.unwrap();
    assert_eq!(value(&report.result), Some("'yes'"));
}

/// Memory taken a piece at a time, up to the limit (1 GiB here, to be
/// quick): a MemoryError too; what it held can be freed, and the
/// interpreter goes on.
#[tokio::test]
async fn memory_taken_bit_by_bit_stops_at_the_limit() {
    let _beside_each_other = common::beside_each_other().await;
    let sandbox = sandbox(SandboxConfig { memory_limit_bytes: Some(1 << 30), ..config() }).await;
    let env = launch(&sandbox).await;
    let code = "chunks = []\nwhile True:\n    chunks.append(bytearray(32 << 20))";
    let started = Instant::now();
    let reply = run_python(&sandbox, &env, code).await;
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert_eq!(content(&reply)["errorName"], "MemoryError", "{reply}");
    let reply = run_python(&sandbox, &env, "held = len(chunks) * 32\nchunks.clear()\nheld").await;
    let held: u64 = content(&reply)["executionResult"].as_str().unwrap().parse().unwrap();
    assert!((512..1024).contains(&held), "{held} MiB held at the limit");
    assert_eq!(
        content(&run_python(&sandbox, &env, "x = bytearray(256 << 20)\nlen(x)").await)["executionResult"],
        "268435456"
    );
}

// ---- output ------------------------------------------------------------------

/// `serve-local` as a child process, for its memory.
struct Server {
    child: std::process::Child,
    endpoint: String,
    key: String,
}

impl Server {
    fn start(args: &[&str]) -> Self {
        use std::io::BufRead;
        let key = "misbehaving-code-test-key-0123456789";
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_azure-sandbox-lsp"))
            .arg("serve-local")
            .args(args)
            .env("AZURE_SANDBOX_LOCAL_API_KEY", key)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("serve-local starts");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let endpoint = lines.next().unwrap().unwrap().strip_prefix("MCP_ENDPOINT=").unwrap().to_owned();
        Self { child, endpoint, key: key.to_owned() }
    }

    async fn call(&self, id: u64, tool: &str, arguments: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
        let (status, _, text) = post_raw(&self.endpoint, Some(&self.key), &body.to_string(), None).await;
        assert_eq!(status, 200, "{text:.300}");
        serde_json::from_str(&text).unwrap()
    }

    /// Resident memory in MiB.
    fn memory(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child: SIGTERM, so it stops its interpreters.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// 1 GB on stdout and 256 MB on stderr: the 1 MiB cap keeps the start and
/// says it cut, the run completes, and the server's memory does not follow
/// the output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_of_output_is_cut_at_the_cap_and_the_server_stays_small() {
    let _beside_each_other = common::beside_each_other().await;
    let server = Server::start(&["--port", "0", "--no-spare"]);
    let launched = server.call(1, "launchShell", json!({})).await;
    let env = launched["result"]["structuredContent"]["environmentId"].as_str().unwrap().to_owned();
    server.call(2, "runPythonCodeInRemoteEnvironment", json!({"environmentId": env, "pythonCode": "1"})).await;
    let before = server.memory();
    let code = "import os\nchunk = b'x' * (1 << 20)\nfor _ in range(1024):\n    os.write(1, chunk)\nfor _ in range(256):\n    os.write(2, chunk)\nprint('the end')\n'done'";
    let started = Instant::now();
    let reply =
        server.call(3, "runPythonCodeInRemoteEnvironment", json!({"environmentId": env, "pythonCode": code})).await;
    let took = started.elapsed();
    let after = server.memory();
    let result = &reply["result"]["structuredContent"];
    assert_eq!(result["status"], "Succeeded", "{:.500}", reply.to_string());
    assert_eq!(result["executionResult"], "'done'");
    // Cut at the service's 4,096 characters, the local sandbox's default.
    assert_eq!(result["stdout"].as_str().unwrap().len(), 4096);
    assert_eq!(result["stderr"].as_str().unwrap().len(), 4096);
    assert_eq!((&result["stdoutTruncated"], &result["stderrTruncated"]), (&json!(true), &json!(true)));
    assert!(after < before + 64, "serve-local went from {before} to {after} MiB");
    let reply = server
        .call(4, "runPythonCodeInRemoteEnvironment", json!({"environmentId": env, "pythonCode": "print('small')"}))
        .await;
    assert_eq!(reply["result"]["structuredContent"]["stdout"], "small\n");
    assert_eq!(reply["result"]["structuredContent"]["stdoutTruncated"], false);
    println!("1 GB of output: {took:?}; serve-local resident memory {before} MiB before, {after} MiB after");
}

/// Standard streams closed at the descriptor level, or replaced by None:
/// the result still comes back, and the next run has its streams again.
#[tokio::test]
async fn closed_and_removed_standard_streams() {
    let _beside_each_other = common::beside_each_other().await;
    let sandbox = sandbox(config()).await;
    let engine = engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    for code in [
        "import os\nos.close(1)\nos.close(2)\n6 * 7",
        "import sys\nsys.stdout.close()\nsys.stderr.close()\n6 * 7",
        "import sys\nsys.stdout = None\nsys.stderr = None\n6 * 7",
        "import os\nfd = os.open(os.devnull, os.O_WRONLY)\nos.dup2(fd, 1)\nos.dup2(fd, 2)\n6 * 7",
    ] {
        let report = engine.run(&key, &Snippet::whole("/w/s.py", code)).await.unwrap();
        assert_eq!(value(&report.result), Some("42"), "{code}");
        let report = engine
            .run(&key, &Snippet::whole("/w/s.py", "import sys\nprint('out')\nprint('err', file=sys.stderr)"))
            .await
            .unwrap();
        assert_eq!((report.stdout.as_str(), report.stderr.as_str()), ("out\n", "err\n"), "after {code}");
    }
    // And an exception after closing them still arrives with its traceback.
    let report =
        engine.run(&key, &Snippet::whole("/w/s.py", "import os\nos.close(1)\nos.close(2)\n1/0")).await.unwrap();
    assert_eq!(raised(&report.result), "ZeroDivisionError: division by zero");
}

/// The process ending itself: the reason names the exit status or the signal.
#[tokio::test]
async fn an_interpreter_that_ends_itself_is_named_in_the_reason() {
    let _beside_each_other = common::beside_each_other().await;
    let sandbox = sandbox(config()).await;
    let engine = engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    for (code, expected) in [
        ("import os\nos._exit(3)", "exited with status 3"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "killed by signal 9"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)", "killed by signal 15"),
    ] {
        engine.run(&key, &Snippet::whole("/w/e.py", "kept = 1")).await.unwrap();
        let report = engine.run(&key, &Snippet::whole("/w/e.py", code)).await.unwrap();
        let reason = failure(&report.result);
        assert!(reason.contains(expected) && reason.contains("lost"), "{code}: {reason}");
        assert_eq!(report.state_lost(), Some(StateLoss::InterpreterReplaced));
        let report = engine.run(&key, &Snippet::whole("/w/e.py", "'kept' in globals()")).await.unwrap();
        assert_eq!(value(&report.result), Some("False"));
    }
}

// ---- what outlives a run -------------------------------------------------------

/// A thread that keeps printing after its run: later runs complete, with
/// their own results; what the thread prints during them lands in their
/// output (the interpreter is shared, as in Jupyter).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_that_keeps_printing_after_its_run() {
    let _beside_each_other = common::beside_each_other().await;
    let sandbox = sandbox(config()).await;
    let engine = engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    let code = "import threading, time, sys\ndef chatter():\n    while True:\n        print('tick')\n        sys.stderr.write('tock\\n')\n        time.sleep(0.001)\nthreading.Thread(target=chatter, daemon=True).start()\n'started'";
    let started = Instant::now();
    let report = engine.run(&key, &Snippet::whole("/w/t.py", code)).await.unwrap();
    assert_eq!(value(&report.result), Some("'started'"));
    for n in 0..5 {
        let report = engine
            .run(&key, &Snippet::whole("/w/t.py", &format!("import time\ntime.sleep(0.05)\nprint('run {n}')\n{n} * 2")))
            .await
            .unwrap();
        let expected = (n * 2).to_string();
        assert_eq!(value(&report.result), Some(expected.as_str()), "run {n}");
        // print() writes the text and its newline apart, and the thread's
        // ticks may land between them ("run 3tick\n\n"), as in Jupyter.
        assert!(report.stdout.contains(&format!("run {n}")), "run {n}: {:.300}", report.stdout);
    }
    let report = engine.run(&key, &Snippet::whole("/w/t.py", "1/0")).await.unwrap();
    assert_eq!(raised(&report.result), "ZeroDivisionError: division by zero");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// A double-forked, setsid child that outlives its run: the run does not
/// wait for it, and the environment goes on. In namespaces, or with
/// per-environment users (root and a system Python), destroying the
/// environment ends it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_outlives_its_run() {
    let _beside_each_other = common::beside_each_other().await;
    // The daemon's pid: the newest process of the environment's uid or
    // session is hard to name from inside, so it says who it is.
    let code = format!(
        "import os, time\nr, w = os.pipe()\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        \
         os.write(w, ({WHO_AM_I}).encode())\n        os.close(w)\n        os.chdir('/')\n        \
         for fd in (0, 1, 2):\n            os.close(fd)\n        time.sleep(60)\n        os._exit(0)\n    \
         os._exit(0)\nos.wait()\nos.close(w)\nos.read(r, 100).decode()"
    );
    let root = unsafe { libc::geteuid() } == 0;
    let system_python = std::path::Path::new("/usr/bin/python3");
    for isolate in [false, true] {
        if isolate && !(root && system_python.exists()) {
            eprintln!("skipped with per-environment users: needs root and /usr/bin/python3");
            continue;
        }
        let config = SandboxConfig {
            isolate_users: isolate,
            python: isolate.then(|| system_python.into()),
            cool_down: Duration::from_millis(800),
            ..config()
        };
        let sandbox = sandbox(config).await;
        let env = launch(&sandbox).await;
        let started = Instant::now();
        let reply = run_python(&sandbox, &env, &code).await;
        assert!(started.elapsed() < Duration::from_secs(5), "the run did not wait for its daemon");
        let who = content(&reply)["executionResult"].as_str().unwrap().to_owned();
        let daemon = host_pid(&who).unwrap_or_else(|| panic!("no daemon {who}: {reply}"));
        assert!(alive(daemon));
        assert_eq!(content(&run_python(&sandbox, &env, "2 + 2").await)["executionResult"], "4");
        // The environment expires.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(sandbox.pool().counts(), (0, 0));
        if sandbox.isolation().is_namespaces() {
            assert!(!alive(daemon), "the daemon ended with its environment (its PID namespace ended)");
        } else if isolate {
            assert!(!alive(daemon), "the daemon ended with its environment (its uid's processes are killed)");
        } else {
            // Without a private uid nothing ties it to the environment any
            // more (it left the session and the process group): it lives on.
            let survived = alive(daemon);
            // SAFETY: kill(2) on the daemon this test made.
            unsafe { libc::kill(daemon, libc::SIGKILL) };
            println!("daemon without per-environment users: still alive after its environment expired: {survived}");
        }
    }
}

/// A shell command that leaves something running in the background: the
/// command's answer comes when the command ends, not at the time limit, and
/// what it left behind is stopped.
#[tokio::test]
async fn a_shell_command_that_leaves_a_background_process() {
    let _beside_each_other = common::beside_each_other().await;
    let sandbox = sandbox(SandboxConfig { shell_timeout: Duration::from_secs(8), ..config() }).await;
    let env = launch(&sandbox).await;
    let started = Instant::now();
    // The background process's pid, as the host can find it (WHO_AM_I).
    let command = "echo started; sleep 30 & echo \"$(readlink /proc/self/ns/pid | tr -dc 0-9) $!\" > bg.pid; echo done";
    let reply = run_shell(&sandbox, &env, json!({"shellCommand": command})).await;
    let took = started.elapsed();
    assert_eq!(content(&reply)["exitCode"], 0, "{reply}");
    assert_eq!(content(&reply)["stdout"], "started\ndone\n");
    assert!(took < Duration::from_secs(7), "answered after {took:?}");
    let reply = run_python(&sandbox, &env, "open('bg.pid').read()").await;
    let who = content(&reply)["executionResult"].as_str().unwrap().trim_matches('\'').replace("\\n", "");
    assert_eq!(who.split_whitespace().count(), 2, "{reply}");
    assert_eq!(host_pid(&who), None, "the background process was stopped with its command");
}

// ---- other ---------------------------------------------------------------------

/// A fork whose child does not exit goes on running the sandbox's own loop
/// in the child: both answer on the control channel. The runs after it
/// still get the right answers.
#[tokio::test]
async fn a_fork_whose_child_does_not_exit() {
    let _beside_each_other = common::beside_each_other().await;
    let sandbox = sandbox(config()).await;
    let env = launch(&sandbox).await;
    run_python(&sandbox, &env, "counter = 0").await;
    let reply = run_python(&sandbox, &env, "import os\npid = os.fork()\n'child' if pid == 0 else 'parent'").await;
    let first = content(&reply)["executionResult"].clone();
    assert!(first == "'parent'" || first == "'child'", "{reply}");
    for n in 1..=6 {
        let reply = run_python(&sandbox, &env, &format!("counter += 1\n({n}, counter)")).await;
        let result = content(&reply)["executionResult"].as_str().unwrap_or_default().to_owned();
        assert!(result.starts_with(&format!("({n}, ")), "run {n}: {reply}");
    }
    assert_eq!(content(&run_python(&sandbox, &env, "2 + 2").await)["executionResult"], "4");
}

/// Reading standard input: there is none, and it says so at once.
#[tokio::test]
async fn reading_standard_input_ends_at_once() {
    let _beside_each_other = common::beside_each_other().await;
    let sandbox = sandbox(config()).await;
    let engine = engine(&sandbox);
    let key = engine.workspace_key("/w".into());
    let started = Instant::now();
    let report = engine.run(&key, &Snippet::whole("/w/i.py", "name = input('name? ')")).await.unwrap();
    assert_eq!(raised(&report.result), "EOFError: EOF when reading a line");
    assert!(report.stdout.contains("name? "));
    let report = engine
        .run(
            &key,
            &Snippet::whole("/w/i.py", "import sys, os\n(sys.stdin.read(), os.read(0, 10), sys.stdin.readline())"),
        )
        .await
        .unwrap();
    assert_eq!(value(&report.result), Some("('', b'', '')"));
    assert!(started.elapsed() < Duration::from_secs(5));
}
