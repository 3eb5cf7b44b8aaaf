//! The webhook server under clients that stall it: slow reviews, silent and slow connections,
//! too many connections, made-up label values. A real server on 127.0.0.1, a real rustls
//! client, limits set small so nothing waits more than a few seconds.

mod common;

use common::https::{self, connect};
use common::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tlsgate::analysis::Analyzer;
use tlsgate::lookup::Index;
use tlsgate::webhook::server::ConnLimits;
use tlsgate::webhook::{OnTimeout, ReviewLimits, ServeOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

fn fixed_now() -> i64 {
    NOW
}

fn capture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/admission").join(name)).unwrap()
}

struct Running {
    server: https::Server,
    cfg: Arc<rustls::ClientConfig>,
    _dir: tempfile::TempDir,
}

async fn start(opts: ServeOptions) -> Running {
    let dir = tempfile::tempdir().unwrap();
    tlsgate::cli::dev_certs::generate(dir.path(), tlsgate::wall_clock()).unwrap();
    let mut view = Index::new(Arc::new(Analyzer::new()));
    view.set_synced(true);
    let server = https::start_with(
        &dir.path().join("tls.crt"),
        &dir.path().join("tls.key"),
        view,
        fixed_now,
        opts,
    )
    .await;
    let ca = std::fs::read(dir.path().join("ca.crt")).unwrap();
    let cfg = https::client_config(https::roots(&[&ca]), rustls::ALL_VERSIONS);
    Running {
        server,
        cfg,
        _dir: dir,
    }
}

fn slow_reviews(delay: Duration, deadline: Duration, on_timeout: OnTimeout) -> ServeOptions {
    ServeOptions {
        review: ReviewLimits {
            deadline,
            on_timeout,
            test_delay: delay,
            ..ReviewLimits::default()
        },
        ..ServeOptions::default()
    }
}

fn conn_limits(limits: ConnLimits) -> ServeOptions {
    ServeOptions {
        conn: limits,
        ..ServeOptions::default()
    }
}

/// A TLS connection with no HTTP on it yet.
async fn raw_tls(
    r: &Running,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(r.server.addr).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(r.cfg.clone())
        .connect(name, tcp)
        .await
}

/// True when the server closes `stream` within `within` (EOF or an error on read).
async fn closed_within<S: tokio::io::AsyncRead + Unpin>(stream: &mut S, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

fn metrics_text(r: &Running) -> String {
    r.server.state.metrics.encode()
}

// --- item 2: reviews off the reactor, with a deadline -------------------------------------

#[tokio::test]
async fn healthz_answers_while_a_slow_review_runs() {
    let r = start(slow_reviews(
        Duration::from_secs(3),
        Duration::from_secs(10),
        OnTimeout::Allow,
    ))
    .await;
    let mut busy = connect(r.server.addr, r.cfg.clone()).await.unwrap();
    let review = tokio::spawn(async move {
        busy.request("POST", "/validate", capture("secret-create-live-v1.json"))
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let answered = tokio::time::timeout(Duration::from_secs(1), async {
        let mut c = connect(r.server.addr, r.cfg.clone()).await.unwrap();
        c.request("GET", "/healthz", vec![]).await.unwrap().0
    })
    .await;
    assert_eq!(
        answered.ok(),
        Some(200),
        "/healthz did not answer within 1 s while a review ran ({:?})",
        started.elapsed()
    );
    assert!(
        !review.is_finished(),
        "the slow review should still be running"
    );
    review.abort();
}

#[tokio::test]
async fn a_review_past_its_deadline_is_allowed_with_a_warning() {
    let r = start(slow_reviews(
        Duration::from_secs(2),
        Duration::from_millis(200),
        OnTimeout::Allow,
    ))
    .await;
    let mut c = connect(r.server.addr, r.cfg.clone()).await.unwrap();
    let started = Instant::now();
    let (status, body) = c
        .request("POST", "/validate", capture("secret-create-live-v1.json"))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["response"]["allowed"], true, "{body}");
    assert!(
        v["response"]["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("tlsgate-review-timeout:"),
        "{body}"
    );
    assert!(!v["response"]["uid"].as_str().unwrap().is_empty());
    assert!(
        metrics_text(&r).contains(
            r#"tlsgate_admission_requests_total{kind="Secret",operation="CREATE",verdict="timeout"} 1"#
        ),
        "{}",
        metrics_text(&r)
    );
}

#[tokio::test]
async fn a_review_past_its_deadline_is_denied_when_so_configured() {
    let r = start(slow_reviews(
        Duration::from_secs(2),
        Duration::from_millis(200),
        OnTimeout::Deny,
    ))
    .await;
    let mut c = connect(r.server.addr, r.cfg.clone()).await.unwrap();
    let (_, body) = c
        .request("POST", "/validate", capture("secret-create-live-v1.json"))
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["response"]["allowed"], false, "{body}");
    assert!(
        v["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .starts_with("tlsgate-review-timeout:"),
        "{body}"
    );
}

#[tokio::test]
async fn reviews_beyond_the_concurrency_limit_wait_and_then_get_the_deadline_answer() {
    let mut opts = slow_reviews(
        Duration::from_secs(2),
        Duration::from_millis(300),
        OnTimeout::Allow,
    );
    opts.review.max_concurrent = 1;
    let r = start(opts).await;
    let mut first = connect(r.server.addr, r.cfg.clone()).await.unwrap();
    let mut second = connect(r.server.addr, r.cfg.clone()).await.unwrap();
    let body = capture("secret-create-live-v1.json");
    let (a, b) = tokio::join!(
        first.request("POST", "/validate", body.clone()),
        second.request("POST", "/validate", body)
    );
    for (status, text) in [a.unwrap(), b.unwrap()] {
        assert_eq!(status, 200);
        assert!(text.contains("tlsgate-review-timeout"), "{text}");
    }
}

// --- item 4: connections ------------------------------------------------------------------

#[tokio::test]
async fn a_connection_that_never_finishes_the_handshake_is_closed() {
    let r = start(conn_limits(ConnLimits {
        handshake_timeout: Duration::from_millis(300),
        ..ConnLimits::default()
    }))
    .await;
    let mut tcp = tokio::net::TcpStream::connect(r.server.addr).await.unwrap();
    assert!(closed_within(&mut tcp, Duration::from_secs(3)).await);
    assert!(metrics_text(&r).contains(r#"tlsgate_connection_timeouts_total{phase="handshake"} 1"#));
}

#[tokio::test]
async fn a_connection_that_never_sends_a_request_is_closed() {
    let r = start(conn_limits(ConnLimits {
        header_read_timeout: Duration::from_millis(300),
        ..ConnLimits::default()
    }))
    .await;
    let mut tls = raw_tls(&r).await.unwrap();
    assert!(closed_within(&mut tls, Duration::from_secs(3)).await);
    assert!(metrics_text(&r).contains(r#"tlsgate_connection_timeouts_total{phase="header"} 1"#));
}

#[tokio::test]
async fn a_request_head_sent_byte_by_byte_is_cut_off_at_the_header_timeout() {
    let r = start(conn_limits(ConnLimits {
        header_read_timeout: Duration::from_millis(500),
        ..ConnLimits::default()
    }))
    .await;
    let mut tls = raw_tls(&r).await.unwrap();
    let started = Instant::now();
    let head = b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut closed = false;
    for byte in head.iter().cycle().take(60) {
        if tls.write_all(&[*byte]).await.is_err() || tls.flush().await.is_err() {
            closed = true;
            break;
        }
        if closed_within(&mut tls, Duration::from_millis(50)).await {
            closed = true;
            break;
        }
    }
    assert!(closed, "a slowloris head was never cut off");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let r = start(conn_limits(ConnLimits {
        idle_timeout: Duration::from_millis(400),
        ..ConnLimits::default()
    }))
    .await;
    let mut c = connect(r.server.addr, r.cfg.clone()).await.unwrap();
    assert_eq!(c.request("GET", "/healthz", vec![]).await.unwrap().0, 200);
    let deadline = Instant::now() + Duration::from_secs(3);
    while !c.sender.is_closed() {
        assert!(
            Instant::now() < deadline,
            "idle connection still open after 3 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(metrics_text(&r).contains(r#"tlsgate_connection_timeouts_total{phase="idle"} 1"#));
}

#[tokio::test]
async fn a_keep_alive_connection_used_within_the_idle_timeout_stays_open() {
    let r = start(conn_limits(ConnLimits {
        idle_timeout: Duration::from_millis(600),
        ..ConnLimits::default()
    }))
    .await;
    let mut c = connect(r.server.addr, r.cfg.clone()).await.unwrap();
    for _ in 0..4 {
        assert_eq!(c.request("GET", "/healthz", vec![]).await.unwrap().0, 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn connections_past_the_maximum_are_closed_and_counted() {
    let r = start(conn_limits(ConnLimits {
        max_connections: 2,
        ..ConnLimits::default()
    }))
    .await;
    let _a = raw_tls(&r).await.unwrap();
    let _b = raw_tls(&r).await.unwrap();
    let third = tokio::time::timeout(Duration::from_secs(3), raw_tls(&r))
        .await
        .expect("the third connection is answered at once, not left hanging");
    assert!(third.is_err(), "a third connection was served");
    let text = metrics_text(&r);
    assert!(
        text.contains(r#"tlsgate_connections_refused_total{reason="max-connections"} 1"#),
        "{text}"
    );
    assert!(text.contains("tlsgate_connections 2"), "{text}");
}

#[tokio::test]
async fn shutdown_drains_and_stops_accepting() {
    let r = start(ServeOptions::default()).await;
    let addr = r.server.addr;
    let mut c = connect(addr, r.cfg.clone()).await.unwrap();
    assert_eq!(c.request("GET", "/healthz", vec![]).await.unwrap().0, 200);
    r.server.stop.send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !c.sender.is_closed() {
        assert!(
            Instant::now() < deadline,
            "idle connection kept after shutdown"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// --- item 5: metric labels from closed sets ----------------------------------------------

#[tokio::test]
async fn made_up_kinds_and_operations_are_counted_as_other() {
    let r = start(ServeOptions::default()).await;
    let mut c = connect(r.server.addr, r.cfg.clone()).await.unwrap();
    for i in 0..20 {
        let mut review: serde_json::Value =
            serde_json::from_slice(&capture("secret-create-live-v1.json")).unwrap();
        review["request"]["kind"]["kind"] = format!("MadeUp{i}").into();
        review["request"]["operation"] = format!("FROB{i}").into();
        let (status, _) = c
            .request("POST", "/validate", serde_json::to_vec(&review).unwrap())
            .await
            .unwrap();
        assert_eq!(status, 200);
    }
    let text = metrics_text(&r);
    assert!(
        text.contains(r#"tlsgate_admission_requests_total{kind="other",operation="other",verdict="allowed"} 20"#),
        "{text}"
    );
    assert!(!text.contains("MadeUp"), "{text}");
}

// --- item 3: the parse cache is bounded by bytes -----------------------------------------

/// A self-signed certificate naming `sans` hosts under `tag`: distinct content per tag.
fn many_san_cert(tag: usize, sans: usize) -> Vec<u8> {
    let names: Vec<String> = (0..sans)
        .map(|i| format!("host-{i}.t{tag}.example.com"))
        .collect();
    let params = rcgen::CertificateParams::new(names).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().pem().into_bytes()
}

#[test]
fn distinct_large_secrets_stay_within_the_cache_byte_budget() {
    const BUDGET: usize = 512 * 1024;
    let analyzer = Analyzer::with_cache_budget(BUDGET);
    for tag in 0..40 {
        let mut data = tlsgate::analysis::SecretData::new();
        data.insert("ca.crt".into(), many_san_cert(tag, 1_000));
        analyzer.credential("big", "Opaque", &data);
        assert!(
            analyzer.cached_bytes() <= BUDGET,
            "{} bytes cached after {} secrets",
            analyzer.cached_bytes(),
            tag + 1
        );
    }
    assert!(
        analyzer.cached_bundles() < 40,
        "{} bundles kept",
        analyzer.cached_bundles()
    );
}
