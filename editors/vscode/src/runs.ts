// What the runs panel shows for one `azureSandbox/runFinished`, and how the
// panel's notebook file is stored. No `vscode` import here: tests/runs.test.js
// checks this file in plain Node; src/panel.ts turns it into notebook cells.

/** A figure file the server wrote (see docs/protocol.md). */
export interface Figure {
  uri?: string;
  path: string;
  mime: string;
  width?: number;
  height?: number;
  bytes?: number;
}

/** One item of `runFinished.outputs`, in the order a notebook shows them. */
export type RunOutput =
  | { kind: "stream"; stream: "stdout" | "stderr"; text: string }
  | { kind: "display"; data: Record<string, string>; figure?: Figure | null }
  | { kind: "value"; text: string }
  | { kind: "error"; type: string; message: string; traceback?: string | null };

export interface Notice {
  kind: string;
  reason?: string;
  stream?: string;
  count?: number;
  bytes?: number;
  characters?: number;
}

/** `azureSandbox/runFinished`: how a job ended, typed (see docs/protocol.md). */
export interface RunFinished {
  runId: number;
  kind: "python" | "install" | "restart" | "files";
  label?: string;
  status: "succeeded" | "raised" | "stopped" | "failed" | "cancelled";
  durationMs?: number | null;
  uri?: string;
  firstLine?: number | null;
  lastLine?: number | null;
  notices: Notice[];
  error?: { kind: string; message: string } | null;
  code?: string | null;
  outputs?: RunOutput[] | null;
  figures?: Figure[] | null;
  /** A Python run in the workspace mirror: the files it created or changed
   *  there (workspace-relative, the first 100), and how many more. */
  files?: { path: string; size: number }[] | null;
  filesMore?: number | null;
  /** A files job: what it sent or fetched. */
  transferred?: { path: string; savedAs?: string; keptBoth?: boolean; unchanged?: boolean }[] | null;
}

/** One representation of a rich output: text, or the bytes of a figure file. */
export type PanelItem = { mime: string; text: string } | { mime: string; figure: number };

/** One output of a panel cell. A rich output lists its representations, the
 *  richest first; the notebook picks the one it shows. */
export type PanelOutput =
  | { kind: "stdout" | "stderr"; text: string }
  | { kind: "error"; name: string; message: string; stack?: string }
  | { kind: "rich"; items: PanelItem[] };

const TRACEBACK = "Traceback (most recent call last):";

/** The text mimes a display item may carry, richest first. */
const TEXT_MIMES = ["text/html", "text/markdown", "text/latex", "text/plain"];

/** What a run made that a transcript cannot show: a figure, a table or other
 *  rich display (anything but plain text). */
export function hasRichOutput(run: RunFinished): boolean {
  return (run.outputs ?? []).some(
    (o) => o.kind === "display" && (!!o.figure || Object.keys(o.data ?? {}).some((m) => m !== "text/plain")),
  );
}

/** The figures of a run, in order: `figures`, else those of its outputs. */
export function figuresOf(run: RunFinished): Figure[] {
  if (run.figures && run.figures.length > 0) {
    return run.figures;
  }
  const figures: Figure[] = [];
  for (const output of run.outputs ?? []) {
    if (output.kind === "display" && output.figure) {
      figures.push(output.figure);
    }
  }
  return figures;
}

function megabytes(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1e3))} KB`;
}

/** What a run's notice means for the panel, or nothing when the cell shows it otherwise. */
function noticeText(notice: Notice): string | undefined {
  switch (notice.kind) {
    case "stateLost":
      return notice.reason === "expired"
        ? "The sandbox environment had expired and was relaunched: earlier variables and imports are gone.\n"
        : "The sandbox's interpreter was replaced: earlier variables and imports are gone.\n";
    case "displaysDropped": {
      const count = notice.count ?? 0;
      const size = notice.bytes ? ` (${megabytes(notice.bytes)})` : "";
      return `${count} display${count === 1 ? "" : "s"}${size} not shown: over azureSandbox.displayLimit.\n`;
    }
    case "displaysLost": {
      const count = notice.count ?? 0;
      return `${count} display${count === 1 ? "" : "s"} made by the run could not be fetched from the sandbox.\n`;
    }
    case "outputDropped":
      return `${notice.stream ?? "output"}: ${notice.characters ?? "some"} characters past the output limit were dropped.\n`;
    case "outputCut":
      return `${notice.stream ?? "output"} was cut short; the output document has what arrived.\n`;
    default:
      return undefined;
  }
}

/** The outputs of a run's cell: streams (consecutive pieces of one stream
 *  joined), figures and tables, the value, the error, and what the notices
 *  say. */
export function panelOutputs(run: RunFinished): PanelOutput[] {
  const outputs: PanelOutput[] = [];
  const stream = (kind: "stdout" | "stderr", text: string) => {
    const last = outputs[outputs.length - 1];
    if (last && last.kind === kind) {
      last.text += text;
    } else if (text !== "") {
      outputs.push({ kind, text });
    }
  };
  for (const notice of run.notices ?? []) {
    if (notice.kind === "stateLost") {
      stream("stderr", noticeText(notice) ?? "");
    }
  }
  const figures = figuresOf(run);
  let raised = false;
  for (const output of run.outputs ?? []) {
    switch (output.kind) {
      case "stream":
        stream(output.stream === "stderr" ? "stderr" : "stdout", output.text);
        break;
      case "value":
        outputs.push({ kind: "rich", items: [{ mime: "text/plain", text: output.text }] });
        break;
      case "error": {
        raised = true;
        // The server sends the traceback as the stderr just before the
        // error (as python3 prints it), with `traceback: null`: it moves
        // into the error, which the notebook draws as one.
        let stack = output.traceback ?? undefined;
        const last = outputs[outputs.length - 1];
        const start = last && last.kind === "stderr" ? last.text.lastIndexOf(TRACEBACK) : -1;
        if (!stack && last && last.kind === "stderr" && start >= 0) {
          stack = last.text.slice(start);
          last.text = last.text.slice(0, start);
          if (last.text === "") {
            outputs.pop();
          }
        }
        outputs.push({ kind: "error", name: output.type, message: output.message, stack });
        break;
      }
      case "display": {
        const items: PanelItem[] = [];
        if (output.figure) {
          const index = figures.findIndex((f) => f.path === output.figure?.path);
          items.push({ mime: output.figure.mime, figure: index >= 0 ? index : figures.length });
          if (index < 0) {
            figures.push(output.figure);
          }
        }
        for (const mime of TEXT_MIMES) {
          const text = output.data?.[mime];
          if (typeof text === "string") {
            items.push({ mime, text });
          }
        }
        if (items.length > 0) {
          outputs.push({ kind: "rich", items });
        }
        break;
      }
    }
  }
  // A run that did not run, or was stopped, says why (a raise has its traceback).
  if (run.error && !raised) {
    outputs.push({ kind: "error", name: errorName(run), message: run.error.message });
  } else if (!raised && (run.status === "stopped" || run.status === "cancelled")) {
    outputs.push({ kind: "error", name: run.status === "stopped" ? "Stopped" : "Cancelled", message: statusWords(run) });
  }
  for (const notice of run.notices ?? []) {
    if (notice.kind !== "stateLost") {
      stream("stderr", noticeText(notice) ?? "");
    }
  }
  return outputs;
}

function errorName(run: RunFinished): string {
  switch (run.status) {
    case "stopped":
      return "Stopped";
    case "cancelled":
      return "Cancelled";
    default:
      return "Not run";
  }
}

/** How the run ended, in a few words. */
export function statusWords(run: Pick<RunFinished, "status" | "durationMs">): string {
  const time = typeof run.durationMs === "number" ? ` in ${formatDuration(run.durationMs)}` : "";
  switch (run.status) {
    case "succeeded":
      return `succeeded${time}`;
    case "raised":
      return `raised${time}`;
    case "stopped":
      return `stopped by the sandbox${time}`;
    case "failed":
      return "not run";
    case "cancelled":
      return "cancelled";
  }
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** A figure in a few words: `PNG 640×480, 23 KB`. */
export function describeFigure(figure: Figure): string {
  const kind = figure.mime === "image/svg+xml" ? "SVG" : figure.mime.replace(/^image\//, "").toUpperCase();
  const size = figure.width && figure.height ? ` ${figure.width}×${figure.height}` : "";
  const bytes = figure.bytes ? `, ${megabytes(figure.bytes)}` : "";
  return `${kind}${size}${bytes}`;
}

/** The file name extension for a figure's mime type. */
export function figureExtension(mime: string): string {
  switch (mime) {
    case "image/svg+xml":
      return "svg";
    case "image/jpeg":
      return "jpg";
    case "image/gif":
      return "gif";
    default:
      return "png";
  }
}

// The notebook file in the extension's storage.

/** A stored output item: text for text mimes, else base64. */
export interface StoredItem {
  mime: string;
  text?: string;
  base64?: string;
}

export interface StoredOutput {
  metadata?: Record<string, unknown>;
  items: StoredItem[];
}

export interface StoredCell {
  kind: "code" | "markup";
  language: string;
  source: string;
  metadata?: Record<string, unknown>;
  execution?: { order?: number; success?: boolean; start?: number; end?: number };
  outputs: StoredOutput[];
}

export interface StoredNotebook {
  format: "azure-sandbox-runs";
  version: 1;
  cells: StoredCell[];
}

/** Mimes whose bytes are UTF-8 text, stored as text. */
export function isTextMime(mime: string): boolean {
  return (
    mime.startsWith("text/") ||
    mime === "image/svg+xml" ||
    mime === "application/json" ||
    mime.startsWith("application/vnd.code.notebook.") ||
    mime.startsWith("application/x.notebook.")
  );
}

export function storeItem(mime: string, data: Uint8Array): StoredItem {
  return isTextMime(mime)
    ? { mime, text: Buffer.from(data).toString("utf8") }
    : { mime, base64: Buffer.from(data).toString("base64") };
}

export function loadItem(item: StoredItem): { mime: string; data: Uint8Array } {
  const data = item.base64 !== undefined ? Buffer.from(item.base64, "base64") : Buffer.from(item.text ?? "", "utf8");
  return { mime: item.mime, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

export function encodeNotebook(cells: StoredCell[]): string {
  const notebook: StoredNotebook = { format: "azure-sandbox-runs", version: 1, cells };
  return JSON.stringify(notebook, null, 1);
}

/** The cells of a stored notebook; an empty or unreadable file has none. */
export function decodeNotebook(text: string): StoredCell[] {
  if (text.trim() === "") {
    return [];
  }
  try {
    const parsed = JSON.parse(text) as Partial<StoredNotebook>;
    return Array.isArray(parsed.cells) ? parsed.cells : [];
  } catch {
    return [];
  }
}

/** How many of the oldest cells to drop so that at most `maxCells` remain
 *  and their outputs hold at most `maxBytes` (the newest cell always stays). */
export function cellsToDrop(sizes: number[], maxCells: number, maxBytes: number): number {
  let drop = Math.max(0, sizes.length - maxCells);
  let total = sizes.slice(drop).reduce((a, b) => a + b, 0);
  while (drop < sizes.length - 1 && total > maxBytes) {
    total -= sizes[drop];
    drop += 1;
  }
  return drop;
}
