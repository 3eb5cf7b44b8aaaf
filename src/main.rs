//! The `tlsgate` binary: parse flags, set up logging, dispatch. Everything else is in the library.

use clap::Parser;
use std::process::ExitCode;
use tlsgate::cli::{Cli, LogFormat};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    match tlsgate::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tlsgate: {e:#}");
            ExitCode::from(2)
        }
    }
}
