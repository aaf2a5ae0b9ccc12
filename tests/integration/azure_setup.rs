//! Endpoint and key from the pool through the Azure CLI's sign-in, against a
//! management stand-in and an `az` stand-in, and the `doctor` command.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::management::{self, Pool, TOKEN};
use azure_sandbox_lsp::azure::{Management, PoolKey, PoolRef, SetupError};
use azure_sandbox_lsp::mcp::{ClientOptions, McpClient};
use azure_sandbox_lsp::sandbox::{LocalSandbox, SandboxConfig};
use azure_sandbox_lsp::secret::ApiKey;

const SUB: &str = "11111111-2222-3333-4444-555555555555";
const POOL_ID: &str = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-demo/providers/Microsoft.App/sessionPools/pool1";

fn pool(endpoint: &str, key: &str) -> Pool {
    Pool {
        subscription: SUB.into(),
        resource_group: "rg-demo".into(),
        name: "pool1".into(),
        endpoint: endpoint.into(),
        key: key.into(),
        mcp_enabled: true,
        odd_casing: false,
        only_newer_api_has_settings: false,
    }
}

fn sandbox_config(port: u16) -> SandboxConfig {
    SandboxConfig { isolate_users: false, port, ..SandboxConfig::default() }
}

/// The binary with PATH = the az stand-in's directory (and the system's
/// basics for python3), the stand-in management URL, and a private cache.
fn cli(az_dir: &Path, management_url: &str, cache: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_azure-sandbox-lsp"));
    for var in ["AZURE_SANDBOX_MCP_ENDPOINT", "AZURE_SANDBOX_API_KEY", "AZURE_SANDBOX_POOL", "AZURE_SANDBOX_LOG"] {
        command.env_remove(var);
    }
    let python_dir = azure_sandbox_lsp::azure::find_on_path("python3").and_then(|p| p.parent().map(Path::to_path_buf));
    let mut path = vec![az_dir.to_path_buf()];
    path.extend(python_dir);
    path.extend(["/usr/bin".into(), "/bin".into()]);
    command
        .env("PATH", std::env::join_paths(path).unwrap())
        .env("AZURE_SANDBOX_MANAGEMENT_URL", management_url)
        .env("AZURE_SANDBOX_CACHE_DIR", cache)
        .stdin(std::process::Stdio::null());
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_and_run_resolve_endpoint_and_key_from_the_pool() {
    let sandbox = LocalSandbox::start(sandbox_config(0), None).await.unwrap();
    let key = sandbox.api_key().expose().to_owned();
    let standin = management::start(pool(sandbox.endpoint(), &key)).await;
    let dir = tempfile::tempdir().unwrap();
    management::fake_az(dir.path(), true);
    let (url, az_dir, cache) = (standin.url.clone(), dir.path().to_path_buf(), dir.path().join("cache"));
    let output = tokio::task::spawn_blocking(move || {
        cli(&az_dir, &url, &cache).args(["doctor", "--pool", POOL_ID]).output().unwrap()
    })
    .await
    .unwrap();
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", text(&output.stderr));
    for step in
        ["get a management token", "read the pool's MCP endpoint", "fetch the MCP key", "key accepted", "run print(1)"]
    {
        assert!(stdout.lines().any(|l| l.starts_with("[ ok ]") && l.contains(step)), "{step}: {stdout}");
    }
    assert!(stdout.contains(sandbox.endpoint()), "{stdout}");
    assert!(stdout.contains("all checks passed"));
    let all = format!("{stdout}{}", text(&output.stderr));
    assert!(!all.contains(&key) && !all.contains(TOKEN), "no key or token in the output: {all}");

    // `run` with the short form of the pool.
    let file = dir.path().join("x.py");
    std::fs::write(&file, "print(6 * 7)\n").unwrap();
    let (url, az_dir, cache) = (standin.url.clone(), dir.path().to_path_buf(), dir.path().join("cache"));
    let output = tokio::task::spawn_blocking(move || {
        cli(&az_dir, &url, &cache)
            .args(["run", file.to_str().unwrap(), "--pool", &format!("{SUB}/rg-demo/pool1")])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(text(&output.stdout), "42\n", "{}", text(&output.stderr));
    assert!(standin.seen.lock().unwrap().key_fetches >= 2);
}

async fn doctor_failure(pool_text: &str, standin_pool: Pool, signed_in: bool, with_az: bool) -> String {
    let standin = management::start(standin_pool).await;
    let dir = tempfile::tempdir().unwrap();
    let az_dir = dir.path().join("bin");
    std::fs::create_dir_all(&az_dir).unwrap();
    if with_az {
        management::fake_az(&az_dir, signed_in);
    }
    let (url, cache, pool_text) = (standin.url.clone(), dir.path().join("cache"), pool_text.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        cli(&az_dir, &url, &cache).args(["doctor", "--pool", &pool_text]).output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("some checks failed"), "{stdout}");
    assert!(!stdout.contains(TOKEN), "{stdout}");
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_setup_failure_says_what_to_do() {
    let fine = pool("http://127.0.0.1:9/mcp", "k");
    let out = doctor_failure(POOL_ID, fine.clone(), true, false).await;
    if azure_sandbox_lsp::azure::find_on_path("az").is_none() {
        assert!(out.contains("[FAIL] find the Azure CLI") && out.contains("not installed or not on PATH"), "{out}");
    }
    let out = doctor_failure(POOL_ID, fine.clone(), false, true).await;
    assert!(out.contains("[FAIL] get a management token") && out.contains("run `az login`"), "{out}");
    let out = doctor_failure(&POOL_ID.replace("pool1", "nosuchpool"), fine.clone(), true, true).await;
    assert!(out.contains("[FAIL] read the pool's MCP endpoint") && out.contains("was not found"), "{out}");
    let out = doctor_failure(POOL_ID, Pool { mcp_enabled: false, ..fine.clone() }, true, true).await;
    assert!(out.contains("does not have its MCP server enabled") && out.contains("isMCPServerEnabled"), "{out}");
    let out = doctor_failure("not-a-pool", fine.clone(), true, true).await;
    assert!(out.contains("[FAIL] read the pool reference"), "{out}");
    // The pool is right but its endpoint is down.
    let out = doctor_failure(POOL_ID, fine, true, true).await;
    assert!(out.contains("[FAIL] reach the endpoint") && out.contains("cannot reach"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_casings_and_the_newer_api_version_are_understood() {
    let sandbox = LocalSandbox::start(sandbox_config(0), None).await.unwrap();
    let standin = management::start(Pool {
        odd_casing: true,
        only_newer_api_has_settings: true,
        ..pool(sandbox.endpoint(), sandbox.api_key().expose())
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let az = management::fake_az(dir.path(), true);
    let management = Management::new(&standin.url, az).unwrap();
    let (endpoint, key) = management.resolve(&PoolRef::parse(POOL_ID).unwrap()).await.unwrap();
    assert_eq!(endpoint, sandbox.endpoint());
    assert_eq!(&key, sandbox.api_key());
    assert_eq!(
        standin.seen.lock().unwrap().api_versions[..2],
        ["2025-02-02-preview".to_owned(), "2025-10-02-preview".to_owned()]
    );
    // Errors never carry the token.
    let error = management.resolve(&PoolRef::parse(&format!("{SUB}/rg-demo/other")).unwrap()).await.unwrap_err();
    assert!(matches!(error, SetupError::PoolNotFound(_)) && !format!("{error} {error:?}").contains(TOKEN));
}

/// Keys rotate: after a 401 the client fetches the key again, once, and
/// carries on; no run is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_fetched_again_once() {
    let first = LocalSandbox::start(sandbox_config(0), Some(ApiKey::new("key-one-aaaaaaaa").unwrap())).await.unwrap();
    let endpoint = first.endpoint().to_owned();
    let port: u16 = endpoint.rsplit(':').next().unwrap().trim_end_matches("/mcp").parse().unwrap();
    let standin = management::start(pool(&endpoint, "key-one-aaaaaaaa")).await;
    let dir = tempfile::tempdir().unwrap();
    let az = management::fake_az(dir.path(), true);
    let management = Management::new(&standin.url, az).unwrap();
    let pool_ref = PoolRef::parse(POOL_ID).unwrap();
    let token = management.token().await.unwrap();
    let (resolved, version) = management.endpoint(&pool_ref, &token).await.unwrap();
    let key = management.key(&pool_ref, &token, version).await.unwrap();
    let refresher = std::sync::Arc::new(PoolKey { management, pool: pool_ref, version });
    let client = McpClient::with_refresher(&resolved, Some(key), ClientOptions::default(), Some(refresher)).unwrap();
    let env = client.launch().await.unwrap();
    client.run_python(&env, "1").await.unwrap();
    assert_eq!(standin.seen.lock().unwrap().key_fetches, 1);

    // Rotation: the endpoint now wants another key, which the pool hands out.
    first.shutdown().await;
    let second =
        LocalSandbox::start(sandbox_config(port), Some(ApiKey::new("key-two-bbbbbbbb").unwrap())).await.unwrap();
    standin.pool.lock().unwrap().key = "key-two-bbbbbbbb".into();
    let env = client.launch().await.unwrap();
    let out = client.run_python(&env, "'after rotation'").await.unwrap();
    assert_eq!(out.execution_result, Some(serde_json::json!("'after rotation'")));
    assert_eq!(standin.seen.lock().unwrap().key_fetches, 2, "one fetch for the rotation");
    // A key that stays wrong ends in Unauthorized, after one more fetch only.
    standin.pool.lock().unwrap().key = "still-wrong-ccccc".into();
    drop(second);
    let _third =
        LocalSandbox::start(sandbox_config(port), Some(ApiKey::new("key-three-dddddd").unwrap())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let error = client.launch().await.unwrap_err();
    assert!(matches!(error, azure_sandbox_lsp::mcp::McpError::Unauthorized { .. }), "{error:?}");
    assert_eq!(standin.seen.lock().unwrap().key_fetches, 3);
    assert!(!format!("{error}").contains("still-wrong") && !format!("{error}").contains("key-three"));
}

#[test]
fn doctor_without_configuration_checks_the_local_sandbox() {
    let cache = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_azure-sandbox-lsp"));
    for var in ["AZURE_SANDBOX_MCP_ENDPOINT", "AZURE_SANDBOX_API_KEY", "AZURE_SANDBOX_POOL"] {
        command.env_remove(var);
    }
    let output = command.arg("doctor").env("AZURE_SANDBOX_CACHE_DIR", cache.path()).output().unwrap();
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("embedded local sandbox") && stdout.contains("[ ok ] run print(1)"), "{stdout}");
    // An endpoint that refuses the key fails at that step, without the key.
    let sandbox_key = "doctor-wrong-key-eeeeeeee";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sandbox = runtime.block_on(LocalSandbox::start(sandbox_config(0), None)).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_azure-sandbox-lsp"));
    let output = command
        .arg("doctor")
        .env("AZURE_SANDBOX_MCP_ENDPOINT", sandbox.endpoint())
        .env("AZURE_SANDBOX_API_KEY", sandbox_key)
        .env("AZURE_SANDBOX_CACHE_DIR", cache.path())
        .env_remove("AZURE_SANDBOX_POOL")
        .output()
        .unwrap();
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("key: set (from AZURE_SANDBOX_API_KEY; not shown)"), "{stdout}");
    assert!(stdout.contains("[FAIL] reach the endpoint") || stdout.contains("[FAIL] key accepted"), "{stdout}");
    assert!(!stdout.contains(sandbox_key), "{stdout}");
    drop(sandbox);
}

/// The language server with only a pool configured: it reads the endpoint
/// and key from the pool and runs there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_server_runs_in_the_pool() {
    use common::lsp::{LspClient, file_uri};
    use serde_json::json;
    let sandbox = LocalSandbox::start(sandbox_config(0), None).await.unwrap();
    let standin = management::start(pool(sandbox.endpoint(), sandbox.api_key().expose())).await;
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    management::fake_az(&bin, true);
    let python_dir =
        azure_sandbox_lsp::azure::find_on_path("python3").and_then(|p| p.parent().map(Path::to_path_buf)).unwrap();
    let path = std::env::join_paths([bin, python_dir, "/usr/bin".into(), "/bin".into()]).unwrap();
    let root = dir.path().canonicalize().unwrap();
    let file = root.join("p.py");
    std::fs::write(&file, "total = 40 + 2\ntotal\n").unwrap();
    let cache = root.join("cache");
    let client = LspClient::binary(&[
        ("PATH", path.to_str().unwrap()),
        ("AZURE_SANDBOX_POOL", POOL_ID),
        ("AZURE_SANDBOX_MANAGEMENT_URL", &standin.url),
        ("AZURE_SANDBOX_CACHE_DIR", cache.to_str().unwrap()),
    ]);
    client.initialize(&root, json!({}), json!({})).await;
    let uri = file_uri(&file);
    client.open(&uri, "total = 40 + 2\ntotal\n").await;
    let lenses = client.code_lenses(&uri).await;
    assert_eq!(lenses[0]["command"]["title"], "Run file in Azure sandbox");
    let (_, diagnostics) = client.run_and_wait("azureSandbox.runLines", json!([uri, 1, 2]), &uri).await;
    assert_eq!(diagnostics, json!([]));
    let hover = client
        .result("textDocument/hover", json!({"textDocument": {"uri": uri}, "position": {"line": 1, "character": 0}}))
        .await;
    assert!(hover["contents"]["value"].as_str().unwrap().contains("→ `42`"), "{hover}");
    assert_eq!(standin.seen.lock().unwrap().key_fetches, 1);
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_key_is_not_sent_to_another_endpoint_and_management_stays_local() {
    // doctor --endpoint X with a key in the environment for another endpoint.
    let sandbox = LocalSandbox::start(sandbox_config(0), None).await.unwrap();
    let endpoint = sandbox.endpoint().to_owned();
    let key = sandbox.api_key().expose().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_azure-sandbox-lsp"))
            .args(["doctor", "--endpoint", &endpoint])
            .env("AZURE_SANDBOX_MCP_ENDPOINT", "https://elsewhere.example/mcp")
            .env("AZURE_SANDBOX_API_KEY", &key)
            .env_remove("AZURE_SANDBOX_POOL")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("key: not sent: AZURE_SANDBOX_API_KEY goes only to AZURE_SANDBOX_MCP_ENDPOINT"),
        "{stdout}"
    );
    assert!(stdout.contains("[FAIL]"), "without the key the endpoint refuses: {stdout}");
    assert!(sandbox.stats().unauthorized.load(std::sync::atomic::Ordering::Relaxed) > 0);
    // The test-only management URL must be this machine.
    let dir = tempfile::tempdir().unwrap();
    management::fake_az(dir.path(), true);
    let (az_dir, cache) = (dir.path().to_path_buf(), dir.path().join("cache"));
    let output = tokio::task::spawn_blocking(move || {
        cli(&az_dir, "https://management.example.net", &cache).args(["doctor", "--pool", POOL_ID]).output().unwrap()
    })
    .await
    .unwrap();
    let stdout = text(&output.stdout);
    assert!(stdout.contains("is for tests and must point at this machine"), "{stdout}");
}
