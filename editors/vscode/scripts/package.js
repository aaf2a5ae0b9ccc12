#!/usr/bin/env node
// Packages the extension (after `npm run check && npm run build`).
//
//   node scripts/package.js            azure-sandbox.vsix: no server inside; the
//                                      extension runs azure-sandbox-lsp from PATH
//                                      or azureSandbox.server.path.
//   node scripts/package.js linux-x64  azure-sandbox-linux-x64.vsix: carries the
//                                      server in server/azure-sandbox-lsp.
//
// The platform package takes the binary from AZURE_SANDBOX_RELEASE_BIN, else
// ../../target/release/azure-sandbox-lsp, and strips a copy of it. The binary
// must be built for the target and report the extension's version.
"use strict";
const { spawnSync } = require("child_process");
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");
const serverDir = path.join(root, "server");
const vsce = path.join(root, "node_modules", ".bin", process.platform === "win32" ? "vsce.cmd" : "vsce");
const version = require(path.join(root, "package.json")).version;
// The ELF machine of each target this script can package (e_machine).
const machines = { "linux-x64": 0x3e, "linux-arm64": 0xb7 };

function fail(message) {
  console.error(`package: ${message}`);
  process.exit(1);
}

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit" });
  if (result.status !== 0) {
    fail(`${path.basename(command)} ${args.join(" ")} failed`);
  }
}

const target = process.argv[2];
// A server left from an earlier platform build must not go into another package.
fs.rmSync(serverDir, { recursive: true, force: true });

if (!target) {
  run(vsce, ["package", "--allow-missing-repository", "--no-dependencies", "-o", "azure-sandbox.vsix"]);
  process.exit(0);
}
if (!(target in machines)) {
  fail(`unknown target ${target}; this script packages ${Object.keys(machines).join(", ")}`);
}

const fromEnv = process.env.AZURE_SANDBOX_RELEASE_BIN;
const fallback = path.resolve(root, "../../target/release/azure-sandbox-lsp");
const binary = fromEnv || fallback;
if (!fs.existsSync(binary)) {
  fail(
    fromEnv
      ? `AZURE_SANDBOX_RELEASE_BIN is ${fromEnv}, which does not exist`
      : `no server binary: AZURE_SANDBOX_RELEASE_BIN is not set and ${fallback} does not exist ` +
          "(run `cargo build --release --locked` in the repository, or set AZURE_SANDBOX_RELEASE_BIN)",
  );
}
const header = Buffer.alloc(20);
const fd = fs.openSync(binary, "r");
fs.readSync(fd, header, 0, 20, 0);
fs.closeSync(fd);
if (header.readUInt32BE(0) !== 0x7f454c46 || header.readUInt16LE(18) !== machines[target]) {
  fail(`${binary} is not a Linux binary for ${target}`);
}
const reported = spawnSync(binary, ["--version"], { encoding: "utf8" });
const serverVersion = /(\d+\.\d+\.\d+\S*)/.exec(reported.stdout || "")?.[1];
if (serverVersion !== version) {
  fail(`${binary} reports version ${serverVersion ?? "(none)"}, but the extension is ${version}`);
}

fs.mkdirSync(serverDir);
const bundled = path.join(serverDir, "azure-sandbox-lsp");
// Stripped, as the wheel's binary is (maturin's strip = true): the release
// profile keeps line tables, which make the package about three times larger.
const stripped = spawnSync("strip", ["-o", bundled, binary], { stdio: "inherit" });
if (stripped.error || stripped.status !== 0) {
  console.error("package: strip is not available or failed; the binary goes in as it is");
  fs.copyFileSync(binary, bundled);
}
fs.chmodSync(bundled, 0o755);
const out = `azure-sandbox-${target}.vsix`;
try {
  run(vsce, ["package", "--allow-missing-repository", "--no-dependencies", "--target", target, "-o", out]);
} finally {
  fs.rmSync(serverDir, { recursive: true, force: true });
}
console.log(`package: ${out} carries ${binary} (azure-sandbox-lsp ${serverVersion})`);
