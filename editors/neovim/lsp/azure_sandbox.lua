-- For Neovim 0.11 users of vim.lsp.config / vim.lsp.enable:
--   vim.lsp.enable("azure_sandbox")
-- (with this plugin on the runtimepath). Settings go in
--   vim.lsp.config("azure_sandbox", { settings = { azureSandbox = { ... } } })
-- The plugin's commands, lens refresh and output document work either way.
local config = require("azure_sandbox").client_config(nil)
config.root_dir = nil
config.root_markers = { ".git", "pyproject.toml", "setup.py", "setup.cfg" }
config.filetypes = { "python" }
config.workspace_folders = nil
return config
