use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = tlsgate::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match tlsgate::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tlsgate: {e:#}");
            ExitCode::from(2)
        }
    }
}
