//! `kubectl tlsgate ...`: kubectl runs any executable named `kubectl-<name>` on PATH as
//! `kubectl <name>`. Same flags, output and exit codes as `tlsgate`.

// The shared entry lives in the library as `tlsgate::cli::main_entry`; until `src/cli/mod.rs`
// declares that module, the file is compiled into this binary directly. It names what it needs
// through `super::`, which resolves to these imports here and to `tlsgate::cli` in the library.
#[path = "../cli/main_entry.rs"]
mod main_entry;

use tlsgate::cli::{run, Cli, LogFormat};

fn main() -> std::process::ExitCode {
    main_entry::main_entry()
}
