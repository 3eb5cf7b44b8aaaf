//! The process entry shared by the `tlsgate` and `kubectl-tlsgate` binaries: parse flags, log to
//! stderr, dispatch, print the whole error chain. Both binaries behave identically; the plugin
//! only names itself `kubectl tlsgate` in usage and help, because that is what the user typed.
//!
//! Exit codes: what the subcommand returns (`lint`: 0 clean, 1 something would be denied),
//! 2 for a usage or I/O error (clap also exits 2 on a bad flag).

use super::{run, Cli, LogFormat};
use clap::{CommandFactory, FromArgMatches};
use std::process::ExitCode;

pub fn main_entry() -> ExitCode {
    let cli = parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tlsgate: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// kubectl runs the plugin `kubectl-tlsgate` for `kubectl tlsgate ...`.
fn parse() -> Cli {
    let mut cmd = Cli::command();
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let invoked_as = std::path::Path::new(&argv0)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if invoked_as == "kubectl-tlsgate" {
        cmd = cmd.bin_name("kubectl tlsgate");
    }
    let matches = cmd.get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}
