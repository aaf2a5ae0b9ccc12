" The azure-sandbox output transcript (:AzureSandboxOutput).
if exists("b:current_syntax")
  finish
endif

syntax match azureSandboxOutputTitle /^# Azure sandbox output for .*$/
syntax match azureSandboxOutputTitle /^# (\d\+ older runs dropped.*$/
syntax match azureSandboxOutputHeader /^=== .* ===$/ contains=azureSandboxOutputFailed
syntax match azureSandboxOutputFailed /| ✗[^|]*/ contained
syntax match azureSandboxOutputSection /^--- \(stdout\|stderr\|display\|value\|stopped\) ---$/
syntax match azureSandboxOutputNote /^note: .*$/
syntax match azureSandboxOutputNotRun /^not run: .*$/
syntax match azureSandboxOutputFigure /^\s*\[figure\][^:]*:/ nextgroup=azureSandboxOutputPath skipwhite
syntax match azureSandboxOutputPath /\S.*$/ contained
syntax match azureSandboxOutputFile /^\s*\[file\]/

highlight default link azureSandboxOutputTitle Title
highlight default link azureSandboxOutputHeader Statement
highlight default link azureSandboxOutputFailed ErrorMsg
highlight default link azureSandboxOutputSection Comment
highlight default link azureSandboxOutputNote WarningMsg
highlight default link azureSandboxOutputNotRun ErrorMsg
highlight default link azureSandboxOutputFigure Special
highlight default link azureSandboxOutputPath Underlined
highlight default link azureSandboxOutputFile Special

let b:current_syntax = "azuresandboxoutput"
