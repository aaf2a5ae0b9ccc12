// Checks src/agentServers.ts in plain Node: the agents' MCP server as VS
// Code's provider describes it (one `azure-sandbox-lsp mcp` per folder) and
// what it starts with: the pool or endpoint from the settings; the key only
// when it starts, never in a listed definition; for the local sandbox, the
// language server's embedded one with the key the extension chose.
// Usage: node tests/agents.test.js (after npm ci).
const assert = require("assert");
const { load, checks } = require("./unit");

const agents = load("agentServers");
const { check, finish } = checks();

const base = {
  serverPath: "/ext/server/azure-sandbox-lsp",
  folders: [{ name: "proj", path: "/home/me/proj" }],
  endpoint: "",
  pool: "",
  backend: "auto",
  localPython: "",
  allowInsecureHttp: false,
  version: "0.1.0+1",
};

check("one server per folder, named after it when there are several", () => {
  const one = agents.agentServers(base);
  assert.deepStrictEqual(one.map((s) => [s.label, s.command, s.args]), [["Azure Sandbox", base.serverPath, ["mcp", "--workspace", "/home/me/proj"]]]);
  const two = agents.agentServers({ ...base, folders: [...base.folders, { name: "lib", path: "/home/me/lib" }] });
  assert.deepStrictEqual(two.map((s) => s.label), ["Azure Sandbox (proj)", "Azure Sandbox (lib)"]);
  assert.deepStrictEqual(two[1].args, ["mcp", "--workspace", "/home/me/lib"]);
});

check("a pool goes in the environment, and no key is in a listed definition", () => {
  const [server] = agents.agentServers({ ...base, pool: "sub/rg/pool" });
  assert.deepStrictEqual(server.env, { AZURE_SANDBOX_POOL: "sub/rg/pool" });
  const started = agents.startEnvironment(server, false, { apiKey: "secret-from-store", localKey: "k" });
  assert.deepStrictEqual(started.env, { AZURE_SANDBOX_POOL: "sub/rg/pool" }, "a pool's key comes from az, not the store");
});

check("an endpoint gets the secret store's key only when the server starts", () => {
  const [server] = agents.agentServers({ ...base, endpoint: "https://pool.example/mcp", allowInsecureHttp: true });
  assert.deepStrictEqual(server.env, { AZURE_SANDBOX_MCP_ENDPOINT: "https://pool.example/mcp" });
  assert.ok(server.args.includes("--allow-insecure-http"));
  assert.ok(!JSON.stringify(server).includes("secret-from-store"));
  const started = agents.startEnvironment(server, false, { apiKey: "secret-from-store", localKey: "k" });
  assert.strictEqual(started.env.AZURE_SANDBOX_API_KEY, "secret-from-store");
  assert.ok(!("AZURE_SANDBOX_API_KEY" in server.env), "the listed definition is not changed");
});

check("the local sandbox: the language server's embedded one, with the key the extension chose", () => {
  assert.ok(agents.usesLocalSandbox(base));
  assert.ok(agents.usesLocalSandbox({ ...base, endpoint: "https://x/mcp", backend: "local" }));
  assert.ok(!agents.usesLocalSandbox({ ...base, pool: "p" }));
  assert.ok(!agents.usesLocalSandbox({ ...base, backend: "azure" }));
  const [server] = agents.agentServers({ ...base, localPython: "/venv/bin/python" });
  const started = agents.startEnvironment(server, true, { localEndpoint: "http://127.0.0.1:4321/mcp", localKey: "chosen" });
  assert.deepStrictEqual(started.env, { AZURE_SANDBOX_MCP_ENDPOINT: "http://127.0.0.1:4321/mcp", AZURE_SANDBOX_API_KEY: "chosen" });
});

check("no running language server: a message, not a server in a sandbox of its own", () => {
  const [server] = agents.agentServers(base);
  const started = agents.startEnvironment(server, true, { localEndpoint: null, localKey: "chosen" });
  assert.ok(started.problem && started.problem.includes("not running"), JSON.stringify(started));
});

finish("vscode agents");
