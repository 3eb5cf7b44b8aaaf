//! How cost grows with the cluster (issue 14): for 1,000 / 10,000 / 100,000 distinct TLS
//! Secrets (+ one Gateway per ten Secrets), the README's growth table.
//!
//! Run: `cargo bench --bench growth` (sizes: `-- 1000 10000`).
//!
//! Per size, with the set of `common::cluster` written to a directory (10,000 Secrets a file):
//! - `serve --manifests DIR` (the real binary): time from spawn to `/readyz` 200, RSS then;
//! - `tlsgate lint -o json DIR` under `/usr/bin/time -v`: wall time and peak RSS;
//! - one Secret CREATE AdmissionReview (of a Secret a Gateway references, so the referrer
//!   checks run) reviewed in-process against an index of that size: mean µs per request.
//!
//! Ready time from the in-process list/watch server is a test (it needs the fake API server):
//! `TLSGATE_SECRETS=100000 cargo test --release --test cluster_watch -- --ignored --nocapture ready_with_many_secrets`.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::cluster::{tls_cluster, Cluster, NOW, NOW_UNIX};
use common::proc::{cpu_seconds, rss_mib};
use common::serve::{client_config, free_addr, spawn_serve, wait_ready};

struct Row {
    secrets: usize,
    gateways: usize,
    file_mib: f64,
    ready_s: f64,
    ready_cpu_s: f64,
    rss_mib: f64,
    lint_s: f64,
    lint_peak_mib: f64,
    review_us: f64,
}

/// Wall seconds and peak RSS (MiB) of `tlsgate lint`, as `/usr/bin/time -v` reports them.
fn lint(file: &std::path::Path) -> (f64, f64) {
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(env!("CARGO_BIN_EXE_tlsgate"))
        .args(["lint", "--now", NOW, "-o", "json"])
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run /usr/bin/time -v tlsgate lint");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let field = |name: &str| {
        stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no `{name}` in /usr/bin/time output:\n{stderr}"))
            .to_string()
    };
    let peak_kb: f64 = field("Maximum resident set size (kbytes):")
        .parse()
        .unwrap();
    // h:mm:ss or m:ss.cc
    let wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss):");
    let secs = wall
        .split(':')
        .fold(0.0, |acc, part| acc * 60.0 + part.parse::<f64>().unwrap());
    (secs, peak_kb / 1024.0)
}

/// Mean µs for one Secret CREATE review against an index built from `cluster`.
fn review_us(cluster: &Cluster, dir: &std::path::Path) -> f64 {
    let analyzer = Arc::new(tlsgate::analysis::Analyzer::new());
    let mut index = tlsgate::lookup::Index::new(analyzer.clone());
    for f in tlsgate::load::manifest_files(dir).unwrap() {
        let mut loaded = tlsgate::load::Loaded::default();
        tlsgate::load::load_text(
            &std::fs::read_to_string(f).unwrap(),
            "cluster.yaml",
            &mut loaded,
        );
        for o in tlsgate::lint::decode(&loaded).objects {
            index.upsert(&o.0);
        }
    }
    let secret = &cluster.secrets[0];
    let mut review: serde_json::Value = serde_json::from_slice(&common::review_body()).unwrap();
    review["request"]["object"] = secret.json(0);
    review["request"]["name"] = secret.name.clone().into();
    review["request"]["namespace"] = secret.namespace.clone().into();
    let body = serde_json::to_vec(&review).unwrap();
    let policy = tlsgate::policy::Policy::default();
    let reviewer = tlsgate::webhook::admission::Reviewer {
        lookup: &index,
        policy: &policy,
        analyzer: &analyzer,
        now: NOW_UNIX,
        synced: true,
    };
    for _ in 0..200 {
        reviewer.review(&body).unwrap();
    }
    let n = 5_000;
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(reviewer.review(&body).unwrap());
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn uptime() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--test") {
        return; // `cargo test --benches` only checks that this builds.
    }
    let mut sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = vec![1_000, 10_000, 100_000];
    }
    let work = tempfile::tempdir().unwrap();
    tlsgate::cli::dev_certs::generate(work.path(), tlsgate::wall_clock()).unwrap();
    let cfg = client_config(&std::fs::read(work.path().join("ca.crt")).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    println!("load average before: {}", uptime());
    let mut rows = Vec::new();
    for &n in &sizes {
        let generated = Instant::now();
        let cluster = tls_cluster(n, n / 10);
        // TLSGATE_GROWTH_KEEP=DIR: the set is written under DIR and kept, to profile
        // `serve --manifests DIR/cluster-N` and `lint` on it afterwards.
        let keep = std::env::var_os("TLSGATE_GROWTH_KEEP").map(std::path::PathBuf::from);
        let file = keep
            .as_deref()
            .unwrap_or(work.path())
            .join(format!("cluster-{n}"));
        let bytes = cluster.write_dir(&file);
        eprintln!(
            "{n} Secrets generated in {:.1} s ({:.1} MiB)",
            generated.elapsed().as_secs_f64(),
            bytes as f64 / 1_048_576.0
        );

        let addr = free_addr();
        let child = spawn_serve(addr, work.path(), &file, NOW);
        let ready = wait_ready(addr, cfg.clone(), &rt, Duration::from_secs(300))
            .unwrap_or_else(|| panic!("serve --manifests with {n} Secrets never became ready"));
        let rss = rss_mib(child.0.id());
        let ready_cpu_s = cpu_seconds(child.0.id());
        drop(child);

        let (lint_s, lint_peak_mib) = lint(&file);
        let review_us = review_us(&cluster, &file);
        rows.push(Row {
            secrets: n,
            gateways: cluster.gateways.len(),
            file_mib: bytes as f64 / 1_048_576.0,
            ready_s: ready.as_secs_f64(),
            ready_cpu_s,
            rss_mib: rss,
            lint_s,
            lint_peak_mib,
            review_us,
        });
    }
    println!("load average after: {}", uptime());
    println!();
    println!("| TLS Secrets (+ Gateways) | manifest | `serve --manifests` ready (CPU) | RSS after ready | per Secret | `lint` wall | `lint` peak RSS | review µs |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} (+{}) | {:.1} MiB | {:.2} s ({:.2} s) | {:.1} MiB | {:.2} KiB | {:.2} s | {:.0} MiB | {:.1} |",
            r.secrets,
            r.gateways,
            r.file_mib,
            r.ready_s,
            r.ready_cpu_s,
            r.rss_mib,
            r.rss_mib * 1024.0 / r.secrets as f64,
            r.lint_s,
            r.lint_peak_mib,
            r.review_us
        );
    }
}
