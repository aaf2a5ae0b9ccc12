-- azure-sandbox: run Python from Neovim in an Azure Container Apps sandbox
-- (or the local stand-in) through the azure-sandbox-lsp language server.
-- The server does the work; this plugin starts it, passes settings, keeps
-- code lenses fresh, shows diagnostics inline and opens the output document.
-- Supports Neovim 0.7 to 0.11.

local M = {}

-- The azure-sandbox-lsp release this plugin goes with (Cargo.toml's version;
-- tests/versions.rs keeps them equal). :checkhealth warns when the server's
-- `--version` differs.
M.version = "0.1.0"

local defaults = {
  -- The server command; `azure-sandbox-lsp` on PATH by default.
  cmd = nil,
  -- The `azureSandbox` settings: pool, endpoint, backend ("auto"|"azure"|
  -- "local"), runTimeout, hoverOutputLimit, transcriptLimit, cellMarker.
  -- Prefer AZURE_SANDBOX_POOL (or AZURE_SANDBOX_MCP_ENDPOINT and
  -- AZURE_SANDBOX_API_KEY) in the environment over putting a key here.
  settings = {},
  filetypes = { "python" },
  root_markers = { ".git", "pyproject.toml", "setup.py", "setup.cfg" },
  -- Show our diagnostics as virtual text (0.11 turns it off by default).
  virtual_text = true,
  -- Milliseconds to wait after an edit before asking for lenses again.
  lens_debounce_ms = 300,
  -- Show the first N lines of a run's output as virtual lines under the
  -- run's last line (0: off). `settings.inlineOutputLines` works too, for
  -- vim.lsp.config users.
  inline_output_lines = 0,
  -- Called as on_figure(figure, run) for each figure a run made: figure is
  -- { path, uri, mime, width, height, bytes }, run the runFinished params.
  on_figure = nil,
  -- Completion from the live sandbox (settings.liveCompletion): attributes
  -- after `name.`, a DataFrame's columns in `df["`. Off by default: it asks
  -- the environment (within 300 ms) as you type.
  live_completion = false,
  -- The workspace mirror: before each run the server sends the workspace's
  -- changed files into the sandbox (settings mirror, mirrorInclude,
  -- mirrorExclude, mirrorBudget). nil leaves the server's default: on, all
  -- files git does not ignore (never .git/ or secrets such as .env), up to
  -- 50 MB.
  mirror = nil,
  -- Glob lists: only files matching mirror_include are sent (nil: all), and
  -- none matching mirror_exclude.
  mirror_include = nil,
  mirror_exclude = nil,
  -- The most bytes the mirrored files may come to (nil: 50000000).
  mirror_budget = nil,
  -- Say which files a run wrote in the sandbox (a message after the run).
  notify_files = true,
}

-- setup() options that go out as the server's settings when settings does
-- not have them already.
local passthrough = {
  live_completion = "liveCompletion",
  mirror = "mirror",
  mirror_include = "mirrorInclude",
  mirror_exclude = "mirrorExclude",
  mirror_budget = "mirrorBudget",
}

M.config = nil
local clients_by_root = {}

-- The options in force: setup()'s, or the defaults (vim.lsp.enable users
-- may never call setup()).
local function options()
  return M.config or defaults
end -- 0.7: one client per root, reused by hand
local warned_missing = false

local function has(version)
  return vim.fn.has("nvim-" .. version) == 1
end

local function notify(message, level)
  vim.schedule(function()
    vim.notify("azure-sandbox: " .. message, level or vim.log.levels.INFO)
  end)
end

-- Client methods became `client:method()` in 0.11; older ones are fields.
local function request(client, method, params, handler, bufnr)
  if has("0.11") then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

local function request_sync(client, method, params, timeout, bufnr)
  if has("0.11") then
    return client:request_sync(method, params, timeout, bufnr)
  end
  return client.request_sync(method, params, timeout, bufnr)
end

--- The azure-sandbox client attached to `bufnr` (or any, for `bufnr` nil).
function M.client(bufnr)
  local list
  if vim.lsp.get_clients then
    list = vim.lsp.get_clients({ name = "azure_sandbox", bufnr = bufnr })
  elseif has("0.8") then
    list = vim.lsp.get_active_clients({ name = "azure_sandbox", bufnr = bufnr })
  else
    list = {}
    local source = bufnr and vim.lsp.buf_get_clients(bufnr) or vim.lsp.get_active_clients()
    for _, client in pairs(source) do
      if client.name == "azure_sandbox" then
        table.insert(list, client)
      end
    end
  end
  return list[1]
end

local function find_root(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  local dir = vim.fn.fnamemodify(name, ":p:h")
  for _, marker in ipairs(options().root_markers) do
    local found = vim.fn.finddir(marker, dir .. ";")
    if found ~= "" then
      return vim.fn.fnamemodify(found, ":p:h:h")
    end
    found = vim.fn.findfile(marker, dir .. ";")
    if found ~= "" then
      return vim.fn.fnamemodify(found, ":p:h")
    end
  end
  return dir
end

local function attached_buffers(client)
  local buffers = {}
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.lsp.buf_is_attached(bufnr, client.id) then
      table.insert(buffers, bufnr)
    end
  end
  return buffers
end

--- Asks for code lenses again. Neovim up to 0.11 draws lenses only on an
--- explicit refresh and ignores the server's workspace/codeLens/refresh.
function M.refresh_lenses(bufnr)
  if not vim.api.nvim_buf_is_loaded(bufnr) then
    return
  end
  if has("0.10") then
    pcall(vim.lsp.codelens.refresh, { bufnr = bufnr })
  else
    vim.api.nvim_buf_call(bufnr, function()
      pcall(vim.lsp.codelens.refresh)
    end)
  end
end

local pending_refresh = {}
local function refresh_lenses_later(bufnr)
  pending_refresh[bufnr] = (pending_refresh[bufnr] or 0) + 1
  local generation = pending_refresh[bufnr]
  vim.defer_fn(function()
    if pending_refresh[bufnr] == generation then
      M.refresh_lenses(bufnr)
    end
  end, options().lens_debounce_ms)
end

local function fill_output(bufnr, text)
  if not vim.api.nvim_buf_is_valid(bufnr) then
    return
  end
  vim.api.nvim_buf_set_option(bufnr, "modifiable", true)
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, vim.split(text, "\n", { plain = true }))
  vim.api.nvim_buf_set_option(bufnr, "modifiable", false)
  vim.api.nvim_buf_set_option(bufnr, "modified", false)
  -- Keep the newest run in view in windows showing the transcript.
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_buf(win) == bufnr then
      vim.api.nvim_win_set_cursor(win, { vim.api.nvim_buf_line_count(bufnr), 0 })
    end
  end
end

--- The figure file named on line `lnum` (1-based; default: the cursor's) of
--- the output buffer, from its `[figure] PNG 640×480, 23 KB: /path` line.
function M.figure_on_line(bufnr, lnum)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  lnum = lnum or vim.api.nvim_win_get_cursor(0)[1]
  local line = vim.api.nvim_buf_get_lines(bufnr, lnum - 1, lnum, false)[1] or ""
  return line:match("^%s*%[figure%][^:]*: (.+)$")
end

-- The output buffer's options and its `gx` (open the figure of this line).
local function setup_output_buffer(bufnr)
  vim.api.nvim_buf_set_option(bufnr, "buftype", "nofile")
  vim.api.nvim_buf_set_option(bufnr, "bufhidden", "hide")
  vim.api.nvim_buf_set_option(bufnr, "swapfile", false)
  vim.api.nvim_buf_set_option(bufnr, "filetype", "azuresandboxoutput")
  vim.keymap.set("n", "gx", function()
    local path = M.figure_on_line(bufnr)
    if path then
      M.open_path(path)
    else
      notify("no figure on this line", vim.log.levels.WARN)
    end
  end, { buffer = bufnr, desc = "Open the figure of this line with the system viewer" })
end

--- BufReadCmd for azure-sandbox-output: buffers (see plugin/azure_sandbox.lua).
function M.read_output(bufnr)
  local uri = vim.api.nvim_buf_get_name(bufnr)
  setup_output_buffer(bufnr)
  local client = M.client()
  if not client then
    fill_output(bufnr, "No azure-sandbox language server is running.")
    return
  end
  local response = request_sync(client, "azureSandbox/output", { uri = uri }, 5000)
  if response and response.result then
    fill_output(bufnr, response.result.text)
  else
    local err = response and (response.err or response.error)
    fill_output(bufnr, "Could not read the output: " .. (err and err.message or "no answer"))
  end
end

local function refresh_output(client, uri)
  local bufnr = vim.fn.bufnr(uri)
  if bufnr == -1 or not vim.api.nvim_buf_is_loaded(bufnr) then
    return
  end
  request(client, "azureSandbox/output", { uri = uri }, function(err, result)
    if not err and result then
      fill_output(bufnr, result.text)
    end
  end)
end

local handlers = {
  ["workspace/codeLens/refresh"] = function(_, _, ctx)
    local client = vim.lsp.get_client_by_id(ctx.client_id)
    if client then
      for _, bufnr in ipairs(attached_buffers(client)) do
        M.refresh_lenses(bufnr)
      end
    end
    return vim.NIL
  end,
  ["azureSandbox/runFinished"] = function(_, params, ctx)
    if type(params) == "table" and params.kind == "python" then
      M.run_finished(params, vim.lsp.get_client_by_id(ctx.client_id))
    elseif type(params) == "table" and params.kind == "files" then
      M.files_finished(params, vim.lsp.get_client_by_id(ctx.client_id))
    end
  end,
  ["azureSandbox/variablesChanged"] = function(_, params, ctx)
    local client = vim.lsp.get_client_by_id(ctx.client_id)
    if client then
      require("azure_sandbox.variables").changed(params, client)
    end
  end,
  ["azureSandbox/outputChanged"] = function(_, params, ctx)
    local client = vim.lsp.get_client_by_id(ctx.client_id)
    if client and params and params.uri then
      refresh_output(client, params.uri)
      for _, bufnr in ipairs(attached_buffers(client)) do
        M.refresh_lenses(bufnr)
      end
    end
  end,
}

-- Neovim handles window/showDocument from 0.9; before that, do it here.
if not has("0.9") then
  handlers["window/showDocument"] = function(_, params)
    vim.schedule(function()
      local name = params.uri:match("^file://") and vim.uri_to_fname(params.uri) or params.uri
      vim.cmd("split " .. vim.fn.fnameescape(name))
    end)
    return { success = true }
  end
end

local function on_attach(client, bufnr)
  if options().virtual_text then
    local namespace = vim.lsp.diagnostic.get_namespace(client.id)
    vim.diagnostic.config({ virtual_text = true }, namespace)
  end
  M.refresh_lenses(bufnr)
  local group = vim.api.nvim_create_augroup("azure_sandbox_buffer_" .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd({ "BufEnter", "InsertLeave", "TextChanged" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      refresh_lenses_later(bufnr)
    end,
  })
  if vim.lsp.inlay_hint and vim.lsp.inlay_hint.enable then
    pcall(vim.lsp.inlay_hint.enable, true, { bufnr = bufnr })
  end
  -- Neovim sets omnifunc for LSP clients from 0.8; 0.7 leaves it to us.
  local settings = type(client.config.settings) == "table" and client.config.settings.azureSandbox
  if not has("0.8") and type(settings) == "table" and settings.liveCompletion and vim.bo[bufnr].omnifunc == "" then
    vim.bo[bufnr].omnifunc = "v:lua.vim.lsp.omnifunc"
  end
end

local function capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.workspace = caps.workspace or {}
  -- This plugin answers workspace/codeLens/refresh itself.
  caps.workspace.codeLens = { refreshSupport = true }
  caps.window = caps.window or {}
  caps.window.showDocument = { support = true }
  return caps
end

--- The client configuration (also used by lsp/azure_sandbox.lua).
function M.client_config(root)
  local config = options()
  local settings = vim.deepcopy(config.settings or {})
  if settings.liveCompletion == nil then
    settings.liveCompletion = config.live_completion == true
  end
  for option, key in pairs(passthrough) do
    if settings[key] == nil and config[option] ~= nil then
      settings[key] = vim.deepcopy(config[option])
    end
  end
  return {
    name = "azure_sandbox",
    cmd = config.cmd or { "azure-sandbox-lsp" },
    root_dir = root,
    workspace_folders = root and { { uri = vim.uri_from_fname(root), name = root } } or nil,
    init_options = settings,
    settings = { azureSandbox = settings },
    capabilities = capabilities(),
    handlers = handlers,
    on_attach = on_attach,
    -- The lens and action "show output" open the live output document here,
    -- instead of the server's file copy.
    commands = {
      ["azureSandbox.showOutput"] = function()
        M.output()
      end,
      -- The "Show sandbox variables" action opens the variables view here,
      -- instead of the server's transcript section.
      ["azureSandbox.showVariables"] = function(command)
        local arg = type(command) == "table" and type(command.arguments) == "table" and command.arguments[1]
        local uri = type(arg) == "table" and arg.uri or (type(arg) == "string" and arg) or nil
        M.variables(type(uri) == "string" and uri or nil)
      end,
      -- The "List the sandbox's files" action opens the files view here,
      -- instead of the server's transcript section.
      ["azureSandbox.listFiles"] = function(command)
        local arg = type(command) == "table" and type(command.arguments) == "table" and command.arguments[1]
        local uri = type(arg) == "table" and arg.uri or (type(arg) == "string" and arg) or nil
        M.list_files(type(uri) == "string" and uri or nil)
      end,
    },
  }
end

--- Starts (or reuses) the server for `bufnr` and attaches it.
function M.attach(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local config = M.client_config(find_root(bufnr))
  if vim.fn.executable(config.cmd[1]) == 0 then
    if not warned_missing then
      warned_missing = true
      notify(
        config.cmd[1]
          .. " was not found. Install it with `pipx install azure-sandbox-lsp` (or `uv tool install azure-sandbox-lsp`,"
          .. " or `cargo install --locked --path <repo>`), or pass cmd = { '/path/to/azure-sandbox-lsp' } to setup()."
          .. " :checkhealth azure_sandbox says more.",
        vim.log.levels.ERROR
      )
    end
    return nil
  end
  if vim.lsp.start then
    return vim.lsp.start(config, { bufnr = bufnr })
  end
  local id = clients_by_root[config.root_dir]
  if not id or not vim.lsp.get_client_by_id(id) then
    id = vim.lsp.start_client(config)
    clients_by_root[config.root_dir] = id
  end
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

-- Commands ------------------------------------------------------------------

local function execute(command, arguments, bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local client = M.client(bufnr)
  if not client then
    notify("no azure-sandbox server is attached to this buffer", vim.log.levels.WARN)
    return
  end
  request(client, "workspace/executeCommand", { command = command, arguments = arguments }, function(err)
    if err then
      notify(err.message, vim.log.levels.ERROR)
    end
  end, bufnr)
end

local function here(bufnr)
  return vim.uri_from_bufnr(bufnr or vim.api.nvim_get_current_buf())
end

--- Runs lines `first`..`last` (1-based, inclusive) of the current buffer.
function M.run_lines(first, last)
  local range = { start = { line = first - 1, character = 0 }, ["end"] = { line = last, character = 0 } }
  execute("azureSandbox.run", { { uri = here(), range = range } })
end

function M.run_cell()
  local line = vim.api.nvim_win_get_cursor(0)[1] - 1
  execute("azureSandbox.runCell", { { uri = here(), position = { line = line, character = 0 } } })
end

function M.run_above()
  local line = vim.api.nvim_win_get_cursor(0)[1] - 1
  execute("azureSandbox.runAbove", { { uri = here(), position = { line = line, character = 0 } } })
end

function M.run_file()
  execute("azureSandbox.runFile", { { uri = here() } })
end

function M.restart()
  execute("azureSandbox.restart", { { uri = here() } })
end

function M.cancel()
  execute("azureSandbox.cancel", { { uri = here() } })
end

--- Opens the workspace's output document in a split.
function M.output()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = M.client(bufnr)
  if not client then
    notify("no azure-sandbox server is attached to this buffer", vim.log.levels.WARN)
    return
  end
  local response = request_sync(client, "azureSandbox/output", { uri = here(bufnr) }, 5000, bufnr)
  if not (response and response.result) then
    local err = response and (response.err or response.error)
    notify("could not get the output: " .. (err and err.message or "no answer"), vim.log.levels.ERROR)
    return
  end
  local uri = response.result.uri
  local out = vim.fn.bufnr(uri)
  if out == -1 then
    out = vim.api.nvim_create_buf(true, true)
    vim.api.nvim_buf_set_name(out, uri)
    setup_output_buffer(out)
  end
  local window = vim.fn.bufwinnr(out)
  if window ~= -1 then
    vim.cmd(window .. "wincmd w")
  else
    vim.cmd("sbuffer " .. out)
  end
  fill_output(out, response.result.text)
end

-- The client and a document URI for the workspace of `uri` (default: the
-- current buffer). From a buffer the server is not attached to, the
-- workspace of the open `view` (one of the plugin's windows), or else of the
-- server's first workspace folder.
local function workspace_target(uri, view)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = M.client(bufnr)
  if uri then
    client = client or M.client()
  else
    uri = client and here(bufnr)
  end
  if not client then
    client = M.client()
    if view and client then
      uri = view.uri
    elseif client and client.workspace_folders and client.workspace_folders[1] then
      uri = client.workspace_folders[1].uri
    elseif client and client.config.root_dir then
      uri = vim.uri_from_fname(client.config.root_dir)
    end
  end
  return client, uri
end

--- Shows the variables of the workspace of `uri` (default: the current
--- buffer) in a floating window (a split when the float does not fit); see
--- variables.lua. From a buffer the server is not attached to, the
--- workspace of the view shown last, or else of the server's first
--- workspace folder.
function M.variables(uri)
  local client
  client, uri = workspace_target(uri, require("azure_sandbox.variables").view())
  if not (client and uri) then
    notify("no azure-sandbox server is running", vim.log.levels.WARN)
    return
  end
  require("azure_sandbox.variables").open(client, uri)
end

-- The loaded buffer of a document URI, or nil.
local function buffer_of(uri)
  local name = uri:match("^file:") and vim.uri_to_fname(uri) or uri
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) then
      local own = vim.api.nvim_buf_get_name(bufnr)
      if own == name or vim.uri_from_bufnr(bufnr) == uri then
        return bufnr
      end
    end
  end
  return nil
end

-- The workspace mirror ------------------------------------------------------

-- The workspace's local directory, as the client knows it.
local function workspace_root(client)
  local root = client.config and client.config.root_dir
  if not root and client.workspace_folders and client.workspace_folders[1] then
    root = vim.uri_to_fname(client.workspace_folders[1].uri)
  end
  if not root then
    return nil
  end
  root = vim.fn.fnamemodify(root, ":p"):gsub("/$", "")
  return root
end

local function exists(path)
  return vim.loop.fs_stat(path) ~= nil
end

local function absolute(path)
  return (vim.fn.fnamemodify(vim.fn.expand(path), ":p"):gsub("(.)/$", "%1"))
end

-- `path` relative to `root`, or nil when it is not inside it.
local function relative_to(root, path)
  for _, base in ipairs({ root, vim.loop.fs_realpath(root) }) do
    if path:sub(1, #base + 1) == base .. "/" then
      return path:sub(#base + 2)
    end
  end
  return nil
end

--- The paths to send for `args` (`:AzureSandboxSendFiles`'s arguments):
--- each relative to the current directory when it exists there (sent as an
--- absolute path), else as given (workspace-relative; the server says when
--- it is not there).
function M.send_paths(args)
  local paths = {}
  for _, arg in ipairs(args) do
    local full = absolute(arg)
    table.insert(paths, exists(full) and full or arg)
  end
  return paths
end

--- The workspace-relative paths to fetch for `args`
--- (`:AzureSandboxFetchFiles`'s arguments): each taken relative to the
--- current directory when that is inside the workspace or the file exists
--- there (and lies in the workspace); else as given, relative to the
--- workspace.
function M.fetch_paths(args, root)
  local paths = {}
  local cwd_inside = root and (vim.fn.getcwd() == root or relative_to(root, vim.fn.getcwd()) ~= nil)
  for _, arg in ipairs(args) do
    local full = absolute(arg)
    local rel = root and relative_to(root, full)
    if rel and (exists(full) or cwd_inside) then
      table.insert(paths, rel)
    else
      table.insert(paths, (arg:gsub("^%./", "")))
    end
  end
  return paths
end

local function files_command(client, command, argument, bufnr)
  request(client, "workspace/executeCommand", { command = command, arguments = { argument } }, function(err)
    if err then
      notify(err.message, vim.log.levels.ERROR)
    end
  end, bufnr)
end

--- Sends files or folders to the sandbox's copy of the workspace (even ones
--- git ignores; never secrets): `args` as given to :AzureSandboxSendFiles,
--- by default the current file.
function M.send_files(args)
  local bufnr = vim.api.nvim_get_current_buf()
  local client, uri = workspace_target()
  if not (client and uri) then
    notify("no azure-sandbox server is running", vim.log.levels.WARN)
    return
  end
  args = args or {}
  if #args == 0 then
    local name = vim.api.nvim_buf_get_name(bufnr)
    if name == "" or name:match("^%a[%w+.-]*://") then
      notify("this buffer is not a file: name the files to send (:AzureSandboxSendFiles path…)", vim.log.levels.WARN)
      return
    end
    args = { name }
  end
  files_command(client, "azureSandbox.sendFiles", { uri = uri, paths = M.send_paths(args) }, M.client(bufnr) and bufnr or nil)
end

--- Fetches files from the sandbox's copy of the workspace into the
--- workspace: `args` as given to :AzureSandboxFetchFiles (by default, what
--- the latest run wrote). A different local file is kept, and the fetched
--- one saved beside it as `name (sandbox).ext`. `target` = { client, uri }
--- picks the workspace (default: the current buffer's).
function M.fetch_files(args, target)
  local bufnr = vim.api.nvim_get_current_buf()
  local client, uri
  if target and target.client then
    client, uri = target.client, target.uri
  else
    client, uri = workspace_target()
  end
  if not (client and uri) then
    notify("no azure-sandbox server is running", vim.log.levels.WARN)
    return
  end
  local argument = { uri = uri }
  if args and #args > 0 then
    argument.paths = M.fetch_paths(args, workspace_root(client))
  end
  files_command(client, "azureSandbox.fetchFiles", argument, M.client(bufnr) and bufnr or nil)
end

--- Shows the files in the sandbox's copy of the workspace of `uri`
--- (default: the current buffer's) in a floating window (a split when it
--- does not fit); see files.lua.
function M.list_files(uri)
  local client
  client, uri = workspace_target(uri, require("azure_sandbox.files").view())
  if not (client and uri) then
    notify("no azure-sandbox server is running", vim.log.levels.WARN)
    return
  end
  require("azure_sandbox.files").open(client, uri, workspace_root(client))
end

--- azureSandbox/runFinished of a files job: a buffer open on a file it
--- fetched (a file new here, as fetches never overwrite one) shows it, and
--- the files view refreshes.
function M.files_finished(params, client)
  for _, item in ipairs(type(params.transferred) == "table" and params.transferred or {}) do
    local saved = type(item) == "table" and not item.unchanged and item.savedAs
    local bufnr = type(saved) == "string" and buffer_of(vim.uri_from_fname(saved))
    if bufnr then
      if vim.bo[bufnr].modified then
        notify(saved .. " came from the sandbox, but its buffer has changes: :edit! shows the file", vim.log.levels.WARN)
      else
        vim.api.nvim_buf_call(bufnr, function()
          pcall(vim.cmd, "silent edit")
        end)
      end
    end
  end
  if client then
    require("azure_sandbox.files").changed(params, client)
  end
end

-- Figures and inline output ------------------------------------------------

--- How many lines of output to show under a run: setup()'s
--- inline_output_lines, or else the client's settings.inlineOutputLines.
function M.inline_output_lines(client)
  local n = tonumber(options().inline_output_lines) or 0
  if n <= 0 and client and client.config and type(client.config.settings) == "table" then
    local settings = client.config.settings.azureSandbox
    n = type(settings) == "table" and tonumber(settings.inlineOutputLines) or 0
  end
  return math.max(0, math.floor(n or 0))
end

--- azureSandbox/runFinished of a Python run: the inline output under its
--- lines, on_figure for each figure it made, a message naming the files it
--- wrote in the sandbox (notify_files), and the files view refreshed.
function M.run_finished(params, client)
  if client then
    require("azure_sandbox.files").record_written(client.id, params)
  end
  local files = type(params.files) == "table" and params.files or {}
  if options().notify_files and #files > 0 then
    local names = {}
    for i, file in ipairs(files) do
      if i > 5 then
        break
      end
      table.insert(names, tostring(file.path) .. " (" .. require("azure_sandbox.files").size_text(file.size) .. ")")
    end
    local more = #files - #names + (tonumber(params.filesMore) or 0)
    notify(
      tostring(params.label or "the run")
        .. " wrote "
        .. table.concat(names, ", ")
        .. (more > 0 and (" and " .. more .. " more") or "")
        .. " in the sandbox; :AzureSandboxFetchFiles brings "
        .. ((#files + (tonumber(params.filesMore) or 0)) == 1 and "it" or "them")
        .. " here"
    )
  end
  if client then
    require("azure_sandbox.files").changed(params, client)
  end
  if type(params.uri) == "string" and params.lastLine ~= nil then
    local bufnr = buffer_of(params.uri)
    if bufnr and params.status ~= "cancelled" then
      require("azure_sandbox.inline").show(bufnr, params, M.inline_output_lines(client))
    end
  end
  local on_figure = options().on_figure
  if type(on_figure) == "function" and type(params.figures) == "table" then
    for _, figure in ipairs(params.figures) do
      local ok, err = pcall(on_figure, figure, params)
      if not ok then
        notify("on_figure failed: " .. tostring(err), vim.log.levels.ERROR)
      end
    end
  end
end

--- Opens a file with the system viewer: vim.ui.open from 0.10, else
--- xdg-open (`open` on macOS) as a detached job.
function M.open_path(path)
  if vim.ui.open then
    local cmd, err = vim.ui.open(path)
    if not cmd and err then
      notify("could not open " .. path .. ": " .. tostring(err), vim.log.levels.ERROR)
    end
    return
  end
  local opener = vim.fn.has("mac") == 1 and "open" or "xdg-open"
  if vim.fn.executable(opener) == 0 then
    notify(opener .. " was not found: open " .. path .. " yourself", vim.log.levels.ERROR)
    return
  end
  if vim.fn.jobstart({ opener, path }, { detach = true }) <= 0 then
    notify("could not start " .. opener .. " for " .. path, vim.log.levels.ERROR)
  end
end

--- Opens the latest figure of the current buffer's workspace (of any
--- workspace from a buffer the server is not attached to, such as the output).
function M.open_figure()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = M.client(bufnr)
  local arguments = { { uri = here(bufnr) } }
  if not client then
    client, arguments, bufnr = M.client(), {}, nil
  end
  if not client then
    notify("no azure-sandbox server is running", vim.log.levels.WARN)
    return
  end
  local params = { command = "azureSandbox.latestFigure", arguments = arguments }
  request(client, "workspace/executeCommand", params, function(err, result)
    if err then
      notify(err.message, vim.log.levels.ERROR)
    elseif type(result) ~= "table" or not result.path then
      notify("no figure yet in this workspace: run code that draws one (matplotlib's plt.show(), or display(image))")
    elseif vim.fn.filereadable(result.path) == 0 then
      notify("the latest figure, " .. result.path .. ", is gone (the figure cache drops its oldest files)", vim.log.levels.WARN)
    else
      M.open_path(result.path)
    end
  end, bufnr)
end

--- Sets the plugin up; with no arguments when azure-sandbox-lsp is on PATH.
function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", {}, defaults, opts or {})
  local group = vim.api.nvim_create_augroup("azure_sandbox", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = M.config.filetypes,
    callback = function(args)
      M.attach(args.buf)
    end,
  })
  -- Buffers already open when setup() runs.
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(M.config.filetypes, vim.bo[bufnr].filetype) then
      M.attach(bufnr)
    end
  end
end

return M
