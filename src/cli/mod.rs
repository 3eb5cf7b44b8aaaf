//! Command line: one file per subcommand, each with its `Args` and `run()`.

pub mod lint;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "tlsgate",
    version,
    about = "Catch broken TLS credentials at kubectl-apply time"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check manifest files (or stdin) offline; exit 1 when anything would be denied.
    Lint(lint::Args),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Lint(a) => lint::run(a),
    }
}
