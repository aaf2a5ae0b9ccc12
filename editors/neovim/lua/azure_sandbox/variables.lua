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

local REPR_MIN = 16 -- the narrowest repr column a float is drawn with
local SEP = "  "

local util = require("azure_sandbox.util")
local side_view = require("azure_sandbox.side_view")
local request = util.request
local width, pad, pad_left = util.width, util.pad, util.pad_left
local shown = side_view.shown

-- The one view, in side.view: { buf, win, client_id, uri (a document of the
-- workspace), result (the snapshot), nodes (its tree), expanded (path key
-- -> true), rows (line number -> node), generation }.
local side = side_view.new({
  filetype = "azuresandboxvariables",
  name = "sandbox variables",
  enter = function()
    M.toggle()
  end,
  enter_desc = "Expand (or fold) this value",
})

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

-- Draws the view into its buffer and sizes (or opens) its window. A new
-- window is a float when the lines fit in one, else a split at the bottom,
-- drawn again for the split's width.
local function draw(v, open)
  if not side_view.valid(v) then
    return
  end
  local room_w, room_h = side_view.float_room()
  local float = v.win and vim.api.nvim_win_is_valid(v.win) and side_view.is_float(v.win)
  local available = room_w
  if v.win and vim.api.nvim_win_is_valid(v.win) and not float then
    available = vim.api.nvim_win_get_width(v.win)
  end
  local lines, rows, highlights, fits = M.render(v.result, v.nodes, available)
  if open and not shown(v) then
    local as_float = fits and #lines <= room_h
    side_view.open_window(v, lines, as_float)
    if not as_float then
      lines, rows, highlights = M.render(v.result, v.nodes, vim.api.nvim_win_get_width(v.win))
    end
  end
  v.rows = rows
  side_view.paint(v, M.namespace, lines, highlights)
end

-- Asks for the children of `node` (one level) and draws them.
local function expand(v, node, generation)
  local client = side_view.client(v)
  if not client then
    return
  end
  node.loading = true
  request(client, "azureSandbox/variables", { uri = v.uri, path = node.path }, function(err, result)
    if v ~= side.view or v.generation ~= generation then
      return
    end
    node.loading = nil
    if err then
      node.children, node.error = {}, util.error_text(err)
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
  side:ask(v, "azureSandbox/variables", function(err, result, generation)
    if err then
      result = { state = "error", message = util.error_text(err), variables = {} }
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
  side:close()
end

--- <CR> in the view: expands the value of the cursor's line one level, or
--- folds it when it is open.
function M.toggle(lnum)
  local v = side.view
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

--- Opens the view for the workspace of `client` and the document `uri`, or
--- refreshes and focuses it when it is open.
function M.open(client, uri)
  local v, new = side:open(client, uri, { expanded = {}, nodes = {} })
  refresh(v, new)
end

--- The open view's buffer and window, or nil (for tests and statuslines).
function M.view()
  return side:info()
end

--- azureSandbox/variablesChanged: refreshes the open view when it shows
--- that workspace (`params.uri`, the workspace folder).
function M.changed(params, client)
  local v = side:showing(client)
  if not v then
    return
  end
  local folder = util.fname(type(params) == "table" and params.uri or nil)
  local document = util.fname(v.uri)
  if folder and document and document ~= folder and document:sub(1, #folder + 1) ~= folder .. "/" then
    return
  end
  refresh(v)
end

return M
