-- Test init for the vim.lsp.enable path (no setup()).
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)")
vim.opt.runtimepath:prepend(here .. "..")
vim.opt.swapfile = false
if vim.lsp.enable then
  vim.lsp.config("azure_sandbox", { cmd = { (assert(os.getenv("AZURE_SANDBOX_LSP_BIN"))) } })
  vim.lsp.enable("azure_sandbox")
end
