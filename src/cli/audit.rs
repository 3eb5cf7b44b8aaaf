//! `tlsgate audit`: every certificate a cluster depends on, before it expires.
//!
//! Sources combine: `-f` dumps, `--pki-dir`, `--kubeconfig`, and the live cluster (`--cluster`,
//! the default when no other source is given). Exit 1 when anything is expired, not yet valid
//! or expires within the threshold; 2 on usage and I/O errors.

use crate::analysis::Analyzer;
use crate::audit::{self, Inventory};
use anyhow::Context;
use clap::ValueEnum;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
    Html,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// `kubectl get ... -A -o json` dump (List, YAML or JSON); `-` reads stdin. Repeatable.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filenames: Vec<PathBuf>,
    /// kubeadm PKI directory (like /etc/kubernetes/pki). Repeatable.
    #[arg(long, value_name = "DIR")]
    pub pki_dir: Vec<PathBuf>,
    /// Kubeconfig whose cluster CAs and client certificates to audit. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Vec<PathBuf>,
    /// Also read the live cluster (in-cluster config, else KUBECONFIG/~/.kube/config). The
    /// default when no -f, --pki-dir or --kubeconfig is given.
    #[arg(long)]
    pub cluster: bool,
    /// The kubeconfig context to read the live cluster through (like `kubectl --context`).
    /// Implies --cluster.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Audit as of this time (RFC 3339), for reproducible reports. Default: now.
    #[arg(long, value_parser = crate::parse_time)]
    pub now: Option<i64>,
    /// Policy file (YAML): expiryWarningDays, excludeNamespaces, gatewayNamespace.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Certificates expiring within this many days count as failing (overrides the policy file).
    #[arg(long)]
    pub expiry_warning_days: Option<i64>,
    /// Where the Istio mesh root (`istio-ca-secret` / `cacerts`) lives.
    #[arg(long)]
    pub gateway_namespace: Option<String>,
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Output,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let policy = super::lint::load_policy(
        args.config.as_ref(),
        args.gateway_namespace,
        args.expiry_warning_days,
    )?;
    let analyzer = Arc::new(Analyzer::new());
    let mut inventory = Inventory::new();
    let live = args.cluster
        || args.context.is_some()
        || (args.filenames.is_empty() && args.pki_dir.is_empty() && args.kubeconfig.is_empty());
    let mut objects = Vec::new();
    if !args.filenames.is_empty() {
        let loaded =
            crate::load::load_paths(&args.filenames).context("-f: cannot load the dump")?;
        if let Some(e) = loaded.errors.first() {
            anyhow::bail!("-f {}: {}", e.source, e.reason);
        }
        objects.extend(loaded.documents.into_iter().map(|d| d.value));
    }
    if live {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let listed = runtime.block_on(async {
            let client = crate::cluster::connect::client(
                args.context.as_deref(),
                "audit a dump with -f FILE, or --pki-dir / --kubeconfig",
            )
            .await?;
            audit::live::list(&client).await
        })?;
        objects.extend(listed);
    }
    inventory.add_objects(&objects, &policy, &analyzer);
    for dir in &args.pki_dir {
        inventory.add_pki(&audit::pki::read_dir(dir)?);
    }
    for kc in &args.kubeconfig {
        inventory.add_kubeconfig(&audit::kubeconfig::read(kc)?);
    }
    let now = args.now.unwrap_or_else(crate::wall_clock);
    let days = policy.expiry_warning_days;
    let text = match args.output {
        Output::Text => audit::render::to_text(&inventory, now, days),
        Output::Json => audit::render::to_json(&inventory, now, days) + "\n",
        Output::Html => audit::render::to_html(&inventory, now, days),
    };
    super::lint::write_stdout(&text)?;
    Ok(if audit::failing(&audit::rows(&inventory, now, days)) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
