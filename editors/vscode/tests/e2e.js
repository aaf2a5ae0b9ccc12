// Drives real VS Code (code-server) in Debian's chromium with playwright-core:
// the extension from its platform .vsix with the server bundled in it, the
// local sandbox.
// Usage: node e2e.js <workbench url> <artefact dir> <user settings.json> <extensions dir> <version>
const { chromium } = require("playwright-core");
const fs = require("fs");

const [url, artefacts, settingsFile, extensionsDir, version] = process.argv.slice(2);
// A line naming the installed extension's bundled server.
const namesBundled = (text) => text.replace(/\u00a0/g, " ").split("\n").some((line) =>
  line.trim().startsWith(`${extensionsDir}/azure-sandbox-lsp.azure-sandbox-${version}`) &&
  line.trim().endsWith("/server/azure-sandbox-lsp"));
const started = Date.now();
const log = (...parts) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s]`, ...parts);
const results = [];
const check = (name, ok, detail) => {
  results.push({ name, ok });
  log(`${ok ? "PASS" : "FAIL"} ${name}${ok || !detail ? "" : `: ${detail}`}`);
};

async function palette(page, command) {
  await page.keyboard.press("F1");
  await page.waitForSelector(".quick-input-widget input", { state: "visible", timeout: 20000 });
  await page.keyboard.type(command);
  await page.waitForTimeout(700);
  await page.keyboard.press("Enter");
}

async function visible(locator, timeout) {
  await locator.first().waitFor({ timeout }).catch(() => {});
  return (await locator.count()) > 0;
}

(async () => {
  fs.mkdirSync(artefacts, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
  const shot = (name) => page.screenshot({ path: `${artefacts}/${name}.png` }).catch(() => {});
  try {
    await page.goto(url);
    await page.waitForSelector(".monaco-workbench", { timeout: 90000 });
    log("workbench visible");
    const row = page.locator(".explorer-folders-view .monaco-list-row", { hasText: "main.py" });
    await row.first().waitFor({ timeout: 60000 });
    await row.first().dblclick();
    await page.waitForSelector(".monaco-editor .view-lines", { timeout: 30000 });

    // The lenses, rendered by the workbench from our server.
    const runLens = page.locator(".monaco-editor .codelens-decoration a", { hasText: "▶ Run in local sandbox" });
    check("the Run lens is shown on each cell", await visible(runLens, 60000) && (await runLens.count()) === 2, `${await runLens.count()} lenses`);
    await shot("1-lenses");

    // Cell 1 defines the function; its lens then shows the outcome.
    await runLens.nth(0).click();
    const done = page.locator(".monaco-editor .codelens-decoration", { hasText: "✓" });
    check("running cell 1 shows ✓ in its lens", await visible(done, 60000));

    // Cell 2 calls it and raises: the squiggle is on the line that raised.
    await runLens.nth(1).click();
    const squiggle = page.locator(".monaco-editor .squiggly-error");
    const squiggled = await visible(squiggle, 60000);
    check("an error squiggle appears", squiggled);
    if (squiggled) {
      const raising = await page.locator(".monaco-editor .view-line", { hasText: "return a / b" }).first().boundingBox();
      const mark = await squiggle.first().boundingBox();
      const same = raising && mark && Math.abs(raising.y - mark.y) < raising.height / 2;
      check("the squiggle is on line 5 (return a / b)", !!same, JSON.stringify({ raising, mark }));
    }
    const failedLens = page.locator(".monaco-editor .codelens-decoration", { hasText: "✗ ZeroDivisionError" });
    check("the cell's lens shows ✗ ZeroDivisionError", await visible(failedLens, 20000));
    await shot("2-error");

    // Hover over the call shows the run's output.
    await page.locator(".monaco-editor .view-line", { hasText: "ratio(1, 0)" }).first().locator("span span").first().hover();
    const hover = page.locator(".monaco-hover", { hasText: "héllo" });
    check("hover shows the output", await visible(hover, 20000));
    await shot("3-hover");
    await page.mouse.move(1400, 900);
    await page.keyboard.press("Escape");

    // The outcome lens opens the live output document (the virtual one, not
    // the server's file copy, whose name starts with a hash).
    await failedLens.locator("a", { hasText: "✗ ZeroDivisionError" }).first().click();
    const virtualTab = page.locator(".tabs-container .tab", { hasText: "workspace-output.txt" });
    check("the outcome lens opens the live output document", await visible(virtualTab, 30000));
    const fileTab = page.locator(".tabs-container .tab", { hasText: /[0-9a-f]{12}-workspace-output/ });
    check("not the file copy", (await fileTab.count()) === 0);
    await page.locator(".tabs-container .tab", { hasText: "main.py" }).first().click();

    // The status bar says where code runs.
    const status = page.locator(".statusbar-item", { hasText: "local sandbox" });
    check("the status bar shows the local sandbox", await visible(status, 10000));
    // Both runs ended (azureSandbox/runFinished), so the counter is back to none.
    const idle = page.locator(".statusbar-item", { hasText: "local sandbox: idle" });
    check("the status bar counts the finished runs down to idle", await visible(idle, 20000));
    // Its tooltip names the server that runs: the bundled one, with its version.
    await idle.first().hover();
    const tooltip = page.locator(".monaco-hover, .workbench-hover", { hasText: `Server: bundled with the extension, version ${version}` });
    const tooltipShown = await visible(tooltip, 10000);
    check("the status bar tooltip names the bundled server and its version", tooltipShown &&
      namesBundled(await tooltip.first().innerText()), tooltipShown ? await tooltip.first().innerText() : "no tooltip");
    await shot("4-status-tooltip");
    // The bundled server is the extension's own version: no mismatch warning.
    const mismatch = page.locator(".notifications-toasts, .notifications-center", { hasText: /older than|is older/ });
    check("no version mismatch warning", (await mismatch.count()) === 0, await mismatch.first().innerText().catch(() => ""));
    await page.mouse.move(1400, 900);

    // The output document, beside the code, with the transcript.
    await palette(page, "Azure Sandbox: Show Output");
    const transcript = page.locator(".monaco-editor .view-lines", { hasText: "Azure sandbox output for" });
    check("the output document opens", await visible(transcript, 30000));
    const traceback = page.locator(".monaco-editor .view-lines", { hasText: "ZeroDivisionError" });
    check("the transcript holds the traceback", (await traceback.count()) > 0);
    await shot("5-output");

    // The doctor command runs the server's checks and shows them.
    await palette(page, "Azure Sandbox: Run Doctor");
    const doctor = page.locator(".notifications-toasts", { hasText: "all checks passed" });
    check("Run Doctor reports all checks passed", await visible(doctor, 60000));
    const doctorLines = page.locator(".output-view, .panel", { hasText: "run print(1)" });
    check("the doctor's steps are in its output channel", await visible(doctorLines, 10000));
    // Its first lines name the server: scroll the channel back to the top.
    await page.locator(".panel .monaco-editor .view-lines").first().click();
    await page.keyboard.press("Control+Home");
    const doctorServer = page.locator(".output-view, .panel", { hasText: `Server: bundled with the extension, version ${version}` });
    const named = await visible(doctorServer, 10000);
    check("Run Doctor names the bundled server, its path and its version", named &&
      namesBundled(await doctorServer.first().innerText()) &&
      (await doctorServer.first().innerText()).replace(/\u00a0/g, " ").includes(`Extension: version ${version}`),
      named ? await doctorServer.first().innerText() : "no server line");
    await shot("6-doctor");

    // The API key goes to secret storage, not to settings.json.
    const sentinel = "sentinel-key-must-not-be-in-settings-5f2c";
    await palette(page, "Azure Sandbox: Set API Key");
    await page.waitForSelector(".quick-input-widget input[type=password]", { state: "visible", timeout: 20000 });
    await page.keyboard.type(sentinel);
    await page.keyboard.press("Enter");
    const saved = page.locator(".notifications-toasts", { hasText: "API key saved" });
    check("Set API Key saves and restarts the server", await visible(saved, 30000));
    const settings = fs.existsSync(settingsFile) ? fs.readFileSync(settingsFile, "utf8") : "";
    check("the key is not in settings.json", settings.length > 0 && !settings.includes(sentinel));
    // The restarted server still runs code.
    await page.locator(".monaco-editor .view-line", { hasText: "ratio(1, 0)" }).first().click();
    await runLens.nth(0).click().catch(() => {});
    check("runs work after the restart", await visible(done, 60000));
    await shot("7-after-restart");
  } catch (error) {
    check("no unexpected error", false, error.stack);
    await shot("error");
  } finally {
    await browser.close();
  }
  const failed = results.filter((r) => !r.ok).length;
  console.log(`vscode: ${results.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
