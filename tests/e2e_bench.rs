//! Speed and size against a real kube-apiserver (envtest binaries from `KUBEBUILDER_ASSETS`),
//! run by hand, each test on a control plane of its own, one at a time:
//!
//! ```sh
//! cargo build --release --bin tlsgate
//! TLSGATE_BENCH_BIN=$CARGO_TARGET_DIR/release/tlsgate KUBEBUILDER_ASSETS=... \
//!   cargo test --test e2e_bench -- --ignored --nocapture --test-threads=1
//! ```
//!
//! `TLSGATE_SECRETS=N` sets how many distinct TLS Secrets the ready test creates (10,000).
//!
//! `TLSGATE_BENCH_BIN` is the tlsgate measured (default: the test profile's, which is not what
//! the README's numbers are from). The test driver itself may be a debug build: it only makes
//! API requests and reads `/metrics`, `/readyz` and `/proc/PID/status`.
//!
//! tlsgate runs as `serve` in cluster mode with the admin kubeconfig (`--kubeconfig`) and no
//! webhook registered, so the Secrets are written at the API server's pace, not the webhook's.

#[path = "../benches/common/cluster.rs"]
mod bench_cluster;
#[path = "../benches/common/proc.rs"]
mod bench_proc;
mod common;
#[path = "support/e2e.rs"]
mod install;
mod support;

use futures::StreamExt;
use install::NOW;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::envtest::{free_port, ControlPlane, Proc};

/// Clients writing at once while the cluster is filled.
const WRITERS: usize = 4;

fn tlsgate_bin() -> PathBuf {
    std::env::var_os("TLSGATE_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_tlsgate")))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn admin_client(cp: &ControlPlane) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(&cp.admin).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(cfg).unwrap()
}

/// The `kubectl create secret tls` fixture (a real certificate and key) as `ns/name`.
fn tls_secret(ns: &str, name: &str) -> k8s_openapi::api::core::v1::Secret {
    let mut v: Value =
        yaml_serde::from_str(&common::fixture_text("secrets/httpbin-credential-san.yaml")).unwrap();
    v["metadata"] = json!({"name": name, "namespace": ns});
    serde_json::from_value(v).unwrap()
}

/// A Helm release record of `bytes` incompressible bytes (Helm stores a gzipped release, so
/// its records do not compress either).
fn helm_release(
    ns: &str,
    name: &str,
    bytes: usize,
    seed: u64,
) -> k8s_openapi::api::core::v1::Secret {
    let mut x = seed | 1;
    let release: Vec<u8> = (0..bytes)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ns, "labels": {"owner": "helm", "name": name, "status": "deployed", "version": "1"}},
        "type": "helm.sh/release.v1",
        "data": {"release": common::b64(&release)},
    }))
    .unwrap()
}

async fn create_namespace(client: &kube::Client, ns: &str) {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let obj = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
    api.create(&PostParams::default(), &obj).await.unwrap();
}

/// Creates `secrets`, each in its own namespace, with [`WRITERS`] clients at once; returns the
/// time taken (made before the clock starts).
async fn create_all(
    client: &kube::Client,
    secrets: impl IntoIterator<Item = k8s_openapi::api::core::v1::Secret>,
) -> Duration {
    let objects: Vec<_> = secrets.into_iter().collect();
    let start = Instant::now();
    futures::stream::iter(objects)
        .map(|s| {
            let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(
                client.clone(),
                s.metadata.namespace.as_deref().unwrap_or("default"),
            );
            async move { api.create(&PostParams::default(), &s).await.map(|_| ()) }
        })
        .buffer_unordered(WRITERS)
        .for_each(|r| async move { r.expect("create Secret") })
        .await;
    start.elapsed()
}

/// A running tlsgate and what it costs.
struct Measured {
    proc: Proc,
    addr: SocketAddr,
    ca_pem: Vec<u8>,
    ready_after: Duration,
}

/// Starts tlsgate against `cp` and waits for `/readyz`.
async fn start_tlsgate(cp: &ControlPlane, dir: &Path) -> Measured {
    tlsgate::cli::dev_certs::generate(dir, tlsgate::wall_clock()).unwrap();
    let port = free_port();
    let args: Vec<String> = [
        "serve",
        "--addr",
        &format!("127.0.0.1:{port}"),
        "--tls-cert-file",
        dir.join("tls.crt").to_str().unwrap(),
        "--tls-key-file",
        dir.join("tls.key").to_str().unwrap(),
        "--kubeconfig",
        cp.admin.to_str().unwrap(),
        "--now",
        NOW,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let started = Instant::now();
    let proc = Proc::spawn(
        &tlsgate_bin(),
        &args,
        // The watch says at info when it lists in pages rather than streamed.
        &[("RUST_LOG", "warn,tlsgate::cluster=info")],
        dir.join("tlsgate.log"),
        None,
    );
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let ca_pem = std::fs::read(dir.join("ca.crt")).unwrap();
    loop {
        if let Ok(mut conn) = connect(addr, &ca_pem).await {
            if let Ok((200, _)) = conn.request("GET", "/readyz", Vec::new()).await {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "tlsgate not ready in 300 s: {}",
            proc.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Measured {
        ready_after: started.elapsed(),
        proc,
        addr,
        ca_pem,
    }
}

async fn connect(addr: SocketAddr, ca_pem: &[u8]) -> Result<common::https::Conn, String> {
    let roots = common::https::roots(&[ca_pem]);
    let cfg = common::https::client_config(roots, &[&tokio_rustls::rustls::version::TLS13]);
    common::https::connect(addr, cfg).await
}

/// `VmRSS` and `VmHWM` (peak) of `proc`, in MiB.
fn rss_mib(proc: &Proc) -> (f64, f64) {
    let pid = proc.pid().expect("tlsgate's pid");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// `tlsgate_cache_objects{kind="secret"}`.
async fn secrets_in_view(conn: &mut common::https::Conn) -> f64 {
    let (_, body) = conn
        .request("GET", "/metrics", Vec::new())
        .await
        .expect("metrics");
    body.lines()
        .find_map(|l| l.strip_prefix("tlsgate_cache_objects{kind=\"secret\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn tempdir() -> PathBuf {
    tempfile::Builder::new()
        .prefix("tlsgate-bench-")
        .tempdir()
        .unwrap()
        .keep()
}

/// `TLSGATE_SECRETS` distinct TLS Secrets (default 10,000), as `benches/common/cluster.rs`
/// makes them for the growth benchmark: each its own P-256 key and leaf, over 100 namespaces.
#[test]
#[ignore = "benchmark: run by hand, see the module doc"]
fn ready_time_and_rss_with_many_tls_secrets() {
    let Some(cp) = ControlPlane::own() else {
        return;
    };
    let n: usize = std::env::var("TLSGATE_SECRETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let set = bench_cluster::tls_cluster(n, 0);
    let rt = runtime();
    rt.block_on(async {
        let client = admin_client(&cp).await;
        let namespaces: std::collections::BTreeSet<&str> =
            set.secrets.iter().map(|s| s.namespace.as_str()).collect();
        for ns in namespaces {
            create_namespace(&client, ns).await;
        }
        let took = create_all(
            &client,
            set.secrets.iter().enumerate().map(|(i, s)| {
                let mut v = s.json(i);
                v["metadata"] = json!({"name": s.name, "namespace": s.namespace});
                serde_json::from_value(v).unwrap()
            }),
        )
        .await;
        println!(
            "bench: created {n} distinct TLS Secrets in {:.1} s with {WRITERS} clients",
            took.as_secs_f64()
        );
        let apiserver = cp.apiserver_pid().expect("kube-apiserver's pid");
        let apiserver_before = bench_proc::cpu_seconds(apiserver);
        let gate = start_tlsgate(&cp, &tempdir()).await;
        let (rss, peak) = rss_mib(&gate.proc);
        let cpu = bench_proc::cpu_seconds(gate.proc.pid().expect("tlsgate's pid"));
        let apiserver_cpu = bench_proc::cpu_seconds(apiserver) - apiserver_before;
        let mut conn = connect(gate.addr, &gate.ca_pem).await.unwrap();
        let seen = secrets_in_view(&mut conn).await;
        assert!(seen >= n as f64, "the view holds {seen} Secrets");
        let lists = if gate.proc.log_text().contains("does not stream lists") {
            "in pages: this API server does not stream lists"
        } else {
            "streamed"
        };
        println!(
            "bench: {n} distinct TLS Secrets: ready {:.2} s after start ({cpu:.2} s of tlsgate's CPU, {apiserver_cpu:.2} s of the API server's), RSS {rss:.1} MiB at ready, peak {peak:.1} MiB, lists {lists}",
            gate.ready_after.as_secs_f64()
        );
    });
}

#[test]
#[ignore = "benchmark: run by hand, see the module doc"]
fn secret_write_to_view_latency_over_1000_writes() {
    let Some(cp) = ControlPlane::own() else {
        return;
    };
    let rt = runtime();
    rt.block_on(async {
        let client = admin_client(&cp).await;
        create_namespace(&client, "bench").await;
        let gate = start_tlsgate(&cp, &tempdir()).await;
        let mut conn = connect(gate.addr, &gate.ca_pem).await.unwrap();
        let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), "bench");
        let base = secrets_in_view(&mut conn).await;
        let mut seen_after = Vec::with_capacity(1000);
        for i in 0..1000 {
            let s = tls_secret("bench", &format!("write-{i:04}"));
            // Each Secret is deleted again once seen, so /metrics stays small to poll.
            let start = Instant::now();
            api.create(&PostParams::default(), &s).await.unwrap();
            while secrets_in_view(&mut conn).await != base + 1.0 {
                assert!(start.elapsed() < Duration::from_secs(30), "write {i} not seen in 30 s");
            }
            seen_after.push(start.elapsed());
            api.delete(&format!("write-{i:04}"), &DeleteParams::default()).await.unwrap();
            while secrets_in_view(&mut conn).await != base {
                assert!(start.elapsed() < Duration::from_secs(60), "delete {i} not seen");
            }
        }
        seen_after.sort();
        println!(
            "bench: Secret write -> in tlsgate's view (from the create request, 1000 writes): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            percentile(&seen_after, 0.5).as_secs_f64() * 1e3,
            percentile(&seen_after, 0.99).as_secs_f64() * 1e3,
            seen_after.last().unwrap().as_secs_f64() * 1e3,
        );
    });
}

/// Helm release records never reach tlsgate (the Secret watch's field selector leaves them at
/// the API server), so 150 of ~600 KB (90 MB) cost it nothing.
#[test]
#[ignore = "benchmark: run by hand, see the module doc"]
fn peak_rss_with_150_helm_release_secrets_of_600_kb_stays_under_80_mib() {
    let Some(cp) = ControlPlane::own() else {
        return;
    };
    let rt = runtime();
    rt.block_on(async {
        let client = admin_client(&cp).await;
        create_namespace(&client, "bench").await;
        // 450,000 bytes are 600,000 in base64, as the API server stores and lists them.
        let took = create_all(
            &client,
            (0..150).map(|i| {
                helm_release("bench", &format!("sh.helm.release.v1.app-{i:03}.v1"), 450_000, i as u64 + 7)
            }),
        )
        .await;
        println!("bench: created 150 Helm release Secrets of ~600 KB in {:.1} s", took.as_secs_f64());
        let gate = start_tlsgate(&cp, &tempdir()).await;
        // A settled view: the watches run, nothing more arrives.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (rss, peak) = rss_mib(&gate.proc);
        println!(
            "bench: 150 Helm release Secrets of ~600 KB: ready {:.2} s after start, RSS {rss:.1} MiB, peak {peak:.1} MiB",
            gate.ready_after.as_secs_f64()
        );
        assert!(peak < 80.0, "peak RSS {peak:.1} MiB, the limit is 80 MiB");
    });
}
