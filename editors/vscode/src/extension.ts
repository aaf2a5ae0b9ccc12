// The VS Code client for azure-sandbox-lsp. The server does the work: this
// extension starts it (one client per window, for every folder), hands it
// settings and the API key from VS Code's secret storage, shows the output
// document, and keeps a status bar item in step with the runs.

import * as childProcess from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as vscode from "vscode";
// Commands in the server's executeCommandProvider (azureSandbox.run, ...) are
// registered by vscode-languageclient and forwarded as workspace/executeCommand;
// this extension's own commands use other ids.
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
} from "vscode-languageclient/node";
import {
  Server,
  bundledPath,
  describeSource,
  mismatchWarning,
  parseVersionOutput,
  resolveServer,
} from "./server";
import { RunsPanel } from "./panel";
import { Figure, RunFinished } from "./runs";
import { VariablesChanged, VariablesResult } from "./variables";
import { VariablesView } from "./variablesView";
import { FilesCommands } from "./filesCommands";
import { agentServersChanged, registerAgentServers } from "./agents";

const OUTPUT_SCHEME = "azure-sandbox-output";
const SECRET_KEY = "azureSandbox.apiKey";

let client: LanguageClient | undefined;
let status: vscode.StatusBarItem;
let running = 0;
let lastNotice = "";
let panel: RunsPanel | undefined;
let variablesView: VariablesView | undefined;
let filesCommands: FilesCommands | undefined;
const outputChanged = new vscode.EventEmitter<vscode.Uri>();

/** The key of the language server's embedded local sandbox, chosen here (a
 *  fresh one per window) so that the agents' MCP server can be handed that
 *  sandbox through its process environment, never through a message. */
const localSandboxKey = crypto.randomBytes(32).toString("hex");
/** Language servers started in this window: part of the agents' server
 *  version, so a new embedded sandbox restarts them. */
let serverGeneration = 0;

/** The server that runs (or last ran), with its version once known. */
let serverInUse: (Server & { version?: string }) | undefined;

/** The server binary: the setting, else the bundled one, else PATH. */
function findServer(context: vscode.ExtensionContext): { server: Server } | { problem: string } {
  const setting = vscode.workspace.getConfiguration("azureSandbox").get<string>("server.path", "");
  return resolveServer(setting, context.extensionPath);
}

function extensionVersion(context: vscode.ExtensionContext): string {
  return String((context.extension.packageJSON as { version?: unknown }).version ?? "");
}

/** `azure-sandbox-lsp --version`, for when no initialize result says it. */
function versionOf(server: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    childProcess.execFile(server, ["--version"], { timeout: 10000 }, (error, stdout) => {
      resolve(error ? undefined : parseVersionOutput(stdout));
    });
  });
}

/** Warns once per server and version when they differ from the extension's. */
const warnedMismatch = new Set<string>();
function checkVersion(context: vscode.ExtensionContext, server: Server, version: string): void {
  const bundled = fs.existsSync(bundledPath(context.extensionPath));
  const warning = mismatchWarning(extensionVersion(context), version, server, bundled);
  const key = `${server.path}@${version}`;
  if (!warning || warnedMismatch.has(key)) {
    return;
  }
  warnedMismatch.add(key);
  const actions = server.source === "setting" ? ["Open Settings"] : [];
  void vscode.window.showWarningMessage(warning, ...actions).then((choice) => {
    if (choice === "Open Settings") {
      void vscode.commands.executeCommand("workbench.action.openSettings", "azureSandbox.server.path");
    }
  });
}

/** The server's source, path and version, for the tooltip and Run Doctor. */
function serverDescription(server: Server & { version?: string }): string {
  return `Server: ${describeSource(server.source)}, version ${server.version ?? "unknown"}\n${server.path}`;
}

/** The `azureSandbox` settings the server reads (never the key). */
function serverSettings(): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration("azureSandbox");
  const settings: Record<string, unknown> = {
    backend: config.get("backend", "auto"),
    runTimeout: config.get("runTimeout", 230),
    hoverOutputLimit: config.get("hoverOutputLimit", 3000),
    transcriptLimit: config.get("transcriptLimit", 2097152),
    allowInsecureHttp: config.get("allowInsecureHttp", false),
  };
  const endpoint = config.get<string>("endpoint", "").trim();
  if (endpoint) {
    settings.endpoint = endpoint;
  }
  const marker = config.get<string>("cellMarker", "").trim();
  if (marker) {
    settings.cellMarker = marker;
  }
  // Figures and rich display (issue #13).
  settings.figureDpi = config.get("figureDpi", 100);
  settings.figureSize = config.get("figureSize", [6.4, 4.8]);
  settings.figureFormat = config.get("figureFormat", "png");
  settings.displayLimit = config.get("displayLimit", 10000000);
  const python = config.get<string>("localPython", "").trim();
  if (python) {
    settings.localPython = python;
  }
  // The local sandbox's isolation and network (issue #17): only what the
  // user set, so the environment's AZURE_SANDBOX_LOCAL_* apply otherwise.
  const isolation = config.inspect<string>("localIsolation")?.globalValue;
  if (isolation) {
    settings.localIsolation = isolation;
  }
  const network = config.inspect<boolean>("localNetwork")?.globalValue;
  if (typeof network === "boolean") {
    settings.localNetwork = network;
  }
  // Live state (issue #15): completion from the environment's namespace.
  settings.liveCompletion = config.get("liveCompletion", false);
  // The workspace mirror (issue #14).
  settings.mirror = config.get("mirror", true);
  settings.mirrorInclude = config.get("mirrorInclude", []);
  settings.mirrorExclude = config.get("mirrorExclude", []);
  // The server takes whole bytes.
  const budget = Number(config.get("mirrorBudget", 50000000));
  settings.mirrorBudget = Number.isFinite(budget) ? Math.max(0, Math.floor(budget)) : 50000000;
  return settings;
}

function isLocal(): boolean {
  const config = vscode.workspace.getConfiguration("azureSandbox");
  const backend = config.get<string>("backend", "auto");
  const endpoint = config.get<string>("endpoint", "").trim() || process.env.AZURE_SANDBOX_MCP_ENDPOINT || "";
  const pool = config.get<string>("pool", "").trim() || process.env.AZURE_SANDBOX_POOL || "";
  return backend === "local" || (backend === "auto" && endpoint === "" && pool === "");
}

function updateStatus(): void {
  const where = isLocal() ? "local" : "Azure";
  if (!client || client.state !== State.Running) {
    status.text = `$(circle-slash) ${where} sandbox: stopped`;
  } else if (running > 0) {
    status.text = `$(sync~spin) ${where} sandbox: running${running > 1 ? ` (${running})` : ""}`;
  } else if (lastNotice) {
    status.text = `$(warning) ${where} sandbox: ${lastNotice}`;
  } else {
    status.text = `$(cloud) ${where} sandbox: idle`;
  }
  status.tooltip =
    "Azure Sandbox: show the output document" + (serverInUse ? `\n${serverDescription(serverInUse)}` : "");
  status.show();
}

async function startClient(context: vscode.ExtensionContext): Promise<void> {
  const found = findServer(context);
  if ("problem" in found) {
    serverInUse = undefined;
    const choice = await vscode.window.showErrorMessage(`Azure Sandbox: ${found.problem}`, "Open Settings");
    if (choice === "Open Settings") {
      await vscode.commands.executeCommand("workbench.action.openSettings", "azureSandbox.server.path");
    }
    return;
  }
  const server = found.server.path;
  const started: Server & { version?: string } = { ...found.server };
  serverInUse = started;
  const env = await serverEnvironment(context);
  const serverOptions: ServerOptions = { command: server, args: ["lsp"], options: { env } };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "python" },
      { scheme: "untitled", language: "python" },
    ],
    initializationOptions: { azureSandbox: serverSettings() },
    outputChannelName: "Azure Sandbox",
    synchronize: { configurationSection: "azureSandbox" },
    middleware: {
      executeCommand: async (command, args, next) => {
        if (command === "azureSandbox.showOutput") {
          // From a lens or code action: open the live output document here
          // rather than the server's file copy.
          await showOutput();
          return null;
        }
        // Every job a command queues ends with azureSandbox/runFinished,
        // however it ends (cancelled, not run, failed): count by job id.
        const result = await next(command, args);
        const id = (result as { runId?: unknown; jobId?: unknown } | null)?.runId ??
          (result as { jobId?: unknown } | null)?.jobId;
        if (typeof id === "number") {
          jobStarted(id);
        }
        return result;
      },
    },
  };
  client = new LanguageClient("azureSandbox", "Azure Sandbox", serverOptions, clientOptions);
  client.onDidChangeState((change) => {
    updateStatus();
    if (change.newState === State.Stopped) {
      variablesView?.refresh();
      filesCommands?.onStopped();
    }
  });
  await client.start();
  serverGeneration += 1;
  agentServersChanged();
  client.onNotification("azureSandbox/outputChanged", (params: { uri: string }) => {
    outputChanged.fire(vscode.Uri.parse(params.uri));
  });
  client.onNotification("azureSandbox/runFinished", (params: RunFinished) => {
    jobFinished(params.runId);
    lastNotice = noticeOf(params);
    updateStatus();
    if (params.kind === "python") {
      void panel?.append(params);
    }
    filesCommands?.onRunFinished(params);
  });
  client.onNotification("azureSandbox/variablesChanged", (params: VariablesChanged) => {
    variablesView?.onChanged(params);
  });
  // A new server: its snapshots start empty.
  variablesView?.refresh();
  // The version the server reports in its initialize result (else --version),
  // for the tooltip, Run Doctor and the mismatch warning.
  started.version = client.initializeResult?.serverInfo?.version ?? (await versionOf(server));
  if (started.version) {
    checkVersion(context, started, started.version);
  }
  updateStatus();
}

/** The server's environment: the endpoint or pool from user settings and the
 *  key from secret storage. The server sends AZURE_SANDBOX_API_KEY only to
 *  AZURE_SANDBOX_MCP_ENDPOINT, and environments are not logged. */
async function serverEnvironment(context: vscode.ExtensionContext): Promise<Record<string, string>> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  const config = vscode.workspace.getConfiguration("azureSandbox");
  const endpoint = config.get<string>("endpoint", "").trim();
  const pool = config.get<string>("pool", "").trim();
  const key = await context.secrets.get(SECRET_KEY);
  if (endpoint) {
    env.AZURE_SANDBOX_MCP_ENDPOINT = endpoint;
  }
  if (pool) {
    env.AZURE_SANDBOX_POOL = pool;
  }
  if (key) {
    env.AZURE_SANDBOX_API_KEY = key;
  }
  env.AZURE_SANDBOX_LOCAL_API_KEY = localSandboxKey;
  return env;
}

let doctorOutput: vscode.OutputChannel | undefined;

/** Runs `azure-sandbox-lsp doctor` with this window's configuration. */
async function runDoctor(context: vscode.ExtensionContext): Promise<void> {
  const found = findServer(context);
  if ("problem" in found) {
    void vscode.window.showErrorMessage(`Azure Sandbox: ${found.problem}`);
    return;
  }
  const server = found.server.path;
  doctorOutput ??= vscode.window.createOutputChannel("Azure Sandbox Doctor");
  doctorOutput.clear();
  doctorOutput.show(true);
  // Which binary this is, and its version: the running server's answer to
  // initialize when it is the same binary, else --version.
  const version =
    serverInUse && serverInUse.path === server && serverInUse.version ? serverInUse.version : await versionOf(server);
  doctorOutput.appendLine(serverDescription({ ...found.server, version }));
  const bundled = fs.existsSync(bundledPath(context.extensionPath));
  const warning = version && mismatchWarning(extensionVersion(context), version, found.server, bundled);
  doctorOutput.appendLine(`Extension: version ${extensionVersion(context)}`);
  if (warning) {
    doctorOutput.appendLine(`[WARN] ${warning.replace(/^Azure Sandbox: /, "")}`);
  }
  doctorOutput.appendLine("");
  const args = ["doctor"];
  if (vscode.workspace.getConfiguration("azureSandbox").get<string>("backend", "auto") === "local") {
    args.push("--local");
  }
  // The local sandbox's interpreter, whose figure libraries doctor checks.
  const python = vscode.workspace.getConfiguration("azureSandbox").get<string>("localPython", "").trim();
  if (python) {
    args.push("--python", python);
  }
  const env = await serverEnvironment(context);
  // doctor reads the local sandbox's isolation and network from the environment.
  const local = vscode.workspace.getConfiguration("azureSandbox");
  const isolation = local.inspect<string>("localIsolation")?.globalValue;
  if (isolation) {
    env.AZURE_SANDBOX_LOCAL_ISOLATION = isolation;
  }
  const network = local.inspect<boolean>("localNetwork")?.globalValue;
  if (typeof network === "boolean") {
    env.AZURE_SANDBOX_LOCAL_NETWORK = network ? "on" : "off";
  }
  const code = await new Promise<number>((resolve) => {
    const child = childProcess.spawn(server, args, { env });
    child.stdout.on("data", (data: Buffer) => doctorOutput?.append(data.toString()));
    child.stderr.on("data", (data: Buffer) => doctorOutput?.append(data.toString()));
    child.on("error", (error) => {
      doctorOutput?.appendLine(String(error));
      resolve(1);
    });
    child.on("close", (status) => resolve(status ?? 1));
  });
  const message = code === 0 ? "Azure Sandbox: all checks passed." : "Azure Sandbox: some checks failed; see the output.";
  void (code === 0 ? vscode.window.showInformationMessage(message) : vscode.window.showWarningMessage(message));
}

/** Jobs queued by this client that have not finished. A job can finish
 *  before its command's answer arrives, so those ids are remembered too
 *  (bounded: jobs the server queued itself, such as a re-run, have no answer). */
const pendingJobs = new Set<number>();
const finishedEarly = new Set<number>();

function jobStarted(id: number): void {
  if (!finishedEarly.delete(id)) {
    pendingJobs.add(id);
  }
  running = pendingJobs.size;
  updateStatus();
}

function jobFinished(id: number): void {
  if (!pendingJobs.delete(id)) {
    finishedEarly.add(id);
    if (finishedEarly.size > 100) {
      finishedEarly.delete(finishedEarly.values().next().value as number);
    }
  }
  running = pendingJobs.size;
}

/** What the status bar says about the last job, from its typed notices and error. */
function noticeOf(finished: RunFinished): string {
  const lost = finished.notices.find((n) => n.kind === "stateLost");
  if (lost) {
    return lost.reason === "expired" ? "expired, relaunched" : "state lost";
  }
  const problems: Record<string, string> = {
    noKey: "no API key",
    keyRefused: "key refused",
    unreachable: "endpoint unreachable",
    poolFull: "pool full",
    noLocalPython: "no local Python",
    notConfigured: "not configured",
    poolSetup: "pool not readable",
  };
  return (finished.error && problems[finished.error.kind]) || "";
}

async function restartClient(context: vscode.ExtensionContext): Promise<void> {
  if (client) {
    const old = client;
    client = undefined;
    running = 0;
    pendingJobs.clear();
    finishedEarly.clear();
    await old.stop().catch(() => undefined);
  }
  await startClient(context);
}

/** Runs one of the server's commands for the active editor. */
async function serverCommand(command: string, ...args: unknown[]): Promise<void> {
  if (!client || client.state !== State.Running) {
    void vscode.window.showWarningMessage("Azure Sandbox: the language server is not running.");
    return;
  }
  try {
    await vscode.commands.executeCommand(command, ...args);
  } catch (error) {
    void vscode.window.showErrorMessage(`Azure Sandbox: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function activeEditor(): vscode.TextEditor | undefined {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.languageId !== "python") {
    void vscode.window.showInformationMessage("Azure Sandbox: open a Python file first.");
    return undefined;
  }
  return editor;
}

function position(pos: vscode.Position) {
  return { line: pos.line, character: pos.character };
}

/** The server's latest figure for the active document's workspace (azureSandbox.latestFigure). */
async function latestFigure(): Promise<Figure | undefined> {
  if (!client || client.state !== State.Running) {
    return undefined;
  }
  const editor = vscode.window.activeTextEditor;
  const args = editor && editor.document.languageId === "python" ? [{ uri: editor.document.uri.toString() }] : [];
  const result = await client.sendRequest<Figure | null>("workspace/executeCommand", {
    command: "azureSandbox.latestFigure",
    arguments: args,
  });
  return result ?? undefined;
}

async function showOutput(): Promise<void> {
  if (!client) {
    return;
  }
  const editor = vscode.window.activeTextEditor;
  const from = editor ? editor.document.uri.toString() : vscode.workspace.workspaceFolders?.[0]?.uri.toString();
  if (!from) {
    return;
  }
  const result: { uri: string } = await client.sendRequest("azureSandbox/output", { uri: from });
  const document = await vscode.workspace.openTextDocument(vscode.Uri.parse(result.uri));
  await vscode.window.showTextDocument(document, { viewColumn: vscode.ViewColumn.Beside, preview: false, preserveFocus: true });
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);
  status.command = "azureSandbox.showOutputBeside";
  context.subscriptions.push(status, outputChanged);
  panel = new RunsPanel(context, latestFigure, (message) => client?.outputChannel.appendLine(message));
  variablesView = new VariablesView(context, () => {
    const current = client;
    if (!current || current.state !== State.Running) {
      return undefined;
    }
    return (params) => current.sendRequest<VariablesResult>("azureSandbox/variables", params);
  });
  // Send to Sandbox, List Sandbox Files, Fetch Files from Sandbox…
  filesCommands = new FilesCommands(context, () => client, jobStarted);
  // Copilot's agent mode (and any VS Code agent) gets `azure-sandbox-lsp mcp`
  // for each folder, in the folder's environment (VS Code 1.101+).
  registerAgentServers(context, {
    inputs: () => {
      const found = findServer(context);
      if ("problem" in found) {
        return undefined;
      }
      const config = vscode.workspace.getConfiguration("azureSandbox");
      return {
        serverPath: found.server.path,
        folders: (vscode.workspace.workspaceFolders ?? [])
          .filter((folder) => folder.uri.scheme === "file")
          .map((folder) => ({ name: folder.name, path: folder.uri.fsPath })),
        endpoint: config.get<string>("endpoint", "").trim(),
        pool: config.get<string>("pool", "").trim(),
        backend: config.get<string>("backend", "auto"),
        localPython: config.get<string>("localPython", "").trim(),
        allowInsecureHttp: config.get<boolean>("allowInsecureHttp", false),
        version: `${extensionVersion(context)}+${serverGeneration}`,
      };
    },
    apiKey: async () => context.secrets.get(SECRET_KEY),
    localEndpoint: async () => {
      const current = client;
      if (!current || current.state !== State.Running) {
        return null;
      }
      const answer: { endpoint: string | null } = await current.sendRequest("azureSandbox/localSandbox", {});
      return answer.endpoint;
    },
    localKey: localSandboxKey,
  });
  // The Sandbox variables view shows once the extension runs (a Python file was opened).
  void vscode.commands.executeCommand("setContext", "azureSandbox.active", true);

  context.subscriptions.push(
    vscode.workspace.registerTextDocumentContentProvider(OUTPUT_SCHEME, {
      onDidChange: outputChanged.event,
      provideTextDocumentContent: async (uri) => {
        if (!client) {
          return "The Azure Sandbox language server is not running.";
        }
        const result: { text: string } = await client.sendRequest("azureSandbox/output", { uri: uri.toString() });
        return result.text;
      },
    }),
  );

  const register = (id: string, run: () => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, run));
  register("azureSandbox.runCellAtCursor", () => {
    const editor = activeEditor();
    if (editor) {
      return serverCommand("azureSandbox.runCell", {
        uri: editor.document.uri.toString(),
        position: position(editor.selection.active),
      });
    }
  });
  register("azureSandbox.runSelectionOrLine", () => {
    const editor = activeEditor();
    if (!editor) {
      return;
    }
    const selection = editor.selection;
    const range = selection.isEmpty
      ? new vscode.Range(selection.active.line, 0, selection.active.line + 1, 0)
      : new vscode.Range(selection.start, selection.end);
    return serverCommand("azureSandbox.run", {
      uri: editor.document.uri.toString(),
      range: { start: position(range.start), end: position(range.end) },
    });
  });
  register("azureSandbox.runCurrentFile", () => {
    const editor = activeEditor();
    if (editor) {
      return serverCommand("azureSandbox.runFile", { uri: editor.document.uri.toString() });
    }
  });
  register("azureSandbox.restartEnvironment", () => {
    const editor = activeEditor();
    if (editor) {
      return serverCommand("azureSandbox.restart", { uri: editor.document.uri.toString() });
    }
  });
  register("azureSandbox.cancelRuns", async () => {
    // The cancelled jobs end with azureSandbox/runFinished, which counts them down.
    await serverCommand("azureSandbox.cancel");
  });
  register("azureSandbox.showOutputBeside", () => showOutput());
  register("azureSandbox.runDoctor", () => runDoctor(context));
  register("azureSandbox.setApiKey", async () => {
    const key = await vscode.window.showInputBox({
      title: "Azure Sandbox API key",
      prompt: "The key from fetchMCPServerCredentials. It is kept in VS Code's secret storage, not in settings.",
      password: true,
      ignoreFocusOut: true,
    });
    if (key === undefined) {
      return;
    }
    if (key.trim() === "") {
      await context.secrets.delete(SECRET_KEY);
    } else {
      await context.secrets.store(SECRET_KEY, key.trim());
    }
    await restartClient(context);
    void vscode.window.showInformationMessage("Azure Sandbox: API key saved; the language server was restarted.");
  });
  register("azureSandbox.clearApiKey", async () => {
    await context.secrets.delete(SECRET_KEY);
    await restartClient(context);
    void vscode.window.showInformationMessage("Azure Sandbox: API key removed.");
  });

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      // The endpoint and server path are handed over at start: restart for them.
      if (
        event.affectsConfiguration("azureSandbox.server.path") ||
        event.affectsConfiguration("azureSandbox.endpoint") ||
        event.affectsConfiguration("azureSandbox.pool")
      ) {
        await restartClient(context);
      } else if (event.affectsConfiguration("azureSandbox")) {
        updateStatus();
      }
    }),
  );

  if (vscode.workspace.isTrusted) {
    await startClient(context);
  } else {
    // Running code from an untrusted folder is what trust is for.
    updateStatus();
    context.subscriptions.push(vscode.workspace.onDidGrantWorkspaceTrust(() => startClient(context)));
  }
}

export async function deactivate(): Promise<void> {
  if (client) {
    await client.stop().catch(() => undefined);
  }
}
