// Contributes `azure-sandbox-lsp mcp` to VS Code's agents (Copilot's agent
// mode) through `mcpServerDefinitionProviders` (VS Code 1.101 or later), so
// the agent runs code in the workspace's environment, the editor's own, with
// no mcp.json and no key in any file. What it runs shows in the output
// document, marked [agent] (the language server follows it).

import * as vscode from "vscode";
import { AgentServer, AgentServerInputs, agentServers, startEnvironment, usesLocalSandbox } from "./agentServers";

export const PROVIDER_ID = "azureSandbox.agentServers";

/** The part of VS Code's API this uses, which @types/vscode 1.82 lacks. */
interface McpStdioDefinition {
  label: string;
  command: string;
  args: string[];
  env: Record<string, string | number | null>;
  version?: string;
  cwd?: vscode.Uri;
}
type McpStdioDefinitionClass = new (
  label: string,
  command: string,
  args?: string[],
  env?: Record<string, string | number | null>,
  version?: string,
) => McpStdioDefinition;
interface McpProvider {
  onDidChangeMcpServerDefinitions?: vscode.Event<void>;
  provideMcpServerDefinitions(token: vscode.CancellationToken): McpStdioDefinition[];
  resolveMcpServerDefinition?(server: McpStdioDefinition, token: vscode.CancellationToken): Promise<McpStdioDefinition | undefined>;
}
interface LmWithMcp {
  registerMcpServerDefinitionProvider(id: string, provider: McpProvider): vscode.Disposable;
}

/** What the provider needs from the extension. */
export interface AgentHost {
  inputs(): AgentServerInputs | undefined;
  apiKey(): Promise<string | undefined>;
  /** The language server's embedded sandbox endpoint (`azureSandbox/localSandbox`). */
  localEndpoint(): Promise<string | null>;
  /** The key this extension gave the language server's embedded sandbox. */
  localKey: string;
}

/** Registers the provider when this VS Code has the API; returns whether it did. */
export function registerAgentServers(context: vscode.ExtensionContext, host: AgentHost): boolean {
  const lm = (vscode as unknown as { lm?: Partial<LmWithMcp> }).lm;
  const Definition = (vscode as unknown as { McpStdioServerDefinition?: McpStdioDefinitionClass }).McpStdioServerDefinition;
  if (!lm?.registerMcpServerDefinitionProvider || !Definition) {
    return false; // VS Code before 1.101: agents can still start the command themselves
  }
  const changed = new vscode.EventEmitter<void>();
  const described = new WeakMap<McpStdioDefinition, AgentServer>();
  context.subscriptions.push(
    changed,
    lm.registerMcpServerDefinitionProvider(PROVIDER_ID, {
      onDidChangeMcpServerDefinitions: changed.event,
      provideMcpServerDefinitions: () => {
        const inputs = host.inputs();
        if (!inputs) {
          return [];
        }
        return agentServers(inputs).map((server) => {
          const definition = new Definition(server.label, server.command, server.args, server.env, server.version);
          described.set(definition, server);
          return definition;
        });
      },
      resolveMcpServerDefinition: async (definition) => {
        const inputs = host.inputs();
        const server = described.get(definition);
        if (!inputs || !server) {
          return definition;
        }
        if (!vscode.workspace.isTrusted) {
          void vscode.window.showErrorMessage("Azure Sandbox: agents run code only in a trusted workspace.");
          return undefined;
        }
        const local = usesLocalSandbox(inputs);
        const started = startEnvironment(server, local, {
          apiKey: local ? undefined : await host.apiKey(),
          localEndpoint: local ? await host.localEndpoint() : undefined,
          localKey: host.localKey,
        });
        if ("problem" in started) {
          void vscode.window.showErrorMessage(started.problem);
          return undefined;
        }
        definition.env = started.env;
        return definition;
      },
    }),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("azureSandbox")) {
        changed.fire();
      }
    }),
    vscode.workspace.onDidChangeWorkspaceFolders(() => changed.fire()),
  );
  agentServersChanged = () => changed.fire();
  return true;
}

/** Tells VS Code the definitions changed (a new language server: a new
 *  embedded sandbox endpoint). */
export let agentServersChanged: () => void = () => undefined;
