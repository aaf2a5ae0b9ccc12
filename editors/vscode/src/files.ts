// The workspace mirror's commands in VS Code (issue #14), the part that needs
// no editor: what goes in the QuickPicks of Send to Sandbox, List Sandbox
// Files and Fetch Files from Sandbox… (from `azureSandbox/files` and the
// last run's `runFinished.files`), which requests a choice makes, and what a
// files job's `runFinished` means for the user. No `vscode` import here:
// tests/files.test.js checks this file in plain Node; src/filesCommands.ts
// shows it.

import { humanBytes } from "./variables";

/** A file in the environment's mirror (`azureSandbox/files`). */
export interface RemoteFile {
  path: string;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
}

/** `azureSandbox/files`'s answer. `root` is empty when nothing has run. */
export interface Listing {
  root: string;
  files: RemoteFile[];
  more: number;
}

/** One file a files job moved (`runFinished.transferred`). */
export interface Transferred {
  /** Workspace-relative. */
  path: string;
  /** Where a fetched file was saved (absolute). */
  savedAs?: string;
  /** A different local file was kept, and this one saved beside it. */
  keptBoth?: boolean;
  /** The local file already had these bytes. */
  unchanged?: boolean;
}

/** What the latest run of a workspace wrote, from its `runFinished`. */
export interface LastRunFiles {
  paths: string[];
  /** How many more than `paths` (the server lists the first 100). */
  more: number;
}

/** The local file at a mirror path: its size, or null when there is none. */
export type LocalSizes = Map<string, number | null>;

/** A file row of the List and Fetch QuickPicks. */
export interface FileItem {
  type: "file";
  path: string;
  label: string;
  description: string;
  detail?: string;
  /** What the row says about the local copy, for tests and sorting. */
  local: "missing" | "differs" | "sameSize" | "unknown";
  lastRun: boolean;
}

/** The "everything the last run wrote" row of Fetch. */
export interface LastRunItem {
  type: "lastRun";
  label: string;
  description: string;
  detail: string;
}

/** A row that is only there to say something (more files than listed).
 *  (`type`, not `kind`: a QuickPickItem's `kind` is VS Code's.) */
export interface NoteItem {
  type: "note";
  label: string;
}

export type FetchItem = FileItem | LastRunItem | NoteItem;

/** `data/sales.csv` stays; `data\\sales.csv` or `./data/sales.csv` become it. */
export function normalise(rel: string): string {
  return rel.replace(/\\/g, "/").replace(/^(\.\/)+/, "").replace(/\/+$/, "");
}

/** The rows of the environment's files: the path; its size, and whether
 *  the last run wrote it; whether it is missing here or of another size
 *  here. The server gives no hashes in a listing, so a file of the same
 *  size here says nothing about its bytes. */
export function fileItems(listing: Listing, local: LocalSizes, lastRun?: LastRunFiles): FileItem[] {
  const wrote = new Set((lastRun?.paths ?? []).map(normalise));
  return listing.files.map((file) => {
    const path = normalise(file.path);
    const here = local.get(path);
    const written = wrote.has(path);
    const said = [humanBytes(file.size)];
    if (written) {
      said.push("written by the last run");
    }
    let state: FileItem["local"];
    let detail: string | undefined;
    if (here === undefined) {
      state = "unknown";
    } else if (here === null) {
      state = "missing";
      detail = "Only in the sandbox: not in the workspace here";
    } else if (here !== file.size) {
      state = "differs";
      detail = `Differs from the file here (${humanBytes(here)} here)`;
    } else {
      state = "sameSize";
    }
    return {
      type: "file",
      path,
      label: `$(${state === "missing" ? "cloud" : state === "differs" ? "diff" : "file"}) ${path}`,
      description: said.join(" · "),
      detail,
      local: state,
      lastRun: written,
    };
  });
}

/** The title of List Sandbox Files: how many files, and where they are. */
export function listTitle(listing: Listing, workspace: string): string {
  const count = listing.files.length + listing.more;
  return `Sandbox files of ${workspace}: ${count} file${count === 1 ? "" : "s"} in ${listing.root}`;
}

/** The sentence for a mirror with no files (nothing has run, or nothing is there). */
export function emptyListing(workspace: string): string {
  return (
    `Azure Sandbox: the sandbox's copy of ${workspace} has no files yet. Run code from it, or send files ` +
    "with Azure Sandbox: Send to Sandbox."
  );
}

/** The row that says files were left out of the listing. */
export function moreItem(listing: Listing): NoteItem | undefined {
  return listing.more > 0 ? { type: "note", label: `… and ${listing.more} more, not listed` } : undefined;
}

/** The rows of Fetch Files from Sandbox…: first, when the last run wrote
 *  files, one row that fetches them all; then every file. */
export function fetchItems(listing: Listing, local: LocalSizes, lastRun?: LastRunFiles): FetchItem[] {
  const items: FetchItem[] = [];
  const count = (lastRun?.paths.length ?? 0) + (lastRun?.more ?? 0);
  if (lastRun && count > 0) {
    const names = lastRun.paths.slice(0, 3).join(", ") + (count > 3 ? `, … (${count - 3} more)` : "");
    items.push({
      type: "lastRun",
      label: "$(history) All files the last run wrote",
      description: `${count} file${count === 1 ? "" : "s"}`,
      detail: names,
    });
  }
  items.push(...fileItems(listing, local, lastRun));
  const more = moreItem(listing);
  if (more) {
    items.push(more);
  }
  return items;
}

/** The `azureSandbox.fetchFiles` requests for the rows picked: `paths`, or
 *  `undefined` for "what the latest run wrote" (the command with no paths,
 *  which also takes the files past the first 100). */
export function fetchRequests(picked: FetchItem[], lastRun?: LastRunFiles): (string[] | undefined)[] {
  const files = picked.filter((i): i is FileItem => i.type === "file").map((i) => i.path);
  if (!picked.some((i) => i.type === "lastRun")) {
    return files.length > 0 ? [unique(files)] : [];
  }
  const written = (lastRun?.paths ?? []).map(normalise);
  if ((lastRun?.more ?? 0) > 0) {
    // The server knows them all: ask for the latest run's, then the others.
    const others = unique(files).filter((f) => !written.includes(f));
    return others.length > 0 ? [undefined, others] : [undefined];
  }
  return [unique([...written, ...files])];
}

function unique(paths: string[]): string[] {
  return [...new Set(paths)];
}

/** A selected file or folder of Send to Sandbox: its absolute path, and the
 *  workspace the server will put it in: the workspace folder that holds it
 *  (`inFolder`), else the directory it is in, as the server counts it. */
export interface Selected {
  path: string;
  workspace: string;
  inFolder: boolean;
  isFolder: boolean;
}

/** One `azureSandbox.sendFiles` request: a workspace and its paths,
 *  relative to it (`.` for the workspace itself). `anchor` is the path whose
 *  URI names the workspace to the server: the workspace folder, or (outside
 *  any folder) a selected path in it, since the server takes a path's
 *  directory as its workspace. */
export interface SendGroup {
  workspace: string;
  anchor: string;
  paths: string[];
}

function relative(workspace: string, path: string): string | undefined {
  const root = workspace.replace(/\/+$/, "");
  if (path === root) {
    return ".";
  }
  return path.startsWith(`${root}/`) ? path.slice(root.length + 1) : undefined;
}

/** Groups the selection by workspace, drops what a selected folder already
 *  holds and what is selected twice, and keeps the selection's order. */
export function sendGroups(selected: Selected[]): SendGroup[] {
  const groups = new Map<string, SendGroup>();
  const folders = selected.filter((s) => s.isFolder).map((s) => s.path.replace(/\/+$/, ""));
  for (const item of selected) {
    const path = item.path.replace(/\/+$/, "");
    const insideAnother = folders.some((folder) => folder !== path && path.startsWith(`${folder}/`));
    const rel = relative(item.workspace, path);
    if (insideAnother || rel === undefined) {
      continue;
    }
    const group = groups.get(item.workspace) ?? { workspace: item.workspace, anchor: item.inFolder ? item.workspace : path, paths: [] };
    if (!group.paths.includes(rel)) {
      group.paths.push(rel);
    }
    groups.set(item.workspace, group);
  }
  return [...groups.values()];
}

/** `main.py`, `main.py and data/`, `main.py, data/ and 3 more`: what is sent. */
export function describePaths(paths: string[], folders: Set<string> = new Set()): string {
  const named = paths.map((p) => (p === "." ? "the whole workspace" : folders.has(p) ? `${p}/` : p));
  if (named.length <= 1) {
    return named[0] ?? "nothing";
  }
  if (named.length === 2) {
    return `${named[0]} and ${named[1]}`;
  }
  return `${named[0]}, ${named[1]} and ${named.length - 2} more`;
}

/** The rows of Send to Sandbox's picker (the palette with no file open): the
 *  workspace's folders, then its files, from their workspace-relative paths. */
export function sendPickerItems(files: string[]): { label: string; path: string; isFolder: boolean }[] {
  const normal = unique(files.map(normalise)).sort();
  const folders = new Set<string>();
  for (const file of normal) {
    const parts = file.split("/");
    for (let i = 1; i < parts.length; i++) {
      folders.add(parts.slice(0, i).join("/"));
    }
  }
  return [
    ...[...folders].sort().map((path) => ({ label: `$(folder) ${path}/`, path, isFolder: true })),
    ...normal.map((path) => ({ label: `$(file) ${path}`, path, isFolder: false })),
  ];
}

/** What a fetch job's `transferred` means for the user: the files to show,
 *  the ones that were kept both ways (a local file differed), and the ones
 *  that were already the same here. */
export interface FetchOutcome {
  /** Saved files (absolute), in the order fetched; unchanged ones too. */
  saved: string[];
  conflicts: { path: string; local: string; sandbox: string }[];
  unchanged: string[];
}

export function fetchOutcome(workspace: string, transferred: Transferred[]): FetchOutcome {
  const outcome: FetchOutcome = { saved: [], conflicts: [], unchanged: [] };
  const root = workspace.replace(/\/+$/, "");
  for (const item of transferred) {
    const saved = item.savedAs ?? `${root}/${normalise(item.path)}`;
    outcome.saved.push(saved);
    if (item.keptBoth) {
      outcome.conflicts.push({ path: normalise(item.path), local: `${root}/${normalise(item.path)}`, sandbox: saved });
    } else if (item.unchanged) {
      outcome.unchanged.push(normalise(item.path));
    }
  }
  return outcome;
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** The warning for files fetched beside a different local file. */
export function conflictMessage(conflicts: FetchOutcome["conflicts"]): string | undefined {
  if (conflicts.length === 0) {
    return undefined;
  }
  if (conflicts.length === 1) {
    const [c] = conflicts;
    return (
      `Azure Sandbox: ${c.path} here differs from the sandbox's, so both are kept: the sandbox's is saved ` +
      `beside it as ${baseName(c.sandbox)}.`
    );
  }
  const names = conflicts.map((c) => `${c.path} (as ${baseName(c.sandbox)})`).join(", ");
  return `Azure Sandbox: ${conflicts.length} files here differ from the sandbox's, so both are kept: ${names}.`;
}

/** The message for a request or command the server refused (`-32602`, an
 *  unreachable sandbox), from its error object. */
export function errorMessage(what: string, error: unknown): string {
  const message =
    error instanceof Error
      ? error.message
      : typeof (error as { message?: unknown })?.message === "string"
        ? (error as { message: string }).message
        : String(error);
  return `Azure Sandbox: ${what}: ${message}`;
}
