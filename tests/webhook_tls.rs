//! The real server on 127.0.0.1 with a real rustls client: TLS versions, endpoints, limits,
//! and live rotation of the serving certificate the way kubelet rotates a mounted Secret.

mod common;

use common::https::{self, connect, Conn};
use common::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tlsgate::analysis::Analyzer;
use tlsgate::lookup::Index;
use tokio_rustls::rustls;

fn fixed_now() -> i64 {
    NOW
}

fn capture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/admission").join(name)).unwrap()
}

/// Dev certificates made for this test (valid around the wall clock: the client checks them).
fn dev_certs(dir: &Path) {
    tlsgate::cli::dev_certs::generate(dir, tlsgate::wall_clock()).unwrap();
}

fn synced_view(objects: &[serde_json::Value]) -> Index {
    let mut idx = Index::new(Arc::new(Analyzer::new()));
    for v in objects {
        idx.upsert(&tlsgate::model::Object::from_value(v).unwrap().unwrap());
    }
    idx
}

async fn start_dev(view: Index) -> (https::Server, Arc<rustls::ClientConfig>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    dev_certs(dir.path());
    let server = https::start(
        &dir.path().join("tls.crt"),
        &dir.path().join("tls.key"),
        view,
        fixed_now,
    )
    .await;
    let ca = std::fs::read(dir.path().join("ca.crt")).unwrap();
    let cfg = https::client_config(https::roots(&[&ca]), rustls::ALL_VERSIONS);
    (server, cfg, dir)
}

async fn conn(server: &https::Server, cfg: &Arc<rustls::ClientConfig>) -> Conn {
    connect(server.addr, cfg.clone())
        .await
        .expect("TLS handshake with the dev CA")
}

#[tokio::test]
async fn healthz_answers_over_tls_13() {
    let (server, cfg, _dir) = start_dev(synced_view(&[])).await;
    let mut c = conn(&server, &cfg).await;
    assert_eq!(c.version, rustls::ProtocolVersion::TLSv1_3);
    assert_eq!(c.request("GET", "/healthz", vec![]).await.unwrap().0, 200);
}

#[tokio::test]
async fn tls_12_clients_are_served() {
    let (server, _, dir) = start_dev(synced_view(&[])).await;
    let ca = std::fs::read(dir.path().join("ca.crt")).unwrap();
    let cfg = https::client_config(https::roots(&[&ca]), &[&rustls::version::TLS12]);
    let mut c = connect(server.addr, cfg).await.unwrap();
    assert_eq!(c.version, rustls::ProtocolVersion::TLSv1_2);
    assert_eq!(c.request("GET", "/healthz", vec![]).await.unwrap().0, 200);
}

#[tokio::test]
async fn validate_answers_a_captured_review_with_its_uid() {
    let (server, cfg, _dir) = start_dev(synced_view(&[])).await;
    let mut c = conn(&server, &cfg).await;
    let (status, body) = c
        .request("POST", "/validate", capture("secret-create-live-v1.json"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let sent: serde_json::Value =
        serde_json::from_slice(&capture("secret-create-live-v1.json")).unwrap();
    assert_eq!(v["response"]["uid"], sent["request"]["uid"]);
    assert_eq!(v["response"]["allowed"], true);
}

#[tokio::test]
async fn unreadable_body_is_400_with_a_reason() {
    let (server, cfg, _dir) = start_dev(synced_view(&[])).await;
    let mut c = conn(&server, &cfg).await;
    let (status, body) = c
        .request("POST", "/validate", b"{not json".to_vec())
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("not JSON"), "{body}");
}

#[tokio::test]
async fn body_over_8_mib_is_413() {
    let (server, cfg, _dir) = start_dev(synced_view(&[])).await;
    let mut c = conn(&server, &cfg).await;
    let (status, _) = c
        .request("POST", "/validate", vec![b' '; 9 * 1024 * 1024])
        .await
        .unwrap();
    assert_eq!(status, 413);
}

#[tokio::test]
async fn readyz_is_503_until_the_view_has_synced() {
    let mut view = synced_view(&[]);
    view.set_synced(false);
    let (server, cfg, _dir) = start_dev(view).await;
    let mut c = conn(&server, &cfg).await;
    assert_eq!(c.request("GET", "/readyz", vec![]).await.unwrap().0, 503);
    server.state.synced.store(true, Ordering::Release);
    assert_eq!(c.request("GET", "/readyz", vec![]).await.unwrap().0, 200);
}

#[tokio::test]
async fn metrics_expose_requests_and_x509_gauges_with_exporter_labels() {
    let secret = mk_tls_secret(
        "istio-system",
        "httpbin-credential",
        "certs/httpbin-san.crt",
        "certs/httpbin-san.key",
    );
    let (server, cfg, _dir) = start_dev(synced_view(&[secret])).await;
    let mut c = conn(&server, &cfg).await;
    c.request("POST", "/validate", capture("secret-create-live-v1.json"))
        .await
        .unwrap();
    let (_, text) = c.request("GET", "/metrics", vec![]).await.unwrap();
    assert!(text.contains(r#"tlsgate_admission_requests_total{kind="Secret",operation="CREATE",verdict="allowed"} 1"#), "{text}");
    assert!(
        text.contains("tlsgate_admission_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains(r#"tlsgate_cache_objects{kind="secret"} 1"#),
        "{text}"
    );
    let expiry = text
        .lines()
        .find(|l| l.starts_with(r#"x509_cert_not_after{secret_namespace="istio-system",secret_name="httpbin-credential",secret_key="tls.crt",serial_number=""#))
        .unwrap_or_else(|| panic!("no x509_cert_not_after for the Secret:\n{text}"));
    assert!(
        expiry.contains(r#"subject_CN="httpbin.example.com""#),
        "{expiry}"
    );
    assert!(text.contains("tlsgate_serving_cert_not_after"), "{text}");
}

// --- live rotation ------------------------------------------------------------------------

/// The layout kubelet gives a mounted Secret: `tls.crt -> ..data/tls.crt`, `..data -> ..<ts>`.
struct KubeletVolume {
    dir: PathBuf,
    generation: usize,
}

impl KubeletVolume {
    fn new(dir: &Path, source: &Path) -> Self {
        let mut v = KubeletVolume {
            dir: dir.to_path_buf(),
            generation: 0,
        };
        v.publish(source);
        std::os::unix::fs::symlink("..data/tls.crt", dir.join("tls.crt")).unwrap();
        std::os::unix::fs::symlink("..data/tls.key", dir.join("tls.key")).unwrap();
        v
    }

    /// Writes a new timestamped directory and swaps `..data` atomically with rename(2).
    fn publish(&mut self, source: &Path) {
        self.generation += 1;
        let ts = format!(
            "..2026_11_24_00_00_{:02}.{}",
            self.generation, self.generation
        );
        let target = self.dir.join(&ts);
        std::fs::create_dir(&target).unwrap();
        for f in ["tls.crt", "tls.key"] {
            std::fs::copy(source.join(f), target.join(f)).unwrap();
        }
        let tmp = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&ts, &tmp).unwrap();
        let old = std::fs::read_link(self.dir.join("..data")).ok();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
        if let Some(old) = old {
            let _ = std::fs::remove_dir_all(self.dir.join(old));
        }
    }
}

/// Serves the pair in `source` from a kubelet-style volume under `work`, with the file reloader
/// checking every `interval`.
async fn serve_mounted(
    work: &Path,
    source: &Path,
    interval: Duration,
) -> (https::Server, KubeletVolume) {
    let mounted = work.join("mounted");
    std::fs::create_dir(&mounted).unwrap();
    let volume = KubeletVolume::new(&mounted, source);
    let (cert, key) = (mounted.join("tls.crt"), mounted.join("tls.key"));
    let server = https::start(&cert, &key, synced_view(&[]), fixed_now).await;
    let reloader = tlsgate::webhook::reload::Reloader {
        files: tlsgate::webhook::reload::FilePair {
            cert: cert.clone(),
            key: key.clone(),
        },
        store: server.state.cert.clone(),
        metrics: server.state.metrics.clone(),
        analyzer: server.state.analyzer.clone(),
        clock: tlsgate::wall_clock,
        interval,
        host: "localhost".into(),
    };
    tokio::spawn(reloader.run(std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap()));
    (server, volume)
}

fn sha256_of_leaf(dir: &Path) -> [u8; 32] {
    use sha2::Digest;
    let pem = std::fs::read(dir.join("tls.crt")).unwrap();
    let der = tlsgate::analysis::pem::parse(&pem, 4)
        .unwrap()
        .remove(0)
        .der;
    sha2::Sha256::digest(der).into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubelet_style_rotations_fail_no_request_and_reach_new_handshakes() {
    let work = tempfile::tempdir().unwrap();
    let pairs: Vec<PathBuf> = (0..4)
        .map(|i| work.path().join(format!("pair{i}")))
        .collect();
    for p in &pairs {
        dev_certs(p);
    }
    let (server, mut volume) =
        serve_mounted(work.path(), &pairs[0], Duration::from_millis(250)).await;

    let cas: Vec<Vec<u8>> = pairs
        .iter()
        .map(|p| std::fs::read(p.join("ca.crt")).unwrap())
        .collect();
    let cfg = https::client_config(
        https::roots(&cas.iter().map(Vec::as_slice).collect::<Vec<_>>()),
        rustls::ALL_VERSIONS,
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let body = capture("secret-create-live-v1.json");
    let mut tasks = Vec::new();
    // Full handshakes (no resumption): a resumed TLS 1.3 session reports the old certificate.
    let mut probe = (*cfg).clone();
    probe.resumption = rustls::client::Resumption::disabled();
    let probe = Arc::new(probe);
    // Four keep-alive connections and one task doing a full handshake per request.
    for worker in 0..5 {
        let cfg = if worker == 4 {
            probe.clone()
        } else {
            cfg.clone()
        };
        let (stop, ok, failed, body, addr) = (
            stop.clone(),
            ok.clone(),
            failed.clone(),
            body.clone(),
            server.addr,
        );
        tasks.push(tokio::spawn(async move {
            let mut c: Option<Conn> = None;
            while !stop.load(Ordering::Relaxed) {
                if c.is_none() || worker == 4 {
                    c = match connect(addr, cfg.clone()).await {
                        Ok(conn) => Some(conn),
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    };
                }
                match c
                    .as_mut()
                    .unwrap()
                    .request("POST", "/validate", body.clone())
                    .await
                {
                    Ok((200, _)) => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for pair in &pairs[1..] {
        tokio::time::sleep(Duration::from_millis(400)).await;
        volume.publish(pair);
        let want = sha256_of_leaf(pair);
        // New handshakes present the new certificate within a few seconds (bounded wait).
        let seen = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let Ok(c) = connect(server.addr, probe.clone()).await {
                    if c.server_cert_sha256 == want {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(
            seen.is_ok(),
            "new handshakes did not see the rotated certificate within 5 s (reloads {}, errors {})",
            server.state.metrics.serving_cert_reloads.get(),
            server.state.metrics.serving_cert_reload_errors.get()
        );
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during rotation"
    );
    assert!(
        ok.load(Ordering::Relaxed) > 50,
        "too few requests ran: {}",
        ok.load(Ordering::Relaxed)
    );
    assert_eq!(server.state.metrics.serving_cert_reload_errors.get(), 0);
    assert_eq!(server.state.metrics.serving_cert_reloads.get(), 3);
}

#[tokio::test]
async fn a_bad_new_pair_is_rejected_and_the_last_good_one_keeps_serving() {
    let work = tempfile::tempdir().unwrap();
    let good = work.path().join("good");
    dev_certs(&good);
    let bad = work.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::copy(good.join("tls.crt"), bad.join("tls.crt")).unwrap();
    std::fs::write(bad.join("tls.key"), fixture("certs/keys/ec-p256-sec1.key")).unwrap();
    let (server, mut volume) = serve_mounted(work.path(), &good, Duration::from_millis(100)).await;
    let before = server.state.cert.fingerprint();
    volume.publish(&bad);
    let rejected = tokio::time::timeout(Duration::from_secs(5), async {
        while server.state.metrics.serving_cert_reload_errors.get() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(rejected.is_ok(), "the mismatched pair was not rejected");
    assert_eq!(server.state.cert.fingerprint(), before);
    let ca = std::fs::read(good.join("ca.crt")).unwrap();
    let mut c = connect(
        server.addr,
        https::client_config(https::roots(&[&ca]), rustls::ALL_VERSIONS),
    )
    .await
    .unwrap();
    assert_eq!(c.request("GET", "/healthz", vec![]).await.unwrap().0, 200);
}

#[tokio::test]
async fn a_kubelet_swap_is_picked_up_from_directory_events_without_waiting_for_the_poll() {
    let work = tempfile::tempdir().unwrap();
    let (first, second) = (work.path().join("first"), work.path().join("second"));
    dev_certs(&first);
    dev_certs(&second);
    // The poll would not come round for an hour: only a directory event can explain a reload.
    let (server, mut volume) = serve_mounted(work.path(), &first, Duration::from_secs(3600)).await;
    tokio::time::sleep(Duration::from_millis(100)).await; // let the watcher register
    volume.publish(&second);
    let reloaded = tokio::time::timeout(Duration::from_secs(5), async {
        while server.state.metrics.serving_cert_reloads.get() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        reloaded.is_ok(),
        "the swap was not noticed from directory events"
    );
    assert_eq!(
        server.state.cert.fingerprint(),
        tlsgate::analysis::cert::hex(&sha256_of_leaf(&second))
    );
}

#[tokio::test]
async fn metrics_expose_ca_bundle_certificates_with_the_exporters_cabundle_labels() {
    let list: serde_json::Value = serde_json::from_slice(&fixture("audit/cabundles.json")).unwrap();
    let mut view = synced_view(&[]);
    for item in list["items"].as_array().unwrap() {
        view.upsert_ca_bundles(item);
    }
    let (server, cfg, _dir) = start_dev(view).await;
    let mut c = conn(&server, &cfg).await;
    let (_, text) = c.request("GET", "/metrics", vec![]).await.unwrap();
    let galley = text
        .lines()
        .find(|l| {
            l.starts_with(r#"x509_cert_expired{cabundle_resource_kind="ValidatingWebhookConfiguration",cabundle_resource_name="istio-galley",cabundle_entry="pilot.validation.istio.io","#)
        })
        .unwrap_or_else(|| panic!("no x509_cert_expired for istio-galley:\n{text}"));
    assert!(
        galley.ends_with(" 1"),
        "the 2018-2019 Citadel root is expired at NOW: {galley}"
    );
    assert!(
        text.contains(r#"cabundle_resource_kind="APIService",cabundle_resource_name="v1beta1.metrics.k8s.io",cabundle_entry="","#),
        "{text}"
    );
}

#[tokio::test]
async fn http2_is_served_as_the_api_server_negotiates_it() {
    use http_body_util::{BodyExt, Full};
    let (server, cfg, _dir) = start_dev(synced_view(&[])).await;
    let mut h2 = (*cfg).clone();
    h2.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(h2))
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::post("https://localhost/validate")
        .header("content-type", "application/json")
        .body(Full::new(axum::body::Bytes::from(capture(
            "secret-create-live-v1.json",
        ))))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["kind"], "AdmissionReview");
}

/// The captured UPDATE, edited to a label change only: the oldObject is not checked again, and
/// `/metrics` counts it; the same UPDATE with changed `data` is not counted.
#[tokio::test]
async fn a_label_edit_update_is_counted_as_old_object_reused() {
    let (server, cfg, _dir) = start_dev(synced_view(&[])).await;
    let mut c = conn(&server, &cfg).await;
    let mut r: serde_json::Value =
        serde_json::from_slice(&capture("secret-update-live-v1.json")).unwrap();
    r["request"]["oldObject"] = r["request"]["object"].clone();
    r["request"]["object"]["metadata"]["labels"] = serde_json::json!({"team": "payments"});
    let label_edit = serde_json::to_vec(&r).unwrap();
    let (status, _) = c.request("POST", "/validate", label_edit).await.unwrap();
    assert_eq!(status, 200);
    let changed = capture("secret-update-live-v1.json");
    let (status, _) = c.request("POST", "/validate", changed).await.unwrap();
    assert_eq!(status, 200);
    let (_, text) = c.request("GET", "/metrics", vec![]).await.unwrap();
    assert!(
        text.lines()
            .any(|l| l == "tlsgate_admission_old_object_reused_total 1"),
        "{text}"
    );
}
