-- Helpers the plugin's views share: version checks, messages, requests
-- across Neovim versions, and display-width padding.
local M = {}

function M.has(version)
  return vim.fn.has("nvim-" .. version) == 1
end

function M.notify(message, level)
  vim.schedule(function()
    vim.notify("azure-sandbox: " .. message, level or vim.log.levels.INFO)
  end)
end

function M.request(client, method, params, handler)
  if M.has("0.11") then
    return client:request(method, params, handler)
  end
  return client.request(method, params, handler)
end

function M.width(text)
  return vim.fn.strdisplaywidth(text)
end

function M.pad(text, cells)
  return text .. string.rep(" ", math.max(0, cells - M.width(text)))
end

function M.pad_left(text, cells)
  return string.rep(" ", math.max(0, cells - M.width(text))) .. text
end

return M
