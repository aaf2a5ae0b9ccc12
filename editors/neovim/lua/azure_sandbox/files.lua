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

local SEP = "  "
local WRITTEN = "← the last run wrote it"

local util = require("azure_sandbox.util")
local side_view = require("azure_sandbox.side_view")
local width, pad, pad_left = util.width, util.pad, util.pad_left
local shown = side_view.shown

-- The one view, in side.view: { buf, win, client_id, uri (a document of the
-- workspace), root (the workspace's local directory), result, rows (line ->
-- path), generation }.
local side = side_view.new({
  filetype = "azuresandboxfiles",
  name = "sandbox files",
  enter = function()
    M.fetch_line()
  end,
  enter_desc = "Fetch this file from the sandbox into the workspace",
})

--- Sizes as the server's transcript writes them (decimal units), "" for
--- none.
function M.size_text(bytes)
  return util.size_text(tonumber(bytes)) or ""
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

-- Whether the lines fit in a float: the files' lines (the header may be cut).
local function fits(lines)
  local room_w, room_h = side_view.float_room()
  return side_view.widest(vim.list_slice(lines, 2)) <= room_w and #lines <= room_h
end

-- Draws the view into its buffer and sizes (or opens) its window: a float
-- when the lines fit in one, else a split at the bottom. A new window starts
-- on the first file rather than on the header.
local function draw(v, open)
  if not side_view.valid(v) then
    return
  end
  local lines, rows, highlights = M.render(v.result, written[v.client_id])
  if open and not shown(v) then
    side_view.open_window(v, lines, fits(lines))
  end
  v.rows = rows
  side_view.paint(v, M.namespace, lines, highlights)
  if open and shown(v) and #lines > 1 and vim.api.nvim_win_get_cursor(v.win)[1] == 1 then
    vim.api.nvim_win_set_cursor(v.win, { 2, 0 })
  end
end

-- Asks for the mirror's files again and draws them.
local function refresh(v, open)
  side:ask(v, "azureSandbox/files", function(err, result)
    if err then
      v.result = { error = util.error_text(err) }
    else
      v.result = type(result) == "table" and result or { error = "no answer" }
    end
    draw(v, open)
  end)
end

--- Closes the view.
function M.close()
  side:close()
end

--- The path on line `lnum` (default: the cursor's) of the open view, or nil.
function M.path_on_line(lnum)
  local v = side.view
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
  local view = side.view
  require("azure_sandbox").fetch_files({ path }, { client = side_view.client(view), uri = view.uri })
end

--- Opens the view for the workspace of `client` and the document `uri`
--- (whose local directory is `root`), or refreshes and focuses it when it
--- is open.
function M.open(client, uri, root)
  local v, new = side:open(client, uri, { root = root })
  refresh(v, new)
end

--- The open view's buffer and window, or nil (for tests and statuslines).
function M.view()
  return side:info()
end

--- After a job of `client` (azureSandbox/runFinished of a run or a files
--- job): refreshes the open view when it shows that workspace.
function M.changed(params, client)
  local v = side:showing(client)
  if not v then
    return
  end
  local document = util.fname(type(params) == "table" and params.uri or nil)
  if document and v.root and document:sub(1, #v.root + 1) ~= v.root .. "/" then
    return
  end
  refresh(v)
end

return M
