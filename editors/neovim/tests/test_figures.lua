-- Headless end-to-end test of figures (issue #13), against the real server
-- and a real matplotlib: a plotting cell's figure named in the output buffer
-- (a PNG file that exists), :AzureSandboxOpenFigure and the output buffer's
-- gx handing that file to the system viewer (only the OS opener is stubbed:
-- vim.ui.open from 0.10, a fake xdg-open on PATH before), the on_figure
-- hook, and the inline output: the first N lines as virtual lines under the
-- cell, replaced by a new run of the cell, cleared by an edit of its lines,
-- a pandas table as its text, and none when the setting is 0. Same script on Neovim 0.7 and 0.11.
local sandbox = require("azure_sandbox")
local inline = require("azure_sandbox.inline")

local function wait(what, ms, predicate)
  if not vim.wait(ms, predicate, 50) then
    error("timed out waiting for " .. what, 2)
  end
end

-- Messages the plugin gives the user.
local notes = {}
local real_notify = vim.notify
vim.notify = function(message, level, opts)
  table.insert(notes, tostring(message))
  return real_notify(message, level, opts)
end
local function noted(words)
  for _, note in ipairs(notes) do
    if note:find(words, 1, true) then
      return true
    end
  end
  return false
end

-- The OS opener, stubbed: what the plugin asked to open.
local opened = {}
local opener_log = vim.fn.tempname()
if vim.ui.open then
  vim.ui.open = function(path)
    table.insert(opened, path)
    return {}, nil
  end
else
  -- 0.7 has no vim.ui.open: the plugin runs xdg-open with jobstart; this
  -- xdg-open, first on PATH, writes its arguments to a file.
  local bin = vim.fn.tempname()
  vim.fn.mkdir(bin, "p")
  vim.fn.writefile({ "#!/bin/sh", "printf '%s\\n' \"$@\" >> '" .. opener_log .. "'" }, bin .. "/xdg-open")
  vim.fn.setfperm(bin .. "/xdg-open", "rwxr-xr-x")
  vim.env.PATH = bin .. ":" .. vim.env.PATH
end
local function opened_paths()
  if vim.ui.open then
    return opened
  end
  return vim.fn.filereadable(opener_log) == 1 and vim.fn.readfile(opener_log) or {}
end
local function forget_opened()
  opened = {}
  vim.fn.delete(opener_log)
end

local function is_png(path)
  local file = io.open(path, "rb")
  if not file then
    return false
  end
  local head = file:read(8)
  file:close()
  return head == "\137PNG\r\n\26\n"
end

-- The extmarks of the inline output in `buf`, with their virtual lines as
-- plain strings.
local function blocks(buf)
  local result = {}
  for _, mark in ipairs(vim.api.nvim_buf_get_extmarks(buf, inline.namespace, 0, -1, { details = true })) do
    local details = mark[4] or {}
    if details.virt_lines then
      local lines = {}
      for _, chunks in ipairs(details.virt_lines) do
        local text = ""
        for _, chunk in ipairs(chunks) do
          text = text .. chunk[1]
        end
        table.insert(lines, text)
      end
      table.insert(result, { row = mark[2], lines = lines })
    end
  end
  return result
end

local function all_marks(buf)
  return #vim.api.nvim_buf_get_extmarks(buf, inline.namespace, 0, -1, {})
end

local function run_plot_cell(buf, runs)
  vim.api.nvim_set_current_buf(buf)
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  vim.cmd("AzureSandboxRunCell")
  wait("run " .. runs .. " of the plotting cell to finish with a figure", 90000, function()
    return #_G.figures_seen >= runs
  end)
end

local function test()
  local buf = vim.api.nvim_get_current_buf()
  assert(vim.bo.filetype == "python", "plot.py opens as Python, got " .. vim.bo.filetype)
  wait("the client to attach", 15000, function() return sandbox.client(buf) ~= nil end)
  assert(sandbox.inline_output_lines(sandbox.client(buf)) == 3, "inline_output_lines from setup()")

  -- No figure yet: a clear message, nothing opened.
  vim.cmd("AzureSandboxOpenFigure")
  wait("the no-figure message", 10000, function() return noted("no figure yet") end)
  assert(#opened_paths() == 0, "nothing opened without a figure")

  -- The plotting cell: one PNG figure, 640×480 (matplotlib's default size at 100 dpi).
  run_plot_cell(buf, 1)
  assert(#_G.figures_seen == 1, "one figure, got " .. #_G.figures_seen)
  local figure, run = _G.figures_seen[1].figure, _G.figures_seen[1].run
  assert(run.status == "succeeded", "the run: " .. vim.inspect(run))
  assert(figure.mime == "image/png", "mime: " .. tostring(figure.mime))
  assert(figure.width == 640 and figure.height == 480, "size: " .. vim.inspect(figure))
  assert(type(figure.path) == "string" and vim.fn.filereadable(figure.path) == 1, "the file exists: " .. vim.inspect(figure))
  assert(is_png(figure.path), figure.path .. " is a PNG")
  assert(figure.uri == vim.uri_from_fname(figure.path), "uri " .. tostring(figure.uri) .. " is the path's")

  -- The output buffer names the file on a [figure] line; gx there opens it.
  vim.cmd("AzureSandboxOutput")
  local out = vim.api.nvim_get_current_buf()
  assert(out ~= buf, "the output opened in another buffer")
  local figure_lnum, figure_line
  wait("the figure line in the output buffer", 10000, function()
    for lnum, line in ipairs(vim.api.nvim_buf_get_lines(out, 0, -1, false)) do
      if sandbox.figure_on_line(out, lnum) == figure.path then
        assert(line:find("[figure] PNG 640×480, ", 1, true) == 1, "the figure line: " .. line)
        figure_lnum, figure_line = lnum, line
      end
    end
    return figure_lnum ~= nil
  end)
  local group = vim.fn.synIDattr(vim.fn.synID(figure_lnum, #figure_line, 1), "name")
  assert(group == "azureSandboxOutputPath", "the path is highlighted, got " .. group)
  vim.api.nvim_win_set_cursor(0, { figure_lnum, 0 })
  vim.cmd("normal gx")
  wait("gx to open the figure", 10000, function() return opened_paths()[1] == figure.path end)
  forget_opened()
  vim.cmd("wincmd p")
  assert(vim.api.nvim_get_current_buf() == buf, "back in plot.py")

  -- :AzureSandboxOpenFigure asks the server for the latest figure and opens it.
  vim.cmd("AzureSandboxOpenFigure")
  wait(":AzureSandboxOpenFigure to open the figure", 10000, function() return #opened_paths() > 0 end)
  assert(#opened_paths() == 1 and opened_paths()[1] == figure.path, "opened: " .. vim.inspect(opened_paths()))
  forget_opened()

  -- The first 3 lines of the output under the cell's last line, and how many more.
  local shown = blocks(buf)
  assert(#shown == 1, "one block of inline output: " .. vim.inspect(shown))
  assert(shown[1].row == run.lastLine, "under the run's last line " .. tostring(run.lastLine) .. ": " .. vim.inspect(shown))
  local lines = shown[1].lines
  assert(#lines == 4, "3 lines and a count: " .. vim.inspect(lines))
  assert(lines[1] == "│ plotting", vim.inspect(lines))
  assert(lines[2] == "│ " .. figure_line, "the transcript's figure line, " .. figure_line .. ": " .. vim.inspect(lines))
  assert(lines[3] == "│ done", vim.inspect(lines))
  assert(lines[4] == "│ … 3 more lines (:AzureSandboxOutput)", vim.inspect(lines))
  assert(#_G.figures_seen[1].run.outputs >= 3, "outputs: " .. vim.inspect(run.outputs))

  -- Running the cell again replaces the block.
  run_plot_cell(buf, 2)
  local second = _G.figures_seen[2].figure
  shown = blocks(buf)
  assert(#shown == 1 and shown[1].row == run.lastLine, "still one block: " .. vim.inspect(shown))
  assert(shown[1].lines[2]:sub(-#second.path) == second.path, "the new run's figure: " .. vim.inspect(shown))

  -- Editing the cell's lines clears it.
  vim.api.nvim_buf_set_lines(buf, 6, 7, false, { 'print("done!")' })
  wait("the edit to clear the inline output", 5000, function() return all_marks(buf) == 0 end)
  vim.api.nvim_buf_set_lines(buf, 6, 7, false, { 'print("done")' })

  -- A table (a pandas DataFrame as the cell's value) shows as its text.
  vim.api.nvim_win_set_cursor(0, { 13, 0 })
  vim.cmd("AzureSandboxRunCell")
  wait("the table's inline output", 60000, function() return #blocks(buf) == 1 end)
  shown = blocks(buf)
  assert(shown[1].row == 12, "under the table cell's last line: " .. vim.inspect(shown))
  assert(vim.deep_equal(shown[1].lines, { "│    a  b", "│ 0  1  3", "│ 1  2  4" }), "the table: " .. vim.inspect(shown))

  -- Off (0): no virtual lines.
  sandbox.config.inline_output_lines = 0
  run_plot_cell(buf, 3)
  shown = blocks(buf)
  assert(#shown == 1 and shown[1].row == 12, "no inline output when off, the table's kept: " .. vim.inspect(shown))
end

local ok, err = pcall(test)
local name = "neovim " .. tostring(vim.version().major) .. "." .. tostring(vim.version().minor) .. " figures"
if ok then
  io.stderr:write(name .. ": ok\n")
  vim.cmd("qa!")
else
  io.stderr:write(name .. ": FAIL: " .. tostring(err) .. "\n")
  vim.cmd("cquit 1")
end
