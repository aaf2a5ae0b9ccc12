// What the Sandbox variables view shows for an `azureSandbox/variables`
// answer: the state line, one row per name (label, description, tooltip),
// and the rows a state or a value's contents call for. No `vscode` import
// here: tests/variables.test.js checks this file in plain Node;
// src/variablesView.ts turns it into tree items.

/** One name of a snapshot, or one item of a value's contents (see docs/protocol.md). */
export interface Variable {
  name: string;
  type: string;
  shape?: string | null;
  size?: number | null;
  repr: string;
  /** The run that last set it; `null` for a value's contents. */
  runId?: number | null;
  expandable: boolean;
}

export type SnapshotState = "empty" | "ready" | "lost";

/** `azureSandbox/variables`'s answer. */
export interface VariablesResult {
  state: SnapshotState;
  reason?: string | null;
  message?: string | null;
  variables: Variable[];
  /** Items past the first 100 of a value's contents. */
  more?: number | null;
  /** The path holds nothing (any more). */
  missing?: boolean;
}

/** `azureSandbox/variablesChanged`'s params: `uri` is the workspace folder's. */
export interface VariablesChanged {
  uri: string;
  state: SnapshotState;
  reason?: string | null;
}

/** A row of the view: a name (or an item of a value), or a line of text. */
export type Row =
  | {
      kind: "variable";
      /** The path the server takes to list its contents: the name, then keys. */
      path: string[];
      label: string;
      description: string;
      tooltip: string;
      expandable: boolean;
      /** What Copy Value copies. */
      repr: string;
    }
  | { kind: "message"; label: string; tooltip?: string; severity: "info" | "warning" | "error" };

export const NOTHING_RAN = "Nothing has run in this workspace yet";
export const NO_VARIABLES = "The environment holds no variables";
export const NO_SERVER = "The Azure Sandbox language server is not running";

/** Bytes as the server's hover says them: `512 B`, `3 KB`, `1.2 MB`. */
export function humanBytes(bytes: number): string {
  if (bytes < 1000) {
    return `${bytes} B`;
  }
  if (bytes < 1_000_000) {
    return `${Math.floor((bytes + 500) / 1000)} KB`;
  }
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** The row's description: the type and the shape (`pandas.DataFrame (3, 2)`, `list len 3`). */
export function describe(variable: Variable): string {
  return variable.shape ? `${variable.type} ${variable.shape}` : variable.type;
}

/** A fenced code block that no backtick run in `text` can close. */
export function codeBlock(text: string, language = "text"): string {
  const longest = Math.max(0, ...Array.from(text.matchAll(/`+/g), (m) => m[0].length));
  const fence = "`".repeat(Math.max(3, longest + 1));
  return `${fence}${language}\n${text}\n${fence}`;
}

/** The tooltip, as Markdown: the name, type, shape and size, the repr in a
 *  code block, and the run that set it. */
export function tooltip(variable: Variable): string {
  const facts = [`\`${variable.type.replace(/`/g, "'")}\``];
  if (variable.shape) {
    facts.push(variable.shape);
  }
  if (typeof variable.size === "number") {
    facts.push(humanBytes(variable.size));
  }
  const lines = [`**${escapeMarkdown(variable.name)}**: ${facts.join(", ")}`, "", codeBlock(variable.repr)];
  if (typeof variable.runId === "number") {
    lines.push("", `Set by run ${variable.runId}`);
  }
  return lines.join("\n");
}

function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!<>|~]/g, (c) => `\\${c}`);
}

/** Reasons that come between runs (a restart, settings naming another
 *  sandbox), not from one. With `ready`, such a reason is left over from
 *  before the last run, which did not lose anything: the server keeps the
 *  reason of a restart until the second run after it. */
const BETWEEN_RUNS = new Set(["restarted", "sandboxChanged"]);

/** Why the last run found the state gone (`expired`, `interpreterReplaced`),
 *  or why it is gone now; undefined when nothing was lost. */
function lostReason(result: VariablesResult): string | undefined {
  if (!result.reason || result.state === "empty") {
    return undefined;
  }
  return result.state === "ready" && BETWEEN_RUNS.has(result.reason) ? undefined : result.reason;
}

/** The line the view shows above the names, if any: why the state was lost
 *  (with what the last run left, when it is `ready`). */
export function stateLine(result: VariablesResult): string | undefined {
  if (result.state === "empty") {
    return undefined;
  }
  const reason = lostReason(result);
  if (result.state === "lost" || reason) {
    return result.message ?? (reason ? `The environment's state was lost (${reason}).` : undefined);
  }
  return undefined;
}

/** A folder's state in a word or two, for its root row when there are several. */
export function stateWords(result: VariablesResult): string {
  switch (result.state) {
    case "empty":
      return "nothing ran yet";
    case "lost":
      return result.reason ? `lost: ${words(result.reason)}` : "lost";
    case "ready": {
      const count = result.variables.length;
      const names = `${count} name${count === 1 ? "" : "s"}`;
      const reason = lostReason(result);
      return reason ? `${names}, after ${words(reason)}` : names;
    }
  }
}

/** `interpreterReplaced` → `interpreter replaced`. */
function words(reason: string): string {
  return reason.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
}

/** The rows for one variable (or item) at `parent`'s path. */
export function variableRow(parent: string[], variable: Variable): Row {
  return {
    kind: "variable",
    path: [...parent, variable.name],
    label: variable.name,
    description: describe(variable),
    tooltip: tooltip(variable),
    expandable: variable.expandable,
    repr: variable.repr,
  };
}

/** The rows of a workspace's snapshot. `withState`: the state line is a row
 *  of its own (several folders share the view, so its message line cannot
 *  say it); else the view's message says it. */
export function snapshotRows(result: VariablesResult, withState: boolean): Row[] {
  const rows: Row[] = [];
  if (result.state === "empty") {
    return [{ kind: "message", label: NOTHING_RAN, severity: "info" }];
  }
  const line = stateLine(result);
  if (withState && line) {
    rows.push({ kind: "message", label: line, tooltip: line, severity: "warning" });
  }
  if (result.state === "lost") {
    return rows;
  }
  for (const variable of result.variables) {
    rows.push(variableRow([], variable));
  }
  if (result.variables.length === 0) {
    rows.push({ kind: "message", label: NO_VARIABLES, severity: "info" });
  }
  return rows;
}

/** The rows of a value's contents, one level down (a request with `path`). */
export function contentRows(path: string[], result: VariablesResult): Row[] {
  if (result.missing) {
    return [
      {
        kind: "message",
        label: "No longer there",
        tooltip: "The environment no longer holds this value; refresh the view.",
        severity: "info",
      },
    ];
  }
  const rows = result.variables.map((variable) => variableRow(path, variable));
  if (typeof result.more === "number" && result.more > 0) {
    rows.push({ kind: "message", label: `… ${result.more} more`, severity: "info" });
  } else if (rows.length === 0) {
    rows.push({ kind: "message", label: "Empty", severity: "info" });
  }
  return rows;
}

/** The row for a request that failed (the sandbox unreachable, a listing that raised). */
export function errorRow(error: unknown): Row {
  const message = error instanceof Error ? error.message : String((error as { message?: unknown })?.message ?? error);
  return { kind: "message", label: `Could not list it: ${message}`, tooltip: message, severity: "error" };
}

/** A stable id for a row, so the view keeps what was expanded across refreshes. */
export function rowId(folder: string, path: string[]): string {
  return JSON.stringify([folder, ...path]);
}

/** Is `changed` (a `variablesChanged` folder URI) the folder `folder`? Both
 *  are `file:` URIs, but VS Code and the server may escape them differently. */
export function sameFolder(changed: string, folder: string): boolean {
  const path = (uri: string) => {
    try {
      const parsed = new URL(uri);
      return parsed.protocol === "file:" ? decodeURIComponent(parsed.pathname).replace(/\/+$/, "") : uri;
    } catch {
      return uri;
    }
  };
  return path(changed) === path(folder);
}
