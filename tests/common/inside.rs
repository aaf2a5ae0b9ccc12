//! Seeing into an environment from the test: its files and its pids are not
//! the test's once it runs in namespaces, so code there reports to a
//! listener on the host's loopback (reachable while the network is on), and
//! names its processes by PID namespace and pid there, which the host maps
//! back to its own pids.
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A listener on 127.0.0.1 that keeps every message sent to it (one per
/// connection, read to its end).
pub struct Beacon {
    pub port: u16,
    received: Arc<Mutex<Vec<String>>>,
}

impl Beacon {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&received);
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let keep = Arc::clone(&keep);
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    let mut text = String::new();
                    let _ = stream.read_to_string(&mut text);
                    keep.lock().unwrap().push(text);
                });
            }
        });
        Self { port, received }
    }

    /// One line of Python that sends `str(expression)` here.
    pub fn send(&self, expression: &str) -> String {
        format!(
            "import socket as _beacon; _b = _beacon.create_connection(('127.0.0.1', {})); \
             _b.sendall(str({expression}).encode()); _b.close()",
            self.port
        )
    }

    pub fn messages(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }

    /// Waits up to `limit` for a message beyond the first `seen`.
    pub async fn next_after(&self, seen: usize, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(message) = self.messages().get(seen) {
                return Some(message.clone());
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A Python expression for the process that evaluates it: "INODE PID", its
/// PID namespace and its pid there (the host's own namespace and pid under
/// process isolation). `host_pid` turns it into the host's pid.
pub const WHO_AM_I: &str =
    "'%s %d' % (__import__('os').readlink('/proc/self/ns/pid')[5:-1], __import__('os').getpid())";

/// The PID namespace (inode) of a `WHO_AM_I` answer.
pub fn namespace_of(who: &str) -> u64 {
    who.split_whitespace().next().and_then(|n| n.trim_matches('\'').parse().ok()).expect("INODE PID")
}

/// The host's pid of the live process a `WHO_AM_I` answer names, if any.
pub fn host_pid(who: &str) -> Option<i32> {
    let who = who.trim().trim_matches('\'');
    let mut parts = who.split_whitespace();
    let (inode, inner): (u64, i32) = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        if namespace(pid) != Some(inode) {
            continue;
        }
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        // NSpid: the pid in each namespace, the host's first, its own last.
        let own = status.lines().find_map(|l| l.strip_prefix("NSpid:")).and_then(|l| l.split_whitespace().last());
        if own.and_then(|p| p.parse::<i32>().ok()) == Some(inner) && !status.contains("State:\tZ") {
            return Some(pid);
        }
    }
    None
}

/// The PID namespace (inode) of host process `pid`.
pub fn namespace(pid: i32) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()?;
    link.to_str()?.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
}

/// Tasks (processes and threads) in PID namespace `inode`, zombies aside.
pub fn tasks_in_namespace(inode: u64) -> usize {
    let mut tasks = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        if namespace(pid) != Some(inode) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap_or(0) + 1..].split_whitespace().collect();
        if fields.first() != Some(&"Z") {
            tasks += fields.get(17).and_then(|f| f.parse::<usize>().ok()).unwrap_or(1);
        }
    }
    tasks
}
