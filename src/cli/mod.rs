//! Command line: one file per subcommand, each with its `Args` and `run()`.

pub mod audit;
pub mod codes;
pub mod completions;
pub mod dev_certs;
pub mod lint;
pub mod main_entry;
pub mod serve;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// `--cluster-resource-namespace`, shared by lint, serve and audit.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CertManagerArgs {
    /// Namespace cert-manager reads ClusterIssuer Secrets from: its own
    /// --cluster-resource-namespace (default: cert-manager).
    #[arg(long, value_name = "NAMESPACE")]
    pub cluster_resource_namespace: Option<String>,
}

/// `tlsgate --version` and `tlsgate version`: the release and the commit it was built from
/// (build.rs; "unknown" outside a git checkout).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("TLSGATE_GIT_COMMIT"),
    ")"
);

#[derive(Parser, Debug)]
#[command(
    name = "tlsgate",
    version = VERSION,
    about = "Catch broken TLS credentials at kubectl-apply time"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr (`RUST_LOG` sets the level).
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// `--color`: when to colour text output, like `ls --color` and `cargo --color`.
#[derive(Clone, Copy, Debug, Default, clap::ValueEnum, PartialEq, Eq)]
pub enum ColorWhen {
    /// On a terminal, unless `NO_COLOR` is set (https://no-color.org).
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorWhen {
    /// Colour for a stream that is (`is_terminal`) or is not a terminal.
    pub fn enabled(self, is_terminal: bool) -> bool {
        match self {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check manifest files (or stdin) offline; exit 1 when anything would be denied.
    Lint(lint::Args),
    /// Run the validating admission webhook (HTTPS).
    Serve(serve::Args),
    /// List every certificate a cluster (or a dump, PKI directory, kubeconfig) depends on.
    Audit(audit::Args),
    /// Write a development CA and a localhost serving certificate.
    DevCerts(dev_certs::Args),
    /// List the finding codes with their default severity.
    Codes,
    /// Explain a finding code: what it means, how it breaks traffic, the fix, how to skip it.
    Explain(codes::ExplainArgs),
    /// Print a shell completion script: `tlsgate completions bash > /etc/bash_completion.d/tlsgate`.
    Completions(completions::Args),
    /// Print the version and the git commit it was built from.
    Version,
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Lint(a) => lint::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Audit(a) => audit::run(a),
        Command::DevCerts(a) => dev_certs::run(a),
        Command::Codes => codes::list(),
        Command::Explain(a) => codes::explain(a),
        Command::Completions(a) => completions::run(a),
        Command::Version => {
            lint::write_stdout(&format!("tlsgate {VERSION}\n"))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Connects to the cluster `target` names (as kubectl would: [`crate::cluster::connect`]) and
/// starts the watchers that fill `view`; `synced` flips once every source has listed. The returned
/// handle keeps the watchers running. `hint` ends the error when there is no cluster.
pub async fn cluster_view(
    view: std::sync::Arc<std::sync::RwLock<crate::lookup::Index>>,
    synced: std::sync::Arc<std::sync::atomic::AtomicBool>,
    target: &crate::cluster::connect::Target,
    hint: &str,
) -> anyhow::Result<crate::cluster::ClusterView> {
    let client = crate::cluster::connect::client(target, hint).await?;
    let cluster = crate::cluster::start(client, view);
    let mut ready = cluster.ready.clone();
    tokio::spawn(async move {
        if ready.wait_for(|r| *r).await.is_ok() {
            synced.store(true, std::sync::atomic::Ordering::Release);
            tracing::info!("cluster view synced; ready");
        }
    });
    Ok(cluster)
}
