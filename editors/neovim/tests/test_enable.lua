-- Neovim 0.11's vim.lsp.config / vim.lsp.enable path, without setup():
-- the bundled lsp/azure_sandbox.lua attaches and lenses appear.
local function finish(ok, err)
  io.stderr:write("neovim enable: " .. (ok and "ok" or ("FAIL: " .. tostring(err))) .. "\n")
  vim.cmd(ok and "qa!" or "cquit 1")
end
local ok, err = pcall(function()
  local buf = vim.api.nvim_get_current_buf()
  local sandbox = require("azure_sandbox")
  assert(vim.wait(15000, function() return sandbox.client(buf) ~= nil end, 50), "the client attaches")
  assert(vim.wait(15000, function()
    sandbox.refresh_lenses(buf)
    return #vim.lsp.codelens.get(buf) > 0
  end, 100), "lenses appear")
  -- Empty settings did not make the server complain (they went out as {}).
  local messages = vim.fn.execute("messages")
  assert(not messages:find("must be an object", 1, true), "settings warning: " .. messages)
end)
finish(ok, err)
