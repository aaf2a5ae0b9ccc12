-- :checkhealth azure_sandbox
local M = {}

local health = vim.health or require("health")
local start = health.start or health.report_start
local ok = health.ok or health.report_ok
local warn = health.warn or health.report_warn
local error = health.error or health.report_error
local info = health.info or health.report_info

-- Compares "x.y.z" versions by their numbers: -1, 0 or 1, or nil when
-- either has no x.y.z.
local function compare(a, b)
  local x = { a:match("^(%d+)%.(%d+)%.(%d+)") }
  local y = { b:match("^(%d+)%.(%d+)%.(%d+)") }
  if #x < 3 or #y < 3 then
    return nil
  end
  for i = 1, 3 do
    local d = tonumber(x[i]) - tonumber(y[i])
    if d ~= 0 then
      return d < 0 and -1 or 1
    end
  end
  return 0
end

local UPGRADE = "upgrade it: `pipx upgrade azure-sandbox-lsp`, `uv tool upgrade azure-sandbox-lsp`, or"
  .. " `cargo install --locked --path <repo>` in an updated clone (lazy.nvim's build spec: `:Lazy update`)"

-- The binary, its `--version`, and whether that is the plugin's version.
local function check_server(binary, expected)
  local path = vim.fn.exepath(binary)
  local output = vim.fn.system({ binary, "--version" }):gsub("%s+$", "")
  local version = vim.v.shell_error == 0 and output:match("(%d+%.%d+%.%d+[%w.+-]*)") or nil
  if not version then
    warn("server: " .. path .. ", but `" .. binary .. " --version` gave no version: " .. output, { UPGRADE })
    return
  end
  ok("server: " .. path .. " (azure-sandbox-lsp " .. version .. ")")
  local order = compare(version, expected)
  if version == expected then
    ok("the server's version matches the plugin's (" .. expected .. ")")
  elseif order == -1 then
    warn("the server (" .. version .. ") is older than the plugin (" .. expected .. ")", { UPGRADE })
  elseif order == 1 then
    warn("the plugin (" .. expected .. ") is older than the server (" .. version .. ")", {
      "update the plugin (with lazy.nvim: `:Lazy update`), or install the server of the plugin's version: `pipx install --force azure-sandbox-lsp==" .. expected .. "`",
    })
  else
    warn("the server's version (" .. version .. ") differs from the plugin's (" .. expected .. ")", { UPGRADE })
  end
end

function M.check()
  start("azure-sandbox")
  local sandbox = require("azure_sandbox")
  local config = sandbox.config
  if not config then
    warn('setup() has not been called: add require("azure_sandbox").setup() to your config')
    config = { settings = {} }
  end
  local cmd = config.cmd or { "azure-sandbox-lsp" }
  if vim.fn.executable(cmd[1]) == 1 then
    check_server(cmd[1], sandbox.version)
  else
    error(cmd[1] .. " is not executable", {
      "install it in one command: `pipx install azure-sandbox-lsp` or `uv tool install azure-sandbox-lsp` (the wheel carries the binary)",
      "or build it from a clone of the repository: `cargo install --locked --path <repo>`",
      "or pass cmd = { '/path/to/azure-sandbox-lsp' } to setup() (for lazy.nvim's build step, see docs/editors/neovim.md)",
    })
  end
  local settings = config.settings or {}
  local endpoint = settings.endpoint or vim.env.AZURE_SANDBOX_MCP_ENDPOINT
  local pool = settings.pool or vim.env.AZURE_SANDBOX_POOL
  if pool and pool ~= "" and (not endpoint or endpoint == "") and settings.backend ~= "local" then
    ok("Azure session pool: " .. pool .. " (endpoint and key are read from it with the Azure CLI's sign-in)")
  elseif settings.backend == "local" or (not endpoint or endpoint == "") then
    info("backend: the local sandbox (Python on this machine); set AZURE_SANDBOX_POOL (or AZURE_SANDBOX_MCP_ENDPOINT and AZURE_SANDBOX_API_KEY) to use Azure")
    if vim.fn.executable("python3") == 1 then
      ok("python3: " .. vim.fn.exepath("python3"))
    else
      error("python3 is not on PATH: the local sandbox needs it")
    end
  else
    ok("Azure endpoint: " .. endpoint .. (settings.endpoint and " (from settings)" or " (from AZURE_SANDBOX_MCP_ENDPOINT)"))
    if settings.apiKey then
      warn("the API key is in your Neovim settings; prefer AZURE_SANDBOX_API_KEY in the environment")
    elseif vim.env.AZURE_SANDBOX_API_KEY and vim.env.AZURE_SANDBOX_API_KEY ~= "" then
      if settings.endpoint and settings.endpoint ~= vim.env.AZURE_SANDBOX_MCP_ENDPOINT then
        warn("AZURE_SANDBOX_API_KEY is only sent to AZURE_SANDBOX_MCP_ENDPOINT, not to the endpoint in settings")
      else
        ok("API key: set in AZURE_SANDBOX_API_KEY (not shown)")
      end
    else
      error("no API key: set AZURE_SANDBOX_API_KEY")
    end
  end
  -- The server's own step-by-step check (never prints the key).
  if vim.fn.executable(cmd[1]) == 1 then
    local args = { cmd[1], "doctor" }
    if settings.backend == "local" then
      table.insert(args, "--local")
    elseif settings.endpoint and settings.endpoint ~= "" then
      vim.list_extend(args, { "--endpoint", settings.endpoint })
    elseif settings.pool and settings.pool ~= "" then
      vim.list_extend(args, { "--pool", settings.pool })
    end
    start("azure-sandbox: doctor")
    local output = vim.fn.system(args)
    for _, line in ipairs(vim.split(output, "\n", { plain = true })) do
      if line:find("^%[ ok %]") then
        ok(line:sub(8))
      elseif line:find("^%[FAIL%]") then
        error(line:sub(8))
      elseif line ~= "" then
        info(line)
      end
    end
  end
  local client = sandbox.client()
  if client then
    ok("server running (client " .. client.id .. ")")
  else
    info("no server running yet: open a Python file")
  end
end

return M
