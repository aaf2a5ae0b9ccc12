//! The local sandbox's namespaces (bubblewrap), tried from inside by code
//! that wants out: the user's home, another environment's files, the rest
//! of the file system, the server's processes, processes that outlive their
//! environment, the host's loopback with the network off. Each test forces
//! namespaces (it fails where there are none, unless
//! AZURE_SANDBOX_EXPECT_NAMESPACES=0; see `namespaces_here`), checks that
//! the escape fails, and where it can, that the same code does what it
//! should inside (so a test that cannot fail would show). Also: what
//! serve-local and doctor say about the isolation in force, the network
//! setting, `pip install` over the network, a virtual environment as the
//! interpreter, and serve-local's time limit on a stalled request head. (A
//! fork bomb that calls setsid is in tests/reliability/misbehaving_code.rs,
//! away from tests that time things.)

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use azure_sandbox_lsp::sandbox::{IsolationMode, LocalSandbox, SandboxConfig};
use serde_json::{Value, json};

use crate::common::inside::{Beacon, WHO_AM_I, host_pid};
use crate::common::local_server::LocalServer;
use crate::common::*;

const BIN: &str = env!("CARGO_BIN_EXE_azure-sandbox-lsp");
const KEY: &str = "namespaces-test-key-0123456789";

fn namespaced() -> SandboxConfig {
    SandboxConfig { isolation: IsolationMode::Namespaces, ..config() }
}

/// The result of a trailing expression, as Python's repr.
async fn value(sandbox: &LocalSandbox, environment: &str, code: &str) -> String {
    let reply = run_python(sandbox, environment, code).await;
    match content(&reply)["executionResult"].as_str() {
        Some(value) => value.to_owned(),
        None => panic!("no value from {code:?}: {reply}"),
    }
}

/// A file in the user's home that no environment may read; removed after.
struct Canary(PathBuf);

impl Drop for Canary {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn code_cannot_read_the_users_home() {
    if !namespaces_here("code_cannot_read_the_users_home").await {
        return;
    }
    let home = PathBuf::from(std::env::var("HOME").expect("HOME"));
    let canary = Canary(home.join(format!(".azure-sandbox-canary-{:016x}", rand_u64())));
    std::fs::write(&canary.0, "the user's secret").unwrap();
    let sandbox = sandbox(namespaced()).await;
    let env = launch(&sandbox).await;
    let code = format!(
        "import os\ntry:\n    seen = open({:?}).read()\nexcept OSError as e:\n    seen = type(e).__name__\n\
         listed = os.listdir({:?}) if os.path.isdir({:?}) else []\n(seen, {:?} in listed)",
        canary.0,
        home,
        home,
        canary.0.file_name().unwrap().to_str().unwrap()
    );
    assert_eq!(value(&sandbox, &env, &code).await, "('FileNotFoundError', False)");
    // Under process isolation the same code reads it: the test can fail.
    let open = common_sandbox(IsolationMode::Process).await;
    let env = launch(&open).await;
    assert_eq!(value(&open, &env, &code).await, "(\"the user's secret\", True)");
}

async fn common_sandbox(isolation: IsolationMode) -> LocalSandbox {
    sandbox(SandboxConfig { isolation, ..config() }).await
}

fn rand_u64() -> u64 {
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).unwrap();
    u64::from_le_bytes(bytes)
}

#[tokio::test]
async fn code_cannot_list_or_write_another_environments_files() {
    if !namespaces_here("code_cannot_list_or_write_another_environments_files").await {
        return;
    }
    let sandbox = sandbox(namespaced()).await;
    let (a, b) = (launch(&sandbox).await, launch(&sandbox).await);
    value(&sandbox, &a, "open('mine.txt', 'w').write('a')").await;
    let a_dir = sandbox.pool().directory_of(&a).unwrap();
    let root = a_dir.parent().unwrap().to_owned();
    let code = format!(
        "import os\ndef attempt(f):\n    try:\n        f()\n        return 'done'\n    except OSError as e:\n        \
         return type(e).__name__\n(attempt(lambda: os.listdir({a_dir:?})), attempt(lambda: os.listdir({root:?})), \
         attempt(lambda: open({:?}, 'w').write('b')), os.path.exists('mine.txt'), os.getcwd())",
        a_dir.join("mine.txt")
    );
    assert_eq!(
        value(&sandbox, &b, &code).await,
        "('FileNotFoundError', 'FileNotFoundError', 'FileNotFoundError', False, '/mnt/data')"
    );
    assert_eq!(std::fs::read_to_string(a_dir.join("mine.txt")).unwrap(), "a", "a's file is as a left it");
}

#[tokio::test]
async fn code_writes_only_in_its_own_directory_and_tmp() {
    if !namespaces_here("code_writes_only_in_its_own_directory_and_tmp").await {
        return;
    }
    let sandbox = sandbox(namespaced()).await;
    let env = launch(&sandbox).await;
    let marker = format!("azsb-write-test-{:016x}", rand_u64());
    // Everywhere a program might try, the interpreter's own directories too.
    let code = format!(
        "import os, sys, site\nplaces = ['/', '/etc', '/usr', '/usr/local/bin', '/var', '/opt', '/root', '/home', \
         '/mnt', '/srv', '/bin', '/proc', '/dev', sys.prefix, os.path.dirname(sys.executable)] + \
         site.getsitepackages() + ['/mnt/data', '/tmp', '/dev/shm']\nwritten = []\nfor place in places:\n    \
         try:\n        with open(os.path.join(place, {marker:?}), 'w') as f:\n            f.write('x')\n        \
         written.append(place)\n    except OSError:\n        pass\nwritten"
    );
    assert_eq!(value(&sandbox, &env, &code).await, "['/mnt/data', '/tmp', '/dev/shm']");
    // Each of those is the environment's own, on this machine: its
    // directory, and its .tmp and .shm in it; not the machine's /tmp.
    let dir = sandbox.pool().directory_of(&env).unwrap();
    for own in [dir.join(&marker), dir.join(".tmp").join(&marker), dir.join(".shm").join(&marker)] {
        assert!(own.exists(), "{} was written", own.display());
    }
    assert!(!Path::new("/tmp").join(&marker).exists(), "the machine's /tmp is not the environment's");
}

#[tokio::test]
async fn code_cannot_see_the_servers_processes() {
    if !namespaces_here("code_cannot_see_the_servers_processes").await {
        return;
    }
    let sandbox = sandbox(namespaced()).await;
    let env = launch(&sandbox).await;
    let me = std::process::id();
    let code = format!(
        "import os\npids = [int(p) for p in os.listdir('/proc') if p.isdigit()]\n\
         commands = [open('/proc/%d/cmdline' % p, 'rb').read().replace(b'\\0', b' ').decode() for p in pids]\n\
         try:\n    os.kill({me}, 0)\n    signalled = True\nexcept OSError:\n    signalled = False\n\
         (len(pids), any('azure-sandbox-lsp' in c or 'integration' in c for c in commands), signalled, \
         {me} in pids)"
    );
    let seen = value(&sandbox, &env, &code).await;
    let count: usize = seen.trim_start_matches('(').split(',').next().unwrap().parse().unwrap();
    assert!(count <= 3, "bubblewrap's init and the interpreter (and its capture thread's nothing): {seen}");
    assert!(seen.ends_with(", False, False, False)"), "{seen}");
}

/// A daemon (double fork, setsid, its descriptors closed) ends when its
/// environment does: when the environment expires, and when the server
/// stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setsid_daemon_ends_with_its_environment() {
    if !namespaces_here("a_setsid_daemon_ends_with_its_environment").await {
        return;
    }
    let daemon = format!(
        "import os, time\nr, w = os.pipe()\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        \
         os.write(w, ({WHO_AM_I}).encode())\n        os.close(w)\n        for fd in (0, 1, 2):\n            \
         os.close(fd)\n        time.sleep(120)\n        os._exit(0)\n    os._exit(0)\nos.wait()\nos.close(w)\n\
         os.read(r, 100).decode()"
    );
    let alive = |pid: i32| std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z"));
    let sandbox = sandbox(SandboxConfig { cool_down: Duration::from_millis(800), ..namespaced() }).await;
    let env = launch(&sandbox).await;
    let who = value(&sandbox, &env, &daemon).await;
    let pid = host_pid(&who).unwrap_or_else(|| panic!("no daemon {who}"));
    assert!(alive(pid), "the daemon outlives its run");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(sandbox.pool().counts(), (0, 0), "the environment expired");
    assert!(!alive(pid), "the daemon ended with its environment");
    let env = launch(&sandbox).await;
    let pid = host_pid(&value(&sandbox, &env, &daemon).await).unwrap();
    sandbox.shutdown().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!alive(pid), "the daemon ended with the server");
}

/// serve-local as a child process, with its log to read.
struct Server {
    server: LocalServer,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("serve-local.log");
        Self { server: LocalServer::start(args, KEY, &log), log, _dir: dir }
    }

    async fn call(&self, tool: &str, arguments: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
        let (status, _, text) = post_raw(&self.server.endpoint, Some(KEY), &body.to_string(), None).await;
        assert_eq!(status, 200, "{text}");
        serde_json::from_str::<Value>(&text).unwrap()["result"]["structuredContent"].clone()
    }

    async fn launch(&self) -> String {
        self.call("launchShell", json!({})).await["environmentId"].as_str().unwrap().to_owned()
    }

    async fn python(&self, environment: &str, code: &str) -> Value {
        self.call("runPythonCodeInRemoteEnvironment", json!({"environmentId": environment, "pythonCode": code})).await
    }

    async fn shell(&self, environment: &str, command: &str) -> Value {
        self.call("runShellCommandInRemoteEnvironment", json!({"environmentId": environment, "shellCommand": command}))
            .await
    }

    /// The line serve-local logged about the isolation in force.
    fn isolation_line(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(line) = log.lines().find(|l| l.contains("isolation: ")) {
                return line.to_owned();
            }
            assert!(Instant::now() < deadline, "serve-local never said which isolation is in force:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

const CONNECT_TO_THE_BEACON: &str = "import socket\ntry:\n    socket.create_connection(('127.0.0.1', PORT), timeout=5).sendall(b'out')\n    \
     reached = 'reached'\nexcept OSError as e:\n    reached = type(e).__name__\nreached";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_network_off_the_hosts_loopback_cannot_be_reached() {
    if !namespaces_here("with_the_network_off_the_hosts_loopback_cannot_be_reached").await {
        return;
    }
    let beacon = Beacon::start();
    let code = CONNECT_TO_THE_BEACON.replace("PORT", &beacon.port.to_string());
    let off = Server::start(&["--network", "off"]);
    assert!(off.isolation_line().contains("network off"), "{}", off.isolation_line());
    let env = off.launch().await;
    assert_eq!(off.python(&env, &code).await["executionResult"], "'ConnectionRefusedError'");
    // Its own loopback works: a server and a client inside the environment.
    let own = "import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\n\
               c = socket.create_connection(s.getsockname())\nc.sendall(b'hi')\ns.accept()[0].recv(2)";
    assert_eq!(off.python(&env, own).await["executionResult"], "b'hi'");
    // A shell command too.
    let command = format!("exec 3<>/dev/tcp/127.0.0.1/{} && echo reached || echo refused", beacon.port);
    assert_eq!(off.shell(&env, &command).await["stdout"], "refused\n");
    assert!(beacon.messages().is_empty(), "nothing reached the host");
    // The network on (the default): the same code reaches it.
    let on = Server::start(&[]);
    assert!(on.isolation_line().contains("network on"), "{}", on.isolation_line());
    let env = on.launch().await;
    assert_eq!(on.python(&env, &code).await["executionResult"], "'reached'");
    assert_eq!(beacon.next_after(0, Duration::from_secs(5)).await.as_deref(), Some("out"));
}

/// A wheel built here, served over HTTP on the host's loopback: `pip
/// install` of its URL in a shell command, as the language server's install
/// runs it (`python3 -m pip`), then an import of it in the interpreter that
/// was already running (the user site exists from the start, so it is on
/// its `sys.path`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pip_install_works_with_the_network_on() {
    if !namespaces_here("pip_install_works_with_the_network_on").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let wheel = dir.path().join("azsb_probe-1.0-py3-none-any.whl");
    let build = "import sys, zipfile\nfiles = {'azsb_probe/__init__.py': 'VALUE = 42\\n', \
                 'azsb_probe-1.0.dist-info/METADATA': 'Metadata-Version: 2.1\\nName: azsb-probe\\nVersion: 1.0\\n', \
                 'azsb_probe-1.0.dist-info/WHEEL': 'Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n'}\n\
                 files['azsb_probe-1.0.dist-info/RECORD'] = ''.join(n + ',,\\n' for n in list(files) + ['azsb_probe-1.0.dist-info/RECORD'])\n\
                 with zipfile.ZipFile(sys.argv[1], 'w') as z:\n    for name, text in files.items():\n        z.writestr(name, text)\n";
    assert!(Command::new("python3").args(["-c", build]).arg(&wheel).status().unwrap().success());
    let url = serve_file(&wheel);
    let server = Server::start(&[]);
    assert!(server.isolation_line().contains("isolation: namespaces"), "{}", server.isolation_line());
    let env = server.launch().await;
    // The interpreter is running before the install (a spare, or a first
    // run): what pip puts in the user site must import without a restart.
    assert_eq!(server.python(&env, "1 + 1").await["executionResult"], "2");
    let installed = server.shell(&env, &format!("python3 -m pip install --no-deps {url}")).await;
    assert_eq!(installed["exitCode"], 0, "{installed}");
    let reply = server.python(&env, "import azsb_probe, sys\n(azsb_probe.VALUE, azsb_probe.__file__)").await;
    let seen = reply["executionResult"].as_str().unwrap_or_default().to_owned();
    assert!(seen.starts_with("(42, '/mnt/data/.local/"), "installed into the environment: {reply}");
    // The interpreter's own `python3` ran pip (pyenv's shims, say, are not there).
    let which = server.shell(&env, "python3 -c 'import sys; print(sys.executable)'").await;
    let expected = Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().unwrap();
    assert_eq!(which["stdout"], String::from_utf8(expected.stdout).unwrap());
}

/// Serves one file over HTTP/1.0 on 127.0.0.1 from a thread, for as long as
/// the test runs; its URL.
fn serve_file(path: &Path) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/{}",
        listener.local_addr().unwrap().port(),
        path.file_name().unwrap().to_str().unwrap()
    );
    let body = std::fs::read(path).unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    url
}

/// A virtual environment given as the interpreter: its packages are there,
/// read-only, and so is its base interpreter (here under /root's pyenv,
/// while /root itself is not).
#[tokio::test]
async fn a_virtual_environment_is_visible_read_only() {
    if !namespaces_here("a_virtual_environment_is_visible_read_only").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().canonicalize().unwrap().join("venv");
    assert!(Command::new("python3").args(["-m", "venv", "--without-pip"]).arg(&venv).status().unwrap().success());
    let site = Command::new(venv.join("bin/python"))
        .args(["-c", "import site; print(site.getsitepackages()[0])"])
        .output()
        .unwrap();
    let site = PathBuf::from(String::from_utf8(site.stdout).unwrap().trim());
    std::fs::write(site.join("azsb_venv_probe.py"), "VALUE = 7\n").unwrap();
    let sandbox = sandbox(SandboxConfig { python: Some(venv.join("bin/python")), ..namespaced() }).await;
    let env = launch(&sandbox).await;
    let code = format!(
        "import azsb_venv_probe, sys\ntry:\n    open({:?}, 'w')\n    wrote = True\nexcept OSError:\n    wrote = False\n\
         (azsb_venv_probe.VALUE, sys.prefix == {:?}, wrote)",
        site.join("new.py"),
        venv
    );
    assert_eq!(value(&sandbox, &env, &code).await, "(7, True, False)");
}

/// `--isolation namespaces` does not start without them; `auto` falls back
/// to process isolation and says so, and how to get namespaces; `--network
/// off` needs them. Here bubblewrap is hidden by a PATH without it.
#[test]
fn serve_local_says_which_isolation_is_in_force_and_can_require_namespaces() {
    let python = Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().unwrap();
    let python = String::from_utf8(python.stdout).unwrap().trim().to_owned();
    let empty = tempfile::tempdir().unwrap();
    let without_bwrap = |args: &[&str]| {
        Command::new(BIN)
            .arg("serve-local")
            .args(["--python", &python])
            .args(args)
            .env("PATH", empty.path())
            .env("AZURE_SANDBOX_LOCAL_API_KEY", KEY)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    for args in [&["--isolation", "namespaces"][..], &["--network", "off"][..]] {
        let output = without_bwrap(args).wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains("needs namespaces") || stderr.contains("namespaces were required"), "{stderr}");
        assert!(stderr.contains("install bubblewrap"), "{args:?}: says what to do: {stderr}");
        assert!(output.stdout.is_empty(), "no endpoint printed");
    }
    let mut child = without_bwrap(&[]);
    let mut stderr = child.stderr.take().unwrap();
    let mut line = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&line).contains("isolation: ") || !line.ends_with(b"\n") {
        assert!(Instant::now() < deadline, "no isolation line: {}", String::from_utf8_lossy(&line));
        if stderr.read(&mut byte).unwrap() == 0 {
            break;
        }
        line.push(byte[0]);
    }
    let _ = child.kill();
    let _ = child.wait();
    let said = String::from_utf8_lossy(&line);
    assert!(said.contains("isolation: process isolation (bubblewrap (bwrap) is not installed)"), "{said}");
    assert!(said.contains("install bubblewrap"), "{said}");
    if common_namespaces_expected() {
        let server = Server::start(&[]);
        assert!(server.isolation_line().contains("isolation: namespaces (bubblewrap"), "{}", server.isolation_line());
        let forced = Server::start(&["--isolation", "process"]);
        assert!(forced.isolation_line().contains("process isolation (--isolation process was asked for)"));
    }
}

fn common_namespaces_expected() -> bool {
    !std::env::var("AZURE_SANDBOX_EXPECT_NAMESPACES").is_ok_and(|v| v.trim() == "0")
}

#[test]
fn doctor_says_which_isolation_is_in_force() {
    let cache = tempfile::tempdir().unwrap();
    let doctor = |isolation: &str| {
        let output = Command::new(BIN)
            .args(["doctor", "--local"])
            .env("AZURE_SANDBOX_CACHE_DIR", cache.path())
            .env("AZURE_SANDBOX_LOCAL_ISOLATION", isolation)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stdout));
        let stdout = String::from_utf8(output.stdout).unwrap();
        stdout.lines().find(|l| l.trim_start().starts_with("isolation: ")).map(str::to_owned).unwrap_or_default()
    };
    let process = doctor("process");
    assert!(process.contains("process isolation (--isolation process was asked for)"), "{process}");
    assert!(process.contains("for namespaces"), "says how to get the stronger one: {process}");
    if common_namespaces_expected() {
        let auto = doctor("auto");
        assert!(auto.contains("isolation: namespaces (bubblewrap"), "{auto}");
        assert!(auto.contains("network on"), "{auto}");
    }
}

/// A client that sends its request head a byte at a time and never ends it
/// is dropped at the header time limit (1 s here); the server goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stalls_in_its_request_head_is_dropped() {
    let server = Server::start(&["--header-timeout", "1"]);
    let address = server.server.endpoint.trim_start_matches("http://").trim_end_matches("/mcp").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(b"POST /mcp HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    let closed_after = loop {
        // More of the head, slowly: trickling does not reset the limit.
        let _ = stream.write_all(b"x").await;
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break started.elapsed(),
            Ok(Ok(_)) => {} // an error response before the close is fine
            Err(_) => assert!(started.elapsed() < Duration::from_secs(10), "the stalled client is still connected"),
        }
    };
    assert!(closed_after >= Duration::from_millis(900), "dropped after {closed_after:?}, before the limit");
    assert!(closed_after < Duration::from_secs(3), "dropped after {closed_after:?}");
    let env = server.launch().await;
    assert_eq!(server.python(&env, "6 * 7").await["executionResult"], "42");
    println!("a stalled request head (1 s limit): dropped after {closed_after:?}");
}
