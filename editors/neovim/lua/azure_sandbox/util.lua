-- Helpers the plugin's views share: version checks, messages, requests
-- across Neovim versions, display-width padding, file names of URIs and
-- sizes as the server writes them.
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

--- The text of a request's error: the message of an LSP ResponseError, or
--- whatever else came, printed.
function M.error_text(err)
  if type(err) == "table" then
    return tostring(err.message or vim.inspect(err))
  end
  return tostring(err)
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

--- The file name of a file: URI; any other URI (an untitled document) as
--- it is, and nil for anything but a string (a notification's missing uri).
function M.fname(uri)
  if type(uri) ~= "string" then
    return nil
  end
  if uri:match("^file:") then
    return vim.uri_to_fname(uri)
  end
  return uri
end

--- A size in bytes (a number, or nil for none) as the server's transcript
--- writes it (decimal units), or nil without one.
function M.size_text(bytes)
  if not bytes then
    return nil
  end
  if bytes < 1000 then
    return bytes .. " B"
  elseif bytes < 1000000 then
    return math.floor((bytes + 500) / 1000) .. " KB"
  end
  return string.format("%.1f MB", bytes / 1e6)
end

return M
