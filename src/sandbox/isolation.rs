//! How environments are kept apart: Linux namespaces through bubblewrap
//! (`bwrap`) where it works, else process isolation alone (see worker.rs).
//!
//! With namespaces, each interpreter and each shell command runs in its own
//! user, PID, mount, IPC and UTS namespaces (and network namespace, with the
//! network off). Its file system is built from nothing: the system (`/usr`,
//! `/etc` and the merged-usr links) read-only, with what only root could read
//! in `/etc` hidden; the interpreter's prefixes and package directories
//! read-only at their own paths; the environment's own directory at
//! `/mnt/data` (as on the service) and its own `/tmp` and `/dev/shm`. The
//! user's home, the other environments and everything else are not there.
//! Its processes cannot see the server's, and all of them end with the
//! environment: when the namespace's first process dies, the kernel kills
//! the rest, `setsid` or not.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Where an environment's own directory appears inside its namespaces: the
/// service's path, which the runtime and the mirror look for first.
pub const DATA_DIR: &str = "/mnt/data";

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationMode {
    /// Namespaces when bubblewrap works here, else process isolation.
    #[default]
    Auto,
    /// Namespaces or nothing: the sandbox does not start without them.
    Namespaces,
    /// Process isolation even where namespaces would work.
    Process,
}

impl IsolationMode {
    pub const NAMES: [&'static str; 3] = ["auto", "namespaces", "process"];

    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "namespaces" => Ok(Self::Namespaces),
            "process" => Ok(Self::Process),
            other => Err(format!("unknown isolation {other:?}: expected auto, namespaces or process")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Namespaces => "namespaces",
            Self::Process => "process",
        }
    }
}

/// Parses `on`/`off` (and the usual spellings of true and false).
pub fn parse_network(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        other => Err(format!("unknown network setting {other:?}: expected on or off")),
    }
}

/// Why environments run with process isolation only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessReason {
    /// `--isolation process` (or the setting).
    Asked,
    /// No `bwrap` on PATH.
    NoBubblewrap,
    /// `bwrap` is there but could not make the namespaces: what it said.
    Refused(String),
}

/// What is in force, decided once when the sandbox starts.
#[derive(Debug, Clone)]
pub enum Isolation {
    Namespaces(std::sync::Arc<Namespaces>),
    Process(ProcessReason),
}

/// How to get namespaces, for a message that says what to do.
pub const INSTALL_BUBBLEWRAP: &str =
    "install bubblewrap (Debian and Ubuntu: apt install bubblewrap; Fedora: dnf install bubblewrap)";

impl Isolation {
    pub fn is_namespaces(&self) -> bool {
        matches!(self, Isolation::Namespaces(_))
    }

    pub fn namespaces(&self) -> Option<&std::sync::Arc<Namespaces>> {
        match self {
            Isolation::Namespaces(namespaces) => Some(namespaces),
            Isolation::Process(_) => None,
        }
    }

    /// One line: which isolation is in force, what it keeps out, and how to
    /// get the stronger one.
    pub fn describe(&self) -> String {
        match self {
            Isolation::Namespaces(ns) => format!(
                "namespaces (bubblewrap, {}): each environment sees the system read-only, its own {DATA_DIR} \
                 and /tmp, not your home, not the other environments and not the server's processes; \
                 network {}",
                ns.bwrap.display(),
                // The one thing still open, and how to close it.
                if ns.network {
                    "on (--network off or localNetwork false leaves it only its own loopback)"
                } else {
                    "off"
                }
            ),
            Isolation::Process(reason) => format!(
                "process isolation ({}): code can read what your user can read, and its daemons can outlive \
                 their environment; {}",
                reason.explain(),
                reason.advice()
            ),
        }
    }
}

impl ProcessReason {
    /// Why, in a few words.
    pub fn explain(&self) -> String {
        match self {
            ProcessReason::Asked => "--isolation process was asked for".to_owned(),
            ProcessReason::NoBubblewrap => "bubblewrap (bwrap) is not installed".to_owned(),
            ProcessReason::Refused(what) => format!("bubblewrap could not create namespaces here: {what}"),
        }
    }

    /// How to get namespaces.
    pub fn advice(&self) -> String {
        match self {
            ProcessReason::Asked => "use --isolation auto (or localIsolation) for namespaces".to_owned(),
            ProcessReason::NoBubblewrap => format!("for namespaces, {INSTALL_BUBBLEWRAP}"),
            ProcessReason::Refused(_) => "for namespaces, allow unprivileged user namespaces \
                                          (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 \
                                          kernel.apparmor_restrict_unprivileged_userns=0)"
                .to_owned(),
        }
    }
}

/// `bwrap` on PATH, if any.
pub fn find_bubblewrap() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("bwrap")).find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The namespaces' plan: everything but the environment's own directory,
/// worked out once per sandbox.
#[derive(Debug)]
pub struct Namespaces {
    pub bwrap: PathBuf,
    pub network: bool,
    /// The top-level system directories, bound read-only, or their links
    /// (`/bin -> usr/bin` on merged-usr systems).
    system: Vec<(PathBuf, Option<PathBuf>)>,
    /// What in `/etc` other users may not read (`shadow`, private keys):
    /// hidden, since code that runs as root in its namespace could read it.
    /// `true` for directories.
    hidden: Vec<(PathBuf, bool)>,
    /// Read-only binds beside the system, (source, destination): the
    /// interpreter's directories and the resolver's configuration.
    binds: Vec<(PathBuf, PathBuf)>,
}

/// Directories that are never bound whole, because they hold the user's
/// files or the other environments: a directory of the interpreter's that is
/// one of these, or holds one, stays out (and its imports fail loudly).
fn forbidden(dest: &Path, keep_out: &[PathBuf]) -> bool {
    dest == Path::new("/") || keep_out.iter().any(|k| k.starts_with(dest))
}

impl Namespaces {
    /// `interpreter` is every directory the interpreter needs (prefixes,
    /// `sys.path`); `keep_out` the directories that must not be bound whole
    /// (the sandbox's root; home is added here).
    pub fn plan(bwrap: PathBuf, network: bool, interpreter: &[PathBuf], keep_out: &[PathBuf]) -> Self {
        let mut keep_out = keep_out.to_vec();
        keep_out.extend([PathBuf::from("/home"), PathBuf::from("/root")]);
        keep_out.extend(std::env::var_os("HOME").map(PathBuf::from).filter(|h| h.is_absolute()));
        let system = ["usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32"]
            .iter()
            .filter_map(|name| {
                let path = Path::new("/").join(name);
                let meta = std::fs::symlink_metadata(&path).ok()?;
                if meta.file_type().is_symlink() {
                    Some((path.clone(), Some(std::fs::read_link(&path).ok()?)))
                } else {
                    meta.is_dir().then_some((path, None))
                }
            })
            .collect();
        let mut wanted: Vec<PathBuf> = interpreter.to_vec();
        if network {
            // /etc/resolv.conf is often a link into /run (systemd-resolved).
            wanted.push(PathBuf::from("/etc/resolv.conf"));
        }
        let mut binds = Vec::new();
        for path in wanted.iter().filter(|p| p.is_absolute()) {
            let Ok(real) = std::fs::canonicalize(path) else { continue };
            for dest in [path.clone(), real.clone()] {
                let covered = dest.starts_with("/usr") || dest.starts_with("/etc");
                if covered {
                    continue;
                }
                if forbidden(&dest, &keep_out) {
                    tracing::warn!(
                        "{} is not made visible inside the sandbox's namespaces: it holds your home or the \
                         environments",
                        dest.display()
                    );
                    continue;
                }
                binds.push((real.clone(), dest));
            }
        }
        binds.sort_by(|a, b| a.1.cmp(&b.1));
        binds.dedup_by(|later, earlier| later.1 == earlier.1);
        // What lies inside another bind is there already (through its links,
        // whose targets are bound too).
        let mut kept: Vec<(PathBuf, PathBuf)> = Vec::new();
        for (source, dest) in binds {
            if !kept.iter().any(|(_, outer)| dest.starts_with(outer)) {
                kept.push((source, dest));
            }
        }
        Self { bwrap, network, system, hidden: unreadable_in("/etc"), binds: kept }
    }

    /// The arguments of `bwrap` that run `program` in the environment whose
    /// own directory is `dir` (with `.tmp` and `.shm` in it). The program's
    /// arguments follow.
    pub fn args(&self, dir: &Path, program: &Path) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::with_capacity(64);
        let mut push = |parts: &[&std::ffi::OsStr]| args.extend(parts.iter().map(|p| p.to_os_string()));
        let os = |s: &'static str| std::ffi::OsStr::new(s);
        push(&[os("--unshare-user"), os("--unshare-pid"), os("--unshare-ipc"), os("--unshare-uts")]);
        push(&[os("--unshare-cgroup-try")]);
        if !self.network {
            push(&[os("--unshare-net")]);
        }
        // bwrap as root keeps every capability in the namespace unless told.
        push(&[os("--die-with-parent"), os("--cap-drop"), os("ALL"), os("--hostname"), os("sandbox")]);
        for (path, link) in &self.system {
            match link {
                Some(target) => push(&[os("--symlink"), target.as_os_str(), path.as_os_str()]),
                None => push(&[os("--ro-bind"), path.as_os_str(), path.as_os_str()]),
            }
        }
        for (path, is_dir) in &self.hidden {
            if *is_dir {
                push(&[os("--tmpfs"), path.as_os_str(), os("--remount-ro"), path.as_os_str()]);
            } else {
                push(&[os("--ro-bind"), os("/dev/null"), path.as_os_str()]);
            }
        }
        push(&[os("--proc"), os("/proc"), os("--dev"), os("/dev"), os("--remount-ro"), os("/dev")]);
        let (tmp, shm) = (dir.join(".tmp"), dir.join(".shm"));
        push(&[os("--bind"), dir.as_os_str(), os(DATA_DIR)]);
        push(&[os("--bind"), tmp.as_os_str(), os("/tmp"), os("--bind"), shm.as_os_str(), os("/dev/shm")]);
        // After /tmp: an interpreter under /tmp shows above the private one.
        for (source, dest) in &self.binds {
            push(&[os("--ro-bind"), source.as_os_str(), dest.as_os_str()]);
        }
        push(&[os("--remount-ro"), os("/"), os("--chdir"), os(DATA_DIR), os("--"), program.as_os_str()]);
        args
    }
}

/// What under `root` others may not read: files without the world-read bit,
/// directories without world read and search; not followed into. At most a
/// few thousand entries are looked at (`/etc` holds hundreds).
fn unreadable_in(root: &str) -> Vec<(PathBuf, bool)> {
    use std::os::unix::fs::PermissionsExt;
    let mut hidden = Vec::new();
    let mut queue = vec![PathBuf::from(root)];
    let mut looked = 0usize;
    while let Some(dir) = queue.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            looked += 1;
            if looked > 20_000 {
                return hidden;
            }
            let Ok(meta) = entry.path().symlink_metadata() else { continue };
            let mode = meta.permissions().mode();
            if meta.file_type().is_symlink() {
                continue;
            }
            if meta.is_dir() {
                if mode & 0o005 != 0o005 {
                    hidden.push((entry.path(), true));
                } else {
                    queue.push(entry.path());
                }
            } else if mode & 0o004 == 0 {
                hidden.push((entry.path(), false));
            }
        }
    }
    hidden.sort();
    hidden
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_network_settings_parse() {
        for name in IsolationMode::NAMES {
            assert_eq!(IsolationMode::parse(name).unwrap().as_str(), name);
        }
        assert_eq!(IsolationMode::parse(" Namespaces ").unwrap(), IsolationMode::Namespaces);
        assert!(IsolationMode::parse("namespace").unwrap_err().contains("auto, namespaces or process"));
        assert_eq!(parse_network("OFF"), Ok(false));
        assert_eq!(parse_network("on"), Ok(true));
        assert!(parse_network("maybe").is_err());
    }

    #[test]
    fn home_and_the_environments_are_never_bound_whole() {
        let keep_out = [PathBuf::from("/home/u"), PathBuf::from("/tmp/azure-sandbox-local-1")];
        for dest in ["/", "/home", "/home/u", "/tmp"] {
            assert!(forbidden(Path::new(dest), &keep_out), "{dest}");
        }
        for dest in ["/home/u/.pyenv/versions/3.12", "/opt/conda", "/tmp/venv"] {
            assert!(!forbidden(Path::new(dest), &keep_out), "{dest}");
        }
    }

    #[test]
    fn the_plan_binds_the_interpreter_once_and_never_home() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("py");
        std::fs::create_dir_all(prefix.join("lib/site-packages")).unwrap();
        let link = dir.path().join("link-to-py");
        std::os::unix::fs::symlink(&prefix, &link).unwrap();
        let interpreter = [prefix.join("lib/site-packages"), link.clone(), prefix.clone(), PathBuf::from("/")];
        let plan = Namespaces::plan(PathBuf::from("/usr/bin/bwrap"), false, &interpreter, &[]);
        let dests: Vec<&Path> = plan.binds.iter().map(|(_, d)| d.as_path()).collect();
        let real = std::fs::canonicalize(&prefix).unwrap();
        // The prefix (its site-packages inside it), and the link's own path.
        assert!(dests.contains(&real.as_path()), "{dests:?}");
        assert!(dests.contains(&link.as_path()), "{dests:?}");
        assert!(!dests.iter().any(|d| d.starts_with(real.join("lib"))), "nested binds are dropped: {dests:?}");
        assert!(!dests.contains(&Path::new("/")), "never the whole machine");
        let args = plan.args(Path::new("/srv/env-1"), Path::new("/usr/bin/python3"));
        let text: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let at = |flag: &str, value: &str| text.windows(2).any(|w| w[0] == flag && w[1] == value);
        assert!(at("--cap-drop", "ALL") && text.contains(&"--unshare-net".to_owned()));
        assert!(text.windows(3).any(|w| w[0] == "--bind" && w[1] == "/srv/env-1" && w[2] == DATA_DIR));
        assert!(at("--chdir", DATA_DIR));
        assert_eq!(text[text.len() - 2..], ["--".to_owned(), "/usr/bin/python3".to_owned()]);
        let on = Namespaces::plan(PathBuf::from("/usr/bin/bwrap"), true, &[], &[]);
        let args = on.args(Path::new("/srv/env-1"), Path::new("/bin/sh"));
        assert!(!args.iter().any(|a| a == "--unshare-net"), "the network is on");
    }
}
