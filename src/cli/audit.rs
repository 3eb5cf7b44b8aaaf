//! `tlsgate audit`: every certificate a cluster depends on, before it expires.
//!
//! Sources combine: `-f` dumps, `--pki-dir`, `--kubeconfig-certs`, and the live cluster
//! (`--cluster`, the default when no other source is given), reached like kubectl reaches it
//! (`--kubeconfig`, `--context`, `-n`, `-A`, `-l`; [`crate::cluster::connect`]). Exit 1 when anything is expired, not yet valid
//! or expires within the threshold; 2 on usage and I/O errors.

use crate::analysis::Analyzer;
use crate::audit::{self, Inventory};
use anyhow::Context;
use clap::ValueEnum;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Output {
    /// The columns an operator acts on, within 120 columns.
    Text,
    /// Every column (subject, issuer, both dates, every user, manager, problems).
    Wide,
    Json,
    Html,
    /// Text exposition of x509-certificate-exporter's series, for node-exporter's textfile
    /// collector.
    Prometheus,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// `kubectl get ... -A -o json` dump (List, YAML or JSON); `-` reads stdin. Repeatable.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filenames: Vec<PathBuf>,
    /// kubeadm PKI directory (like /etc/kubernetes/pki). Repeatable.
    #[arg(long, value_name = "DIR")]
    pub pki_dir: Vec<PathBuf>,
    /// Kubeconfigs whose cluster CAs and client certificates to audit (offline: nothing is
    /// connected to).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub kubeconfig_certs: Vec<PathBuf>,
    /// Also read the live cluster. The default when no -f, --pki-dir or --kubeconfig-certs is
    /// given.
    #[arg(long)]
    pub cluster: bool,
    /// The kubeconfig to connect with, like kubectl's (default: KUBECONFIG, a merged list, else
    /// ~/.kube/config, else in-cluster). Implies --cluster.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Vec<PathBuf>,
    /// The kubeconfig context to read the live cluster through (like `kubectl --context`).
    /// Implies --cluster.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Only this namespace's objects (cluster-scoped caBundle holders are skipped). Implies
    /// --cluster.
    #[arg(
        short = 'n',
        long,
        value_name = "NAMESPACE",
        conflicts_with = "all_namespaces"
    )]
    pub namespace: Option<String>,
    /// Every namespace: the default (an audit that saw only one namespace would miss
    /// expiring certificates); accepted as kubectl users type it. Implies --cluster.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Server-side label selector for every kind listed (`-l app=web,tier!=db`), as kubectl's.
    /// Implies --cluster.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
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
    #[command(flatten)]
    pub cert_manager: super::CertManagerArgs,
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Output,
    /// Colour STATUS in the text table: auto (on a terminal, unless NO_COLOR is set), always,
    /// never.
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    pub color: super::ColorWhen,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let policy = super::lint::load_policy(
        args.config.as_ref(),
        args.gateway_namespace.clone(),
        args.expiry_warning_days,
        &args.cert_manager,
    )?;
    let analyzer = Arc::new(Analyzer::new());
    let mut inventory = Inventory::new();
    let mut kubeconfig_certs = args.kubeconfig_certs.clone();
    let mut connect_with = args.kubeconfig.clone();
    if old_kubeconfig_meaning(&args) {
        eprintln!("{}", deprecated_kubeconfig(&args.kubeconfig));
        kubeconfig_certs.append(&mut connect_with);
    }
    anyhow::ensure!(
        connect_with.len() <= 1,
        "--kubeconfig takes one file, the kubeconfig to connect with; to audit the certificates \
         inside kubeconfigs use --kubeconfig-certs FILE..."
    );
    let live = live_flags(&args)
        || !connect_with.is_empty()
        || (args.filenames.is_empty() && args.pki_dir.is_empty() && kubeconfig_certs.is_empty());
    let mut objects = Vec::new();
    for f in &args.filenames {
        let loaded =
            crate::load::load_paths(std::slice::from_ref(f)).context("-f: cannot load the dump")?;
        if let Some(e) = loaded.errors.first() {
            anyhow::bail!("-f {}: {}", e.source, e.reason);
        }
        // Fail closed: an empty pipe is what a failed `kubectl get ... |` leaves.
        anyhow::ensure!(!loaded.documents.is_empty(), no_objects(f));
        objects.extend(loaded.documents.into_iter().map(|d| d.value));
    }
    if live {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let listed = runtime.block_on(async {
            let target = crate::cluster::connect::Target {
                kubeconfig: connect_with.pop(),
                context: args.context.clone(),
            };
            let connected = crate::cluster::connect::connect(
                &target,
                "audit a dump with -f FILE, or --pki-dir / --kubeconfig-certs",
            )
            .await?;
            let scope = audit::live::Scope {
                namespace: args.namespace.clone(),
                selector: args.selector.clone(),
            };
            // One line: what failed, which cluster, the root cause (kube's chain repeats
            // "client error (Connect)" at every layer).
            let bar = progress_line();
            let listed = audit::live::list(&connected.client, &scope, &mut |plural, n| {
                bar.set_message(format!("listing {plural}: {n} objects so far"));
            })
            .await;
            bar.finish_and_clear();
            listed.map_err(|e| {
                let root = e.root_cause().to_string();
                let what = e.to_string();
                let cluster = &connected.via;
                if root == what {
                    anyhow::anyhow!("{what} from the cluster ({cluster})")
                } else {
                    anyhow::anyhow!("{what} from the cluster ({cluster}): {root}")
                }
            })
        })?;
        objects.extend(listed);
    }
    inventory.add_objects(&objects, &policy, &analyzer);
    anyhow::ensure!(
        args.filenames.is_empty() || !inventory.certs.is_empty(),
        "no certificates in -f {}: expected Secrets, ConfigMaps, webhook configurations, \
         APIServices or CRDs that hold certificates",
        list(&args.filenames)
    );
    for dir in &args.pki_dir {
        let before = inventory.certs.len();
        inventory.add_pki(&audit::pki::read_dir(dir)?);
        anyhow::ensure!(inventory.certs.len() > before, no_pki_certs(dir));
    }
    for kc in &kubeconfig_certs {
        let before = inventory.certs.len();
        inventory.add_kubeconfig(&audit::kubeconfig::read(kc)?);
        anyhow::ensure!(
            inventory.certs.len() > before,
            "no certificates in --kubeconfig-certs {}: expected certificate-authority(-data) or \
             client-certificate(-data) entries",
            kc.display()
        );
    }
    let now = args.now.unwrap_or_else(crate::wall_clock);
    let days = policy.expiry_warning_days;
    let text = match args.output {
        Output::Text | Output::Wide => audit::render::to_text(
            &inventory,
            now,
            days,
            audit::render::TextOptions {
                wide: args.output == Output::Wide,
                color: args.color.enabled(std::io::stdout().is_terminal()),
            },
        ),
        Output::Json => audit::render::to_json(&inventory, now, days) + "\n",
        Output::Html => audit::render::to_html(&inventory, now, days),
        Output::Prometheus => audit::render::to_prometheus(&inventory, now),
    };
    super::lint::write_stdout(&text)?;
    Ok(if audit::failing(&audit::rows(&inventory, now, days)) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Flags that only make sense against a cluster.
fn live_flags(args: &Args) -> bool {
    args.cluster
        || args.context.is_some()
        || args.namespace.is_some()
        || args.all_namespaces
        || args.selector.is_some()
}

/// `--kubeconfig` as it was used before it meant "connect with": beside `-f` or `--pki-dir`
/// (or repeated) and with no flag that asks for the cluster. Such a command keeps working, with
/// a note, rather than quietly connecting to whatever cluster the file points at. Beside
/// `--kubeconfig-certs` it is the new meaning: that user knows both flags.
fn old_kubeconfig_meaning(args: &Args) -> bool {
    let offline = args.kubeconfig_certs.is_empty()
        && (!args.filenames.is_empty() || !args.pki_dir.is_empty() || args.kubeconfig.len() > 1);
    !args.kubeconfig.is_empty() && offline && !live_flags(args)
}

fn deprecated_kubeconfig(files: &[PathBuf]) -> String {
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    format!(
        "tlsgate: deprecated: --kubeconfig beside -f/--pki-dir audits the certificates in {}; write \
         --kubeconfig-certs for that (--kubeconfig now names the kubeconfig to connect with: add \
         --cluster for that)",
        names.join(", ")
    )
}

/// A spinner on stderr while a live cluster is listed, so a long audit shows it is working;
/// hidden when stderr is not a terminal (a CI log, a pipe), where it would be noise.
fn progress_line() -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar.set_message("connecting");
    bar
}

fn list(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", -f ")
}

fn no_objects(f: &std::path::Path) -> String {
    let dump = "`kubectl get secrets,configmaps,... -A -o json`";
    if f.as_os_str() == "-" {
        format!("-f -: standard input holds no objects: expected the output of {dump} (did the command before the pipe fail?)")
    } else {
        format!(
            "-f {}: holds no objects: expected a {dump} dump",
            f.display()
        )
    }
}

/// The kubeadm file names come from the layout [`audit::pki`] reads, so the hint cannot drift.
fn no_pki_certs(dir: &std::path::Path) -> String {
    use audit::pki::{CAS, LEAVES};
    let stems = [CAS[0].1, LEAVES[0].1, CAS[1].1, CAS[2].1];
    let names: Vec<String> = stems.iter().map(|stem| format!("{stem}.crt")).collect();
    format!(
        "no certificates under {}: expected a kubeadm PKI directory with {}, … (like /etc/kubernetes/pki)",
        dir.display(),
        names.join(", ")
    )
}
