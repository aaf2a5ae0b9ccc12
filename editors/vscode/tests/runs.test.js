// Checks src/runs.ts in plain Node: what the runs panel makes of an
// azureSandbox/runFinished (its outputs in order, figures, tables, errors and
// notices), when it opens by itself, and its file format.
// Usage: node tests/runs.test.js (after npm ci).
const assert = require("assert");
const { load, checks } = require("./unit");

const runs = load("runs");
const { check, finish } = checks();

const figure = { uri: "file:///c/f/1.png", path: "/c/f/1.png", mime: "image/png", width: 640, height: 480, bytes: 23411 };
const run = {
  runId: 3, kind: "python", label: "cell 2 of plot.py", status: "raised", durationMs: 120,
  uri: "file:///w/plot.py", firstLine: 4, lastLine: 9, notices: [], error: null,
  code: "print('hello')\n",
  outputs: [
    { kind: "stream", stream: "stdout", text: "hello\n" },
    { kind: "stream", stream: "stdout", text: "again\n" },
    { kind: "stream", stream: "stderr", text: "warning\n" },
    { kind: "display", data: { "text/plain": "<Figure size 640x480 with 1 Axes>" }, figure },
    { kind: "display", data: { "text/html": "<table><tr><td>1</td></tr></table>", "text/plain": "   a\n0  1" } },
    { kind: "value", text: "42" },
    { kind: "error", type: "ValueError", message: "bad", traceback: "Traceback ...\nValueError: bad\n" },
  ],
  figures: [figure],
};

check("outputs keep the run's order, consecutive pieces of a stream joined", () => {
  assert.deepStrictEqual(runs.panelOutputs(run), [
    { kind: "stdout", text: "hello\nagain\n" },
    { kind: "stderr", text: "warning\n" },
    { kind: "rich", items: [{ mime: "image/png", figure: 0 }, { mime: "text/plain", text: "<Figure size 640x480 with 1 Axes>" }] },
    { kind: "rich", items: [{ mime: "text/html", text: "<table><tr><td>1</td></tr></table>" }, { mime: "text/plain", text: "   a\n0  1" }] },
    { kind: "rich", items: [{ mime: "text/plain", text: "42" }] },
    { kind: "error", name: "ValueError", message: "bad", stack: "Traceback ...\nValueError: bad\n" },
  ]);
});
check("a figure, a table, markdown or LaTeX is rich output; plain text is not", () => {
  assert.strictEqual(runs.hasRichOutput(run), true);
  assert.strictEqual(runs.hasRichOutput({ ...run, outputs: [{ kind: "display", data: { "text/html": "<b>x</b>" } }] }), true);
  assert.strictEqual(runs.hasRichOutput({ ...run, outputs: [{ kind: "display", data: { "text/latex": "$x$" } }] }), true);
  assert.strictEqual(runs.hasRichOutput({ ...run, outputs: [{ kind: "display", data: { "text/plain": "x" } }, { kind: "value", text: "1" }] }), false);
  assert.strictEqual(runs.hasRichOutput({ ...run, outputs: undefined }), false);
});
check("a traceback sent as stderr before the error (traceback: null) becomes the error's", () => {
  const traceback = "Traceback (most recent call last):\n  File \"main.py\", line 5, in ratio\n    return a / b\nZeroDivisionError: division by zero\n";
  const raised = { ...run, outputs: [
    { kind: "stream", stream: "stdout", text: "héllo\n" },
    { kind: "stream", stream: "stderr", text: "a warning\n" + traceback },
    { kind: "error", type: "ZeroDivisionError", message: "division by zero", traceback: null },
  ] };
  assert.deepStrictEqual(runs.panelOutputs(raised), [
    { kind: "stdout", text: "héllo\n" },
    { kind: "stderr", text: "a warning\n" },
    { kind: "error", name: "ZeroDivisionError", message: "division by zero", stack: traceback },
  ]);
  // Only a traceback goes; other stderr stays.
  const plain = { ...run, outputs: [
    { kind: "stream", stream: "stderr", text: "no traceback here\n" },
    { kind: "error", type: "ValueError", message: "bad", traceback: null },
  ] };
  assert.deepStrictEqual(runs.panelOutputs(plain), [
    { kind: "stderr", text: "no traceback here\n" },
    { kind: "error", name: "ValueError", message: "bad", stack: undefined },
  ]);
});
check("a run that was not run says why, as an error", () => {
  const failed = { ...run, status: "failed", outputs: [], error: { kind: "noLocalPython", message: "python3 was not found" } };
  assert.deepStrictEqual(runs.panelOutputs(failed), [{ kind: "error", name: "Not run", message: "python3 was not found" }]);
  const cancelled = { ...run, status: "cancelled", durationMs: null, outputs: [], error: null };
  assert.deepStrictEqual(runs.panelOutputs(cancelled), [{ kind: "error", name: "Cancelled", message: "cancelled" }]);
});
check("a relaunched environment and dropped displays are said", () => {
  const outputs = runs.panelOutputs({
    ...run,
    outputs: [{ kind: "stream", stream: "stdout", text: "x\n" }],
    notices: [{ kind: "stateLost", reason: "expired" }, { kind: "displaysDropped", count: 2, bytes: 12000000 },
      { kind: "displaysLost", count: 1 }, { kind: "outputDropped", stream: "stdout", characters: 5000 }, { kind: "somethingNew" }],
  });
  assert.strictEqual(outputs[0].kind, "stderr");
  assert.ok(outputs[0].text.includes("expired and was relaunched"), outputs[0].text);
  assert.deepStrictEqual(outputs[1], { kind: "stdout", text: "x\n" });
  assert.strictEqual(outputs.length, 3);
  assert.ok(outputs[2].kind === "stderr" && outputs[2].text.includes("2 displays (12.0 MB) not shown"), JSON.stringify(outputs[2]));
  assert.ok(outputs[2].text.includes("1 display made by the run could not be fetched"), outputs[2].text);
  assert.ok(outputs[2].text.includes("stdout: 5000 characters past the output limit"), outputs[2].text);
});
check("figures come from `figures`, else from the outputs", () => {
  assert.deepStrictEqual(runs.figuresOf(run), [figure]);
  assert.deepStrictEqual(runs.figuresOf({ ...run, figures: undefined }), [figure]);
});
check("figures in a few words, and their file extension", () => {
  assert.strictEqual(runs.describeFigure(figure), "PNG 640×480, 23 KB");
  assert.strictEqual(runs.describeFigure({ path: "/x.svg", mime: "image/svg+xml", bytes: 2_500_000 }), "SVG, 2.5 MB");
  assert.strictEqual(runs.figureExtension("image/svg+xml"), "svg");
  assert.strictEqual(runs.figureExtension("image/jpeg"), "jpg");
  assert.strictEqual(runs.figureExtension("image/png"), "png");
});
check("how a run ended, in words", () => {
  assert.strictEqual(runs.statusWords({ status: "succeeded", durationMs: 120 }), "succeeded in 120 ms");
  assert.strictEqual(runs.statusWords({ status: "raised", durationMs: 2500 }), "raised in 2.5 s");
  assert.strictEqual(runs.statusWords({ status: "failed", durationMs: null }), "not run");
});
check("the file keeps text as text and images as base64, byte for byte", () => {
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 255, 10, 13]);
  const stored = runs.storeItem("image/png", png);
  assert.ok(stored.base64 && stored.text === undefined);
  const html = runs.storeItem("text/html", new TextEncoder().encode("<b>é</b>"));
  assert.deepStrictEqual(html, { mime: "text/html", text: "<b>é</b>" });
  const text = runs.encodeNotebook([{ kind: "code", language: "python", source: "1", outputs: [{ items: [stored, html] }] }]);
  const [cell] = runs.decodeNotebook(text);
  assert.deepStrictEqual(Array.from(runs.loadItem(cell.outputs[0].items[0]).data), Array.from(png));
  assert.strictEqual(new TextDecoder().decode(runs.loadItem(cell.outputs[0].items[1]).data), "<b>é</b>");
  assert.deepStrictEqual(runs.decodeNotebook(""), []);
  assert.deepStrictEqual(runs.decodeNotebook("not json"), []);
});
check("the oldest cells go past the count or byte bound, never the newest", () => {
  assert.strictEqual(runs.cellsToDrop([1, 1, 1], 5, 100), 0);
  assert.strictEqual(runs.cellsToDrop([1, 1, 1, 1, 1, 1, 1], 5, 100), 2);
  assert.strictEqual(runs.cellsToDrop([60, 30, 30], 5, 100), 1);
  assert.strictEqual(runs.cellsToDrop([60, 30, 300], 5, 100), 2);
});

finish("vscode runs panel");
