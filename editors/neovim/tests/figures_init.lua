-- Test init for the figures test: the plugin from the repository, the server
-- under test with an interpreter that has matplotlib, inline output on, and
-- an on_figure hook that records what it is given.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)")
vim.opt.runtimepath:prepend(here .. "..")
vim.opt.swapfile = false
vim.opt.shortmess:append("F")
_G.figures_seen = {}
require("azure_sandbox").setup({
  cmd = { (assert(os.getenv("AZURE_SANDBOX_LSP_BIN"), "set AZURE_SANDBOX_LSP_BIN")) },
  settings = {
    backend = "local",
    localPython = (assert(os.getenv("AZURE_SANDBOX_FIGURES_PYTHON"), "set AZURE_SANDBOX_FIGURES_PYTHON")),
  },
  lens_debounce_ms = 50,
  inline_output_lines = 3,
  on_figure = function(figure, run)
    table.insert(_G.figures_seen, { figure = figure, run = run })
  end,
})
