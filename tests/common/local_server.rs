//! `azure-sandbox-lsp serve-local` as a child process: the local sandbox as
//! users run it, for tests that kill and restart it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct LocalServer {
    child: Child,
    pub endpoint: String,
}

impl LocalServer {
    /// Starts `serve-local` with `args`, the key given through its
    /// environment variable (not the command line, which `ps` shows), and
    /// its log (stderr, at debug level) appended to `log`.
    pub fn start(args: &[&str], key: &str, log: &Path) -> Self {
        Self::start_with_env(args, key, log, &[])
    }

    /// As `start`, with these environment variables too.
    pub fn start_with_env(args: &[&str], key: &str, log: &Path, env: &[(&str, &Path)]) -> Self {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_azure-sandbox-lsp"))
            .arg("serve-local")
            .args(args)
            .envs(env.iter().map(|(name, value)| (*name, *value)))
            .env("AZURE_SANDBOX_LOCAL_API_KEY", key)
            .env("AZURE_SANDBOX_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("serve-local starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let endpoint = lines.next().expect("MCP_ENDPOINT line").expect("stdout");
        let endpoint = endpoint.strip_prefix("MCP_ENDPOINT=").expect("MCP_ENDPOINT=").to_owned();
        // The API_KEY line is the user's own key, which they asked for; read and drop it.
        let _ = lines.next();
        Self { child, endpoint }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to clean up, as when the machine or a user kills it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        // SIGTERM first, so the server stops its interpreters as it does on Ctrl-C.
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        self.kill();
    }
}
