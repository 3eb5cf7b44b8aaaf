//! `kubectl tlsgate ...`: kubectl runs any executable named `kubectl-<name>` on PATH as
//! `kubectl <name>`. Same flags, output and exit codes as `tlsgate`.

fn main() -> std::process::ExitCode {
    tlsgate::cli::main_entry::main_entry()
}
