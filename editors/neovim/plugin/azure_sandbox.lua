-- Commands and the output document's reader. The language server starts
-- only after require("azure_sandbox").setup().
if vim.g.loaded_azure_sandbox then
  return
end
vim.g.loaded_azure_sandbox = true

local function sandbox()
  return require("azure_sandbox")
end

vim.api.nvim_create_user_command("AzureSandboxRun", function(opts)
  sandbox().run_lines(opts.line1, opts.line2)
end, { range = true, desc = "Run the given lines (default: the current line) in the sandbox" })
vim.api.nvim_create_user_command("AzureSandboxRunCell", function()
  sandbox().run_cell()
end, { desc = "Run the # %% cell under the cursor in the sandbox" })
vim.api.nvim_create_user_command("AzureSandboxRunAbove", function()
  sandbox().run_above()
end, { desc = "Run the cells above the cursor's cell in the sandbox" })
vim.api.nvim_create_user_command("AzureSandboxRunFile", function()
  sandbox().run_file()
end, { desc = "Run the whole file in the sandbox" })
vim.api.nvim_create_user_command("AzureSandboxOutput", function()
  sandbox().output()
end, { desc = "Open the sandbox output transcript in a split" })
vim.api.nvim_create_user_command("AzureSandboxOpenFigure", function()
  sandbox().open_figure()
end, { desc = "Open the workspace's latest figure with the system viewer" })
vim.api.nvim_create_user_command("AzureSandboxVariables", function()
  sandbox().variables()
end, { desc = "Show the workspace's live variables (<CR> expands one, q closes)" })
vim.api.nvim_create_user_command("AzureSandboxSendFiles", function(opts)
  sandbox().send_files(opts.fargs)
end, {
  nargs = "*",
  complete = "file",
  desc = "Send files or folders (default: the current file) to the sandbox's copy of the workspace",
})
vim.api.nvim_create_user_command("AzureSandboxFetchFiles", function(opts)
  sandbox().fetch_files(opts.fargs)
end, {
  nargs = "*",
  complete = "file",
  desc = "Fetch files (default: what the latest run wrote) from the sandbox into the workspace",
})
vim.api.nvim_create_user_command("AzureSandboxListFiles", function()
  sandbox().list_files()
end, { desc = "Show the files in the sandbox's copy of the workspace (<CR> fetches one, q closes)" })
vim.api.nvim_create_user_command("AzureSandboxRestart", function()
  sandbox().restart()
end, { desc = "Start a new sandbox environment for this workspace" })
vim.api.nvim_create_user_command("AzureSandboxCancel", function()
  sandbox().cancel()
end, { desc = "Cancel the running and queued runs of this workspace" })

vim.api.nvim_create_autocmd("BufReadCmd", {
  group = vim.api.nvim_create_augroup("azure_sandbox_output", { clear = true }),
  pattern = "azure-sandbox-output://*",
  callback = function(args)
    sandbox().read_output(args.buf)
  end,
})
