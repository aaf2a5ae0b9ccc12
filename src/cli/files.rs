//! `azure-sandbox-lsp files push|pull|ls`: the workspace mirror from the
//! command line, and the sync `run` makes before running.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::options::exit;
use crate::config::RemoteConfig;
use crate::mirror::{self, MirrorRules};
use crate::run::{RunReport, WorkspaceKey, workspace_root};
use crate::workbench::{Backend, LocalOptions, registry_file};

#[derive(Debug, Args)]
#[command(
    about = "Send workspace files to the sandbox environment, fetch files from it, or list them",
    long_about = "The workspace's files in its sandbox environment (its mirror: under /mnt/data on Azure). `run` \
                  sends what changed before each run; these commands do it by hand. The workspace is --workspace, \
                  else the one of the current directory (the nearest ancestor holding .git), as for `run`.\n\n\
                  Files that look like secrets (.env, *.pem, *.key, id_*, cloud credentials) are never sent; a \
                  fetched file never overwrites a local one (a different local file is kept, and the fetched one \
                  saved beside it as `name (sandbox).ext`).\n\n\
                  The embedded local sandbox ends with each command, so use these with an endpoint, a pool or \
                  serve-local.\n\n\
                  Exit status: 0 done, 2 bad arguments, 3 the sandbox could not be used or refused a file."
)]
pub struct FilesArgs {
    #[command(subcommand)]
    action: FilesAction,
    /// The workspace (default: the one of the current directory).
    #[arg(long, value_name = "DIR", global = true)]
    workspace: Option<PathBuf>,
    #[command(flatten)]
    sandbox: super::options::SandboxChoice,
    /// Allow plain http:// to a non-loopback endpoint (the key travels in clear text).
    #[arg(long, global = true)]
    allow_insecure_http: bool,
}

#[derive(Debug, Subcommand)]
enum FilesAction {
    /// Send files or folders (even ignored ones; never secrets)
    Push {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Fetch files from the sandbox's copy of the workspace (workspace-relative paths)
    Pull {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
    /// List the files in the sandbox's copy of the workspace
    Ls,
}

pub async fn files(args: FilesArgs) -> i32 {
    let root = match &args.workspace {
        Some(dir) if dir.is_dir() => dir.canonicalize().unwrap_or_else(|_| dir.clone()),
        Some(dir) => {
            eprintln!("azure-sandbox-lsp: --workspace {}: not a directory", dir.display());
            return exit::USAGE;
        }
        None => workspace_root(&std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))),
    };
    let mut config = RemoteConfig::from_env();
    config.endpoint = args.sandbox.endpoint();
    config.pool = args.sandbox.pool();
    config.allow_insecure_http |= args.allow_insecure_http;
    if args.sandbox.local || (config.endpoint.is_none() && config.pool.is_none()) {
        eprintln!(
            "azure-sandbox-lsp: files needs a sandbox that outlives this command: set AZURE_SANDBOX_MCP_ENDPOINT \
             (or --endpoint, e.g. a serve-local's) or AZURE_SANDBOX_POOL; the embedded local sandbox ends with it"
        );
        return exit::USAGE;
    }
    let backend = match Backend::start(&config, false, registry_file(), LocalOptions::default()).await {
        Ok(backend) => backend,
        Err(e) => {
            eprintln!("azure-sandbox-lsp: {e}");
            return exit::SANDBOX;
        }
    };
    let key = backend.engine.workspace_key(root.clone());
    let status = match args.action {
        FilesAction::Push { paths } => {
            let progress = progress_on_stderr();
            match mirror::send(&backend.engine, &key, &paths, &backend.mirror, &progress).await {
                Ok(report) => {
                    eprintln!(
                        "azure-sandbox-lsp: sent {} file{} ({}) to the sandbox's copy of {}",
                        report.files,
                        if report.files == 1 { "" } else { "s" },
                        crate::run::human_bytes(report.bytes),
                        root.display()
                    );
                    for secret in &report.secrets {
                        eprintln!("azure-sandbox-lsp: not sent (it looks like a secret): {secret}");
                    }
                    exit::OK
                }
                Err(e) => {
                    eprintln!("azure-sandbox-lsp: {e}");
                    exit::SANDBOX
                }
            }
        }
        FilesAction::Pull { paths } => pull(&backend, &key, &paths).await,
        FilesAction::Ls => match mirror::list(&backend.engine, &key).await {
            Ok(listing) => {
                let mut out = std::io::stdout().lock();
                for file in &listing.files {
                    let _ = writeln!(out, "{}\t{}", file.size, file.path);
                }
                if listing.more > 0 {
                    eprintln!("azure-sandbox-lsp: and {} more files", listing.more);
                }
                exit::OK
            }
            Err(e) => {
                eprintln!("azure-sandbox-lsp: {e}");
                exit::SANDBOX
            }
        },
    };
    backend.shutdown().await;
    status
}

async fn pull(backend: &Backend, key: &WorkspaceKey, paths: &[String]) -> i32 {
    let mut status = exit::OK;
    for rel in paths {
        let saved = match mirror::fetch(&backend.engine, key, rel).await {
            Ok(fetched) => mirror::save_download(&key.root, &fetched).inspect(|saved| {
                if !saved.kept_both {
                    // Here as there: not sent back by the next sync.
                    mirror::note_fetched(&backend.engine, key, &backend.mirror, &fetched);
                }
            }),
            Err(e) => Err(e),
        };
        match saved {
            Ok(saved) if saved.unchanged => eprintln!("azure-sandbox-lsp: {rel}: already the same here"),
            Ok(saved) if saved.kept_both => eprintln!(
                "azure-sandbox-lsp: {rel}: a different local file was kept; saved the sandbox's as {}",
                saved.path.display()
            ),
            Ok(saved) => eprintln!("azure-sandbox-lsp: fetched {rel} into {}", saved.path.display()),
            Err(e) => {
                eprintln!("azure-sandbox-lsp: {e}");
                status = exit::SANDBOX;
            }
        }
    }
    status
}

/// Bytes sent so far, on stderr, for a transfer that takes over a second.
fn progress_on_stderr() -> impl Fn(u64, u64) + Send + Sync {
    let started = std::time::Instant::now();
    let last = std::sync::Mutex::new(None::<std::time::Instant>);
    move |sent, total| {
        if started.elapsed() < std::time::Duration::from_secs(1) {
            return;
        }
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < std::time::Duration::from_millis(500)) && sent < total {
            return;
        }
        *last = Some(std::time::Instant::now());
        eprintln!(
            "azure-sandbox-lsp: sending the workspace's files: {} of {}",
            crate::run::human_bytes(sent),
            crate::run::human_bytes(total)
        );
    }
}

/// What `run` does before running: sends the workspace's changed files
/// (small changes are left for the run to carry).
pub async fn sync_workspace(
    backend: &Backend,
    key: &WorkspaceKey,
    rules: &MirrorRules,
) -> Result<mirror::Synced, mirror::MirrorError> {
    let progress = progress_on_stderr();
    let synced = mirror::sync(&backend.engine, key, rules, &backend.mirror, &progress).await?;
    let report = &synced.report;
    if report.files > 0 {
        eprintln!(
            "azure-sandbox-lsp: sent {} changed file{} ({}) to the sandbox",
            report.files,
            if report.files == 1 { "" } else { "s" },
            crate::run::human_bytes(report.bytes)
        );
    }
    Ok(synced)
}

/// Names the files a run wrote in the sandbox's copy of the workspace.
pub fn say_written(report: &RunReport, local: bool) {
    for file in &report.files {
        eprintln!("azure-sandbox-lsp: the run wrote {} ({})", file.path, crate::run::human_bytes(file.size));
    }
    if report.files_more > 0 {
        eprintln!("azure-sandbox-lsp: … and {} more files", report.files_more);
    }
    if !report.files.is_empty() {
        if local {
            eprintln!("azure-sandbox-lsp: (in the embedded sandbox, which ends with this command)");
        } else {
            eprintln!("azure-sandbox-lsp: `azure-sandbox-lsp files pull PATH` fetches one into the workspace");
        }
    }
}
