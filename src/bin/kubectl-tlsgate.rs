//! `kubectl tlsgate ...`: kubectl runs any executable named `kubectl-<name>` on PATH as
//! `kubectl <name>`. Same flags, output and exit codes as `tlsgate`.

#[path = "../allocator.rs"]
mod allocator;

fn main() -> std::process::ExitCode {
    allocator::install();
    tlsgate::cli::main_entry::main_entry()
}
