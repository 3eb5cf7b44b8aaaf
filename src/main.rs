//! The `tlsgate` binary. Flag parsing, logging and dispatch live in the library
//! (`tlsgate::cli::main_entry`), shared with the `kubectl-tlsgate` plugin binary.

mod allocator;

fn main() -> std::process::ExitCode {
    allocator::install();
    tlsgate::cli::main_entry::main_entry()
}
