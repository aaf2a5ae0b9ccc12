-- :AzureSandboxVariables: the workspace's live variables (the server's
-- azureSandbox/variables snapshot) in a floating window, or a split when the
-- float does not fit. One line per name: name, type, shape or length, size,
-- the first line of its repr, and the run that set it. <CR> on a line
-- expands that value one level (children from the environment, indented
-- below it) or folds it again; q or <Esc> closes. The view refreshes itself
-- on azureSandbox/variablesChanged while it is open.
local M = {}

M.namespace = vim.api.nvim_create_namespace("azure_sandbox_variables")

vim.cmd([[
  highlight default link AzureSandboxVariablesHeader Title
  highlight default link AzureSandboxVariablesLost WarningMsg
  highlight default link AzureSandboxVariablesMarker Special
  highlight default link AzureSandboxVariablesType Type
  highlight default link AzureSandboxVariablesDim Comment
]])

-- The one view: { buf, win, client_id, uri (a document of the workspace),
-- result (the snapshot), nodes (its tree), expanded (path key -> true),
-- rows (line number -> node), generation }.
local view = nil

local REPR_MIN = 16 -- the narrowest repr column a float is drawn with
local SEP = "  "

local util = require("azure_sandbox.util")
local has, notify, request = util.has, util.notify, util.request
local width, pad, pad_left = util.width, util.pad, util.pad_left

-- `text` cut to at most `cells` display cells, with "…" when cut.
local function truncate(text, cells)
  if width(text) <= cells then
    return text
  end
  local chars = vim.fn.strchars(text)
  local keep = math.min(chars, cells)
  while keep > 0 and width(vim.fn.strcharpart(text, 0, keep)) > cells - 1 do
    keep = keep - 1
  end
  return vim.fn.strcharpart(text, 0, keep) .. "…"
end

-- Sizes as the server's transcript writes them (decimal units).
local function size_text(bytes)
  bytes = tonumber(bytes)
  if not bytes then
    return ""
  elseif bytes < 1000 then
    return bytes .. " B"
  elseif bytes < 1000000 then
    return string.format("%.1f KB", bytes / 1000)
  end
  return string.format("%.1f MB", bytes / 1e6)
end

local function shape_text(shape)
  if type(shape) == "number" then
    return "len " .. shape
  elseif type(shape) == "string" then
    return shape
  end
  return ""
end

-- The first line of a repr, without the spaces around it, and "…" when it
-- had more lines.
local function repr_text(repr)
  if type(repr) ~= "string" then
    return ""
  end
  local first, rest = repr:match("^([^\n]*)\n(.*)$")
  first = (first or repr):gsub("%c", " "):gsub("^%s+", ""):gsub("%s+$", "")
  if rest and rest:find("%S") then
    first = first .. " …"
  end
  return first
end

local function key(path)
  return table.concat(path, "\0")
end

local function is_list(value)
  return type(value) == "table" and (next(value) == nil or value[1] ~= nil)
end

-- The nodes of a list of variables (or children) under `path`.
local function nodes_of(variables, path, depth)
  local nodes = {}
  for _, variable in ipairs(is_list(variables) and variables or {}) do
    if type(variable) == "table" then
      local name = variable.key or variable.name
      local child = vim.deepcopy(path)
      table.insert(child, tostring(name))
      table.insert(nodes, { variable = variable, path = child, depth = depth })
    end
  end
  return nodes
end

--- The header line of a snapshot (`result` of azureSandbox/variables).
function M.header(result)
  result = type(result) == "table" and result or {}
  local state = result.state
  if state == "lost" then
    local reason = type(result.reason) == "string" and (" (" .. result.reason .. ")") or ""
    local message = type(result.message) == "string" and (": " .. result.message) or ""
    return "Sandbox variables: lost" .. reason .. message
  elseif state == "error" then
    return "Sandbox variables: could not get them: " .. tostring(result.message or "no answer")
  elseif state == "empty" then
    return "Sandbox variables: empty, nothing has run in this workspace yet"
  end
  local count = #(is_list(result.variables) and result.variables or {})
  return "Sandbox variables: " .. tostring(state or "?") .. ", " .. count .. (count == 1 and " name" or " names")
    .. "  (<CR> expand, q close)"
end

-- The visible rows of the tree, depth first: { node } or { text } (a note
-- such as "… 3 more").
local function visible_rows(nodes, rows)
  rows = rows or {}
  for _, node in ipairs(nodes) do
    table.insert(rows, { node = node })
    if node.children then
      local indent = string.rep("  ", node.depth + 1)
      if node.missing then
        table.insert(rows, { text = indent .. "(gone: no longer in the namespace)" })
      elseif node.error then
        table.insert(rows, { text = indent .. "(could not expand: " .. node.error .. ")" })
      elseif #node.children == 0 then
        table.insert(rows, { text = indent .. "(nothing to list)" })
      end
      visible_rows(node.children, rows)
      if (tonumber(node.more) or 0) > 0 then
        table.insert(rows, { text = indent .. "… " .. node.more .. " more not listed" })
      end
    elseif node.loading then
      table.insert(rows, { text = string.rep("  ", node.depth + 1) .. "(fetching…)" })
    end
  end
  return rows
end

-- The cells of a node's line (repr not yet cut).
local function cells(node)
  local v = node.variable
  local marker = " "
  if node.children or node.loading then
    marker = "▾"
  elseif v.expandable then
    marker = "▸"
  end
  return {
    name = string.rep("  ", node.depth) .. marker .. " " .. tostring(v.name or v.key or "?"),
    type = tostring(v.type or ""),
    shape = shape_text(v.shape),
    size = size_text(v.size),
    repr = repr_text(v.repr),
    run = tonumber(v.runId) and ("run " .. v.runId) or "",
  }
end

--- The lines of the view for `result` and its expanded `nodes`, at most
--- `available` cells wide where the repr column can shrink to fit; returns
--- lines, the row of each line (node or nil), highlights, and whether they
--- fit (the repr column had at least REPR_MIN cells).
function M.render(result, nodes, available)
  local lines = { M.header(result) }
  local rows = { false }
  local highlights = { { 0, 0, -1, result and result.state == "lost" and "AzureSandboxVariablesLost" or "AzureSandboxVariablesHeader" } }
  local all = visible_rows(nodes or {})
  local w = { name = 0, type = 0, shape = 0, size = 0, repr = 0, run = 0 }
  local prepared = {}
  for _, row in ipairs(all) do
    if row.node then
      local c = cells(row.node)
      for field in pairs(w) do
        w[field] = math.max(w[field], width(c[field]))
      end
      table.insert(prepared, { node = row.node, cells = c })
    else
      table.insert(prepared, { text = row.text })
    end
  end
  local fixed = w.name + #SEP + w.type + #SEP + w.shape + #SEP + w.size + #SEP + #SEP + w.run
  local repr_width = math.min(w.repr, math.max(REPR_MIN, (available or 1000) - fixed))
  local fits = #all == 0 or fixed + math.min(w.repr, REPR_MIN) <= (available or 1000)
  for _, item in ipairs(prepared) do
    local line, lnum = nil, #lines
    if item.text then
      line = item.text
      table.insert(highlights, { lnum, 0, -1, "AzureSandboxVariablesDim" })
    else
      local c = item.cells
      local parts = {
        { pad(c.name, w.name), nil },
        { pad(c.type, w.type), "AzureSandboxVariablesType" },
        { pad(c.shape, w.shape), "AzureSandboxVariablesDim" },
        { pad_left(c.size, w.size), "AzureSandboxVariablesDim" },
        { pad(truncate(c.repr, repr_width), repr_width), nil },
        { c.run, "AzureSandboxVariablesDim" },
      }
      line = ""
      for i, part in ipairs(parts) do
        if i > 1 then
          line = line .. SEP
        end
        if part[2] then
          table.insert(highlights, { lnum, #line, #line + #part[1], part[2] })
        end
        line = line .. part[1]
      end
      local marker_at = #string.rep("  ", item.node.depth)
      table.insert(highlights, { lnum, marker_at, marker_at + #"▸", "AzureSandboxVariablesMarker" })
      line = line:gsub("%s+$", "")
    end
    table.insert(lines, line)
    rows[#lines] = item.node or false
  end
  return lines, rows, highlights, fits
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

local function float_config(lines)
  local room_w, room_h = float_room()
  local w = 20
  for _, line in ipairs(lines) do
    w = math.max(w, width(line))
  end
  w = math.min(w, room_w)
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

-- Draws the view into its buffer and sizes (or opens) its window. A new
-- window is a float when the lines fit in one, else a split at the bottom.
local function draw(v, open)
  if not valid(v) then
    return
  end
  local room_w, room_h = float_room()
  local float = v.win and vim.api.nvim_win_is_valid(v.win) and is_float(v.win)
  local available = room_w
  if v.win and vim.api.nvim_win_is_valid(v.win) and not float then
    available = vim.api.nvim_win_get_width(v.win)
  end
  local lines, rows, highlights, fits = M.render(v.result, v.nodes, available)
  if open and not shown(v) then
    if fits and #lines <= room_h then
      v.win = vim.api.nvim_open_win(v.buf, true, float_config(lines))
    else
      vim.cmd("botright " .. math.max(3, math.min(#lines, math.floor(vim.o.lines / 2))) .. "split")
      v.win = vim.api.nvim_get_current_win()
      vim.api.nvim_win_set_buf(v.win, v.buf)
      lines, rows, highlights = M.render(v.result, v.nodes, vim.api.nvim_win_get_width(v.win))
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
    local config = float_config(lines)
    vim.api.nvim_win_set_config(v.win, config)
  end
  if shown(v) then
    local cursor = vim.api.nvim_win_get_cursor(v.win)
    if cursor[1] > #lines then
      vim.api.nvim_win_set_cursor(v.win, { #lines, 0 })
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

-- Asks for the children of `node` (one level) and draws them.
local function expand(v, node, generation)
  local client = client_of(v)
  if not client then
    return
  end
  node.loading = true
  request(client, "azureSandbox/variables", { uri = v.uri, path = node.path }, function(err, result)
    if v ~= view or v.generation ~= generation then
      return
    end
    node.loading = nil
    if err then
      node.children, node.error = {}, error_text(err)
    elseif type(result) ~= "table" then
      node.children, node.error = {}, "no answer"
    else
      node.children = nodes_of(result.variables, node.path, node.depth + 1)
      node.more = result.more
      node.missing = result.missing == true or nil
      node.error = nil
      -- Children that were open before a refresh open again.
      for _, child in ipairs(node.children) do
        if v.expanded[key(child.path)] and child.variable.expandable then
          expand(v, child, generation)
        end
      end
    end
    draw(v)
  end)
  draw(v)
end

-- Asks for the snapshot again and draws it, with the values that were
-- expanded expanded again.
local function refresh(v, open)
  local client = client_of(v)
  if not client then
    notify("the azure-sandbox server is gone", vim.log.levels.WARN)
    return
  end
  v.generation = (v.generation or 0) + 1
  local generation = v.generation
  request(client, "azureSandbox/variables", { uri = v.uri }, function(err, result)
    if v ~= view or v.generation ~= generation or not valid(v) then
      return
    end
    if err then
      result = { state = "error", message = error_text(err), variables = {} }
    end
    v.result = type(result) == "table" and result or { state = "error", variables = {} }
    v.nodes = nodes_of(v.result.variables, {}, 0)
    for _, node in ipairs(v.nodes) do
      if v.expanded[key(node.path)] and node.variable.expandable then
        expand(v, node, generation)
      end
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

--- <CR> in the view: expands the value of the cursor's line one level, or
--- folds it when it is open.
function M.toggle(lnum)
  local v = view
  if not shown(v) then
    return
  end
  lnum = lnum or vim.api.nvim_win_get_cursor(v.win)[1]
  local node = v.rows and v.rows[lnum]
  if not node then
    return
  end
  local k = key(node.path)
  if node.children or node.loading then
    node.children, node.loading, node.more, node.missing, node.error = nil, nil, nil, nil, nil
    v.expanded[k] = nil
    -- Fold what was open below it too.
    for other in pairs(v.expanded) do
      if other:sub(1, #k + 1) == k .. "\0" then
        v.expanded[other] = nil
      end
    end
    draw(v)
  elseif node.variable.expandable then
    v.expanded[k] = true
    expand(v, node, v.generation)
  end
end

local function new_buffer()
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_option(buf, "buftype", "nofile")
  vim.api.nvim_buf_set_option(buf, "bufhidden", "wipe")
  vim.api.nvim_buf_set_option(buf, "swapfile", false)
  vim.api.nvim_buf_set_option(buf, "filetype", "azuresandboxvariables")
  vim.api.nvim_buf_set_option(buf, "modifiable", false)
  local opts = { buffer = buf, nowait = true, silent = true }
  vim.keymap.set("n", "<CR>", function()
    M.toggle()
  end, vim.tbl_extend("force", opts, { desc = "Expand (or fold) this value" }))
  for _, lhs in ipairs({ "q", "<Esc>" }) do
    vim.keymap.set("n", lhs, function()
      M.close()
    end, vim.tbl_extend("force", opts, { desc = "Close the sandbox variables" }))
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

--- Opens the view for the workspace of `client` and the document `uri`, or
--- refreshes and focuses it when it is open.
function M.open(client, uri)
  if shown(view) and view.client_id == client.id and view.uri == uri then
    vim.api.nvim_set_current_win(view.win)
    refresh(view)
    return
  end
  M.close()
  view = { buf = new_buffer(), client_id = client.id, uri = uri, expanded = {}, nodes = {}, generation = 0 }
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

--- azureSandbox/variablesChanged: refreshes the open view when it shows
--- that workspace (`params.uri`, the workspace folder).
function M.changed(params, client)
  local v = view
  if not (client and shown(v) and v.client_id == client.id) then
    return
  end
  local folder = fname(type(params) == "table" and params.uri or nil)
  local document = fname(v.uri)
  if folder and document and document ~= folder and document:sub(1, #folder + 1) ~= folder .. "/" then
    return
  end
  refresh(v)
end

return M
