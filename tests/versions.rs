//! One version, Cargo.toml's: `azure-sandbox-lsp --version`, the language
//! server's `serverInfo.version` and the wheel (maturin) take it from there by
//! themselves; the files that must repeat it are checked here, so they cannot
//! drift: the VS Code extension's package.json and package-lock.json, the
//! Neovim plugin's version constant when it has one, and CHANGELOG.md, which
//! needs an entry for it. pyproject.toml must not name a version of its own.

use std::path::Path;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading {}: {e}", full.display()))
}

/// The first `key = "value"` in a TOML table, read as text.
fn toml_string(text: &str, table: &str, key: &str) -> Option<String> {
    let mut in_table = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_table = line == format!("[{table}]");
            continue;
        }
        if !in_table {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        if k.trim() == key {
            return Some(v.trim().trim_matches('"').to_owned());
        }
    }
    None
}

/// A JSON file's top-level `"version"`: the first one indented by two
/// spaces, as npm writes package.json and package-lock.json.
fn json_top_level_version(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix("  \"version\":")?;
        Some(rest.trim().trim_end_matches(',').trim_matches('"').to_owned())
    })
}

fn looks_like_version(s: &str) -> bool {
    let mut parts = s.split('.');
    parts.clone().count() >= 2
        && parts.all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

fn cargo_version() -> String {
    let version = toml_string(&read("Cargo.toml"), "package", "version").expect("Cargo.toml has [package] version");
    assert!(looks_like_version(&version), "Cargo.toml's version {version:?}");
    version
}

#[test]
fn binary_reports_cargo_version() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_azure-sandbox-lsp"))
        .arg("--version")
        .output()
        .expect("run --version");
    assert!(out.status.success(), "--version: {out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("azure-sandbox-lsp {}", cargo_version()));
}

#[test]
fn vscode_extension_has_cargo_version() {
    let want = cargo_version();
    for file in ["editors/vscode/package.json", "editors/vscode/package-lock.json"] {
        let got = json_top_level_version(&read(file)).unwrap_or_else(|| panic!("{file} has no top-level \"version\""));
        assert_eq!(got, want, "{file}'s version differs from Cargo.toml's: change both");
    }
}

#[test]
fn neovim_plugin_version_if_any_is_cargo_version() {
    let want = cargo_version();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("editors/neovim/lua/azure_sandbox");
    let mut entries: Vec<_> = std::fs::read_dir(&dir).expect("editors/neovim/lua/azure_sandbox").flatten().collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "lua") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a Lua file");
        for (line, value) in lua_version_constants(&text) {
            assert_eq!(value, want, "{}:{line}: the plugin's version differs from Cargo.toml's", path.display());
        }
    }
}

/// Lua constants such as `M.version = "0.1.0"` or `local version = "0.1.0"`,
/// with their line numbers.
fn lua_version_constants(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("--").next().unwrap_or_default();
        let Some((lhs, rhs)) = code.split_once('=') else { continue };
        let name = lhs.trim().trim_start_matches("local ").rsplit('.').next().unwrap_or_default().trim();
        if !name.eq_ignore_ascii_case("version") {
            continue;
        }
        let value = rhs.trim().trim_end_matches(',').trim();
        let Some(value) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else { continue };
        if looks_like_version(value) {
            found.push((n + 1, value.to_owned()));
        }
    }
    found
}

#[test]
fn pyproject_takes_the_version_from_cargo() {
    let text = read("pyproject.toml");
    assert_eq!(
        toml_string(&text, "project", "version"),
        None,
        "pyproject.toml must not set a version: maturin reads Cargo.toml's"
    );
    let dynamic = toml_string(&text, "project", "dynamic").expect("pyproject.toml has [project] dynamic");
    assert!(dynamic.contains("\"version\""), "pyproject.toml's dynamic must list \"version\": {dynamic}");
    assert_eq!(toml_string(&text, "tool.maturin", "bindings").as_deref(), Some("bin"));
}

#[test]
fn changelog_has_an_entry_for_cargo_version() {
    let want = cargo_version();
    let changelog = read("CHANGELOG.md");
    let heading = format!("## [{want}]");
    assert!(
        changelog.lines().any(|l| l.starts_with(&heading)),
        "CHANGELOG.md has no '{heading}' entry for Cargo.toml's version"
    );
}

#[test]
fn readers_work() {
    assert_eq!(toml_string("[a]\nversion = \"1\"\n[b]\nversion = \"2\"\n", "b", "version").as_deref(), Some("2"));
    assert_eq!(
        json_top_level_version("{\n  \"name\": \"x\",\n  \"version\": \"1.2.3\",\n    \"version\": \"9\"\n}")
            .as_deref(),
        Some("1.2.3")
    );
    let lua = "local function has(version)\nM.version = \"0.2.0\" -- the plugin\nlocal VERSION = \"1.0\"\nlocal v = vim.version()\n";
    assert_eq!(lua_version_constants(lua), vec![(2, "0.2.0".to_owned()), (3, "1.0".to_owned())]);
    assert!(
        looks_like_version("0.1.0")
            && looks_like_version("1.0.0-rc1")
            && !looks_like_version("x")
            && !looks_like_version("1..2")
    );
}
