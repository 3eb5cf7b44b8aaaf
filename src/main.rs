//! The `tlsgate` binary. Flag parsing, logging and dispatch live in the library
//! (`tlsgate::cli::main_entry`), shared with the `kubectl-tlsgate` plugin binary.

fn main() -> std::process::ExitCode {
    tlsgate::cli::main_entry::main_entry()
}
