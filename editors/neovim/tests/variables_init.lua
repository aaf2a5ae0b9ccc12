-- Test init for the variables test: the plugin from the repository, the
-- server under test with an interpreter that has pandas, and live completion
-- on (setup()'s live_completion).
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)")
vim.opt.runtimepath:prepend(here .. "..")
vim.opt.swapfile = false
vim.opt.shortmess:append("F")
require("azure_sandbox").setup({
  cmd = { (assert(os.getenv("AZURE_SANDBOX_LSP_BIN"), "set AZURE_SANDBOX_LSP_BIN")) },
  settings = {
    backend = "local",
    localPython = (assert(os.getenv("AZURE_SANDBOX_FIGURES_PYTHON"), "set AZURE_SANDBOX_FIGURES_PYTHON")),
  },
  lens_debounce_ms = 50,
  live_completion = true,
})
