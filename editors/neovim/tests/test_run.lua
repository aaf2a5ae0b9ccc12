-- Headless end-to-end test: attach, lenses, run cells, a diagnostic on the
-- right line, hover text, the output buffer and its refresh. Same script on
-- Neovim 0.7 and 0.11. Exits 0 on success, 1 (with the reason) on failure.
local sandbox = require("azure_sandbox")

local function wait(what, ms, predicate)
  if not vim.wait(ms, predicate, 50) then
    error("timed out waiting for " .. what, 2)
  end
end

local function lens_titles(buf)
  local titles = {}
  for _, lens in ipairs(vim.lsp.codelens.get(buf)) do
    if lens.command then
      table.insert(titles, lens.command.title)
    end
  end
  return titles
end

local function output_text(client, buf)
  local request_sync = vim.fn.has("nvim-0.11") == 1 and function(...) return client:request_sync(...) end
    or function(...) return client.request_sync(...) end
  local response = request_sync("azureSandbox/output", { uri = vim.uri_from_bufnr(buf) }, 5000, buf)
  return response and response.result and response.result.text or ""
end

local function test()
  local buf = vim.api.nvim_get_current_buf()
  assert(vim.bo.filetype == "python", "the fixture opens as Python, got " .. vim.bo.filetype)
  wait("the client to attach", 15000, function() return sandbox.client(buf) ~= nil end)
  local client = sandbox.client(buf)

  -- Lenses on both cells, titled for the local sandbox.
  wait("code lenses", 15000, function()
    sandbox.refresh_lenses(buf)
    return #lens_titles(buf) >= 4
  end)
  local titles = table.concat(lens_titles(buf), " | ")
  assert(titles:find("▶ Run in local sandbox", 1, true), "lens titles: " .. titles)

  -- Cell 1 defines the function; cell 2 calls it and raises.
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  vim.cmd("AzureSandboxRunCell")
  wait("the first cell to run", 30000, function() return output_text(client, buf):find("| ✓", 1, true) ~= nil end)
  vim.api.nvim_win_set_cursor(0, { 9, 0 })
  vim.cmd("AzureSandboxRunCell")
  wait("the diagnostic", 30000, function() return #vim.diagnostic.get(buf) > 0 end)
  local diagnostic = vim.diagnostic.get(buf)[1]
  assert(diagnostic.lnum == 4, "the diagnostic is on line 5 (lnum 4), got lnum " .. diagnostic.lnum)
  assert(diagnostic.message == "ZeroDivisionError: division by zero", "message: " .. diagnostic.message)
  assert(diagnostic.source == "azure-sandbox", "source: " .. tostring(diagnostic.source))
  local namespace = vim.lsp.diagnostic.get_namespace(client.id)
  assert(vim.diagnostic.config(nil, namespace).virtual_text, "virtual text is on for our diagnostics")

  -- Hover on the line that ran shows its output.
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  local responses = vim.lsp.buf_request_sync(buf, "textDocument/hover", params, 5000) or {}
  local hover = ""
  for _, response in pairs(responses) do
    if response.result and response.result.contents then
      hover = hover .. (response.result.contents.value or "")
    end
  end
  assert(hover:find("héllo", 1, true) and hover:find("ZeroDivisionError", 1, true), "hover: " .. hover)

  -- The cell's lens shows the outcome.
  wait("the outcome lens", 10000, function()
    sandbox.refresh_lenses(buf)
    return table.concat(lens_titles(buf), " | "):find("✗ ZeroDivisionError", 1, true) ~= nil
  end)

  -- The output document opens in a split and follows new runs.
  vim.cmd("AzureSandboxOutput")
  local out = vim.api.nvim_get_current_buf()
  assert(out ~= buf, "the output opened in another buffer")
  assert(vim.api.nvim_buf_get_name(out):find("^azure%-sandbox%-output:"), "output name: " .. vim.api.nvim_buf_get_name(out))
  local text = table.concat(vim.api.nvim_buf_get_lines(out, 0, -1, false), "\n")
  assert(text:find("ZeroDivisionError", 1, true), "output: " .. text)
  vim.cmd("wincmd p")
  vim.cmd("2,2AzureSandboxRun")
  wait("the output buffer to refresh", 30000, function()
    local lines = table.concat(vim.api.nvim_buf_get_lines(out, 0, -1, false), "\n")
    return lines:find("main.py:2 |", 1, true) ~= nil
  end)

  -- Opening the output URI itself (as window/showDocument or :edit would)
  -- goes through the BufReadCmd.
  local uri = vim.api.nvim_buf_get_name(out)
  vim.cmd("bwipeout! " .. out)
  vim.cmd("split " .. vim.fn.fnameescape(uri))
  local reread = vim.api.nvim_get_current_buf()
  assert(vim.api.nvim_buf_get_name(reread) == uri, "reopened as " .. vim.api.nvim_buf_get_name(reread))
  local again = table.concat(vim.api.nvim_buf_get_lines(reread, 0, -1, false), "\n")
  assert(again:find("main.py:2 |", 1, true), "BufReadCmd filled the buffer: " .. again)
  assert(vim.bo[reread].buftype == "nofile", "the output is not a file buffer")

  -- A lens's "show output" command is handled by the plugin (the live
  -- document), not sent to the server (its file copy). Client:exec_cmd
  -- consults the client's own commands first (0.11).
  if vim.fn.has("nvim-0.11") == 1 then
    vim.cmd("wincmd p")
    vim.cmd("only")
    client:exec_cmd({ title = "output", command = "azureSandbox.showOutput", arguments = { { uri = vim.uri_from_bufnr(buf) } } }, { bufnr = buf })
    local shown = vim.api.nvim_buf_get_name(vim.api.nvim_get_current_buf())
    assert(shown:find("^azure%-sandbox%-output://"), "the plugin opened " .. shown)
  end

  -- :checkhealth reports the server, its version and the backend.
  vim.cmd("checkhealth azure_sandbox")
  local report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  assert(report:find("server: ", 1, true) and report:find("local sandbox", 1, true), "health: " .. report)
  assert(report:find("run print(1)", 1, true) and report:find("all checks passed", 1, true), "doctor in health: " .. report)
  -- It shows the server's version, and that it is the plugin's.
  assert(sandbox.version and sandbox.version:match("^%d+%.%d+%.%d+"), "the plugin's version: " .. tostring(sandbox.version))
  assert(report:find("(azure-sandbox-lsp " .. sandbox.version .. ")", 1, true), "the server's version in health: " .. report)
  assert(report:find("matches the plugin's (" .. sandbox.version .. ")", 1, true), "versions match in health: " .. report)

  -- A plugin newer than the server: a warning that says which is older and how to upgrade.
  local version = sandbox.version
  sandbox.version = "99.0.0"
  vim.cmd("checkhealth azure_sandbox")
  report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  sandbox.version = version
  assert(report:find("the server (" .. version .. ") is older than the plugin (99.0.0)", 1, true), "mismatch in health: " .. report)
  assert(report:find("pipx upgrade azure-sandbox-lsp", 1, true), "how to upgrade in health: " .. report)

  -- No binary: how to get it in one command.
  local cmd = sandbox.config.cmd
  sandbox.config.cmd = { "/nonexistent/azure-sandbox-lsp" }
  vim.cmd("checkhealth azure_sandbox")
  report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  sandbox.config.cmd = cmd
  for _, words in ipairs({ "is not executable", "pipx install azure-sandbox-lsp", "uv tool install azure-sandbox-lsp", "cargo install --locked --path" }) do
    assert(report:find(words, 1, true), words .. " in health: " .. report)
  end
end

local ok, err = pcall(test)
if ok then
  io.stderr:write("neovim " .. tostring(vim.version().major) .. "." .. tostring(vim.version().minor) .. ": ok\n")
  vim.cmd("qa!")
else
  io.stderr:write("neovim " .. tostring(vim.version().major) .. "." .. tostring(vim.version().minor) .. ": FAIL: " .. tostring(err) .. "\n")
  vim.cmd("cquit 1")
end
