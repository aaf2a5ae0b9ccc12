//! What the mirror may send: the workspace's files as git would track them
//! (its ignore rules), never `.git/` or anything that looks like a secret,
//! narrowed by the user's include and exclude globs, within a budget.

use globset::{Glob, GlobSet, GlobSetBuilder};

/// The workspace's files may come to this many bytes (50 MB).
pub const DEFAULT_BUDGET: u64 = 50_000_000;

/// The user's rules (settings `mirrorInclude`, `mirrorExclude`,
/// `mirrorBudget`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorRules {
    /// If any, only files matching one of these (`**/*.py`, `data/**`).
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub budget: u64,
    /// Directories never sent, wherever they are (this tool's own cache
    /// directory, when it lies inside a workspace).
    pub skip: Vec<std::path::PathBuf>,
}

impl Default for MirrorRules {
    fn default() -> Self {
        Self { include: Vec::new(), exclude: Vec::new(), budget: DEFAULT_BUDGET, skip: Vec::new() }
    }
}

/// The rules' globs, compiled.
pub(crate) struct Globs {
    include: Option<GlobSet>,
    exclude: GlobSet,
}

impl MirrorRules {
    pub(crate) fn globs(&self) -> Result<Globs, String> {
        let build = |patterns: &[String]| -> Result<GlobSet, String> {
            let mut set = GlobSetBuilder::new();
            for pattern in patterns.iter().filter(|p| !p.trim().is_empty()) {
                let glob = Glob::new(pattern.trim()).map_err(|e| format!("the glob `{pattern}`: {e}"))?;
                set.add(glob);
            }
            set.build().map_err(|e| e.to_string())
        };
        let include = if self.include.iter().all(|p| p.trim().is_empty()) { None } else { Some(build(&self.include)?) };
        Ok(Globs { include, exclude: build(&self.exclude)? })
    }
}

impl Globs {
    /// Whether a workspace-relative path (`/`-separated) passes the globs.
    pub(crate) fn allows(&self, rel: &str) -> bool {
        self.include.as_ref().is_none_or(|set| set.is_match(rel)) && !self.exclude.is_match(rel)
    }
}

/// Directories never sent, wherever they are.
const SECRET_DIRS: [&str; 8] = [".git", ".ssh", ".aws", ".azure", ".gnupg", ".kube", ".docker", ".config/gcloud"];
/// File names never sent.
const SECRET_NAMES: [&str; 13] = [
    ".env",
    ".netrc",
    ".pypirc",
    ".npmrc",
    ".git-credentials",
    "credentials",
    "credentials.json",
    "secrets.toml",
    "secrets.json",
    "application_default_credentials.json",
    "kubeconfig",
    "terraform.tfvars",
    ".htpasswd",
];
/// Extensions of keys and certificates with private parts.
const SECRET_EXTENSIONS: [&str; 9] = ["pem", "key", "p12", "pfx", "jks", "keystore", "ppk", "kdbx", "tfvars"];

/// Whether a workspace-relative path looks like a secret: `.env` files
/// (not `.env.example`), private keys and certificates, SSH keys (`id_*`),
/// cloud and package-registry credentials, and anything in `.ssh/`,
/// `.aws/`, `.azure/` and the like. Such files never leave the machine.
pub fn looks_secret(rel: &str) -> bool {
    let rel = rel.replace('\\', "/");
    let lower = rel.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    let template = [".example", ".sample", ".template", ".dist"].iter().any(|t| name.ends_with(t));
    if SECRET_DIRS
        .iter()
        .any(|d| lower == *d || lower.starts_with(&format!("{d}/")) || lower.contains(&format!("/{d}/")))
    {
        return true;
    }
    if template {
        return false;
    }
    if name == ".env" || name.starts_with(".env.") || name.ends_with(".env") {
        return true;
    }
    if SECRET_NAMES.contains(&name) || name.starts_with("id_") || name.starts_with("service-account") {
        return true;
    }
    name.rsplit_once('.').is_some_and(|(_, ext)| SECRET_EXTENSIONS.contains(&ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_recognised() {
        for secret in [
            ".env",
            "app/.env.local",
            "prod.env",
            "certs/server.pem",
            "tls.KEY",
            "id_rsa",
            "keys/id_ed25519.pub",
            ".aws/credentials",
            "home/.ssh/config",
            ".azure/msal_token_cache.json",
            ".streamlit/secrets.toml",
            "service-account-prod.json",
            "deploy/terraform.tfvars",
            ".git/config",
            ".git-credentials",
        ] {
            assert!(looks_secret(secret), "{secret}");
        }
        for plain in
            ["main.py", "data/sales.csv", ".env.example", "README.md", "keyboard.py", "envelope.txt", ".gitignore"]
        {
            assert!(!looks_secret(plain), "{plain}");
        }
    }

    #[test]
    fn globs_include_and_exclude() {
        let rules = MirrorRules {
            include: vec!["**/*.py".into(), "data/**".into()],
            exclude: vec!["data/raw/**".into()],
            budget: 1,
            skip: Vec::new(),
        };
        let globs = rules.globs().unwrap();
        assert!(globs.allows("a.py") && globs.allows("pkg/b.py") && globs.allows("data/x.csv"));
        assert!(!globs.allows("notes.md") && !globs.allows("data/raw/huge.bin"));
        assert!(MirrorRules { include: vec!["[".into()], ..MirrorRules::default() }.globs().is_err());
        assert!(MirrorRules::default().globs().unwrap().allows("anything"));
    }
}
