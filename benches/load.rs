//! Loopback load benchmark of `tlsgate serve`, side by side with a no-op rustls+hyper server
//! that answers a fixed AdmissionReview on the same TLS stack (the ceiling on this machine).
//!
//! Run: `cargo bench --bench load` (add `-- --quick` for a short run).
//!
//! 1. Writes 10,000 distinct kubernetes.io/tls Secrets (+1,000 Gateways) to a manifest file,
//!    starts the real `tlsgate serve --manifests` binary, measures time to /readyz and RSS.
//! 2. Fixed rate: 1,000 requests/s over 8 keep-alive connections, open loop (latency counted
//!    from the scheduled send time, so a stall is not hidden), p50/p99/p99.9.
//! 3. Max throughput: 32 keep-alive connections, closed loop.
//! 4. Memory: 50 distinct ~1 MiB Secret CREATEs (one certificate with 20,000 SANs each), then
//!    RSS: the parse cache is bounded by bytes, so this stays under the Deployment's 128 MiB.
//!
//! The body is a ~6 KB CREATE of a kubernetes.io/tls Secret with a 2-certificate chain,
//! derived from the AdmissionReview captured from kube-apiserver.

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_rustls::rustls;

mod common;
use common::proc::rss_mib;
use common::serve::{client_config, spawn_serve, wait_ready};
use common::{b64, review_body};

const NOW: &str = "2027-01-01T00:00:00Z";

/// 10,000 Secrets with distinct P-256 certificates (as a cluster would have), 1,000 Gateways.
fn write_cluster(path: &Path) {
    use rcgen::{CertificateParams, KeyPair};
    use std::fmt::Write;
    let mut out = String::new();
    for i in 0..10_000 {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let host = format!("svc-{i}.example.com");
        let cert = CertificateParams::new(vec![host.clone()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let _ = write!(
            out,
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: cred-{i}, namespace: istio-system}}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: {}\n  tls.key: {}\n---\n",
            b64(cert.pem().as_bytes()),
            b64(key.serialize_pem().as_bytes())
        );
        if i % 10 == 0 {
            let _ = write!(
                out,
                "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {{name: gw-{i}, namespace: istio-system}}\nspec:\n  selector: {{istio: ingressgateway}}\n  servers:\n  - port: {{number: 443, name: https, protocol: HTTPS}}\n    hosts: [{host}]\n    tls: {{mode: SIMPLE, credentialName: cred-{i}}}\n---\n"
            );
        }
    }
    // The Secret of the benchmark request is referenced too, so referrer checks run.
    out.push_str("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: mygateway, namespace: istio-system}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [app.example.com]\n    tls: {mode: SIMPLE, credentialName: httpbin-credential}\n");
    std::fs::write(path, out).unwrap();
}

/// A CREATE of a distinct Secret whose tls.crt is one certificate with 20,000 SANs (~1 MiB
/// of data after base64, the API server's limit).
fn big_secret_review(i: usize) -> Bytes {
    use rcgen::{CertificateParams, KeyPair};
    let names: Vec<String> = (0..20_000)
        .map(|j| format!("h{j}.big-{i}.example.com"))
        .collect();
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = CertificateParams::new(names)
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let mut review: serde_json::Value = serde_json::from_slice(&review_body()).unwrap();
    let object = &mut review["request"]["object"];
    object["metadata"]["name"] = format!("big-{i}").into();
    object["data"]["tls.crt"] = b64(cert.pem().as_bytes()).into();
    object["data"]["tls.key"] = b64(key.serialize_pem().as_bytes()).into();
    review["request"]["name"] = format!("big-{i}").into();
    Bytes::from(serde_json::to_vec(&review).unwrap())
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr, cfg: Arc<rustls::ClientConfig>) -> Sender {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

async fn post(s: &mut Sender, body: &Bytes) -> bool {
    if s.ready().await.is_err() {
        return false;
    }
    let req = hyper::Request::post("/validate")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(body.clone()))
        .unwrap();
    match s.send_request(req).await {
        Ok(resp) => resp.status() == 200 && resp.into_body().collect().await.is_ok(),
        Err(_) => false,
    }
}

struct Latency {
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
    errors: u64,
    sent: usize,
}

/// Open-loop fixed rate: each connection sends on its own schedule; latency is measured from
/// the scheduled time.
async fn fixed_rate(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    body: Bytes,
    rate: u64,
    secs: u64,
    conns: u64,
) -> Latency {
    let per_conn = Duration::from_nanos(1_000_000_000 * conns / rate);
    let n = (rate * secs / conns) as usize;
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..conns {
        let (cfg, body, errors) = (cfg.clone(), body.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = connect(addr, cfg).await;
            let start = Instant::now() + per_conn.mul_f64(c as f64 / conns as f64);
            let mut lat = Vec::with_capacity(n);
            let mut prev_done = Instant::now();
            for i in 0..n {
                let due = start + per_conn * i as u32;
                tokio::time::sleep_until(due.into()).await;
                // A send delayed by the previous response (the server) counts from `due`, so a
                // stall is not hidden; lateness from the client's 1 ms timer wheel does not.
                let from = if prev_done > due { due } else { Instant::now() };
                if !post(&mut s, &body).await {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                prev_done = Instant::now();
                lat.push(prev_done.duration_since(from).as_secs_f64() * 1e3);
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Latency {
        p50: q(0.50),
        p99: q(0.99),
        p999: q(0.999),
        max: *all.last().unwrap(),
        errors: errors.load(Ordering::Relaxed),
        sent: all.len(),
    }
}

/// Closed loop: as fast as `conns` keep-alive connections go. Returns requests a second and
/// the server's CPU microseconds a request (`cpu()`: its CPU seconds so far), which depends
/// much less than the rate on what else the machine runs.
async fn max_throughput(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    body: Bytes,
    secs: u64,
    conns: usize,
    cpu: impl Fn() -> f64,
) -> (f64, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (cfg, body, stop, done) = (cfg.clone(), body.clone(), stop.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = connect(addr, cfg).await;
            while !stop.load(Ordering::Relaxed) {
                if post(&mut s, &body).await {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (start, before, cpu_before) = (Instant::now(), done.load(Ordering::Relaxed), cpu());
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let answered = done.load(Ordering::Relaxed) - before;
    let cpu_us = (cpu() - cpu_before) * 1e6 / answered.max(1) as f64;
    let rps = answered as f64 / start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    (rps, cpu_us)
}

/// The no-op server's worker thread, by name, for its CPU time.
const NOOP_THREAD: &str = "noop-worker";

/// The ceiling: same rustls config, same accept loop and connection limits, a handler that does
/// nothing.
fn start_noop(dir: &Path) -> SocketAddr {
    let analyzer = tlsgate::analysis::Analyzer::new();
    let pair = tlsgate::webhook::tls::load_pair(
        &std::fs::read(dir.join("tls.crt")).unwrap(),
        &std::fs::read(dir.join("tls.key")).unwrap(),
        tlsgate::wall_clock(),
        &analyzer,
    )
    .unwrap();
    let cfg =
        tlsgate::webhook::tls::server_config(tlsgate::webhook::tls::CertStore::new(pair)).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(NOOP_THREAD)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let fixed = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"00000000-0000-0000-0000-000000000000","allowed":true}}"#;
            let app = axum::Router::new().route(
                "/validate",
                axum::routing::post(move |_body: Bytes| async move { ([("content-type", "application/json")], fixed) }),
            );
            tlsgate::webhook::server::serve_router(
                listener,
                app,
                Arc::new(cfg),
                Default::default(),
                Default::default(),
                std::future::pending(),
            )
            .await
            .unwrap();
        });
    });
    addr
}

fn main() {
    if std::env::args().any(|a| a == "--test") {
        return; // `cargo test --benches` only checks that this builds; the run is `cargo bench`.
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let secs = if quick { 3 } else { 10 };
    let work = tempfile::tempdir().unwrap();
    tlsgate::cli::dev_certs::generate(work.path(), tlsgate::wall_clock()).unwrap();
    let manifests = work.path().join("cluster.yaml");
    write_cluster(&manifests);
    let ca = std::fs::read(work.path().join("ca.crt")).unwrap();
    let cfg = client_config(&ca);
    let body = Bytes::from(review_body());

    let addr = common::serve::free_addr();
    let child = spawn_serve(addr, work.path(), &manifests, NOW);
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let ready = wait_ready(addr, cfg.clone(), &client_rt, Duration::from_secs(60))
        .expect("tlsgate became ready");
    let rss_idle = rss_mib(child.0.id());
    let noop = start_noop(work.path());

    println!(
        "request body: {} bytes (Secret CREATE, 2-certificate chain + key)",
        body.len()
    );
    println!("tlsgate serve --manifests (10,000 TLS Secrets, 1,001 Gateways): ready in {:.2} s, RSS {rss_idle:.1} MiB", ready.as_secs_f64());
    println!();
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>10} {:>8} {:>14} {:>12}",
        "server", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors", "max req/s", "CPU µs/req"
    );
    let mut results = Vec::new();
    let pid = child.0.id();
    for (name, target) in [("noop", noop), ("tlsgate", addr)] {
        let lat = client_rt.block_on(fixed_rate(target, cfg.clone(), body.clone(), 1000, secs, 8));
        let cpu = move || {
            if name == "noop" {
                common::proc::threads_cpu_seconds(NOOP_THREAD)
            } else {
                common::proc::cpu_seconds(pid)
            }
        };
        let (rps, cpu_us) = client_rt.block_on(max_throughput(
            target,
            cfg.clone(),
            body.clone(),
            secs.min(5),
            32,
            cpu,
        ));
        println!(
            "{name:<10} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>8} {:>14.0} {:>12.1}   ({} requests at 1,000/s)",
            lat.p50, lat.p99, lat.p999, lat.max, lat.errors, rps, cpu_us, lat.sent
        );
        results.push((rps, cpu_us));
    }
    println!();
    println!(
        "tlsgate / noop max throughput: {:.2} (server CPU a request: {:.2}x the no-op's)",
        results[1].0 / results[0].0,
        results[1].1 / results[0].1.max(f64::MIN_POSITIVE)
    );
    println!("tlsgate RSS after load: {:.1} MiB", rss_mib(child.0.id()));

    let bigs: Vec<Bytes> = (0..50).map(big_secret_review).collect();
    let answered = client_rt.block_on(async {
        let mut s = connect(addr, cfg.clone()).await;
        let mut ok = 0;
        for b in &bigs {
            ok += usize::from(post(&mut s, b).await);
        }
        ok
    });
    println!(
        "tlsgate RSS after 50 distinct {:.1} MiB Secret CREATEs ({answered} answered): {:.1} MiB",
        bigs[0].len() as f64 / 1_048_576.0,
        rss_mib(child.0.id())
    );
}
