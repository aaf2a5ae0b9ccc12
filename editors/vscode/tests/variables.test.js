// Checks src/variables.ts in plain Node: what the Sandbox variables view makes
// of an azureSandbox/variables answer (the rows of each state, a row's label,
// description and tooltip, a value's contents, the state line and a folder's
// state words) and how a variablesChanged URI is matched to a folder.
// Usage: node tests/variables.test.js (after npm ci).
const assert = require("assert");
const { load, checks } = require("./unit");

const variables = load("variables");
const { check, finish } = checks();

// As the server answers (docs/protocol.md, "Live state").
const df = { name: "df", type: "pandas.DataFrame", shape: "(3, 2)", size: 180, repr: "   a  b\n0  1  x\n1  2  y\n2  3  z", runId: 4, expandable: true };
const n = { name: "n", type: "int", shape: null, size: 28, repr: "42", runId: 4, expandable: false };
const items = { name: "items", type: "list", shape: "len 3", size: null, repr: "[1, 2, 3]", runId: 2, expandable: true };
const ready = { state: "ready", reason: null, message: null, variables: [df, items, n] };
const restarted = "The environment was restarted: it holds nothing yet.";

check("an empty snapshot is one message row: nothing has run", () => {
  const empty = { state: "empty", reason: null, message: null, variables: [] };
  assert.deepStrictEqual(variables.snapshotRows(empty, false), [{ kind: "message", label: "Nothing has run in this workspace yet", severity: "info" }]);
  assert.deepStrictEqual(variables.snapshotRows(empty, true), variables.snapshotRows(empty, false));
  assert.strictEqual(variables.stateLine(empty), undefined);
});
check("a ready snapshot is one row per name, in the server's order, with its path", () => {
  const rows = variables.snapshotRows(ready, false);
  assert.deepStrictEqual(rows.map((r) => [r.kind, r.label, r.path, r.expandable]), [
    ["variable", "df", ["df"], true],
    ["variable", "items", ["items"], true],
    ["variable", "n", ["n"], false],
  ]);
  assert.strictEqual(variables.stateLine(ready), undefined);
  assert.strictEqual(rows[2].repr, "42");
});
check("a row's description is its type and shape", () => {
  const [frame, list, int] = variables.snapshotRows(ready, false);
  assert.strictEqual(frame.description, "pandas.DataFrame (3, 2)");
  assert.strictEqual(list.description, "list len 3");
  assert.strictEqual(int.description, "int");
});
check("a row's tooltip has the size, the repr in a code block and the run that set it", () => {
  const tip = variables.snapshotRows(ready, false)[0].tooltip;
  assert.strictEqual(tip, "**df**: `pandas.DataFrame`, (3, 2), 180 B\n\n```text\n   a  b\n0  1  x\n1  2  y\n2  3  z\n```\n\nSet by run 4");
  // No size, no shape: neither is said.
  assert.strictEqual(variables.tooltip({ ...n, size: null }), "**n**: `int`\n\n```text\n42\n```\n\nSet by run 4");
  // A value's contents have no run.
  assert.ok(!variables.tooltip({ ...n, runId: null }).includes("run"));
});
check("a repr with backticks cannot close its code block; a name's Markdown is escaped", () => {
  const tip = variables.tooltip({ ...n, name: "my_var", repr: "'```'" });
  assert.ok(tip.includes("````text\n'```'\n````"), tip);
  assert.ok(tip.startsWith("**my\\_var**"), tip);
});
check("sizes as the server's hover says them", () => {
  assert.strictEqual(variables.humanBytes(999), "999 B");
  assert.strictEqual(variables.humanBytes(1499), "1 KB");
  assert.strictEqual(variables.humanBytes(1500), "2 KB");
  assert.strictEqual(variables.humanBytes(2_500_000), "2.5 MB");
});
check("a lost state lists nothing; its message is the state line (a row when folders share the view)", () => {
  const lost = { state: "lost", reason: "restarted", message: restarted, variables: [] };
  assert.deepStrictEqual(variables.snapshotRows(lost, false), []);
  assert.strictEqual(variables.stateLine(lost), restarted);
  assert.deepStrictEqual(variables.snapshotRows(lost, true), [{ kind: "message", label: restarted, tooltip: restarted, severity: "warning" }]);
  assert.strictEqual(variables.stateWords(lost), "lost: restarted");
  // With no message, the reason still says why.
  assert.ok(variables.stateLine({ state: "lost", reason: "interpreterReplaced", variables: [] }).includes("interpreterReplaced"));
});
check("ready with a reason: what the last run left, under why the rest went", () => {
  const message = "The sandbox environment had expired: what it held is gone. Run the cells you need again.";
  const after = { state: "ready", reason: "expired", message, variables: [n] };
  assert.strictEqual(variables.stateLine(after), message);
  assert.deepStrictEqual(variables.snapshotRows(after, false).map((r) => r.label), ["n"]);
  assert.deepStrictEqual(variables.snapshotRows(after, true).map((r) => r.label), [message, "n"]);
  assert.strictEqual(variables.stateWords(after), "1 name, after expired");
  assert.strictEqual(variables.stateWords({ ...after, reason: "interpreterReplaced", variables: [n, df] }), "2 names, after interpreter replaced");
});
check("ready after a restart or another sandbox: the names, without the stale reason", () => {
  // The server keeps a restart's reason until the second run after it.
  for (const reason of ["restarted", "sandboxChanged"]) {
    const after = { state: "ready", reason, message: restarted, variables: [n] };
    assert.strictEqual(variables.stateLine(after), undefined, reason);
    assert.deepStrictEqual(variables.snapshotRows(after, true).map((r) => r.label), ["n"], reason);
    assert.strictEqual(variables.stateWords(after), "1 name", reason);
  }
});
check("a ready snapshot with no names says so", () => {
  const none = { state: "ready", reason: null, message: null, variables: [] };
  assert.deepStrictEqual(variables.snapshotRows(none, false), [{ kind: "message", label: "The environment holds no variables", severity: "info" }]);
  assert.strictEqual(variables.stateWords(none), "0 names");
  assert.strictEqual(variables.stateWords({ state: "empty", variables: [] }), "nothing ran yet");
});
check("a value's contents: rows below its path, what is past the first 100, empty, missing", () => {
  const columns = { state: "ready", variables: [
    { name: "a", type: "pandas.Series", shape: "(3,)", size: 24, repr: "0    1\n1    2\n2    3", runId: null, expandable: true },
    { name: "b", type: "pandas.Series", shape: "(3,)", size: 24, repr: "0    x", runId: null, expandable: true },
  ], more: 0 };
  const rows = variables.contentRows(["df"], columns);
  assert.deepStrictEqual(rows.map((r) => [r.label, r.path, r.description]), [
    ["a", ["df", "a"], "pandas.Series (3,)"],
    ["b", ["df", "b"], "pandas.Series (3,)"],
  ]);
  const nested = variables.contentRows(["d", "beta"], { state: "ready", variables: [{ ...n, name: "0", runId: null }], more: 250 });
  assert.deepStrictEqual(nested.map((r) => r.path ?? r.label), [["d", "beta", "0"], "… 250 more"]);
  assert.deepStrictEqual(variables.contentRows(["e"], { state: "ready", variables: [], more: 0 }).map((r) => r.label), ["Empty"]);
  assert.deepStrictEqual(variables.contentRows(["gone"], { state: "ready", variables: [], missing: true }).map((r) => r.label), ["No longer there"]);
});
check("a failed request is an error row with the server's message", () => {
  const row = variables.errorRow({ code: -32603, message: "the sandbox could not be reached" });
  assert.deepStrictEqual(row, { kind: "message", label: "Could not list it: the sandbox could not be reached", tooltip: "the sandbox could not be reached", severity: "error" });
  assert.strictEqual(variables.errorRow(new Error("boom")).tooltip, "boom");
});
check("row ids are stable and tell paths apart", () => {
  assert.strictEqual(variables.rowId("file:///w", ["d", "beta"]), variables.rowId("file:///w", ["d", "beta"]));
  assert.notStrictEqual(variables.rowId("file:///w", ["a/b"]), variables.rowId("file:///w", ["a", "b"]));
  assert.notStrictEqual(variables.rowId("file:///w", ["d"]), variables.rowId("file:///v", ["d"]));
});
check("a variablesChanged URI matches its folder however it is escaped", () => {
  assert.ok(variables.sameFolder("file:///tmp/my%20work/", "file:///tmp/my%20work"));
  assert.ok(variables.sameFolder("file:///tmp/a%2Bb", "file:///tmp/a+b"));
  assert.ok(variables.sameFolder("file:///tmp/caf%C3%A9", "file:///tmp/café"));
  assert.ok(!variables.sameFolder("file:///tmp/a", "file:///tmp/ab"));
  assert.ok(!variables.sameFolder("file:///tmp/a", "file:///tmp/a/b"));
});

finish("vscode variables view");
