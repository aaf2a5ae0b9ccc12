//! Environments of the local sandbox: state, isolation, limits, lifetimes.

use std::time::{Duration, Instant};

use crate::common::*;
use azure_sandbox_lsp::sandbox::SandboxConfig;
use serde_json::json;

#[tokio::test]
async fn state_persists_and_environments_are_isolated() {
    let sandbox = sandbox(config()).await;
    let (a, b) = (launch(&sandbox).await, launch(&sandbox).await);
    assert_ne!(a, b);
    run_python(&sandbox, &a, "secret = 41\nopen('only-in-a.txt', 'w').write('a')").await;
    let reply = run_python(&sandbox, &a, "secret + 1").await;
    assert_eq!(content(&reply)["executionResult"], "42");
    // b sees neither a's variables nor a's files (its own working directory).
    let reply =
        run_python(&sandbox, &b, "import os\nprint('secret' in globals(), os.path.exists('only-in-a.txt'))").await;
    assert_eq!(content(&reply)["stdout"], "False False\n");
    // And no variable of the server's process, so no key.
    let reply =
        run_python(&sandbox, &b, "import os\nprint(sorted(k for k in os.environ if 'AZURE' in k or 'KEY' in k))").await;
    assert_eq!(content(&reply)["stdout"], "[]\n");
}

#[tokio::test]
async fn stdout_stderr_kept_apart_including_child_processes() {
    let sandbox = sandbox(config()).await;
    let env = launch(&sandbox).await;
    let code = "import sys, os, subprocess\nprint('out')\nprint('err', file=sys.stderr)\nos.write(1, b'fd1\\n')\nsubprocess.run(['sh', '-c', 'echo child-out; echo child-err >&2'])";
    let reply = run_python(&sandbox, &env, code).await;
    assert_eq!(content(&reply)["stdout"], "out\nfd1\nchild-out\n");
    assert_eq!(content(&reply)["stderr"], "err\nchild-err\n");
}

#[tokio::test]
async fn output_cap_cuts_and_says_so() {
    let sandbox = sandbox(SandboxConfig { output_cap: 1000, ..config() }).await;
    let env = launch(&sandbox).await;
    let reply = run_python(&sandbox, &env, "print('x' * 5000)").await;
    assert_eq!(content(&reply)["stdout"].as_str().unwrap().len(), 1000);
    assert_eq!(content(&reply)["stdoutTruncated"], true);
    assert_eq!(content(&reply)["stderrTruncated"], false);
    let reply = run_python(&sandbox, &env, "print('short')").await;
    assert_eq!(content(&reply)["stdoutTruncated"], false);
}

#[tokio::test]
async fn timeout_interrupts_and_keeps_state() {
    let sandbox = sandbox(SandboxConfig { python_timeout: Duration::from_secs(1), ..config() }).await;
    let env = launch(&sandbox).await;
    run_python(&sandbox, &env, "kept = 'yes'").await;
    let started = Instant::now();
    let reply = run_python(&sandbox, &env, "import time\nprint('started')\ntime.sleep(30)").await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(reply["result"]["isError"], true);
    assert_eq!(content(&reply)["errorName"], "Timeout");
    assert_eq!(content(&reply)["stateSurvived"], true);
    assert_eq!(content(&reply)["stdout"], "started\n");
    assert!(content(&reply)["stderr"].as_str().unwrap().contains("execution limit"));
    assert_eq!(content(&run_python(&sandbox, &env, "kept").await)["executionResult"], "'yes'");
}

#[tokio::test]
async fn timeout_kills_code_that_ignores_interrupts_and_says_state_is_lost() {
    let sandbox = sandbox(SandboxConfig { python_timeout: Duration::from_secs(1), ..config() }).await;
    let env = launch(&sandbox).await;
    run_python(&sandbox, &env, "kept = 1").await;
    let code =
        "import time\nwhile True:\n    try:\n        time.sleep(10)\n    except KeyboardInterrupt:\n        pass";
    let reply = run_python(&sandbox, &env, code).await;
    assert_eq!(content(&reply)["errorName"], "Timeout");
    assert_eq!(content(&reply)["stateSurvived"], false);
    assert!(content(&reply)["stderr"].as_str().unwrap().contains("state (variables, imports) was lost"));
    // The environment still works, with a fresh interpreter.
    let reply = run_python(&sandbox, &env, "'kept' in globals()").await;
    assert_eq!(content(&reply)["executionResult"], "False");
}

#[tokio::test]
async fn a_dead_worker_is_reported_and_replaced() {
    let sandbox = sandbox(config()).await;
    let env = launch(&sandbox).await;
    for code in [
        "import os\nos._exit(3)",
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
        "import ctypes\nctypes.string_at(0)",
    ] {
        let reply = run_python(&sandbox, &env, code).await;
        assert_eq!(reply["result"]["isError"], true, "{code}");
        assert_eq!(content(&reply)["errorName"], "ProcessExited", "{code}");
        let stderr = content(&reply)["stderr"].as_str().unwrap();
        assert!(stderr.contains("exited") || stderr.contains("killed by signal"), "{stderr}");
        assert_eq!(content(&run_python(&sandbox, &env, "1 + 1").await)["executionResult"], "2");
    }
    let reply = run_python(&sandbox, &env, "import os\nos._exit(3)").await;
    assert!(content(&reply)["stderr"].as_str().unwrap().contains("exited with status 3"));
}

/// Code that writes `payload` to the sandbox's control channel: the first
/// write-only pipe above stderr (the worker takes it before anything else
/// opens a descriptor). User code can find it as easily as this.
fn write_to_control_pipe(payload: &str) -> String {
    format!(
        "import os, stat, fcntl\n\
         for fd in range(3, 256):\n\
         \x20   try:\n\
         \x20       st = os.fstat(fd)\n\
         \x20   except OSError:\n\
         \x20       continue\n\
         \x20   if stat.S_ISFIFO(st.st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:\n\
         \x20       os.write(fd, {payload:?}.encode())\n\
         \x20       break\n"
    )
}

#[tokio::test]
async fn code_that_forges_answers_on_the_control_channel_loses_only_its_interpreter() {
    let sandbox = sandbox(config()).await;
    let env = launch(&sandbox).await;
    // A header that claims more output than exists anywhere, and bytes that
    // are no answer at all: neither may take memory for what it claims,
    // crash the server or hang it.
    for (payload, expect) in [
        (r#"{"id": 0, "stdoutLength": 1000000000000000}"#.to_owned() + "\n", "over the cap"),
        ("x".repeat(200_000) + "\n", "not an answer"),
    ] {
        let reply = run_python(&sandbox, &env, &write_to_control_pipe(&payload)).await;
        let stderr = content(&reply)["stderr"].as_str().unwrap_or_default().to_owned();
        assert_eq!(content(&reply)["errorName"], "ProcessExited", "{reply}");
        assert!(stderr.contains("control channel") && stderr.contains(expect), "{stderr}");
        // The environment goes on, with a fresh interpreter if it needed one.
        assert_eq!(content(&run_python(&sandbox, &env, "1 + 1").await)["executionResult"], "2", "{payload:.40}");
    }
    let other = launch(&sandbox).await;
    assert_eq!(content(&run_python(&sandbox, &other, "2 + 2").await)["executionResult"], "4");
}

/// A header that promises output which never comes (it claims less than
/// the cap, so it passes the size check): the reader used to wait for the
/// run's time limit (120 s by default). It gives up once the promised
/// bytes stop coming for 5 s, and only the interpreter is lost.
#[tokio::test]
async fn an_answer_whose_promised_output_never_comes_is_caught_in_seconds() {
    let sandbox = sandbox(SandboxConfig { python_timeout: Duration::from_secs(100), ..config() }).await;
    let env = launch(&sandbox).await;
    run_python(&sandbox, &env, "kept = 1").await;
    let forged = r#"{"id": 0, "stdoutLength": 3000}"#.to_owned() + "\n";
    let started = Instant::now();
    let reply = run_python(&sandbox, &env, &write_to_control_pipe(&forged)).await;
    let took = started.elapsed();
    let stderr = content(&reply)["stderr"].as_str().unwrap_or_default().to_owned();
    assert_eq!(content(&reply)["errorName"], "ProcessExited", "{reply}");
    assert!(stderr.contains("control channel") && stderr.contains("did not come"), "{stderr}");
    assert!(took < Duration::from_secs(15), "caught after {took:?}, not at the 100 s limit");
    assert_eq!(content(&run_python(&sandbox, &env, "'kept' in globals()").await)["executionResult"], "False");
    assert_eq!(content(&run_python(&sandbox, &env, "1 + 1").await)["executionResult"], "2");
}

#[tokio::test]
async fn cool_down_destroys_idle_environments() {
    let sandbox = sandbox(SandboxConfig { cool_down: Duration::from_millis(600), ..config() }).await;
    let env = launch(&sandbox).await;
    run_python(&sandbox, &env, "x = 1").await;
    // Activity resets the timer.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(content(&run_python(&sandbox, &env, "x").await)["executionResult"], "1");
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let reply = run_python(&sandbox, &env, "x").await;
    assert_eq!(reply["error"]["code"], -32602);
    assert!(reply["error"]["message"].as_str().unwrap().contains("Environment not found"));
    assert_eq!(sandbox.pool().counts(), (0, 0));
}

#[tokio::test]
async fn a_long_run_is_not_reaped_by_the_cool_down() {
    let sandbox = sandbox(SandboxConfig { cool_down: Duration::from_millis(300), ..config() }).await;
    let env = launch(&sandbox).await;
    let reply = run_python(&sandbox, &env, "import time\ntime.sleep(1.2)\n'done'").await;
    assert_eq!(content(&reply)["executionResult"], "'done'");
}

#[tokio::test]
async fn pool_size_is_enforced_on_first_use() {
    let sandbox =
        sandbox(SandboxConfig { max_environments: 2, cool_down: Duration::from_millis(700), ..config() }).await;
    let (a, b, c) = (launch(&sandbox).await, launch(&sandbox).await, launch(&sandbox).await);
    // Launching is lazy and always succeeds; allocation happens on first use.
    run_python(&sandbox, &a, "1").await;
    run_python(&sandbox, &b, "1").await;
    let reply = run_python(&sandbox, &c, "1").await;
    assert_eq!(reply["error"]["code"], -32000);
    assert!(reply["error"]["message"].as_str().unwrap().contains("Session pool is full"));
    // Once the others expire, c gets its session.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let c = launch(&sandbox).await;
    assert_eq!(content(&run_python(&sandbox, &c, "2").await)["executionResult"], "2");
}

#[tokio::test]
async fn calls_to_one_environment_run_in_order_and_environments_run_in_parallel() {
    let sandbox = std::sync::Arc::new(sandbox(config()).await);
    let (a, b) = (launch(&sandbox).await, launch(&sandbox).await);
    run_python(&sandbox, &a, "log = []").await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let (sandbox, a) = (sandbox.clone(), a.clone());
        tasks.push(tokio::spawn(async move {
            run_python(&sandbox, &a, &format!("import time\ntime.sleep(0.05)\nlog.append({i})")).await
        }));
        tokio::time::sleep(Duration::from_millis(10)).await; // arrival order 0..5
    }
    let slow = {
        let (sandbox, b) = (sandbox.clone(), b.clone());
        tokio::spawn(async move { run_python(&sandbox, &b, "import time\ntime.sleep(0.3)\n'b'").await })
    };
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(content(&slow.await.unwrap())["executionResult"], "'b'");
    assert_eq!(content(&run_python(&sandbox, &a, "log").await)["executionResult"], "[0, 1, 2, 3, 4, 5]");
    // Six 50 ms runs in a and 300 ms in b, in parallel: well under their sum.
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
}

#[tokio::test]
async fn shell_commands_run_in_the_environment_directory() {
    let sandbox = sandbox(config()).await;
    let env = launch(&sandbox).await;
    run_python(&sandbox, &env, "open('made-by-python.txt', 'w').write('hello')").await;
    let reply =
        run_shell(&sandbox, &env, json!({"shellCommand": "cat made-by-python.txt; echo; echo oops >&2; exit 3"})).await;
    assert_eq!(content(&reply)["stdout"], "hello\n");
    assert_eq!(content(&reply)["stderr"], "oops\n");
    assert_eq!(content(&reply)["exitCode"], 3);
    assert_eq!(content(&reply)["status"], "Succeeded");
    let reply = run_shell(&sandbox, &env, json!({"execCommandAndArgs": ["printf", "%s|", "a b", "c"]})).await;
    assert_eq!(content(&reply)["stdout"], "a b|c|");
    let reply = run_shell(&sandbox, &env, json!({"execCommandAndArgs": ["/no/such/program"]})).await;
    assert_eq!(content(&reply)["errorName"], "CommandStartError");
    assert_eq!(content(&reply)["exitCode"], -1);
    let reply = run_shell(&sandbox, &env, json!({})).await;
    assert_eq!(reply["error"]["code"], -32602);
}

#[tokio::test]
async fn shell_timeout_kills_the_command() {
    let sandbox = sandbox(config()).await;
    let env = launch(&sandbox).await;
    let started = Instant::now();
    let reply = run_shell(&sandbox, &env, json!({"shellCommand": "sleep 30", "timeoutInSeconds": 1})).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(content(&reply)["errorName"], "ExecutionTimeout");
    assert_eq!(content(&reply)["exitCode"], -1);
}

/// With root and a system interpreter, each environment runs as its own
/// user: one cannot read another's files even by absolute path.
#[tokio::test]
async fn private_users_when_root() {
    let root = unsafe { libc_geteuid() } == 0;
    let system_python = std::path::Path::new("/usr/bin/python3");
    if !root || !system_python.exists() {
        eprintln!("skipped: needs root and /usr/bin/python3 (root={root})");
        return;
    }
    let sandbox =
        sandbox(SandboxConfig { isolate_users: true, python: Some(system_python.into()), ..SandboxConfig::default() })
            .await;
    assert!(sandbox.pool().isolates_users());
    let (a, b) = (launch(&sandbox).await, launch(&sandbox).await);
    run_python(&sandbox, &a, "open('private.txt', 'w').write('a')").await;
    // Its path on this machine: in namespaces, a's directory is b's
    // /mnt/data only in a's.
    let path = sandbox.pool().directory_of(&a).unwrap().join("private.txt");
    let reply = run_python(&sandbox, &b, &format!("import os\nos.getuid() != 0, open({path:?}).read()")).await;
    let stderr = content(&reply)["stderr"].as_str().unwrap();
    let refused = if sandbox.isolation().is_namespaces() { "FileNotFoundError" } else { "PermissionError" };
    assert!(stderr.contains(refused), "{reply}");
    let reply = run_python(&sandbox, &b, "import os\nos.getuid() != 0").await;
    assert_eq!(content(&reply)["executionResult"], "True");
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// Cancelling a run that waits behind another one must not interrupt the
/// one that is running (it may be someone else's), and the cancelled run
/// must never start.
#[tokio::test]
async fn cancelling_a_queued_run_leaves_the_running_one_alone() {
    let sandbox = std::sync::Arc::new(sandbox(config()).await);
    let env = launch(&sandbox).await;
    let body = |id: u64, code: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": "runPythonCodeInRemoteEnvironment", "arguments": {"environmentId": env, "pythonCode": code}}})
        .to_string()
    };
    let key = sandbox.api_key().expose().to_owned();
    let endpoint = sandbox.endpoint().to_owned();
    let running = {
        let (endpoint, key, body) =
            (endpoint.clone(), key.clone(), body(101, "import time\ntime.sleep(1)\n'first finished'"));
        tokio::spawn(async move { post_raw(&endpoint, Some(&key), &body, None).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let queued = {
        let (endpoint, key, body) = (endpoint.clone(), key.clone(), body(102, "ran = True"));
        tokio::spawn(async move { post_raw(&endpoint, Some(&key), &body, None).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cancel = r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":102}}"#;
    assert_eq!(post_raw(&endpoint, Some(&key), cancel, None).await.0, 202);
    let first: serde_json::Value = serde_json::from_str(&running.await.unwrap().2).unwrap();
    assert_eq!(content(&first)["executionResult"], "'first finished'");
    let second: serde_json::Value = serde_json::from_str(&queued.await.unwrap().2).unwrap();
    assert_eq!(content(&second)["errorName"], "Cancelled");
    let check = run_python(&sandbox, &env, "'ran' in globals()").await;
    assert_eq!(content(&check)["executionResult"], "False");
}

/// A new environment takes the interpreter started ahead of time, and a new
/// spare is started for the next one.
#[tokio::test]
async fn new_environments_adopt_a_spare_interpreter() {
    let sandbox = sandbox(config()).await;
    let ready = |sandbox: &azure_sandbox_lsp::sandbox::LocalSandbox| sandbox.pool().spare_ready();
    for _ in 0..100 {
        if ready(&sandbox) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready(&sandbox), "a spare is started with the server");
    let first = launch(&sandbox).await;
    assert!(!ready(&sandbox), "the launch took it");
    for _ in 0..100 {
        if ready(&sandbox) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready(&sandbox), "and another was started");
    let second = launch(&sandbox).await;
    // Adopted spares are ordinary, separate environments.
    run_python(&sandbox, &first, "mine = 'first'").await;
    let reply = run_python(&sandbox, &second, "'mine' in globals(), __import__('os').getcwd()").await;
    let value = content(&reply)["executionResult"].as_str().unwrap().to_owned();
    assert!(value.starts_with("(False, "), "{value}");
    run_python(&sandbox, &first, "open('only-in-first.txt', 'w').write('1')").await;
    let seen = run_python(&sandbox, &second, "__import__('os').path.exists('only-in-first.txt')").await;
    assert_eq!(content(&seen)["executionResult"], "False", "different directories");
    let off = super_sandbox_without_spare().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!off.pool().spare_ready(), "--no-spare keeps none");
}

async fn super_sandbox_without_spare() -> azure_sandbox_lsp::sandbox::LocalSandbox {
    sandbox(SandboxConfig { spare_interpreter: false, ..config() }).await
}

#[tokio::test]
async fn output_bytes_become_text_carefully() {
    // The cap counts characters, as the service's does.
    let sandbox = sandbox(SandboxConfig { output_cap: 2, ..config() }).await;
    let env = launch(&sandbox).await;
    let reply = run_python(&sandbox, &env, "print('ééé')").await;
    assert_eq!(content(&reply)["stdout"], "éé");
    assert_eq!(content(&reply)["stdoutTruncated"], true);
    // The interpreter keeps four bytes a character; a character cut in half
    // there (three-byte €) is dropped, not mangled.
    let narrow = super::common::sandbox(SandboxConfig { output_cap: 1, ..config() }).await;
    let narrow_env = launch(&narrow).await;
    let reply = run_python(&narrow, &narrow_env, "print('€€€')").await;
    assert_eq!(content(&reply)["stdout"], "€", "the half character is dropped");
    assert_eq!(content(&reply)["stdoutTruncated"], true);
    let reply = run_python(&sandbox, &env, "import os\nos.write(1, b'\\xffb')").await;
    assert_eq!(content(&reply)["stdout"], "\u{fffd}b");
}

#[tokio::test]
async fn large_results_are_not_mirrored_twice() {
    let sandbox = sandbox(SandboxConfig { output_cap: 4 << 20, ..config() }).await;
    let env = launch(&sandbox).await;
    let reply = run_python(&sandbox, &env, "print('y' * 2_000_000)").await;
    assert_eq!(content(&reply)["stdout"].as_str().unwrap().len(), 2_000_001);
    let mirror = reply["result"]["content"][0]["text"].as_str().unwrap();
    assert!(mirror.len() < 200 && mirror.contains("structuredContent"), "{mirror}");
    // Small results are mirrored in full.
    let reply = run_python(&sandbox, &env, "print('small')").await;
    let mirrored: serde_json::Value =
        serde_json::from_str(reply["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(mirrored["stdout"], "small\n");
}

#[tokio::test]
async fn code_sees_no_descriptor_the_server_inherited() {
    // A pipe the test process holds open without close-on-exec, as an
    // editor's or a build tool's might be: the interpreter must not get it.
    let (read_end, write_end) = inheritable_pipe();
    let sandbox = sandbox(config()).await;
    let env = launch(&sandbox).await;
    let code = format!(
        "import os\ntry:\n    os.fstat({write_end})\n    print('open')\nexcept OSError:\n    print('closed')\n"
    );
    let reply = run_python(&sandbox, &env, &code).await;
    assert_eq!(content(&reply)["stdout"], "closed\n", "{reply}");
    // SAFETY: closing the two descriptors this test opened.
    unsafe {
        libc::close(read_end);
        libc::close(write_end);
    }
}

/// A pipe whose descriptors are inherited by child processes (no O_CLOEXEC).
/// The write end is moved to a high number that the interpreter has no use
/// for: a low one may be one of its own (a capture pipe), which would pass
/// for the leak.
fn inheritable_pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: pipe() with a valid two-element array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let high = 900 + (std::process::id() % 50) as i32;
    // SAFETY: dup2 onto a free high number (dup2 keeps it inheritable), then
    // closing the low original, both descriptors this test owns.
    unsafe {
        assert_eq!(libc::dup2(fds[1], high), high);
        libc::close(fds[1]);
    }
    (fds[0], high)
}

/// With a virtual environment as the interpreter (`--python`), `pip install`
/// goes into the environment's own directory: the virtual environment is
/// the user's, shared by every environment (and read-only in namespaces,
/// where pip failed with "Read-only file system"). What is installed
/// imports at once in the running interpreter, and only in its environment.
#[tokio::test]
async fn pip_install_with_a_virtual_environment_goes_into_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().canonicalize().unwrap().join("venv");
    let made = std::process::Command::new("python3").args(["-m", "venv"]).arg(&venv).status().unwrap();
    assert!(made.success(), "python3 -m venv");
    let site = std::process::Command::new(venv.join("bin/python"))
        .args(["-c", "import site; print(site.getsitepackages()[0])"])
        .output()
        .unwrap();
    let site = std::path::PathBuf::from(String::from_utf8(site.stdout).unwrap().trim());
    let before: Vec<_> = std::fs::read_dir(&site).unwrap().flatten().map(|e| e.file_name()).collect();
    let sandbox = sandbox(SandboxConfig { python: Some(venv.join("bin/python")), ..config() }).await;
    let (env, other) = (launch(&sandbox).await, launch(&sandbox).await);
    // Running before the install: the install must import without a restart.
    assert_eq!(content(&run_python(&sandbox, &env, "1 + 1").await)["executionResult"], "2");
    // A wheel made in the environment's directory, installed as the
    // editor's and the agent's install does (`python3 -m pip install`).
    let wheel = "import zipfile\nfiles = {'azsb_venv_pip/__init__.py': 'VALUE = 42\\n', \
                 'azsb_venv_pip-1.0.dist-info/METADATA': 'Metadata-Version: 2.1\\nName: azsb-venv-pip\\nVersion: 1.0\\n', \
                 'azsb_venv_pip-1.0.dist-info/WHEEL': 'Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n'}\n\
                 files['azsb_venv_pip-1.0.dist-info/RECORD'] = ''.join(n + ',,\\n' for n in list(files) + ['azsb_venv_pip-1.0.dist-info/RECORD'])\n\
                 with zipfile.ZipFile('azsb_venv_pip-1.0-py3-none-any.whl', 'w') as z:\n    for name, text in files.items():\n        z.writestr(name, text)\n'made'";
    assert_eq!(content(&run_python(&sandbox, &env, wheel).await)["executionResult"], "'made'");
    let command = "python3 -m pip install --no-index --no-deps ./azsb_venv_pip-1.0-py3-none-any.whl";
    let installed = run_shell(&sandbox, &env, json!({"shellCommand": command})).await;
    assert_eq!(content(&installed)["exitCode"], 0, "{installed}");
    let reply = run_python(&sandbox, &env, "import azsb_venv_pip, os\n(azsb_venv_pip.VALUE, os.path.realpath(azsb_venv_pip.__file__).startswith(os.path.realpath(os.environ['HOME'])))").await;
    assert_eq!(content(&reply)["executionResult"], "(42, True)", "{reply}");
    let reply =
        run_python(&sandbox, &other, "import importlib.util\nimportlib.util.find_spec('azsb_venv_pip') is None").await;
    assert_eq!(content(&reply)["executionResult"], "True", "the other environment does not see it: {reply}");
    let after: Vec<_> = std::fs::read_dir(&site).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(before, after, "the virtual environment is unchanged");
}
