-- Headless end-to-end test of the workspace mirror (issue #14), against the
-- real server and the embedded local sandbox, whose environment sees the
-- workspace only through the mirror: running analysis.py (which imports
-- helpers.py, reads data/sales.csv relatively and through
-- Path(__file__).parent, and writes out.csv) works and prints its total;
-- out.csv is named in the output buffer, the inline output and a message,
-- and is not written here; :AzureSandboxFetchFiles brings it into the
-- workspace (and into a buffer open on it), and a second fetch over a
-- changed local out.csv keeps both (out (sandbox).csv);
-- :AzureSandboxListFiles lists what was sent (not
-- .env, not the file .gitignore leaves out, not the one setup()'s
-- mirror_exclude leaves out); :AzureSandboxSendFiles sends an ignored file
-- by a path relative to the current directory, and by default the current
-- file, and refuses .env; <CR> in the list fetches a file; the "List the
-- sandbox's files" and "Fetch out.csv from the sandbox" code actions; a
-- split when the float does not fit; the quick fix for a FileNotFoundError
-- of a file .gitignore kept out sends it and runs again. Same script on
-- Neovim 0.7 and 0.11.
local sandbox = require("azure_sandbox")
local files = require("azure_sandbox.files")
local inline = require("azure_sandbox.inline")

local function wait(what, ms, predicate)
  if not vim.wait(ms, predicate, 50) then
    error("timed out waiting for " .. what, 2)
  end
end

local function press(keys)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(keys, true, false, true), "x", false)
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
      return note
    end
  end
  return nil
end

local root = vim.fn.getcwd()

local function read(name)
  local path = root .. "/" .. name
  return vim.fn.filereadable(path) == 1 and table.concat(vim.fn.readfile(path), "\n") or nil
end

local function view_lines()
  local view = files.view()
  return view and vim.api.nvim_buf_get_lines(view.buf, 0, -1, false) or {}
end

local function dump()
  return "\n" .. table.concat(view_lines(), "\n")
end

-- The line of the open view that lists `path` (its first column), or nil.
local function listed(path)
  for lnum, line in ipairs(view_lines()) do
    if lnum > 1 and line:match("^(%S+)") == path then
      return lnum, line
    end
  end
  return nil
end

-- Picks the code action titled `title` from vim.lsp.buf.code_action()'s
-- menu (vim.ui.select, answered here); returns the titles offered.
local function code_action(title)
  local offered = {}
  local real_select = vim.ui.select
  vim.ui.select = function(items, opts, on_choice)
    vim.ui.select = real_select
    for _, item in ipairs(items) do
      local text = opts.format_item and opts.format_item(item) or tostring(item)
      table.insert(offered, text)
      if text:find(title, 1, true) then
        return on_choice(item)
      end
    end
    on_choice(nil)
  end
  vim.lsp.buf.code_action()
  return offered
end

local function test()
  local buf = vim.api.nvim_get_current_buf()
  local code = vim.api.nvim_get_current_win()
  assert(vim.bo.filetype == "python", "analysis.py opens as Python, got " .. vim.bo.filetype)
  wait("the client to attach", 15000, function() return sandbox.client(buf) ~= nil end)
  local client = sandbox.client(buf)
  local settings = client.config.settings.azureSandbox
  assert(vim.deep_equal(settings.mirrorExclude, { "scratch.py" }), "mirror_exclude goes out as settings.mirrorExclude: " .. vim.inspect(settings))

  -- Before any run the sandbox has no copy of the workspace.
  vim.cmd("AzureSandboxListFiles")
  wait("the empty list", 30000, function() return (view_lines()[1] or ""):find("none yet", 1, true) ~= nil end)
  assert(vim.api.nvim_win_get_config(files.view().win).relative == "editor", "a floating window")
  press("q")
  assert(files.view() == nil and vim.api.nvim_get_current_win() == code, "q closed the list")

  -- The run works only with the workspace's files in the sandbox.
  vim.cmd("AzureSandboxRunFile")
  vim.cmd("AzureSandboxOutput")
  local out = vim.api.nvim_get_current_buf()
  assert(out ~= buf, "the output opened in another buffer")
  local function output() return table.concat(vim.api.nvim_buf_get_lines(out, 0, -1, false), "\n") end
  wait("the run to end in the output buffer", 60000, function() return output():find("=== analysis%.py:[^\n]*[✓✗]") ~= nil end)
  assert(output():find("\ntotal: 242\n", 1, true), "the run printed its total:\n" .. output())
  assert(output():find("\n%[file%] out%.csv %(10 B%)\n"), "the output names out.csv:\n" .. output())
  assert(not output():find("Error", 1, true), "the run raised nothing:\n" .. output())
  vim.cmd("wincmd p")
  assert(vim.api.nvim_get_current_win() == code, "back in analysis.py")
  assert(read("out.csv") == nil, "the run wrote out.csv in the sandbox, not here")
  wait("the message naming out.csv", 5000, function()
    return noted("wrote out.csv (10 B) in the sandbox; :AzureSandboxFetchFiles") ~= nil
  end)
  local block = inline.get(buf)[1]
  assert(block and vim.tbl_contains(block.lines, "total: 242") and vim.tbl_contains(block.lines, "[file] out.csv (10 B)"),
    "the inline output has the total and out.csv: " .. vim.inspect(inline.get(buf)))

  -- :AzureSandboxFetchFiles with no arguments fetches what the run wrote;
  -- a buffer already open on out.csv (a new file until then) shows it.
  vim.cmd("split out.csv")
  local csv = vim.api.nvim_get_current_buf()
  vim.cmd("wincmd p")
  vim.cmd("AzureSandboxFetchFiles")
  wait("out.csv in the workspace", 30000, function() return read("out.csv") ~= nil end)
  assert(read("out.csv") == "total\n242", "out.csv holds the sandbox's content: " .. tostring(read("out.csv")))
  wait("the open out.csv buffer to show the fetched file", 5000, function()
    return table.concat(vim.api.nvim_buf_get_lines(csv, 0, -1, false), "\n") == "total\n242"
  end)
  vim.cmd("bwipeout " .. csv)
  assert(vim.api.nvim_get_current_win() == code, "back in analysis.py")

  -- A second fetch over a changed local out.csv keeps both.
  vim.fn.writefile({ "changed here" }, root .. "/out.csv")
  vim.cmd("AzureSandboxFetchFiles out.csv")
  wait("out (sandbox).csv in the workspace", 30000, function() return read("out (sandbox).csv") ~= nil end)
  assert(read("out (sandbox).csv") == "total\n242", "the fetched copy: " .. tostring(read("out (sandbox).csv")))
  assert(read("out.csv") == "changed here", "the local out.csv is kept: " .. tostring(read("out.csv")))

  -- The list: what the run sent and wrote; no secret, nothing ignored or excluded.
  vim.cmd("AzureSandboxListFiles")
  wait("the list", 30000, function() return listed("helpers.py") ~= nil end)
  local view = files.view()
  assert(vim.api.nvim_get_current_win() == view.win, "the list has the focus")
  for _, path in ipairs({ "analysis.py", "helpers.py", "data/sales.csv", "out.csv" }) do
    assert(listed(path), path .. " is listed:" .. dump())
  end
  for _, path in ipairs({ ".env", "extra/notes.txt", "scratch.py" }) do
    assert(not listed(path), path .. " is not listed:" .. dump())
  end
  assert(not dump():find(".git/", 1, true), "nothing of .git/:" .. dump())
  assert(select(2, listed("data/sales.csv")):find("  41 B  ", 1, true), "data/sales.csv's size:" .. dump())
  assert(select(2, listed("out.csv")):find("the last run wrote it", 1, true), "out.csv is marked:" .. dump())
  assert(not select(2, listed("helpers.py")):find("the last run wrote it", 1, true), "helpers.py is not:" .. dump())
  assert(view_lines()[1]:find("^Sandbox files: %d+ files in /"), "header:" .. dump())

  -- :AzureSandboxSendFiles sends a file git ignores, by a path relative to
  -- the current directory; the open list refreshes itself.
  vim.api.nvim_set_current_win(code)
  vim.cmd("cd extra")
  vim.cmd("AzureSandboxSendFiles notes.txt")
  vim.cmd("cd ..")
  wait("extra/notes.txt in the list", 30000, function() return listed("extra/notes.txt") ~= nil end)
  -- With no arguments, the current file (scratch.py, which mirror_exclude leaves out of runs).
  vim.cmd("edit scratch.py")
  wait("scratch.py to attach", 15000, function() return sandbox.client(0) ~= nil end)
  vim.cmd("AzureSandboxSendFiles")
  wait("scratch.py in the list", 30000, function() return listed("scratch.py") ~= nil end)
  assert(files.view() and files.view().win == view.win, "the same window, refreshed")
  -- A secret is refused, by name.
  vim.cmd("AzureSandboxSendFiles .env")
  wait("the refusal of .env", 30000, function()
    return vim.fn.execute("messages"):find("looks like a secret", 1, true) ~= nil
  end)
  vim.cmd("buffer " .. buf)

  -- <CR> on a file in the list fetches it.
  vim.fn.delete(root .. "/out (sandbox).csv")
  vim.api.nvim_set_current_win(view.win)
  vim.api.nvim_win_set_cursor(view.win, { (listed("out.csv")), 0 })
  press("<CR>")
  wait("<CR> to fetch out.csv", 30000, function() return read("out (sandbox).csv") == "total\n242" end)
  assert(read("out.csv") == "changed here", "the local out.csv is still kept")
  press("<Esc>")
  assert(files.view() == nil and not vim.api.nvim_win_is_valid(view.win), "<Esc> closed the list")

  -- The code actions: the list opens here (the plugin handles the command),
  -- and the fetch of what the last run wrote.
  vim.api.nvim_set_current_win(code)
  vim.api.nvim_win_set_cursor(code, { 14, 0 })
  local offered = code_action("List the sandbox's files")
  wait("the code action to open the list", 30000, function() return listed("out.csv") ~= nil end)
  assert(vim.api.nvim_get_current_win() == files.view().win, "the code action's list has the focus")
  assert(vim.tbl_contains(offered, "Fetch out.csv from the sandbox"), "the fetch action is offered: " .. vim.inspect(offered))
  press("q")
  vim.fn.delete(root .. "/out (sandbox).csv")
  vim.api.nvim_set_current_win(code)
  code_action("Fetch out.csv from the sandbox")
  wait("the code action to fetch out.csv", 30000, function() return read("out (sandbox).csv") == "total\n242" end)

  -- A 40-column editor gets a split.
  local columns_before = vim.o.columns
  vim.o.columns = 40
  vim.cmd("AzureSandboxListFiles")
  wait("the list in a split", 30000, function() return listed("data/sales.csv") ~= nil end)
  local split = files.view().win
  assert(vim.api.nvim_win_get_config(split).relative == "", "a split when the float does not fit")
  press("q")
  assert(files.view() == nil and not vim.api.nvim_win_is_valid(split), "q closed the split")
  vim.o.columns = columns_before

  -- The quick fix: report.py reads extra/rates.csv, which .gitignore keeps
  -- out of runs; its FileNotFoundError offers to send it and run again.
  -- (Last: this run sends the changed local out.csv to the sandbox too.)
  vim.cmd("edit report.py")
  local report = vim.api.nvim_get_current_buf()
  wait("report.py to attach", 15000, function() return sandbox.client(report) ~= nil end)
  vim.cmd("AzureSandboxRunFile")
  wait("the FileNotFoundError", 30000, function() return #vim.diagnostic.get(report) > 0 end)
  local diagnostic = vim.diagnostic.get(report)[1]
  assert(diagnostic.lnum == 0 and diagnostic.message:find("FileNotFoundError", 1, true), "the diagnostic: " .. vim.inspect(diagnostic))
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  local fixes = code_action("Send extra/rates.csv to the sandbox and run again")
  wait("the quick fix to send extra/rates.csv and run report.py again", 30000, function()
    return output():find("\nrates: 1.1\n", 1, true) ~= nil
  end)
  assert(vim.tbl_contains(fixes, "Send extra/rates.csv to the sandbox and run again"), "offered: " .. vim.inspect(fixes))
  wait("the diagnostic to clear", 10000, function() return #vim.diagnostic.get(report) == 0 end)
end

local ok, err = pcall(test)
local name = "neovim " .. tostring(vim.version().major) .. "." .. tostring(vim.version().minor) .. " mirror"
if ok then
  io.stderr:write(name .. ": ok\n")
  vim.cmd("qa!")
else
  io.stderr:write(name .. ": FAIL: " .. tostring(err) .. "\n")
  vim.cmd("cquit 1")
end
