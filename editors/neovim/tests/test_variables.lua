-- Headless end-to-end test of live state (issue #15), against the real
-- server, the local sandbox and a real pandas: :AzureSandboxVariables before
-- a run (empty), the open view refreshing itself when a cell defines an int,
-- a string, a list, a dict and a DataFrame (one line each, with its type and
-- the run that set it), <CR> expanding the DataFrame to its columns and the
-- dict to its keys (and a key's list to its items), <CR> folding, another
-- run refreshing the view with the expansions kept, q and <Esc> closing, a
-- split when the float does not fit, hover on a name that never ran showing
-- its value, live completion (setup()'s live_completion) giving a
-- DataFrame's columns and a list's methods, the "Show sandbox variables"
-- code action opening the view, and after :AzureSandboxRestart
-- the open view, and a second open, showing the lost state. Same script on
-- Neovim 0.7 and 0.11.
local sandbox = require("azure_sandbox")
local variables = require("azure_sandbox.variables")

local function wait(what, ms, predicate)
  if not vim.wait(ms, predicate, 50) then
    error("timed out waiting for " .. what, 2)
  end
end

local function press(keys)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(keys, true, false, true), "x", false)
end

local function view_lines()
  local view = variables.view()
  return view and vim.api.nvim_buf_get_lines(view.buf, 0, -1, false) or {}
end

local function dump()
  return "\n" .. table.concat(view_lines(), "\n")
end

-- The view's lines after the header, parsed: { lnum, depth, name, type, line }.
local function rows()
  local result = {}
  for lnum, line in ipairs(view_lines()) do
    if lnum > 1 then
      local plain = line:gsub("▸", " "):gsub("▾", " ")
      local lead, name, kind = plain:match("^( *)(%S+) +(%S+)")
      if lead and #lead >= 2 and not name:find("^[(…]") then
        table.insert(result, { lnum = lnum, depth = (#lead - 2) / 2, name = name, type = kind, line = line })
      end
    end
  end
  return result
end

local function row(name, depth, after)
  for _, r in ipairs(rows()) do
    if r.name == name and r.depth == (depth or 0) and r.lnum > (after or 0) then
      return r
    end
  end
  return nil
end

-- The rows right below `parent` that are one level deeper.
local function children(parent)
  local result = {}
  for _, r in ipairs(rows()) do
    if r.lnum > parent.lnum then
      if r.depth <= parent.depth then
        break
      end
      if r.depth == parent.depth + 1 then
        result[r.name] = r
      end
    end
  end
  return result
end

-- Types `keys` from normal mode and stays in insert mode (feedkeys "x!")
-- until the completion menu has items (or 5 s have passed), then closes it
-- and leaves insert mode; returns the words offered, as a set.
local function insert_and_complete(keys)
  local words, tries = {}, 0
  local timer = vim.loop.new_timer()
  timer:start(300, 100, vim.schedule_wrap(function()
    tries = tries + 1
    local items = vim.fn.complete_info({ "items" }).items
    if #items > 0 or tries > 50 then
      timer:stop()
      timer:close()
      for _, item in ipairs(items) do
        words[item.word] = true
      end
      vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes("<C-e><Esc>", true, false, true), "n", false)
    end
  end))
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(keys, true, false, true), "x!", false)
  return words
end

local function request_sync(buf, method, params)
  local responses = vim.lsp.buf_request_sync(buf, method, params, 10000) or {}
  for _, response in pairs(responses) do
    if response.result then
      return response.result
    end
  end
  return nil
end

local function test()
  local buf = vim.api.nvim_get_current_buf()
  local code = vim.api.nvim_get_current_win()
  assert(vim.bo.filetype == "python", "vars.py opens as Python, got " .. vim.bo.filetype)
  wait("the client to attach", 15000, function() return sandbox.client(buf) ~= nil end)
  local client = sandbox.client(buf)
  assert(client.config.settings.azureSandbox.liveCompletion == true, "live_completion goes out as settings.liveCompletion")

  -- Nothing has run: the view says so.
  vim.cmd("AzureSandboxVariables")
  wait("the empty view", 10000, function() return (view_lines()[1] or ""):find("empty", 1, true) ~= nil end)
  local view = variables.view()
  assert(vim.api.nvim_get_current_win() == view.win, "the view has the focus")
  assert(vim.api.nvim_win_get_config(view.win).relative == "editor", "a floating window")
  assert(#rows() == 0, "no variables yet:" .. dump())

  -- The open view refreshes itself when the cell has run.
  vim.api.nvim_set_current_win(code)
  vim.api.nvim_win_set_cursor(code, { 1, 0 })
  vim.cmd("AzureSandboxRunCell")
  wait("the view to list the cell's variables", 60000, function() return row("df") ~= nil end)
  assert(variables.view() and variables.view().win == view.win, "the same window, refreshed:" .. dump())
  assert(view_lines()[1]:find("ready, 5 names", 1, true), "header:" .. dump())
  local expected = { n = "int", s = "str", items = "list", d = "dict", df = "DataFrame" }
  for name, kind in pairs(expected) do
    local r = row(name)
    assert(r, name .. " is listed:" .. dump())
    assert(r.type == kind or r.type:match("%." .. kind .. "$"), name .. " is a " .. kind .. ", got " .. r.type .. ":" .. dump())
    assert(r.line:find("run %d+$"), name .. " names the run that set it:" .. dump())
  end
  assert(not row("pd"), "modules are not listed:" .. dump())
  assert(row("n").line:find("  42  ", 1, true), "n's value:" .. dump())
  assert(row("s").line:find("'héllo'", 1, true), "s's repr:" .. dump())
  assert(row("items").line:find("len 3", 1, true) or row("items").line:find(" 3 ", 1, true), "items' length:" .. dump())
  assert(row("df").line:find("(3, 2)", 1, true), "df's shape:" .. dump())
  assert(row("df").line:find("▸", 1, true) and row("d").line:find("▸", 1, true), "df and d can expand:" .. dump())
  assert(not row("n").line:find("▸", 1, true), "n cannot:" .. dump())

  -- <CR> on the DataFrame lists its columns, with their dtypes.
  vim.api.nvim_set_current_win(view.win)
  vim.api.nvim_win_set_cursor(view.win, { row("df").lnum, 0 })
  press("<CR>")
  wait("df's columns", 15000, function()
    local c = children(row("df"))
    return c.a ~= nil and c.b ~= nil
  end)
  -- Each column as the server describes it: a pandas.Series of 3 (the
  -- contract said its dtype; either is accepted).
  local columns = children(row("df"))
  for name, dtype in pairs({ a = "int64", b = "object" }) do
    local column = columns[name]
    assert(column.type == dtype or (column.type == "pandas.Series" and column.line:find("(3,)", 1, true)), "column " .. name .. ":" .. dump())
  end
  assert(row("df").line:find("▾", 1, true), "df shows as open:" .. dump())

  -- <CR> on the dict lists its keys; on a key holding a list, its items.
  vim.api.nvim_win_set_cursor(view.win, { row("d").lnum, 0 })
  press("<CR>")
  wait("d's keys", 15000, function()
    local c = children(row("d"))
    return c.alpha ~= nil and c.beta ~= nil
  end)
  local keys = children(row("d"))
  assert(keys.alpha.type == "int" and keys.alpha.line:find("  1", 1, true), "d['alpha']:" .. dump())
  assert(keys.beta.type == "list", "d['beta']:" .. dump())
  vim.api.nvim_win_set_cursor(view.win, { keys.beta.lnum, 0 })
  press("<CR>")
  wait("d['beta']'s items", 15000, function() return #vim.tbl_keys(children(children(row("d")).beta)) == 2 end)
  local beta = children(children(row("d")).beta)
  assert(beta["0"] and beta["1"] and beta["1"].line:find("  3", 1, true), "d['beta'] is [2, 3]:" .. dump())

  -- <CR> again folds the DataFrame.
  vim.api.nvim_win_set_cursor(view.win, { row("df").lnum, 0 })
  press("<CR>")
  assert(next(children(row("df"))) == nil and row("df").line:find("▸", 1, true), "df folded:" .. dump())

  -- Another run refreshes the view; the dict stays open.
  vim.api.nvim_set_current_win(code)
  vim.api.nvim_win_set_cursor(code, { 9, 0 })
  vim.cmd("AzureSandboxRunCell")
  wait("m in the view", 60000, function() return row("m") ~= nil end)
  assert(row("m").type == "int" and row("m").line:find("  84  ", 1, true), "m = 84:" .. dump())
  wait("d's keys again", 15000, function() return children(row("d")).beta ~= nil end)
  assert(view_lines()[1]:find("6 names", 1, true), "header:" .. dump())

  -- q closes; a narrow editor gets a split; <Esc> closes that.
  vim.api.nvim_set_current_win(variables.view().win)
  press("q")
  assert(variables.view() == nil and not vim.api.nvim_win_is_valid(view.win), "q closed the view")
  assert(vim.api.nvim_get_current_win() == code, "back in vars.py")
  local columns_before = vim.o.columns
  vim.o.columns = 40
  vim.cmd("AzureSandboxVariables")
  wait("the view in a split", 10000, function() return row("df") ~= nil end)
  local split = variables.view().win
  assert(vim.api.nvim_win_get_config(split).relative == "", "a split when the float does not fit")
  assert(row("df").type:find("DataFrame", 1, true), "the split lists the variables:" .. dump())
  press("<Esc>")
  assert(variables.view() == nil and not vim.api.nvim_win_is_valid(split), "<Esc> closed the split")
  vim.o.columns = columns_before
  vim.api.nvim_set_current_win(code)

  -- Hover on a name in a line that never ran: its value from the snapshot.
  vim.api.nvim_win_set_cursor(code, { 11, 6 })
  assert(vim.api.nvim_get_current_line():sub(7, 7) == "n", "the cursor is on n")
  local hover = request_sync(buf, "textDocument/hover", vim.lsp.util.make_position_params(0, client.offset_encoding))
  local text = hover and hover.contents and (hover.contents.value or vim.inspect(hover.contents)) or ""
  assert(text:find("42", 1, true) and text:find("int", 1, true), "hover on n: " .. text)

  -- Live completion as a user gets it, in insert mode: omni completion
  -- (CTRL-X CTRL-O; 'omnifunc' set by Neovim from 0.8, by the plugin in 0.7)
  -- in df[" lists the columns; after items. the list's methods, from 0.11
  -- by the built-in completion as the "." is typed (autotrigger).
  local last = vim.api.nvim_buf_line_count(buf)
  vim.api.nvim_win_set_cursor(code, { last, 0 })
  assert(vim.bo[buf].omnifunc == "v:lua.vim.lsp.omnifunc", "omnifunc: " .. vim.bo[buf].omnifunc)
  local columns_offered = insert_and_complete('odf["<C-x><C-o>')
  assert(columns_offered.a and columns_offered.b, 'df[" completes the columns: ' .. vim.inspect(columns_offered))
  local methods
  if vim.lsp.completion and vim.lsp.completion.enable then
    vim.lsp.completion.enable(true, client.id, buf, { autotrigger = true })
    methods = insert_and_complete("oitems.")
    vim.lsp.completion.enable(false, client.id, buf)
  else
    methods = insert_and_complete("oitems.<C-x><C-o>")
  end
  assert(methods.append and methods.pop, "items. completes the list's methods: " .. vim.inspect(methods))
  vim.api.nvim_buf_set_lines(buf, last, -1, false, {})

  -- The "Show sandbox variables" code action opens the view (the plugin
  -- handles the command; only the menu, vim.ui.select, is answered here).
  local offered = {}
  local real_select = vim.ui.select
  vim.ui.select = function(items, opts, on_choice)
    for _, item in ipairs(items) do
      local title = opts.format_item and opts.format_item(item) or tostring(item)
      table.insert(offered, title)
      if title:find("Show sandbox variables", 1, true) then
        return on_choice(item)
      end
    end
    on_choice(nil)
  end
  vim.api.nvim_win_set_cursor(code, { 3, 0 })
  vim.lsp.buf.code_action()
  wait("the code action to open the view", 10000, function() return row("df") ~= nil end)
  vim.ui.select = real_select
  view = variables.view()
  assert(vim.api.nvim_get_current_win() == view.win, "the code action's view has the focus; offered: " .. vim.inspect(offered))

  -- After a restart, the open view shows the lost state, and so does a second open.
  vim.api.nvim_set_current_win(code)
  vim.cmd("AzureSandboxRestart")
  wait("the view to show the lost state", 30000, function()
    return (view_lines()[1] or ""):find("^Sandbox variables: lost") ~= nil
  end)
  assert(view_lines()[1]:find("^Sandbox variables: lost %(restarted%): %S"), "the reason and the message:" .. dump())
  assert(#rows() == 0, "no variables after the restart:" .. dump())
  assert(variables.view().win == view.win, "the same window")
  local header = view_lines()[1]
  vim.api.nvim_set_current_win(view.win)
  press("q")
  vim.cmd("AzureSandboxVariables")
  wait("the second open", 10000, function() return variables.view() ~= nil and #view_lines() > 0 and view_lines()[1] ~= "" end)
  assert(view_lines()[1] == header and #rows() == 0, "a second open shows the same state (" .. header .. "):" .. dump())
end

local ok, err = pcall(test)
local name = "neovim " .. tostring(vim.version().major) .. "." .. tostring(vim.version().minor) .. " variables"
if ok then
  io.stderr:write(name .. ": ok\n")
  vim.cmd("qa!")
else
  io.stderr:write(name .. ": FAIL: " .. tostring(err) .. "\n")
  vim.cmd("cquit 1")
end
