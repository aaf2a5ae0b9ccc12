// The Sandbox variables view (issue #15): what each workspace's sandbox
// environment holds, from the server's `azureSandbox/variables`, refreshed on
// `azureSandbox/variablesChanged`. One root row per workspace folder when
// there are several, else the names directly, with the state line (why the
// state was lost) as the view's message. Expanding a value asks the server
// for its contents, one level, in one request.

import * as vscode from "vscode";
import {
  NO_SERVER,
  Row,
  VariablesChanged,
  VariablesResult,
  contentRows,
  errorRow,
  rowId,
  sameFolder,
  snapshotRows,
  stateLine,
  stateWords,
} from "./variables";

export const VIEW_ID = "azureSandbox.variables";

/** The workspace a snapshot is asked for: a folder, or (with no folder open)
 *  a Python document, whose directory the server takes as its workspace. */
interface Target {
  uri: string;
  name: string;
}

type Node = { kind: "folder"; target: Target } | { kind: "row"; folder: string; row: Row };

/** Sends `azureSandbox/variables`, or is undefined when the server is not running. */
export type VariablesRequest = (params: { uri: string; path?: string[] }) => Promise<VariablesResult>;

export class VariablesView implements vscode.TreeDataProvider<Node> {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly view: vscode.TreeView<Node>;
  /** Each workspace's snapshot, asked once until it changes. */
  private readonly snapshots = new Map<string, Promise<VariablesResult>>();
  /** The root rows of several folders, the same objects from one refresh to the next. */
  private readonly folderNodes = new Map<string, Node & { kind: "folder" }>();
  /** With no folder open: the Python document last shown. */
  private lastDocument: Target | undefined;

  constructor(
    context: vscode.ExtensionContext,
    private readonly request: () => VariablesRequest | undefined,
  ) {
    this.view = vscode.window.createTreeView(VIEW_ID, { treeDataProvider: this, showCollapseAll: true });
    context.subscriptions.push(this.view, this.changed);
    const register = (id: string, run: (...args: unknown[]) => unknown) =>
      context.subscriptions.push(vscode.commands.registerCommand(id, run));
    register("azureSandbox.refreshVariables", () => this.refresh());
    register("azureSandbox.copyVariableValue", (node?: unknown) => this.copyValue(node));
    context.subscriptions.push(
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.refresh()),
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        if (editor && editor.document.languageId === "python" && !vscode.workspace.workspaceFolders?.length) {
          const uri = editor.document.uri.toString();
          if (uri !== this.lastDocument?.uri) {
            this.lastDocument = { uri, name: vscode.workspace.asRelativePath(editor.document.uri) };
            this.refresh();
          }
        }
      }),
    );
  }

  /** Everything again: after a server (re)start, or from the refresh button. */
  refresh(): void {
    this.snapshots.clear();
    this.changed.fire(undefined);
  }

  /** `azureSandbox/variablesChanged`: that workspace's rows again. */
  onChanged(params: VariablesChanged): void {
    const targets = this.targets();
    const target = targets.find((t) => sameFolder(params.uri, t.uri));
    if (!target || targets.length === 1) {
      this.refresh();
      return;
    }
    this.snapshots.delete(target.uri);
    this.changed.fire(this.folderNode(target));
  }

  private targets(): Target[] {
    const folders = vscode.workspace.workspaceFolders ?? [];
    if (folders.length > 0) {
      return folders.map((f) => ({ uri: f.uri.toString(), name: f.name }));
    }
    const editor = vscode.window.activeTextEditor;
    if (!this.lastDocument && editor && editor.document.languageId === "python") {
      this.lastDocument = { uri: editor.document.uri.toString(), name: vscode.workspace.asRelativePath(editor.document.uri) };
    }
    return this.lastDocument ? [this.lastDocument] : [];
  }

  private folderNode(target: Target): Node & { kind: "folder" } {
    let node = this.folderNodes.get(target.uri);
    if (!node) {
      node = { kind: "folder", target };
      this.folderNodes.set(target.uri, node);
    }
    node.target = target;
    return node;
  }

  private snapshot(target: Target): Promise<VariablesResult> {
    let pending = this.snapshots.get(target.uri);
    if (!pending) {
      const send = this.request();
      pending = send ? send({ uri: target.uri }) : Promise.reject(new Error(NO_SERVER));
      this.snapshots.set(target.uri, pending);
      // A failed request is asked again next time.
      pending.catch(() => this.snapshots.get(target.uri) === pending && this.snapshots.delete(target.uri));
    }
    return pending;
  }

  async getChildren(node?: Node): Promise<Node[]> {
    if (!node) {
      return this.roots();
    }
    if (node.kind === "folder") {
      return this.snapshotNodes(node.target, true);
    }
    if (node.row.kind !== "variable" || !node.row.expandable) {
      return [];
    }
    // One request per expansion: that value's contents, one level down.
    const send = this.request();
    if (!send) {
      return [this.messageNode(node.folder, { kind: "message", label: NO_SERVER, severity: "warning" })];
    }
    const path = node.row.path;
    try {
      const result = await send({ uri: node.folder, path });
      return contentRows(path, result).map((row) => ({ kind: "row", folder: node.folder, row }));
    } catch (error) {
      return [{ kind: "row", folder: node.folder, row: errorRow(error) }];
    }
  }

  private async roots(): Promise<Node[]> {
    const targets = this.targets();
    if (targets.length === 0) {
      this.view.message = undefined;
      return [this.messageNode("", { kind: "message", label: "Open a folder or a Python file", severity: "info" })];
    }
    if (!this.request()) {
      this.view.message = undefined;
      return [this.messageNode("", { kind: "message", label: NO_SERVER, severity: "warning" })];
    }
    if (targets.length > 1) {
      this.view.message = undefined;
      return targets.map((t) => this.folderNode(t));
    }
    return this.snapshotNodes(targets[0], false);
  }

  /** A workspace's names; with one workspace, its state line is the view's message. */
  private async snapshotNodes(target: Target, several: boolean): Promise<Node[]> {
    let result: VariablesResult;
    try {
      result = await this.snapshot(target);
    } catch (error) {
      if (!several) {
        this.view.message = undefined;
      }
      return [this.messageNode(target.uri, errorRow(error))];
    }
    if (!several) {
      this.view.message = stateLine(result);
    }
    return snapshotRows(result, several).map((row) => ({ kind: "row", folder: target.uri, row }));
  }

  private messageNode(folder: string, row: Row): Node {
    return { kind: "row", folder, row };
  }

  async getTreeItem(node: Node): Promise<vscode.TreeItem> {
    if (node.kind === "folder") {
      const item = new vscode.TreeItem(node.target.name, vscode.TreeItemCollapsibleState.Expanded);
      item.id = rowId(node.target.uri, []);
      item.iconPath = vscode.ThemeIcon.Folder;
      item.contextValue = "azureSandboxFolder";
      try {
        const result = await this.snapshot(node.target);
        item.description = stateWords(result);
        item.tooltip = stateLine(result) ?? `${node.target.name}: ${item.description}`;
      } catch {
        item.description = "not available";
      }
      return item;
    }
    const row = node.row;
    if (row.kind === "message") {
      const item = new vscode.TreeItem(row.label, vscode.TreeItemCollapsibleState.None);
      item.tooltip = row.tooltip;
      item.iconPath = new vscode.ThemeIcon(row.severity);
      item.contextValue = "azureSandboxMessage";
      return item;
    }
    const item = new vscode.TreeItem(
      row.label,
      row.expandable ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None,
    );
    item.id = rowId(node.folder, row.path);
    item.description = row.description;
    item.tooltip = new vscode.MarkdownString(row.tooltip);
    item.iconPath = new vscode.ThemeIcon(row.path.length === 1 ? "symbol-variable" : "symbol-field");
    item.contextValue = "azureSandboxVariable";
    return item;
  }

  private async copyValue(node: unknown): Promise<void> {
    const target = (node as Node | undefined) ?? this.view.selection[0];
    if (!target || target.kind !== "row" || target.row.kind !== "variable") {
      return;
    }
    await vscode.env.clipboard.writeText(target.row.repr);
    vscode.window.setStatusBarMessage(`Azure Sandbox: copied the value of ${target.row.path.join(".")}`, 3000);
  }
}
