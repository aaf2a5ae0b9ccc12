-- Test init for the workspace mirror test: the plugin from the repository,
-- the server under test with the local sandbox, inline output on, and
-- setup()'s mirror_exclude leaving scratch.py out of what runs send.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)")
vim.opt.runtimepath:prepend(here .. "..")
vim.opt.swapfile = false
vim.opt.shortmess:append("F")
require("azure_sandbox").setup({
  cmd = { (assert(os.getenv("AZURE_SANDBOX_LSP_BIN"), "set AZURE_SANDBOX_LSP_BIN")) },
  settings = { backend = "local" },
  lens_debounce_ms = 50,
  inline_output_lines = 5,
  mirror_exclude = { "scratch.py" },
})
