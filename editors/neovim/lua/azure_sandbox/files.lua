-- :AzureSandboxListFiles: the files in the sandbox's copy of the workspace
-- (the server's azureSandbox/files request: the workspace mirror the server
-- sends the workspace's files into before each run) in a floating window, or
-- a split when the float does not fit. One line per file: its path, size and
-- modification time, and a mark on what the workspace's latest run wrote.
-- <CR> on a file fetches it into the workspace (azureSandbox.fetchFiles,
-- which never overwrites a different local file); q or <Esc> closes. The
-- view refreshes itself after each run and files job of its workspace.
local M = {}

M.namespace = vim.api.nvim_create_namespace("azure_sandbox_files")

vim.cmd([[
  highlight default link AzureSandboxFilesHeader Title
  highlight default link AzureSandboxFilesError WarningMsg
  highlight default link AzureSandboxFilesWritten Special
  highlight default link AzureSandboxFilesDim Comment
]])

-- The one view: { buf, win, client_id, uri (a document of the workspace),
-- root (the workspace's local directory), result, rows (line -> path),
-- generation }.
local view = nil

local SEP = "  "
local WRITTEN = "← the last run wrote it"

local util = require("azure_sandbox.util")
local has, notify, request = util.has, util.notify, util.request
local width, pad, pad_left = util.width, util.pad, util.pad_left

--- Sizes as the server's transcript writes them (decimal units).
function M.size_text(bytes)
  bytes = tonumber(bytes)
  if not bytes then
    return ""
  elseif bytes < 1000 then
    return bytes .. " B"
  elseif bytes < 1000000 then
    return math.floor((bytes + 500) / 1000) .. " KB"
  end
  return string.format("%.1f MB", bytes / 1e6)
end

local function time_text(seconds)
  seconds = tonumber(seconds)
  if not seconds or seconds <= 0 then
    return ""
  end
  return os.date("%Y-%m-%d %H:%M", seconds)
end

local function is_list(value)
  return type(value) == "table" and (next(value) == nil or value[1] ~= nil)
end

-- What the latest Python run of each client's workspace wrote: client id ->
-- set of workspace-relative paths (from azureSandbox/runFinished).
local written = {}

--- Records the files a Python run wrote (`params.files` of its
--- azureSandbox/runFinished), for the view's marks.
function M.record_written(client_id, params)
  local set = {}
  for _, file in ipairs(is_list(params.files) and params.files or {}) do
    if type(file) == "table" and type(file.path) == "string" then
      set[file.path] = true
    end
  end
  written[client_id] = set
end

--- The lines of the view for `result` (of azureSandbox/files, or
--- { error = message }), with the paths the latest run wrote in `marked`;
--- returns lines, the path of each line (or false) and highlights.
function M.render(result, marked)
  result = type(result) == "table" and result or {}
  marked = marked or {}
  local files = is_list(result.files) and result.files or {}
  local lines, rows, highlights = {}, { false }, {}
  if result.error then
    lines[1] = "Sandbox files: could not list them: " .. tostring(result.error)
    highlights[1] = { 0, 0, -1, "AzureSandboxFilesError" }
    return lines, rows, highlights
  end
  local count = #files + (tonumber(result.more) or 0)
  if count == 0 then
    lines[1] = "Sandbox files: none yet (the workspace's files are sent before its first run)"
  else
    local where = type(result.root) == "string" and result.root ~= "" and (" in " .. result.root) or ""
    lines[1] = "Sandbox files: " .. count .. (count == 1 and " file" or " files") .. where .. "  (<CR> fetch, q close)"
  end
  highlights[1] = { 0, 0, -1, "AzureSandboxFilesHeader" }
  local w = { path = 0, size = 0, time = 0 }
  local cells = {}
  for _, file in ipairs(files) do
    if type(file) == "table" and type(file.path) == "string" then
      local c = { path = file.path, size = M.size_text(file.size), time = time_text(file.mtime) }
      for field in pairs(w) do
        w[field] = math.max(w[field], width(c[field]))
      end
      table.insert(cells, c)
    end
  end
  for _, c in ipairs(cells) do
    local lnum = #lines
    local line = pad(c.path, w.path) .. SEP
    local dim_from = #line
    line = line .. pad_left(c.size, w.size) .. SEP .. c.time
    table.insert(highlights, { lnum, dim_from, #line, "AzureSandboxFilesDim" })
    if marked[c.path] then
      local from = #line + #SEP
      line = line .. SEP .. WRITTEN
      table.insert(highlights, { lnum, from, #line, "AzureSandboxFilesWritten" })
    end
    table.insert(lines, (line:gsub("%s+$", "")))
    rows[#lines] = c.path
  end
  if (tonumber(result.more) or 0) > 0 then
    table.insert(lines, "… " .. result.more .. " more not listed")
    table.insert(highlights, { #lines - 1, 0, -1, "AzureSandboxFilesDim" })
  end
  return lines, rows, highlights
end

local function valid(v)
  return v and v.buf and vim.api.nvim_buf_is_valid(v.buf)
end

local function shown(v)
  return valid(v) and v.win and vim.api.nvim_win_is_valid(v.win) and vim.api.nvim_win_get_buf(v.win) == v.buf
end

local function is_float(win)
  return vim.api.nvim_win_get_config(win).relative ~= ""
end

-- Room for a float: the editor less a margin, the command line and the
-- float's border.
local function float_room()
  return vim.o.columns - 4, vim.o.lines - vim.o.cmdheight - 4
end

local function widest(lines)
  local w = 20
  for _, line in ipairs(lines) do
    w = math.max(w, width(line))
  end
  return w
end

-- Whether the lines fit in a float: the files' lines (the header may be cut).
local function fits(lines)
  local room_w, room_h = float_room()
  return widest(vim.list_slice(lines, 2)) <= room_w and #lines <= room_h
end

local function float_config(lines)
  local room_w, room_h = float_room()
  local w = math.min(widest(lines), room_w)
  local h = math.max(1, math.min(#lines, room_h))
  return {
    relative = "editor",
    width = w,
    height = h,
    row = math.max(0, math.floor((vim.o.lines - vim.o.cmdheight - h) / 2) - 1),
    col = math.max(0, math.floor((vim.o.columns - w) / 2) - 1),
    style = "minimal",
    border = "rounded",
  }
end

-- Draws the view into its buffer and sizes (or opens) its window: a float
-- when the lines fit in one, else a split at the bottom.
local function draw(v, open)
  if not valid(v) then
    return
  end
  local lines, rows, highlights = M.render(v.result, written[v.client_id])
  if open and not shown(v) then
    if fits(lines) then
      v.win = vim.api.nvim_open_win(v.buf, true, float_config(lines))
    else
      vim.cmd("botright " .. math.max(3, math.min(#lines, math.floor(vim.o.lines / 2))) .. "split")
      v.win = vim.api.nvim_get_current_win()
      vim.api.nvim_win_set_buf(v.win, v.buf)
    end
    vim.api.nvim_win_set_option(v.win, "wrap", false)
    vim.api.nvim_win_set_option(v.win, "cursorline", true)
  end
  vim.api.nvim_buf_set_option(v.buf, "modifiable", true)
  vim.api.nvim_buf_set_lines(v.buf, 0, -1, false, lines)
  vim.api.nvim_buf_set_option(v.buf, "modifiable", false)
  vim.api.nvim_buf_set_option(v.buf, "modified", false)
  vim.api.nvim_buf_clear_namespace(v.buf, M.namespace, 0, -1)
  for _, h in ipairs(highlights) do
    vim.api.nvim_buf_add_highlight(v.buf, M.namespace, h[4], h[1], h[2], h[3])
  end
  v.rows = rows
  if shown(v) and is_float(v.win) then
    vim.api.nvim_win_set_config(v.win, float_config(lines))
  end
  if shown(v) then
    local cursor = vim.api.nvim_win_get_cursor(v.win)
    if cursor[1] > #lines then
      vim.api.nvim_win_set_cursor(v.win, { #lines, 0 })
    elseif open and cursor[1] == 1 and #lines > 1 then
      vim.api.nvim_win_set_cursor(v.win, { 2, 0 })
    end
  end
end

local function client_of(v)
  return v and v.client_id and vim.lsp.get_client_by_id(v.client_id)
end

local function error_text(err)
  if type(err) == "table" then
    return tostring(err.message or vim.inspect(err))
  end
  return tostring(err)
end

-- Asks for the mirror's files again and draws them.
local function refresh(v, open)
  local client = client_of(v)
  if not client then
    notify("the azure-sandbox server is gone", vim.log.levels.WARN)
    return
  end
  v.generation = (v.generation or 0) + 1
  local generation = v.generation
  request(client, "azureSandbox/files", { uri = v.uri }, function(err, result)
    if v ~= view or v.generation ~= generation or not valid(v) then
      return
    end
    if err then
      v.result = { error = error_text(err) }
    else
      v.result = type(result) == "table" and result or { error = "no answer" }
    end
    draw(v, open)
  end)
end

--- Closes the view.
function M.close()
  local v = view
  view = nil
  if v and v.win and vim.api.nvim_win_is_valid(v.win) then
    if #vim.api.nvim_list_wins() > 1 then
      pcall(vim.api.nvim_win_close, v.win, true)
    end
  end
  if v and valid(v) then
    pcall(vim.api.nvim_buf_delete, v.buf, { force = true })
  end
end

--- The path on line `lnum` (default: the cursor's) of the open view, or nil.
function M.path_on_line(lnum)
  local v = view
  if not shown(v) then
    return nil
  end
  lnum = lnum or vim.api.nvim_win_get_cursor(v.win)[1]
  return v.rows and v.rows[lnum] or nil
end

--- <CR> in the view: fetches the file of the cursor's line.
function M.fetch_line(lnum)
  local path = M.path_on_line(lnum)
  if not path then
    return
  end
  require("azure_sandbox").fetch_files({ path }, { client = client_of(view), uri = view.uri })
end

local function new_buffer()
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_option(buf, "buftype", "nofile")
  vim.api.nvim_buf_set_option(buf, "bufhidden", "wipe")
  vim.api.nvim_buf_set_option(buf, "swapfile", false)
  vim.api.nvim_buf_set_option(buf, "filetype", "azuresandboxfiles")
  vim.api.nvim_buf_set_option(buf, "modifiable", false)
  local opts = { buffer = buf, nowait = true, silent = true }
  vim.keymap.set("n", "<CR>", function()
    M.fetch_line()
  end, vim.tbl_extend("force", opts, { desc = "Fetch this file from the sandbox into the workspace" }))
  for _, lhs in ipairs({ "q", "<Esc>" }) do
    vim.keymap.set("n", lhs, function()
      M.close()
    end, vim.tbl_extend("force", opts, { desc = "Close the sandbox files" }))
  end
  vim.api.nvim_create_autocmd("BufWipeout", {
    buffer = buf,
    callback = function()
      if view and view.buf == buf then
        view = nil
      end
    end,
  })
  return buf
end

--- Opens the view for the workspace of `client` and the document `uri`
--- (whose local directory is `root`), or refreshes and focuses it when it
--- is open.
function M.open(client, uri, root)
  if shown(view) and view.client_id == client.id and view.uri == uri then
    vim.api.nvim_set_current_win(view.win)
    refresh(view)
    return
  end
  M.close()
  view = { buf = new_buffer(), client_id = client.id, uri = uri, root = root, generation = 0 }
  refresh(view, true)
end

--- The open view's buffer and window, or nil (for tests and statuslines).
function M.view()
  if shown(view) then
    return { buf = view.buf, win = view.win, uri = view.uri }
  end
  return nil
end

local function fname(uri)
  if type(uri) ~= "string" then
    return nil
  end
  if uri:match("^file:") then
    return vim.uri_to_fname(uri)
  end
  return uri
end

--- After a job of `client` (azureSandbox/runFinished of a run or a files
--- job): refreshes the open view when it shows that workspace.
function M.changed(params, client)
  local v = view
  if not (client and shown(v) and v.client_id == client.id) then
    return
  end
  local document = fname(type(params) == "table" and params.uri or nil)
  if document and v.root and document:sub(1, #v.root + 1) ~= v.root .. "/" then
    return
  end
  refresh(v)
end

return M
