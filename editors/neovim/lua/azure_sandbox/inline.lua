-- A run's output as virtual lines under its last line (extmarks with
-- virt_lines, Neovim 0.6+), fed by azureSandbox/runFinished. One block per
-- run: a new run of overlapping lines replaces it, and an edit of the lines
-- it belongs to clears it.
local M = {}

M.namespace = vim.api.nvim_create_namespace("azure_sandbox_inline")

vim.cmd([[
  highlight default link AzureSandboxInline Comment
  highlight default link AzureSandboxInlineStderr WarningMsg
  highlight default link AzureSandboxInlineError DiagnosticError
  highlight default link AzureSandboxInlineFigure Special
  highlight default link AzureSandboxInlineFile Special
  highlight default link AzureSandboxInlineMore NonText
]])

-- bufnr -> list of { start = extmark id, mark = extmark id (the virtual
-- lines, on the last line), text = the run's lines as they were }
local blocks = {}
local watching = {}

local MIMES = { ["image/png"] = "PNG", ["image/jpeg"] = "JPEG", ["image/svg+xml"] = "SVG" }

local size_text = require("azure_sandbox.util").size_text

--- The transcript's line for a figure: `[figure] PNG 640×480, 23 KB: /path`.
function M.figure_line(figure)
  local parts = MIMES[figure.mime] or tostring(figure.mime or "image")
  if figure.width and figure.height then
    parts = parts .. " " .. figure.width .. "×" .. figure.height
  end
  local size = size_text(figure.bytes)
  if size then
    parts = parts .. ", " .. size
  end
  return "[figure] " .. parts .. ": " .. tostring(figure.path)
end

-- What a terminal would show of a line: no CR, no colour codes, tabs as
-- spaces (virtual text draws control characters as ^X).
local function clean(line)
  line = line:gsub("\r", ""):gsub("\27%[[%d;]*[A-Za-z]", ""):gsub("\t", "    ")
  return (line:gsub("%c", "?"))
end

local function add_text(lines, text, hl)
  text = text:gsub("\n$", "")
  for _, line in ipairs(vim.split(text, "\n", { plain = true })) do
    table.insert(lines, { clean(line), hl })
  end
end

--- The lines of a run's output, in order, each { text, highlight }: streams
--- as printed (consecutive chunks of a stream joined), displays by their
--- figure line or their text, values, errors as "Type: message", then the
--- files it wrote as `[file] path (size)` lines.
function M.output_lines(params)
  local lines = {}
  local pending, pending_stream = nil, nil
  local function flush()
    if pending and pending ~= "" then
      add_text(lines, pending, pending_stream == "stderr" and "AzureSandboxInlineStderr" or "AzureSandboxInline")
    end
    pending, pending_stream = nil, nil
  end
  for _, item in ipairs(type(params.outputs) == "table" and params.outputs or {}) do
    if item.kind == "stream" and type(item.text) == "string" then
      if pending_stream ~= item.stream then
        flush()
      end
      pending, pending_stream = (pending or "") .. item.text, item.stream
    else
      flush()
      if item.kind == "display" then
        local data = type(item.data) == "table" and item.data or {}
        if type(item.figure) == "table" then
          table.insert(lines, { clean(M.figure_line(item.figure)), "AzureSandboxInlineFigure" })
        elseif type(data["text/plain"]) == "string" then
          add_text(lines, data["text/plain"], "AzureSandboxInline")
        elseif type(data["text/markdown"]) == "string" then
          add_text(lines, data["text/markdown"], "AzureSandboxInline")
        elseif type(data["text/latex"]) == "string" then
          add_text(lines, data["text/latex"], "AzureSandboxInline")
        elseif data["text/html"] then
          table.insert(lines, { "[html]", "AzureSandboxInline" })
        end
      elseif item.kind == "value" and type(item.text) == "string" then
        add_text(lines, item.text, "AzureSandboxInline")
      elseif item.kind == "error" then
        local message = tostring(item.type or "Error")
        if item.message and item.message ~= "" then
          message = message .. ": " .. tostring(item.message)
        end
        add_text(lines, message, "AzureSandboxInlineError")
      end
    end
  end
  flush()
  -- The files the run wrote in the sandbox's copy of the workspace, as the
  -- transcript names them.
  for _, file in ipairs(type(params.files) == "table" and params.files or {}) do
    if type(file) == "table" and type(file.path) == "string" then
      local size = size_text(tonumber(file.size))
      table.insert(lines, { clean("[file] " .. file.path .. (size and (" (" .. size .. ")") or "")), "AzureSandboxInlineFile" })
    end
  end
  if (tonumber(params.filesMore) or 0) > 0 then
    table.insert(lines, { "[file] … and " .. params.filesMore .. " more", "AzureSandboxInlineFile" })
  end
  if #lines == 0 and params.status == "failed" and type(params.error) == "table" and params.error.message then
    add_text(lines, "not run: " .. tostring(params.error.message), "AzureSandboxInlineError")
  end
  return lines
end

local function range_of(bufnr, block)
  local ok1, start = pcall(vim.api.nvim_buf_get_extmark_by_id, bufnr, M.namespace, block.start, {})
  local ok2, last = pcall(vim.api.nvim_buf_get_extmark_by_id, bufnr, M.namespace, block.mark, {})
  if not (ok1 and ok2 and start[1] and last[1]) then
    return nil
  end
  return start[1], last[1]
end

local function remove(bufnr, index)
  local block = table.remove(blocks[bufnr], index)
  pcall(vim.api.nvim_buf_del_extmark, bufnr, M.namespace, block.start)
  pcall(vim.api.nvim_buf_del_extmark, bufnr, M.namespace, block.mark)
end

local function text_of(bufnr, first, last)
  return table.concat(vim.api.nvim_buf_get_lines(bufnr, first, last + 1, false), "\n")
end

-- After an edit: drop the blocks whose lines are no longer what ran.
local function check(bufnr)
  local list = blocks[bufnr]
  if not list or not vim.api.nvim_buf_is_loaded(bufnr) then
    return
  end
  for i = #list, 1, -1 do
    local first, last = range_of(bufnr, list[i])
    if not first or last < first or text_of(bufnr, first, last) ~= list[i].text then
      remove(bufnr, i)
    end
  end
end

local function watch(bufnr)
  if watching[bufnr] then
    return
  end
  watching[bufnr] = true
  local scheduled = false
  vim.api.nvim_buf_attach(bufnr, false, {
    on_lines = function()
      if not blocks[bufnr] or #blocks[bufnr] == 0 then
        watching[bufnr] = nil
        return true -- detach
      end
      if not scheduled then
        scheduled = true
        -- Extmarks cannot be read reliably while the change is applied.
        vim.schedule(function()
          scheduled = false
          check(bufnr)
        end)
      end
    end,
    on_reload = function()
      M.clear(bufnr)
    end,
    on_detach = function()
      watching[bufnr] = nil
      blocks[bufnr] = nil
    end,
  })
end

--- Removes every block of `bufnr`.
function M.clear(bufnr)
  for i = #(blocks[bufnr] or {}), 1, -1 do
    remove(bufnr, i)
  end
end

--- The blocks shown in `bufnr`: a list of { first = row, last = row, lines =
--- { text, ... } } (0-based rows), for tests and statuslines.
function M.get(bufnr)
  local result = {}
  for _, block in ipairs(blocks[bufnr] or {}) do
    local first, last = range_of(bufnr, block)
    if first then
      table.insert(result, { first = first, last = last, lines = vim.deepcopy(block.lines) })
    end
  end
  return result
end

--- Shows the first `limit` lines of a run's output under its last line
--- (0-based `params.firstLine`..`params.lastLine` of `bufnr`), replacing the
--- blocks of the lines it overlaps. With `limit` 0, only removes those.
function M.show(bufnr, params, limit)
  local first, last = tonumber(params.firstLine), tonumber(params.lastLine)
  if not (first and last) or not vim.api.nvim_buf_is_loaded(bufnr) then
    return
  end
  local count = vim.api.nvim_buf_line_count(bufnr)
  if first >= count then
    return
  end
  last = math.max(first, math.min(last, count - 1))
  blocks[bufnr] = blocks[bufnr] or {}
  local list = blocks[bufnr]
  for i = #list, 1, -1 do
    local a, b = range_of(bufnr, list[i])
    if not a or (a <= last and b >= first) then
      remove(bufnr, i)
    end
  end
  if limit <= 0 then
    return
  end
  local lines = M.output_lines(params)
  if #lines == 0 then
    return
  end
  local virt_lines, shown = {}, {}
  for i = 1, math.min(limit, #lines) do
    table.insert(virt_lines, { { "│ " .. lines[i][1], lines[i][2] } })
    table.insert(shown, lines[i][1])
  end
  if #lines > limit then
    local more = #lines - limit
    local text = "… " .. more .. (more == 1 and " more line" or " more lines") .. " (:AzureSandboxOutput)"
    table.insert(virt_lines, { { "│ " .. text, "AzureSandboxInlineMore" } })
    table.insert(shown, text)
  end
  local start = vim.api.nvim_buf_set_extmark(bufnr, M.namespace, first, 0, {})
  local mark = vim.api.nvim_buf_set_extmark(bufnr, M.namespace, last, 0, { virt_lines = virt_lines })
  table.insert(list, { start = start, mark = mark, text = text_of(bufnr, first, last), lines = shown })
  watch(bufnr)
end

return M
