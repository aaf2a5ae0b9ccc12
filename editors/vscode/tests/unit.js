// What the plain-Node checks (tests/*.test.js) share: one of src/*.ts
// bundled for Node (it must not import `vscode`), and a list of named
// checks that prints PASS or FAIL for each and ends the process with the
// result. Usage: const { load, checks } = require("./unit");
const fs = require("fs");
const os = require("os");
const path = require("path");
const esbuild = require("esbuild");

/** Bundles src/NAME.ts for Node and loads it. */
exports.load = (name) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `azure-sandbox-vscode-${name}-`));
  const bundle = path.join(work, `${name}.js`);
  const entry = path.resolve(__dirname, "..", "src", `${name}.ts`);
  esbuild.buildSync({ entryPoints: [entry], bundle: true, platform: "node", format: "cjs", outfile: bundle, logLevel: "error" });
  try {
    return require(bundle);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
};

/** `check(name, body)` runs one check; `finish(title)` prints the count
 *  ("TITLE: N passed, M failed") and exits 1 if any failed. */
exports.checks = () => {
  const results = [];
  return {
    check(name, body) {
      try {
        body();
        results.push(true);
        console.log(`PASS ${name}`);
      } catch (error) {
        results.push(false);
        console.log(`FAIL ${name}: ${error.message}`);
      }
    },
    finish(title) {
      const failed = results.filter((ok) => !ok).length;
      console.log(`${title}: ${results.length - failed} passed, ${failed} failed`);
      process.exit(failed ? 1 : 0);
    },
  };
};
