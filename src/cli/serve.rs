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
    /// Use these manifests (files or directories) as the cluster view instead of a cluster.
    #[arg(long, value_name = "PATH")]
    pub manifests: Vec<PathBuf>,
    /// Development mode: 127.0.0.1:8443, certs-dev/ (generated when absent), examples/ as the view.
    #[arg(long)]
    pub dev: bool,
    /// Decide as of this time (RFC 3339) instead of the clock: reproducible demos and tests.
    #[arg(long, value_parser = crate::parse_time)]
    pub now: Option<i64>,
    /// How often the certificate files are compared for changes.
    #[arg(long, default_value = "2", value_name = "SECONDS")]
    pub cert_check_interval: u64,
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
        let dir = PathBuf::from("certs-dev");
        let cert = dir.join("tls.crt");
        if needs_dev_certs(&cert, clock()) {
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
    let cert_file = args
        .tls_cert_file
        .clone()
        .context("--tls-cert-file must be set (or use --dev)")?;
    let key_file = args
        .tls_key_file
        .clone()
        .context("--tls-key-file must be set (or use --dev)")?;
    let addr = args.addr.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 8443)));
    let policy = Arc::new(super::lint::load_policy(args.config.as_ref(), None, None)?);
    let analyzer = Arc::new(Analyzer::new());

    let files = reload::FilePair {
        cert: cert_file,
        key: key_file,
    };
    let (cert_pem, key_pem) = files.read().map_err(anyhow::Error::msg)?;
    let first = tls::load_pair(&cert_pem, &key_pem, clock(), &analyzer).map_err(|e| {
        anyhow::anyhow!(
            "--tls-cert-file {} cannot be served: {e}",
            files.cert.display()
        )
    })?;
    tracing::info!(subject = %first.subject, not_after = %rfc3339(first.not_after), "serving certificate loaded");
    let store = tls::CertStore::new(first);

    let view = Arc::new(RwLock::new(Index::new(analyzer.clone())));
    let synced = Arc::new(AtomicBool::new(false));
    if !args.manifests.is_empty() {
        let loaded = crate::load::load_paths(&args.manifests).context("cannot load --manifests")?;
        let objects = crate::lint::decode(&loaded);
        for e in &objects.errors {
            tracing::warn!(problem = %e.finding.message, "skipping a manifest");
        }
        *view.write().unwrap_or_else(|e| e.into_inner()) =
            crate::lint::index(&objects, analyzer.clone());
        synced.store(true, std::sync::atomic::Ordering::Release);
        tracing::info!(
            objects = objects.objects.len(),
            "cluster view loaded from --manifests"
        );
    }

    let metrics = Arc::new(Metrics::new(view.clone(), clock));
    metrics.serving_cert_not_after.set(store.not_after());
    let state = AppState {
        view: view.clone(),
        policy,
        analyzer: analyzer.clone(),
        metrics: metrics.clone(),
        synced: synced.clone(),
        cert: store.clone(),
        clock,
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let _cluster = if args.manifests.is_empty() { Some(super::cluster_view(view, synced).await?) } else { None };
        let reloader = reload::Reloader {
            files,
            store,
            metrics,
            analyzer,
            clock,
            interval: Duration::from_secs(args.cert_check_interval.max(1)),
        };
        tokio::spawn(reloader.run(cert_pem, key_pem));
        let listener = std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on --addr {addr}"))?;
        let handle = axum_server::Handle::new();
        tokio::spawn(shutdown_on_signal(handle.clone()));
        tracing::info!(%addr, "tlsgate webhook listening (POST /validate, GET /healthz /readyz /metrics)");
        webhook::serve_on(listener, state, handle).await
    })?;
    Ok(ExitCode::SUCCESS)
}

fn needs_dev_certs(cert: &std::path::Path, now: i64) -> bool {
    let Ok(pem) = std::fs::read(cert) else {
        return true;
    };
    let b = crate::analysis::parse_bundle(&pem, crate::analysis::Role::ServerChain);
    b.leaf().is_none_or(|c| c.not_after - now < 7 * 86_400)
}

/// SIGTERM (kubelet) or Ctrl-C: stop accepting, let in-flight reviews finish.
async fn shutdown_on_signal(handle: axum_server::Handle) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: draining in-flight requests");
    handle.graceful_shutdown(Some(Duration::from_secs(10)));
}
