// VS Code's own commands for the workspace mirror (issue #14): Send to
// Sandbox (the palette, the Explorer's context menu on one or several files
// and folders), List Sandbox Files and Fetch Files from Sandbox…. The server
// does the work (`azureSandbox.sendFiles`, `azureSandbox.fetchFiles`, the
// request `azureSandbox/files`) and says what it did in a message; this
// shows the choices, the progress, and the fetched files, with a way to
// compare when a local file was kept beside the sandbox's copy. What goes in
// the QuickPicks and messages is in src/files.ts.

import * as fs from "fs";
import * as path from "path";
import * as vscode from "vscode";
import { LanguageClient, State } from "vscode-languageclient/node";
import {
  FetchItem,
  LastRunFiles,
  Listing,
  LocalSizes,
  Selected,
  Transferred,
  conflictMessage,
  describePaths,
  emptyListing,
  errorMessage,
  fetchItems,
  fetchOutcome,
  fetchRequests,
  fileItems,
  listTitle,
  moreItem,
  sendGroups,
  sendPickerItems,
} from "./files";
import { RunFinished } from "./runs";

/** The workspace a list or fetch is for: the URI that names it to the
 *  server, its directory, and its name. */
interface Target {
  uri: string;
  workspace: string;
  name: string;
}

type Waiter = { resolve: (finished: RunFinished) => void; reject: (error: Error) => void };

export class FilesCommands {
  /** Files jobs this client queued, waiting for their runFinished. */
  private readonly waiting = new Map<number, Waiter>();
  /** runFinished that came before the command's answer (bounded). */
  private readonly early = new Map<number, RunFinished>();
  /** What the latest Python run of each workspace wrote in the mirror. */
  private readonly lastRun = new Map<string, LastRunFiles>();

  constructor(
    context: vscode.ExtensionContext,
    private readonly client: () => LanguageClient | undefined,
    private readonly jobStarted: (id: number) => void,
  ) {
    const register = (id: string, run: (...args: unknown[]) => unknown) =>
      context.subscriptions.push(vscode.commands.registerCommand(id, run));
    register("azureSandbox.sendToSandbox", (resource, selection) => this.send(resource, selection));
    register("azureSandbox.listSandboxFiles", () => this.list());
    register("azureSandbox.fetchFromSandbox", () => this.fetch());
  }

  /** Every runFinished: ends a files job waited on; keeps what a run wrote. */
  onRunFinished(finished: RunFinished): void {
    if (finished.kind === "python" && finished.uri && finished.status !== "failed" && finished.status !== "cancelled") {
      const files = finished.files ?? [];
      this.lastRun.set(this.workspaceOfDocument(finished.uri), {
        paths: files.map((f) => f.path),
        more: finished.filesMore ?? 0,
      });
    }
    const waiter = this.waiting.get(finished.runId);
    if (waiter) {
      this.waiting.delete(finished.runId);
      waiter.resolve(finished);
    } else if (finished.kind === "files") {
      this.early.set(finished.runId, finished);
      if (this.early.size > 50) {
        this.early.delete(this.early.keys().next().value as number);
      }
    }
  }

  /** The server stopped: its jobs will not finish, and a new one starts over. */
  onStopped(): void {
    for (const waiter of this.waiting.values()) {
      waiter.reject(new Error("the language server stopped"));
    }
    this.waiting.clear();
    this.early.clear();
    this.lastRun.clear();
  }

  /** The running client, or undefined after saying why there is none. */
  private running(): LanguageClient | undefined {
    if (!vscode.workspace.isTrusted) {
      // As for runs: the server starts only in a trusted workspace.
      void vscode.window
        .showWarningMessage(
          "Azure Sandbox: this workspace is not trusted. Sending and fetching files goes through the language " +
            "server, which starts once you trust the workspace.",
          "Manage Workspace Trust",
        )
        .then((choice) => choice && vscode.commands.executeCommand("workbench.trust.manage"));
      return undefined;
    }
    const current = this.client();
    if (!current || current.state !== State.Running) {
      void vscode.window.showWarningMessage("Azure Sandbox: the language server is not running.");
      return undefined;
    }
    return current;
  }

  private workspaceOfDocument(uri: string): string {
    const parsed = vscode.Uri.parse(uri);
    const folder = vscode.workspace.getWorkspaceFolder(parsed);
    return folder ? folder.uri.fsPath : path.dirname(parsed.fsPath);
  }

  /** Queues a files command and waits for its job's runFinished. */
  private async job(client: LanguageClient, command: string, argument: unknown): Promise<RunFinished> {
    const answer = await client.sendRequest<{ jobId?: unknown } | null>("workspace/executeCommand", {
      command,
      arguments: [argument],
    });
    const id = answer?.jobId;
    if (typeof id !== "number") {
      throw new Error(`the server answered ${command} with no job id`);
    }
    this.jobStarted(id);
    const early = this.early.get(id);
    if (early) {
      this.early.delete(id);
      return early;
    }
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  // ---- Send to Sandbox ----

  private async send(resource: unknown, selection: unknown): Promise<void> {
    const client = this.running();
    if (!client) {
      return;
    }
    // From the Explorer: the clicked item and the selection; from an editor
    // title: the file; from the palette: nothing.
    let uris: vscode.Uri[] =
      Array.isArray(selection) && selection.length > 0 && selection.every((u) => u instanceof vscode.Uri)
        ? selection
        : resource instanceof vscode.Uri
          ? [resource]
          : [];
    if (uris.length === 0) {
      const document = vscode.window.activeTextEditor?.document;
      if (document && document.uri.scheme === "file") {
        uris = [document.uri];
      } else if (document?.isUntitled) {
        void vscode.window.showInformationMessage("Azure Sandbox: save the file first; only saved files can be sent.");
        return;
      } else {
        uris = await this.pickToSend();
      }
    }
    if (uris.length === 0) {
      return;
    }
    const notFiles = uris.filter((u) => u.scheme !== "file");
    if (notFiles.length > 0) {
      void vscode.window.showErrorMessage(
        `Azure Sandbox: only files on this machine can be sent to the sandbox, not ${notFiles[0].toString()}.`,
      );
      return;
    }
    if (!(await this.saveFirst(uris))) {
      return;
    }
    const selected: Selected[] = [];
    for (const uri of uris) {
      let isFolder: boolean;
      try {
        isFolder = (await fs.promises.stat(uri.fsPath)).isDirectory();
      } catch {
        void vscode.window.showErrorMessage(`Azure Sandbox: ${uri.fsPath} does not exist, so it cannot be sent.`);
        return;
      }
      const folder = vscode.workspace.getWorkspaceFolder(uri);
      selected.push({
        path: uri.fsPath,
        workspace: folder ? folder.uri.fsPath : path.dirname(uri.fsPath),
        inFolder: !!folder,
        isFolder,
      });
    }
    for (const group of sendGroups(selected)) {
      const folders = new Set(
        selected.filter((s) => s.isFolder).map((s) => path.relative(group.workspace, s.path).split(path.sep).join("/")),
      );
      const what = describePaths(group.paths, folders);
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Azure Sandbox: sending ${what} to the sandbox…` },
        async () => {
          try {
            // The server says what it sent, or why not, in a message of its own.
            await this.job(client, "azureSandbox.sendFiles", { uri: vscode.Uri.file(group.anchor).toString(), paths: group.paths });
          } catch (error) {
            void vscode.window.showErrorMessage(errorMessage(`could not send ${what}`, error));
          }
        },
      );
    }
  }

  /** The sandbox gets files as they are on disk: offer to save open ones. */
  private async saveFirst(uris: vscode.Uri[]): Promise<boolean> {
    const inside = (document: vscode.TextDocument) =>
      uris.some((u) => document.uri.fsPath === u.fsPath || document.uri.fsPath.startsWith(u.fsPath + path.sep));
    const dirty = vscode.workspace.textDocuments.filter((d) => d.isDirty && d.uri.scheme === "file" && inside(d));
    if (dirty.length === 0) {
      return true;
    }
    const names = dirty.map((d) => path.basename(d.uri.fsPath)).join(", ");
    const choice = await vscode.window.showWarningMessage(
      `Azure Sandbox: ${names} ${dirty.length === 1 ? "has" : "have"} unsaved changes; the sandbox gets files as ` +
        "they are saved on disk.",
      "Save and Send",
      "Send as Saved",
    );
    if (choice === "Save and Send") {
      await Promise.all(dirty.map((d) => d.save()));
    }
    return choice !== undefined;
  }

  /** The palette with no file open: the workspace's files and folders. */
  private async pickToSend(): Promise<vscode.Uri[]> {
    const folder = await this.pickFolder("Send files of which folder?");
    if (!folder) {
      return [];
    }
    const found = await vscode.workspace.findFiles(
      new vscode.RelativePattern(folder, "**/*"),
      "**/{.git,node_modules,__pycache__}/**",
      5000,
    );
    const rel = found.map((uri) => path.relative(folder.uri.fsPath, uri.fsPath).split(path.sep).join("/"));
    const items = sendPickerItems(rel);
    if (items.length === 0) {
      void vscode.window.showInformationMessage(`Azure Sandbox: ${folder.name} has no files to send.`);
      return [];
    }
    const picked = await vscode.window.showQuickPick(items, {
      canPickMany: true,
      title: `Send to Sandbox: ${folder.name}`,
      placeHolder: "Files and folders to send (ignored ones too; files that look like secrets never leave)",
    });
    return (picked ?? []).map((item) => vscode.Uri.joinPath(folder.uri, ...item.path.split("/")));
  }

  // ---- List and fetch ----

  private async pickFolder(title: string): Promise<vscode.WorkspaceFolder | undefined> {
    const folders = vscode.workspace.workspaceFolders ?? [];
    if (folders.length === 0) {
      void vscode.window.showInformationMessage("Azure Sandbox: open a folder or a Python file first.");
      return undefined;
    }
    return folders.length === 1 ? folders[0] : vscode.window.showWorkspaceFolderPick({ placeHolder: title });
  }

  /** The workspace of the active file, else the folder (asked for when there are several). */
  private async target(): Promise<Target | undefined> {
    const document = vscode.window.activeTextEditor?.document;
    if (document && document.uri.scheme === "file") {
      const folder = vscode.workspace.getWorkspaceFolder(document.uri);
      const workspace = folder ? folder.uri.fsPath : path.dirname(document.uri.fsPath);
      return { uri: document.uri.toString(), workspace, name: folder ? folder.name : path.basename(workspace) };
    }
    const folder = await this.pickFolder("The sandbox files of which folder?");
    return folder && { uri: folder.uri.toString(), workspace: folder.uri.fsPath, name: folder.name };
  }

  private async listing(client: LanguageClient, target: Target): Promise<Listing | undefined> {
    try {
      return await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: "Azure Sandbox: listing the sandbox's files" },
        () => client.sendRequest<Listing>("azureSandbox/files", { uri: target.uri }),
      );
    } catch (error) {
      void vscode.window.showErrorMessage(errorMessage("could not list the sandbox's files", error));
      return undefined;
    }
  }

  /** The size of each listed file here, or null where there is none. */
  private async localSizes(workspace: string, listing: Listing): Promise<LocalSizes> {
    const sizes: LocalSizes = new Map();
    await Promise.all(
      listing.files.map(async (file) => {
        try {
          const stat = await fs.promises.stat(path.join(workspace, ...file.path.split("/")));
          sizes.set(file.path, stat.isFile() ? stat.size : null);
        } catch {
          sizes.set(file.path, null);
        }
      }),
    );
    return sizes;
  }

  private async list(): Promise<void> {
    const client = this.running();
    const target = client && (await this.target());
    const listing = client && target && (await this.listing(client, target));
    if (!client || !target || !listing) {
      return;
    }
    if (listing.files.length === 0 && listing.more === 0) {
      void vscode.window.showInformationMessage(emptyListing(target.name));
      return;
    }
    const items: (vscode.QuickPickItem & { path?: string })[] = fileItems(
      listing,
      await this.localSizes(target.workspace, listing),
      this.lastRun.get(target.workspace),
    );
    const more = moreItem(listing);
    if (more) {
      items.push({ label: more.label, kind: vscode.QuickPickItemKind.Separator });
    }
    const picked = await vscode.window.showQuickPick(items, {
      title: listTitle(listing, target.name),
      placeHolder: "Choose a file to fetch it into the workspace",
      matchOnDescription: true,
      matchOnDetail: true,
    });
    if (picked?.path) {
      await this.fetchPaths(client, target, [[picked.path]]);
    }
  }

  private async fetch(): Promise<void> {
    const client = this.running();
    const target = client && (await this.target());
    const listing = client && target && (await this.listing(client, target));
    if (!client || !target || !listing) {
      return;
    }
    const lastRun = this.lastRun.get(target.workspace);
    const items = fetchItems(listing, await this.localSizes(target.workspace, listing), lastRun);
    if (!items.some((i) => i.type !== "note")) {
      void vscode.window.showInformationMessage(emptyListing(target.name));
      return;
    }
    const shown = items.map((item) =>
      item.type === "note" ? { label: item.label, kind: vscode.QuickPickItemKind.Separator, item } : { ...item, item },
    );
    const picked = await vscode.window.showQuickPick(shown, {
      canPickMany: true,
      title: `Fetch Files from Sandbox: ${target.name}`,
      placeHolder: "Files to fetch into the workspace (a different local file is kept, and the sandbox's saved beside it)",
      matchOnDescription: true,
      matchOnDetail: true,
    });
    const requests = fetchRequests((picked ?? []).map((p) => p.item as FetchItem), lastRun);
    if (requests.length > 0) {
      await this.fetchPaths(client, target, requests);
    }
  }

  /** Fetches (one job per request), then shows what came: the file, or
   *  where it is, and a way to compare when a local file was kept. */
  private async fetchPaths(client: LanguageClient, target: Target, requests: (string[] | undefined)[]): Promise<void> {
    const transferred: Transferred[] = [];
    const count = requests.reduce((n, r) => n + (r?.length ?? 0), 0);
    const what = requests.some((r) => r === undefined)
      ? "the files the last run wrote"
      : count === 1
        ? requests[0]?.[0] ?? "1 file"
        : `${count} files`;
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Azure Sandbox: fetching ${what} from the sandbox…` },
      async () => {
        for (const paths of requests) {
          try {
            // The server says where each file went, or why not, in a message of its own.
            const finished = await this.job(client, "azureSandbox.fetchFiles", paths ? { uri: target.uri, paths } : { uri: target.uri });
            if (finished.status === "succeeded") {
              transferred.push(...(finished.transferred ?? []));
            }
          } catch (error) {
            void vscode.window.showErrorMessage(errorMessage(`could not fetch ${what}`, error));
            return;
          }
        }
      },
    );
    const outcome = fetchOutcome(target.workspace, transferred);
    if (outcome.saved.length === 0) {
      return;
    }
    const first = vscode.Uri.file(outcome.saved[0]);
    if (outcome.saved.length === 1) {
      await vscode.commands.executeCommand("vscode.open", first, { preview: false });
    }
    await vscode.commands.executeCommand("revealInExplorer", first);
    const conflicts = conflictMessage(outcome.conflicts);
    if (conflicts) {
      const compare = outcome.conflicts[0];
      const actions = outcome.conflicts.length === 1 ? ["Compare", "Open"] : [];
      void vscode.window.showWarningMessage(conflicts, ...actions).then((choice) => {
        if (choice === "Compare") {
          void vscode.commands.executeCommand(
            "vscode.diff",
            vscode.Uri.file(compare.local),
            vscode.Uri.file(compare.sandbox),
            `${compare.path} (here) ↔ ${path.basename(compare.sandbox)} (the sandbox's)`,
          );
        } else if (choice === "Open") {
          void vscode.commands.executeCommand("vscode.open", vscode.Uri.file(compare.sandbox));
        }
      });
    }
  }
}
