// The runs panel: every Python run of the window, in order, as a notebook of
// our own type beside the code, the way Jupyter's Interactive Window shows
// them. Each `azureSandbox/runFinished` appends one code cell holding the
// code that ran, with its stdout, stderr, figures, tables, value and error as
// outputs, which VS Code's own notebook renderers draw (theme-aware; images
// can be copied from their context menu). The notebook is a file in the
// extension's storage, saved after each change, so it is never dirty and
// closing it asks nothing.

import * as vscode from "vscode";
import {
  Figure,
  PanelOutput,
  RunFinished,
  StoredCell,
  StoredOutput,
  cellsToDrop,
  decodeNotebook,
  describeFigure,
  encodeNotebook,
  figureExtension,
  figuresOf,
  hasRichOutput,
  loadItem,
  panelOutputs,
  statusWords,
  storeItem,
} from "./runs";

export const NOTEBOOK_TYPE = "azure-sandbox-runs";
const FILE_NAME = "Sandbox runs.sandbox-runs";
/** The panel keeps the newest runs: at most this many, with at most this many bytes of output. */
const MAX_CELLS = 100;
const MAX_BYTES = 50 * 2 ** 20;

/** What a cell of the panel knows about its run (cell metadata `azureSandbox`). */
interface RunInfo {
  runId: number;
  label: string;
  status: RunFinished["status"];
  durationMs?: number | null;
  uri?: string;
  firstLine?: number | null;
  lastLine?: number | null;
}

/** What an output holding a figure knows about it (output metadata `azureSandboxFigure`). */
interface FigureInfo extends Figure {
  runId: number;
  index: number;
}

function runInfo(cell: vscode.NotebookCell): RunInfo | undefined {
  return (cell.metadata as { azureSandbox?: RunInfo } | undefined)?.azureSandbox;
}

function figureInfo(output: vscode.NotebookCellOutput): FigureInfo | undefined {
  return (output.metadata as { azureSandboxFigure?: FigureInfo } | undefined)?.azureSandboxFigure;
}

/** The panel's file format: JSON, outputs inline (figures as base64), so the
 *  panel shows them after a reload even when the figure files are gone. */
class Serializer implements vscode.NotebookSerializer {
  deserializeNotebook(content: Uint8Array): vscode.NotebookData {
    const cells = decodeNotebook(Buffer.from(content).toString("utf8")).map((stored) => {
      const cell = new vscode.NotebookCellData(
        stored.kind === "markup" ? vscode.NotebookCellKind.Markup : vscode.NotebookCellKind.Code,
        stored.source ?? "",
        stored.language ?? "python",
      );
      cell.metadata = stored.metadata;
      cell.outputs = (stored.outputs ?? []).map(
        (output) =>
          new vscode.NotebookCellOutput(
            output.items.map((item) => {
              const { mime, data } = loadItem(item);
              return new vscode.NotebookCellOutputItem(data, mime);
            }),
            output.metadata,
          ),
      );
      const run = stored.execution;
      if (run) {
        cell.executionSummary = {
          executionOrder: run.order,
          success: run.success,
          timing: run.start !== undefined && run.end !== undefined ? { startTime: run.start, endTime: run.end } : undefined,
        };
      }
      return cell;
    });
    return new vscode.NotebookData(cells);
  }

  serializeNotebook(data: vscode.NotebookData): Uint8Array {
    const cells: StoredCell[] = data.cells.map((cell) => {
      const summary = cell.executionSummary;
      return {
        kind: cell.kind === vscode.NotebookCellKind.Markup ? "markup" : "code",
        language: cell.languageId,
        source: cell.value,
        metadata: cell.metadata,
        execution: summary
          ? {
              order: summary.executionOrder,
              success: summary.success,
              start: summary.timing?.startTime,
              end: summary.timing?.endTime,
            }
          : undefined,
        outputs: (cell.outputs ?? []).map(
          (output): StoredOutput => ({
            metadata: output.metadata,
            items: output.items.map((item) => storeItem(item.mime, item.data)),
          }),
        ),
      };
    });
    return new TextEncoder().encode(encodeNotebook(cells));
  }
}

/** The bytes of a cell's outputs, for the panel's size bound. */
function outputBytes(outputs: readonly vscode.NotebookCellOutput[]): number {
  return outputs.reduce((sum, output) => sum + output.items.reduce((s, item) => s + item.data.byteLength, 0), 0);
}

export class RunsPanel {
  private queue: Promise<void> = Promise.resolve();
  private readonly file: vscode.Uri;
  private readonly dir: vscode.Uri;

  constructor(
    private readonly context: vscode.ExtensionContext,
    /** The server's latest figure (azureSandbox.latestFigure), for when the panel has none. */
    private readonly serverLatestFigure: () => Promise<Figure | undefined>,
    private readonly log: (message: string) => void,
  ) {
    this.dir = context.storageUri ?? context.globalStorageUri;
    this.file = vscode.Uri.joinPath(this.dir, FILE_NAME);

    context.subscriptions.push(
      vscode.workspace.registerNotebookSerializer(NOTEBOOK_TYPE, new Serializer(), {
        transientDocumentMetadata: {},
      }),
    );

    // The notebook needs a controller, or VS Code asks for a kernel. Its
    // cells are records: running one says where runs come from.
    const controller = vscode.notebooks.createNotebookController(
      "azure-sandbox-runs-recorder",
      NOTEBOOK_TYPE,
      "Azure Sandbox runs",
    );
    controller.description = "the runs of this window's Python files";
    controller.supportedLanguages = ["python"];
    controller.supportsExecutionOrder = true;
    controller.executeHandler = () => {
      void vscode.window.showInformationMessage(
        "Azure Sandbox: this panel records runs. Run code from its Python file (Run Cell, Run Selection or Line, Run File).",
      );
    };
    context.subscriptions.push(controller);
    context.subscriptions.push(
      vscode.workspace.onDidOpenNotebookDocument((notebook) => {
        if (notebook.notebookType === NOTEBOOK_TYPE) {
          controller.updateNotebookAffinity(notebook, vscode.NotebookControllerAffinity.Preferred);
        }
      }),
    );

    context.subscriptions.push(
      vscode.notebooks.registerNotebookCellStatusBarItemProvider(NOTEBOOK_TYPE, {
        provideCellStatusBarItems: (cell) => this.statusBarItems(cell),
      }),
    );

    const register = (id: string, run: (...args: unknown[]) => unknown) =>
      context.subscriptions.push(vscode.commands.registerCommand(id, run));
    register("azureSandbox.showRunsPanel", () => this.show());
    register("azureSandbox.clearRunsPanel", () => this.clear());
    register("azureSandbox.saveFigure", (target?: unknown) => this.saveFigure(target));
    register("azureSandbox.goToRunSource", (uri?: unknown, first?: unknown, last?: unknown) =>
      this.goToSource(uri, first, last),
    );
  }

  /** Appends a run's cell, after the ones before it. */
  append(run: RunFinished): Promise<void> {
    this.queue = this.queue
      .then(() => this.appendNow(run))
      .catch((error) => this.log(`runs panel: ${error instanceof Error ? error.stack ?? error.message : String(error)}`));
    return this.queue;
  }

  /** Shows the panel beside the code, without taking the focus. */
  show(): Promise<void> {
    this.queue = this.queue.then(() => this.showNow()).catch((error) => {
      void vscode.window.showErrorMessage(`Azure Sandbox: the runs panel did not open: ${String(error)}`);
    });
    return this.queue;
  }

  private clear(): Promise<void> {
    this.queue = this.queue.then(async () => {
      const notebook = await this.document();
      if (notebook.cellCount > 0) {
        const hadTab = this.tabs(notebook).length > 0;
        const edit = new vscode.WorkspaceEdit();
        edit.set(notebook.uri, [vscode.NotebookEdit.deleteCells(new vscode.NotebookRange(0, notebook.cellCount))]);
        await vscode.workspace.applyEdit(edit);
        await this.save(notebook, hadTab);
      }
    });
    return this.queue;
  }

  /** The panel's tabs, in any group, shown or not. */
  private tabs(notebook: vscode.NotebookDocument): vscode.Tab[] {
    return vscode.window.tabGroups.all
      .flatMap((group) => group.tabs)
      .filter((t) => t.input instanceof vscode.TabInputNotebook && t.input.uri.toString() === notebook.uri.toString());
  }

  /** Saves the panel after an edit. VS Code opens a background tab, in the
   *  active group, for a notebook that has been unsaved for 100 ms and is in
   *  no editor; when the save is slower than that, such a tab appears in the
   *  code's group, and the panel would later open there, over the code. A
   *  tab that was not there before the edit and is not shown is that one:
   *  it is closed once saved. */
  private async save(notebook: vscode.NotebookDocument, hadTab: boolean): Promise<void> {
    await notebook.save();
    if (!hadTab) {
      const stray = this.tabs(notebook).filter((t) => !t.isActive);
      if (stray.length > 0) {
        await vscode.window.tabGroups.close(stray, true);
      }
    }
  }

  private async document(): Promise<vscode.NotebookDocument> {
    const open = vscode.workspace.notebookDocuments.find((n) => n.uri.toString() === this.file.toString());
    if (open && !open.isClosed) {
      return open;
    }
    try {
      await vscode.workspace.fs.stat(this.file);
    } catch {
      await vscode.workspace.fs.createDirectory(this.dir);
      await vscode.workspace.fs.writeFile(this.file, new TextEncoder().encode(encodeNotebook([])));
    }
    return vscode.workspace.openNotebookDocument(this.file);
  }

  private async appendNow(run: RunFinished): Promise<void> {
    const notebook = await this.document();
    // Cells count up from the last one, as a notebook's do (run ids start
    // again when the server restarts).
    const previous = notebook.cellCount > 0 ? notebook.cellAt(notebook.cellCount - 1).executionSummary?.executionOrder : 0;
    const cell = await this.cellOf(run, (previous ?? 0) + 1);
    const hadTab = this.tabs(notebook).length > 0;
    const insert = new vscode.WorkspaceEdit();
    insert.set(notebook.uri, [vscode.NotebookEdit.insertCells(notebook.cellCount, [cell])]);
    if (!(await vscode.workspace.applyEdit(insert))) {
      throw new Error("the cell could not be added");
    }
    // The oldest runs go when the panel holds too many, or too many bytes.
    const sizes = notebook.getCells().map((c) => outputBytes(c.outputs));
    const drop = cellsToDrop(sizes, MAX_CELLS, MAX_BYTES);
    if (drop > 0) {
      const trim = new vscode.WorkspaceEdit();
      trim.set(notebook.uri, [vscode.NotebookEdit.deleteCells(new vscode.NotebookRange(0, drop))]);
      await vscode.workspace.applyEdit(trim);
    }
    // Saved after each change: the panel is never dirty, so closing it asks nothing.
    await this.save(notebook, hadTab);

    const when = vscode.workspace.getConfiguration("azureSandbox").get<string>("showRunsPanel", "onRichOutput");
    const wanted = when === "always" || (when === "onRichOutput" && hasRichOutput(run));
    if (this.editors(notebook).length > 0) {
      this.revealLast(notebook);
    } else if (wanted) {
      await this.showNow();
    }
  }

  private editors(notebook: vscode.NotebookDocument): readonly vscode.NotebookEditor[] {
    return vscode.window.visibleNotebookEditors.filter((e) => e.notebook.uri.toString() === notebook.uri.toString());
  }

  private revealLast(notebook: vscode.NotebookDocument): void {
    const last = notebook.cellCount - 1;
    if (last < 0) {
      return;
    }
    for (const editor of this.editors(notebook)) {
      editor.revealRange(new vscode.NotebookRange(last, last + 1), vscode.NotebookEditorRevealType.AtTop);
    }
  }

  private async showNow(): Promise<void> {
    const notebook = await this.document();
    if (this.editors(notebook).length === 0) {
      // In its tab group if it has a tab there, else beside the code; the
      // newest run selected, so in view. Never over the code: a tab hidden
      // behind it in its group (such as the one VS Code opens for an unsaved
      // notebook, see save()) is closed, and the panel goes beside.
      const tabs = this.tabs(notebook);
      const code = vscode.window.activeTextEditor?.viewColumn;
      const hidden = tabs.filter((t) => !t.isActive && code !== undefined && t.group.viewColumn === code);
      if (hidden.length > 0) {
        await vscode.window.tabGroups.close(hidden, true);
      }
      const tab = tabs.find((t) => !hidden.includes(t));
      const last = notebook.cellCount - 1;
      await vscode.window.showNotebookDocument(notebook, {
        viewColumn: tab ? tab.group.viewColumn : vscode.ViewColumn.Beside,
        preserveFocus: true,
        preview: false,
        selections: last >= 0 ? [new vscode.NotebookRange(last, last + 1)] : undefined,
      });
    }
    this.revealLast(notebook);
  }

  /** The cell for a run: its code, and its outputs with the figures' bytes. */
  private async cellOf(run: RunFinished, order: number): Promise<vscode.NotebookCellData> {
    const cell = new vscode.NotebookCellData(vscode.NotebookCellKind.Code, run.code ?? "", "python");
    const info: RunInfo = {
      runId: run.runId,
      label: run.label ?? `run ${run.runId}`,
      status: run.status,
      durationMs: run.durationMs,
      uri: run.uri,
      firstLine: run.firstLine,
      lastLine: run.lastLine,
    };
    cell.metadata = { azureSandbox: info };
    const figures = figuresOf(run);
    cell.outputs = [];
    for (const output of panelOutputs(run)) {
      cell.outputs.push(await this.outputOf(output, figures, run.runId));
    }
    const end = Date.now();
    cell.executionSummary = {
      executionOrder: order,
      success: run.status === "succeeded",
      timing: typeof run.durationMs === "number" ? { startTime: end - run.durationMs, endTime: end } : undefined,
    };
    return cell;
  }

  private async outputOf(output: PanelOutput, figures: Figure[], runId: number): Promise<vscode.NotebookCellOutput> {
    switch (output.kind) {
      case "stdout":
        return new vscode.NotebookCellOutput([vscode.NotebookCellOutputItem.stdout(output.text)]);
      case "stderr":
        return new vscode.NotebookCellOutput([vscode.NotebookCellOutputItem.stderr(output.text)]);
      case "error":
        return new vscode.NotebookCellOutput([
          vscode.NotebookCellOutputItem.error({ name: output.name, message: output.message, stack: output.stack } as Error),
        ]);
      case "rich": {
        const items: vscode.NotebookCellOutputItem[] = [];
        let metadata: Record<string, unknown> | undefined;
        let missing: string | undefined;
        for (const item of output.items) {
          if ("text" in item) {
            items.push(vscode.NotebookCellOutputItem.text(item.text, item.mime));
            continue;
          }
          const figure = figures[item.figure];
          try {
            const bytes = await vscode.workspace.fs.readFile(vscode.Uri.file(figure.path));
            items.push(new vscode.NotebookCellOutputItem(bytes, item.mime));
            const described: FigureInfo = { ...figure, runId, index: item.figure };
            metadata = { azureSandboxFigure: described };
          } catch {
            missing = `[figure ${describeFigure(figure)}: ${figure.path} is no longer there]`;
          }
        }
        if (missing && !items.some((i) => i.mime === "text/plain")) {
          items.push(vscode.NotebookCellOutputItem.text(missing, "text/plain"));
        }
        return new vscode.NotebookCellOutput(items, metadata);
      }
    }
  }

  private statusBarItems(cell: vscode.NotebookCell): vscode.NotebookCellStatusBarItem[] {
    const info = runInfo(cell);
    if (!info) {
      return [];
    }
    const items: vscode.NotebookCellStatusBarItem[] = [];
    const label = new vscode.NotebookCellStatusBarItem(`$(go-to-file) ${info.label}`, vscode.NotebookCellStatusBarAlignment.Left);
    label.tooltip = `Run ${info.runId}: ${info.label}, ${statusWords(info)}. Click to go to the code.`;
    if (info.uri) {
      label.command = {
        title: "Go to the code",
        command: "azureSandbox.goToRunSource",
        arguments: [info.uri, info.firstLine, info.lastLine],
      };
    }
    items.push(label);
    if (info.status !== "succeeded") {
      items.push(new vscode.NotebookCellStatusBarItem(statusWords(info), vscode.NotebookCellStatusBarAlignment.Left));
    }
    if (cell.outputs.some((o) => figureInfo(o))) {
      const save = new vscode.NotebookCellStatusBarItem("$(save) Save figure…", vscode.NotebookCellStatusBarAlignment.Right);
      save.tooltip = "Save this run's figure to a file";
      save.command = { title: "Save figure…", command: "azureSandbox.saveFigure", arguments: [cell] };
      items.push(save);
    }
    return items;
  }

  /** The figures a Save figure… names: a panel cell's (from its toolbar or
   *  status bar), one image output (from its context menu, by output id), or
   *  else the latest one of the panel. */
  private async figuresFor(target: unknown): Promise<{ figure: Figure; bytes?: Uint8Array; runId?: number }[]> {
    const fromOutput = (output: vscode.NotebookCellOutput) => {
      const figure = figureInfo(output);
      const image = output.items.find((i) => i.mime.startsWith("image/"));
      return figure ? { figure, bytes: image?.data, runId: figure.runId } : undefined;
    };
    const ofCell = (cell: vscode.NotebookCell) =>
      cell.outputs.map(fromOutput).filter((f): f is NonNullable<typeof f> => f !== undefined);
    const candidate = target as { notebook?: unknown; outputs?: unknown; outputId?: unknown } | undefined;
    if (candidate && candidate.notebook && Array.isArray(candidate.outputs)) {
      return ofCell(candidate as vscode.NotebookCell);
    }
    if (candidate && typeof candidate.outputId === "string") {
      for (const notebook of vscode.workspace.notebookDocuments) {
        for (const cell of notebook.getCells()) {
          // The output's id, which the image's context menu passes (not in the typed API).
          const output = cell.outputs.find((o) => (o as { id?: unknown }).id === candidate.outputId);
          if (output) {
            const found = fromOutput(output);
            if (found) {
              return [found];
            }
            // An image of another notebook: its bytes.
            const image = output.items.find((i) => i.mime.startsWith("image/"));
            return image ? [{ figure: { path: "", mime: image.mime }, bytes: image.data }] : [];
          }
        }
      }
      return [];
    }
    const notebook = await this.document();
    const cells = notebook.getCells();
    for (let i = cells.length - 1; i >= 0; i--) {
      const found = ofCell(cells[i]);
      if (found.length > 0) {
        return [found[found.length - 1]];
      }
    }
    const latest = await this.serverLatestFigure().catch(() => undefined);
    return latest ? [{ figure: latest }] : [];
  }

  private async saveFigure(target: unknown): Promise<void> {
    const figures = await this.figuresFor(target);
    if (figures.length === 0) {
      void vscode.window.showInformationMessage("Azure Sandbox: no figure to save.");
      return;
    }
    let chosen = figures[0];
    if (figures.length > 1) {
      const pick = await vscode.window.showQuickPick(
        figures.map((f, i) => ({ label: `Figure ${i + 1}`, description: describeFigure(f.figure), index: i })),
        { title: "Save which figure?" },
      );
      if (!pick) {
        return;
      }
      chosen = figures[pick.index];
    }
    const ext = figureExtension(chosen.figure.mime);
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const name = `figure${chosen.runId !== undefined ? `-${chosen.runId}` : ""}.${ext}`;
    const destination = await vscode.window.showSaveDialog({
      title: "Save figure",
      defaultUri: folder ? vscode.Uri.joinPath(folder, name) : undefined,
      filters: { [ext.toUpperCase()]: [ext] },
      saveLabel: "Save figure",
    });
    if (!destination) {
      return;
    }
    // The figure file, copied; or, when the cache dropped it, the panel's bytes.
    let copied = false;
    if (chosen.figure.path) {
      try {
        await vscode.workspace.fs.copy(vscode.Uri.file(chosen.figure.path), destination, { overwrite: true });
        copied = true;
      } catch (error) {
        if (!chosen.bytes) {
          void vscode.window.showErrorMessage(
            `Azure Sandbox: the figure file ${chosen.figure.path} is no longer there: ${String(error)}`,
          );
          return;
        }
      }
    }
    if (!copied) {
      if (!chosen.bytes) {
        return;
      }
      await vscode.workspace.fs.writeFile(destination, chosen.bytes);
    }
    void vscode.window.showInformationMessage(`Azure Sandbox: saved the figure to ${destination.fsPath}.`);
  }

  private async goToSource(uri: unknown, first: unknown, last: unknown): Promise<void> {
    if (typeof uri !== "string") {
      return;
    }
    const document = await vscode.workspace.openTextDocument(vscode.Uri.parse(uri));
    const visible = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === document.uri.toString());
    const start = typeof first === "number" ? first : 0;
    const end = typeof last === "number" ? last : start;
    const range = new vscode.Range(start, 0, end, document.lineAt(Math.min(end, document.lineCount - 1)).text.length);
    const editor = await vscode.window.showTextDocument(document, {
      viewColumn: visible?.viewColumn ?? vscode.ViewColumn.One,
      selection: range,
    });
    editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }
}
