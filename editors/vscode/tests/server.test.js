// Checks src/server.ts in plain Node: the order in which the server binary is
// found (setting, bundled, PATH), and the version mismatch warning.
// Usage: node tests/server.test.js (after npm ci).
const assert = require("assert");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { load, checks } = require("./unit");

const work = fs.mkdtempSync(path.join(os.tmpdir(), "azure-sandbox-vscode-"));
const server = load("server");
const { check, finish } = checks();

function binary(dir, mode = 0o755) {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "azure-sandbox-lsp");
  fs.writeFileSync(file, "#!/bin/sh\necho azure-sandbox-lsp 0.1.0\n");
  fs.chmodSync(file, mode);
  return file;
}

const extension = path.join(work, "extension");
const bundled = binary(path.join(extension, "server"));
const onPath = binary(path.join(work, "bin"));
const configured = binary(path.join(work, "configured"));
const plain = path.join(work, "plain-extension");
fs.mkdirSync(plain);
const searchPath = ["/nonexistent", path.join(work, "bin")].join(path.delimiter);

check("the setting comes first", () => {
  assert.deepStrictEqual(server.resolveServer(configured, extension, searchPath, "linux"), { server: { path: configured, source: "setting" } });
});
check("a setting naming a missing file is an error, not a fall-through", () => {
  const found = server.resolveServer(path.join(work, "missing"), extension, searchPath, "linux");
  assert.ok("problem" in found && found.problem.includes("azureSandbox.server.path"), JSON.stringify(found));
});
check("without the setting, the bundled server", () => {
  assert.deepStrictEqual(server.resolveServer("  ", extension, searchPath, "linux"), { server: { path: bundled, source: "bundled" } });
});
check("a bundled server unpacked without its mode bits is made executable", () => {
  const stripped = path.join(work, "unpacked");
  const file = binary(path.join(stripped, "server"), 0o644);
  assert.deepStrictEqual(server.resolveServer("", stripped, "", "linux"), { server: { path: file, source: "bundled" } });
  assert.ok(fs.statSync(file).mode & 0o100);
});
check("without a bundled server, PATH", () => {
  assert.deepStrictEqual(server.resolveServer("", plain, searchPath, "linux"), { server: { path: onPath, source: "PATH" } });
});
check("with none, the problem says how to install it", () => {
  const found = server.resolveServer("", plain, "/nonexistent", "linux");
  assert.ok("problem" in found, JSON.stringify(found));
  for (const words of ["azure-sandbox-linux-x64.vsix", "pipx install azure-sandbox-lsp", "uv tool install azure-sandbox-lsp", "cargo install"]) {
    assert.ok(found.problem.includes(words), `${words} in: ${found.problem}`);
  }
});
check("--version output parses", () => {
  assert.strictEqual(server.parseVersionOutput("azure-sandbox-lsp 0.1.0\n"), "0.1.0");
  assert.strictEqual(server.parseVersionOutput("azure-sandbox-lsp 1.2.3-rc.1\n"), "1.2.3-rc.1");
  assert.strictEqual(server.parseVersionOutput("no version"), undefined);
});
check("versions compare numerically, a pre-release before its release", () => {
  assert.strictEqual(server.compareVersions("0.1.0", "0.1.0"), 0);
  assert.strictEqual(server.compareVersions("0.9.0", "0.10.0"), -1);
  assert.strictEqual(server.compareVersions("1.0.0", "0.99.99"), 1);
  assert.strictEqual(server.compareVersions("0.2.0-rc.1", "0.2.0"), -1);
  assert.strictEqual(server.compareVersions("0.2.0+build", "0.2.0"), 0);
});
check("matching versions: no warning", () => {
  assert.strictEqual(server.mismatchWarning("0.1.0", "0.1.0", { path: onPath, source: "PATH" }, false), undefined);
});
check("an older server on PATH: upgrade it, or take the platform package", () => {
  const warning = server.mismatchWarning("0.2.0", "0.1.0", { path: onPath, source: "PATH" }, false);
  assert.ok(warning.includes(`the server found on PATH (${onPath}) is version 0.1.0, older than the extension (0.2.0)`), warning);
  assert.ok(warning.includes("pipx upgrade azure-sandbox-lsp") && warning.includes("azure-sandbox-linux-x64.vsix"), warning);
});
check("an older extension than the server on PATH: update the extension", () => {
  const warning = server.mismatchWarning("0.1.0", "0.2.0", { path: onPath, source: "PATH" }, false);
  assert.ok(warning.includes("the extension (0.1.0) is older than the server found on PATH"), warning);
  assert.ok(warning.includes("Update the extension to 0.2.0"), warning);
});
check("an older server in the setting, with a bundled one: remove the setting", () => {
  const warning = server.mismatchWarning("0.2.0", "0.1.0", { path: configured, source: "setting" }, true);
  assert.ok(warning.includes("the server from the setting azureSandbox.server.path"), warning);
  assert.ok(warning.includes("older than the extension") && warning.includes("Remove the setting azureSandbox.server.path"), warning);
});
check("an older server in the setting, without a bundled one: update that binary", () => {
  const warning = server.mismatchWarning("0.2.0", "0.1.0", { path: configured, source: "setting" }, false);
  assert.ok(warning.includes("Update that binary to 0.2.0"), warning);
});
check("a bundled server of another version: reinstall", () => {
  const warning = server.mismatchWarning("0.2.0", "0.1.0", { path: bundled, source: "bundled" }, true);
  assert.ok(warning.includes("bundled with the extension") && warning.includes("reinstall the extension"), warning);
});

fs.rmSync(work, { recursive: true, force: true });
finish("vscode server resolution");
