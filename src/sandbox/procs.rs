//! What `/proc` says about an environment's processes, and how to stop them
//! all: by session (process isolation: the interpreter called setsid) or by
//! PID namespace (namespaces: code that calls setsid leaves the session, but
//! never its namespace).

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

/// How to find every process of one environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Watch {
    /// The processes in this session (the interpreter's pid).
    Session(i32),
    /// The processes in this PID namespace (its inode), whose first process
    /// is `init` (a host pid): when it dies, the kernel kills the rest.
    Namespace { inode: u64, init: i32 },
}

/// SIGKILL to the process group led by `pid` (the worker called setsid).
pub fn kill_group(pid: i32) {
    if pid > 0 {
        // SAFETY: plain syscall.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// The inode of `pid`'s PID namespace (`pid:[4026532451]`), when this
/// process may look (its own user's processes, or root).
pub fn pid_namespace(pid: i32) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()?;
    let text = link.to_str()?;
    text.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
}

/// The children of `pid`: from `/proc/PID/task/*/children` where the kernel
/// has it, else from every process's parent.
pub fn children_of(pid: i32) -> Vec<i32> {
    let mut found = Vec::new();
    let mut listed = false;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
                listed = true;
                found.extend(text.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
            }
        }
    }
    if listed {
        return found;
    }
    for (child, fields) in processes() {
        if fields.get(1).and_then(|f| f.parse::<i32>().ok()) == Some(pid) {
            found.push(child);
        }
    }
    found
}

/// Every process's pid and the fields of its `stat` after the command name
/// (which may hold anything): state, ppid, pgrp, session, …
fn processes() -> impl Iterator<Item = (i32, Vec<String>)> {
    std::fs::read_dir("/proc").into_iter().flatten().flatten().filter_map(|entry| {
        let pid = entry.file_name().to_str()?.parse::<i32>().ok()?;
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        let fields = stat[stat.rfind(')')? + 1..].split_whitespace().map(str::to_owned).collect();
        Some((pid, fields))
    })
}

/// How many tasks (processes and threads, as `RLIMIT_NPROC` counts them)
/// each of `watches` has, from `/proc`; zombies aside (they hold nothing but
/// their pid and go when reaped). Stops at the first watch found with more
/// than `enough`: while a fork bomb runs, `/proc` keeps growing under the
/// reader, and a full count took seconds (9 s for one that called setsid).
pub fn count_tasks(watches: &[Watch], enough: usize) -> HashMap<Watch, usize> {
    let mut found: HashMap<Watch, usize> = HashMap::new();
    let sessions = watches.iter().any(|w| matches!(w, Watch::Session(_)));
    let namespaces = watches.iter().any(|w| matches!(w, Watch::Namespace { .. }));
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        // One readlink, and the stat only for a process that may count.
        let inode = if namespaces { pid_namespace(pid) } else { None };
        let namespace = watches.iter().find(|w| matches!(w, Watch::Namespace { inode: ns, .. } if Some(*ns) == inode));
        if namespace.is_none() && !sessions {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some(fields) = stat.rfind(')').map(|at| stat[at + 1..].split_whitespace().collect::<Vec<_>>()) else {
            continue;
        };
        if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
            continue;
        }
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<i64>().ok());
        let (Some(session), Some(threads)) = (field(3), field(17)) else { continue };
        let session = watches.iter().find(|w| matches!(w, Watch::Session(s) if i64::from(*s) == session));
        for watch in namespace.into_iter().chain(session) {
            let count = found.entry(*watch).or_default();
            *count += threads.max(1) as usize;
            if *count > enough {
                return found;
            }
        }
    }
    found
}

/// Stops every process of `watch`.
pub fn kill_all(watch: Watch) {
    match watch {
        Watch::Session(session) => kill_session(session),
        // SAFETY: plain syscall; the namespace's init is this server's
        // grandchild, and the kernel kills the namespace with it.
        Watch::Namespace { init, .. } => unsafe {
            libc::kill(init, libc::SIGKILL);
        },
    }
}

/// SIGKILL to every process of session `session` (each of its process
/// groups: a group signal reaches a child forked at the same time too),
/// until none is left or a second has passed.
fn kill_session(session: i32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    loop {
        let mut groups: Vec<i32> = processes()
            .filter(|(_, f)| !matches!(f.first().map(String::as_str), Some("Z") | Some("X")))
            .filter(|(_, f)| f.get(3).and_then(|s| s.parse::<i32>().ok()) == Some(session))
            .filter_map(|(_, f)| f.get(2).and_then(|g| g.parse::<i32>().ok()))
            .collect();
        groups.sort_unstable();
        groups.dedup();
        if groups.is_empty() || std::time::Instant::now() > deadline {
            return;
        }
        for group in groups {
            kill_group(group);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The number of tasks on the whole machine (from `/proc/loadavg`): a cheap
/// sign that something is forking.
pub fn system_tasks() -> Option<u64> {
    let loadavg = std::fs::read_to_string("/proc/loadavg").ok()?;
    loadavg.split_whitespace().nth(3)?.split('/').nth(1)?.parse().ok()
}

/// Kills every process owned by `uid`, including any that left the process
/// group (setsid, daemonized). Runs `kill(-1)` as that uid in a short-lived child.
pub fn kill_all_of_uid(uid: u32) {
    let mut command = std::process::Command::new("/bin/sh");
    command.arg("-c").arg("true").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
            if libc::setgid(uid) == 0 && libc::setuid(uid) == 0 {
                // Every process this uid may signal: all of the environment's.
                // It includes this child, which is the point: it never execs.
                libc::kill(-1, libc::SIGKILL);
            }
            Ok(())
        });
    }
    if let Ok(mut child) = command.spawn() {
        let _ = child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_found_in_its_session_and_namespace() {
        let me = std::process::id() as i32;
        // SAFETY: plain syscall.
        let session = unsafe { libc::getsid(0) };
        let inode = pid_namespace(me).expect("our own namespace");
        let counts = count_tasks(&[Watch::Session(session), Watch::Namespace { inode, init: 1 }], usize::MAX);
        // Not "namespace >= session": the session may hold a process whose
        // namespace this one may not read (another user's, or not dumpable),
        // as the CI machine's did.
        assert!(counts[&Watch::Session(session)] >= 1);
        assert!(counts[&Watch::Namespace { inode, init: 1 }] >= 1);
    }

    #[test]
    fn a_new_session_is_counted_alone_and_its_children_are_found() {
        let me = std::process::id() as i32;
        let mut child = std::process::Command::new("setsid").args(["sleep", "5"]).spawn().unwrap();
        let pid = child.id() as i32;
        assert!(children_of(me).contains(&pid));
        // setsid(1) execs in place when it is not a group leader: the child
        // becomes the leader of a session of its own, holding one task.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let counted = loop {
            let counts = count_tasks(&[Watch::Session(pid)], usize::MAX);
            let counted = counts.get(&Watch::Session(pid)).copied().unwrap_or(0);
            if counted == 1 || std::time::Instant::now() > deadline {
                break counted;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(counted, 1);
        kill_all(Watch::Session(pid));
        let _ = child.wait();
        assert_eq!(count_tasks(&[Watch::Session(pid)], usize::MAX).get(&Watch::Session(pid)).copied().unwrap_or(0), 0);
    }
}
