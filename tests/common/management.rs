//! A local stand-in for the Azure Resource Manager calls this project makes
//! (the only Azure part that cannot run here): GET a session pool and POST
//! fetchMCPServerCredentials, with the documented shapes and errors.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Pool {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
    pub endpoint: String,
    pub key: String,
    pub mcp_enabled: bool,
    /// Spell the properties as the 2025-10-02-preview spec example does.
    pub odd_casing: bool,
    /// The tutorials' api-version returns no mcpServerSettings (as the
    /// published 2025-02-02-preview spec); only 2025-10-02-preview has it.
    pub only_newer_api_has_settings: bool,
}

#[derive(Default)]
pub struct Seen {
    pub key_fetches: usize,
    pub api_versions: Vec<String>,
}

pub struct StandIn {
    pub url: String,
    pub pool: Arc<Mutex<Pool>>,
    pub seen: Arc<Mutex<Seen>>,
    pub token: String,
}

#[derive(Clone)]
struct AppState {
    pool: Arc<Mutex<Pool>>,
    seen: Arc<Mutex<Seen>>,
    token: String,
}

pub const TOKEN: &str = "management-token-sentinel-9d1e";

pub async fn start(pool: Pool) -> StandIn {
    let state = AppState { pool: Arc::new(Mutex::new(pool)), seen: Arc::default(), token: TOKEN.to_owned() };
    let base = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.App/sessionPools/{name}";
    let app = Router::new()
        .route(base, get(read_pool))
        .route(&format!("{base}/fetchMCPServerCredentials"), post(fetch_key))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    StandIn { url, pool: state.pool, seen: state.seen, token: state.token }
}

fn arm_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {}", state.token))
}

/// Which pool the path names, if it is ours; else the ARM 404.
#[allow(clippy::result_large_err)]
fn ours(state: &AppState, (sub, rg, name): &(String, String, String)) -> Result<Pool, Response> {
    let pool = state.pool.lock().unwrap().clone();
    if pool.subscription == *sub && pool.resource_group.eq_ignore_ascii_case(rg) && pool.name == *name {
        Ok(pool)
    } else {
        Err(arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("The Resource 'Microsoft.App/sessionPools/{name}' under resource group '{rg}' was not found."),
        ))
    }
}

async fn read_pool(
    State(state): State<AppState>,
    Path(path): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&state, &headers) {
        return arm_error(StatusCode::UNAUTHORIZED, "AuthenticationFailed", "Authentication failed.");
    }
    let version = query.get("api-version").cloned().unwrap_or_default();
    state.seen.lock().unwrap().api_versions.push(version.clone());
    let pool = match ours(&state, &path) {
        Ok(pool) => pool,
        Err(response) => return response,
    };
    let mut properties = json!({
        "poolManagementType": "Dynamic",
        "containerType": "PythonLTS",
        "scaleConfiguration": {"maxConcurrentSessions": 5},
        "sessionNetworkConfiguration": {"status": "EgressEnabled"},
        "dynamicPoolConfiguration": {"lifecycleConfiguration": {"lifecycleType": "Timed", "coolDownPeriodInSeconds": 300}},
        "provisioningState": "Succeeded",
    });
    let has_settings = !(pool.only_newer_api_has_settings && version == "2025-02-02-preview");
    if has_settings {
        let settings = match (pool.mcp_enabled, pool.odd_casing) {
            (false, _) => Value::Null,
            (true, false) => json!({"isMCPServerEnabled": true, "mcpServerEndpoint": pool.endpoint}),
            (true, true) => json!({"isMCpServerEnabled": true, "mcpServerEndpoint": pool.endpoint}),
        };
        let name = if pool.odd_casing { "mcPServerSettings" } else { "mcpServerSettings" };
        properties[name] = settings;
    }
    axum::Json(json!({
        "id": format!("/subscriptions/{}/resourceGroups/{}/providers/Microsoft.App/sessionPools/{}", pool.subscription, pool.resource_group, pool.name),
        "name": pool.name,
        "type": "Microsoft.App/sessionPools",
        "location": "eastus",
        "properties": properties,
    }))
    .into_response()
}

async fn fetch_key(
    State(state): State<AppState>,
    Path(path): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&state, &headers) {
        return arm_error(StatusCode::UNAUTHORIZED, "AuthenticationFailed", "Authentication failed.");
    }
    let pool = match ours(&state, &path) {
        Ok(pool) => pool,
        Err(response) => return response,
    };
    if !pool.mcp_enabled {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "SessionMCPServerNotEnabled",
            &format!("Session pool '{}' does not have MCP Server enabled.", pool.name),
        );
    }
    state.seen.lock().unwrap().key_fetches += 1;
    axum::Json(json!({"apiKey": pool.key})).into_response()
}

/// An `az` stand-in in `dir`: answers `az account get-access-token` with
/// `TOKEN`, or, when not signed in, with the CLI's own error.
pub fn fake_az(dir: &std::path::Path, signed_in: bool) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("az");
    let body = if signed_in {
        format!(
            "#!/bin/sh\ncase \"$*\" in\n  *\"account get-access-token\"*)\n    printf '{{\"accessToken\": \"{TOKEN}\", \"expiresOn\": \"2030-01-01 00:00:00.000000\", \"subscription\": \"00000000-0000-0000-0000-000000000000\", \"tenant\": \"t\", \"tokenType\": \"Bearer\"}}\\n' ;;\n  *) echo \"az stand-in: unsupported: $*\" >&2; exit 2 ;;\nesac\n"
        )
    } else {
        "#!/bin/sh\necho \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n".to_owned()
    };
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}
