//! Command line: one file per subcommand, each with its `Args` and `run()`.

pub mod dev_certs;
pub mod lint;
pub mod serve;

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
    /// Run the validating admission webhook (HTTPS).
    Serve(serve::Args),
    /// Write a development CA and a localhost serving certificate.
    DevCerts(dev_certs::Args),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Lint(a) => lint::run(a),
        Command::Serve(a) => serve::run(a),
        Command::DevCerts(a) => dev_certs::run(a),
    }
}

/// Connects to the cluster (in-cluster config or kubeconfig) and starts the reflectors that
/// fill `view`; `synced` flips once every source has listed.
pub async fn cluster_view(
    view: std::sync::Arc<std::sync::RwLock<crate::lookup::Index>>,
    synced: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<()> {
    let _ = (view, synced);
    anyhow::bail!("cluster mode is not wired yet: pass --manifests PATH or --dev")
}
