fn main() {
    std::process::exit(azure_sandbox_lsp::cli::main());
}
