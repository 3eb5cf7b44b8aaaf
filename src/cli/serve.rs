//! `tlsgate serve`: the validating admission webhook.

use crate::analysis::{rfc3339, Analyzer};
use crate::lookup::Index;
use crate::webhook::{self, metrics::Metrics, reload, tls, AppState};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Listen address [default: 0.0.0.0:8443, or 127.0.0.1:8443 with --dev].
    #[arg(long)]
    pub addr: Option<SocketAddr>,
    /// Serving certificate (PEM, leaf first). Watched and reloaded when it changes.
    #[arg(long, value_name = "FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// Serving private key (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// Policy file (YAML).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub cert_manager: super::CertManagerArgs,
    /// Use these manifests (files or directories) as the cluster view instead of a cluster.
    #[arg(long, value_name = "PATH")]
    pub manifests: Vec<PathBuf>,
    /// The kubeconfig to connect with, like kubectl's (default: KUBECONFIG, a merged list,
    /// else ~/.kube/config, else in-cluster config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context of the cluster to watch (like `kubectl --context`). Default:
    /// the kubeconfig's current context.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Development mode: 127.0.0.1:8443, certs-dev/ (generated when absent) and ./examples as
    /// the view unless --manifests is given, so run it from a tlsgate checkout. Needs no cluster;
    /// not with --self-managed-certs.
    #[arg(long)]
    pub dev: bool,
    /// Decide admissions as of this time (RFC 3339) instead of the clock: reproducible demos
    /// and tests. The serving certificate is always judged by the real clock.
    #[arg(long, value_parser = crate::parse_time)]
    pub now: Option<i64>,
    /// How often the certificate files are compared for changes.
    #[arg(long, default_value = "2", value_name = "SECONDS")]
    pub cert_check_interval: u64,
    /// Make and renew tlsgate's own CA and serving certificate (no cert-manager needed):
    /// kept in --cert-secret-name, CA written into --webhook-config-name's caBundle. Needs a
    /// cluster to write them to (in-cluster config or kubeconfig); not with --dev, which serves
    /// certs-dev/ without one. --tls-cert-file/--tls-key-file are ignored. See
    /// docs/self-managed-certs.md.
    #[arg(long, conflicts_with = "dev")]
    pub self_managed_certs: bool,
    /// The Service the API server calls: the certificate is for <service>.<namespace>.svc.
    #[arg(long, default_value = "tlsgate", value_name = "NAME")]
    pub service_name: String,
    /// Namespace of the Service, the Secret and the Lease.
    #[arg(long, default_value = "tlsgate-system", value_name = "NAMESPACE")]
    pub namespace: String,
    /// ValidatingWebhookConfiguration whose webhooks get the caBundle.
    #[arg(long, default_value = "tlsgate", value_name = "NAME")]
    pub webhook_config_name: String,
    /// Secret holding the serving pair and the CA (created when absent).
    #[arg(long, default_value = "tlsgate-serving-cert", value_name = "NAME")]
    pub cert_secret_name: String,
    /// Lease electing the one replica that writes certificates.
    #[arg(long, default_value = "tlsgate-cert-writer", value_name = "NAME")]
    pub lease_name: String,
    /// A review not answered this long after its request arrived gets --on-review-timeout's
    /// answer (below the API server's timeoutSeconds: 5). Durations: 500ms, 3s, 2m.
    #[arg(long, default_value = "3s", value_parser = parse_duration, value_name = "DURATION")]
    pub review_deadline: Millis,
    /// The answer past --review-deadline: allow (with a warning) or deny.
    #[arg(long, value_enum, default_value = "allow")]
    pub on_review_timeout: webhook::OnTimeout,
    /// Reviews running at once [default: the CPUs available, at least 2].
    #[arg(long, value_name = "N")]
    pub max_concurrent_reviews: Option<usize>,
    /// TLS connections open at once; one more is closed at accept, logged and counted.
    #[arg(long, default_value = "1024", value_name = "N")]
    pub max_connections: usize,
    /// A TLS handshake must finish within this.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub handshake_timeout: Millis,
    /// A request head must arrive within this (and a new connection's first request start).
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub header_read_timeout: Millis,
    /// An idle keep-alive connection is closed after this; keep it above the API server's 90 s.
    #[arg(long, default_value = "120s", value_parser = parse_duration, value_name = "DURATION")]
    pub idle_timeout: Millis,
    /// On SIGTERM, how long in-flight requests may take to finish.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub drain_timeout: Millis,
}

/// A duration flag, in milliseconds (kept small: `Args` is one variant of the command enum).
type Millis = u64;

/// `250ms`, `3s`, `2m`: a number and a unit.
fn parse_duration(text: &str) -> Result<Millis, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or("needs a unit: ms, s or m (e.g. 3s)")?;
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().map_err(|_| "expected a number then ms, s or m")?;
    match unit {
        "ms" => Ok(n),
        "s" => Ok(n.saturating_mul(1_000)),
        "m" => Ok(n.saturating_mul(60_000)),
        _ => Err("the unit must be ms, s or m".into()),
    }
}

/// How often the Lease holder renews it and re-checks the certificates (Lease: 15 s).
const SELF_MANAGED_TICK: Duration = Duration::from_secs(5);
const LEASE_SECONDS: i32 = 15;

impl Args {
    /// `--kubeconfig` and `--context`, for [`crate::cluster::connect::client`].
    fn target(&self) -> crate::cluster::connect::Target {
        crate::cluster::connect::Target {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }

    fn serve_options(&self) -> webhook::ServeOptions {
        let defaults = webhook::ReviewLimits::default();
        webhook::ServeOptions {
            conn: webhook::server::ConnLimits {
                handshake_timeout: Duration::from_millis(self.handshake_timeout),
                header_read_timeout: Duration::from_millis(self.header_read_timeout),
                idle_timeout: Duration::from_millis(self.idle_timeout),
                max_connections: self.max_connections.max(1),
                drain_timeout: Duration::from_millis(self.drain_timeout),
            },
            review: webhook::ReviewLimits {
                deadline: Duration::from_millis(self.review_deadline),
                on_timeout: self.on_review_timeout,
                max_concurrent: self
                    .max_concurrent_reviews
                    .unwrap_or(defaults.max_concurrent)
                    .max(1),
                ..defaults
            },
        }
    }

    fn self_managed_config(&self) -> crate::selfcert::Config {
        // The pod name: HOSTNAME in a pod unless hostname is set in the pod spec.
        let identity = std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| format!("tlsgate-{}", std::process::id()));
        crate::selfcert::Config {
            names: crate::selfcert::plan::ServiceName {
                service: self.service_name.clone(),
                namespace: self.namespace.clone(),
            },
            webhook_config: self.webhook_config_name.clone(),
            secret: self.cert_secret_name.clone(),
            lease: self.lease_name.clone(),
            identity,
            lease_duration_seconds: LEASE_SECONDS,
            schedule: crate::selfcert::plan::Schedule::default(),
        }
    }
}

static FIXED_NOW: OnceLock<i64> = OnceLock::new();

fn clock() -> i64 {
    FIXED_NOW.get().copied().unwrap_or_else(crate::wall_clock)
}

pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    if let Some(now) = args.now {
        let _ = FIXED_NOW.set(now);
    }
    if args.dev {
        // Before writing certs-dev/: outside a checkout there is nothing to serve.
        anyhow::ensure!(
            !args.manifests.is_empty() || std::path::Path::new("examples").is_dir(),
            "--dev uses ./examples as its cluster view, and there is none here: run it from \
             a tlsgate checkout, or give the view with --manifests PATH"
        );
        let dir = PathBuf::from("certs-dev");
        let cert = dir.join("tls.crt");
        if needs_dev_certs(&cert, crate::wall_clock()) {
            super::dev_certs::generate(&dir, crate::wall_clock())?;
            tracing::info!("generated a development CA and serving certificate in certs-dev/");
        }
        args.tls_cert_file.get_or_insert(cert);
        args.tls_key_file.get_or_insert(dir.join("tls.key"));
        args.addr
            .get_or_insert(SocketAddr::from(([127, 0, 0, 1], 8443)));
        if args.manifests.is_empty() {
            args.manifests.push(PathBuf::from("examples"));
        }
    }
    let addr = args.addr.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 8443)));
    let policy = Arc::new(super::lint::load_policy(
        args.config.as_ref(),
        None,
        None,
        &args.cert_manager,
    )?);
    let analyzer = Arc::new(Analyzer::new());
    let from_files = if args.self_managed_certs {
        if let Some(f) = &args.tls_cert_file {
            tracing::info!(
                file = %f.display(),
                "--tls-cert-file is ignored with --self-managed-certs: the pair comes from --cert-secret-name"
            );
        }
        None
    } else {
        Some(load_files(&args, &analyzer)?)
    };

    let view = Arc::new(RwLock::new(Index::new(analyzer.clone())));
    let synced = Arc::new(AtomicBool::new(false));
    if !args.manifests.is_empty() {
        // Index each document as it is parsed: only summaries stay in memory.
        let mut sink = IndexSink {
            index: Index::new(analyzer.clone()),
            objects: 0,
        };
        crate::load::visit_paths(&args.manifests, &mut sink).context("cannot load --manifests")?;
        *view.write().unwrap_or_else(|e| e.into_inner()) = sink.index;
        crate::par::release_freed();
        synced.store(true, std::sync::atomic::Ordering::Release);
        tracing::info!(
            objects = sink.objects,
            "cluster view loaded from --manifests"
        );
    }

    let metrics = Arc::new(Metrics::new(view.clone(), clock));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let opts = args.serve_options();
    let served = rt.block_on(async move {
        let _cluster = if args.manifests.is_empty() {
            Some(
                super::cluster_view(
                    view.clone(),
                    synced.clone(),
                    &args.target(),
                    no_cluster_hint(args.self_managed_certs),
                )
                .await?,
            )
        } else {
            None
        };
        let (store, _self_managed) = match from_files {
            Some((files, store, cert_pem, key_pem)) => {
                let reloader = reload::Reloader {
                    files,
                    store: store.clone(),
                    metrics: metrics.clone(),
                    analyzer: analyzer.clone(),
                    // The serving certificate lives in real time, whatever --now says.
                    clock: crate::wall_clock,
                    interval: Duration::from_secs(args.cert_check_interval.max(1)),
                    host: serving_host(&args),
                };
                tokio::spawn(reloader.run(cert_pem, key_pem));
                (store, None)
            }
            None => {
                let client = crate::cluster::connect::client(
                    &args.target(),
                    no_cluster_hint(true),
                )
                .await?;
                let running = crate::selfcert::start(
                    client,
                    args.self_managed_config(),
                    analyzer.clone(),
                    Arc::new(crate::wall_clock),
                    Some(metrics.clone()),
                    SELF_MANAGED_TICK,
                )
                .await;
                (running.store.clone(), Some(running))
            }
        };
        metrics.serving_cert_not_after.set(store.not_after());
        let state = AppState {
            view,
            policy,
            analyzer,
            metrics,
            synced,
            cert: store,
            clock,
        };
        let listener = std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on --addr {addr}"))?;
        tracing::info!(%addr, "tlsgate webhook listening (POST /validate, GET /healthz /readyz /metrics)");
        webhook::serve_on(listener, state, opts, shutdown_signal()).await
    });
    // A review past its deadline, or a read of a file that will not answer, may still hold a
    // blocking thread: do not wait for it on the way out.
    rt.shutdown_timeout(Duration::from_millis(500));
    served?;
    Ok(ExitCode::SUCCESS)
}

/// How to go on without a cluster. `--dev` refuses `--self-managed-certs`, so it is offered
/// only without it; the certificates need a cluster to live in whatever the view is.
fn no_cluster_hint(self_managed_certs: bool) -> &'static str {
    if self_managed_certs {
        "--self-managed-certs keeps its certificates in the cluster and needs one; without a \
         cluster, serve --tls-cert-file/--tls-key-file (with --manifests PATH as the view)"
    } else {
        "use --manifests PATH or --dev to run without one"
    }
}

/// The name clients verify the serving certificate against: `localhost` in --dev, else the
/// Service's `<name>.<namespace>.svc`.
fn serving_host(args: &Args) -> String {
    if args.dev {
        "localhost".to_string()
    } else {
        let names = crate::selfcert::plan::ServiceName {
            service: args.service_name.clone(),
            namespace: args.namespace.clone(),
        };
        // The first is the one the API server dials.
        names.dns_names().swap_remove(0)
    }
}

type FromFiles = (reload::FilePair, Arc<tls::CertStore>, Vec<u8>, Vec<u8>);

/// Reads and validates --tls-cert-file/--tls-key-file: the first pair must be servable.
fn load_files(args: &Args, analyzer: &Analyzer) -> anyhow::Result<FromFiles> {
    let cert_file = args
        .tls_cert_file
        .clone()
        .context("--tls-cert-file must be set (or use --dev or --self-managed-certs)")?;
    let key_file = args
        .tls_key_file
        .clone()
        .context("--tls-key-file must be set (or use --dev or --self-managed-certs)")?;
    let files = reload::FilePair {
        cert: cert_file,
        key: key_file,
    };
    let (cert_pem, key_pem) = files.read().map_err(anyhow::Error::msg)?;
    let first =
        tls::load_pair(&cert_pem, &key_pem, crate::wall_clock(), analyzer).map_err(|e| {
            anyhow::anyhow!(
                "--tls-cert-file {} cannot be served: {e}",
                files.cert.display()
            )
        })?;
    tracing::info!(subject = %first.subject, not_after = %rfc3339(first.not_after), "serving certificate loaded");
    for w in tls::serving_warnings(&first, &serving_host(args)) {
        tracing::warn!(cert = %files.cert.display(), "{w}");
    }
    Ok((files, tls::CertStore::new(first), cert_pem, key_pem))
}

/// Feeds `--manifests` documents into the index: each decoded and its Secrets analysed on the
/// core that parsed it ([`crate::lint::prepare`]), then indexed in input order.
struct IndexSink {
    index: Index,
    objects: usize,
}

impl crate::load::Sink for IndexSink {
    type Prepared = crate::lint::Prepared;

    fn preparer(&self) -> crate::load::Preparer<Self::Prepared> {
        let analyzer = self.index.analyzer().clone();
        Arc::new(move |d| crate::lint::prepare(&analyzer, d))
    }

    fn accept(&mut self, p: Self::Prepared) {
        match p.object {
            Ok(Some(obj)) => {
                self.index.upsert_analyzed(&obj, p.secret);
                self.objects += 1;
            }
            Ok(None) => self.index.upsert_ca_bundles(&p.document.value),
            Err(e) => {
                tracing::warn!(source = %p.document.source, problem = %e, "skipping a manifest")
            }
        }
    }

    fn error(&mut self, e: crate::load::LoadError) {
        tracing::warn!(source = %e.source, problem = %e.reason, "skipping a manifest");
    }
}

fn needs_dev_certs(cert: &std::path::Path, now: i64) -> bool {
    let Ok(pem) = std::fs::read(cert) else {
        return true;
    };
    let b = crate::analysis::parse_bundle(&pem, crate::analysis::Role::ServerChain);
    b.leaf().is_none_or(|c| c.not_after - now < 7 * 86_400)
}

/// SIGTERM (kubelet) or Ctrl-C: stop accepting, let in-flight reviews finish.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: draining in-flight requests");
}
