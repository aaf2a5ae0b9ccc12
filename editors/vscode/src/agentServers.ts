// The agents' MCP server as VS Code describes it (issue #16), the part that
// needs no editor: one `azure-sandbox-lsp mcp` per workspace folder, and the
// environment it starts with. No `vscode` import here: tests/agents.test.js
// checks this file in plain Node; src/agents.ts registers the provider.
//
// The key is never part of a definition VS Code lists or stores: `provide`
// gives definitions without it, and `resolve` (when the server starts) adds
// it to the process environment, from the secret store (Azure) or the key
// this extension chose for the language server's embedded sandbox (local).

/** The settings and facts a definition is made from. */
export interface AgentServerInputs {
  /** The azure-sandbox-lsp binary the language server runs. */
  serverPath: string;
  /** Workspace folders (file system paths) with their names. */
  folders: { name: string; path: string }[];
  endpoint: string;
  pool: string;
  /** `auto`, `azure` or `local`. */
  backend: string;
  localPython: string;
  allowInsecureHttp: boolean;
  /** The extension's version: a changed version makes VS Code restart it. */
  version: string;
}

/** One server definition, before VS Code's own class wraps it. */
export interface AgentServer {
  label: string;
  command: string;
  args: string[];
  /** Variables to set (never the key here). */
  env: Record<string, string>;
  version: string;
}

/** Which sandbox the agent's server uses, as the language server chooses it. */
export function usesLocalSandbox(inputs: Pick<AgentServerInputs, "endpoint" | "pool" | "backend">): boolean {
  return inputs.backend === "local" || (inputs.backend !== "azure" && !inputs.endpoint && !inputs.pool);
}

/** The definitions for every folder: what Copilot lists. */
export function agentServers(inputs: AgentServerInputs): AgentServer[] {
  const several = inputs.folders.length > 1;
  return inputs.folders.map((folder) => {
    const env: Record<string, string> = {};
    const args = ["mcp", "--workspace", folder.path];
    if (!usesLocalSandbox(inputs)) {
      if (inputs.endpoint) {
        env.AZURE_SANDBOX_MCP_ENDPOINT = inputs.endpoint;
      } else if (inputs.pool) {
        env.AZURE_SANDBOX_POOL = inputs.pool;
      }
      if (inputs.allowInsecureHttp) {
        args.push("--allow-insecure-http");
      }
    } else if (inputs.localPython) {
      env.AZURE_SANDBOX_PYTHON = inputs.localPython;
    }
    return {
      label: several ? `Azure Sandbox (${folder.name})` : "Azure Sandbox",
      command: inputs.serverPath,
      args,
      env,
      version: inputs.version,
    };
  });
}

/** What `resolve` adds when the server starts: the key for Azure, or the
 *  language server's embedded sandbox (endpoint and the key this extension
 *  gave it) for the local sandbox. An error message when it cannot start in
 *  the user's environment. */
export function startEnvironment(
  server: AgentServer,
  local: boolean,
  facts: { apiKey?: string; localEndpoint?: string | null; localKey: string },
): { env: Record<string, string> } | { problem: string } {
  const env = { ...server.env };
  if (local) {
    if (!facts.localEndpoint) {
      return {
        problem:
          "Azure Sandbox: the language server's local sandbox is not running, so the agent cannot share its " +
          "environment. Open a Python file of the workspace, then start the server again.",
      };
    }
    env.AZURE_SANDBOX_MCP_ENDPOINT = facts.localEndpoint;
    env.AZURE_SANDBOX_API_KEY = facts.localKey;
    delete env.AZURE_SANDBOX_PYTHON;
    return { env };
  }
  if (facts.apiKey && env.AZURE_SANDBOX_MCP_ENDPOINT) {
    env.AZURE_SANDBOX_API_KEY = facts.apiKey;
  }
  return { env };
}
