//! The server's settings: section `azureSandbox` of `initializationOptions`,
//! `workspace/configuration` and `workspace/didChangeConfiguration`, with the
//! command line's environment variables as fallbacks for endpoint and key.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::config::{ENDPOINT_VAR, INSECURE_VAR, KEY_VAR, RemoteConfig, parse_seconds};
use crate::run::cells::CellMarkers;
use crate::run::{DisplayOptions, FigureFormat};
use crate::sandbox::{IsolationMode, parse_network};
use crate::secret::ApiKey;

/// Which sandbox runs the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// Azure when an endpoint is configured, else the local sandbox.
    #[default]
    Auto,
    Azure,
    Local,
}

/// Settings as the client sends them (camelCase keys).
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    pub endpoint: Option<String>,
    /// A session pool to resolve the endpoint and key from (ARM id or
    /// `subscription/group/name`), when no endpoint is given.
    pub pool: Option<String>,
    /// Accepted, but the documented places for the key are the environment
    /// variable and the editor's secret store (the clients pass it here).
    pub api_key: Option<String>,
    pub backend: BackendChoice,
    /// Seconds to wait for one run.
    pub run_timeout: Option<f64>,
    /// Characters of stdout/stderr shown in a hover before pointing to the
    /// output document.
    pub hover_output_limit: Option<usize>,
    /// Bytes of transcript kept per workspace.
    pub transcript_limit: Option<usize>,
    /// A regular expression for cell markers instead of the standard forms.
    pub cell_marker: Option<String>,
    pub allow_insecure_http: bool,
    /// Dots per inch of PNG figures.
    pub figure_dpi: Option<f64>,
    /// A new figure's size in inches, `[width, height]`.
    pub figure_size: Option<[f64; 2]>,
    pub figure_format: Option<FigureFormat>,
    /// Bytes of figures and tables one run may send back.
    pub display_limit: Option<usize>,
    /// The interpreter of the embedded local sandbox (else
    /// AZURE_SANDBOX_PYTHON, else python3 on PATH).
    pub local_python: Option<String>,
    /// How the embedded local sandbox keeps environments apart: `auto`,
    /// `namespaces` or `process` (else AZURE_SANDBOX_LOCAL_ISOLATION).
    pub local_isolation: Option<String>,
    /// The embedded local sandbox's network (else
    /// AZURE_SANDBOX_LOCAL_NETWORK, else on).
    pub local_network: Option<bool>,
    /// Completion from the live namespace (attributes, DataFrame columns).
    pub live_completion: bool,
    /// Send the workspace's files into the environment before each run
    /// (on unless set to false).
    pub mirror: Option<bool>,
    /// Only files matching these globs are mirrored (none: all).
    pub mirror_include: Vec<String>,
    /// Files matching these globs are not mirrored.
    pub mirror_exclude: Vec<String>,
    /// Bytes the mirrored files may come to.
    pub mirror_budget: Option<u64>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("endpoint", &self.endpoint)
            .field("api_key", &self.api_key.as_ref().map(|_| crate::secret::REDACTED))
            .field("backend", &self.backend)
            .field("run_timeout", &self.run_timeout)
            .field("cell_marker", &self.cell_marker)
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_HOVER_LIMIT: usize = 3000;
/// The embedded local sandbox's interpreter, when no setting names one.
pub const PYTHON_VAR: &str = "AZURE_SANDBOX_PYTHON";
/// Its isolation (`auto`, `namespaces`, `process`), when no setting says.
pub const ISOLATION_VAR: &str = "AZURE_SANDBOX_LOCAL_ISOLATION";
/// Its network (`on`, `off`), when no setting says.
pub const NETWORK_VAR: &str = "AZURE_SANDBOX_LOCAL_NETWORK";
pub const DEFAULT_TRANSCRIPT_LIMIT: usize = 2 << 20;

/// Where runs go, as resolved from the settings and the environment.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The embedded local sandbox, so made.
    Local(LocalOptions),
    Azure(RemoteConfig),
}

/// What the embedded local sandbox is made with.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalOptions {
    /// python3 on PATH when `None`.
    pub python: Option<PathBuf>,
    pub isolation: IsolationMode,
    pub network: bool,
}

impl Default for LocalOptions {
    fn default() -> Self {
        Self { python: None, isolation: IsolationMode::Auto, network: true }
    }
}

impl LocalOptions {
    /// The command line's: `python` from its flag, the rest from
    /// AZURE_SANDBOX_LOCAL_ISOLATION and AZURE_SANDBOX_LOCAL_NETWORK.
    pub fn from_env(python: Option<PathBuf>) -> Result<Self, String> {
        Ok(Self { python, isolation: env_isolation()?, network: env_network()? })
    }
}

fn env_isolation() -> Result<IsolationMode, String> {
    match std::env::var(ISOLATION_VAR).ok().filter(|v| !v.trim().is_empty()) {
        Some(value) => IsolationMode::parse(&value).map_err(|why| format!("{ISOLATION_VAR}: {why}")),
        None => Ok(IsolationMode::Auto),
    }
}

fn env_network() -> Result<bool, String> {
    match std::env::var(NETWORK_VAR).ok().filter(|v| !v.trim().is_empty()) {
        Some(value) => parse_network(&value).map_err(|why| format!("{NETWORK_VAR}: {why}")),
        None => Ok(true),
    }
}

impl Settings {
    /// Reads settings from a JSON value that is either the `azureSandbox`
    /// section itself or an object holding it. Unknown keys are ignored;
    /// a malformed value leaves the settings as they were.
    pub fn from_value(value: &Value) -> Result<Option<Self>, String> {
        let section = match value.get("azureSandbox") {
            Some(inner) => inner,
            None => value,
        };
        if section.is_null() || section.as_array().is_some_and(Vec::is_empty) {
            // Lua has one empty table for both: `[]` means "nothing set".
            return Ok(None);
        }
        let Some(object) = section.as_object() else {
            return Err("the azureSandbox settings must be an object".into());
        };
        // `null` means "not set", as editors write it for cleared settings.
        let set: serde_json::Map<String, Value> =
            object.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect();
        serde_json::from_value(Value::Object(set)).map(Some).map_err(|e| format!("invalid azureSandbox settings: {e}"))
    }

    /// Resolves the backend: explicit settings first, then the environment.
    pub fn target(&self) -> Target {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let env_endpoint = env(ENDPOINT_VAR);
        let endpoint = self.endpoint.clone().filter(|e| !e.trim().is_empty()).or_else(|| env_endpoint.clone());
        let pool = self.pool.clone().filter(|p| !p.trim().is_empty()).or_else(|| env(crate::azure::POOL_VAR));
        // The key from the environment goes only to the endpoint from the
        // environment: a project's settings can name an endpoint, and must
        // not thereby receive the user's key.
        let users_own_endpoint = endpoint.is_some() && endpoint == env_endpoint;
        let env_key = env(KEY_VAR).and_then(ApiKey::new).filter(|_| users_own_endpoint);
        match (self.backend, endpoint, pool) {
            (BackendChoice::Local, _, _) | (BackendChoice::Auto, None, None) => Target::Local(self.local_options()),
            (_, endpoint, pool) => Target::Azure(RemoteConfig {
                pool: if endpoint.is_some() { None } else { pool },
                endpoint,
                key: self.api_key.clone().and_then(ApiKey::new).or(env_key),
                // A project's setting may allow clear text only to the
                // endpoint it names itself, not to the user's own.
                allow_insecure_http: (self.allow_insecure_http && !users_own_endpoint)
                    || env(INSECURE_VAR)
                        .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes")),
                // Applied per run, so changing it does not replace the backend.
                run_timeout: None,
            }),
        }
    }

    /// Seconds to wait for one run: the setting, else AZURE_SANDBOX_RUN_TIMEOUT.
    pub fn run_timeout(&self) -> Option<Duration> {
        match self.run_timeout {
            Some(seconds) => parse_seconds(&seconds.to_string()).ok(),
            None => RemoteConfig::from_env().run_timeout,
        }
    }

    /// A problem with the local sandbox's isolation setting worth telling
    /// the user about (it is then read as `namespaces`).
    pub fn isolation_problem(&self) -> Option<String> {
        let isolation = self.local_isolation.as_deref().filter(|i| !i.trim().is_empty())?;
        IsolationMode::parse(isolation).err().map(|why| format!("azureSandbox.localIsolation: {why}"))
    }

    /// A problem with the cell marker setting worth telling the user about.
    pub fn problem(&self) -> Option<String> {
        let pattern = self.cell_marker.as_deref().filter(|p| !p.trim().is_empty())?;
        CellMarkers::custom(pattern).err()
    }

    /// The embedded local sandbox's options: the settings, else the
    /// environment. A value that does not parse falls back to the safe
    /// reading: namespaces, and the network on only when nothing says off
    /// (`problem` tells the user about the setting; the variables are
    /// warned about here).
    pub fn local_options(&self) -> LocalOptions {
        let isolation = match self.local_isolation.as_deref().filter(|i| !i.trim().is_empty()) {
            Some(value) => IsolationMode::parse(value).unwrap_or(IsolationMode::Namespaces),
            None => env_isolation().unwrap_or_else(|why| {
                tracing::warn!("{why}; namespaces are required instead");
                IsolationMode::Namespaces
            }),
        };
        let network = match self.local_network {
            Some(on) => on,
            None => env_network().unwrap_or_else(|why| {
                tracing::warn!("{why}; the network is off instead");
                false
            }),
        };
        LocalOptions { python: self.local_python(), isolation, network }
    }

    pub fn markers(&self) -> CellMarkers {
        match self.cell_marker.as_deref().filter(|p| !p.trim().is_empty()) {
            Some(pattern) => CellMarkers::custom(pattern).unwrap_or_default(),
            None => CellMarkers::Standard,
        }
    }

    pub fn hover_limit(&self) -> usize {
        self.hover_output_limit.unwrap_or(DEFAULT_HOVER_LIMIT).max(100)
    }

    pub fn mirror_enabled(&self) -> bool {
        self.mirror.unwrap_or(true)
    }

    pub fn mirror_rules(&self) -> crate::mirror::MirrorRules {
        crate::mirror::MirrorRules {
            include: self.mirror_include.clone(),
            exclude: self.mirror_exclude.clone(),
            budget: self.mirror_budget.unwrap_or(crate::mirror::DEFAULT_BUDGET),
            // This tool's cache (transcripts, figures) is not the user's.
            skip: crate::config::cache_dir().into_iter().collect(),
        }
    }

    /// The embedded local sandbox's interpreter: the setting, else
    /// AZURE_SANDBOX_PYTHON.
    pub fn local_python(&self) -> Option<PathBuf> {
        let env = std::env::var(PYTHON_VAR).ok();
        self.local_python.clone().or(env).filter(|p| !p.trim().is_empty()).map(PathBuf::from)
    }

    /// Figure settings and the display limit, within sane bounds.
    pub fn display_options(&self) -> DisplayOptions {
        let default = DisplayOptions::default();
        let size = self.figure_size.map_or(default.figure_size, |[w, h]| (w.clamp(0.5, 50.0), h.clamp(0.5, 50.0)));
        DisplayOptions {
            dpi: self.figure_dpi.filter(|d| d.is_finite()).map_or(default.dpi, |d| d.clamp(10.0, 600.0)),
            figure_size: if size.0.is_finite() && size.1.is_finite() { size } else { default.figure_size },
            format: self.figure_format.unwrap_or_default(),
            limit: self.display_limit.map_or(default.limit, |l| l.max(1000)),
        }
    }

    pub fn transcript_limit(&self) -> usize {
        self.transcript_limit.unwrap_or(DEFAULT_TRANSCRIPT_LIMIT).max(4096)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_section_or_the_bare_object() {
        let a = Settings::from_value(&json!({"azureSandbox": {"backend": "local", "runTimeout": 5}})).unwrap().unwrap();
        let b =
            Settings::from_value(&json!({"backend": "local", "runTimeout": 5, "somethingElse": 1})).unwrap().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.backend, BackendChoice::Local);
        assert_eq!(a.run_timeout(), Some(Duration::from_secs(5)));
        assert!(Settings::from_value(&json!({"backend": "mars"})).is_err());
        assert!(Settings::from_value(&json!(null)).unwrap().is_none());
        let cleared = Settings::from_value(&json!({"backend": null, "allowInsecureHttp": null, "endpoint": null}))
            .unwrap()
            .unwrap();
        assert_eq!(cleared, Settings::default());
    }

    #[test]
    fn backend_resolution() {
        let local =
            Settings { backend: BackendChoice::Local, endpoint: Some("https://x/mcp".into()), ..Settings::default() };
        assert!(matches!(local.target(), Target::Local { .. }));
        let azure =
            Settings { endpoint: Some("https://x/mcp".into()), api_key: Some("k".into()), ..Settings::default() };
        match azure.target() {
            Target::Azure(config) => assert_eq!(config.endpoint.as_deref(), Some("https://x/mcp")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_environment_key_goes_only_to_the_environment_endpoint() {
        // With no environment endpoint (tests do not set one), a settings
        // endpoint gets only a settings key.
        if std::env::var(ENDPOINT_VAR).is_ok() {
            return;
        }
        let project = Settings { endpoint: Some("https://attacker.example/mcp".into()), ..Settings::default() };
        match project.target() {
            Target::Azure(config) => assert!(config.key.is_none()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn figure_settings_are_read_and_bounded() {
        let s = Settings::from_value(&json!({"figureDpi": 5000, "figureSize": [3, 2], "figureFormat": "svg",
            "displayLimit": 10, "localPython": "/opt/py/bin/python"}))
        .unwrap()
        .unwrap();
        let options = s.display_options();
        assert_eq!((options.dpi, options.figure_size, options.format), (600.0, (3.0, 2.0), FigureFormat::Svg));
        assert_eq!(options.limit, 1000);
        assert_eq!(s.local_python(), Some(PathBuf::from("/opt/py/bin/python")));
        assert!(Settings::from_value(&json!({"figureFormat": "gif"})).is_err());
        let local =
            Settings::from_value(&json!({"localIsolation": "process", "localNetwork": false})).unwrap().unwrap();
        let options = local.local_options();
        assert_eq!((options.isolation, options.network), (IsolationMode::Process, false));
        assert!(local.isolation_problem().is_none());
        let typo = Settings::from_value(&json!({"localIsolation": "namespace"})).unwrap().unwrap();
        assert!(typo.isolation_problem().unwrap().contains("auto, namespaces or process"));
        assert_eq!(typo.local_options().isolation, IsolationMode::Namespaces, "a typo does not weaken it");
        assert_eq!(Settings::default().display_options(), DisplayOptions::default());
    }

    #[test]
    fn debug_hides_the_key() {
        let s = Settings { api_key: Some("very-secret".into()), ..Settings::default() };
        assert!(!format!("{s:?}").contains("very-secret"));
    }
}
