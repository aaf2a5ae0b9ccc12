// Checks src/files.ts in plain Node: what Send to Sandbox, List Sandbox Files
// and Fetch Files from Sandbox… make of the server's answers (an
// azureSandbox/files listing, a run's files, a files job's transferred) and of
// a selection: the QuickPick rows, the requests a choice makes, the messages.
// Usage: node tests/files.test.js (after npm ci).
const assert = require("assert");
const { load, checks } = require("./unit");

const files = load("files");
const { check, finish } = checks();

// As the server answers azureSandbox/files (docs/protocol.md, "The workspace mirror").
const listing = {
  root: "/mnt/data/work",
  files: [
    { path: "main.py", size: 120, mtime: 1700000000 },
    { path: "data/sales.csv", size: 41, mtime: 1700000001 },
    { path: "out/report.csv", size: 1500, mtime: 1700000002 },
    { path: "notes.txt", size: 9, mtime: 1700000003 },
  ],
  more: 0,
};
const local = new Map([["main.py", 120], ["data/sales.csv", 40], ["out/report.csv", null]]);
const lastRun = { paths: ["out/report.csv"], more: 0 };

check("a listed file's row: its path, its size, and what the last run wrote", () => {
  const rows = files.fileItems(listing, local, lastRun);
  assert.deepStrictEqual(rows.map((r) => [r.path, r.description]), [
    ["main.py", "120 B"],
    ["data/sales.csv", "41 B"],
    ["out/report.csv", "2 KB · written by the last run"],
    ["notes.txt", "9 B"],
  ]);
  assert.deepStrictEqual(rows.map((r) => r.lastRun), [false, false, true, false]);
  assert.ok(rows.every((r) => r.type === "file" && r.kind === undefined), "no `kind`: VS Code reads it as the item's kind");
});
check("a row says whether the file is missing here or of another size here", () => {
  const rows = files.fileItems(listing, local, lastRun);
  assert.deepStrictEqual(rows.map((r) => r.local), ["sameSize", "differs", "missing", "unknown"]);
  assert.strictEqual(rows[0].detail, undefined);
  assert.strictEqual(rows[1].detail, "Differs from the file here (40 B here)");
  assert.strictEqual(rows[2].detail, "Only in the sandbox: not in the workspace here");
  assert.strictEqual(rows[1].label, "$(diff) data/sales.csv");
  assert.strictEqual(rows[2].label, "$(cloud) out/report.csv");
  assert.strictEqual(rows[0].label, "$(file) main.py");
});
check("paths are compared as the workspace-relative paths they are", () => {
  assert.strictEqual(files.normalise("./data\\sales.csv"), "data/sales.csv");
  assert.strictEqual(files.normalise("extra/"), "extra");
  const rows = files.fileItems({ root: "/r", files: [{ path: "./out/report.csv", size: 3, mtime: 0 }], more: 0 }, new Map(), { paths: ["out\\report.csv"], more: 0 });
  assert.ok(rows[0].lastRun && rows[0].path === "out/report.csv", JSON.stringify(rows[0]));
});
check("the list's title counts the files and names where they are; files past the listing are said", () => {
  assert.strictEqual(files.listTitle(listing, "work"), "Sandbox files of work: 4 files in /mnt/data/work");
  assert.strictEqual(files.listTitle({ root: "/m", files: [listing.files[0]], more: 0 }, "w"), "Sandbox files of w: 1 file in /m");
  assert.strictEqual(files.listTitle({ ...listing, more: 996 }, "work"), "Sandbox files of work: 1000 files in /mnt/data/work");
  assert.strictEqual(files.moreItem(listing), undefined);
  assert.deepStrictEqual(files.moreItem({ ...listing, more: 7 }), { type: "note", label: "… and 7 more, not listed" });
  assert.ok(files.emptyListing("work").includes("the sandbox's copy of work has no files yet"));
});
check("Fetch offers the last run's files first, as one row, when it wrote any", () => {
  const items = files.fetchItems(listing, local, { paths: ["out/report.csv", "a.csv", "b.csv", "c.csv"], more: 2 });
  assert.strictEqual(items[0].type, "lastRun");
  assert.strictEqual(items[0].description, "6 files");
  assert.strictEqual(items[0].detail, "out/report.csv, a.csv, b.csv, … (3 more)");
  assert.deepStrictEqual(items.slice(1).map((i) => i.path), listing.files.map((f) => f.path));
  // A run that wrote nothing, or no run: no such row.
  assert.ok(!files.fetchItems(listing, local, { paths: [], more: 0 }).some((i) => i.type === "lastRun"));
  assert.ok(!files.fetchItems(listing, local, undefined).some((i) => i.type === "lastRun"));
  assert.strictEqual(files.fetchItems(listing, local, lastRun)[0].description, "1 file");
  assert.strictEqual(files.fetchItems({ ...listing, more: 3 }, local).at(-1).type, "note");
});
check("the fetch requests for what was picked", () => {
  const rows = files.fetchItems(listing, local, lastRun);
  const [all, main, sales, report] = rows;
  assert.deepStrictEqual(files.fetchRequests([], lastRun), []);
  assert.deepStrictEqual(files.fetchRequests([main, sales], lastRun), [["main.py", "data/sales.csv"]]);
  // The last run's files and others: one request, each path once.
  assert.deepStrictEqual(files.fetchRequests([all, report, main], lastRun), [["out/report.csv", "main.py"]]);
  // Past the first 100 the client does not know them all: the command with
  // no paths (the server's list), then the others.
  const many = { paths: ["out/report.csv"], more: 150 };
  assert.deepStrictEqual(files.fetchRequests([all, report, main], many), [undefined, ["main.py"]]);
  assert.deepStrictEqual(files.fetchRequests([all], many), [undefined]);
});
check("Send groups a selection by workspace, relative to it, without what a selected folder holds", () => {
  const groups = files.sendGroups([
    { path: "/w/extra", workspace: "/w", inFolder: true, isFolder: true },
    { path: "/w/extra/rates.csv", workspace: "/w", inFolder: true, isFolder: false },
    { path: "/w/notes.txt", workspace: "/w", inFolder: true, isFolder: false },
    { path: "/w/notes.txt", workspace: "/w", inFolder: true, isFolder: false },
    { path: "/v/data/a.csv", workspace: "/v", inFolder: true, isFolder: false },
    { path: "/w", workspace: "/w", inFolder: true, isFolder: true },
  ]);
  // The workspace folder itself is selected too: everything else in /w is in it.
  assert.deepStrictEqual(groups, [
    { workspace: "/v", anchor: "/v", paths: ["data/a.csv"] },
    { workspace: "/w", anchor: "/w", paths: ["."] },
  ]);
  const two = files.sendGroups([
    { path: "/w/extra", workspace: "/w", inFolder: true, isFolder: true },
    { path: "/w/extras.txt", workspace: "/w", inFolder: true, isFolder: false },
  ]);
  assert.deepStrictEqual(two, [{ workspace: "/w", anchor: "/w", paths: ["extra", "extras.txt"] }], "extras.txt is not inside extra/");
});
check("outside any folder, a selected path names the workspace (the server takes its directory)", () => {
  const groups = files.sendGroups([{ path: "/tmp/lone/script.py", workspace: "/tmp/lone", inFolder: false, isFolder: false }]);
  assert.deepStrictEqual(groups, [{ workspace: "/tmp/lone", anchor: "/tmp/lone/script.py", paths: ["script.py"] }]);
});
check("what is sent, in words", () => {
  assert.strictEqual(files.describePaths(["main.py"]), "main.py");
  assert.strictEqual(files.describePaths(["extra", "notes.txt"], new Set(["extra"])), "extra/ and notes.txt");
  assert.strictEqual(files.describePaths(["a", "b", "c", "d"]), "a, b and 2 more");
  assert.strictEqual(files.describePaths(["."]), "the whole workspace");
});
check("Send's picker lists the folders, then the files", () => {
  const items = files.sendPickerItems(["main.py", "extra/rates.csv", "extra/deep/x.txt", "./main.py"]);
  assert.deepStrictEqual(items.map((i) => [i.label, i.path, i.isFolder]), [
    ["$(folder) extra/", "extra", true],
    ["$(folder) extra/deep/", "extra/deep", true],
    ["$(file) extra/deep/x.txt", "extra/deep/x.txt", false],
    ["$(file) extra/rates.csv", "extra/rates.csv", false],
    ["$(file) main.py", "main.py", false],
  ]);
});
check("a fetch's transferred: what was saved where, what was kept both ways, what was already here", () => {
  const outcome = files.fetchOutcome("/w/", [
    { path: "out/report.csv", savedAs: "/w/out/report (sandbox).csv", keptBoth: true },
    { path: "main.py", savedAs: "/w/main.py", unchanged: true },
    { path: "new.csv", savedAs: "/w/new.csv" },
  ]);
  assert.deepStrictEqual(outcome.saved, ["/w/out/report (sandbox).csv", "/w/main.py", "/w/new.csv"]);
  assert.deepStrictEqual(outcome.conflicts, [{ path: "out/report.csv", local: "/w/out/report.csv", sandbox: "/w/out/report (sandbox).csv" }]);
  assert.deepStrictEqual(outcome.unchanged, ["main.py"]);
  assert.strictEqual(
    files.conflictMessage(outcome.conflicts),
    "Azure Sandbox: out/report.csv here differs from the sandbox's, so both are kept: the sandbox's is saved beside it as report (sandbox).csv.",
  );
  assert.strictEqual(files.conflictMessage([]), undefined);
  const two = files.conflictMessage([...outcome.conflicts, { path: "a.csv", local: "/w/a.csv", sandbox: "/w/a (sandbox 2).csv" }]);
  assert.ok(two.startsWith("Azure Sandbox: 2 files here differ") && two.includes("a.csv (as a (sandbox 2).csv)"), two);
});
check("a refused request's message is the server's, said plainly", () => {
  assert.strictEqual(
    files.errorMessage("could not list the sandbox's files", { code: -32603, message: "the sandbox could not be reached" }),
    "Azure Sandbox: could not list the sandbox's files: the sandbox could not be reached",
  );
  assert.strictEqual(files.errorMessage("could not send x", new Error("name at least one file")), "Azure Sandbox: could not send x: name at least one file");
});

finish("vscode files");
