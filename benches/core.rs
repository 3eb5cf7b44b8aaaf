//! Criterion benchmarks of the pure core. Run: `cargo bench --bench core`.
//!
//! - `inspect_tls_secret/*`: a kubernetes.io/tls Secret with a 2-certificate chain and the
//!   key-match check (target ≤ 50 µs), parsed cold (fresh analyzer) and from the digest cache.
//! - `lint_10k_objects`: 5,000 Secrets + 5,000 Gateways referencing them, load + index + check
//!   (target ≤ 1 s).
//! - `host_coverage_50k_sans_x_2k_hosts`: the SAN index of a 50,000-name certificate built and
//!   2,000 served hosts matched against it (issue 9: this took 11–13 s; target: milliseconds).
//! - `metrics_scrape`: `/metrics` of a view with 10,000 TLS Secrets (leaf + CA each, 20,000
//!   certificates); prints the body size once.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::sync::Arc;
use tlsgate::analysis::{Analyzer, SecretData};

const NOW: i64 = 1_798_761_600; // 2027-01-01

mod common;
use common::{b64, fixture, review_body};

fn tls_data() -> SecretData {
    let mut d = SecretData::new();
    d.insert("tls.crt".into(), fixture("certs/chain/fullchain.pem"));
    d.insert("tls.key".into(), fixture("certs/chain/leaf.key"));
    d
}

fn inspect(c: &mut Criterion) {
    let data = tls_data();
    let mut g = c.benchmark_group("inspect_tls_secret");
    g.bench_function("cold", |b| {
        b.iter_batched(
            Analyzer::new,
            |a| a.credential("app", "kubernetes.io/tls", &data),
            BatchSize::SmallInput,
        )
    });
    let warm = Analyzer::new();
    g.bench_function("cached_chain", |b| {
        b.iter(|| warm.credential("app", "kubernetes.io/tls", &data))
    });
    g.finish();
}

/// 5,000 distinct Secrets (two certificate pairs, distinct names) and one Gateway each.
pub fn ten_thousand_objects() -> String {
    let pairs = [
        (
            b64(&fixture("certs/chain/fullchain.pem")),
            b64(&fixture("certs/chain/leaf.key")),
            "app.example.com",
        ),
        (
            b64(&fixture("certs/httpbin-san.crt")),
            b64(&fixture("certs/httpbin-san.key")),
            "httpbin.example.com",
        ),
    ];
    let mut out = String::new();
    for i in 0..5000 {
        let (crt, key, host) = &pairs[i % 2];
        out.push_str(&format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cred-{i}\n  namespace: istio-system\ntype: kubernetes.io/tls\ndata:\n  tls.crt: {crt}\n  tls.key: {key}\n---\n\
             apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: gw-{i}\n  namespace: istio-system\nspec:\n  selector:\n    istio: ingressgateway\n  servers:\n  - port: {{number: 443, name: https, protocol: HTTPS}}\n    hosts: [{host}]\n    tls: {{mode: SIMPLE, credentialName: cred-{i}}}\n---\n"
        ));
    }
    out
}

fn lint_10k(c: &mut Criterion) {
    let text = ten_thousand_objects();
    let mut g = c.benchmark_group("lint_10k_objects");
    g.sample_size(10);
    g.bench_function("load_index_check", |b| {
        b.iter(|| {
            let mut loaded = tlsgate::load::Loaded::default();
            tlsgate::load::load_text(&text, "bench.yaml", &mut loaded);
            let report =
                tlsgate::lint::lint(&loaded, &Default::default(), NOW, Arc::new(Analyzer::new()));
            assert_eq!(report.summary.objects, 10_000);
            report
        })
    });
    g.finish();
}

/// One AdmissionReview end to end, minus HTTP/TLS: what the webhook spends per request.
fn review(c: &mut Criterion) {
    let body = review_body();
    let view = common::EmptyView::new();
    let reviewer = view.reviewer(NOW);
    c.bench_function("review_secret_create_6kb", |b| {
        b.iter(|| reviewer.review(&body).unwrap())
    });
    // The same request through the axum router (body limit, timeout, metrics, JSON answer),
    // without TLS or sockets: what the HTTP layer adds on top of the review.
    let router = common::empty_router(|| NOW);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    c.bench_function("router_validate_6kb", |b| {
        b.iter(|| {
            use tower::ServiceExt;
            let req = axum::http::Request::post("/validate")
                .body(axum::body::Body::from(body.clone()))
                .unwrap();
            rt.block_on(router.clone().oneshot(req)).unwrap()
        })
    });
    c.bench_function("parse_review_json_only", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(&body).unwrap())
    });
}

fn host_coverage(c: &mut Criterion) {
    use tlsgate::analysis::hosts::{Coverage, NameIndex};
    let sans: Vec<String> = (0..50_000)
        .map(|i| format!("svc-{i}.tenant-{}.example.com", i % 97))
        .chain(std::iter::once("*.wild.example.com".to_string()))
        .collect();
    let hosts: Vec<String> = (0..2_000)
        .map(|i| {
            if i % 2 == 0 {
                format!("svc-{}.tenant-{}.example.com", i * 7, (i * 7) % 97)
            } else {
                format!("h{i}.wild.example.com")
            }
        })
        .collect();
    c.bench_function("host_coverage_50k_sans_x_2k_hosts", |b| {
        b.iter(|| {
            let idx = NameIndex::new(sans.iter().map(String::as_str), &[]);
            hosts
                .iter()
                .filter(|h| idx.coverage(h) == Coverage::Covered)
                .count()
        })
    });
}

/// `Metrics::encode` over 10,000 kubernetes.io/tls Secrets with a 2-certificate chain each:
/// the x509 series of 20,000 certificates plus the registry's own families.
fn metrics_scrape(c: &mut Criterion) {
    let mut index = tlsgate::lookup::Index::new(Arc::new(Analyzer::new()));
    let (crt, key) = (
        b64(&fixture("certs/chain/fullchain.pem")),
        b64(&fixture("certs/chain/leaf.key")),
    );
    for i in 0..10_000 {
        let v = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": format!("cred-{i}"), "namespace": format!("team-{}", i % 50)},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": crt, "tls.key": key},
        });
        let o = tlsgate::model::Object::from_value(&v).unwrap().unwrap();
        index.upsert(&o);
    }
    let metrics =
        tlsgate::webhook::metrics::Metrics::new(Arc::new(std::sync::RwLock::new(index)), || NOW);
    let body = metrics.encode();
    let series = body.lines().filter(|l| l.starts_with("x509_cert_")).count();
    println!(
        "metrics_scrape: {} bytes, {series} x509_cert_* series for 10,000 Secrets",
        body.len()
    );
    let mut g = c.benchmark_group("metrics_scrape");
    g.sample_size(10);
    g.bench_function("10k_tls_secrets", |b| b.iter(|| metrics.encode().len()));
    g.finish();
}

/// One Secret document as `kubectl create secret tls --dry-run=client -o yaml` writes it (the
/// httpbin fixture): the block-style reader against the full YAML parser it stands in for.
fn yaml_secret(c: &mut Criterion) {
    let doc = String::from_utf8(fixture("secrets/httpbin-credential-tls.yaml")).unwrap();
    assert!(tlsgate::load::block::parse(&doc).is_some());
    let mut g = c.benchmark_group("yaml_secret");
    g.bench_function("block_reader", |b| {
        b.iter(|| tlsgate::load::block::parse(&doc))
    });
    g.bench_function("yaml_serde", |b| {
        b.iter(|| yaml_serde::from_str::<serde_json::Value>(&doc).unwrap())
    });
    g.finish();
}

criterion_group!(
    benches,
    yaml_secret,
    inspect,
    lint_10k,
    review,
    host_coverage,
    metrics_scrape
);
criterion_main!(benches);
