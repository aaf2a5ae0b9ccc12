-- The side-window lifecycle the files view (files.lua) and the variables
-- view (variables.lua) share: one view at a time per kind, in a scratch
-- buffer shown in a float, or a split at the bottom when the float does not
-- fit; q or <Esc> closes it, and wiping its buffer any other way forgets it.
-- What a view shows, and what it asks the server for, stay in its module;
-- this one owns the buffer, the window and the slot that holds the view.
--
-- A view is a table { buf, win, client_id, uri, generation, ... } and the
-- module that owns it adds its own fields (rows, result, ...). The kind's
-- slot (new) holds the open one in `slot.view`; answers to a view's requests
-- are checked against it (`v ~= slot.view`, see ask) to drop those for a
-- view that was closed or replaced meanwhile.
local M = {}

local util = require("azure_sandbox.util")
local width = util.width

--- Whether the view's buffer still exists (it is wiped when its window
--- closes: bufhidden=wipe).
function M.valid(v)
  return v and v.buf and vim.api.nvim_buf_is_valid(v.buf)
end

--- Whether the view is on screen: its window is open and still shows its
--- buffer (:edit or :buffer in the window puts another one there).
function M.shown(v)
  return M.valid(v) and v.win and vim.api.nvim_win_is_valid(v.win) and vim.api.nvim_win_get_buf(v.win) == v.buf
end

--- The client of the view's workspace, or nil when that server is gone.
function M.client(v)
  return v and v.client_id and vim.lsp.get_client_by_id(v.client_id)
end

function M.is_float(win)
  return vim.api.nvim_win_get_config(win).relative ~= ""
end

--- Room for a float: the editor less a margin, the command line and the
--- float's border; returns width and height.
function M.float_room()
  return vim.o.columns - 4, vim.o.lines - vim.o.cmdheight - 4
end

--- The widest of `lines` in display cells, at least 20 (so that a short
--- header does not make a sliver of a float).
function M.widest(lines)
  local w = 20
  for _, line in ipairs(lines) do
    w = math.max(w, width(line))
  end
  return w
end

--- A float as wide and high as `lines` (within the room), centred.
function M.float_config(lines)
  local room_w, room_h = M.float_room()
  local w = math.min(M.widest(lines), room_w)
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

--- Opens the view's window on its buffer and enters it: a float sized to
--- `lines` when `as_float`, else a split at the bottom (at most half the
--- editor) for what a float cannot hold. The caller decides whether it fits,
--- as only it knows which lines may be cut.
function M.open_window(v, lines, as_float)
  if as_float then
    v.win = vim.api.nvim_open_win(v.buf, true, M.float_config(lines))
  else
    vim.cmd("botright " .. math.max(3, math.min(#lines, math.floor(vim.o.lines / 2))) .. "split")
    v.win = vim.api.nvim_get_current_win()
    vim.api.nvim_win_set_buf(v.win, v.buf)
  end
  vim.api.nvim_win_set_option(v.win, "wrap", false)
  vim.api.nvim_win_set_option(v.win, "cursorline", true)
end

--- Puts `lines` into the view's (read-only) buffer with `highlights` (each
--- { line, start column, end column, group }, 0-based, in `namespace`),
--- resizes a float to them and keeps the cursor on a line that exists.
function M.paint(v, namespace, lines, highlights)
  vim.api.nvim_buf_set_option(v.buf, "modifiable", true)
  vim.api.nvim_buf_set_lines(v.buf, 0, -1, false, lines)
  vim.api.nvim_buf_set_option(v.buf, "modifiable", false)
  vim.api.nvim_buf_set_option(v.buf, "modified", false)
  vim.api.nvim_buf_clear_namespace(v.buf, namespace, 0, -1)
  for _, h in ipairs(highlights) do
    vim.api.nvim_buf_add_highlight(v.buf, namespace, h[4], h[1], h[2], h[3])
  end
  if M.shown(v) and M.is_float(v.win) then
    vim.api.nvim_win_set_config(v.win, M.float_config(lines))
  end
  if M.shown(v) then
    local cursor = vim.api.nvim_win_get_cursor(v.win)
    if cursor[1] > #lines then
      vim.api.nvim_win_set_cursor(v.win, { #lines, 0 })
    end
  end
end

local Slot = {}
Slot.__index = Slot

--- The slot of one kind of view, which holds its open view (or nil) in
--- `.view`. `spec`: filetype (of the view's buffer), name (what the close
--- keys' description calls it, e.g. "sandbox files"), enter (the <CR>
--- action: a function, called with no arguments) and enter_desc.
function M.new(spec)
  return setmetatable({ spec = spec, view = nil }, Slot)
end

-- A scratch buffer for a new view, with the kind's <CR> and the close keys.
-- BufWipeout forgets the view whichever way the buffer goes (:bwipeout,
-- :quit on its window), so that open() makes a new one.
function Slot:new_buffer()
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_option(buf, "buftype", "nofile")
  vim.api.nvim_buf_set_option(buf, "bufhidden", "wipe")
  vim.api.nvim_buf_set_option(buf, "swapfile", false)
  vim.api.nvim_buf_set_option(buf, "filetype", self.spec.filetype)
  vim.api.nvim_buf_set_option(buf, "modifiable", false)
  local opts = { buffer = buf, nowait = true, silent = true }
  vim.keymap.set("n", "<CR>", function()
    self.spec.enter()
  end, vim.tbl_extend("force", opts, { desc = self.spec.enter_desc }))
  for _, lhs in ipairs({ "q", "<Esc>" }) do
    vim.keymap.set("n", lhs, function()
      self:close()
    end, vim.tbl_extend("force", opts, { desc = "Close the " .. self.spec.name }))
  end
  vim.api.nvim_create_autocmd("BufWipeout", {
    buffer = buf,
    callback = function()
      if self.view and self.view.buf == buf then
        self.view = nil
      end
    end,
  })
  return buf
end

--- Closes the open view: its window (unless it is the last one, which
--- Neovim would refuse to close) and its buffer.
function Slot:close()
  local v = self.view
  self.view = nil
  if v and v.win and vim.api.nvim_win_is_valid(v.win) then
    if #vim.api.nvim_list_wins() > 1 then
      pcall(vim.api.nvim_win_close, v.win, true)
    end
  end
  if v and M.valid(v) then
    pcall(vim.api.nvim_buf_delete, v.buf, { force = true })
  end
end

--- The view for the workspace of `client` and the document `uri`: the open
--- one, focused, when it shows them; else a new one (with `fields` added,
--- the open one closed) whose window opens only when its content is drawn.
--- Returns the view and whether it is new; either way the caller then asks
--- the server for its content (and opens the window of a new one).
function Slot:open(client, uri, fields)
  local v = self.view
  if M.shown(v) and v.client_id == client.id and v.uri == uri then
    vim.api.nvim_set_current_win(v.win)
    return v, false
  end
  self:close()
  v = vim.tbl_extend("force", fields or {}, { buf = self:new_buffer(), client_id = client.id, uri = uri, generation = 0 })
  self.view = v
  return v, true
end

--- Asks the server for the view's content again: `method` with the view's
--- uri. Each ask bumps the view's generation, so that `handler(err, result,
--- generation)` runs only with the answer to the latest ask of the view
--- still open (an older answer could land after a newer one, or after the
--- view closed). The generation lets the handler's follow-up requests check
--- the same way.
function Slot:ask(v, method, handler)
  local client = M.client(v)
  if not client then
    util.notify("the azure-sandbox server is gone", vim.log.levels.WARN)
    return
  end
  v.generation = (v.generation or 0) + 1
  local generation = v.generation
  util.request(client, method, { uri = v.uri }, function(err, result)
    if v ~= self.view or v.generation ~= generation or not M.valid(v) then
      return
    end
    handler(err, result, generation)
  end)
end

--- The open view's buffer, window and uri, or nil (for tests and
--- statuslines; the view itself stays private to its module).
function Slot:info()
  local v = self.view
  if M.shown(v) then
    return { buf = v.buf, win = v.win, uri = v.uri }
  end
  return nil
end

--- The open view when it is on screen and of `client`'s workspace, else
--- nil: the first check of a notification that may refresh it.
function Slot:showing(client)
  local v = self.view
  if client and M.shown(v) and v.client_id == client.id then
    return v
  end
  return nil
end

return M
