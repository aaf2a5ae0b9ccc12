-- :checkhealth azure_sandbox
local M = {}

local health = vim.health or require("health")
local start = health.start or health.report_start
local ok = health.ok or health.report_ok
local warn = health.warn or health.report_warn
local error = health.error or health.report_error
local info = health.info or health.report_info

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
    local version = vim.fn.system({ cmd[1], "--version" }):gsub("%s+$", "")
    ok("server: " .. vim.fn.exepath(cmd[1]) .. " (" .. version .. ")")
  else
    error(cmd[1] .. " is not executable", { "install it with `cargo install --path <repo>`", "or pass cmd = { '/path/to/azure-sandbox-lsp' } to setup()" })
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
