"""`azure-sandbox-lsp mcp` through the official MCP Python SDK, as an agent
uses it: a stdio client that lists the tools, runs code, shares the
environment with the command line's `run`, and reads errors, figures and
files. Run by tests/integration/agents.rs, which starts serve-local with a
sentinel key and checks afterwards that the key is nowhere.

Environment: AZSB_BIN (the binary), AZSB_WORKSPACE (a workspace with
data.csv and analysis.py), AZSB_SERVER_LOG (the server's stderr goes there),
AZSB_SCENARIO (`shared`: the main scenario; `local`: handed the editor's
embedded local sandbox; `no-az`: a pool without the Azure CLI signed in), and what the server needs (AZURE_SANDBOX_MCP_ENDPOINT,
AZURE_SANDBOX_API_KEY or AZURE_SANDBOX_POOL, AZURE_SANDBOX_CACHE_DIR,
PATH), passed on explicitly: the SDK gives a server only a few variables.
"""

import base64
import json
import os
import subprocess
import sys

import anyio
import jsonschema
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

BIN = os.environ["AZSB_BIN"]
WORKSPACE = os.environ["AZSB_WORKSPACE"]
PASSED = [
    "PATH",
    "HOME",
    "AZURE_SANDBOX_MCP_ENDPOINT",
    "AZURE_SANDBOX_API_KEY",
    "AZURE_SANDBOX_POOL",
    "AZURE_SANDBOX_CACHE_DIR",
    "AZURE_SANDBOX_LOG",
]
EXPECTED_TOOLS = {
    "run_python",
    "run_shell",
    "install_package",
    "list_variables",
    "send_files",
    "fetch_files",
    "list_files",
    "restart_environment",
}


def server_env():
    return {name: os.environ[name] for name in PASSED if name in os.environ}


def text_of(result):
    return "".join(c.text for c in result.content if c.type == "text")


def check(condition, what, result=None):
    if not condition:
        detail = ""
        if result is not None:
            detail = "\n--- result ---\n%s\n%s" % (text_of(result), json.dumps(result.structured_content, indent=1))
        raise AssertionError(what + detail)
    print("ok:", what, file=sys.stderr)


def cli_run(path, *args):
    """`azure-sandbox-lsp run` from the command line, in the same workspace
    against the same endpoint (same environment variables)."""
    done = subprocess.run(
        [BIN, "run", path, *args],
        cwd=WORKSPACE,
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done


async def tools_and_schemas(session):
    listed = await session.list_tools()
    names = {tool.name for tool in listed.tools}
    check(names == EXPECTED_TOOLS, "the server lists its eight tools (got %s)" % sorted(names))
    for tool in listed.tools:
        jsonschema.Draft202012Validator.check_schema(tool.input_schema)
        check(tool.input_schema.get("type") == "object", "%s: its input schema is an object schema" % tool.name)
        check(tool.output_schema is not None, "%s: it has an output schema" % tool.name)
        jsonschema.Draft202012Validator.check_schema(tool.output_schema)
        check(len(tool.description or "") > 60, "%s: its description says what it does" % tool.name)
    run = next(t for t in listed.tools if t.name == "run_python")
    check(set(run.input_schema["properties"]) >= {"code", "file", "first_line", "last_line"}, "run_python takes code, file and lines")
    return {tool.name: tool for tool in listed.tools}


def valid_output(tools, name, result):
    jsonschema.validate(result.structured_content, tools[name].output_schema)


async def shared(session):
    tools = await tools_and_schemas(session)

    # The agent defines a DataFrame from a workspace file (sent by the mirror).
    result = await session.call_tool(
        "run_python",
        {"code": "import pandas as pd\nagent_df = pd.read_csv('data.csv')\nprint(agent_df['y'].sum())\nagent_df.shape"},
    )
    check(not result.is_error and result.structured_content["stdout"] == "6\n", "the agent reads data.csv from the workspace", result)
    check(result.structured_content["value"] == "(2, 2)", "the trailing value comes back", result)
    valid_output(tools, "run_python", result)

    # The command line sees the agent's DataFrame, and defines a name of its own.
    done = cli_run("uses_agent.py")
    check(done.returncode == 0 and "agent rows: 2" in done.stdout, "`run` from the command line sees the agent's DataFrame:\n%s%s" % (done.stdout, done.stderr))
    result = await session.call_tool("run_python", {"code": "print(from_cli * 2)"})
    check(not result.is_error and result.structured_content["stdout"] == "84\n", "the agent sees the name `run` defined", result)

    # Variables: both processes' names, as the environment has them now.
    result = await session.call_tool("list_variables", {})
    names = {v["name"]: v for v in result.structured_content["variables"]}
    check(not result.is_error and {"agent_df", "from_cli"} <= set(names), "list_variables lists the agent's and the command line's names", result)
    check(names["agent_df"]["type"] == "pandas.DataFrame" and names["agent_df"]["columns"] == ["x", "y"], "a DataFrame is listed with its columns", result)
    valid_output(tools, "list_variables", result)
    result = await session.call_tool("list_variables", {"path": ["agent_df"]})
    check(not result.is_error and [v["name"] for v in result.structured_content["variables"]] == ["x", "y"], "one level inside a DataFrame: its columns", result)

    # An error at the file's own lines: a range of analysis.py, then code said to start at its line 10.
    result = await session.call_tool("run_python", {"file": "analysis.py", "first_line": 3, "last_line": 4})
    error = result.structured_content.get("error") or {}
    check(result.is_error and error.get("type") == "ZeroDivisionError" and error.get("line") == 4, "an error in lines 3-4 of analysis.py is at line 4", result)
    check(error.get("file", "").endswith("analysis.py") and "analysis.py" in text_of(result), "the error names analysis.py", result)
    result = await session.call_tool("run_python", {"file": "analysis.py", "first_line": 10, "code": "a = 1\nb = undefined_name\n"})
    error = result.structured_content.get("error") or {}
    check(result.is_error and error.get("type") == "NameError" and error.get("line") == 11, "code said to start at line 10 fails at line 11", result)
    result = await session.call_tool("run_python", {"file": "analysis.py"})
    check(result.is_error and (result.structured_content.get("error") or {}).get("line") == 4, "the whole file runs as python3 runs it, failing at line 4", result)

    # A figure comes back as image content, and is saved as a file.
    result = await session.call_tool(
        "run_python",
        {"code": "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('agent')\nplt.show()"},
    )
    images = [c for c in result.content if c.type == "image"]
    check(not result.is_error and len(images) == 1 and images[0].mime_type == "image/png", "a matplotlib figure is image content", result)
    check(base64.b64decode(images[0].data).startswith(b"\x89PNG\r\n\x1a\n"), "the image is a PNG")
    figure = result.structured_content["figures"][0]
    check(os.path.getsize(figure["path"]) == figure["bytes"], "the figure's file is on this machine, whole", result)

    # A long run reports progress to a client that asks for it.
    heard = []

    async def on_progress(progress, total, message):
        heard.append(message)

    result = await session.call_tool("run_python", {"code": "import time\ntime.sleep(2.5)\nprint('slept')"}, progress_callback=on_progress)
    check(not result.is_error and any((m or "").startswith("running, ") for m in heard), "a long run reports progress (heard %s)" % heard, result)

    # Shell: output and exit status.
    result = await session.call_tool("run_shell", {"command": "ls data.csv; echo oops >&2; exit 3"})
    check(result.is_error and result.structured_content.get("exitCode") == 3, "a shell command's exit status comes back", result)
    check(result.structured_content["stdout"] == "data.csv\n" and result.structured_content["stderr"] == "oops\n", "and its stdout and stderr", result)
    valid_output(tools, "run_shell", result)
    result = await session.call_tool("run_shell", {"command": "   "})
    check(result.is_error and "command" in text_of(result), "an empty command is refused with a message", result)

    # Files out: a run writes one, the agent fetches it into the workspace.
    result = await session.call_tool("run_python", {"code": "agent_df.to_csv('agent_out.csv', index=False)"})
    written = [f["path"] for f in result.structured_content.get("filesWritten", [])]
    check(not result.is_error and written == ["agent_out.csv"], "the file a run wrote is listed", result)
    result = await session.call_tool("list_files", {})
    listed = [f["path"] for f in result.structured_content["files"]]
    check(not result.is_error and "agent_out.csv" in listed and "data.csv" in listed, "list_files shows the environment's copy", result)
    valid_output(tools, "list_files", result)
    result = await session.call_tool("fetch_files", {"paths": ["agent_out.csv"]})
    local = os.path.join(WORKSPACE, "agent_out.csv")
    check(not result.is_error and os.path.exists(local), "fetch_files brings it into the workspace", result)
    with open(local) as f:
        check(f.read() == "x,y\n1,2\n3,4\n", "with the bytes the run wrote")
    valid_output(tools, "fetch_files", result)

    # Files in: one .gitignore leaves out is not mirrored until sent.
    result = await session.call_tool("run_python", {"code": "open('ignored.csv').read()"})
    check(result.is_error and result.structured_content["error"]["type"] == "FileNotFoundError", "an ignored file is not in the environment", result)
    result = await session.call_tool("send_files", {"paths": ["ignored.csv"]})
    check(not result.is_error and result.structured_content["ok"], "send_files sends it", result)
    valid_output(tools, "send_files", result)
    result = await session.call_tool("run_python", {"code": "print(open('ignored.csv').read(), end='')"})
    check(not result.is_error and result.structured_content["stdout"] == "kept out\n", "and the next run reads it", result)

    # Paths outside the workspace are refused, whichever way they are named.
    for name, arguments in [
        ("fetch_files", {"paths": ["../escaped.txt"]}),
        ("fetch_files", {"paths": ["/etc/passwd"]}),
        ("send_files", {"paths": ["/etc/passwd"]}),
        ("send_files", {"paths": ["../"]}),
        ("run_python", {"file": "/etc/hostname"}),
    ]:
        result = await session.call_tool(name, arguments)
        check(result.is_error and ("outside" in text_of(result) or "relative" in text_of(result)), "%s %s is refused" % (name, arguments), result)
    check(not os.path.exists(os.path.join(os.path.dirname(WORKSPACE), "escaped.txt")), "nothing landed outside the workspace")

    # Bad input: an error result, and the server goes on serving.
    result = await session.call_tool("run_python", {})
    check(result.is_error and "code" in text_of(result), "run_python with nothing to run says what to give", result)
    result = await session.call_tool("install_package", {"package": "--index-url=http://evil"})
    check(result.is_error, "an option instead of a package is refused", result)
    try:
        result = await session.call_tool("no_such_tool", {})
        unknown_failed = result.is_error
    except Exception:  # a protocol error: the SDK raises it
        unknown_failed = True
    check(unknown_failed, "an unknown tool is an error")
    result = await session.call_tool("run_python", {"code": "print('still here')"})
    check(not result.is_error and result.structured_content["stdout"] == "still here\n", "the server still serves after bad calls", result)

    # Restart: a new, empty environment, for the command line too.
    result = await session.call_tool("restart_environment", {})
    check(not result.is_error and result.structured_content["ok"], "restart_environment replaces the environment", result)
    result = await session.call_tool("run_python", {"code": "print('agent_df' in globals())"})
    check(result.structured_content["stdout"] == "False\n", "the agent's names are gone after the restart", result)
    done = cli_run("uses_agent.py")
    check(done.returncode == 1 and "NameError" in done.stderr, "and the command line's run sees the new environment too:\n%s" % done.stderr)


async def local(session):
    # Handed the editor's embedded local sandbox: the editor's names are here.
    result = await session.call_tool("run_python", {"code": "print(editor_value)\nagent_value = editor_value - 2"})
    check(not result.is_error and result.structured_content["stdout"] == "7\n", "the agent sees what the editor's run defined", result)


async def no_az(session):
    result = await session.call_tool("run_python", {"code": "print(1)"})
    check(result.is_error and "az login" in text_of(result), "a pool without `az login` is a tool error that says to sign in", result)
    result = await session.call_tool("list_variables", {})
    check(result.is_error and "az login" in text_of(result), "so is listing variables", result)


async def main():
    scenario = os.environ.get("AZSB_SCENARIO", "shared")
    params = StdioServerParameters(command=BIN, args=["mcp", "--workspace", WORKSPACE], env=server_env(), cwd=WORKSPACE)
    with open(os.environ["AZSB_SERVER_LOG"], "a") as log:
        async with stdio_client(params, errlog=log) as (read, write):
            async with ClientSession(read, write) as session:
                initialized = await session.initialize()
                check(initialized.server_info.name == "azure-sandbox-lsp", "the server names itself")
                check(initialized.capabilities.tools is not None, "the server offers tools")
                check("environment" in (initialized.instructions or ""), "the server gives instructions")
                await {"shared": shared, "local": local, "no-az": no_az}[scenario](session)
    print("all checks passed", file=sys.stderr)


if __name__ == "__main__":
    anyio.run(main)
