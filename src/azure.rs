//! Finding a session pool's MCP endpoint and key through Azure Resource
//! Manager, signed in as the Azure CLI user, so nobody copies a key by hand.
//!
//! The two tutorial steps this replaces:
//! `az rest GET …/sessionPools/NAME --query properties.mcpServerSettings.mcpServerEndpoint`
//! and `az rest POST …/sessionPools/NAME/fetchMCPServerCredentials --query apiKey`.
//! The key and the management token stay in memory; neither is ever printed.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::mcp::Endpoint;
use crate::mcp::jsonrpc::excerpt;
use crate::secret::{ApiKey, redact};

/// The API versions the docs and specs use for `mcpServerSettings`: the
/// tutorials' first, then the spec that defines the property.
pub const API_VERSIONS: [&str; 2] = ["2025-02-02-preview", "2025-10-02-preview"];
pub const MANAGEMENT: &str = "https://management.azure.com";
/// Test-only: another base URL for the management API (a local stand-in).
pub const MANAGEMENT_URL_VAR: &str = "AZURE_SANDBOX_MANAGEMENT_URL";
pub const POOL_VAR: &str = "AZURE_SANDBOX_POOL";

/// A session pool: subscription, resource group and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolRef {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

impl PoolRef {
    /// Reads an ARM resource id
    /// (`/subscriptions/S/resourceGroups/RG/providers/Microsoft.App/sessionPools/NAME`)
    /// or the short form `S/RG/NAME`.
    pub fn parse(text: &str) -> Result<Self, SetupError> {
        let text = text.trim();
        let parts: Vec<&str> = text.trim_matches('/').split('/').filter(|p| !p.is_empty()).collect();
        let field = |key: &str| parts.windows(2).find(|w| w[0].eq_ignore_ascii_case(key)).map(|w| w[1].to_owned());
        let pool = if text.starts_with('/') || parts.first().is_some_and(|p| p.eq_ignore_ascii_case("subscriptions")) {
            match (field("subscriptions"), field("resourceGroups"), field("sessionPools")) {
                (Some(subscription), Some(resource_group), Some(name)) => Self { subscription, resource_group, name },
                _ => return Err(SetupError::InvalidPool(text.to_owned())),
            }
        } else if let [subscription, resource_group, name] = parts.as_slice() {
            Self {
                subscription: (*subscription).to_owned(),
                resource_group: (*resource_group).to_owned(),
                name: (*name).to_owned(),
            }
        } else {
            return Err(SetupError::InvalidPool(text.to_owned()));
        };
        // Names go into a URL path: no separators, no `.`/`..` segments.
        let safe = |s: &str| {
            !s.is_empty()
                && !s.trim_matches('.').is_empty()
                && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.()".contains(c))
        };
        if !(safe(&pool.subscription) && safe(&pool.resource_group) && safe(&pool.name)) {
            return Err(SetupError::InvalidPool(text.to_owned()));
        }
        Ok(pool)
    }

    pub fn resource_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.App/sessionPools/{}",
            self.subscription, self.resource_group, self.name
        )
    }
}

impl std::fmt::Display for PoolRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.resource_id())
    }
}

/// What can go wrong, each with what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub enum SetupError {
    InvalidPool(String),
    AzMissing,
    NotSignedIn(String),
    AzFailed(String),
    PoolNotFound(String),
    McpNotEnabled(String),
    Forbidden(String),
    Http { status: u16, detail: String },
    Unreachable(String),
    BadResponse(String),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::InvalidPool(text) => write!(
                f,
                "`{text}` is not a session pool: give its resource id \
                 (/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.App/sessionPools/<name>) \
                 or <subscription>/<resource group>/<name>"
            ),
            SetupError::AzMissing => write!(
                f,
                "the Azure CLI (`az`) is not installed or not on PATH: install it and run `az login`, \
                 or set AZURE_SANDBOX_MCP_ENDPOINT and AZURE_SANDBOX_API_KEY yourself"
            ),
            SetupError::NotSignedIn(why) => write!(f, "the Azure CLI is not signed in ({why}): run `az login`"),
            SetupError::AzFailed(why) => write!(f, "`az account get-access-token` failed: {why}"),
            SetupError::PoolNotFound(id) => write!(
                f,
                "session pool {id} was not found: check the subscription, resource group and name \
                 (`az containerapp sessionpool list`), and that `az account show` is the right account"
            ),
            SetupError::McpNotEnabled(id) => write!(
                f,
                "session pool {id} does not have its MCP server enabled: create it with \
                 mcpServerSettings.isMCPServerEnabled = true (see examples/azure/) — pools of type \
                 CustomContainer do not support it"
            ),
            SetupError::Forbidden(id) => write!(
                f,
                "your Azure account may not read session pool {id} or fetch its MCP credentials: \
                 you need a role such as Contributor on it"
            ),
            SetupError::Http { status, detail } => write!(f, "Azure Resource Manager answered HTTP {status}: {detail}"),
            SetupError::Unreachable(why) => write!(f, "cannot reach Azure Resource Manager: {why}"),
            SetupError::BadResponse(why) => {
                write!(f, "Azure Resource Manager sent an answer this tool cannot read: {why}")
            }
        }
    }
}

impl std::error::Error for SetupError {}

/// The management API and the `az` to sign in with.
#[derive(Clone)]
pub struct Management {
    base: Endpoint,
    az: PathBuf,
    http: reqwest::Client,
}

impl std::fmt::Debug for Management {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Management").field("base", &self.base.display()).field("az", &self.az).finish()
    }
}

impl Management {
    /// `base`: the management API (https, or http to loopback for a stand-in);
    /// `az`: the Azure CLI program.
    pub fn new(base: &str, az: PathBuf) -> Result<Self, SetupError> {
        let base = Endpoint::parse(base, false).map_err(|e| SetupError::Unreachable(e.to_string()))?;
        // The system trust store, HTTP/2, the proxy variables and no
        // redirects, as for the sandbox endpoint; one client, reused by the
        // key refresher, so one TLS handshake.
        let http = crate::mcp::client::http_client_builder(&base)
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| SetupError::Unreachable(crate::mcp::client::build_error(&e)))?;
        Ok(Self { base, az, http })
    }

    /// The real management API (or the test-only override) and `az` on PATH.
    pub fn from_env() -> Result<Self, SetupError> {
        let base = std::env::var(MANAGEMENT_URL_VAR).ok().filter(|v| !v.trim().is_empty());
        if let Some(base) = &base {
            // The management token would go there: only to this machine.
            let local = Endpoint::parse(base, false).is_ok_and(|e| e.is_loopback());
            if !local {
                return Err(SetupError::Unreachable(format!(
                    "{MANAGEMENT_URL_VAR} is for tests and must point at this machine (a loopback address)"
                )));
            }
        }
        Self::new(base.as_deref().unwrap_or(MANAGEMENT), find_on_path("az").ok_or(SetupError::AzMissing)?)
    }

    pub fn base(&self) -> &Endpoint {
        &self.base
    }

    /// A management token from the signed-in Azure CLI.
    pub async fn token(&self) -> Result<ApiKey, SetupError> {
        let output = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::process::Command::new(&self.az)
                .args([
                    "account",
                    "get-access-token",
                    "--resource",
                    "https://management.azure.com/",
                    "--output",
                    "json",
                ])
                .stdin(std::process::Stdio::null())
                .output(),
        )
        .await
        .map_err(|_| SetupError::AzFailed("no answer within 60 s".into()))?
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                SetupError::AzMissing
            } else {
                SetupError::AzFailed(e.to_string())
            }
        })?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            let message = excerpt(stderr.trim());
            let lower = message.to_ascii_lowercase();
            return Err(
                if lower.contains("az login") || lower.contains("not logged in") || lower.contains("no subscription") {
                    SetupError::NotSignedIn(message)
                } else {
                    SetupError::AzFailed(message)
                },
            );
        }
        let value: Value = serde_json::from_slice(&output.stdout)
            .map_err(|_| SetupError::AzFailed("its output was not the expected JSON".into()))?;
        value
            .get("accessToken")
            .and_then(Value::as_str)
            .and_then(ApiKey::new)
            .ok_or_else(|| SetupError::AzFailed("its output had no accessToken".into()))
    }

    fn url(&self, pool: &PoolRef, action: Option<&str>, version: &str) -> String {
        let base = self.base.url().as_str().trim_end_matches('/');
        let action = action.map(|a| format!("/{a}")).unwrap_or_default();
        format!("{base}{}{action}?api-version={version}", pool.resource_id())
    }

    async fn call(&self, method: reqwest::Method, url: String, token: &ApiKey) -> Result<(u16, Value), SetupError> {
        let mut bearer = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| SetupError::AzFailed("the token is not a valid header value".into()))?;
        bearer.set_sensitive(true);
        let response = self
            .http
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, bearer)
            .header(reqwest::header::CONTENT_LENGTH, "0")
            .send()
            .await
            .map_err(|e| SetupError::Unreachable(redact(&e.without_url().to_string(), Some(token))))?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    /// The pool's MCP endpoint, and the API version that gave it.
    pub async fn endpoint(&self, pool: &PoolRef, token: &ApiKey) -> Result<(String, &'static str), SetupError> {
        let mut not_enabled = false;
        let mut last = None;
        for version in API_VERSIONS {
            let (status, body) = self.call(reqwest::Method::GET, self.url(pool, None, version), token).await?;
            match status {
                200 => {
                    let settings = body.get("properties").and_then(|p| find(p, "mcpServerSettings"));
                    match settings.and_then(|s| find(s, "mcpServerEndpoint")).and_then(Value::as_str) {
                        Some(endpoint) if !endpoint.trim().is_empty() => {
                            return Ok((endpoint.trim().to_owned(), version));
                        }
                        // An older API version may not know the property: try the next.
                        _ => not_enabled = true,
                    }
                }
                _ => {
                    let error = arm_error(status, &body, pool);
                    if !unknown_version(&error, &body) {
                        return Err(error);
                    }
                    last = Some(error);
                }
            }
        }
        Err(if not_enabled {
            SetupError::McpNotEnabled(pool.resource_id())
        } else {
            last.unwrap_or(SetupError::PoolNotFound(pool.resource_id()))
        })
    }

    /// The pool's MCP API key (`fetchMCPServerCredentials`).
    pub async fn key(&self, pool: &PoolRef, token: &ApiKey, version: &str) -> Result<ApiKey, SetupError> {
        let versions = std::iter::once(version).chain(API_VERSIONS.into_iter().filter(|v| *v != version));
        let mut last = None;
        for version in versions {
            let (status, body) = self
                .call(reqwest::Method::POST, self.url(pool, Some("fetchMCPServerCredentials"), version), token)
                .await?;
            if status == 200 {
                return find(&body, "apiKey")
                    .and_then(Value::as_str)
                    .and_then(ApiKey::new)
                    .ok_or_else(|| SetupError::BadResponse("fetchMCPServerCredentials returned no apiKey".into()));
            }
            let error = arm_error(status, &body, pool);
            if !unknown_version(&error, &body) {
                return Err(error);
            }
            last = Some(error);
        }
        Err(last.unwrap_or(SetupError::PoolNotFound(pool.resource_id())))
    }

    /// Endpoint and key of a pool, with a fresh token.
    pub async fn resolve(&self, pool: &PoolRef) -> Result<(String, ApiKey), SetupError> {
        let token = self.token().await?;
        let (endpoint, version) = self.endpoint(pool, &token).await?;
        let key = self.key(pool, &token, version).await?;
        Ok((endpoint, key))
    }
}

/// A client for a pool's MCP endpoint, with the key fetched now and again
/// whenever the service refuses it.
pub async fn connect(pool: &str, options: crate::mcp::ClientOptions) -> Result<crate::mcp::McpClient, ConnectError> {
    let pool = PoolRef::parse(pool)?;
    let management = Management::from_env()?;
    let token = management.token().await?;
    let (endpoint, version) = management.endpoint(&pool, &token).await?;
    let key = management.key(&pool, &token, version).await?;
    let refresher = std::sync::Arc::new(PoolKey { management, pool, version });
    Ok(crate::mcp::McpClient::with_refresher(&endpoint, Some(key), options, Some(refresher))?)
}

/// Either a setup problem or a client problem (e.g. the pool's endpoint is
/// plain http to a remote host).
#[derive(Debug)]
pub enum ConnectError {
    Setup(SetupError),
    Client(crate::mcp::McpError),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Setup(e) => write!(f, "{e}"),
            ConnectError::Client(e) => write!(f, "{e}"),
        }
    }
}

impl From<SetupError> for ConnectError {
    fn from(e: SetupError) -> Self {
        ConnectError::Setup(e)
    }
}

impl From<crate::mcp::McpError> for ConnectError {
    fn from(e: crate::mcp::McpError) -> Self {
        ConnectError::Client(e)
    }
}

/// Re-fetches a pool's key (after a rotation).
pub struct PoolKey {
    pub management: Management,
    pub pool: PoolRef,
    pub version: &'static str,
}

impl crate::mcp::KeyRefresher for PoolKey {
    fn refresh(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<ApiKey, String>> + Send + '_>> {
        Box::pin(async move {
            let token = self.management.token().await.map_err(|e| e.to_string())?;
            self.management.key(&self.pool, &token, self.version).await.map_err(|e| e.to_string())
        })
    }
}

/// A property by name, in any letter case (the service and its specs spell
/// `mcpServerSettings` three ways).
fn find<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
        .filter(|v| !v.is_null())
}

/// ARM refused the api-version (not offered in this region or any more):
/// the next one may work.
fn unknown_version(error: &SetupError, body: &Value) -> bool {
    matches!(error, SetupError::Http { .. })
        && arm_code(body).is_some_and(|c| c.contains("ApiVersion") || c == "NoRegisteredProviderFound")
}

fn arm_code(body: &Value) -> Option<String> {
    body.pointer("/error/code").and_then(Value::as_str).map(str::to_owned)
}

fn arm_error(status: u16, body: &Value, pool: &PoolRef) -> SetupError {
    let code = arm_code(body).unwrap_or_default();
    let message = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| excerpt(&body.to_string()));
    match (status, code.as_str()) {
        (_, "SessionMCPServerNotEnabled") => SetupError::McpNotEnabled(pool.resource_id()),
        (404, _) | (_, "ResourceNotFound" | "ResourceGroupNotFound" | "SubscriptionNotFound") => {
            SetupError::PoolNotFound(pool.resource_id())
        }
        (401, _) => SetupError::NotSignedIn(format!("the management token was refused: {}", excerpt(&message))),
        (403, _) => SetupError::Forbidden(pool.resource_id()),
        _ => SetupError::Http { status, detail: excerpt(&format!("{code} {message}")) },
    }
}

/// A program on PATH.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| {
            std::fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pool_references() {
        let id = "/subscriptions/0000-1111/resourceGroups/rg-1/providers/Microsoft.App/sessionPools/pool1";
        let pool = PoolRef::parse(id).unwrap();
        assert_eq!(
            (pool.subscription.as_str(), pool.resource_group.as_str(), pool.name.as_str()),
            ("0000-1111", "rg-1", "pool1")
        );
        assert_eq!(pool.resource_id(), id);
        assert_eq!(PoolRef::parse("0000-1111/rg-1/pool1").unwrap(), pool);
        assert_eq!(PoolRef::parse(&id.to_lowercase()).unwrap().name, "pool1");
        for bad in ["", "pool1", "a/b", "a/b/c/d", "/subscriptions/x/resourceGroups/y", "a/b/c?x=1", "a/../c"] {
            assert!(PoolRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn properties_in_any_casing() {
        let body = json!({"properties": {"mcPServerSettings": {"isMCpServerEnabled": true, "MCPServerEndpoint": "https://x/mcp"}}});
        let settings = find(&body["properties"], "mcpServerSettings").unwrap();
        assert_eq!(find(settings, "mcpServerEndpoint").unwrap(), "https://x/mcp");
        assert!(find(&json!({"mcpServerSettings": null}), "mcpServerSettings").is_none());
    }

    #[test]
    fn arm_errors_are_named() {
        let pool = PoolRef::parse("s/r/p").unwrap();
        let not_enabled = json!({"error": {"code": "SessionMCPServerNotEnabled", "message": "Session pool 'p' does not have MCP Server enabled."}});
        assert!(matches!(arm_error(400, &not_enabled, &pool), SetupError::McpNotEnabled(_)));
        let missing = json!({"error": {"code": "ResourceNotFound", "message": "not found"}});
        assert!(matches!(arm_error(404, &missing, &pool), SetupError::PoolNotFound(_)));
        assert!(matches!(arm_error(403, &json!({}), &pool), SetupError::Forbidden(_)));
        assert!(SetupError::McpNotEnabled(pool.resource_id()).to_string().contains("isMCPServerEnabled"));
    }
}
