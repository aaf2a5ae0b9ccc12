// Which server binary runs, and whether its version matches the extension's.
// No `vscode` import here: tests/server.test.js checks this file in plain Node.

import * as fs from "fs";
import * as path from "path";

const INSTALL =
  "pipx install azure-sandbox-lsp, uv tool install azure-sandbox-lsp, or cargo install --locked --path <repository>";

/** Where the binary came from, in the order they are tried. */
export type ServerSource = "setting" | "bundled" | "PATH";

export interface Server {
  path: string;
  source: ServerSource;
}

/** The binary's file name on this platform. */
export function binaryName(platform: string = process.platform): string {
  return platform === "win32" ? "azure-sandbox-lsp.exe" : "azure-sandbox-lsp";
}

/** Where a platform-specific package carries its server. */
export function bundledPath(extensionDir: string, platform: string = process.platform): string {
  return path.join(extensionDir, "server", binaryName(platform));
}

function executable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * The server to run: `azureSandbox.server.path` if set, else the binary
 * bundled in the extension, else azure-sandbox-lsp on PATH. A setting that
 * names a missing file is an error, not a reason to fall through.
 */
export function resolveServer(
  setting: string,
  extensionDir: string,
  searchPath: string = process.env.PATH ?? "",
  platform: string = process.platform,
): { server: Server } | { problem: string } {
  const configured = setting.trim();
  if (configured) {
    return executable(configured)
      ? { server: { path: configured, source: "setting" } }
      : {
          problem:
            `azureSandbox.server.path is set to ${configured}, which is not an executable file. Correct the ` +
            "setting, or clear it to use the server bundled with the extension or azure-sandbox-lsp on PATH.",
        };
  }
  const bundled = bundledPath(extensionDir, platform);
  if (fs.existsSync(bundled)) {
    if (!executable(bundled)) {
      // An unpacker that dropped the mode bits: put them back.
      try {
        fs.chmodSync(bundled, 0o755);
      } catch {
        // reported below if it still cannot run
      }
    }
    if (executable(bundled)) {
      return { server: { path: bundled, source: "bundled" } };
    }
  }
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir) {
      continue;
    }
    const candidate = path.join(dir, binaryName(platform));
    if (executable(candidate)) {
      return { server: { path: candidate, source: "PATH" } };
    }
  }
  return {
    problem:
      "the azure-sandbox-lsp binary was not found: this package of the extension carries no server, and there is " +
      "none on PATH. Install the extension's platform package (azure-sandbox-linux-x64.vsix), which carries its " +
      `server; or put azure-sandbox-lsp on PATH (${INSTALL}); or set azureSandbox.server.path.`,
  };
}

/** How each source is named in the status bar, Run Doctor and warnings. */
export function describeSource(source: ServerSource): string {
  switch (source) {
    case "setting":
      return "from the setting azureSandbox.server.path";
    case "bundled":
      return "bundled with the extension";
    case "PATH":
      return "found on PATH";
  }
}

/** The version in `azure-sandbox-lsp 0.1.0` (the output of --version). */
export function parseVersionOutput(output: string): string | undefined {
  return /(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?)/.exec(output)?.[1];
}

/** Compares major.minor.patch numerically; a pre-release sorts before its release. */
export function compareVersions(a: string, b: string): number {
  const split = (v: string) => {
    const [core, pre] = v.replace(/\+.*$/, "").split("-", 2);
    return { parts: core.split(".").map((n) => Number.parseInt(n, 10) || 0), pre };
  };
  const x = split(a);
  const y = split(b);
  for (let i = 0; i < 3; i++) {
    const d = (x.parts[i] ?? 0) - (y.parts[i] ?? 0);
    if (d !== 0) {
      return d < 0 ? -1 : 1;
    }
  }
  if (x.pre === y.pre) {
    return 0;
  }
  if (x.pre === undefined) {
    return 1;
  }
  if (y.pre === undefined) {
    return -1;
  }
  return x.pre < y.pre ? -1 : 1;
}

const UPGRADE =
  "pipx upgrade azure-sandbox-lsp, uv tool upgrade azure-sandbox-lsp, or cargo install --locked --path <repository>";

/**
 * The warning for a server whose version differs from the extension's, or
 * undefined when they match. It says which side is older and how to fix it.
 */
export function mismatchWarning(
  extensionVersion: string,
  serverVersion: string,
  server: Server,
  bundledAvailable: boolean,
): string | undefined {
  const order = compareVersions(serverVersion, extensionVersion);
  if (order === 0) {
    return undefined;
  }
  const which = `the server ${describeSource(server.source)} (${server.path})`;
  const versions =
    order < 0
      ? `Azure Sandbox: ${which} is version ${serverVersion}, older than the extension (${extensionVersion}).`
      : `Azure Sandbox: the extension (${extensionVersion}) is older than ${which}, version ${serverVersion}.`;
  let fix: string;
  switch (server.source) {
    case "setting":
      fix = bundledAvailable
        ? "Remove the setting azureSandbox.server.path to use the server bundled with the extension, " +
          `or point it at azure-sandbox-lsp ${extensionVersion}.`
        : order < 0
          ? `Update that binary to ${extensionVersion} (${UPGRADE}), or point the setting at a binary of that version.`
          : `Update the extension to ${serverVersion}, or point the setting at azure-sandbox-lsp ${extensionVersion}.`;
      break;
    case "PATH":
      fix =
        order < 0
          ? `Upgrade it (${UPGRADE}), or install the extension's platform package (azure-sandbox-linux-x64.vsix), which carries its own server.`
          : `Update the extension to ${serverVersion}, or install the extension's platform package (azure-sandbox-linux-x64.vsix), which carries its own server.`;
      break;
    case "bundled":
      fix = "The extension's package is inconsistent: reinstall the extension.";
      break;
  }
  return `${versions} ${fix}`;
}
